//! The NDOP signing scheme (`LGSP-NDOP-1`): ECDSA P-256 with SHA-256 over a
//! canonical form of each request and response, a clock-skew window and a
//! nonce cache against replays. The wire conventions are in the module doc of
//! [`crate::ndop`].

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;
use x509_cert::spki::ObjectIdentifier;

/// First line of a request's canonical form.
pub const REQUEST_SCHEME: &str = "LGSP-NDOP-1";
/// First line of a response's canonical form.
pub const RESPONSE_SCHEME: &str = "LGSP-NDOP-1-response";
/// The configured id of the province's signing key.
pub const KEY_ID_HEADER: &str = "x-ndop-key-id";
/// Unix seconds at signing.
pub const TIMESTAMP_HEADER: &str = "x-ndop-timestamp";
/// The request's nonce, echoed in the response.
pub const NONCE_HEADER: &str = "x-ndop-nonce";
/// Base64 of the ASN.1 DER ECDSA signature.
pub const SIGNATURE_HEADER: &str = "x-ndop-signature";
/// RFC 9530 digest of the body.
pub const CONTENT_DIGEST_HEADER: &str = "content-digest";

/// Bytes of randomness in a nonce.
const NONCE_BYTES: usize = 16;

/// `id-ecPublicKey` (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` (RFC 5480).
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// Why signing or verifying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The private key PEM cannot be used.
    #[error("signing key unusable: {0}; expected a PKCS#8 PEM ECDSA P-256 key")]
    InvalidKey(String),
    /// The certificate PEM cannot be used for verifying.
    #[error(
        "verifying certificate unusable: {0}; expected a PEM X.509 certificate with an ECDSA P-256 key"
    )]
    InvalidCertificate(String),
    /// A signature header is absent.
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    /// A signature header cannot be read.
    #[error("header {header} is malformed: {reason}")]
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The body does not match its `Content-Digest`.
    #[error("content-digest does not match the body")]
    DigestMismatch,
    /// The signature does not verify with the expected key.
    #[error("signature does not verify")]
    Invalid,
    /// The timestamp is outside the skew window.
    #[error("timestamp is {offset_secs} s away from now, more than the {max_secs} s allowed")]
    Skew {
        /// How far the timestamp is from now, in seconds.
        offset_secs: u64,
        /// The window, in seconds.
        max_secs: u64,
    },
    /// The nonce was seen within the replay window.
    #[error("nonce already used")]
    Replayed,
    /// The replay cache is full of nonces still inside their window.
    #[error("replay cache full")]
    ReplayCacheFull,
    /// The response echoes a nonce other than the request's.
    #[error("response nonce differs from the request's")]
    NonceMismatch,
    /// The system's random source or signer failed.
    #[error("signing failed")]
    SigningFailed,
}

/// A private ECDSA P-256 key that signs canonical forms.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PKCS#8 PEM ECDSA P-256 private key (rcgen's default key type).
    pub fn from_pkcs8_pem(pem: &str) -> Result<SigningKey, SignatureError> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| SignatureError::InvalidKey(format!("no private key in the PEM ({e})")))?;
        let PrivateKeyDer::Pkcs8(pkcs8) = der else {
            return Err(SignatureError::InvalidKey(
                "the PEM holds a SEC1 or PKCS#1 key, not PKCS#8".into(),
            ));
        };
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.secret_pkcs8_der(),
            &rng,
        )
        .map_err(|e| SignatureError::InvalidKey(e.to_string()))?;
        Ok(SigningKey { pair, rng })
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignatureError::SigningFailed)
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            public_key: self.pair.public_key().as_ref().to_vec(),
        }
    }
}

/// A public ECDSA P-256 key that verifies canonical forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    /// The uncompressed point, as in the certificate's SPKI.
    public_key: Vec<u8>,
}

