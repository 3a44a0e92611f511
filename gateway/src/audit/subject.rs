//! The data-subject key: an HMAC-SHA256 key, kept in a file outside the
//! database, under which personal IDs and enterprise codes are stored as
//! keyed hashes. Whoever holds only the database cannot reverse a 12-digit ID
//! by trying them all; an auditor who knows an ID asks the gateway, which
//! hashes it with the same key and searches by the hash. Every node writing to
//! one store must share the key, or searches miss the other nodes' records.

use std::fmt;
use std::path::{Path, PathBuf};

use rand::TryRngCore as _;
use rustls::crypto::tls13::{Hkdf, OkmBlock};
use sha2::{Digest, Sha256};

use super::record::SubjectKind;
use super::{AuditError, hex, warn_if_readable_by_others, write_key_file};

/// Bytes of key material.
const KEY_LEN: usize = 32;

/// HMAC-SHA256 key for data subjects, loaded from a file outside the database.
#[derive(Clone)]
pub struct SubjectKey {
    /// The key bytes.
    key: [u8; KEY_LEN],
    /// *ring*'s HMAC-SHA256, reached through rustls (see [`ring_hmac_sha256`]).
    hmac: &'static dyn Hkdf,
}

impl fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the fingerprint: the key itself must never reach a log line.
        f.debug_struct("SubjectKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SubjectKey {
    /// Loads the key file (64 hex digits), creating it with 32 random bytes, mode 0600, when missing.
    pub fn load_or_create(path: &Path) -> Result<SubjectKey, AuditError> {
        if !path.exists() {
            let mut key = [0u8; KEY_LEN];
            rand::rngs::OsRng
                .try_fill_bytes(&mut key)
                .map_err(|error| key_error(path, format!("random source failed: {error}")))?;
            let mut contents = hex(&key);
            contents.push('\n');
            let created = write_key_file(path, contents.as_bytes())
                .map_err(|error| key_error(path, format!("cannot create: {error}")))?;
            if created {
                tracing::info!(event = "audit_subject_key_created", path = %path.display());
            }
        }
        SubjectKey::load(path)
    }

    /// Loads an existing key file; never creates one (for offline tools).
    pub fn load(path: &Path) -> Result<SubjectKey, AuditError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| key_error(path, format!("cannot read: {error}")))?;
        warn_if_readable_by_others(path);
        let key = parse_hex_key(text.trim())
            .ok_or_else(|| key_error(path, format!("expected {} hex digits", KEY_LEN * 2)))?;
        SubjectKey::from_bytes(key)
    }

    /// A key from raw bytes, for tests and tools that hold the key elsewhere.
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Result<SubjectKey, AuditError> {
        Ok(SubjectKey {
            key,
            hmac: ring_hmac_sha256()?,
        })
    }

    /// Lowercase hex HMAC-SHA256 of `kind:identifier` (trimmed), the `subject_hash` column.
    ///
    /// The kind is inside the MAC so that a personal ID and an enterprise code
    /// with the same digits never share a hash. Surrounding whitespace is
    /// dropped so an auditor's pasted ID finds what the pipeline recorded.
    pub fn hash(&self, kind: SubjectKind, identifier: &str) -> String {
        let message = format!("{}:{}", kind.as_str(), identifier.trim());
        let tag = self
            .hmac
            .hmac_sign(&OkmBlock::new(&self.key), message.as_bytes());
        hex(tag.as_ref())
    }

    /// A short public name for the key (not the key), to check that nodes share one.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"lgsp-audit-subject-key:");
        hasher.update(self.key);
        hex(&hasher.finalize()[..8])
    }
}

/// *ring*'s HMAC-SHA256. The gateway links *ring* through rustls but does not
/// depend on it directly, and rustls exposes *ring*'s HMAC only as part of the
/// HKDF of its SHA-256 TLS 1.3 cipher suite, whose `hmac_sign` is exactly
/// HMAC-SHA256 (checked against RFC 4231 in the tests).
fn ring_hmac_sha256() -> Result<&'static dyn Hkdf, AuditError> {
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .map(|suite| suite.hkdf_provider)
        .ok_or_else(|| AuditError::Crypto("HMAC-SHA256 is unavailable".into()))
}

/// The key bytes of 64 hex digits.
fn parse_hex_key(text: &str) -> Option<[u8; KEY_LEN]> {
    if text.len() != KEY_LEN * 2 || !text.is_ascii() {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(key)
}

/// A key error about `path`.
fn key_error(path: &Path, reason: String) -> AuditError {
    AuditError::Key {
        path: PathBuf::from(path),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SubjectKey {
        SubjectKey::from_bytes([byte; KEY_LEN]).expect("key")
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        let hmac = ring_hmac_sha256().expect("hmac");
        // Test case 1: key 0x0b × 20, "Hi There".
        let tag = hmac.hmac_sign(&OkmBlock::new(&[0x0b; 20]), b"Hi There");
        assert_eq!(
            hex(tag.as_ref()),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2: key "Jefe".
        let tag = hmac.hmac_sign(&OkmBlock::new(b"Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            hex(tag.as_ref()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hashes_are_deterministic_and_separate_keys_and_kinds() {
        let (a, b) = (key(1), key(2));
        let id = "001099012345";
        let hash = a.hash(SubjectKind::PersonalId, id);
        assert_eq!(hash.len(), 64);
        assert!(
            hash.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_eq!(hash, a.hash(SubjectKind::PersonalId, id));
        assert_eq!(hash, a.hash(SubjectKind::PersonalId, " 001099012345\n"));
        assert_ne!(hash, b.hash(SubjectKind::PersonalId, id));
        assert_ne!(hash, a.hash(SubjectKind::Enterprise, id));
        assert_ne!(hash, a.hash(SubjectKind::PersonalId, "001099012346"));
        assert!(!hash.contains(id));
    }

    #[test]
    fn key_file_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys").join("audit-subject.key");
        let created = SubjectKey::load_or_create(&path).expect("create");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.trim().len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let reloaded = SubjectKey::load_or_create(&path).expect("reload");
        assert_eq!(
            created.hash(SubjectKind::Enterprise, "0101234567"),
            reloaded.hash(SubjectKind::Enterprise, "0101234567")
        );
        assert_eq!(created.fingerprint(), reloaded.fingerprint());
        let debug = format!("{created:?}");
        assert!(!debug.contains(text.trim()), "{debug}");
        assert!(debug.contains(&created.fingerprint()));
    }

    #[test]
    fn broken_or_missing_key_files_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("none.key");
        assert!(matches!(
            SubjectKey::load(&missing),
            Err(AuditError::Key { .. })
        ));
        assert!(!missing.exists(), "load never creates");
        let short = dir.path().join("short.key");
        std::fs::write(&short, "abcd").expect("write");
        assert!(matches!(
            SubjectKey::load_or_create(&short),
            Err(AuditError::Key { .. })
        ));
        let not_hex = dir.path().join("nothex.key");
        std::fs::write(&not_hex, "zz".repeat(32)).expect("write");
        assert!(matches!(
            SubjectKey::load(&not_hex),
            Err(AuditError::Key { .. })
        ));
    }
}
