//! The NDXP token endpoint: OAuth2 client credentials (RFC 6749 §4.4) for
//! the province, checked against the simulator's configured client, with a
//! short token lifetime so refreshes happen within a test. It remembers the
//! tokens it issued and when they expire, so the NDXP routes can refuse
//! tokens it never issued and tokens past their lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng;
use serde_json::json;

use super::{Simulator, replies};
use crate::ndxp::token::form_encode;
use crate::rest::lock;

/// Most tokens remembered at once; a client fetching in a loop cannot grow the map without bound.
const MAX_LIVE_TOKENS: usize = 10_000;

/// The province client the simulated NDXP accepts, and the lifetime of its tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct NdxpTokenSettings {
    /// The client id NDXP knows the province by.
    pub client_id: String,
    /// The client secret NDXP checks; never shown.
    pub client_secret: String,
    /// How long an issued token lives (whole seconds, at least one).
    pub lifetime: Duration,
    /// The agency code NDXP knows the province by as its consumer (`X-NDXP-Consumer`).
    pub consumer_agency: String,
}

impl Default for NdxpTokenSettings {
    fn default() -> Self {
        NdxpTokenSettings {
            client_id: "lgsp-tinh".to_owned(),
            client_secret: "ndxp-sim-secret".to_owned(),
            lifetime: Duration::from_secs(300),
            // The demo province (`gateway/src/demo.rs`).
            consumer_agency: "000.00.00.H29".to_owned(),
        }
    }
}

impl std::fmt::Debug for NdxpTokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdxpTokenSettings")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .field("consumer_agency", &self.consumer_agency)
            .finish()
    }
}

/// The endpoint's state: its client and the tokens issued so far.
#[derive(Debug, Default)]
pub(crate) struct TokenIssuer {
    pub(crate) settings: NdxpTokenSettings,
    issued: AtomicU64,
    /// Tokens issued and when each expires.
    live: Mutex<HashMap<String, Instant>>,
}

impl TokenIssuer {
    pub(crate) fn new(settings: NdxpTokenSettings) -> TokenIssuer {
        TokenIssuer {
            settings,
            issued: AtomicU64::new(0),
            live: Mutex::default(),
        }
    }

    /// How many tokens were issued since start.
    pub(crate) fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Whether `token` was issued here and has not expired.
    pub(crate) fn is_valid(&self, token: &str) -> bool {
        lock(&self.live)
            .get(token)
            .is_some_and(|expires| Instant::now() < *expires)
    }

    /// Makes every token issued so far expired, as if their lifetime had run out.
    pub(crate) fn expire_all(&self) {
        let now = Instant::now();
        for expires in lock(&self.live).values_mut() {
            *expires = now;
        }
    }

    /// Remembers a new token, forgetting expired ones (then the soonest to expire) when full.
    fn remember(&self, token: String) {
        let now = Instant::now();
        let mut live = lock(&self.live);
        if live.len() >= MAX_LIVE_TOKENS {
            live.retain(|_, expires| now < *expires);
        }
        if live.len() >= MAX_LIVE_TOKENS
            && let Some(oldest) = live
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(t, _)| t.clone())
        {
            live.remove(&oldest);
        }
        live.insert(
            token,
            now + self.settings.lifetime.max(Duration::from_secs(1)),
        );
    }

    /// Whether the `Authorization` header names the configured client.
    fn authenticates(&self, headers: &HeaderMap) -> bool {
        let Some(encoded) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(decoded) = BASE64.decode(encoded.trim()) else {
            return false;
        };
        // RFC 6749 §2.3.1: both halves are form-encoded before Basic encoding.
        let expected = format!(
            "{}:{}",
            form_encode(&self.settings.client_id),
            form_encode(&self.settings.client_secret)
        );
        decoded == expected.as_bytes()
    }
}

/// An OAuth error answer (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = replies::json(
        status,
        &json!({ "error": error, "error_description": description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"ndxp\""),
        );
    }
    response
}

/// `POST /ndxp/oauth2/token`.
pub(crate) async fn token(
    State(simulator): State<Simulator>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let issuer = &simulator.ndxp_tokens;
    if !issuer.authenticates(&headers) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Thông tin xác thực của tỉnh không đúng",
        );
    }
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Yêu cầu phải là biểu mẫu application/x-www-form-urlencoded",
        );
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Chỉ hỗ trợ grant_type=client_credentials",
        );
    }
    let serial = issuer.issued.fetch_add(1, Ordering::Relaxed) + 1;
    let nonce: u64 = rand::rng().random();
    let access_token = format!("ndxp-sim-{serial}-{nonce:016x}");
    issuer.remember(access_token.clone());
    let mut response = replies::json(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": issuer.settings.lifetime.as_secs().max(1),
        }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