impl VerifyingKey {
    /// Takes the public key of the first certificate in a PEM.
    ///
    /// Only the key is used: the certificate is configured by the operator,
    /// so its chain and dates are not what makes a signature trustworthy.
    pub fn from_certificate_pem(pem: &str) -> Result<VerifyingKey, SignatureError> {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| {
            SignatureError::InvalidCertificate(format!("no certificate in the PEM ({e})"))
        })?;
        let certificate = Certificate::from_der(der.as_ref())
            .map_err(|e| SignatureError::InvalidCertificate(e.to_string()))?;
        let spki = certificate.tbs_certificate.subject_public_key_info;
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if spki.algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP256R1) {
            return Err(SignatureError::InvalidCertificate(
                "the certificate's key is not ECDSA P-256".into(),
            ));
        }
        let public_key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| {
                SignatureError::InvalidCertificate("the public key is not whole bytes".into())
            })?
            .to_vec();
        Ok(VerifyingKey { public_key })
    }

    /// Checks `signature` over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.public_key)
            .verify(message, signature)
            .map_err(|_| SignatureError::Invalid)
    }
}

/// The `Content-Digest` value of a body: `sha-256=:<base64>:` (RFC 9530).
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// 128 random bits, base64url without padding.
pub fn new_nonce() -> Result<String, SignatureError> {
    let mut bytes = [0u8; NONCE_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SignatureError::SigningFailed)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Seconds since the Unix epoch now (0 if the clock is before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The canonical form of a request.
pub fn request_canonical(
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    digest: &str,
) -> String {
    format!("{REQUEST_SCHEME}\n{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{digest}")
}

/// The canonical form of a response.
pub fn response_canonical(status: u16, nonce: &str, timestamp: u64, digest: &str) -> String {
    format!("{RESPONSE_SCHEME}\n{status}\n{nonce}\n{timestamp}\n{digest}")
}

/// Refuses a timestamp more than `max_skew` away from `now`, either way.
pub fn check_skew(timestamp: u64, now: u64, max_skew: Duration) -> Result<(), SignatureError> {
    let offset_secs = timestamp.abs_diff(now);
    let max_secs = max_skew.as_secs();
    if offset_secs > max_secs {
        return Err(SignatureError::Skew {
            offset_secs,
            max_secs,
        });
    }
    Ok(())
}

/// What a verified request's signature headers said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRequest {
    /// The key id the caller named.
    pub key_id: String,
    /// The request's nonce.
    pub nonce: String,
    /// The request's timestamp.
    pub timestamp: u64,
}

/// Signs a request: sets the key id, timestamp, nonce, digest and signature headers.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    key: &SigningKey,
    key_id: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
    headers: &mut HeaderMap,
) -> Result<(), SignatureError> {
    let digest = content_digest(body);
    let canonical = request_canonical(method, path_and_query, timestamp, nonce, &digest);
    let signature = STANDARD.encode(key.sign(canonical.as_bytes())?);
    let key_id = HeaderValue::from_str(key_id).map_err(|_| SignatureError::MalformedHeader {
        header: KEY_ID_HEADER,
        reason: "not a valid header value",
    })?;
    let nonce = header_value(NONCE_HEADER, nonce)?;
    headers.insert(KEY_ID_HEADER, key_id);
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from(timestamp));
    headers.insert(NONCE_HEADER, nonce);
    headers.insert(
        CONTENT_DIGEST_HEADER,
        header_value(CONTENT_DIGEST_HEADER, &digest)?,
    );
    headers.insert(
        SIGNATURE_HEADER,
        header_value(SIGNATURE_HEADER, &signature)?,
    );
    Ok(())
}

