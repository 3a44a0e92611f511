//! Audit rows: the hash-chained `audit_records`, the signed
//! `audit_checkpoints` (schema in migration 0003) and the `audit_anchors` of
//! archived prefixes (migration 0006).
//!
//! The audit writer is the only code that inserts records, one batch per
//! transaction, and retention the only code that deletes them, together with
//! the anchor that replaces them; everything else here reads, by
//! `(chain, seq)` so that a walk over millions of records goes page by page
//! along the unique index.
//! Columns are read into the types `AuditRecord` carries (text, i64) exactly
//! as stored, so verification hashes what the database holds.

use std::sync::OnceLock;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use super::{Backend, Store, StoreError};
use crate::audit::{Anchor, AuditRecord, Checkpoint};

/// The columns of `audit_records`, in schema order, for SELECT and INSERT.
pub(crate) const AUDIT_RECORD_COLUMNS: &str = "id, chain, seq, recorded_at, request_id, \
     trace_id, client_ip, system, agency, auth_method, officer, purpose, dossier, service, \
     version, operation, method, subject_kind, subject_hash, outcome, status, error_code, \
     upstream_status, latency_us, request_bytes, response_bytes, request_sha256, \
     response_sha256, reuse, contract_violation, prev_hash, hash";

/// How many columns [`AUDIT_RECORD_COLUMNS`] names, i.e. binds per row.
const RECORD_BINDS: usize = 32;

/// The columns of `audit_checkpoints`.
pub(crate) const CHECKPOINT_COLUMNS: &str =
    "chain, seq, hash, signed_at, key_id, public_key, signature";

/// The columns of `audit_anchors`.
const ANCHOR_COLUMNS: &str = "chain, seq, hash, archived_at, file, file_sha256";

/// Rows per multi-row INSERT, largest first. A batch is split greedily into
/// these sizes, so only this many distinct statements exist and each stays in
/// the connections' prepared-statement caches; 64 rows × 32 binds stays far
/// below SQLite's and PostgreSQL's limits on bind parameters.
const INSERT_CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

impl Store {
    /// Inserts a batch of sealed records in one transaction: all or none.
    pub async fn append_audit_batch(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut rest = records;
        while !rest.is_empty() {
            let (rows, sql) = insert_statement(self.backend, rest.len());
            let (chunk, tail) = rest.split_at(rows.min(rest.len()));
            let mut query = sqlx::query(sql);
            for record in chunk {
                query = bind_record(query, record);
            }
            query.execute(&mut *tx).await?;
            rest = tail;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The seq and hash of the last record of `chain`, `None` for a chain not yet begun.
    ///
    /// When retention has archived every record, the chain goes on from its
    /// last anchor, so that a restarted writer never starts it over at seq 1.
    pub async fn audit_chain_head(&self, chain: &str) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM audit_records WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(Some((row.try_get("seq")?, row.try_get("hash")?)));
        }
        Ok(self
            .audit_last_anchor(chain)
            .await?
            .map(|anchor| (anchor.seq, anchor.hash)))
    }

