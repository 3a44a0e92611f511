//! Liveness, readiness and the registry view.

use crate::admin::accounts::Role;
use crate::admin::auth::{AdminCaller, require};
use crate::admin::error::AdminError;
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

/// `/readyz`: the store answers, a snapshot is loaded, the audit writer is
/// alive with room in its queue, and the node is not in maintenance.
pub async fn readyz(State(state): State<NodeState>) -> (StatusCode, Json<Value>) {
    let store_ok = matches!(
        tokio::time::timeout(Duration::from_secs(1), state.store.ping()).await,
        Ok(Ok(()))
    );
    let snapshot = state.snapshot.current();
    let snapshot_ok = snapshot.version >= 0;
    let audit = &state.pipeline.audit;
    // Nine tenths full: the node is about to refuse with AUDIT_UNAVAILABLE, so
    // let the load balancer send new callers elsewhere while it drains.
    let audit_check = if audit.is_closed() {
        "stopped"
    } else if audit.queue_depth().saturating_mul(10) >= audit.queue_capacity().saturating_mul(9) {
        "saturated"
    } else {
        "ok"
    };
    let maintenance = state.pipeline.maintenance.is_on();
    let ready = store_ok && snapshot_ok && audit_check == "ok" && !maintenance;
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "store": if store_ok { "ok" } else { "unreachable" },
            "snapshot": if snapshot_ok { "loaded" } else { "missing" },
            "audit": audit_check,
            "maintenance": if maintenance { "on" } else { "off" },
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

/// `/admin/v1/registry`: what the node routes on now (province admins and operators).
pub async fn registry(
    caller: AdminCaller,
    State(state): State<NodeState>,
) -> Result<Json<Value>, AdminError> {
    require(&caller, &[Role::ProvinceAdmin, Role::Operator])?;
    let snapshot = state.snapshot.current();
    Ok(Json(json!({
        "version": snapshot.version,
        "routes": snapshot.route_count(),
        "registry": redacted(&snapshot.data),
    })))
}

/// The registry without credential material: hashes of secrets are not for display.
fn redacted(data: &crate::registry::model::RegistryData) -> Value {
    let mut value = serde_json::to_value(data).unwrap_or(Value::Null);
    if let Some(credentials) = value.get_mut("credentials").and_then(Value::as_array_mut) {
        for c in credentials {
            for secret in ["secret_hash", "key_hash"] {
                if let Some(obj) = c.as_object_mut()
                    && obj.contains_key(secret)
                {
                    obj.insert(secret.into(), Value::String("***".into()));
                }
            }
        }
    }
    value
}