/// Verifies a request's signature, digest and timestamp. Replays are the
/// caller's to refuse with a [`ReplayGuard`], after this succeeds, so that
/// forged requests cannot fill the guard.
pub fn verify_request(
    key: &VerifyingKey,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    max_skew: Duration,
) -> Result<VerifiedRequest, SignatureError> {
    let key_id = required(headers, KEY_ID_HEADER)?;
    if key_id.is_empty() {
        return Err(SignatureError::MalformedHeader {
            header: KEY_ID_HEADER,
            reason: "empty",
        });
    }
    let timestamp = timestamp_of(headers)?;
    let nonce = required(headers, NONCE_HEADER)?;
    if !is_nonce(nonce) {
        return Err(SignatureError::MalformedHeader {
            header: NONCE_HEADER,
            reason: "not 128 bits in base64url without padding",
        });
    }
    let digest = checked_digest(headers, body)?;
    let signature = signature_of(headers)?;
    let canonical = request_canonical(method, path_and_query, timestamp, nonce, &digest);
    key.verify(canonical.as_bytes(), &signature)?;
    // The skew is checked after the signature, so a forged timestamp reads
    // as a bad signature rather than as a clock problem.
    check_skew(timestamp, now, max_skew)?;
    Ok(VerifiedRequest {
        key_id: key_id.to_owned(),
        nonce: nonce.to_owned(),
        timestamp,
    })
}

/// Signs a response: sets the timestamp, echoed nonce, digest and signature headers.
pub fn sign_response(
    key: &SigningKey,
    status: u16,
    nonce: &str,
    body: &[u8],
    timestamp: u64,
    headers: &mut HeaderMap,
) -> Result<(), SignatureError> {
    let digest = content_digest(body);
    let canonical = response_canonical(status, nonce, timestamp, &digest);
    let signature = STANDARD.encode(key.sign(canonical.as_bytes())?);
    headers.insert(TIMESTAMP_HEADER, HeaderValue::from(timestamp));
    headers.insert(NONCE_HEADER, header_value(NONCE_HEADER, nonce)?);
    headers.insert(
        CONTENT_DIGEST_HEADER,
        header_value(CONTENT_DIGEST_HEADER, &digest)?,
    );
    headers.insert(
        SIGNATURE_HEADER,
        header_value(SIGNATURE_HEADER, &signature)?,
    );
    Ok(())
}

/// Verifies a response: signature, digest, timestamp within `max_skew`, and
/// the echoed nonce equal to `expected_nonce`, so a replayed answer to an
/// earlier request fails.
pub fn verify_response(
    key: &VerifyingKey,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    expected_nonce: &str,
    now: u64,
    max_skew: Duration,
) -> Result<(), SignatureError> {
    let timestamp = timestamp_of(headers)?;
    let nonce = required(headers, NONCE_HEADER)?;
    let digest = checked_digest(headers, body)?;
    let signature = signature_of(headers)?;
    let canonical = response_canonical(status, nonce, timestamp, &digest);
    key.verify(canonical.as_bytes(), &signature)?;
    if nonce != expected_nonce {
        return Err(SignatureError::NonceMismatch);
    }
    check_skew(timestamp, now, max_skew)
}

fn header_value(header: &'static str, value: &str) -> Result<HeaderValue, SignatureError> {
    HeaderValue::from_str(value).map_err(|_| SignatureError::MalformedHeader {
        header,
        reason: "not a valid header value",
    })
}

fn required<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(SignatureError::MissingHeader(name))?;
    // Two values would let a proxy and the verifier read different ones.
    if values.next().is_some() {
        return Err(SignatureError::MalformedHeader {
            header: name,
            reason: "repeated",
        });
    }
    value.to_str().map_err(|_| SignatureError::MalformedHeader {
        header: name,
        reason: "not visible ASCII",
    })
}

fn timestamp_of(headers: &HeaderMap) -> Result<u64, SignatureError> {
    let text = required(headers, TIMESTAMP_HEADER)?;
    // `u64::from_str` accepts a leading `+`, which would let two spellings sign alike.
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::MalformedHeader {
            header: TIMESTAMP_HEADER,
            reason: "not unix seconds",
        });
    }
    text.parse().map_err(|_| SignatureError::MalformedHeader {
        header: TIMESTAMP_HEADER,
        reason: "not unix seconds",
    })
}

