//! Checkpoints: the gateway's Ed25519 audit key signs the head of a chain,
//! `lgsp-audit-checkpoint:v1:{chain}:{seq}:{hash}:{signed_at}`, so that
//! rewriting the chain (recomputing every hash after an edit) or cutting its
//! tail is caught by anyone holding the public key.
//!
//! The key is one PKCS#8 PEM file, `<dir>/audit-ed25519.pem` (0600), used
//! through *ring* as rustls exposes it: `any_eddsa_type` to sign and the
//! webpki Ed25519 verification algorithm to verify. The key id is derived
//! from the public key, so a row cannot pair one key's id with another key.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::TryRngCore as _;
use rustls::SignatureScheme;
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::sign::Signer;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AuditError, hex, warn_if_readable_by_others, write_key_file};

/// The key file's name inside the key directory.
pub const KEY_FILE: &str = "audit-ed25519.pem";

/// DER prefix of a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (RFC 8410), followed
/// by the 32-byte seed. Fixed, so no ASN.1 encoder is needed to write keys.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// DER prefix of an Ed25519 `SubjectPublicKeyInfo`, followed by the 32-byte key.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A signed chain head, as stored in `audit_checkpoints` and exported.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain signed.
    pub chain: String,
    /// The chain head's seq.
    pub seq: i64,
    /// That record's hash.
    pub hash: String,
    /// Unix milliseconds.
    pub signed_at: i64,
    /// First 16 hex digits of SHA-256 of the raw public key.
    pub key_id: String,
    /// base64url raw Ed25519 public key.
    pub public_key: String,
    /// base64url Ed25519 signature over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The bytes the signature covers.
    pub fn message(&self) -> Vec<u8> {
        message(&self.chain, self.seq, &self.hash, self.signed_at)
    }
}

/// `lgsp-audit-checkpoint:v1:{chain}:{seq}:{hash}:{signed_at}`. Chain ids are
/// restricted to a colon-free alphabet by the writer, so the fields cannot
/// run into each other.
fn message(chain: &str, seq: i64, hash: &str, signed_at: i64) -> Vec<u8> {
    format!("lgsp-audit-checkpoint:v1:{chain}:{seq}:{hash}:{signed_at}").into_bytes()
}

/// Why a checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Signed by a key other than the one the verifier trusts.
    #[error("signed by key {found}, not the trusted key {expected}")]
    UnexpectedKey {
        /// The checkpoint's public key.
        found: String,
        /// The key the verifier trusts.
        expected: String,
    },
    /// The public key is not 32 bytes of base64url.
    #[error("the public key is not a base64url Ed25519 key")]
    MalformedKey,
    /// The key id is not the one derived from the public key.
    #[error("key id {found} does not belong to the public key (expected {expected})")]
    KeyIdMismatch {
        /// The checkpoint's key id.
        found: String,
        /// The id derived from its public key.
        expected: String,
    },
    /// The signature is not base64url.
    #[error("the signature is not base64url")]
    MalformedSignature,
    /// The signature does not verify under the public key.
    #[error("the signature does not verify")]
    BadSignature,
}

/// Checks a checkpoint's signature, against `expected_public_key` (base64url) when given, else the key in the checkpoint.
pub fn verify_checkpoint(
    cp: &Checkpoint,
    expected_public_key: Option<&str>,
) -> Result<(), VerifyError> {
    if let Some(expected) = expected_public_key
        && expected != cp.public_key
    {
        return Err(VerifyError::UnexpectedKey {
            found: cp.public_key.clone(),
            expected: expected.to_string(),
        });
    }
    let public = URL_SAFE_NO_PAD
        .decode(&cp.public_key)
        .ok()
        .filter(|raw| raw.len() == 32)
        .ok_or(VerifyError::MalformedKey)?;
    let expected_id = key_id_of(&public);
    if cp.key_id != expected_id {
        return Err(VerifyError::KeyIdMismatch {
            found: cp.key_id.clone(),
            expected: expected_id,
        });
    }
    let signature = URL_SAFE_NO_PAD
        .decode(&cp.signature)
        .map_err(|_| VerifyError::MalformedSignature)?;
    // The provider's list is static data; it holds Ed25519 under any build of rustls with ring.
    let provider = rustls::crypto::ring::default_provider();
    let algorithm = provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == SignatureScheme::ED25519)
        .and_then(|(_, algorithms)| algorithms.first())
        .ok_or(VerifyError::BadSignature)?;
    algorithm
        .verify_signature(&public, &cp.message(), &signature)
        .map_err(|_| VerifyError::BadSignature)
}

/// The gateway's Ed25519 audit key, signing checkpoints.
pub struct AuditSigner {
    /// Signs with the private key.
    signer: Box<dyn Signer>,
    /// The derived key id.
    key_id: String,
    /// base64url raw public key.
    public_key: String,
    /// Where the key was loaded from.
    path: PathBuf,
}

