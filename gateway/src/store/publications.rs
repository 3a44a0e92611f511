//! The V-APEX publication outbox: rows written with the lifecycle change they
//! announce (by [`Store::apply_publishing`]), then delivered, retried and
//! read back by the publisher (`crate::publication`).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};

/// Where an outbox row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublicationState {
    /// Not yet accepted by V-APEX (never sent, or the last attempt failed).
    Pending,
    /// Accepted by V-APEX, not yet reported published.
    Submitted,
    /// V-APEX lists it.
    Published,
    /// V-APEX refused it for good; not retried.
    Rejected,
}

impl PublicationState {
    /// The `state` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationState::Pending => "pending",
            PublicationState::Submitted => "submitted",
            PublicationState::Published => "published",
            PublicationState::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Result<PublicationState, StoreError> {
        [
            PublicationState::Pending,
            PublicationState::Submitted,
            PublicationState::Published,
            PublicationState::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| StoreError::Corrupt {
            what: "vapex_outbox row".into(),
            detail: format!("unknown state {text:?}"),
        })
    }
}

/// One publication of a service version's descriptor to V-APEX; the
/// admin API lists these rows as they are, without the descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OutboxRow {
    /// Row id, also the Idempotency-Key sent to V-APEX.
    pub id: String,
    /// Service slug.
    pub service: String,
    /// Service version (`v1`).
    pub version: String,
    /// The owner agency's code.
    pub agency: String,
    /// `publish`, `deprecate`, `retire` or `block`.
    pub event: String,
    /// The descriptor, as JSON text.
    #[serde(skip)]
    pub descriptor: String,
    /// Where the row stands.
    pub state: PublicationState,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Not before this time (unix ms) is the row tried again.
    pub next_attempt_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// V-APEX's id of the publication, once accepted.
    pub publication_id: Option<String>,
    /// When the change was committed (unix ms).
    pub created_at: i64,
    /// When the row last changed (unix ms).
    pub updated_at: i64,
}

const COLUMNS: &str = "id, service, version, agency, event, descriptor, state, attempts, \
     next_attempt_at, last_error, publication_id, created_at, updated_at";

fn decode(row: &AnyRow) -> Result<OutboxRow, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(OutboxRow {
        id: row.try_get("id")?,
        service: row.try_get("service")?,
        version: row.try_get("version")?,
        agency: row.try_get("agency")?,
        event: row.try_get("event")?,
        descriptor: row.try_get("descriptor")?,
        state: PublicationState::parse(&state)?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        publication_id: row.try_get("publication_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Queues a publication inside the caller's transaction.
pub(super) async fn enqueue(conn: &mut AnyConnection, row: &OutboxRow) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO vapex_outbox ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(row.id.clone())
    .bind(row.service.clone())
    .bind(row.version.clone())
    .bind(row.agency.clone())
    .bind(row.event.clone())
    .bind(row.descriptor.clone())
    .bind(row.state.as_str())
    .bind(row.attempts)
    .bind(row.next_attempt_at)
    .bind(row.last_error.clone())
    .bind(row.publication_id.clone())
    .bind(row.created_at)
    .bind(row.updated_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// How a delivery attempt ended, as the publisher writes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The row's new state.
    pub state: PublicationState,
    /// Attempts including this one.
    pub attempts: i64,
    /// When to look at the row again.
    pub next_attempt_at: i64,
    /// Why it failed, if it did.
    pub last_error: Option<String>,
    /// V-APEX's id, once known.
    pub publication_id: Option<String>,
}

impl Store {
    /// The newest outbox rows, optionally of one service slug, newest first.
    pub async fn publications(
        &self,
        service: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows =
            match service {
                Some(slug) => {
                    sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM vapex_outbox WHERE service = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                    ))
                    .bind(slug.to_string())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                }
                None => sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM vapex_outbox ORDER BY created_at DESC, id DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
            };
        rows.iter().map(decode).collect()
    }

    /// Rows still to deliver or read back, oldest first. Rows of one service
    /// version must go out in this order; the publisher keeps to it.
    pub async fn open_publications(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM vapex_outbox WHERE state IN ('pending', 'submitted') \
             ORDER BY created_at, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(decode).collect()
    }

    /// Takes the row for `until` (unix ms) if no other node took it since it
    /// was read; true when this node may deliver it.
    pub async fn lease_publication(&self, row: &OutboxRow, until: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE vapex_outbox SET next_attempt_at = $1 \
             WHERE id = $2 AND next_attempt_at = $3 AND state = $4",
        )
        .bind(until)
        .bind(row.id.clone())
        .bind(row.next_attempt_at)
        .bind(row.state.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes back how a delivery or read-back ended.
    pub async fn record_delivery(
        &self,
        id: &str,
        outcome: &DeliveryOutcome,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE vapex_outbox SET state = $1, attempts = $2, next_attempt_at = $3, \
             last_error = $4, publication_id = COALESCE($5, publication_id), updated_at = $6 \
             WHERE id = $7",
        )
        .bind(outcome.state.as_str())
        .bind(outcome.attempts)
        .bind(outcome.next_attempt_at)
        .bind(outcome.last_error.clone())
        .bind(outcome.publication_id.clone())
        .bind(now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
