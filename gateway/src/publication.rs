//! The V-APEX publisher: delivers the outbox rows that lifecycle changes
//! committed, in order per service version, with retries and backoff, and
//! reads back each publication's status. Every node runs one; a row is
//! leased before delivery, and its id is the Idempotency-Key, so a row that
//! two nodes (or a retry after a lost answer) deliver is one publication.

use crate::audit::now_millis;
use crate::config::VapexConfig;
use crate::store::Store;
use crate::store::publications::{DeliveryOutcome, OutboxRow, PublicationState};
use lgsp_adapters::vapex::{
    Publication, PublicationEvent, PublicationStatus, PublishError, VapexPublisher, VapexSettings,
};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// First retry delay; it doubles per attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long a node holds a row it is delivering.
const LEASE: Duration = Duration::from_secs(30);
/// How long to wait before reading back a publication V-APEX still processes.
const STATUS_POLL: Duration = Duration::from_millis(500);
/// Rows looked at per round.
const BATCH: i64 = 64;

/// Why the publisher cannot start.
#[derive(Debug, thiserror::Error)]
#[error("[vapex] url {url:?} is not a URL: {reason}")]
pub struct PublisherConfigError {
    url: String,
    reason: String,
}

/// Starts the publisher loop; it stops when `stop` turns true.
pub fn spawn(
    store: Store,
    config: &VapexConfig,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, PublisherConfigError> {
    let base_url = config
        .url
        .parse()
        .map_err(|e: http::uri::InvalidUri| PublisherConfigError {
            url: config.url.clone(),
            reason: e.to_string(),
        })?;
    let client = VapexPublisher::new(VapexSettings {
        base_url,
        token: config.token.clone(),
        timeout: Duration::from_millis(config.timeout_ms),
    });
    let interval = Duration::from_millis(config.poll_interval_ms.max(10));
    Ok(tokio::spawn(run(store, client, interval, stop)))
}

async fn run(
    store: Store,
    client: VapexPublisher,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = deliver_due(&store, &client).await {
            tracing::warn!(event = "vapex_outbox_unreadable", error = %e);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One round: for each service version, its oldest open row, if due.
pub async fn deliver_due(
    store: &Store,
    client: &VapexPublisher,
) -> Result<(), crate::store::StoreError> {
    let now = now_millis();
    let mut seen = HashSet::new();
    for row in store.open_publications(BATCH).await? {
        // A later event must not be sent before an earlier one of the same
        // version was accepted; accepted ones only wait for their read-back.
        if row.state == PublicationState::Pending
            && !seen.insert((row.service.clone(), row.version.clone()))
        {
            continue;
        }
        if row.next_attempt_at > now {
            continue;
        }
        if !store
            .lease_publication(&row, now + LEASE.as_millis() as i64)
            .await?
        {
            continue;
        }
        let outcome = attempt(client, &row, now_millis()).await;
        PublicationAttempted {
            row: &row,
            outcome: &outcome,
        }
        .emit();
        store
            .record_delivery(&row.id, &outcome, now_millis())
            .await?;
    }
    Ok(())
}

/// Submits a pending row or reads back a submitted one.
async fn attempt(client: &VapexPublisher, row: &OutboxRow, now: i64) -> DeliveryOutcome {
    let attempts = row.attempts + 1;
    let result = match (row.state, &row.publication_id) {
        (PublicationState::Submitted, Some(id)) => {
            client.status(id).await.map(|status| (id.clone(), status))
        }
        _ => submit(client, row).await,
    };
    match result {
        Ok((id, PublicationStatus::Published)) => DeliveryOutcome {
            state: PublicationState::Published,
            attempts,
            next_attempt_at: now,
            last_error: None,
            publication_id: Some(id),
        },
        Ok((id, PublicationStatus::Pending)) => DeliveryOutcome {
            state: PublicationState::Submitted,
            attempts,
            next_attempt_at: now + STATUS_POLL.as_millis() as i64,
            last_error: None,
            publication_id: Some(id),
        },
        Ok((id, PublicationStatus::Rejected { reason })) => DeliveryOutcome {
            state: PublicationState::Rejected,
            attempts,
            next_attempt_at: now,
            last_error: Some(reason),
            publication_id: Some(id),
        },
        Err(PublishError::Transient(reason)) => DeliveryOutcome {
            state: row.state,
            attempts,
            next_attempt_at: now + backoff(attempts).as_millis() as i64,
            last_error: Some(reason),
            publication_id: row.publication_id.clone(),
        },
        // A wrong token is the province's configuration, not the
        // descriptor's fault: keep the row and retry slowly until it is fixed.
        Err(PublishError::Rejected {
            status: 401 | 403,
            detail,
        }) => DeliveryOutcome {
            state: row.state,
            attempts,
            next_attempt_at: now + MAX_BACKOFF.as_millis() as i64,
            last_error: Some(format!("V-APEX refused the province's token: {detail}")),
            publication_id: row.publication_id.clone(),
        },
        Err(PublishError::Rejected { status, detail }) => DeliveryOutcome {
            state: PublicationState::Rejected,
            attempts,
            next_attempt_at: now,
            last_error: Some(format!("V-APEX answered {status}: {detail}")),
            publication_id: row.publication_id.clone(),
        },
    }
}

async fn submit(
    client: &VapexPublisher,
    row: &OutboxRow,
) -> Result<(String, PublicationStatus), PublishError> {
    let event = PublicationEvent::parse(&row.event).ok_or_else(|| PublishError::Rejected {
        status: 0,
        detail: format!("unknown event {:?} in the outbox", row.event),
    })?;
    let descriptor = serde_json::from_str(&row.descriptor).map_err(|e| PublishError::Rejected {
        status: 0,
        detail: format!("the stored descriptor is not JSON: {e}"),
    })?;
    let submitted = client
        .submit(&Publication {
            idempotency_key: row.id.clone(),
            agency_code: row.agency.clone(),
            service_code: row.service.clone(),
            version: row.version.clone(),
            event,
            descriptor,
        })
        .await?;
    Ok((submitted.publication_id, submitted.status))
}

/// Exponential backoff with the attempt count, capped; a little jitter
/// keeps nodes from retrying in step.
fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    let base = FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(MAX_BACKOFF);
    let jitter = Duration::from_millis(rand::random::<u64>() % (base.as_millis() as u64 / 4 + 1));
    base + jitter
}

/// A delivery attempt ended: logged once, here.
struct PublicationAttempted<'a> {
    row: &'a OutboxRow,
    outcome: &'a DeliveryOutcome,
}

impl PublicationAttempted<'_> {
    fn emit(&self) {
        let row = self.row;
        let outcome = self.outcome;
        match &outcome.last_error {
            Some(error) => tracing::warn!(
                event = "vapex_publication_attempted",
                id = %row.id, service = %row.service, version = %row.version,
                publication_event = %row.event, state = outcome.state.as_str(),
                attempts = outcome.attempts, error = %error
            ),
            None => tracing::info!(
                event = "vapex_publication_attempted",
                id = %row.id, service = %row.service, version = %row.version,
                publication_event = %row.event, state = outcome.state.as_str(),
                attempts = outcome.attempts
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let first = backoff(1);
        assert!(
            first >= FIRST_BACKOFF && first <= FIRST_BACKOFF * 5 / 4 + Duration::from_millis(1)
        );
        let third = backoff(3);
        assert!(third >= FIRST_BACKOFF * 4, "{third:?}");
        assert!(backoff(40) <= MAX_BACKOFF * 5 / 4 + Duration::from_millis(1));
        assert!(backoff(40) >= MAX_BACKOFF);
    }
}
