//! The keyring of the reuse store: AES-256-GCM keys kept in a directory
//! outside the database, so that whoever holds only the database (a backup, a
//! replica, a stolen disk of the database server) reads no personal data.
//!
//! Each key is a file `<key-id>.key` holding 32 random bytes in base64, mode
//! 0600. Key ids sort by creation time (`k20261124T180000123Z-3fa91c`: UTC to
//! the millisecond, then a random suffix), and the newest key seals; older
//! keys only open what they sealed until a rotation re-seals it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};

use super::ReuseError;
use crate::admin::timestamps::format_rfc3339;
use crate::audit::{hex, warn_if_readable_by_others, write_key_file};

/// Bytes of key material (AES-256).
const KEY_LEN: usize = 32;
/// The file name ending of a key file.
const KEY_SUFFIX: &str = ".key";
/// Longest key id accepted from a file name or a row.
const MAX_KEY_ID_LEN: usize = 64;
/// How many times [`ReuseKeys::add_key`] tries for an id that sorts after
/// every existing one before giving up (each try waits a millisecond).
const ADD_KEY_TRIES: u32 = 1000;

/// One sealed value as stored: which key, the nonce and the ciphertext with
/// its authentication tag, both in base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The id of the key that sealed it.
    pub key_id: String,
    /// The 96-bit GCM nonce, base64.
    pub nonce_b64: String,
    /// Ciphertext followed by the 128-bit tag, base64.
    pub ciphertext_b64: String,
}

/// The reuse store's keyring, loaded from its directory; the newest key is active.
pub struct ReuseKeys {
    /// The directory the keys were loaded from, for reloading.
    dir: PathBuf,
    /// Every key by id; the last one (in id order) is active.
    keys: BTreeMap<String, LessSafeKey>,
    /// The id of the active key.
    active: String,
    /// Where nonces come from.
    random: SystemRandom,
}

impl fmt::Debug for ReuseKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ids only: key material must never reach a log line.
        f.debug_struct("ReuseKeys")
            .field("dir", &self.dir)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl ReuseKeys {
    /// Loads the keyring in `dir`, creating the directory and a first key when it holds none.
    pub fn load_or_create(dir: &Path) -> Result<ReuseKeys, ReuseError> {
        if list_key_files(dir)?.is_empty() {
            let key_id = ReuseKeys::add_key(dir)?;
            tracing::info!(event = "reuse_key_created", key_id = %key_id, dir = %dir.display());
        }
        ReuseKeys::load(dir)
    }

    /// Loads the keyring in `dir`; fails when it holds no key or a key file is malformed.
    pub fn load(dir: &Path) -> Result<ReuseKeys, ReuseError> {
        let files = list_key_files(dir)?;
        let mut keys = BTreeMap::new();
        for (key_id, path) in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|error| key_error(&path, format!("cannot read: {error}")))?;
            warn_if_readable_by_others(&path);
            let bytes = BASE64
                .decode(text.trim())
                .ok()
                .filter(|bytes| bytes.len() == KEY_LEN)
                .ok_or_else(|| key_error(&path, format!("expected {KEY_LEN} bytes in base64")))?;
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| key_error(&path, "not an AES-256 key".to_string()))?;
            keys.insert(key_id, LessSafeKey::new(key));
        }
        let Some(active) = keys.keys().next_back().cloned() else {
            return Err(key_error(
                dir,
                "holds no key file (<key-id>.key); create one with load_or_create or add_key"
                    .to_string(),
            ));
        };
        Ok(ReuseKeys {
            dir: dir.to_path_buf(),
            keys,
            active,
            random: SystemRandom::new(),
        })
    }

    /// Loads the keyring again from the directory it came from.
    pub fn reload(&self) -> Result<ReuseKeys, ReuseError> {
        ReuseKeys::load(&self.dir)
    }

    /// Creates a new key in `dir` that sorts after every existing one, so it
    /// becomes active at the next load (step 1 of a rotation); returns its id.
    pub fn add_key(dir: &Path) -> Result<String, ReuseError> {
        create_private_dir(dir)?;
        let newest = list_key_files(dir)?.keys().next_back().cloned();
        let random = SystemRandom::new();
        let mut key = [0u8; KEY_LEN];
        random
            .fill(&mut key)
            .map_err(|_| ReuseError::Crypto("the random source failed".to_string()))?;
        let mut contents = BASE64.encode(key);
        contents.push('\n');
        for _ in 0..ADD_KEY_TRIES {
            let key_id = new_key_id(&random)?;
            // Another key made this millisecond (or a clock set back) would
            // otherwise leave the newest key inactive.
            if newest.as_ref().is_some_and(|newest| *newest >= key_id) {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let path = dir.join(format!("{key_id}{KEY_SUFFIX}"));
            let created = write_key_file(&path, contents.as_bytes())
                .map_err(|error| key_error(&path, format!("cannot create: {error}")))?;
            if created {
                return Ok(key_id);
            }
        }
        Err(key_error(
            dir,
            "cannot make a key id newer than the existing keys; is the clock set back?".to_string(),
        ))
    }

    /// The directory the keyring was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id of the active key, the one [`ReuseKeys::seal`] uses.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// The ids of every loaded key, oldest first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Whether the keyring holds the key `key_id`.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// Seals `plaintext` under the active key with a fresh random nonce,
    /// binding it to `aad` (which is not stored in the result).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, ReuseError> {
        let key = self
            .keys
            .get(&self.active)
            .ok_or_else(|| ReuseError::UnknownKey(self.active.clone()))?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| ReuseError::Crypto("the random source failed".to_string()))?;
        let mut in_out = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut in_out,
        )
        .map_err(|_| ReuseError::Crypto("AES-256-GCM sealing failed".to_string()))?;
        Ok(Sealed {
            key_id: self.active.clone(),
            nonce_b64: BASE64.encode(nonce),
            ciphertext_b64: BASE64.encode(in_out),
        })
    }

    /// Opens a sealed value: [`ReuseError::UnknownKey`] when its key is not
    /// loaded, [`ReuseError::Decrypt`] when authentication fails (wrong key,
    /// tampered ciphertext or nonce, different `aad`). Never returns unverified bytes.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, ReuseError> {
        let key = self
            .keys
            .get(&sealed.key_id)
            .ok_or_else(|| ReuseError::UnknownKey(printable_key_id(&sealed.key_id)))?;
        let decrypt_error = || ReuseError::Decrypt {
            key_id: sealed.key_id.clone(),
        };
        let nonce: [u8; NONCE_LEN] = BASE64
            .decode(&sealed.nonce_b64)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(decrypt_error)?;
        let mut in_out = BASE64
            .decode(&sealed.ciphertext_b64)
            .map_err(|_| decrypt_error())?;
        let plaintext = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| decrypt_error())?;
        Ok(plaintext.to_vec())
    }
}

