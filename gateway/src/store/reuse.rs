//! Rows of the reuse store (`reuse_items`, `reuse_asked`, migration 0008).
//!
//! Here are only the queries; sealing, freshness and provenance are
//! [`crate::reuse`]'s. Content is stored sealed and the subject only as a
//! keyed hash, so nothing in these rows identifies a person in clear.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// The columns of `reuse_items`, in schema order, for SELECT and INSERT.
const ITEM_COLUMNS: &str = "id, subject_kind, subject_hash, data_type, source, source_agency, \
     fetched_at, valid_until, content_sha256, dossier, procedure_code, allowed_purposes, \
     key_id, nonce, ciphertext, receipt_signature, superseded_at, purge_after";

/// One row of `reuse_items`: a sealed data item about one subject, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseRow {
    /// UUIDv7, so ids sort by creation time.
    pub id: String,
    /// `personal_id` or `enterprise`.
    pub subject_kind: String,
    /// Keyed hash of the subject's identifier.
    pub subject_hash: String,
    /// The kind of data, e.g. `cong-dan` or `ket-qua-tthc`.
    pub data_type: String,
    /// The authoritative source: a service slug and version, or `write-back`.
    pub source: String,
    /// The agency that issued the data.
    pub source_agency: String,
    /// When the data was fetched or issued, unix ms.
    pub fetched_at: i64,
    /// Until when it may be served without asking the source again, unix ms.
    pub valid_until: i64,
    /// Hex SHA-256 of the serialized content.
    pub content_sha256: String,
    /// The dossier a written-back result belongs to.
    pub dossier: Option<String>,
    /// The procedure code of a written-back result.
    pub procedure_code: Option<String>,
    /// JSON array of the purposes allowed to see the item; `None` means policy decides.
    pub allowed_purposes: Option<String>,
    /// The id of the key that sealed the content.
    pub key_id: String,
    /// The GCM nonce, base64.
    pub nonce: String,
    /// The sealed content with its tag, base64.
    pub ciphertext: String,
    /// The gateway's signature given on receipt of a write-back.
    pub receipt_signature: Option<String>,
    /// When the item was marked superseded, unix ms.
    pub superseded_at: Option<i64>,
    /// When the row is deleted, unix ms.
    pub purge_after: i64,
}

/// One row of `reuse_asked`: data items a one-stop desk still had to ask the citizen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedRow {
    /// UUIDv7.
    pub id: String,
    /// When it was reported, unix ms.
    pub recorded_at: i64,
    /// The reporting commune's agency code.
    pub agency: Option<String>,
    /// The reporting system.
    pub system: Option<String>,
    /// The dossier.
    pub dossier: String,
    /// The service the items would have come from, when known.
    pub service: Option<String>,
    /// How many items the citizen had to supply.
    pub items: i64,
    /// JSON array of the data types asked for.
    pub data_types: Option<String>,
}

