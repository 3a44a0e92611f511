//! Keeps the snapshot in step with the store: a change made through this
//! node is built at once, and a change made through another node arrives by
//! PostgreSQL's LISTEN/NOTIFY (within milliseconds) or, failing that, by the
//! periodic version check. Builds run off the hot path and reuse every
//! unchanged route; requests in flight keep the snapshot they loaded.

use super::snapshot::{Snapshot, SnapshotHandle};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Backend, Store, StoreError};
use crate::telemetry::SnapshotReloaded;
use crate::upstream::Upstreams;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};

/// The PostgreSQL channel a registry change is announced on (migration 0009's trigger).
pub const CHANNEL: &str = "lgsp_registry";

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored policy bundle does not compile.
    #[error("the active policy bundle does not compile: {0}")]
    Policy(#[from] lgsp_policies::PolicyError),
}

/// Loads the registry from the store and builds a snapshot.
pub async fn load(
    store: &Store,
    config: &Config,
    upstreams: &Upstreams,
    metrics: &Metrics,
) -> Result<Snapshot, ReloadError> {
    build(store, config, upstreams, metrics, None).await
}

async fn build(
    store: &Store,
    config: &Config,
    upstreams: &Upstreams,
    metrics: &Metrics,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, ReloadError> {
    let started = Instant::now();
    let mut changed = None;
    let (version, data) = match previous.filter(|p| p.version >= 0) {
        // Only the rows written since the held version are read and parsed.
        Some(previous) => {
            let (version, changes) = store.load_registry_since(previous.version).await?;
            if changes.agencies.is_empty()
                && changes.systems.is_empty()
                && changes.services.is_empty()
                && changes.credentials.is_empty()
                && changes.subscriptions.is_empty()
            {
                // A policy change, or rows written by a node that predates
                // revisions: read everything rather than guess.
                store.load_registry().await?
            } else {
                changed = Some(
                    changes
                        .services
                        .iter()
                        .map(|s| format!("{}/{}", s.slug, s.version))
                        .collect::<std::collections::HashSet<String>>(),
                );
                let mut data = previous.data.clone();
                data.merge(changes);
                (version, data)
            }
        }
        None => store.load_registry().await?,
    };
    let snapshot =
        Snapshot::build_from(previous, changed.as_ref(), version, data, config, upstreams)?;
    SnapshotReloaded {
        version,
        routes: snapshot.route_count(),
        took: started.elapsed(),
    }
    .emit(metrics);
    Ok(snapshot)
}

/// Rebuilds the node's snapshot when the store's registry version moved;
/// one build at a time, shared by the admin API and the follower.
pub struct Reloader {
    store: Store,
    config: Arc<Config>,
    handle: SnapshotHandle,
    upstreams: Arc<Upstreams>,
    metrics: Arc<Metrics>,
    building: Mutex<()>,
}

impl Reloader {
    /// A reloader swapping snapshots into `handle`.
    pub fn new(
        store: Store,
        config: Arc<Config>,
        handle: SnapshotHandle,
        upstreams: Arc<Upstreams>,
        metrics: Arc<Metrics>,
    ) -> Reloader {
        Reloader {
            store,
            config,
            handle,
            upstreams,
            metrics,
            building: Mutex::new(()),
        }
    }

    /// Builds and swaps in a snapshot if the store holds a newer registry
    /// version than the current one; true when it did.
    pub async fn catch_up(&self) -> Result<bool, ReloadError> {
        let _one_build = self.building.lock().await;
        let version = self.store.registry_version().await?;
        let current = self.handle.current();
        if version == current.version {
            return Ok(false);
        }
        let snapshot = build(
            &self.store,
            &self.config,
            &self.upstreams,
            &self.metrics,
            Some(&current),
        )
        .await?;
        self.handle.replace(snapshot);
        Ok(true)
    }

    async fn catch_up_logged(&self) {
        if let Err(e) = self.catch_up().await {
            tracing::warn!(event = "snapshot_reload_failed", error = %e);
        }
    }
}

/// Follows the store until `stop` turns true: on every notification (with
/// PostgreSQL) and at the configured interval.
pub async fn follow(
    reloader: Arc<Reloader>,
    postgres_url: Option<String>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = Duration::from_millis(reloader.config.registry.reload_interval_ms);
    let (notified, mut notifications) = tokio::sync::mpsc::channel::<()>(1);
    let listener = match (reloader.store.backend(), postgres_url) {
        (Backend::Postgres, Some(url)) => Some(tokio::spawn(listen(url, notified, stop.clone()))),
        _ => None,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            Some(()) = notifications.recv() => {}
            _ = stop.changed() => break,
        }
        reloader.catch_up_logged().await;
    }
    if let Some(listener) = listener {
        listener.abort();
    }
}

/// Listens on [`CHANNEL`], reconnecting after a lost connection; each
/// notification (and each reconnection, which may have missed some) wakes
/// the follower.
async fn listen(
    url: String,
    notified: tokio::sync::mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    let _ = notified.try_send(());
                    loop {
                        tokio::select! {
                            received = listener.recv() => match received {
                                Ok(_) => { let _ = notified.try_send(()); }
                                Err(e) => {
                                    tracing::warn!(event = "registry_listen_lost", error = %e);
                                    break;
                                }
                            },
                            _ = stop.changed() => return,
                        }
                    }
                }
                Err(e) => tracing::warn!(event = "registry_listen_failed", error = %e),
            },
            Err(e) => tracing::warn!(event = "registry_listen_failed", error = %e),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}
