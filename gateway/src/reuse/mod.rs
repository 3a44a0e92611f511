//! The reuse store (once-only): verified data items about a data subject,
//! kept so that a citizen is not asked again for data the state already holds.
//!
//! Items are national lookups and procedure results written back by communes.
//! Each carries its provenance (source, issuing agency, fetch time, validity,
//! content hash, dossier and procedure). The subject is indexed only by its
//! keyed hash, and the content is sealed with AES-256-GCM under a keyring kept
//! outside the database ([`ReuseKeys`]). The associated data binds the seal to
//! the row's id, subject and provenance, so a sealed value copied to another
//! row or subject, or a row whose provenance was edited, fails to open: a loud
//! error, never another person's data.

mod items;
mod keys;
pub mod service;

pub use items::{AskedItems, Item, ItemMeta, NewItem, RotationReport};
pub use keys::{ReuseKeys, Sealed};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::hex;
use crate::audit::record::{Subject, SubjectKind};
use crate::store::reuse::{AskedRow, ReuseRow};
use crate::store::{Store, StoreError};
use items::duration_ms;
pub(crate) use items::{from_unix_ms, unix_ms};

/// Rows re-sealed per page during a key rotation.
const ROTATION_BATCH: i64 = 200;
/// The version tag at the start of every item's associated data.
const AAD_VERSION: &str = "lgsp-reuse-item-v1";