impl fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only public facts: the private key must never reach a log line.
        f.debug_struct("AuditSigner")
            .field("key_id", &self.key_id)
            .field("public_key", &self.public_key)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl AuditSigner {
    /// Loads `<dir>/audit-ed25519.pem`, creating the directory and a new key (0600) when missing.
    pub fn load_or_create(dir: &Path) -> Result<AuditSigner, AuditError> {
        let path = dir.join(KEY_FILE);
        if !path.exists() {
            let pem = new_key_pem().map_err(|reason| key_error(&path, reason))?;
            let created = write_key_file(&path, pem.as_bytes())
                .map_err(|error| key_error(&path, format!("cannot create: {error}")))?;
            if created {
                tracing::info!(event = "audit_key_created", path = %path.display());
            }
        }
        AuditSigner::load(dir)
    }

    /// Loads `<dir>/audit-ed25519.pem`; never creates one (for offline tools pinning the key).
    pub fn load(dir: &Path) -> Result<AuditSigner, AuditError> {
        let path = dir.join(KEY_FILE);
        let invalid = |reason: &str| key_error(&path, reason.to_string());
        let pem = std::fs::read(&path)
            .map_err(|error| key_error(&path, format!("cannot read: {error}")))?;
        warn_if_readable_by_others(&path);
        let pkcs8 = {
            use rustls::pki_types::pem::PemObject as _;
            PrivatePkcs8KeyDer::from_pem_slice(&pem)
                .map_err(|_| invalid("not a PKCS#8 PEM private key"))?
        };
        let key = rustls::crypto::ring::sign::any_eddsa_type(&pkcs8)
            .map_err(|_| invalid("not an Ed25519 private key"))?;
        let spki = key
            .public_key()
            .ok_or_else(|| invalid("public key not derivable"))?;
        let public = spki
            .as_ref()
            .strip_prefix(&SPKI_ED25519_PREFIX[..])
            .filter(|raw| raw.len() == 32)
            .ok_or_else(|| invalid("unexpected Ed25519 public key encoding"))?;
        let signer = key
            .choose_scheme(&[SignatureScheme::ED25519])
            .ok_or_else(|| invalid("key does not sign Ed25519"))?;
        let loaded = AuditSigner {
            signer,
            key_id: key_id_of(public),
            public_key: URL_SAFE_NO_PAD.encode(public),
            path: path.clone(),
        };
        // Sign and verify once, so a key that cannot produce valid
        // checkpoints is refused at start rather than at the first checkpoint.
        let probe = loaded.sign("probe", 1, super::GENESIS_HASH, 0)?;
        verify_checkpoint(&probe, Some(&loaded.public_key))
            .map_err(|error| key_error(&path, format!("key fails its own probe: {error}")))?;
        Ok(loaded)
    }

    /// First 16 hex digits of SHA-256 of the raw public key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The raw public key, base64url without padding: what `lgsp audit verify` pins.
    pub fn public_key_b64(&self) -> &str {
        &self.public_key
    }

    /// Signs the receipt of a procedure result written back to the reuse
    /// store: its id, the SHA-256 of its content and when it was received.
    /// The message starts with its own tag, so a receipt can never be taken
    /// for a checkpoint. Returns the base64url signature.
    pub fn sign_receipt(
        &self,
        id: &str,
        content_sha256: &str,
        received_at_ms: i64,
    ) -> Result<String, AuditError> {
        let message = receipt_message(id, content_sha256, received_at_ms);
        let signature = self
            .signer
            .sign(&message)
            .map_err(|error| AuditError::Crypto(format!("signing a receipt: {error}")))?;
        Ok(URL_SAFE_NO_PAD.encode(signature))
    }

    /// Signs the head of `chain` at `seq` with its record `hash`.
    pub fn sign(
        &self,
        chain: &str,
        seq: i64,
        hash: &str,
        signed_at: i64,
    ) -> Result<Checkpoint, AuditError> {
        let signature = self
            .signer
            .sign(&message(chain, seq, hash, signed_at))
            .map_err(|error| AuditError::Crypto(format!("signing a checkpoint: {error}")))?;
        Ok(Checkpoint {
            chain: chain.to_string(),
            seq,
            hash: hash.to_string(),
            signed_at,
            key_id: self.key_id.clone(),
            public_key: self.public_key.clone(),
            signature: URL_SAFE_NO_PAD.encode(signature),
        })
    }
}

/// What a write-back receipt signs: `lgsp-receipt-1`, the item id, the
/// content's SHA-256 and the receipt time (unix ms), one per line.
pub fn receipt_message(id: &str, content_sha256: &str, received_at_ms: i64) -> Vec<u8> {
    format!("lgsp-receipt-1\n{id}\n{content_sha256}\n{received_at_ms}").into_bytes()
}

