//! Liveness, readiness and the registry view.

use crate::server::NodeState;
use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// `/healthz`: the process is alive and serving.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `/readyz`: the store answers and a snapshot is loaded.
pub async fn readyz(State(state): State<NodeState>) -> (StatusCode, Json<Value>) {
    let store_ok = matches!(
        tokio::time::timeout(Duration::from_secs(1), state.store.ping()).await,
        Ok(Ok(()))
    );
    let snapshot = state.snapshot.current();
    let snapshot_ok = snapshot.version >= 0;
    let ready = store_ok && snapshot_ok;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "store": if store_ok { "ok" } else { "unreachable" },
            "snapshot": if snapshot_ok { "loaded" } else { "missing" },
        },
        "snapshotVersion": snapshot.version,
    });
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// `/admin/v1/registry`: what the node routes on now.
pub async fn registry(State(state): State<NodeState>) -> Json<Value> {
    let snapshot = state.snapshot.current();
    Json(json!({
        "version": snapshot.version,
        "routes": snapshot.route_count(),
        "registry": snapshot.data,
    }))
}
