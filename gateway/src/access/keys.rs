//! The gateway's Ed25519 token-signing keys: one PKCS#8 PEM file per key id
//! in a key directory, the newest signing, all of them verifying.

use crate::access::AccessError;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::TryRngCore as _;
use rustls::pki_types::PrivatePkcs8KeyDer;
use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// DER prefix of a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (RFC 8410), followed
/// by the 32-byte seed. Fixed, so no ASN.1 encoder is needed to write keys.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// DER prefix of an Ed25519 `SubjectPublicKeyInfo`, followed by the 32-byte key.
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Longest key id accepted from a file name; ours are 24 characters.
const MAX_KID_LEN: usize = 64;

/// One signing key, ready to sign and to verify.
pub(crate) struct SigningKey {
    /// The key id carried in token headers and the JWKS.
    pub(crate) kid: String,
    /// Signs tokens (private).
    pub(crate) encoding: EncodingKey,
    /// Verifies tokens (public).
    pub(crate) decoding: DecodingKey,
    /// The raw public key, base64url without padding (the JWK `x`).
    public_x: String,
}

/// The gateway's Ed25519 token-signing keys, kept as PKCS#8 PEM files `<dir>/<kid>.pem` (0600), newest = active; older ones stay valid for verification until their files are removed (rotation with `kid`).
pub struct SigningKeys {
    /// Sorted by kid, ascending; kids are time-ordered so the last is newest.
    keys: Vec<SigningKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the key ids: the private keys must never reach a log line.
        f.debug_struct("SigningKeys")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SigningKeys {
    /// Loads every `<kid>.pem` in `dir`, creating the directory and a first key when there is none.
    pub fn load_or_create(dir: &Path) -> Result<SigningKeys, AccessError> {
        ensure_dir(dir)?;
        let mut keys = load_dir(dir)?;
        if keys.is_empty() {
            let kid = new_kid(None).ok_or_else(|| AccessError::Rotation {
                dir: dir.to_path_buf(),
                reason: "system clock is out of range".into(),
            })?;
            let path = write_new_key(dir, &kid)?;
            keys.push(load_key(&path, kid)?);
        }
        Ok(SigningKeys { keys })
    }

    /// Adds a new key file to `dir` and returns its kid; it becomes active when the keys are next loaded.
    pub fn rotate(dir: &Path) -> Result<String, AccessError> {
        ensure_dir(dir)?;
        let existing = load_dir(dir)?;
        let newest = existing.last().map(|k| k.kid.as_str());
        let kid = new_kid(newest).ok_or_else(|| AccessError::Rotation {
            dir: dir.to_path_buf(),
            reason: format!(
                "no time-ordered key id sorts after the existing {}",
                newest.unwrap_or("key")
            ),
        })?;
        let path = write_new_key(dir, &kid)?;
        // Prove the file we just wrote loads, so a broken key is caught now
        // rather than at the next start.
        load_key(&path, kid.clone())?;
        tracing::info!(event = "signing_key_rotated", kid = %kid, dir = %dir.display());
        Ok(kid)
    }

    /// The kid of the key that signs new tokens.
    pub fn active_kid(&self) -> &str {
        self.active().map(|k| k.kid.as_str()).unwrap_or_default()
    }

    /// The kids of all keys, oldest first.
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The public keys as a JSON Web Key Set, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .rev()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": k.public_x,
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The key that signs new tokens; `None` only for an empty set, which
    /// `load_or_create` never returns.
    pub(crate) fn active(&self) -> Option<&SigningKey> {
        self.keys.last()
    }

    /// The verification key for a kid, if it is one of ours.
    pub(crate) fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.iter().find(|k| k.kid == kid).map(|k| &k.decoding)
    }
}