impl Store {
    /// Inserts a reuse item.
    pub async fn reuse_insert(&self, row: &ReuseRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO reuse_items ({ITEM_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        );
        sqlx::query(&sql)
            .bind(row.id.as_str())
            .bind(row.subject_kind.as_str())
            .bind(row.subject_hash.as_str())
            .bind(row.data_type.as_str())
            .bind(row.source.as_str())
            .bind(row.source_agency.as_str())
            .bind(row.fetched_at)
            .bind(row.valid_until)
            .bind(row.content_sha256.as_str())
            .bind(row.dossier.as_deref())
            .bind(row.procedure_code.as_deref())
            .bind(row.allowed_purposes.as_deref())
            .bind(row.key_id.as_str())
            .bind(row.nonce.as_str())
            .bind(row.ciphertext.as_str())
            .bind(row.receipt_signature.as_deref())
            .bind(row.superseded_at)
            .bind(row.purge_after)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest row of `data_type` about the subject that is not superseded
    /// and not past `purge_after`; expired rows count (the caller judges freshness).
    pub async fn reuse_latest(
        &self,
        subject_hash: &str,
        data_type: &str,
        now_ms: i64,
    ) -> Result<Option<ReuseRow>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM reuse_items \
             WHERE subject_hash = $1 AND data_type = $2 AND superseded_at IS NULL \
             AND purge_after > $3 ORDER BY fetched_at DESC, id DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(subject_hash)
            .bind(data_type)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(reuse_row_from).transpose()
    }

    /// The newest current row of each data type about the subject, by data type.
    pub async fn reuse_list(
        &self,
        subject_hash: &str,
        now_ms: i64,
    ) -> Result<Vec<ReuseRow>, StoreError> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM reuse_items \
             WHERE subject_hash = $1 AND superseded_at IS NULL AND purge_after > $2 \
             ORDER BY data_type, fetched_at DESC, id DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(subject_hash)
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?;
        let mut newest: Vec<ReuseRow> = Vec::new();
        for row in &rows {
            let row = reuse_row_from(row)?;
            // Rows come newest first within a data type: keep the first of each.
            if newest
                .last()
                .is_none_or(|last| last.data_type != row.data_type)
            {
                newest.push(row);
            }
        }
        Ok(newest)
    }