/// Errors of the reuse store.
#[derive(Debug, thiserror::Error)]
pub enum ReuseError {
    /// The database failed.
    #[error("reuse store: {0}")]
    Store(#[from] StoreError),
    /// An item is sealed under a key the keyring does not hold.
    #[error(
        "a reuse item is sealed under key {0:?}, which is not in the reuse keyring: \
         restore that key file, or the item cannot be read"
    )]
    UnknownKey(String),
    /// Authentication failed: wrong key, tampered data, or a seal moved to another row.
    #[error(
        "cannot decrypt a reuse item sealed under key {key_id:?}: authentication failed \
         (wrong key, tampered data, or an item moved to another row or subject)"
    )]
    Decrypt {
        /// The key id the item names.
        key_id: String,
    },
    /// The keyring directory or a key file is missing or malformed.
    #[error("reuse keyring {path:?}: {reason}")]
    Keys {
        /// The directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An item's content could not be serialized.
    #[error("cannot serialize a reuse item: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A stored row is inconsistent after opening (never holds content).
    #[error("reuse item {id} is corrupt: {detail}")]
    Corrupt {
        /// The item's id.
        id: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The random source or the cipher failed.
    #[error("reuse store cryptography failed: {0}")]
    Crypto(String),
}

/// The reuse store's API: items sealed at rest, opened on the way out. Clones
/// share the database pool and the keyring.
#[derive(Debug, Clone)]
pub struct ReuseStore {
    /// The database.
    store: Store,
    /// The keyring; swapped whole when key files are added (see [`ReuseStore::reload_keys`]).
    keys: Arc<ArcSwap<ReuseKeys>>,
}

impl ReuseStore {
    /// The database underneath, for the records kept beside the items (KPIs).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A reuse store over `store`, sealing with `keys`.
    pub fn new(store: Store, keys: Arc<ReuseKeys>) -> ReuseStore {
        ReuseStore {
            store,
            keys: Arc::new(ArcSwap::new(keys)),
        }
    }

    /// The keyring in use.
    pub fn keys(&self) -> Arc<ReuseKeys> {
        self.keys.load_full()
    }

    /// Loads the keyring again from its directory, so keys added since (a
    /// rotation's new key) are used; on failure the current keyring stays.
    pub async fn reload_keys(&self) -> Result<(), ReuseError> {
        let current = self.keys.load_full();
        let reloaded = tokio::task::spawn_blocking(move || current.reload())
            .await
            .map_err(|error| {
                ReuseError::Crypto(format!("keyring reload task failed: {error}"))
            })??;
        let previous = self.keys.swap(Arc::new(reloaded));
        let active = self.keys.load().active_key_id().to_string();
        if previous.active_key_id() != active {
            tracing::info!(event = "reuse_key_activated", key_id = %active);
        }
        Ok(())
    }

    /// Keeps a verified item: serializes and hashes its content, seals it
    /// under the active key and inserts it. Older items of the same type stay
    /// (the newest wins) until superseded or purged.
    pub async fn remember(&self, item: &NewItem) -> Result<ItemMeta, ReuseError> {
        let plaintext = serde_json::to_vec(&item.content)?;
        let fetched_at = unix_ms(item.fetched_at);
        let valid_for = duration_ms(item.valid_for);
        let keep_for = valid_for.max(duration_ms(item.retain_for));
        let allowed_purposes = item
            .allowed_purposes
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let mut row = ReuseRow {
            id: uuid::Uuid::now_v7().to_string(),
            subject_kind: item.subject.kind.as_str().to_string(),
            subject_hash: item.subject.hash.clone(),
            data_type: item.data_type.clone(),
            source: item.source.clone(),
            source_agency: item.source_agency.clone(),
            fetched_at,
            valid_until: fetched_at.saturating_add(valid_for),
            content_sha256: hex(&Sha256::digest(&plaintext)),
            dossier: item.dossier.clone(),
            procedure_code: item.procedure_code.clone(),
            allowed_purposes,
            key_id: String::new(),
            nonce: String::new(),
            ciphertext: String::new(),
            receipt_signature: item.receipt_signature.clone(),
            superseded_at: None,
            purge_after: fetched_at.saturating_add(keep_for),
        };
        let sealed = self.keys.load().seal(&plaintext, &item_aad(&row))?;
        row.key_id = sealed.key_id;
        row.nonce = sealed.nonce_b64;
        row.ciphertext = sealed.ciphertext_b64;
        self.store.reuse_insert(&row).await?;
        meta_from_row(&row)
    }

    /// The newest current item of `data_type` about `subject`, decrypted, if
    /// it is still fresh at `now`; `None` when there is none or it expired.
    pub async fn fresh(
        &self,
        subject: &Subject,
        data_type: &str,
        now: SystemTime,
    ) -> Result<Option<Item>, ReuseError> {
        let now_ms = unix_ms(now);
        match self
            .store
            .reuse_latest(&subject.hash, data_type, now_ms)
            .await?
        {
            Some(row) if now_ms < row.valid_until => self.open_row(&row).await.map(Some),
            _ => Ok(None),
        }
    }

    /// The newest current item of `data_type` about `subject`, decrypted,
    /// fresh or not (the caller judges freshness with [`ItemMeta::is_fresh`]).
    pub async fn get(
        &self,
        subject: &Subject,
        data_type: &str,
        now: SystemTime,
    ) -> Result<Option<Item>, ReuseError> {
        match self
            .store
            .reuse_latest(&subject.hash, data_type, unix_ms(now))
            .await?
        {
            Some(row) => self.open_row(&row).await.map(Some),
            None => Ok(None),
        }
    }

    /// What the store holds about `subject`: the newest current item of each
    /// data type, without content, by data type.
    pub async fn list(
        &self,
        subject: &Subject,
        now: SystemTime,
    ) -> Result<Vec<ItemMeta>, ReuseError> {
        self.store
            .reuse_list(&subject.hash, unix_ms(now))
            .await?
            .iter()
            .map(meta_from_row)
            .collect()
    }

    /// Marks every current item of `data_type` about `subject` superseded (the
    /// source's owner says it no longer holds); returns how many were.
    pub async fn supersede(&self, subject: &Subject, data_type: &str) -> Result<u64, ReuseError> {
        let now_ms = unix_ms(SystemTime::now());
        Ok(self
            .store
            .reuse_supersede(&subject.hash, data_type, now_ms)
            .await?)
    }

    /// Records items a one-stop desk had to ask a citizen for; returns the record's id.
    pub async fn record_asked(&self, asked: &AskedItems) -> Result<String, ReuseError> {
        let data_types = if asked.data_types.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&asked.data_types)?)
        };
        let row = AskedRow {
            id: uuid::Uuid::now_v7().to_string(),
            recorded_at: unix_ms(asked.recorded_at),
            agency: asked.agency.clone(),
            system: asked.system.clone(),
            dossier: asked.dossier.clone(),
            service: asked.service.clone(),
            items: i64::from(asked.items),
            data_types,
        };
        self.store.reuse_record_asked(&row).await?;
        Ok(row.id)
    }

    /// Deletes the items whose retention ended at or before `now`; returns how many.
    pub async fn purge_expired(&self, now: SystemTime) -> Result<u64, ReuseError> {
        Ok(self.store.reuse_purge(unix_ms(now)).await?)
    }

    /// Purges expired items every `interval` until `stop` turns true, logging
    /// counts only. Each round also reloads the keyring, so a key added for a
    /// rotation is picked up by every node without a restart.
    pub fn spawn_purger(
        self,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(10)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    () = stop_asked(&mut stop) => break,
                    _ = ticks.tick() => {}
                }
                if let Err(error) = self.reload_keys().await {
                    tracing::warn!(event = "reuse_keys_reload_failed", error = %error);
                }
                match self.purge_expired(SystemTime::now()).await {
                    Ok(0) => tracing::debug!(event = "reuse_purged", items = 0u64),
                    Ok(items) => tracing::info!(event = "reuse_purged", items),
                    Err(error) => tracing::warn!(event = "reuse_purge_failed", error = %error),
                }
            }
        })
    }

    /// Re-seals every item not under the active key, page by page (call after
    /// [`ReuseKeys::add_key`] and [`ReuseStore::reload_keys`]). Items that
    /// cannot be opened are listed in the report and left as they are; old key
    /// files must stay until a rotation reports none.
    pub async fn rotate(&self) -> Result<RotationReport, ReuseError> {
        let keys = self.keys.load_full();
        let active = keys.active_key_id().to_string();
        let mut report = RotationReport {
            active_key_id: active.clone(),
            examined: 0,
            resealed: 0,
            already_current: 0,
            unreadable: Vec::new(),
        };
        let mut after = String::new();
        loop {
            let batch = self.store.reuse_rekey_batch(&after, ROTATION_BATCH).await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            for row in &batch {
                report.examined += 1;
                if row.key_id == active {
                    report.already_current += 1;
                    continue;
                }
                let aad = item_aad(row);
                let plaintext = match keys.open(&sealed_of(row), &aad) {
                    Ok(plaintext) => plaintext,
                    Err(error @ (ReuseError::UnknownKey(_) | ReuseError::Decrypt { .. })) => {
                        tracing::warn!(event = "reuse_rotation_unreadable", item = %row.id, error = %error);
                        report.unreadable.push(row.id.clone());
                        continue;
                    }
                    Err(error) => return Err(error),
                };
                let sealed = keys.seal(&plaintext, &aad)?;
                if self
                    .store
                    .reuse_update_sealed(
                        &row.id,
                        &sealed.key_id,
                        &sealed.nonce_b64,
                        &sealed.ciphertext_b64,
                    )
                    .await?
                {
                    report.resealed += 1;
                }
            }
        }
        tracing::info!(
            event = "reuse_rotation_done",
            key_id = %report.active_key_id,
            examined = report.examined,
            resealed = report.resealed,
            unreadable = report.unreadable.len(),
        );
        Ok(report)
    }

    /// Opens a row: its seal against the row's associated data, then its
    /// content against the stored hash. A key the keyring lacks triggers one
    /// reload, for a key another node added.
    async fn open_row(&self, row: &ReuseRow) -> Result<Item, ReuseError> {
        let sealed = sealed_of(row);
        let aad = item_aad(row);
        let opened = match self.keys.load().open(&sealed, &aad) {
            Err(ReuseError::UnknownKey(_)) => {
                self.reload_keys().await?;
                self.keys.load().open(&sealed, &aad)
            }
            opened => opened,
        };
        let plaintext = opened?;
        let corrupt = |detail: &str| ReuseError::Corrupt {
            id: row.id.clone(),
            detail: detail.to_string(),
        };
        if hex(&Sha256::digest(&plaintext)) != row.content_sha256 {
            return Err(corrupt("the content does not match content_sha256"));
        }
        // The parser's message could quote content, so it is not passed on.
        let content: Value =
            serde_json::from_slice(&plaintext).map_err(|_| corrupt("the content is not JSON"))?;
        Ok(Item {
            meta: meta_from_row(row)?,
            content,
        })
    }
}