/// The key files in `dir` by key id. Files not ending in `.key` and hidden
/// files (a key being written) are skipped; a `.key` file whose name is not
/// a valid key id is an error, so a mistyped name is not silently ignored.
fn list_key_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>, ReuseError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BTreeMap::new());
        }
        Err(error) => return Err(key_error(dir, format!("cannot list: {error}"))),
    };
    let mut files = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|error| key_error(dir, format!("cannot list: {error}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Some(key_id) = name.strip_suffix(KEY_SUFFIX) else {
            continue;
        };
        let path = entry.path();
        if !is_valid_key_id(key_id) {
            return Err(key_error(
                &path,
                "the file name is not a key id (letters, digits, '-' and '_', at most 64)"
                    .to_string(),
            ));
        }
        files.insert(key_id.to_string(), path);
    }
    Ok(files)
}

/// Creates `dir` (and its parents) when missing; the directory itself only
/// its owner may list, so key ids and their count are not public either.
fn create_private_dir(dir: &Path) -> Result<(), ReuseError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|error| key_error(dir, format!("cannot create: {error}")))
}

/// Whether `key_id` can name a key file: ASCII letters, digits, `-`, `_`.
fn is_valid_key_id(key_id: &str) -> bool {
    !key_id.is_empty()
        && key_id.len() <= MAX_KEY_ID_LEN
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A key id from a row, safe to put in an error message.
fn printable_key_id(key_id: &str) -> String {
    if is_valid_key_id(key_id) {
        key_id.to_string()
    } else {
        format!("(invalid key id of {} bytes)", key_id.len())
    }
}

/// A new key id: `k` + UTC time to the millisecond + `Z-` + 6 random hex digits.
fn new_key_id(random: &SystemRandom) -> Result<String, ReuseError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        });
    // "2026-11-24T18:00:00.123Z" → "20261124T180000123".
    let stamp: String = format_rfc3339(now_ms, 0)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .filter(|c| *c != 'Z')
        .collect();
    let mut suffix = [0u8; 3];
    random
        .fill(&mut suffix)
        .map_err(|_| ReuseError::Crypto("the random source failed".to_string()))?;
    Ok(format!("k{stamp}Z-{}", hex(&suffix)))
}

