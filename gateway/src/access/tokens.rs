//! OAuth2 access tokens: short-lived EdDSA JWTs issued at `/oauth2/token`
//! and verified on every data-plane call, with a cache of verified tokens so
//! a repeated token costs a hash and a map lookup, not a signature check.

use crate::access::{AccessError, SigningKeys};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `aud` of every token: tokens are only for this gateway.
pub const AUDIENCE: &str = "lgsp";

/// The default token lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// Tokens longer than this are refused unread; ours are well under 1 KiB.
const MAX_TOKEN_LEN: usize = 4096;

/// Most verified tokens kept; beyond it expired ones are evicted, then all.
const CACHE_CAPACITY: usize = 100_000;

/// The claims the gateway signs.
#[derive(Serialize)]
struct IssuedClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'static str,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// The claims read back after the signature and the standard claims checked out.
#[derive(Deserialize)]
struct ReadClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    scope: Option<String>,
}

/// Issues access tokens signed with the active key.
pub struct TokenIssuer {
    keys: Arc<SigningKeys>,
    issuer: String,
    ttl: Duration,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .field("kid", &self.keys.active_kid())
            .finish()
    }
}

/// An issued token, serialized as the OAuth2 token response (RFC 6749 §5.1).
#[derive(Clone, Serialize)]
pub struct IssuedToken {
    /// The signed JWT.
    pub access_token: String,
    /// Always "Bearer".
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// The granted scope, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A bearer token is a credential until it expires: never print it.
        f.debug_struct("IssuedToken")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

impl TokenIssuer {
    /// An issuer signing with `keys`' active key, naming itself `issuer`, tokens living `ttl` (at least 1 s).
    pub fn new(keys: Arc<SigningKeys>, issuer: String, ttl: Duration) -> Self {
        TokenIssuer { keys, issuer, ttl }
    }

    /// Issues a token for `system` (its `sub`), with the granted `scope` if any.
    pub fn issue(&self, system: &str, scope: Option<&str>) -> Result<IssuedToken, AccessError> {
        let key = self
            .keys
            .active()
            .ok_or_else(|| AccessError::Signing("no signing key".into()))?;
        let ttl = self.ttl.as_secs().max(1);
        let now = unix_now();
        let claims = IssuedClaims {
            iss: &self.issuer,
            sub: system,
            aud: AUDIENCE,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            scope,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| AccessError::Signing(e.to_string()))?;
        Ok(IssuedToken {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope: scope.map(str::to_string),
        })
    }
}

/// A token that verified: who it was issued to, until when, for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The consumer system (the token's `sub`).
    pub system: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// The granted scope, if any.
    pub scope: Option<String>,
}

