//! Stage 6, reuse: once-only. A lookup on a reuse-eligible service (one with
//! `reuse` settings, a GET naming a data subject) is answered from the reuse
//! store while the item is fresh; otherwise the authoritative source is
//! called and its answer remembered. `Cache-Control: no-cache` from the
//! caller forces the source. The caller's purpose was already checked
//! against the service by the authorize stage, so a hit serves exactly what
//! a call to the source would have, and minimization still follows.

use super::route::{Lane, Routed};
use crate::audit::record::Subject;
use crate::problem::GatewayError;
use crate::reuse::service::json_answer;
use crate::reuse::{ItemMeta, NewItem, ReuseStore, unix_ms};
use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt;
use std::time::{Duration, SystemTime};

/// `X-LGSP-Reuse`: whether the answer came from the store.
pub const REUSE_HEADER: &str = "x-lgsp-reuse";
/// `X-LGSP-Source`: the authoritative source and when the data was fetched.
pub const SOURCE_HEADER: &str = "x-lgsp-source";
/// How long remembered items are kept after they stop being fresh, for listing
/// what the state holds (never served stale).
pub const RETAIN_AFTER_STALE: Duration = Duration::from_secs(30 * 24 * 3600);

/// What the reuse stage decided for one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Not a reuse-eligible lookup: the source is called, nothing is kept.
    NotEligible,
    /// Look in the store first; on a miss, fetch and remember.
    Lookup(Eligible),
    /// The caller said `no-cache`: fetch from the source and remember.
    Bypass(Eligible),
}

/// A reuse-eligible lookup: who it is about and what kind of item it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eligible {
    /// The data subject, keyed-hashed.
    pub subject: Subject,
    /// The data type the answer is.
    pub data_type: String,
    /// How long a fetched answer stays fresh.
    pub fresh_for: Duration,
}

impl Plan {
    /// `hit`, `miss` or `bypass` for the audit record, given whether the store answered.
    pub fn label(&self, hit: bool) -> Option<&'static str> {
        match self {
            Plan::NotEligible => None,
            Plan::Lookup(_) if hit => Some("hit"),
            Plan::Lookup(_) => Some("miss"),
            Plan::Bypass(_) => Some("bypass"),
        }
    }
}

/// Decides whether the exchange is a reuse-eligible lookup.
pub fn plan(
    routed: &Routed,
    method: &Method,
    headers: &HeaderMap,
    subject: Option<&Subject>,
) -> Plan {
    let (Some(settings), Some(subject)) = (&routed.route.service.reuse, subject) else {
        return Plan::NotEligible;
    };
    // Sandbox answers are simulated: they must neither be served from nor
    // enter the store of data the state holds.
    if *method != Method::GET || routed.lane == Lane::Sandbox {
        return Plan::NotEligible;
    }
    let eligible = Eligible {
        subject: subject.clone(),
        data_type: settings.data_type.clone(),
        fresh_for: Duration::from_secs(settings.fresh_for_secs),
    };
    if asks_for_source(headers) {
        Plan::Bypass(eligible)
    } else {
        Plan::Lookup(eligible)
    }
}

/// Whether the caller forbids answers from a cache (`Cache-Control: no-cache`
/// or `no-store`, or the HTTP/1.0 `Pragma: no-cache`).
fn asks_for_source(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, directives: &[&str]| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|d| {
                let d = d.trim();
                directives.iter().any(|x| d.eq_ignore_ascii_case(x))
            })
    };
    has(header::CACHE_CONTROL, &["no-cache", "no-store"]) || has(header::PRAGMA, &["no-cache"])
}