/// The key id of a raw public key.
fn key_id_of(public: &[u8]) -> String {
    let mut id = hex(&Sha256::digest(public));
    id.truncate(16);
    id
}

/// A fresh Ed25519 key as PKCS#8 PEM.
fn new_key_pem() -> Result<String, String> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|error| format!("random source failed: {error}"))?;
    let mut der = Vec::with_capacity(PKCS8_ED25519_PREFIX.len() + seed.len());
    der.extend_from_slice(&PKCS8_ED25519_PREFIX);
    der.extend_from_slice(&seed);
    let body = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem)
}

/// A key error about `path`.
fn key_error(path: &Path, reason: String) -> AuditError {
    AuditError::Key {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> (tempfile::TempDir, AuditSigner) {
        let dir = tempfile::tempdir().expect("temp dir");
        let signer = AuditSigner::load_or_create(&dir.path().join("keys")).expect("signer");
        (dir, signer)
    }

    #[test]
    fn key_is_created_owner_only_and_reloaded() {
        let (dir, first) = signer();
        let path = dir.path().join("keys").join(KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = AuditSigner::load(&dir.path().join("keys")).expect("reload");
        assert_eq!(first.key_id(), again.key_id());
        assert_eq!(first.public_key_b64(), again.public_key_b64());
        assert_eq!(first.key_id().len(), 16);
        let pem = std::fs::read_to_string(&path).expect("pem");
        let debug = format!("{first:?}");
        assert!(
            !debug.contains(pem.lines().nth(1).unwrap_or("-")),
            "{debug}"
        );
    }

    #[test]
    fn checkpoints_verify_and_tampering_is_refused() {
        let (_dir, signer) = signer();
        let hash = "ab".repeat(32);
        let cp = signer
            .sign("node-a", 1000, &hash, 1_720_000_000_000)
            .expect("sign");
        assert_eq!(verify_checkpoint(&cp, None), Ok(()));
        assert_eq!(
            verify_checkpoint(&cp, Some(signer.public_key_b64())),
            Ok(())
        );
        assert_eq!(
            cp.message(),
            format!("lgsp-audit-checkpoint:v1:node-a:1000:{hash}:1720000000000").into_bytes()
        );

        type Edit = fn(&mut Checkpoint);
        let edits: [(&str, Edit); 4] = [
            ("chain", |cp| cp.chain = "node-b".into()),
            ("seq", |cp| cp.seq += 1),
            ("hash", |cp| cp.hash = "cd".repeat(32)),
            ("signed_at", |cp| cp.signed_at += 1),
        ];
        for (field, edit) in edits {
            let mut tampered = cp.clone();
            edit(&mut tampered);
            assert_eq!(
                verify_checkpoint(&tampered, None),
                Err(VerifyError::BadSignature),
                "{field}"
            );
        }
        let mut garbled = cp.clone();
        garbled.signature = "!!".into();
        assert_eq!(
            verify_checkpoint(&garbled, None),
            Err(VerifyError::MalformedSignature)
        );
        let mut bad_key = cp.clone();
        bad_key.public_key = "AAAA".into();
        assert_eq!(
            verify_checkpoint(&bad_key, None),
            Err(VerifyError::MalformedKey)
        );
        let mut wrong_id = cp.clone();
        wrong_id.key_id = "0123456789abcdef".into();
        assert!(matches!(
            verify_checkpoint(&wrong_id, None),
            Err(VerifyError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn another_key_is_refused_when_a_key_is_pinned() {
        let (_a, ours) = signer();
        let (_b, theirs) = signer();
        assert_ne!(ours.public_key_b64(), theirs.public_key_b64());
        let forged = theirs.sign("node-a", 1, &"ab".repeat(32), 1).expect("sign");
        assert_eq!(
            verify_checkpoint(&forged, None),
            Ok(()),
            "valid on its own key"
        );
        assert!(matches!(
            verify_checkpoint(&forged, Some(ours.public_key_b64())),
            Err(VerifyError::UnexpectedKey { .. })
        ));
        // Their signature under our key and id: the signature check itself fails.
        let mut spliced = forged.clone();
        spliced.public_key = ours.public_key_b64().to_string();
        spliced.key_id = ours.key_id().to_string();
        assert_eq!(
            verify_checkpoint(&spliced, Some(ours.public_key_b64())),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn a_broken_key_file_is_refused_and_load_never_creates() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(matches!(
            AuditSigner::load(dir.path()),
            Err(AuditError::Key { .. })
        ));
        assert!(!dir.path().join(KEY_FILE).exists());
        std::fs::write(dir.path().join(KEY_FILE), "garbage").expect("write");
        assert!(matches!(
            AuditSigner::load_or_create(dir.path()),
            Err(AuditError::Key { .. })
        ));
    }
}