    /// Every chain that has records, checkpoints or anchors, sorted.
    pub async fn audit_chains(&self) -> Result<Vec<String>, StoreError> {
        let mut chains: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT chain FROM audit_records \
             UNION SELECT DISTINCT chain FROM audit_checkpoints \
             UNION SELECT DISTINCT chain FROM audit_anchors",
        )
        .fetch_all(&self.pool)
        .await?;
        // Sorted here: PostgreSQL collations would order them differently from SQLite.
        chains.sort();
        Ok(chains)
    }

    /// Up to `limit` records of `chain` with seq above `after_seq`, by seq: one page of a chain walk.
    pub async fn audit_records_after(
        &self,
        chain: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {AUDIT_RECORD_COLUMNS} FROM audit_records \
             WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(chain)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_record_from_row).collect()
    }

    /// Stores a checkpoint; one already stored for the same chain and seq is kept.
    pub async fn insert_checkpoint(&self, cp: &Checkpoint) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chain, seq) DO NOTHING"
        );
        sqlx::query(&sql)
            .bind(cp.chain.as_str())
            .bind(cp.seq)
            .bind(cp.hash.as_str())
            .bind(cp.signed_at)
            .bind(cp.key_id.as_str())
            .bind(cp.public_key.as_str())
            .bind(cp.signature.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Up to `limit` checkpoints of `chain` with seq above `after_seq`, by seq.
    pub async fn audit_checkpoints_after(
        &self,
        chain: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
             WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(chain)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    /// The seq of the last checkpoint of `chain`, if any.
    pub async fn audit_last_checkpoint_seq(&self, chain: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM audit_checkpoints WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(chain)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The seq of the first record of `chain` recorded at or after
    /// `recorded_at` (unix ms), i.e. the first record retention must keep.
    pub async fn audit_first_seq_since(
        &self,
        chain: &str,
        recorded_at: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(seq) FROM audit_records WHERE chain = $1 AND recorded_at >= $2",
        )
        .bind(chain)
        .bind(recorded_at)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The seqs of the first and of the last checkpoint of `chain` in
    /// `after_seq < seq <= up_to_seq`, `None` when there is none.
    pub async fn audit_checkpoint_span(
        &self,
        chain: &str,
        after_seq: i64,
        up_to_seq: i64,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(seq) AS first_seq, MAX(seq) AS last_seq FROM audit_checkpoints \
             WHERE chain = $1 AND seq > $2 AND seq <= $3",
        )
        .bind(chain)
        .bind(after_seq)
        .bind(up_to_seq)
        .fetch_one(&self.pool)
        .await?;
        let first: Option<i64> = row.try_get("first_seq")?;
        let last: Option<i64> = row.try_get("last_seq")?;
        Ok(first.zip(last))
    }

    /// The last anchor of `chain`: where its records in the store begin.
    pub async fn audit_last_anchor(&self, chain: &str) -> Result<Option<Anchor>, StoreError> {
        let sql = format!(
            "SELECT {ANCHOR_COLUMNS} FROM audit_anchors WHERE chain = $1 \
             ORDER BY seq DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(chain)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(anchor_from_row).transpose()
    }

    /// The anchors of `chain` with seq in `first_seq..=last_seq`, by seq.
    pub async fn audit_anchors_between(
        &self,
        chain: &str,
        first_seq: i64,
        last_seq: i64,
    ) -> Result<Vec<Anchor>, StoreError> {
        let sql = format!(
            "SELECT {ANCHOR_COLUMNS} FROM audit_anchors \
             WHERE chain = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq ASC"
        );
        let rows = sqlx::query(&sql)
            .bind(chain)
            .bind(first_seq)
            .bind(last_seq)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(anchor_from_row).collect()
    }

    /// Replaces the archived records `first_seq..=anchor.seq` of the anchor's
    /// chain by the anchor, in one transaction: inserts it, deletes those
    /// records and the checkpoints below its seq (the one at its seq stays,
    /// signing the anchor). Returns the records deleted.
    ///
    /// Refused, with nothing changed, when the records deleted are not exactly
    /// that span: another node archived the same records meanwhile, or rows
    /// below `first_seq` remain that an earlier archive should have taken.
    pub async fn audit_replace_with_anchor(
        &self,
        anchor: &Anchor,
        first_seq: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql =
            format!("INSERT INTO audit_anchors ({ANCHOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)");
        sqlx::query(&sql)
            .bind(anchor.chain.as_str())
            .bind(anchor.seq)
            .bind(anchor.hash.as_str())
            .bind(anchor.archived_at)
            .bind(anchor.file.as_str())
            .bind(anchor.file_sha256.as_str())
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM audit_records WHERE chain = $1 AND seq <= $2")
            .bind(anchor.chain.as_str())
            .bind(anchor.seq)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let expected = u64::try_from(anchor.seq - first_seq + 1).unwrap_or(0);
        if deleted != expected {
            tx.rollback().await?;
            return Err(StoreError::Invalid {
                what: format!("archive of chain {} up to seq {}", anchor.chain, anchor.seq),
                detail: format!(
                    "{deleted} records would be deleted where {expected} were archived \
                     (seq {first_seq} to {}); nothing was deleted",
                    anchor.seq
                ),
            });
        }
        sqlx::query("DELETE FROM audit_checkpoints WHERE chain = $1 AND seq < $2")
            .bind(anchor.chain.as_str())
            .bind(anchor.seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }
}

/// The multi-row INSERT for the largest chunk size that fits `remaining`
/// rows, with that size.
fn insert_statement(backend: Backend, remaining: usize) -> (usize, &'static str) {
    static SQLITE: OnceLock<Vec<(usize, String)>> = OnceLock::new();
    static POSTGRES: OnceLock<Vec<(usize, String)>> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    let statements = cell.get_or_init(|| {
        INSERT_CHUNKS
            .iter()
            .map(|&rows| (rows, insert_sql(backend, rows)))
            .collect()
    });
    statements
        .iter()
        .find(|(rows, _)| *rows <= remaining)
        .or_else(|| statements.last())
        .map_or((1, ""), |(rows, sql)| (*rows, sql.as_str()))
}

/// `INSERT INTO audit_records (…) VALUES (…), (…), …` for `rows` rows.
///
/// PostgreSQL numbers its binds (`$1, …, $31), ($32, …`). SQLite gets
/// anonymous `?` binds, taken in order: for every numbered bind the SQLite
/// driver asks `sqlite3_bind_parameter_name`, a linear search, so a 64-row
/// statement's 1,984 numbered binds cost quadratic time, measured as a
/// quarter of the gateway's CPU under load.
fn insert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = format!("INSERT INTO audit_records ({AUDIT_RECORD_COLUMNS}) VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..RECORD_BINDS {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push_str(&format!("${}", row * RECORD_BINDS + column + 1));
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Binds one record's columns in [`AUDIT_RECORD_COLUMNS`] order.
fn bind_record<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    r: &'q AuditRecord,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(r.id.as_str())
        .bind(r.chain.as_str())
        .bind(r.seq)
        .bind(r.recorded_at)
        .bind(r.request_id.as_str())
        .bind(r.trace_id.as_str())
        .bind(r.client_ip.as_str())
        .bind(r.system.as_deref())
        .bind(r.agency.as_deref())
        .bind(r.auth_method.as_deref())
        .bind(r.officer.as_deref())
        .bind(r.purpose.as_deref())
        .bind(r.dossier.as_deref())
        .bind(r.service.as_str())
        .bind(r.version.as_str())
        .bind(r.operation.as_deref())
        .bind(r.method.as_str())
        .bind(r.subject_kind.as_deref())
        .bind(r.subject_hash.as_deref())
        .bind(r.outcome.as_str())
        .bind(r.status)
        .bind(r.error_code.as_deref())
        .bind(r.upstream_status)
        .bind(r.latency_us)
        .bind(r.request_bytes)
        .bind(r.response_bytes)
        .bind(r.request_sha256.as_str())
        .bind(r.response_sha256.as_str())
        .bind(r.reuse.as_deref())
        .bind(r.contract_violation.as_deref())
        .bind(r.prev_hash.as_str())
        .bind(r.hash.as_str())
}

/// A record from a row selected with [`AUDIT_RECORD_COLUMNS`].
pub(crate) fn audit_record_from_row(row: &AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        chain: row.try_get("chain")?,
        seq: row.try_get("seq")?,
        recorded_at: row.try_get("recorded_at")?,
        request_id: row.try_get("request_id")?,
        trace_id: row.try_get("trace_id")?,
        client_ip: row.try_get("client_ip")?,
        system: row.try_get("system")?,
        agency: row.try_get("agency")?,
        auth_method: row.try_get("auth_method")?,
        officer: row.try_get("officer")?,
        purpose: row.try_get("purpose")?,
        dossier: row.try_get("dossier")?,
        service: row.try_get("service")?,
        version: row.try_get("version")?,
        operation: row.try_get("operation")?,
        method: row.try_get("method")?,
        subject_kind: row.try_get("subject_kind")?,
        subject_hash: row.try_get("subject_hash")?,
        outcome: row.try_get("outcome")?,
        status: row.try_get("status")?,
        error_code: row.try_get("error_code")?,
        upstream_status: row.try_get("upstream_status")?,
        latency_us: row.try_get("latency_us")?,
        request_bytes: row.try_get("request_bytes")?,
        response_bytes: row.try_get("response_bytes")?,
        request_sha256: row.try_get("request_sha256")?,
        response_sha256: row.try_get("response_sha256")?,
        reuse: row.try_get("reuse")?,
        contract_violation: row.try_get("contract_violation")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// An anchor from a row selected with [`ANCHOR_COLUMNS`].
fn anchor_from_row(row: &AnyRow) -> Result<Anchor, StoreError> {
    Ok(Anchor {
        chain: row.try_get("chain")?,
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        archived_at: row.try_get("archived_at")?,
        file: row.try_get("file")?,
        file_sha256: row.try_get("file_sha256")?,
    })
}

/// A checkpoint from a row selected with [`CHECKPOINT_COLUMNS`].
pub(crate) fn checkpoint_from_row(row: &AnyRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        chain: row.try_get("chain")?,
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        signed_at: row.try_get("signed_at")?,
        key_id: row.try_get("key_id")?,
        public_key: row.try_get("public_key")?,
        signature: row.try_get("signature")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statements_number_their_binds_and_split_batches() {
        assert_eq!(
            AUDIT_RECORD_COLUMNS.split(',').count(),
            RECORD_BINDS,
            "one bind per column"
        );
        let two = insert_sql(Backend::Postgres, 2);
        assert!(two.contains("$32), ($33,"), "{two}");
        assert!(two.ends_with("$64)"));
        let two = insert_sql(Backend::Sqlite, 2);
        assert_eq!(two.matches('?').count(), 2 * RECORD_BINDS, "{two}");
        assert!(!two.contains('$'), "{two}");
        assert_eq!(insert_statement(Backend::Sqlite, 300).0, 64);
        assert_eq!(insert_statement(Backend::Postgres, 63).0, 32);
        assert_eq!(insert_statement(Backend::Sqlite, 1).0, 1);
        // A batch of 100 goes as 64 + 32 + 4.
        let mut rest = 100;
        let mut sizes = Vec::new();
        while rest > 0 {
            let (rows, _) = insert_statement(Backend::Postgres, rest);
            sizes.push(rows);
            rest -= rows;
        }
        assert_eq!(sizes, [64, 32, 4]);
    }
}
