//! Rows of the admin-change log (`admin_changes`, migration 0005): appended
//! inside the transaction of the change they describe, read page by page.
//!
//! The chain and its encoding are [`crate::audit::admin_changes`]'s; here are
//! only the queries. Appending reads the chain head, so a writer must hold
//! the registry lock (`registry::lock_registry`) before it starts a
//! [`ChangeLog`]: the lock makes writers on every node take turns, and the
//! primary key on `seq` refuses a fork should one ever slip through.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::audit::GENESIS_HASH;
use crate::audit::admin_changes::{AdminAction, AdminChange, NewAdminChange};

/// The columns of `admin_changes`, in schema order, for SELECT and INSERT.
const COLUMNS: &str = "seq, changed_at, actor, action, entity, before, after, prev_hash, hash";

/// Longest actor accepted: a prefix and a username with room to spare.
const MAX_ACTOR_BYTES: usize = 256;

/// The entries of one transaction, chained onto the head the transaction found.
pub(super) struct ChangeLog {
    /// Who makes the changes.
    actor: String,
    /// When, unix ms: one instant for the whole transaction.
    changed_at: i64,
    /// The seq of the last entry, 0 before the first.
    head_seq: i64,
    /// The hash of the last entry, [`GENESIS_HASH`] before the first.
    head_hash: String,
}

impl ChangeLog {
    /// Reads the chain head; the caller holds the registry lock, so no other
    /// writer can append until this transaction ends.
    pub(super) async fn start(
        conn: &mut AnyConnection,
        actor: &str,
        changed_at: i64,
    ) -> Result<ChangeLog, StoreError> {
        check_actor(actor)?;
        let head = sqlx::query("SELECT seq, hash FROM admin_changes ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
        let (head_seq, head_hash) = match head {
            Some(row) => (row.try_get("seq")?, row.try_get("hash")?),
            None => (0, GENESIS_HASH.to_string()),
        };
        Ok(ChangeLog {
            actor: actor.to_string(),
            changed_at,
            head_seq,
            head_hash,
        })
    }

    /// Appends the change of `entity` from `before` to `after` (definitions
    /// in clear; they are redacted before writing).
    pub(super) async fn append(
        &mut self,
        conn: &mut AnyConnection,
        action: AdminAction,
        entity: String,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<(), StoreError> {
        let new = NewAdminChange::new(self.changed_at, &self.actor, action, entity, before, after);
        let change = AdminChange::seal(new, self.head_seq + 1, self.head_hash.clone());
        let sql = format!(
            "INSERT INTO admin_changes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        sqlx::query(&sql)
            .bind(change.seq)
            .bind(change.changed_at)
            .bind(change.actor)
            .bind(change.action)
            .bind(change.entity)
            .bind(change.before)
            .bind(change.after)
            .bind(change.prev_hash)
            .bind(change.hash.clone())
            .execute(&mut *conn)
            .await?;
        self.head_seq = change.seq;
        self.head_hash = change.hash;
        Ok(())
    }
}

/// Refuses an actor the log could not attribute a change to: empty, longer
/// than [`MAX_ACTOR_BYTES`], or holding control characters that would forge
/// line breaks in whatever displays it.
fn check_actor(actor: &str) -> Result<(), StoreError> {
    let detail = if actor.trim().is_empty() {
        "is empty: every change must name who made it".to_string()
    } else if actor.len() > MAX_ACTOR_BYTES {
        format!("is longer than {MAX_ACTOR_BYTES} bytes")
    } else if actor.chars().any(char::is_control) {
        "holds control characters".to_string()
    } else {
        return Ok(());
    };
    Err(StoreError::Invalid {
        what: "actor".to_string(),
        detail,
    })
}

impl Store {
    /// Logs a change that lives outside the store's tables (a node's
    /// maintenance mode) as one entry of its own transaction. Definitions are
    /// in clear; they are redacted before writing.
    pub async fn log_admin_change(
        &self,
        actor: &str,
        action: AdminAction,
        entity: String,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // The registry lock orders this entry in the admin-change chain.
        super::registry::lock_registry(&mut tx).await?;
        ChangeLog::start(&mut tx, actor, super::registry::now_millis())
            .await?
            .append(&mut tx, action, entity, before, after)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` admin-change entries with seq above `after_seq`, by seq.
    pub async fn admin_changes(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AdminChange>, StoreError> {
        // A negative LIMIT means "no limit" to SQLite and is an error to PostgreSQL.
        let limit = limit.max(0);
        let sql =
            format!("SELECT {COLUMNS} FROM admin_changes WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(&sql)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(admin_change_from_row).collect()
    }
}

/// An entry from a row selected with [`COLUMNS`], exactly as stored.
fn admin_change_from_row(row: &AnyRow) -> Result<AdminChange, StoreError> {
    Ok(AdminChange {
        seq: row.try_get("seq")?,
        changed_at: row.try_get("changed_at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        entity: row.try_get("entity")?,
        before: row.try_get("before")?,
        after: row.try_get("after")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_checked() {
        for good in ["cli:root", "admin:quantri", "demo", "cli:Nguyễn"] {
            assert!(check_actor(good).is_ok(), "{good}");
        }
        for bad in ["", "  ", "cli:a\nb", &"a".repeat(MAX_ACTOR_BYTES + 1)] {
            assert!(
                matches!(check_actor(bad), Err(StoreError::Invalid { .. })),
                "{bad:?}"
            );
        }
    }
}