/// Resolves once shutdown is asked; a dropped sender is no request to stop.
async fn stop_asked(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The sealed content of a row.
fn sealed_of(row: &ReuseRow) -> Sealed {
    Sealed {
        key_id: row.key_id.clone(),
        nonce_b64: row.nonce.clone(),
        ciphertext_b64: row.ciphertext.clone(),
    }
}

/// The associated data of a row's seal: its id, subject and provenance, each
/// length-prefixed so that no two rows encode alike. Left out are the seal
/// itself, `superseded_at` (set later), `purge_after` (retention may be
/// shortened) and the receipt signature (verifiable on its own).
fn item_aad(row: &ReuseRow) -> Vec<u8> {
    let fetched_at = row.fetched_at.to_string();
    let valid_until = row.valid_until.to_string();
    let fields: [Option<&str>; 12] = [
        Some(&row.id),
        Some(&row.subject_kind),
        Some(&row.subject_hash),
        Some(&row.data_type),
        Some(&row.source),
        Some(&row.source_agency),
        Some(&fetched_at),
        Some(&valid_until),
        Some(&row.content_sha256),
        row.dossier.as_deref(),
        row.procedure_code.as_deref(),
        row.allowed_purposes.as_deref(),
    ];
    let mut aad = AAD_VERSION.as_bytes().to_vec();
    for field in fields {
        match field {
            Some(value) => aad.extend_from_slice(format!("|{}:{value}", value.len()).as_bytes()),
            None => aad.extend_from_slice(b"|-"),
        }
    }
    aad
}

/// An item's metadata from its row.
fn meta_from_row(row: &ReuseRow) -> Result<ItemMeta, ReuseError> {
    let corrupt = |detail: String| ReuseError::Corrupt {
        id: row.id.clone(),
        detail,
    };
    let kind = SubjectKind::parse(&row.subject_kind)
        .ok_or_else(|| corrupt(format!("unknown subject_kind {:?}", row.subject_kind)))?;
    let allowed_purposes = row
        .allowed_purposes
        .as_deref()
        .map(serde_json::from_str::<Vec<String>>)
        .transpose()
        .map_err(|_| corrupt("allowed_purposes is not a JSON array of strings".to_string()))?;
    Ok(ItemMeta {
        id: row.id.clone(),
        subject: Subject {
            kind,
            hash: row.subject_hash.clone(),
        },
        data_type: row.data_type.clone(),
        source: row.source.clone(),
        source_agency: row.source_agency.clone(),
        fetched_at: from_unix_ms(row.fetched_at),
        valid_until: from_unix_ms(row.valid_until),
        purge_after: from_unix_ms(row.purge_after),
        content_sha256: row.content_sha256.clone(),
        dossier: row.dossier.clone(),
        procedure_code: row.procedure_code.clone(),
        allowed_purposes,
        receipt_signature: row.receipt_signature.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::subject::SubjectKey;
    use crate::store::StoreOptions;
    use serde_json::json;
    use sqlx::Connection as _;

    /// A 12-digit personal ID and a name with diacritics that must never be stored in clear.
    const PERSONAL_ID: &str = "001203012345";
    const NAME: &str = "Nguyễn Thị Ngọc Hường";

    /// 2025-11-24 11:00 UTC: in the past, so the purger, which runs on the
    /// real clock, finds items fetched then long past retention.
    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_763_982_000_000)
    }

    fn subject(id: &str) -> Subject {
        let key = SubjectKey::from_bytes([3u8; 32]).expect("subject key");
        Subject {
            kind: SubjectKind::PersonalId,
            hash: key.hash(SubjectKind::PersonalId, id),
        }
    }

    fn citizen() -> Value {
        json!({
            "soDinhDanh": PERSONAL_ID,
            "hoTen": NAME,
            "ngaySinh": "1990-05-17",
            "queQuan": "Xã Đông Hưng, Huyện Đông Hưng, Tỉnh Thái Bình",
        })
    }

    fn new_item(subject: &Subject, data_type: &str, content: Value) -> NewItem {
        NewItem {
            subject: subject.clone(),
            data_type: data_type.to_string(),
            source: "csdlqg-dan-cu/v1".to_string(),
            source_agency: "000.00.00.G10".to_string(),
            fetched_at: t0(),
            valid_for: Duration::from_secs(3600),
            retain_for: Duration::from_secs(86_400),
            content,
            dossier: None,
            procedure_code: None,
            allowed_purposes: Some(vec!["cap-giay-khai-sinh".to_string()]),
            receipt_signature: None,
        }
    }

    /// A reuse store over an SQLite file in `dir`, keys in `dir/reuse-keys`.
    async fn open(dir: &std::path::Path) -> (ReuseStore, String) {
        let url = format!("sqlite://{}", dir.join("db").join("lgsp.db").display());
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store");
        let keys = ReuseKeys::load_or_create(&dir.join("reuse-keys")).expect("keys");
        (ReuseStore::new(store, Arc::new(keys)), url)
    }

    /// Runs one statement on the database file directly, as someone with
    /// write access to the database (but not the keys) could.
    async fn tamper(url: &str, sql: &str) {
        let mut conn = sqlx::SqliteConnection::connect(&url.replacen("sqlite://", "sqlite:", 1))
            .await
            .expect("connect");
        let done = sqlx::query(sql).execute(&mut conn).await.expect("tamper");
        assert!(done.rows_affected() > 0, "{sql} changed nothing");
        conn.close().await.expect("close");
    }

    #[tokio::test]
    async fn remembered_items_are_fresh_until_valid_until_then_purged() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, _) = open(dir.path()).await;
        let who = subject(PERSONAL_ID);
        let meta = reuse
            .remember(&new_item(&who, "cong-dan", citizen()))
            .await
            .expect("remember");
        assert_eq!(meta.subject, who);
        assert_eq!(meta.fetched_at, t0());
        assert_eq!(meta.valid_until, t0() + Duration::from_secs(3600));
        assert_eq!(meta.purge_after, t0() + Duration::from_secs(86_400));
        assert_eq!(
            meta.content_sha256,
            hex(&Sha256::digest(
                serde_json::to_vec(&citizen()).expect("json")
            ))
        );
        assert!(uuid::Uuid::parse_str(&meta.id).is_ok());

        let now = t0() + Duration::from_secs(60);
        let item = reuse
            .fresh(&who, "cong-dan", now)
            .await
            .expect("fresh")
            .expect("a fresh item");
        assert_eq!(item.content, citizen());
        assert_eq!(item.content["hoTen"], NAME);
        assert_eq!(item.meta, meta);
        assert!(item.meta.is_fresh(now));
        assert_eq!(
            reuse.fresh(&who, "ho-tich", now).await.expect("fresh"),
            None
        );
        assert_eq!(
            reuse
                .fresh(&subject("001203099999"), "cong-dan", now)
                .await
                .expect("fresh"),
            None
        );

        let expired = t0() + Duration::from_secs(3600);
        assert_eq!(
            reuse.fresh(&who, "cong-dan", expired).await.expect("fresh"),
            None,
            "an expired item is never served as fresh"
        );
        let stale = reuse
            .get(&who, "cong-dan", expired)
            .await
            .expect("get")
            .expect("a stale item is still kept");
        assert!(!stale.meta.is_fresh(expired));
        assert_eq!(reuse.list(&who, expired).await.expect("list").len(), 1);

        // Retention is the longer of validity and retain_for.
        let mut short = new_item(&who, "ho-tich", json!({"soDangKy": "123/2026"}));
        short.valid_for = Duration::from_secs(7200);
        short.retain_for = Duration::from_secs(60);
        let short = reuse.remember(&short).await.expect("remember");
        assert_eq!(short.purge_after, t0() + Duration::from_secs(7200));

        assert_eq!(
            reuse
                .purge_expired(t0() + Duration::from_secs(7199))
                .await
                .expect("purge"),
            0
        );
        assert_eq!(
            reuse
                .purge_expired(t0() + Duration::from_secs(7200))
                .await
                .expect("purge"),
            1
        );
        assert!(
            reuse
                .get(&who, "ho-tich", t0())
                .await
                .expect("get")
                .is_none()
        );
        let after = t0() + Duration::from_secs(86_400);
        assert_eq!(reuse.purge_expired(after).await.expect("purge"), 1);
        assert!(
            reuse
                .get(&who, "cong-dan", t0())
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            reuse
                .store
                .reuse_get(&meta.id)
                .await
                .expect("row")
                .is_none()
        );
    }

    #[tokio::test]
    async fn no_personal_field_is_stored_in_clear() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, _) = open(dir.path()).await;
        let who = subject(PERSONAL_ID);
        let mut item = new_item(&who, "cong-dan", citizen());
        item.dossier = Some("H29.22-261124-0001".to_string());
        reuse.remember(&item).await.expect("remember");
        reuse
            .remember(&new_item(&who, "ho-tich", json!({"hoTenCha": NAME})))
            .await
            .expect("remember");

        let scan = |when: &str| {
            let mut found_rows = false;
            for entry in std::fs::read_dir(dir.path().join("db")).expect("list") {
                let path = entry.expect("entry").path();
                // SQLite may remove its -wal/-shm files between listing and reading.
                let bytes = match std::fs::read(&path) {
                    Ok(bytes) => bytes,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => panic!("read {path:?}: {e}"),
                };
                for secret in [NAME, PERSONAL_ID, "Đông Hưng", "1990-05-17"] {
                    assert!(
                        !contains(&bytes, secret.as_bytes()),
                        "{secret:?} is in clear in {path:?} ({when})"
                    );
                }
                // The scan must see the rows, or it would prove nothing.
                found_rows |= contains(&bytes, b"H29.22-261124-0001");
            }
            assert!(found_rows, "the scan did not see the rows ({when})");
        };
        scan("with the WAL");
        reuse.store.close().await;
        scan("after the checkpoint on close");
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    #[tokio::test]
    async fn the_wrong_keyring_never_returns_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, _) = open(dir.path()).await;
        let who = subject(PERSONAL_ID);
        reuse
            .remember(&new_item(&who, "cong-dan", citizen()))
            .await
            .expect("remember");
        let key_id = reuse.keys().active_key_id().to_string();

        // Another directory: other key ids altogether.
        let other_dir = tempfile::tempdir().expect("temp dir");
        let other = ReuseKeys::load_or_create(other_dir.path()).expect("keys");
        let wrong = ReuseStore::new(reuse.store.clone(), Arc::new(other));
        let result = wrong.get(&who, "cong-dan", t0()).await;
        assert!(
            matches!(&result, Err(ReuseError::UnknownKey(id)) if *id == key_id),
            "{result:?}"
        );
        // The same key id holding another key.
        let forged_dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            forged_dir.path().join(format!("{key_id}.key")),
            "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n",
        )
        .expect("write");
        let forged = ReuseKeys::load(forged_dir.path()).expect("keys");
        let wrong = ReuseStore::new(reuse.store.clone(), Arc::new(forged));
        for result in [
            wrong.get(&who, "cong-dan", t0()).await,
            wrong.fresh(&who, "cong-dan", t0()).await,
        ] {
            assert!(
                matches!(&result, Err(ReuseError::Decrypt { key_id: id }) if *id == key_id),
                "{result:?}"
            );
        }
        // Metadata needs no key.
        assert_eq!(wrong.list(&who, t0()).await.expect("list").len(), 1);
    }

    #[tokio::test]
    async fn tampered_or_moved_items_fail_to_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, url) = open(dir.path()).await;
        let who = subject(PERSONAL_ID);
        let other = subject("001203099999");
        let first = reuse
            .remember(&new_item(&who, "cong-dan", citizen()))
            .await
            .expect("remember");
        let second = reuse
            .remember(&new_item(&who, "ho-tich", json!({"hoTenMe": NAME})))
            .await
            .expect("remember");
        let third = reuse
            .remember(&new_item(&who, "bhxh", json!({"maSoBhxh": "0123456789"})))
            .await
            .expect("remember");

        // Flip one base64 digit of the ciphertext.
        let row = reuse
            .store
            .reuse_get(&first.id)
            .await
            .expect("get")
            .expect("row");
        let flipped = if row.ciphertext.starts_with('A') {
            "B"
        } else {
            "A"
        };
        let tampered = format!("{flipped}{}", &row.ciphertext[1..]);
        tamper(
            &url,
            &format!(
                "UPDATE reuse_items SET ciphertext = '{tampered}' WHERE id = '{}'",
                first.id
            ),
        )
        .await;
        let result = reuse.get(&who, "cong-dan", t0()).await;
        assert!(
            matches!(result, Err(ReuseError::Decrypt { .. })),
            "{result:?}"
        );

        // Move an item to another subject: its seal names the first one.
        tamper(
            &url,
            &format!(
                "UPDATE reuse_items SET subject_hash = '{}' WHERE id = '{}'",
                other.hash, second.id
            ),
        )
        .await;
        let result = reuse.get(&other, "ho-tich", t0()).await;
        assert!(
            matches!(result, Err(ReuseError::Decrypt { .. })),
            "{result:?}"
        );

        // Widen who may see it: the provenance is bound too.
        tamper(
            &url,
            &format!(
                "UPDATE reuse_items SET allowed_purposes = '[\"bat-ky\"]' WHERE id = '{}'",
                third.id
            ),
        )
        .await;
        let result = reuse.fresh(&who, "bhxh", t0()).await;
        assert!(
            matches!(result, Err(ReuseError::Decrypt { .. })),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn rotation_reseals_everything_so_old_keys_can_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, _) = open(dir.path()).await;
        let keys_dir = dir.path().join("reuse-keys");
        let old_key = reuse.keys().active_key_id().to_string();
        let who = subject(PERSONAL_ID);
        let mut ids = Vec::new();
        for (data_type, content) in [
            ("cong-dan", citizen()),
            ("ho-tich", json!({"hoTenMe": NAME})),
            ("bhxh", json!({"maSoBhxh": "0123456789"})),
        ] {
            let meta = reuse
                .remember(&new_item(&who, data_type, content))
                .await
                .expect("remember");
            ids.push(meta.id);
        }
        reuse.supersede(&who, "bhxh").await.expect("supersede");

        let new_key = ReuseKeys::add_key(&keys_dir).expect("add key");
        reuse.reload_keys().await.expect("reload");
        assert_eq!(reuse.keys().active_key_id(), new_key);
        // Written after the new key is active: already current.
        reuse
            .remember(&new_item(&who, "dat-dai", json!({"soThua": "12"})))
            .await
            .expect("remember");
        let report = reuse.rotate().await.expect("rotate");
        assert_eq!(
            report,
            RotationReport {
                active_key_id: new_key.clone(),
                examined: 4,
                resealed: 3,
                already_current: 1,
                unreadable: Vec::new(),
            }
        );

        std::fs::remove_file(keys_dir.join(format!("{old_key}.key"))).expect("delete old key");
        let keys = ReuseKeys::load(&keys_dir).expect("reload");
        assert_eq!(keys.key_ids(), vec![new_key.clone()]);
        let rotated = ReuseStore::new(reuse.store.clone(), Arc::new(keys));
        let item = rotated
            .fresh(&who, "cong-dan", t0())
            .await
            .expect("fresh")
            .expect("item");
        assert_eq!(item.content, citizen());
        assert!(
            rotated
                .get(&who, "ho-tich", t0())
                .await
                .expect("get")
                .is_some()
        );
        for id in &ids {
            let row = reuse.store.reuse_get(id).await.expect("get").expect("row");
            assert_eq!(row.key_id, new_key, "{id}");
            let keys = rotated.keys();
            keys.open(&sealed_of(&row), &item_aad(&row))
                .expect("every row, superseded too, opens under the new key");
        }
        let again = rotated.rotate().await.expect("rotate again");
        assert_eq!((again.resealed, again.already_current), (0, 4));
    }

    #[tokio::test]
    async fn rotation_reports_rows_it_cannot_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, url) = open(dir.path()).await;
        let who = subject(PERSONAL_ID);
        let meta = reuse
            .remember(&new_item(&who, "cong-dan", citizen()))
            .await
            .expect("remember");
        tamper(
            &url,
            &format!(
                "UPDATE reuse_items SET key_id = 'k0' WHERE id = '{}'",
                meta.id
            ),
        )
        .await;
        ReuseKeys::add_key(&dir.path().join("reuse-keys")).expect("add key");
        reuse.reload_keys().await.expect("reload");
        let report = reuse.rotate().await.expect("rotate");
        assert_eq!(report.unreadable, vec![meta.id.clone()]);
        assert_eq!(report.resealed, 0);
    }

    #[tokio::test]
    async fn another_nodes_new_key_is_picked_up_on_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, _) = open(dir.path()).await;
        let keys_dir = dir.path().join("reuse-keys");
        // A second node that loaded the keyring before the rotation.
        let stale_node = ReuseStore::new(
            reuse.store.clone(),
            Arc::new(ReuseKeys::load(&keys_dir).expect("keys")),
        );
        ReuseKeys::add_key(&keys_dir).expect("add key");
        reuse.reload_keys().await.expect("reload");
        let who = subject(PERSONAL_ID);
        reuse
            .remember(&new_item(&who, "cong-dan", citizen()))
            .await
            .expect("remember");
        let item = stale_node
            .fresh(&who, "cong-dan", t0())
            .await
            .expect("the new key is loaded on demand")
            .expect("item");
        assert_eq!(item.content, citizen());
    }

    #[tokio::test]
    async fn supersede_hides_items_and_list_gives_the_newest_per_type() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, _) = open(dir.path()).await;
        let who = subject(PERSONAL_ID);
        let old = json!({"hoTen": "Nguyễn Thị Hường"});
        reuse
            .remember(&new_item(&who, "cong-dan", old))
            .await
            .expect("remember");
        let mut newer = new_item(&who, "cong-dan", citizen());
        newer.fetched_at = t0() + Duration::from_secs(10);
        let newer = reuse.remember(&newer).await.expect("remember");
        let mut result = new_item(&who, "ket-qua-tthc", json!({"soGiayKhaiSinh": "01/2026"}));
        result.source = "write-back".to_string();
        result.source_agency = "000.00.22.H29".to_string();
        result.dossier = Some("H29.22-261124-0001".to_string());
        result.procedure_code = Some("1.001193".to_string());
        result.receipt_signature = Some("chu-ky".to_string());
        let result = reuse.remember(&result).await.expect("remember");
        reuse
            .remember(&new_item(&subject("001203099999"), "ho-tich", json!({})))
            .await
            .expect("remember");

        let now = t0() + Duration::from_secs(20);
        let listed = reuse.list(&who, now).await.expect("list");
        assert_eq!(listed, vec![newer.clone(), result.clone()]);
        assert_eq!(listed[1].procedure_code.as_deref(), Some("1.001193"));
        assert_eq!(
            listed[1].allowed_purposes,
            Some(vec!["cap-giay-khai-sinh".to_string()])
        );
        let fresh = reuse
            .fresh(&who, "cong-dan", now)
            .await
            .expect("fresh")
            .expect("item");
        assert_eq!(fresh.meta.id, newer.id, "the newest item wins");

        assert_eq!(
            reuse.supersede(&who, "cong-dan").await.expect("supersede"),
            2
        );
        assert_eq!(
            reuse.fresh(&who, "cong-dan", now).await.expect("fresh"),
            None
        );
        assert_eq!(reuse.get(&who, "cong-dan", now).await.expect("get"), None);
        assert_eq!(reuse.list(&who, now).await.expect("list"), vec![result]);
        assert_eq!(reuse.supersede(&who, "cong-dan").await.expect("again"), 0);
    }

    #[tokio::test]
    async fn asked_items_are_recorded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, url) = open(dir.path()).await;
        let id = reuse
            .record_asked(&AskedItems {
                recorded_at: t0(),
                agency: Some("000.00.22.H29".to_string()),
                system: Some("motcua-xa-a".to_string()),
                dossier: "H29.22-261124-0001".to_string(),
                service: None,
                items: 2,
                data_types: vec!["anh-chan-dung".to_string(), "so-tiet-kiem".to_string()],
            })
            .await
            .expect("record");
        let mut conn = sqlx::SqliteConnection::connect(&url.replacen("sqlite://", "sqlite:", 1))
            .await
            .expect("connect");
        let (items, types, at): (i64, String, i64) =
            sqlx::query_as("SELECT items, data_types, recorded_at FROM reuse_asked WHERE id = $1")
                .bind(&id)
                .fetch_one(&mut conn)
                .await
                .expect("row");
        assert_eq!(items, 2);
        assert_eq!(types, r#"["anh-chan-dung","so-tiet-kiem"]"#);
        assert_eq!(at, unix_ms(t0()));
    }

    #[tokio::test]
    async fn the_purger_purges_until_stopped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (reuse, _) = open(dir.path()).await;
        let who = subject(PERSONAL_ID);
        // Fetched long ago: already past retention.
        let meta = reuse
            .remember(&new_item(&who, "cong-dan", citizen()))
            .await
            .expect("remember");
        let mut current = new_item(&who, "ho-tich", json!({"hoTenMe": NAME}));
        current.fetched_at = SystemTime::now();
        let current = reuse.remember(&current).await.expect("remember");
        let (stop_tx, stop_rx) = watch::channel(false);
        let handle = reuse
            .clone()
            .spawn_purger(Duration::from_millis(20), stop_rx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while reuse
            .store
            .reuse_get(&meta.id)
            .await
            .expect("get")
            .is_some()
        {
            assert!(tokio::time::Instant::now() < deadline, "never purged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            reuse
                .store
                .reuse_get(&current.id)
                .await
                .expect("get")
                .is_some(),
            "an item within retention is kept"
        );
        stop_tx.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .expect("stops when asked")
            .expect("no panic");
    }
}
