//! Maintenance mode: an operator takes a node out of service so that load
//! balancers drain it. While it is on, every data-plane request is answered
//! `503 MAINTENANCE` with `Retry-After` before routing (so it leaves no audit
//! record: the audit covers requests that reach the route stage), and
//! `/readyz` fails on both listeners. `/healthz` stays 200: the process is
//! alive, only out of rotation.
//!
//! The mode is per node and in memory: a restarted node starts in service.
//! Each switch is written to the admin-change log before it takes effect,
//! so a switch that could not be logged does not happen.

use crate::admin::accounts::Role;
use crate::admin::auth::{AdminCaller, require};
use crate::admin::error::AdminError;
use crate::audit::AdminAction;
use crate::problem::GatewayError;
use crate::server::NodeState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Longest reason accepted, in characters: it is shown to every caller.
pub const MAX_REASON_CHARS: usize = 500;

/// Whether this node is in maintenance, read on every data-plane request.
#[derive(Debug)]
pub struct Maintenance {
    /// The node, as the admin-change log names it.
    node: String,
    /// The hot-path check: one relaxed load.
    on: AtomicBool,
    /// Who switched it, when and why.
    status: Mutex<MaintenanceStatus>,
    /// Orders switches, so the log and the state agree on the last one.
    switching: tokio::sync::Mutex<()>,
}

/// The state of maintenance mode, as `GET /admin/v1/maintenance` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MaintenanceStatus {
    /// Whether data-plane requests are refused.
    pub enabled: bool,
    /// What callers are told, if the operator said.
    pub reason: Option<String>,
    /// When it was last switched (RFC 3339, +07:00), if ever since start.
    pub since: Option<String>,
    /// The account that last switched it.
    pub by: Option<String>,
    /// This node's id (its audit chain id).
    pub node: String,
}

/// The body of `PUT /admin/v1/maintenance`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceRequest {
    /// On or off.
    pub enabled: bool,
    /// Shown to callers in the problem's `detail`.
    #[serde(default)]
    pub reason: Option<String>,
}

impl Maintenance {
    /// A node in service, named `node` in the admin-change log.
    pub fn new(node: impl Into<String>) -> Maintenance {
        let node = node.into();
        Maintenance {
            status: Mutex::new(MaintenanceStatus {
                node: node.clone(),
                ..MaintenanceStatus::default()
            }),
            node,
            on: AtomicBool::new(false),
            switching: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether data-plane requests are refused now.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// The refusal for a data-plane request, when maintenance is on.
    pub fn refusal(&self) -> Option<GatewayError> {
        if !self.is_on() {
            return None;
        }
        Some(GatewayError::Maintenance(self.status().reason))
    }

    /// The current state.
    pub fn status(&self) -> MaintenanceStatus {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MaintenanceStatus> {
        // A poisoned lock means a panic mid-assignment of plain data; it is still valid.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the mode; `changed_by` names the account, `at_ms` the time.
    fn set(&self, enabled: bool, reason: Option<String>, changed_by: &str, at_ms: i64) {
        let mut status = self.lock();
        status.enabled = enabled;
        status.reason = reason;
        status.since = Some(crate::admin::timestamps::format_rfc3339(
            at_ms,
            crate::admin::timestamps::VIETNAM_OFFSET_MINUTES,
        ));
        status.by = Some(changed_by.to_string());
        self.on.store(enabled, Ordering::Relaxed);
    }
}

/// `GET /admin/v1/maintenance`: the node's mode, for operators and province admins.
pub async fn get(
    caller: AdminCaller,
    State(state): State<NodeState>,
) -> Result<Json<MaintenanceStatus>, AdminError> {
    require(&caller, &[Role::Operator, Role::ProvinceAdmin])?;
    Ok(Json(state.pipeline.maintenance.status()))
}

/// `PUT /admin/v1/maintenance` with `{"enabled": true, "reason": "…"}`:
/// switches the mode after logging the switch in the admin-change log.
pub async fn put(
    caller: AdminCaller,
    State(state): State<NodeState>,
    body: Result<Json<MaintenanceRequest>, JsonRejection>,
) -> Result<Json<MaintenanceStatus>, AdminError> {
    require(&caller, &[Role::Operator, Role::ProvinceAdmin])?;
    let Json(request) = body.map_err(|e| {
        AdminError::InvalidRequest(format!(
            "maintenance takes a JSON object {{\"enabled\": true|false, \"reason\": \"…\"}}: {}",
            e.body_text()
        ))
    })?;
    let reason = request
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if let Some(reason) = &reason {
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(AdminError::InvalidRequest(format!(
                "reason must be at most {MAX_REASON_CHARS} characters"
            )));
        }
        if reason.chars().any(char::is_control) {
            return Err(AdminError::InvalidRequest(
                "reason must be one line without control characters".into(),
            ));
        }
    }
    let maintenance = &state.pipeline.maintenance;
    let _turn = maintenance.switching.lock().await;
    let before = maintenance.status();
    if before.enabled == request.enabled && before.reason == reason {
        return Ok(Json(before));
    }
    let view =
        |enabled: bool, reason: &Option<String>| json!({ "enabled": enabled, "reason": reason });
    let actor = format!("admin:{}", caller.username);
    state
        .store
        .log_admin_change(
            &actor,
            AdminAction::SetMaintenance,
            format!("node {}", maintenance.node),
            Some(&view(before.enabled, &before.reason)),
            Some(&view(request.enabled, &reason)),
        )
        .await?;
    let now = crate::audit::now_millis();
    maintenance.set(request.enabled, reason.clone(), &caller.username, now);
    MaintenanceSwitched {
        node: &maintenance.node,
        enabled: request.enabled,
        reason: reason.as_deref(),
        by: &caller.username,
    }
    .emit();
    Ok(Json(maintenance.status()))
}

/// An operator switched maintenance mode.
#[derive(Debug)]
pub struct MaintenanceSwitched<'a> {
    /// This node.
    pub node: &'a str,
    /// On or off now.
    pub enabled: bool,
    /// The reason given.
    pub reason: Option<&'a str>,
    /// The account.
    pub by: &'a str,
}

impl MaintenanceSwitched<'_> {
    /// Logs the event (the `lgsp_maintenance_enabled` gauge reads the mode itself).
    pub fn emit(&self) {
        tracing::warn!(
            event = "maintenance_switched",
            node = self.node,
            enabled = self.enabled,
            reason = self.reason.unwrap_or("-"),
            by = self.by,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_while_on() {
        let m = Maintenance::new("node-a");
        assert!(m.refusal().is_none());
        m.set(true, Some("nâng cấp".into()), "vanhanh", 0);
        let refusal = m.refusal().expect("refused");
        assert_eq!(refusal.code(), lgsp_contracts::ErrorCode::Maintenance);
        assert!(refusal.to_string().ends_with(": nâng cấp"));
        assert_eq!(m.status().by.as_deref(), Some("vanhanh"));
        m.set(false, None, "vanhanh", 1);
        assert!(m.refusal().is_none());
        assert!(!m.status().enabled);
    }
}