/// A fresh item from the store as the answer, or `None` to go to the source.
pub async fn lookup(
    store: &ReuseStore,
    eligible: &Eligible,
) -> Result<Option<Response>, GatewayError> {
    let item = store
        .fresh(&eligible.subject, &eligible.data_type, SystemTime::now())
        .await
        .map_err(|e| GatewayError::Internal(format!("reuse store: {e}")))?;
    let Some(item) = item else {
        return Ok(None);
    };
    let mut response = json_answer(StatusCode::OK, &item.content);
    mark(&mut response, "hit", &source_of(&item.meta));
    Ok(Some(response))
}

/// Remembers a successful JSON answer from the source and marks the response.
/// A store failure is logged, never turned into a failed exchange: the
/// caller already has the authoritative answer.
pub async fn remember(
    store: &ReuseStore,
    routed: &Routed,
    eligible: &Eligible,
    label: &'static str,
    dossier: Option<&str>,
    response: Response,
) -> Response {
    let fetched_at = SystemTime::now();
    let source = format!("{}; fetched={}", routed.route.key, rfc3339(fetched_at));
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            tracing::warn!(event = "reuse_remember_failed", route = %routed.route.key, error = %e);
            return Response::from_parts(parts, Body::empty());
        }
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(content) => {
            let item = NewItem {
                subject: eligible.subject.clone(),
                data_type: eligible.data_type.clone(),
                source: routed.route.key.clone(),
                source_agency: routed.route.service.owner.to_string(),
                fetched_at,
                valid_for: eligible.fresh_for,
                retain_for: eligible.fresh_for + RETAIN_AFTER_STALE,
                content,
                dossier: dossier.map(str::to_string),
                procedure_code: None,
                allowed_purposes: None,
                receipt_signature: None,
            };
            if let Err(e) = store.remember(&item).await {
                tracing::warn!(event = "reuse_remember_failed", route = %routed.route.key, error = %e);
            }
        }
        Err(_) => {
            tracing::warn!(event = "reuse_remember_skipped", route = %routed.route.key, reason = "answer is not JSON");
        }
    }
    let mut response = Response::from_parts(parts, Body::from(bytes));
    mark(&mut response, label, &source);
    response
}

/// `X-LGSP-Source` of a stored item: its source, fetch time and issuing agency.
pub fn source_of(meta: &ItemMeta) -> String {
    format!(
        "{}; fetched={}; agency={}",
        meta.source,
        rfc3339(meta.fetched_at),
        meta.source_agency
    )
}

/// Sets `X-LGSP-Reuse` and `X-LGSP-Source` on an answer.
pub(crate) fn mark(response: &mut Response, label: &'static str, source: &str) {
    let headers = response.headers_mut();
    headers.insert(REUSE_HEADER, HeaderValue::from_static(label));
    if let Ok(v) = HeaderValue::from_str(source) {
        headers.insert(SOURCE_HEADER, v);
    }
}

/// RFC 3339 in Vietnam's time zone, as headers and listings show times.
pub fn rfc3339(at: SystemTime) -> String {
    crate::admin::timestamps::format_rfc3339(unix_ms(at), 7 * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cache_and_pragma_force_the_source() {
        let mut headers = HeaderMap::new();
        assert!(!asks_for_source(&headers));
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=0, No-Cache"),
        );
        assert!(asks_for_source(&headers));
        let mut headers = HeaderMap::new();
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        assert!(asks_for_source(&headers));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=60"),
        );
        assert!(!asks_for_source(&headers));
    }

    #[test]
    fn labels_follow_the_plan() {
        let eligible = Eligible {
            subject: Subject {
                kind: crate::audit::record::SubjectKind::PersonalId,
                hash: "ab".into(),
            },
            data_type: "citizen".into(),
            fresh_for: Duration::from_secs(60),
        };
        assert_eq!(Plan::NotEligible.label(false), None);
        assert_eq!(Plan::Lookup(eligible.clone()).label(true), Some("hit"));
        assert_eq!(Plan::Lookup(eligible.clone()).label(false), Some("miss"));
        assert_eq!(Plan::Bypass(eligible).label(false), Some("bypass"));
    }
}