fn is_nonce(nonce: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(nonce)
        .is_ok_and(|bytes| bytes.len() == NONCE_BYTES)
}

/// The body's digest, after checking the header's `sha-256` member against it.
fn checked_digest(headers: &HeaderMap, body: &[u8]) -> Result<String, SignatureError> {
    let header = required(headers, CONTENT_DIGEST_HEADER)?;
    let sent = header
        .split(',')
        .filter_map(|member| member.trim().split_once('='))
        .find(|(algorithm, _)| algorithm.trim() == "sha-256")
        .and_then(|(_, value)| value.trim().strip_prefix(':')?.strip_suffix(':'))
        .ok_or(SignatureError::MalformedHeader {
            header: CONTENT_DIGEST_HEADER,
            reason: "no sha-256 member",
        })?;
    let sent = STANDARD
        .decode(sent)
        .map_err(|_| SignatureError::MalformedHeader {
            header: CONTENT_DIGEST_HEADER,
            reason: "sha-256 member is not base64",
        })?;
    let actual = Sha256::digest(body);
    if sent.as_slice() != actual.as_slice() {
        return Err(SignatureError::DigestMismatch);
    }
    Ok(content_digest(body))
}

fn signature_of(headers: &HeaderMap) -> Result<Vec<u8>, SignatureError> {
    let text = required(headers, SIGNATURE_HEADER)?;
    STANDARD
        .decode(text)
        .map_err(|_| SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "not base64",
        })
}

/// Nonces seen recently, so a captured request cannot be sent again.
///
/// A request is accepted while its timestamp is within the skew window of
/// now, so it can arrive during two windows' worth of time; each nonce is
/// kept that long (2 × skew) from when it is first seen. The cache holds at
/// most `capacity` nonces: when it is full of live ones it refuses new
/// requests rather than forget a nonce that could still be replayed.
#[derive(Debug)]
pub struct ReplayGuard {
    keep_for: u64,
    capacity: usize,
    seen: Mutex<SeenNonces>,
}

#[derive(Debug, Default)]
struct SeenNonces {
    nonces: HashSet<String>,
    /// Expiry and nonce, in the order first seen.
    order: VecDeque<(u64, String)>,
}

impl ReplayGuard {
    /// A guard for the skew window `max_skew` holding at most `capacity` nonces.
    pub fn new(max_skew: Duration, capacity: usize) -> ReplayGuard {
        ReplayGuard {
            keep_for: max_skew.as_secs().saturating_mul(2),
            capacity,
            seen: Mutex::default(),
        }
    }

