//! Keeps the snapshot in step with the store: checks the registry version on
//! an interval and rebuilds off the hot path when it moved.

use super::snapshot::{Snapshot, SnapshotHandle};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use crate::telemetry::SnapshotReloaded;
use crate::upstream::Upstreams;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

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
    let started = Instant::now();
    let (version, data) = store.load_registry().await?;
    let snapshot = Snapshot::build(version, data, config, upstreams)?;
    SnapshotReloaded {
        version,
        routes: snapshot.route_count(),
        took: started.elapsed(),
    }
    .emit(metrics);
    Ok(snapshot)
}

/// Follows the store until `stop` turns true.
pub async fn follow(
    store: Store,
    config: Arc<Config>,
    handle: SnapshotHandle,
    upstreams: Arc<Upstreams>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = Duration::from_millis(config.registry.reload_interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        match store.registry_version().await {
            Ok(version) if version != handle.current().version => {
                match load(&store, &config, &upstreams, &metrics).await {
                    Ok(snapshot) => handle.replace(snapshot),
                    Err(e) => tracing::warn!(event = "snapshot_reload_failed", error = %e),
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(event = "snapshot_version_check_failed", error = %e),
        }
    }
}