/// Creates the key directory (owner-only on Unix) when it does not exist.
fn ensure_dir(dir: &Path) -> Result<(), AccessError> {
    if dir.is_dir() {
        return Ok(());
    }
    let io = |source| AccessError::File {
        action: "creating key directory",
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Loads every `<kid>.pem` file of `dir`, sorted by kid.
fn load_dir(dir: &Path) -> Result<Vec<SigningKey>, AccessError> {
    let io = |source| AccessError::File {
        action: "listing key directory",
        path: dir.to_path_buf(),
        source,
    };
    let mut keys = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(kid) = kid_of(&path) else {
            continue;
        };
        keys.push(load_key(&path, kid)?);
    }
    keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    Ok(keys)
}

/// The kid named by a key file path, if the file is a key file at all
/// (temporary and foreign files are skipped).
fn kid_of(path: &Path) -> Option<String> {
    if path.extension().and_then(|e| e.to_str()) != Some("pem") {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    valid_kid(stem).then(|| stem.to_string())
}

/// Kids travel in JWT headers and file names, so they are kept to a safe alphabet.
fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads and checks one key file.
fn load_key(path: &Path, kid: String) -> Result<SigningKey, AccessError> {
    let invalid = |reason: &str| AccessError::InvalidKey {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let pem = fs::read(path).map_err(|source| AccessError::File {
        action: "reading signing key",
        path: path.to_path_buf(),
        source,
    })?;
    warn_if_readable_by_others(path);
    let pkcs8 = {
        use rustls::pki_types::pem::PemObject as _;
        PrivatePkcs8KeyDer::from_pem_slice(&pem)
            .map_err(|_| invalid("not a PKCS#8 PEM private key"))?
    };
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&pkcs8)
        .map_err(|_| invalid("not an Ed25519 private key"))?;
    let spki = signer
        .public_key()
        .ok_or_else(|| invalid("public key not derivable"))?;
    let public = spki
        .as_ref()
        .strip_prefix(&SPKI_ED25519_PREFIX[..])
        .filter(|raw| raw.len() == 32)
        .ok_or_else(|| invalid("unexpected Ed25519 public key encoding"))?;
    let encoding = EncodingKey::from_ed_der(pkcs8.secret_pkcs8_der());
    let decoding = DecodingKey::from_ed_der(public);
    // Sign and verify once, so a key that one crypto library accepts and the
    // other does not is refused at load rather than on the first token.
    let probe = b"lgsp signing key probe";
    let signature = jsonwebtoken::crypto::sign(probe, &encoding, Algorithm::EdDSA)
        .map_err(|_| invalid("key does not sign"))?;
    let verified = jsonwebtoken::crypto::verify(&signature, probe, &decoding, Algorithm::EdDSA)
        .map_err(|_| invalid("key does not verify its own signature"))?;
    if !verified {
        return Err(invalid("key does not verify its own signature"));
    }
    Ok(SigningKey {
        kid,
        encoding,
        decoding,
        public_x: URL_SAFE_NO_PAD.encode(public),
    })
}

/// A key file others can read is a leaked key in waiting; say so once at load.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                event = "signing_key_permissions",
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "signing key file is accessible to group or others; expected 0600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Generates a fresh Ed25519 key and writes it as `<dir>/<kid>.pem`, mode 0600,
/// via a temporary file and a rename so a crash never leaves a half key behind.
fn write_new_key(dir: &Path, kid: &str) -> Result<PathBuf, AccessError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| AccessError::Random(e.to_string()))?;
    let mut der = Vec::with_capacity(PKCS8_ED25519_PREFIX.len() + seed.len());
    der.extend_from_slice(&PKCS8_ED25519_PREFIX);
    der.extend_from_slice(&seed);
    let pem = pem_encode("PRIVATE KEY", &der);

    let path = dir.join(format!("{kid}.pem"));
    let tmp = dir.join(format!(".{kid}.pem.tmp"));
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| AccessError::File {
            action,
            path,
            source,
        }
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(io("creating signing key", &tmp))?;
    let written = file
        .write_all(pem.as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(source) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io("writing signing key", &tmp)(source));
    }
    if path.exists() {
        let _ = fs::remove_file(&tmp);
        return Err(AccessError::Rotation {
            dir: dir.to_path_buf(),
            reason: format!("key {kid} already exists"),
        });
    }
    fs::rename(&tmp, &path).map_err(io("installing signing key", &path))?;
    Ok(path)
}