/// A keyring error about `path`.
fn key_error(path: &Path, reason: String) -> ReuseError {
    ReuseError::Keys {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_key_is_created_once_with_owner_only_mode() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys_dir = dir.path().join("reuse-keys");
        let keys = ReuseKeys::load_or_create(&keys_dir).expect("create");
        assert_eq!(keys.key_ids().len(), 1);
        let id = keys.active_key_id().to_string();
        assert!(id.starts_with('k') && id.contains("Z-"), "{id}");
        assert!(is_valid_key_id(&id), "{id}");
        let path = keys_dir.join(format!("{id}.key"));
        let text = std::fs::read_to_string(&path).expect("key file");
        assert_eq!(BASE64.decode(text.trim()).expect("base64").len(), KEY_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(&keys_dir)
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        let again = ReuseKeys::load_or_create(&keys_dir).expect("reload");
        assert_eq!(again.key_ids(), vec![id]);
    }

    #[test]
    fn empty_or_malformed_keyrings_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = ReuseKeys::load(&dir.path().join("none"));
        assert!(
            matches!(missing, Err(ReuseError::Keys { .. })),
            "{missing:?}"
        );
        let empty = ReuseKeys::load(dir.path());
        let Err(ReuseError::Keys { path, reason }) = empty else {
            panic!("an empty directory must be refused: {empty:?}");
        };
        assert_eq!(path, dir.path());
        assert!(reason.contains("no key"), "{reason}");

        std::fs::write(dir.path().join("k1.key"), "not base64!\n").expect("write");
        let Err(ReuseError::Keys { path, .. }) = ReuseKeys::load(dir.path()) else {
            panic!("a malformed key must be refused");
        };
        assert!(path.ends_with("k1.key"), "{path:?}");

        std::fs::write(dir.path().join("k1.key"), BASE64.encode([7u8; 16])).expect("write");
        assert!(matches!(
            ReuseKeys::load(dir.path()),
            Err(ReuseError::Keys { .. })
        ));

        std::fs::write(dir.path().join("k1.key"), BASE64.encode([7u8; 32])).expect("write");
        std::fs::write(dir.path().join("bad id.key"), BASE64.encode([7u8; 32])).expect("write");
        assert!(matches!(
            ReuseKeys::load(dir.path()),
            Err(ReuseError::Keys { .. })
        ));
        std::fs::remove_file(dir.path().join("bad id.key")).expect("remove");
        std::fs::write(dir.path().join("README"), "not a key").expect("write");
        let keys = ReuseKeys::load(dir.path()).expect("other files are skipped");
        assert_eq!(keys.key_ids(), vec!["k1".to_string()]);
    }

    #[test]
    fn seal_and_open_round_trip_and_fail_loudly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = ReuseKeys::load_or_create(dir.path()).expect("keys");
        let plaintext = "Nguyễn Văn An".as_bytes();
        let sealed = keys.seal(plaintext, b"row-1").expect("seal");
        assert_eq!(sealed.key_id, keys.active_key_id());
        assert_eq!(keys.open(&sealed, b"row-1").expect("open"), plaintext);
        let again = keys.seal(plaintext, b"row-1").expect("seal");
        assert_ne!(sealed.nonce_b64, again.nonce_b64, "nonces are random");

        assert!(matches!(
            keys.open(&sealed, b"row-2"),
            Err(ReuseError::Decrypt { .. })
        ));
        let mut bytes = BASE64.decode(&sealed.ciphertext_b64).expect("b64");
        bytes[0] ^= 1;
        let tampered = Sealed {
            ciphertext_b64: BASE64.encode(&bytes),
            ..sealed.clone()
        };
        assert!(matches!(
            keys.open(&tampered, b"row-1"),
            Err(ReuseError::Decrypt { .. })
        ));
        let bad_nonce = Sealed {
            nonce_b64: "AAAA".to_string(),
            ..sealed.clone()
        };
        assert!(matches!(
            keys.open(&bad_nonce, b"row-1"),
            Err(ReuseError::Decrypt { .. })
        ));
        let unknown = Sealed {
            key_id: "k0".to_string(),
            ..sealed.clone()
        };
        assert!(matches!(
            keys.open(&unknown, b"row-1"),
            Err(ReuseError::UnknownKey(id)) if id == "k0"
        ));

        // The same key id in another directory holds another key.
        let other_dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            other_dir.path().join(format!("{}.key", sealed.key_id)),
            BASE64.encode([9u8; 32]),
        )
        .expect("write");
        let other = ReuseKeys::load(other_dir.path()).expect("other keys");
        assert!(matches!(
            other.open(&sealed, b"row-1"),
            Err(ReuseError::Decrypt { .. })
        ));
    }

    #[test]
    fn added_keys_become_active_and_old_ones_still_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = ReuseKeys::load_or_create(dir.path()).expect("keys");
        let sealed = first.seal(b"data", b"aad").expect("seal");
        let second_id = ReuseKeys::add_key(dir.path()).expect("add");
        let third_id = ReuseKeys::add_key(dir.path()).expect("add again");
        assert!(second_id.as_str() > first.active_key_id());
        assert!(third_id > second_id);
        let reloaded = first.reload().expect("reload");
        assert_eq!(reloaded.active_key_id(), third_id);
        assert_eq!(reloaded.key_ids().len(), 3);
        assert_eq!(reloaded.open(&sealed, b"aad").expect("open"), b"data");
        assert_eq!(reloaded.seal(b"x", b"aad").expect("seal").key_id, third_id);
        let debug = format!("{reloaded:?}");
        assert!(debug.contains(&third_id), "{debug}");
    }
}