    /// Records `nonce` at `now` (unix seconds); refuses one seen within its window.
    pub fn check_and_record(&self, nonce: &str, now: u64) -> Result<(), SignatureError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while seen.order.front().is_some_and(|(expiry, _)| *expiry <= now) {
            if let Some((_, old)) = seen.order.pop_front() {
                seen.nonces.remove(&old);
            }
        }
        if seen.nonces.contains(nonce) {
            return Err(SignatureError::Replayed);
        }
        if seen.nonces.len() >= self.capacity {
            return Err(SignatureError::ReplayCacheFull);
        }
        seen.nonces.insert(nonce.to_owned());
        seen.order
            .push_back((now.saturating_add(self.keep_for), nonce.to_owned()));
        Ok(())
    }

    /// How many nonces are held.
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .nonces
            .len()
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: Duration = Duration::from_secs(300);
    const NOW: u64 = 1_800_000_000;

    fn keys() -> (SigningKey, VerifyingKey, String) {
        let pair = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["signer.test".to_owned()]).expect("params");
        let cert = params.self_signed(&pair).expect("cert");
        let signing = SigningKey::from_pkcs8_pem(&pair.serialize_pem()).expect("signing key");
        let verifying = VerifyingKey::from_certificate_pem(&cert.pem()).expect("verifying key");
        (signing, verifying, cert.pem())
    }

    fn nonce() -> String {
        new_nonce().expect("nonce")
    }

    fn signed(key: &SigningKey, nonce: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        sign_request(
            key,
            "province-01",
            "POST",
            "/ndop/v1/x?y=1",
            b"{\"a\":1}",
            NOW,
            nonce,
            &mut headers,
        )
        .expect("sign");
        headers
    }

    #[test]
    fn certificate_key_matches_the_private_key() {
        let (signing, verifying, _) = keys();
        assert_eq!(signing.verifying_key(), verifying);
    }

    #[test]
    fn request_round_trip() {
        let (signing, verifying, _) = keys();
        let n = nonce();
        let headers = signed(&signing, &n);
        let verified = verify_request(
            &verifying,
            "POST",
            "/ndop/v1/x?y=1",
            &headers,
            b"{\"a\":1}",
            NOW + 10,
            SKEW,
        )
        .expect("verifies");
        assert_eq!(verified.nonce, n);
        assert_eq!(verified.key_id, "province-01");
        assert_eq!(verified.timestamp, NOW);
        assert_eq!(
            headers[CONTENT_DIGEST_HEADER],
            content_digest(b"{\"a\":1}").as_str()
        );
    }

    #[test]
    fn any_change_breaks_the_request_signature() {
        let (signing, verifying, _) = keys();
        let n = nonce();
        let headers = signed(&signing, &n);
        let check = |method: &str, path: &str, headers: &HeaderMap, body: &[u8]| {
            verify_request(&verifying, method, path, headers, body, NOW, SKEW)
        };
        assert_eq!(
            check("GET", "/ndop/v1/x?y=1", &headers, b"{\"a\":1}"),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check("POST", "/ndop/v1/x?y=2", &headers, b"{\"a\":1}"),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check("POST", "/ndop/v1/x?y=1", &headers, b"{\"a\":2}"),
            Err(SignatureError::DigestMismatch)
        );
        let mut later = headers.clone();
        later.insert(TIMESTAMP_HEADER, HeaderValue::from(NOW + 1));
        assert_eq!(
            check("POST", "/ndop/v1/x?y=1", &later, b"{\"a\":1}"),
            Err(SignatureError::Invalid)
        );
        let mut other_nonce = headers.clone();
        other_nonce.insert(
            NONCE_HEADER,
            header_value(NONCE_HEADER, &nonce()).expect("value"),
        );
        assert_eq!(
            check("POST", "/ndop/v1/x?y=1", &other_nonce, b"{\"a\":1}"),
            Err(SignatureError::Invalid)
        );
        // A body swapped together with a matching digest still fails the signature.
        let mut swapped = headers.clone();
        swapped.insert(
            CONTENT_DIGEST_HEADER,
            header_value(CONTENT_DIGEST_HEADER, &content_digest(b"{\"a\":2}")).expect("value"),
        );
        assert_eq!(
            check("POST", "/ndop/v1/x?y=1", &swapped, b"{\"a\":2}"),
            Err(SignatureError::Invalid)
        );
        let mut unsigned = headers.clone();
        unsigned.remove(SIGNATURE_HEADER);
        assert_eq!(
            check("POST", "/ndop/v1/x?y=1", &unsigned, b"{\"a\":1}"),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER))
        );
        let mut plus = headers;
        plus.insert(TIMESTAMP_HEADER, HeaderValue::from_static("+1800000000"));
        assert!(matches!(
            check("POST", "/ndop/v1/x?y=1", &plus, b"{\"a\":1}"),
            Err(SignatureError::MalformedHeader { .. })
        ));
    }

    #[test]
    fn wrong_key_fails() {
        let (signing, _, _) = keys();
        let (_, other, _) = keys();
        let headers = signed(&signing, &nonce());
        assert_eq!(
            verify_request(
                &other,
                "POST",
                "/ndop/v1/x?y=1",
                &headers,
                b"{\"a\":1}",
                NOW,
                SKEW
            ),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn skew_outside_the_window_fails() {
        let (signing, verifying, _) = keys();
        let headers = signed(&signing, &nonce());
        let at = |now| {
            verify_request(
                &verifying,
                "POST",
                "/ndop/v1/x?y=1",
                &headers,
                b"{\"a\":1}",
                now,
                SKEW,
            )
        };
        assert!(at(NOW + 300).is_ok());
        assert!(at(NOW - 300).is_ok());
        assert_eq!(
            at(NOW + 301),
            Err(SignatureError::Skew {
                offset_secs: 301,
                max_secs: 300
            })
        );
        assert!(matches!(at(NOW - 301), Err(SignatureError::Skew { .. })));
    }

    #[test]
    fn response_round_trip_and_nonce_binding() {
        let (signing, verifying, _) = keys();
        let n = nonce();
        let mut headers = HeaderMap::new();
        sign_response(&signing, 200, &n, "Nguyễn".as_bytes(), NOW, &mut headers).expect("sign");
        let check = |status, body: &[u8], expected: &str, now| {
            verify_response(&verifying, status, &headers, body, expected, now, SKEW)
        };
        assert_eq!(check(200, "Nguyễn".as_bytes(), &n, NOW), Ok(()));
        assert_eq!(
            check(404, "Nguyễn".as_bytes(), &n, NOW),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            check(200, "Nguyen".as_bytes(), &n, NOW),
            Err(SignatureError::DigestMismatch)
        );
        assert_eq!(
            check(200, "Nguyễn".as_bytes(), &nonce(), NOW),
            Err(SignatureError::NonceMismatch)
        );
        assert!(matches!(
            check(200, "Nguyễn".as_bytes(), &n, NOW + 301),
            Err(SignatureError::Skew { .. })
        ));
    }

    #[test]
    fn replayed_nonce_fails_until_it_expires() {
        let guard = ReplayGuard::new(SKEW, 100);
        let n = nonce();
        assert_eq!(guard.check_and_record(&n, NOW), Ok(()));
        assert_eq!(
            guard.check_and_record(&n, NOW + 599),
            Err(SignatureError::Replayed)
        );
        // After two windows the request's timestamp is stale anyway.
        assert_eq!(guard.check_and_record(&n, NOW + 600), Ok(()));
    }

    #[test]
    fn guard_stays_bounded() {
        let guard = ReplayGuard::new(SKEW, 3);
        for i in 0..3 {
            assert_eq!(guard.check_and_record(&format!("n{i}"), NOW + i), Ok(()));
        }
        assert_eq!(
            guard.check_and_record("n3", NOW + 3),
            Err(SignatureError::ReplayCacheFull)
        );
        assert_eq!(guard.len(), 3);
        // The first nonce expires, which frees one place.
        assert_eq!(guard.check_and_record("n3", NOW + 600), Ok(()));
        assert_eq!(guard.len(), 3);
        assert_eq!(
            guard.check_and_record("n5", NOW + 600),
            Err(SignatureError::ReplayCacheFull)
        );
        // Two more expire; the expired n0 is accepted again.
        assert_eq!(guard.check_and_record("n0", NOW + 602), Ok(()));
        assert_eq!(guard.len(), 2);
        assert!(guard.check_and_record("n4", NOW + 10_000).is_ok());
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn unusable_keys_are_refused_with_a_reason() {
        let (_, _, cert_pem) = keys();
        assert!(matches!(
            SigningKey::from_pkcs8_pem(&cert_pem),
            Err(SignatureError::InvalidKey(_))
        ));
        assert!(matches!(
            VerifyingKey::from_certificate_pem("not a pem"),
            Err(SignatureError::InvalidCertificate(_))
        ));
    }
}