/// PEM armour with 64-column lines (RFC 7468).
fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A new time-ordered kid, `k<yyyymmddHHMMSS>-<8 hex>`, that sorts after
/// `newest`. When the clock has not moved past the newest key (same second, or
/// a clock stepped back), the timestamp is taken one second after the newest
/// key's so the new key still becomes the active one.
fn new_kid(newest: Option<&str>) -> Option<String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut secs = now;
    if let Some(newest_secs) = newest.and_then(kid_timestamp) {
        secs = secs.max(newest_secs.checked_add(1)?);
    }
    let mut suffix = [0u8; 4];
    rand::rngs::OsRng.try_fill_bytes(&mut suffix).ok()?;
    let kid = format!("k{}-{:08x}", format_utc(secs)?, u32::from_be_bytes(suffix));
    match newest {
        Some(newest) if kid.as_str() <= newest => None,
        _ => Some(kid),
    }
}

/// The UTC second encoded in one of our kids, if it is one.
fn kid_timestamp(kid: &str) -> Option<u64> {
    let digits = kid.strip_prefix('k')?.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| digits.get(range)?.parse::<u64>().ok();
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(8..10)?, num(10..12)?, num(12..14)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second.min(60))
}

/// `yyyymmddHHMMSS` of a Unix time, UTC; `None` past year 9999.
fn format_utc(secs: u64) -> Option<String> {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    Some(format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    ))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm,
/// restricted to dates from 1970 on, which is all a Unix `u64` can hold).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The inverse of [`civil_from_days`]; `None` before 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = year / 400;
    let yoe = year % 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_key_with_owner_only_mode_and_reloads_same_kid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys_dir = dir.path().join("keys");
        let first = SigningKeys::load_or_create(&keys_dir).expect("create");
        let kid = first.active_kid().to_string();
        assert!(kid.starts_with('k') && kid.len() == 24, "kid {kid}");
        let file = keys_dir.join(format!("{kid}.pem"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = SigningKeys::load_or_create(&keys_dir).expect("reload");
        assert_eq!(again.active_kid(), kid);
        assert_eq!(again.kids(), vec![kid.as_str()]);
        assert_eq!(first.jwks(), again.jwks());
    }

    #[test]
    fn rotation_orders_kids_even_within_one_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = SigningKeys::load_or_create(dir.path()).expect("create");
        let first = keys.active_kid().to_string();
        let second = SigningKeys::rotate(dir.path()).expect("rotate");
        let third = SigningKeys::rotate(dir.path()).expect("rotate");
        assert!(first < second && second < third);
        let reloaded = SigningKeys::load_or_create(dir.path()).expect("reload");
        assert_eq!(reloaded.active_kid(), third);
        assert_eq!(reloaded.kids(), vec![&first, &second, &third]);
    }

    #[test]
    fn jwks_has_okp_ed25519_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let keys = SigningKeys::load_or_create(dir.path()).expect("create");
        let jwks = keys.jwks();
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], keys.active_kid());
        let x = URL_SAFE_NO_PAD
            .decode(key["x"].as_str().expect("x"))
            .expect("b64");
        assert_eq!(x.len(), 32);
        assert!(jwks.to_string().find("\"d\"").is_none(), "no private part");
    }

    #[test]
    fn refuses_a_corrupt_key_file_and_skips_foreign_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("README.txt"), "not a key").expect("write");
        fs::write(dir.path().join(".kx.pem.tmp"), "half").expect("write");
        let keys = SigningKeys::load_or_create(dir.path()).expect("create");
        assert_eq!(keys.kids().len(), 1);
        fs::write(dir.path().join("kbroken.pem"), "garbage").expect("write");
        assert!(matches!(
            SigningKeys::load_or_create(dir.path()),
            Err(AccessError::InvalidKey { .. })
        ));
    }

    #[test]
    fn utc_formatting_round_trips() {
        for secs in [0u64, 951_782_400, 1_700_000_000, 4_102_444_799] {
            let text = format_utc(secs).expect("format");
            let kid = format!("k{text}-00000000");
            assert_eq!(kid_timestamp(&kid), Some(secs), "{text}");
        }
        assert_eq!(format_utc(1_700_000_000).as_deref(), Some("20231114221320"));
        assert_eq!(kid_timestamp("k2023"), None);
        assert_eq!(kid_timestamp("kabcdefghijklmn"), None);
        assert_eq!(kid_timestamp("k19690101000000-x"), None);
        assert!(new_kid(Some("zzz")).is_none());
        assert!(!valid_kid("../etc") && !valid_kid("") && valid_kid("k1-a_b"));
    }
}
