//! Client secrets (argon2id), API keys (SHA-256) and certificate fingerprints.
//!
//! Client secrets are chosen by people or tools and may be weak, so they get a
//! slow password hash. API keys are 256-bit random strings we generate, so a
//! fast hash is as strong and keeps the per-request lookup O(1).

use crate::access::AccessError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Prefix of every API key, so leaked keys are recognisable by secret scanners.
pub const API_KEY_PREFIX: &str = "lgsp_";

/// An argon2id hash (default parameters) of a random secret nobody knows, so
/// verifying against it costs what verifying a real client's secret costs.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$pgUNy843KbgmcknJ7wmCnw$fdn3hYIEkJYz/I1/H7FCADxthFCianSqsLUOGLrkM6Y";

/// Hashes a client secret as an argon2id PHC string with a random salt.
pub fn hash_secret(secret: &str) -> Result<String, AccessError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AccessError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AccessError::Hash(e.to_string()))
}

/// Whether `secret` matches the PHC hash `phc`; false for a malformed hash.
pub fn verify_secret(phc: &str, secret: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    // The comparison inside is constant-time; the parameters come from the
    // stored hash, which the gateway wrote itself.
    Argon2::default()
        .verify_password(secret.as_bytes(), &hash)
        .is_ok()
}

/// Runs one argon2 verification against a dummy hash, so unknown client ids take as long as known ones.
pub fn verify_unknown_client(secret: &str) {
    let _ = std::hint::black_box(verify_secret(DUMMY_PHC, secret));
}

/// A new client secret: 32 random bytes, base64url without padding.
pub fn generate_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_32())
}

/// A new API key: "lgsp_" followed by 32 random bytes, base64url without padding.
pub fn generate_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random_32()))
}

/// The stored form of an API key: SHA-256, lowercase hex.
pub fn hash_api_key(key: &str) -> String {
    hex_lower(&Sha256::digest(key.as_bytes()))
}

/// The SHA-256 fingerprint of a DER certificate, lowercase hex.
pub fn certificate_fingerprint(der: &[u8]) -> String {
    hex_lower(&Sha256::digest(der))
}

/// 32 bytes from the thread-local CSPRNG (ChaCha, seeded and reseeded from the OS).
fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// Lowercase hex of `bytes`.
fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hash_verifies_and_rejects_wrong_secret() {
        let secret = generate_secret();
        let phc = hash_secret(&secret).expect("hash");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains(&secret));
        assert!(verify_secret(&phc, &secret));
        assert!(!verify_secret(&phc, "wrong"));
        assert_ne!(hash_secret(&secret).expect("hash"), phc, "salt is random");
    }

    #[test]
    fn garbage_hash_is_false() {
        for phc in [
            "",
            "garbage",
            "$argon2id$",
            "$argon2id$v=19$m=1,t=1,p=1$$",
            "$$$$$$",
        ] {
            assert!(!verify_secret(phc, "secret"), "{phc:?}");
        }
    }

    #[test]
    fn dummy_hash_costs_like_a_real_one() {
        let dummy = PasswordHash::new(DUMMY_PHC).expect("dummy parses");
        let real_phc = hash_secret("x").expect("hash");
        let real = PasswordHash::new(&real_phc).expect("real parses");
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert!(!verify_secret(DUMMY_PHC, ""));
        verify_unknown_client("anything");
    }

    #[test]
    fn api_keys_and_secrets_have_expected_shape() {
        let key = generate_api_key();
        assert!(key.starts_with("lgsp_"));
        assert_eq!(key.len(), 5 + 43);
        assert_ne!(generate_api_key(), key);
        assert_eq!(generate_secret().len(), 43);
    }

    #[test]
    fn api_key_hash_is_stable_sha256_hex() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let key = generate_api_key();
        assert_eq!(hash_api_key(&key), hash_api_key(&key));
        assert_eq!(certificate_fingerprint(b"abc"), hash_api_key("abc"));
    }
}