    /// The row `id`, whatever its state.
    pub async fn reuse_get(&self, id: &str) -> Result<Option<ReuseRow>, StoreError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM reuse_items WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(reuse_row_from).transpose()
    }

    /// Marks every current row of `data_type` about the subject superseded at
    /// `now_ms`; returns how many were.
    pub async fn reuse_supersede(
        &self,
        subject_hash: &str,
        data_type: &str,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE reuse_items SET superseded_at = $3 \
             WHERE subject_hash = $1 AND data_type = $2 AND superseded_at IS NULL",
        )
        .bind(subject_hash)
        .bind(data_type)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes the rows whose `purge_after` is at or before `now_ms`; returns how many.
    pub async fn reuse_purge(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM reuse_items WHERE purge_after <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Up to `limit` rows with id above `after_id` (all states), by id: the
    /// pages a key rotation walks through.
    pub async fn reuse_rekey_batch(
        &self,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<ReuseRow>, StoreError> {
        // A negative LIMIT means "no limit" to SQLite and is an error to PostgreSQL.
        let limit = limit.max(0);
        let sql =
            format!("SELECT {ITEM_COLUMNS} FROM reuse_items WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(reuse_row_from).collect()
    }

    /// Replaces the sealed content of row `id` (a re-seal under another key);
    /// returns whether the row still existed.
    pub async fn reuse_update_sealed(
        &self,
        id: &str,
        key_id: &str,
        nonce: &str,
        ciphertext: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE reuse_items SET key_id = $2, nonce = $3, ciphertext = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(key_id)
        .bind(nonce)
        .bind(ciphertext)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records data items a one-stop desk had to ask the citizen for.
    pub async fn reuse_record_asked(&self, row: &AskedRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reuse_asked \
             (id, recorded_at, agency, system, dossier, service, items, data_types) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(row.id.as_str())
        .bind(row.recorded_at)
        .bind(row.agency.as_deref())
        .bind(row.system.as_deref())
        .bind(row.dossier.as_str())
        .bind(row.service.as_deref())
        .bind(row.items)
        .bind(row.data_types.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A row selected with [`ITEM_COLUMNS`], exactly as stored.
fn reuse_row_from(row: &AnyRow) -> Result<ReuseRow, StoreError> {
    Ok(ReuseRow {
        id: row.try_get("id")?,
        subject_kind: row.try_get("subject_kind")?,
        subject_hash: row.try_get("subject_hash")?,
        data_type: row.try_get("data_type")?,
        source: row.try_get("source")?,
        source_agency: row.try_get("source_agency")?,
        fetched_at: row.try_get("fetched_at")?,
        valid_until: row.try_get("valid_until")?,
        content_sha256: row.try_get("content_sha256")?,
        dossier: row.try_get("dossier")?,
        procedure_code: row.try_get("procedure_code")?,
        allowed_purposes: row.try_get("allowed_purposes")?,
        key_id: row.try_get("key_id")?,
        nonce: row.try_get("nonce")?,
        ciphertext: row.try_get("ciphertext")?,
        receipt_signature: row.try_get("receipt_signature")?,
        superseded_at: row.try_get("superseded_at")?,
        purge_after: row.try_get("purge_after")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    async fn store() -> Store {
        Store::open("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("open in memory")
    }

    fn row(id: &str, subject: &str, data_type: &str, fetched_at: i64) -> ReuseRow {
        ReuseRow {
            id: id.to_string(),
            subject_kind: "personal_id".to_string(),
            subject_hash: subject.to_string(),
            data_type: data_type.to_string(),
            source: "csdlqg-dan-cu/v1".to_string(),
            source_agency: "000.00.00.G10".to_string(),
            fetched_at,
            valid_until: fetched_at + 100,
            content_sha256: "ab".repeat(32),
            dossier: None,
            procedure_code: None,
            allowed_purposes: Some(r#"["cap-giay-khai-sinh"]"#.to_string()),
            key_id: "k1".to_string(),
            nonce: "bm9uY2U=".to_string(),
            ciphertext: format!("sealed-{id}"),
            receipt_signature: None,
            superseded_at: None,
            purge_after: fetched_at + 1000,
        }
    }

    #[tokio::test]
    async fn rows_round_trip_and_latest_skips_superseded_and_purgeable() {
        let store = store().await;
        let mut first = row("01", "s1", "cong-dan", 10);
        first.dossier = Some("H29.22-241124-0001".to_string());
        first.receipt_signature = Some("sig".to_string());
        store.reuse_insert(&first).await.expect("insert");
        assert_eq!(
            store.reuse_get("01").await.expect("get"),
            Some(first.clone())
        );
        assert_eq!(store.reuse_get("02").await.expect("get"), None);

        let second = row("02", "s1", "cong-dan", 20);
        store.reuse_insert(&second).await.expect("insert");
        store
            .reuse_insert(&row("03", "s2", "cong-dan", 30))
            .await
            .expect("insert");
        let latest = store
            .reuse_latest("s1", "cong-dan", 50)
            .await
            .expect("latest");
        assert_eq!(latest.map(|r| r.id), Some("02".to_string()));
        // Expired (past valid_until) but not purgeable: still returned.
        let latest = store
            .reuse_latest("s1", "cong-dan", 500)
            .await
            .expect("latest");
        assert_eq!(latest.map(|r| r.id), Some("02".to_string()));
        // "01" is purgeable from 1010, "02" from 1020.
        let latest = store
            .reuse_latest("s1", "cong-dan", 1015)
            .await
            .expect("latest");
        assert_eq!(latest.map(|r| r.id), Some("02".to_string()));
        let latest = store
            .reuse_latest("s1", "cong-dan", 1020)
            .await
            .expect("latest");
        assert_eq!(latest.map(|r| r.id), None);
        assert_eq!(
            store
                .reuse_latest("s1", "ho-tich", 50)
                .await
                .expect("latest"),
            None
        );

        assert_eq!(
            store
                .reuse_supersede("s1", "cong-dan", 60)
                .await
                .expect("supersede"),
            2
        );
        assert_eq!(
            store
                .reuse_supersede("s1", "cong-dan", 61)
                .await
                .expect("again"),
            0
        );
        assert_eq!(
            store
                .reuse_latest("s1", "cong-dan", 50)
                .await
                .expect("latest"),
            None
        );
        let superseded = store.reuse_get("02").await.expect("get").expect("row");
        assert_eq!(superseded.superseded_at, Some(60));
        let other = store
            .reuse_latest("s2", "cong-dan", 50)
            .await
            .expect("latest");
        assert_eq!(other.map(|r| r.id), Some("03".to_string()));
    }

    #[tokio::test]
    async fn list_gives_the_newest_current_row_per_type() {
        let store = store().await;
        for r in [
            row("01", "s1", "cong-dan", 10),
            row("02", "s1", "cong-dan", 20),
            row("03", "s1", "ho-tich", 5),
            row("04", "s1", "ket-qua-tthc", 40),
            row("05", "s2", "cong-dan", 50),
        ] {
            store.reuse_insert(&r).await.expect("insert");
        }
        store
            .reuse_supersede("s1", "ket-qua-tthc", 45)
            .await
            .expect("supersede");
        let ids: Vec<String> = store
            .reuse_list("s1", 60)
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["02", "03"]);
        // "03" is purgeable from 1005, "01"/"02" from 1010/1020.
        let ids: Vec<String> = store
            .reuse_list("s1", 1012)
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["02"]);
    }

    #[tokio::test]
    async fn purge_deletes_rows_past_purge_after_only() {
        let store = store().await;
        for r in [
            row("01", "s1", "cong-dan", 10),
            row("02", "s1", "ho-tich", 20),
            row("03", "s2", "cong-dan", 30),
        ] {
            store.reuse_insert(&r).await.expect("insert");
        }
        assert_eq!(store.reuse_purge(1009).await.expect("purge"), 0);
        assert_eq!(store.reuse_purge(1020).await.expect("purge"), 2);
        assert_eq!(store.reuse_get("01").await.expect("get"), None);
        assert!(store.reuse_get("03").await.expect("get").is_some());
    }

    #[tokio::test]
    async fn rekey_batches_page_by_id_and_updates_replace_the_seal() {
        let store = store().await;
        for (i, id) in ["01", "02", "03", "04", "05"].into_iter().enumerate() {
            let mut r = row(id, "s1", "cong-dan", i64::try_from(i).expect("small"));
            if id == "02" {
                r.superseded_at = Some(3);
            }
            store.reuse_insert(&r).await.expect("insert");
        }
        let mut seen = Vec::new();
        let mut after = String::new();
        loop {
            let batch = store.reuse_rekey_batch(&after, 2).await.expect("batch");
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            seen.extend(batch.into_iter().map(|r| r.id));
        }
        assert_eq!(seen, ["01", "02", "03", "04", "05"]);
        assert!(
            store
                .reuse_rekey_batch("", -1)
                .await
                .expect("batch")
                .is_empty()
        );

        assert!(
            store
                .reuse_update_sealed("02", "k2", "bm9uY2Uy", "resealed")
                .await
                .expect("update")
        );
        assert!(
            !store
                .reuse_update_sealed("99", "k2", "bm9uY2Uy", "resealed")
                .await
                .expect("update")
        );
        let updated = store.reuse_get("02").await.expect("get").expect("row");
        assert_eq!(
            (
                updated.key_id.as_str(),
                updated.nonce.as_str(),
                updated.ciphertext.as_str()
            ),
            ("k2", "bm9uY2Uy", "resealed")
        );
        assert_eq!(updated.superseded_at, Some(3), "other columns are kept");
    }

    #[tokio::test]
    async fn asked_rows_are_inserted() {
        let store = store().await;
        let asked = AskedRow {
            id: "01".to_string(),
            recorded_at: 10,
            agency: Some("000.00.00.H29".to_string()),
            system: Some("motcua-xa-a".to_string()),
            dossier: "H29.22-241124-0001".to_string(),
            service: None,
            items: 2,
            data_types: Some(r#"["anh-chan-dung","so-ho-khau"]"#.to_string()),
        };
        store.reuse_record_asked(&asked).await.expect("insert");
        let count: i64 = sqlx::query_scalar("SELECT SUM(items) FROM reuse_asked")
            .fetch_one(&store.pool)
            .await
            .expect("sum");
        assert_eq!(count, 2);
        assert!(
            store.reuse_record_asked(&asked).await.is_err(),
            "ids are unique"
        );
    }
}