/// Verifies bearer tokens against the gateway's keys, caching the verified ones until they expire.
pub struct TokenVerifier {
    keys: Arc<SigningKeys>,
    validation: Validation,
    /// Keyed by SHA-256 of the whole token, so only a byte-identical token
    /// (hence one whose signature already checked out) can hit.
    cache: RwLock<HashMap<[u8; 32], VerifiedToken>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (hits, misses) = self.cache_stats();
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.validation.iss)
            .field("kids", &self.keys.kids())
            .field("hits", &hits)
            .field("misses", &misses)
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier accepting EdDSA tokens from `issuer`, audience "lgsp", signed by any of `keys`.
    pub fn new(keys: Arc<SigningKeys>, issuer: String) -> Self {
        Self::with_capacity(keys, issuer, CACHE_CAPACITY)
    }

    fn with_capacity(keys: Arc<SigningKeys>, issuer: String, capacity: usize) -> Self {
        // EdDSA only: the algorithm is fixed by us, never taken from the token,
        // which is what defeats `alg: none` and HS/RS key-confusion tokens.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // No leeway: the cache honours `exp` exactly, and the signing and the
        // verifying node are normally the same process or share NTP time.
        validation.leeway = 0;
        TokenVerifier {
            keys,
            validation,
            cache: RwLock::new(HashMap::new()),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Verifies a bearer token (without the "Bearer " prefix).
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, AccessError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(AccessError::TokenRejected("malformed"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = unix_now();
        {
            // A poisoned lock only means a panic elsewhere mid-insert; the map
            // itself is still a valid map, so keep serving from it.
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = cache.get(&digest)
                && now < hit.expires_at
            {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(hit.clone());
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let verified = self.verify_signature(token, now)?;
        self.remember(digest, verified.clone(), now);
        Ok(verified)
    }

    /// Cache hits and misses since start.
    pub fn cache_stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// The full check: header, key, signature, standard claims.
    fn verify_signature(&self, token: &str, now: u64) -> Result<VerifiedToken, AccessError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AccessError::TokenRejected("malformed"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AccessError::TokenRejected("algorithm not allowed"));
        }
        let kid = header
            .kid
            .ok_or(AccessError::TokenRejected("key id missing"))?;
        let key = self
            .keys
            .decoding_key(&kid)
            .ok_or(AccessError::TokenRejected("unknown key id"))?;
        let data = jsonwebtoken::decode::<ReadClaims>(token, key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => AccessError::TokenExpired,
                ErrorKind::ImmatureSignature => AccessError::TokenRejected("not yet valid"),
                ErrorKind::InvalidIssuer => AccessError::TokenRejected("wrong issuer"),
                ErrorKind::InvalidAudience => AccessError::TokenRejected("wrong audience"),
                ErrorKind::InvalidSignature => AccessError::TokenRejected("bad signature"),
                ErrorKind::InvalidAlgorithm => AccessError::TokenRejected("algorithm not allowed"),
                ErrorKind::MissingRequiredClaim(_) => AccessError::TokenRejected("claim missing"),
                _ => AccessError::TokenRejected("malformed"),
            },
        )?;
        let claims = data.claims;
        // Same rule as the cache (valid while now < exp), so a token does not
        // flip between accepted and refused in its last second.
        if claims.exp <= now {
            return Err(AccessError::TokenExpired);
        }
        if claims.sub.is_empty() {
            return Err(AccessError::TokenRejected("claim missing"));
        }
        Ok(VerifiedToken {
            system: claims.sub,
            expires_at: claims.exp,
            scope: claims.scope,
        })
    }

    /// Caches a verified token, keeping the cache bounded.
    fn remember(&self, digest: [u8; 32], verified: VerifiedToken, now: u64) {
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= self.capacity && !cache.contains_key(&digest) {
            cache.retain(|_, v| now < v.expires_at);
            if cache.len() >= self.capacity {
                // Still full of live tokens: dropping them all costs one
                // signature check per live token, and keeps memory bounded.
                cache.clear();
            }
        }
        cache.insert(digest, verified);
    }
}

/// Seconds since the Unix epoch; 0 for a clock set before 1970.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::EncodingKey;
    use std::path::Path;

    const ISSUER: &str = "https://lgsp.test";

    fn setup() -> (
        tempfile::TempDir,
        Arc<SigningKeys>,
        TokenIssuer,
        TokenVerifier,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = Arc::new(SigningKeys::load_or_create(dir.path()).expect("keys"));
        let issuer = TokenIssuer::new(keys.clone(), ISSUER.into(), DEFAULT_TTL);
        let verifier = TokenVerifier::new(keys.clone(), ISSUER.into());
        (dir, keys, issuer, verifier)
    }

    /// The active private key, read straight from its file, for crafting tokens.
    fn key_file(dir: &Path, kid: &str) -> EncodingKey {
        let pem = std::fs::read(dir.join(format!("{kid}.pem"))).expect("read key");
        EncodingKey::from_ed_pem(&pem).expect("pem")
    }

    fn craft(dir: &Path, kid: &str, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &key_file(dir, kid)).expect("encode")
    }

    fn claims(now: u64) -> serde_json::Value {
        serde_json::json!({
            "iss": ISSUER, "sub": "commune-01", "aud": AUDIENCE,
            "iat": now, "nbf": now, "exp": now + 300,
        })
    }

    fn b64(json: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    #[test]
    fn issue_then_verify_round_trip() {
        let (_dir, keys, issuer, verifier) = setup();
        let token = issuer
            .issue("commune-01", Some("population"))
            .expect("issue");
        assert_eq!(token.token_type, "Bearer");
        assert_eq!(token.expires_in, 300);
        let header = jsonwebtoken::decode_header(&token.access_token).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some(keys.active_kid()));
        let verified = verifier.verify(&token.access_token).expect("verify");
        assert_eq!(verified.system, "commune-01");
        assert_eq!(verified.scope.as_deref(), Some("population"));
        assert!(verified.expires_at > unix_now() + 290);
        let json = serde_json::to_value(&token).expect("json");
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["scope"], "population");
        assert!(!format!("{token:?}").contains(&token.access_token));
        let bare = issuer.issue("commune-01", None).expect("issue");
        assert!(
            serde_json::to_value(&bare)
                .expect("json")
                .get("scope")
                .is_none()
        );
    }

    #[test]
    fn second_verify_is_a_cache_hit() {
        let (_dir, _keys, issuer, verifier) = setup();
        let token = issuer.issue("commune-01", None).expect("issue");
        verifier.verify(&token.access_token).expect("first");
        assert_eq!(verifier.cache_stats(), (0, 1));
        let again = verifier.verify(&token.access_token).expect("second");
        assert_eq!(again.system, "commune-01");
        assert_eq!(verifier.cache_stats(), (1, 1));
    }

    #[test]
    fn cache_stays_bounded() {
        let (_dir, keys, issuer, _) = setup();
        let verifier = TokenVerifier::with_capacity(keys, ISSUER.into(), 3);
        for i in 0..10 {
            let token = issuer.issue(&format!("s{i}"), None).expect("issue");
            verifier.verify(&token.access_token).expect("verify");
            let len = verifier.cache.read().expect("lock").len();
            assert!(len <= 3, "cache grew to {len}");
        }
    }

    #[test]
    fn expired_token_is_refused() {
        let (dir, keys, _issuer, verifier) = setup();
        let now = unix_now();
        let mut c = claims(now);
        c["iat"] = (now - 600).into();
        c["nbf"] = (now - 600).into();
        c["exp"] = (now - 1).into();
        let token = craft(dir.path(), keys.active_kid(), c);
        assert!(matches!(
            verifier.verify(&token),
            Err(AccessError::TokenExpired)
        ));
    }

    #[test]
    fn token_expiring_now_is_refused_even_from_cache() {
        let (dir, keys, _issuer, verifier) = setup();
        let now = unix_now();
        let mut c = claims(now);
        c["exp"] = now.into();
        let token = craft(dir.path(), keys.active_kid(), c);
        assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn not_yet_valid_token_is_refused() {
        let (dir, keys, _issuer, verifier) = setup();
        let now = unix_now();
        let mut c = claims(now);
        c["nbf"] = (now + 120).into();
        let token = craft(dir.path(), keys.active_kid(), c);
        assert!(matches!(
            verifier.verify(&token),
            Err(AccessError::TokenRejected("not yet valid"))
        ));
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let (dir, keys, _issuer, verifier) = setup();
        let now = unix_now();
        let mut c = claims(now);
        c["iss"] = "https://evil.test".into();
        let token = craft(dir.path(), keys.active_kid(), c);
        assert!(matches!(
            verifier.verify(&token),
            Err(AccessError::TokenRejected("wrong issuer"))
        ));
        let mut c = claims(now);
        c["aud"] = "someone-else".into();
        let token = craft(dir.path(), keys.active_kid(), c);
        assert!(matches!(
            verifier.verify(&token),
            Err(AccessError::TokenRejected("wrong audience"))
        ));
        let mut c = claims(now);
        c.as_object_mut().expect("object").remove("sub");
        let token = craft(dir.path(), keys.active_kid(), c);
        assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn alg_none_is_refused() {
        let (_dir, keys, _issuer, verifier) = setup();
        let header = serde_json::json!({"alg": "none", "typ": "JWT", "kid": keys.active_kid()});
        let body = claims(unix_now());
        for token in [
            format!("{}.{}.", b64(&header), b64(&body)),
            format!("{}.{}", b64(&header), b64(&body)),
        ] {
            assert!(verifier.verify(&token).is_err(), "accepted {token}");
        }
        let header = serde_json::json!({"alg": "None", "kid": keys.active_kid()});
        let token = format!("{}.{}.", b64(&header), b64(&body));
        assert!(verifier.verify(&token).is_err());
    }

    #[test]
    fn hs256_signed_with_the_public_key_is_refused() {
        let (_dir, keys, _issuer, verifier) = setup();
        let jwks = keys.jwks();
        let x = jwks["keys"][0]["x"].as_str().expect("x").to_string();
        let public = URL_SAFE_NO_PAD.decode(&x).expect("b64");
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.active_kid().into());
        let body = claims(unix_now());
        for secret in [public.as_slice(), x.as_bytes(), jwks.to_string().as_bytes()] {
            let token = jsonwebtoken::encode(&header, &body, &EncodingKey::from_secret(secret))
                .expect("encode");
            assert!(matches!(
                verifier.verify(&token),
                Err(AccessError::TokenRejected("algorithm not allowed"))
            ));
        }
    }

    #[test]
    fn tampered_payload_is_refused() {
        let (_dir, _keys, issuer, verifier) = setup();
        let token = issuer
            .issue("commune-01", None)
            .expect("issue")
            .access_token;
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let mut body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        body["sub"] = "ministry".into();
        let forged = format!("{}.{}.{}", parts[0], b64(&body), parts[2]);
        assert!(matches!(
            verifier.verify(&forged),
            Err(AccessError::TokenRejected("bad signature"))
        ));
        // A valid token still passes, and the forgery was never cached.
        verifier.verify(&token).expect("original");
        assert!(verifier.verify(&forged).is_err());
    }

    #[test]
    fn unknown_or_missing_kid_is_refused() {
        let (dir, keys, _issuer, verifier) = setup();
        let other = tempfile::tempdir().expect("tempdir");
        let foreign = SigningKeys::load_or_create(other.path()).expect("keys");
        let token = craft(other.path(), foreign.active_kid(), claims(unix_now()));
        assert!(matches!(
            verifier.verify(&token),
            Err(AccessError::TokenRejected("unknown key id"))
        ));
        let key = key_file(dir.path(), keys.active_kid());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims(unix_now()), &key)
            .expect("encode");
        assert!(matches!(
            verifier.verify(&token),
            Err(AccessError::TokenRejected("key id missing"))
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let (_dir, _keys, _issuer, verifier) = setup();
        let long = "a".repeat(10_000);
        for token in [
            "",
            ".",
            "..",
            "a.b.c",
            "eyJ.eyJ.sig",
            "\u{0}\u{1}.\u{2}.",
            long.as_str(),
            "e30.e30.",
            "eyJhbGciOiJFZERTQSJ9.e30.AAAA",
        ] {
            assert!(verifier.verify(token).is_err(), "accepted {token:?}");
        }
    }

    #[test]
    fn old_tokens_survive_rotation_and_new_ones_use_the_new_kid() {
        let (dir, keys, issuer, _verifier) = setup();
        let old_kid = keys.active_kid().to_string();
        let old_token = issuer
            .issue("commune-01", None)
            .expect("issue")
            .access_token;

        let new_kid = SigningKeys::rotate(dir.path()).expect("rotate");
        assert_ne!(new_kid, old_kid);
        let keys = Arc::new(SigningKeys::load_or_create(dir.path()).expect("reload"));
        assert_eq!(keys.active_kid(), new_kid);
        let issuer = TokenIssuer::new(keys.clone(), ISSUER.into(), DEFAULT_TTL);
        let verifier = TokenVerifier::new(keys.clone(), ISSUER.into());

        assert_eq!(
            verifier.verify(&old_token).expect("old token").system,
            "commune-01"
        );
        let new_token = issuer
            .issue("commune-02", None)
            .expect("issue")
            .access_token;
        let header = jsonwebtoken::decode_header(&new_token).expect("header");
        assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
        verifier.verify(&new_token).expect("new token");

        let jwks = keys.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        assert_eq!(kids.len(), 2);
        assert!(kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()));

        // Removing the old key file retires it: its tokens stop verifying.
        std::fs::remove_file(dir.path().join(format!("{old_kid}.pem"))).expect("remove");
        let keys = Arc::new(SigningKeys::load_or_create(dir.path()).expect("reload"));
        let verifier = TokenVerifier::new(keys, ISSUER.into());
        assert!(matches!(
            verifier.verify(&old_token),
            Err(AccessError::TokenRejected("unknown key id"))
        ));
        verifier.verify(&new_token).expect("new token");
    }
}
