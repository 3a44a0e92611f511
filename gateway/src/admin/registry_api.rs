//! The registry half of the admin API (`/admin/v1/…`): agencies, systems and
//! their onboarding, credentials, services with their specs and lifecycle,
//! subscriptions and plans, the policy bundle, admin accounts, the
//! admin-change log and V-APEX publications.
//!
//! Every change goes through [`Store::apply_publishing`] (or one of the
//! store's single-purpose changes), so it is validated like a file applied
//! with `lgsp apply`, written with its admin-change log entry and its V-APEX
//! outbox row in one transaction, and then built into this node's snapshot
//! before the answer leaves; other nodes follow within a second.
//!
//! Roles: province admins change the registry; operators read it; commune
//! officers see their own agency's systems, their usage and subscriptions,
//! read the catalogue and request subscriptions; auditors see none of it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use lgsp_contracts::{AgencyCode, Slug};
use lgsp_policies::{PolicySet, SecurityLevel};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::accounts::{Role, create_user};
use super::auth::{AdminCaller, require};
use super::error::AdminError;
use crate::access::secrets::{generate_api_key, generate_secret, hash_api_key, hash_secret};
use crate::audit::now_millis;
use crate::catalogue::import::{ImportRequest, service_from_spec};
use crate::catalogue::search::CatalogueQuery;
use crate::registry::model::{
    Agency, Credential, CredentialKind, OnboardingStage, OnboardingStep, Plan, PolicyBundle,
    RegistryData, Service, ServiceState, Subscription, SubscriptionState, System,
};
use crate::server::NodeState;
use crate::store::publications::OutboxRow;
use crate::store::{ApplyReport, StoreError};

/// Who changes the registry.
const GOVERN: &[Role] = &[Role::ProvinceAdmin];
/// Who reads the whole registry.
const READ: &[Role] = &[Role::ProvinceAdmin, Role::Operator];
/// Who reads the catalogue of services.
const CATALOGUE: &[Role] = &[Role::ProvinceAdmin, Role::Operator, Role::CommuneOfficer];

type Answer<T> = Result<Json<T>, AdminError>;
type Created<T> = Result<(StatusCode, Json<T>), AdminError>;

/// The registry routes of the admin listener.
pub fn registry_routes() -> Router<NodeState> {
    Router::new()
        .route("/admin/v1/agencies", get(list_agencies).post(create_agency))
        .route("/admin/v1/agencies/{code}", get(get_agency).put(put_agency))
        .route("/admin/v1/systems", get(list_systems).post(create_system))
        .route("/admin/v1/systems/{slug}", get(get_system).put(put_system))
        .route(
            "/admin/v1/systems/{slug}/onboarding",
            post(advance_onboarding),
        )
        .route("/admin/v1/systems/{slug}/usage", get(system_usage))
        .route(
            "/admin/v1/systems/{slug}/credentials",
            post(issue_credential),
        )
        .route("/admin/v1/credentials/{id}/rotate", post(rotate_credential))
        .route("/admin/v1/credentials/{id}/revoke", post(revoke_credential))
        .route(
            "/admin/v1/services",
            get(search_services).post(create_service),
        )
        .route("/admin/v1/services/import", post(import_service))
        .route(
            "/admin/v1/services/{slug}/{version}",
            get(get_service).put(put_service),
        )
        .route(
            "/admin/v1/services/{slug}/{version}/lifecycle",
            post(change_lifecycle),
        )
        .route(
            "/admin/v1/services/{slug}/{version}/descriptor",
            get(descriptor),
        )
        .route(
            "/admin/v1/subscriptions",
            get(list_subscriptions).post(request_subscription),
        )
        .route(
            "/admin/v1/subscriptions/{system}/{service}/approve",
            post(approve_subscription),
        )
        .route(
            "/admin/v1/subscriptions/{system}/{service}/reject",
            post(reject_subscription),
        )
        .route(
            "/admin/v1/subscriptions/{system}/{service}/revoke",
            post(revoke_subscription),
        )
        .route(
            "/admin/v1/subscriptions/{system}/{service}/plan",
            put(set_plan),
        )
        .route("/admin/v1/policy", get(get_policy).put(put_policy))
        .route(
            "/admin/v1/accounts",
            get(list_accounts).post(create_account),
        )
        .route(
            "/admin/v1/accounts/{username}/disable",
            post(disable_account),
        )
        .route("/admin/v1/accounts/{username}/enable", post(enable_account))
        .route("/admin/v1/changes", get(admin_changes))
        .route("/admin/v1/publications", get(publications))
}

fn actor(caller: &AdminCaller) -> String {
    format!("admin:{}", caller.username)
}

/// A store refusal as the admin API answers it; store faults stay internal.
fn refusal(error: StoreError) -> AdminError {
    match error {
        StoreError::Invalid { what, detail } => {
            AdminError::InvalidRequest(format!("{what}: {detail}"))
        }
        StoreError::Conflict { what, detail } => AdminError::Conflict(format!("{what}: {detail}")),
        StoreError::Nonconforming { findings, .. } => AdminError::Nonconforming(findings),
        other => AdminError::Store(other),
    }
}

/// Applies `desired` as `caller`, publishing when V-APEX is configured, then
/// builds this node's snapshot so the caller reads its own change.
async fn commit(
    state: &NodeState,
    caller: &AdminCaller,
    desired: RegistryData,
) -> Result<ApplyReport, AdminError> {
    crate::apply::validate(&desired)
        .map_err(|(what, problem)| AdminError::InvalidRequest(format!("{what}: {problem}")))?;
    let publishing = state.config.vapex.as_ref().map(|_| &*state.describer);
    let report = state
        .store
        .apply_publishing(&desired, &actor(caller), publishing)
        .await
        .map_err(refusal)?;
    caught_up(state).await?;
    Ok(report)
}

async fn caught_up(state: &NodeState) -> Result<(), AdminError> {
    state.reloader.catch_up().await.map(|_| ()).map_err(|e| {
        AdminError::Internal(format!(
            "the change is stored but the snapshot did not rebuild: {e}"
        ))
    })
}

/// One entity as a registry declaration of its own.
trait Declared {
    fn into_registry(self) -> RegistryData;
}

macro_rules! declared_as {
    ($($entity:ty => $field:ident),* $(,)?) => {$(
        impl Declared for $entity {
            fn into_registry(self) -> RegistryData {
                RegistryData { $field: vec![self], ..Default::default() }
            }
        }
    )*};
}

declared_as!(Agency => agencies, System => systems, Service => services, Credential => credentials, Subscription => subscriptions);

impl Declared for PolicyBundle {
    fn into_registry(self) -> RegistryData {
        RegistryData {
            policy: Some(self),
            ..Default::default()
        }
    }
}

fn declared(entity: impl Declared) -> RegistryData {
    entity.into_registry()
}

fn registry(state: &NodeState) -> std::sync::Arc<crate::registry::snapshot::Snapshot> {
    state.snapshot.current()
}

fn parse_json<T: for<'de> Deserialize<'de>>(value: Value, what: &str) -> Result<T, AdminError> {
    serde_json::from_value(value).map_err(|e| AdminError::InvalidRequest(format!("{what}: {e}")))
}

/// The commune officer may only touch systems of its own agency.
fn own_system(caller: &AdminCaller, system: &System) -> Result<(), AdminError> {
    if caller.role == Role::CommuneOfficer
        && caller.agency.as_deref() != Some(system.agency.as_str())
    {
        return Err(AdminError::Forbidden(format!(
            "system {} belongs to another agency; a commune officer sees its own agency's systems only",
            system.slug
        )));
    }
    Ok(())
}

fn find_system(state: &NodeState, slug: &str) -> Result<System, AdminError> {
    registry(state)
        .data
        .systems
        .iter()
        .find(|s| s.slug.as_str() == slug)
        .cloned()
        .ok_or_else(|| AdminError::NotFound(format!("no system is registered as {slug}")))
}

fn find_service(state: &NodeState, slug: &str, version: &str) -> Result<Service, AdminError> {
    registry(state)
        .data
        .services
        .iter()
        .find(|s| s.slug.as_str() == slug && s.version == version)
        .cloned()
        .ok_or_else(|| {
            AdminError::NotFound(format!("no service is registered as {slug}/{version}"))
        })
}

fn find_subscription(
    state: &NodeState,
    system: &str,
    service: &str,
) -> Result<Subscription, AdminError> {
    registry(state)
        .data
        .subscriptions
        .iter()
        .find(|s| s.system.as_str() == system && s.service.as_str() == service)
        .cloned()
        .ok_or_else(|| {
            AdminError::NotFound(format!("system {system} has no subscription to {service}"))
        })
}

// ---- agencies ----------------------------------------------------------

/// Every agency.
#[utoipa::path(get, path = "/admin/v1/agencies", tag = "agencies",
    responses((status = 200, body = [Agency])), security(("session" = [])))]
async fn list_agencies(State(state): State<NodeState>, caller: AdminCaller) -> Answer<Vec<Agency>> {
    require(&caller, CATALOGUE)?;
    Ok(Json(registry(&state).data.agencies.clone()))
}

/// One agency.
#[utoipa::path(get, path = "/admin/v1/agencies/{code}", tag = "agencies",
    params(("code" = String, Path, description = "Electronic identifier code")),
    responses((status = 200, body = Agency), (status = 404)), security(("session" = [])))]
async fn get_agency(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(code): Path<String>,
) -> Answer<Agency> {
    require(&caller, CATALOGUE)?;
    registry(&state)
        .data
        .agencies
        .iter()
        .find(|a| a.code.as_str() == code)
        .cloned()
        .map(Json)
        .ok_or_else(|| AdminError::NotFound(format!("no agency has the code {code}")))
}

/// Registers an agency; its code must be new.
#[utoipa::path(post, path = "/admin/v1/agencies", tag = "agencies", request_body = Agency,
    responses((status = 201, body = Agency), (status = 409)), security(("session" = [])))]
async fn create_agency(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Json(body): Json<Value>,
) -> Created<Agency> {
    require(&caller, GOVERN)?;
    let agency: Agency = parse_json(body, "agency")?;
    if registry(&state)
        .data
        .agencies
        .iter()
        .any(|a| a.code == agency.code)
    {
        return Err(AdminError::Conflict(format!(
            "agency {} is already registered; PUT /admin/v1/agencies/{} changes it",
            agency.code, agency.code
        )));
    }
    commit(&state, &caller, declared(agency.clone())).await?;
    Ok((StatusCode::CREATED, Json(agency)))
}

/// Creates or replaces an agency.
#[utoipa::path(put, path = "/admin/v1/agencies/{code}", tag = "agencies", request_body = Agency,
    params(("code" = String, Path)), responses((status = 200, body = Agency)), security(("session" = [])))]
async fn put_agency(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(code): Path<String>,
    Json(body): Json<Value>,
) -> Answer<Agency> {
    require(&caller, GOVERN)?;
    let agency: Agency = parse_json(body, "agency")?;
    if agency.code.as_str() != code {
        return Err(AdminError::InvalidRequest(format!(
            "the body's code {} differs from the path's {code}",
            agency.code
        )));
    }
    commit(&state, &caller, declared(agency.clone())).await?;
    Ok(Json(agency))
}

// ---- systems and onboarding -------------------------------------------

/// A new consumer system; it starts its onboarding as `registered`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSystem {
    /// Stable slug.
    pub slug: String,
    /// Owning agency code.
    pub agency: String,
    /// Display name.
    pub name: String,
    /// Certified security level (1–5).
    #[serde(default)]
    pub security_level: Option<u8>,
    /// Addresses or CIDR blocks it may call from; empty means any.
    #[serde(default)]
    pub ip_allow: Vec<String>,
}

/// A system with its credentials (no secrets) and subscriptions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SystemView {
    /// The system.
    pub system: System,
    /// Its credentials; hashes are not shown.
    pub credentials: Vec<CredentialView>,
    /// Its subscriptions.
    pub subscriptions: Vec<Subscription>,
}

/// A credential as the admin API shows it: never its hash.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    /// Credential id.
    pub id: String,
    /// `client_secret`, `api_key` or `certificate`.
    pub kind: &'static str,
    /// The OAuth2 client id, for client credentials.
    pub client_id: Option<String>,
    /// The certificate fingerprint, for mTLS.
    pub fingerprint: Option<String>,
    /// Whether it no longer authenticates.
    pub revoked: bool,
}

impl From<&Credential> for CredentialView {
    fn from(c: &Credential) -> Self {
        let (kind, client_id, fingerprint) = match &c.kind {
            CredentialKind::ClientSecret { client_id, .. } => {
                ("client_secret", Some(client_id.clone()), None)
            }
            CredentialKind::ApiKey { .. } => ("api_key", None, None),
            CredentialKind::Certificate { fingerprint } => {
                ("certificate", None, Some(fingerprint.clone()))
            }
        };
        CredentialView {
            id: c.id.to_string(),
            kind,
            client_id,
            fingerprint,
            revoked: c.revoked,
        }
    }
}

/// Systems: all of them, or a commune officer's own agency's.
#[utoipa::path(get, path = "/admin/v1/systems", tag = "systems",
    responses((status = 200, body = [System])), security(("session" = [])))]
async fn list_systems(State(state): State<NodeState>, caller: AdminCaller) -> Answer<Vec<System>> {
    require(&caller, CATALOGUE)?;
    let systems = registry(&state)
        .data
        .systems
        .iter()
        .filter(|s| own_system(&caller, s).is_ok())
        .cloned()
        .collect();
    Ok(Json(systems))
}

/// Registers a consumer system at the start of its onboarding.
#[utoipa::path(post, path = "/admin/v1/systems", tag = "systems", request_body = NewSystem,
    responses((status = 201, body = System), (status = 409)), security(("session" = [])))]
async fn create_system(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Json(body): Json<Value>,
) -> Created<System> {
    require(&caller, GOVERN)?;
    let new: NewSystem = parse_json(body, "system")?;
    let slug =
        Slug::parse(&new.slug).map_err(|e| AdminError::InvalidRequest(format!("slug: {e}")))?;
    if registry(&state).data.systems.iter().any(|s| s.slug == slug) {
        return Err(AdminError::Conflict(format!(
            "system {slug} is already registered"
        )));
    }
    let system = System {
        slug,
        agency: AgencyCode::parse(&new.agency)
            .map_err(|e| AdminError::InvalidRequest(format!("agency: {e}")))?,
        name: new.name,
        security_level: match new.security_level {
            Some(level) => SecurityLevel::new(level)
                .map_err(|e| AdminError::InvalidRequest(format!("security_level: {e}")))?,
            None => SecurityLevel::default(),
        },
        ip_allow: new.ip_allow,
        onboarding: OnboardingStage::Registered,
        onboarding_log: vec![OnboardingStep {
            stage: OnboardingStage::Registered,
            by: actor(&caller),
            at_ms: now_millis(),
            note: None,
        }],
    };
    commit(&state, &caller, declared(system.clone())).await?;
    Ok((StatusCode::CREATED, Json(system)))
}

/// One system with its credentials and subscriptions.
#[utoipa::path(get, path = "/admin/v1/systems/{slug}", tag = "systems", params(("slug" = String, Path)),
    responses((status = 200, body = SystemView), (status = 404)), security(("session" = [])))]
async fn get_system(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(slug): Path<String>,
) -> Answer<SystemView> {
    require(&caller, CATALOGUE)?;
    let system = find_system(&state, &slug)?;
    own_system(&caller, &system)?;
    let snapshot = registry(&state);
    Ok(Json(SystemView {
        credentials: snapshot
            .data
            .credentials
            .iter()
            .filter(|c| c.system == system.slug)
            .map(CredentialView::from)
            .collect(),
        subscriptions: snapshot
            .data
            .subscriptions
            .iter()
            .filter(|s| s.system == system.slug)
            .cloned()
            .collect(),
        system,
    }))
}

/// What may change of a registered system; its onboarding moves by its own endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemChange {
    /// Display name.
    pub name: Option<String>,
    /// Certified security level (1–5).
    pub security_level: Option<u8>,
    /// Allowed source addresses.
    pub ip_allow: Option<Vec<String>>,
}

/// Changes a system's name, security level or allow-list.
#[utoipa::path(put, path = "/admin/v1/systems/{slug}", tag = "systems", request_body = SystemChange,
    params(("slug" = String, Path)), responses((status = 200, body = System)), security(("session" = [])))]
async fn put_system(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(slug): Path<String>,
    Json(body): Json<Value>,
) -> Answer<System> {
    require(&caller, GOVERN)?;
    let change: SystemChange = parse_json(body, "system change")?;
    let mut system = find_system(&state, &slug)?;
    if let Some(name) = change.name {
        system.name = name;
    }
    if let Some(level) = change.security_level {
        system.security_level = SecurityLevel::new(level)
            .map_err(|e| AdminError::InvalidRequest(format!("security_level: {e}")))?;
    }
    if let Some(allow) = change.ip_allow {
        system.ip_allow = allow;
    }
    commit(&state, &caller, declared(system.clone())).await?;
    Ok(Json(system))
}

/// The next onboarding stage and what was checked to reach it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardingChange {
    /// The stage to enter: the one after the current stage.
    pub stage: OnboardingStage,
    /// What was checked (required for `accepted`: the security check's reference).
    #[serde(default)]
    pub note: Option<String>,
}

/// Moves a system one onboarding stage on, if its gate holds:
/// credentials issued needs a live credential, rights granted an approved
/// subscription, accepted a successful trial call and a security-check note.
#[utoipa::path(post, path = "/admin/v1/systems/{slug}/onboarding", tag = "systems", request_body = OnboardingChange,
    params(("slug" = String, Path)), responses((status = 200, body = System), (status = 409)), security(("session" = [])))]
async fn advance_onboarding(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(slug): Path<String>,
    Json(body): Json<Value>,
) -> Answer<System> {
    require(&caller, GOVERN)?;
    let change: OnboardingChange = parse_json(body, "onboarding change")?;
    let mut system = find_system(&state, &slug)?;
    let current = system.onboarding;
    if current.next() != Some(change.stage) {
        return Err(AdminError::Conflict(format!(
            "system {slug} is at {}; the next stage is {}",
            current.as_str(),
            current
                .next()
                .map_or("none (it is live)", OnboardingStage::as_str)
        )));
    }
    let snapshot = registry(&state);
    let gate = match change.stage {
        OnboardingStage::CredentialsIssued => (!snapshot
            .data
            .credentials
            .iter()
            .any(|c| c.system == system.slug && !c.revoked))
        .then(|| {
            format!("it holds no credential: POST /admin/v1/systems/{slug}/credentials first")
        }),
        OnboardingStage::RightsGranted => (!snapshot
            .data
            .subscriptions
            .iter()
            .any(|s| s.system == system.slug && s.state == SubscriptionState::Approved))
        .then(|| "it has no approved subscription".to_string()),
        OnboardingStage::Accepted => {
            if change.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
                Some(
                    "acceptance needs a note naming the trial's result and the security check"
                        .to_string(),
                )
            } else {
                let usage = state.store.system_usage(&slug, 0).await?;
                (!usage.iter().any(|u| u.outcome == "allowed" && u.calls > 0))
                    .then(|| "the audit log shows no successful trial call yet".to_string())
            }
        }
        _ => None,
    };
    if let Some(why) = gate {
        return Err(AdminError::Conflict(format!(
            "system {slug} cannot enter {}: {}",
            change.stage.as_str(),
            why
        )));
    }
    system.onboarding = change.stage;
    system.onboarding_log.push(OnboardingStep {
        stage: change.stage,
        by: actor(&caller),
        at_ms: now_millis(),
        note: change.note,
    });
    commit(&state, &caller, declared(system.clone())).await?;
    Ok(Json(system))
}

/// How long back usage is counted.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Days back from now (default 30).
    pub days: Option<u32>,
}

/// A system's calls by service and outcome, from the audit log.
#[utoipa::path(get, path = "/admin/v1/systems/{slug}/usage", tag = "systems", params(("slug" = String, Path), UsageQuery),
    responses((status = 200, body = [crate::store::kpi::UsageRow])), security(("session" = [])))]
async fn system_usage(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(slug): Path<String>,
    Query(q): Query<UsageQuery>,
) -> Answer<Vec<crate::store::kpi::UsageRow>> {
    require(&caller, CATALOGUE)?;
    let system = find_system(&state, &slug)?;
    own_system(&caller, &system)?;
    let since = now_millis() - i64::from(q.days.unwrap_or(30)) * 86_400_000;
    Ok(Json(state.store.system_usage(&slug, since).await?))
}

// ---- credentials --------------------------------------------------------

/// What credential to issue.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// `client_secret`, `api_key` or `certificate`.
    pub kind: String,
    /// The credential's id; `<system>-<kind>-<n>` when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// For `certificate`: SHA-256 of the certificate's DER, hex.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

/// A credential just issued or rotated: the secret is shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedCredential {
    /// Credential id.
    pub id: String,
    /// The system it authenticates.
    pub system: String,
    /// OAuth2 client id, for `client_secret`.
    pub client_id: Option<String>,
    /// The client secret or API key; the gateway keeps only its hash.
    pub secret: Option<String>,
}

/// Issues a credential to a system; the secret is in the answer only.
#[utoipa::path(post, path = "/admin/v1/systems/{slug}/credentials", tag = "credentials", request_body = NewCredential,
    params(("slug" = String, Path)), responses((status = 201, body = IssuedCredential)), security(("session" = [])))]
async fn issue_credential(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(slug): Path<String>,
    Json(body): Json<Value>,
) -> Created<IssuedCredential> {
    require(&caller, GOVERN)?;
    let new: NewCredential = parse_json(body, "credential")?;
    let system = find_system(&state, &slug)?;
    let snapshot = registry(&state);
    let id = match new.id {
        Some(id) => id,
        None => {
            let n = snapshot
                .data
                .credentials
                .iter()
                .filter(|c| c.system == system.slug)
                .count()
                + 1;
            format!("{slug}-{}-{n}", new.kind.replace('_', "-"))
        }
    };
    let id = Slug::parse(&id).map_err(|e| AdminError::InvalidRequest(format!("id: {e}")))?;
    if snapshot.data.credentials.iter().any(|c| c.id == id) {
        return Err(AdminError::Conflict(format!(
            "credential {id} exists; rotate it instead"
        )));
    }
    let (kind, client_id, secret) = fresh_material(&new.kind, &id, new.fingerprint)?;
    let credential = Credential {
        id: id.clone(),
        system: system.slug.clone(),
        kind,
        revoked: false,
    };
    commit(&state, &caller, declared(credential)).await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedCredential {
            id: id.to_string(),
            system: slug,
            client_id,
            secret,
        }),
    ))
}

/// New material for a credential of `kind`: the stored kind, the client id and the secret to show once.
fn fresh_material(
    kind: &str,
    id: &Slug,
    fingerprint: Option<String>,
) -> Result<(CredentialKind, Option<String>, Option<String>), AdminError> {
    match kind {
        "client_secret" => {
            let secret = generate_secret();
            let secret_hash =
                hash_secret(&secret).map_err(|e| AdminError::Internal(e.to_string()))?;
            let client_id = id.to_string();
            Ok((
                CredentialKind::ClientSecret {
                    client_id: client_id.clone(),
                    secret_hash,
                },
                Some(client_id),
                Some(secret),
            ))
        }
        "api_key" => {
            let key = generate_api_key();
            Ok((
                CredentialKind::ApiKey {
                    key_hash: hash_api_key(&key),
                },
                None,
                Some(key),
            ))
        }
        "certificate" => {
            let fingerprint = fingerprint
                .filter(|f| f.len() == 64 && f.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| AdminError::InvalidRequest("a certificate credential needs fingerprint: the SHA-256 of its DER, 64 hex digits".into()))?;
            Ok((
                CredentialKind::Certificate {
                    fingerprint: fingerprint.to_ascii_lowercase(),
                },
                None,
                None,
            ))
        }
        other => Err(AdminError::InvalidRequest(format!(
            "kind {other:?}: use client_secret, api_key or certificate"
        ))),
    }
}

/// Replaces a credential's secret (client secret or API key); the old one stops working at once.
#[utoipa::path(post, path = "/admin/v1/credentials/{id}/rotate", tag = "credentials",
    params(("id" = String, Path)), responses((status = 200, body = IssuedCredential)), security(("session" = [])))]
async fn rotate_credential(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Answer<IssuedCredential> {
    require(&caller, GOVERN)?;
    let mut credential = registry(&state)
        .data
        .credentials
        .iter()
        .find(|c| c.id.as_str() == id)
        .cloned()
        .ok_or_else(|| AdminError::NotFound(format!("no credential has the id {id}")))?;
    if credential.revoked {
        return Err(AdminError::Conflict(format!(
            "credential {id} is revoked; issue a new one"
        )));
    }
    let (client_id, secret) = match &mut credential.kind {
        CredentialKind::ClientSecret {
            client_id,
            secret_hash,
        } => {
            let secret = generate_secret();
            *secret_hash = hash_secret(&secret).map_err(|e| AdminError::Internal(e.to_string()))?;
            (Some(client_id.clone()), secret)
        }
        CredentialKind::ApiKey { key_hash } => {
            let key = generate_api_key();
            *key_hash = hash_api_key(&key);
            (None, key)
        }
        CredentialKind::Certificate { .. } => {
            return Err(AdminError::Conflict(
                "a certificate is rotated by issuing the new one and revoking the old".into(),
            ));
        }
    };
    let system = credential.system.to_string();
    commit(&state, &caller, declared(credential)).await?;
    Ok(Json(IssuedCredential {
        id,
        system,
        client_id,
        secret: Some(secret),
    }))
}

/// Revokes a credential at once.
#[utoipa::path(post, path = "/admin/v1/credentials/{id}/revoke", tag = "credentials",
    params(("id" = String, Path)), responses((status = 204), (status = 404)), security(("session" = [])))]
async fn revoke_credential(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, AdminError> {
    require(&caller, GOVERN)?;
    if !state
        .store
        .revoke_credential(&id, &actor(&caller))
        .await
        .map_err(refusal)?
    {
        return Err(AdminError::NotFound(format!(
            "no credential has the id {id}"
        )));
    }
    caught_up(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- services, specs and lifecycle -------------------------------------

/// Searches the catalogue by text, agency, data class and state.
#[utoipa::path(get, path = "/admin/v1/services", tag = "services", params(CatalogueQuery),
    responses((status = 200, body = [Service])), security(("session" = [])))]
async fn search_services(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Query(query): Query<CatalogueQuery>,
) -> Answer<Vec<Service>> {
    require(&caller, CATALOGUE)?;
    Ok(Json(
        registry(&state)
            .data
            .services
            .iter()
            .filter(|s| query.matches(s))
            .cloned()
            .collect(),
    ))
}

/// Registers a service from its declaration (as in a registry file); it
/// starts as a draft unless the body says otherwise.
#[utoipa::path(post, path = "/admin/v1/services", tag = "services", request_body = Service,
    responses((status = 201, body = Service), (status = 409)), security(("session" = [])))]
async fn create_service(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Json(mut body): Json<Value>,
) -> Created<Service> {
    require(&caller, GOVERN)?;
    if let Some(map) = body.as_object_mut() {
        map.entry("state").or_insert_with(|| Value::from("draft"));
    }
    let service: Service = parse_json(body, "service")?;
    register(&state, &caller, service).await
}

async fn register(state: &NodeState, caller: &AdminCaller, service: Service) -> Created<Service> {
    if find_service(state, service.slug.as_str(), &service.version).is_ok() {
        return Err(AdminError::Conflict(format!(
            "service {}/{} is already registered; PUT changes it, a new version coexists under another version segment",
            service.slug, service.version
        )));
    }
    commit(state, caller, declared(service.clone())).await?;
    Ok((StatusCode::CREATED, Json(service)))
}

/// Registers a draft service from an OpenAPI 3 document (JSON or YAML) or a WSDL.
#[utoipa::path(post, path = "/admin/v1/services/import", tag = "services", request_body = ImportRequest,
    responses((status = 201, body = Service), (status = 400), (status = 409)), security(("session" = [])))]
async fn import_service(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Json(body): Json<Value>,
) -> Created<Service> {
    require(&caller, GOVERN)?;
    let request: ImportRequest = parse_json(body, "import")?;
    let service =
        service_from_spec(&request).map_err(|e| AdminError::InvalidRequest(e.to_string()))?;
    register(&state, &caller, service).await
}

/// One service version.
#[utoipa::path(get, path = "/admin/v1/services/{slug}/{version}", tag = "services",
    params(("slug" = String, Path), ("version" = String, Path)), responses((status = 200, body = Service), (status = 404)), security(("session" = [])))]
async fn get_service(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((slug, version)): Path<(String, String)>,
) -> Answer<Service> {
    require(&caller, CATALOGUE)?;
    Ok(Json(find_service(&state, &slug, &version)?))
}

/// Replaces a service version's declaration; its lifecycle state and days
/// are kept (they move by the lifecycle endpoint).
#[utoipa::path(put, path = "/admin/v1/services/{slug}/{version}", tag = "services", request_body = Service,
    params(("slug" = String, Path), ("version" = String, Path)), responses((status = 200, body = Service)), security(("session" = [])))]
async fn put_service(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((slug, version)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Answer<Service> {
    require(&caller, GOVERN)?;
    let stored = find_service(&state, &slug, &version)?;
    let mut service: Service = parse_json(body, "service")?;
    if service.slug.as_str() != slug || service.version != version {
        return Err(AdminError::InvalidRequest(format!(
            "the body names {}/{}, the path {slug}/{version}",
            service.slug, service.version
        )));
    }
    service.state = stored.state;
    service.deprecated_on = stored.deprecated_on;
    service.sunset_on = stored.sunset_on;
    commit(&state, &caller, declared(service.clone())).await?;
    Ok(Json(service))
}

/// A lifecycle move.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleChange {
    /// The state to enter.
    pub state: ServiceState,
    /// For `deprecated`: the retirement day (`YYYY-MM-DD`), required.
    #[serde(default)]
    pub sunset_on: Option<String>,
    /// For `deprecated`: the deprecation day; today when absent.
    #[serde(default)]
    pub deprecated_on: Option<String>,
}

/// Whether the lifecycle allows `from` → `to`.
pub fn lifecycle_allows(from: ServiceState, to: ServiceState) -> bool {
    use ServiceState::{Blocked, Deprecated, Draft, Published, Retired};
    matches!(
        (from, to),
        (Draft, Published)
            | (Draft, Retired)
            | (Published, Deprecated)
            | (Deprecated, Published)
            | (Deprecated, Retired)
            | (Draft | Published | Deprecated, Blocked)
            | (Blocked, Published | Deprecated)
    )
}

/// Moves a service version through its lifecycle: draft → published →
/// deprecated (with a sunset day) → retired, or blocked at once. With
/// V-APEX configured, the move is published through the outbox.
#[utoipa::path(post, path = "/admin/v1/services/{slug}/{version}/lifecycle", tag = "services", request_body = LifecycleChange,
    params(("slug" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = Service), (status = 409), (status = 422, description = "CONFORMANCE_FAILED: the descriptor breaks the V-APEX conventions")),
    security(("session" = [])))]
async fn change_lifecycle(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((slug, version)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Answer<Service> {
    require(&caller, GOVERN)?;
    let change: LifecycleChange = parse_json(body, "lifecycle change")?;
    let mut service = find_service(&state, &slug, &version)?;
    if !lifecycle_allows(service.state, change.state) {
        return Err(AdminError::Conflict(format!(
            "service {slug}/{version} is {}; it cannot become {}",
            service.state.as_str(),
            change.state.as_str()
        )));
    }
    if change.state == ServiceState::Deprecated {
        let Some(sunset) = change.sunset_on else {
            return Err(AdminError::InvalidRequest(
                "deprecating announces the retirement day: give sunset_on (YYYY-MM-DD)".into(),
            ));
        };
        service.sunset_on = Some(sunset);
        service.deprecated_on = Some(
            change
                .deprecated_on
                .unwrap_or_else(crate::admin::timestamps::local_today),
        );
    } else if change.state == ServiceState::Published {
        service.deprecated_on = None;
        service.sunset_on = None;
    }
    service.state = change.state;
    commit(&state, &caller, declared(service.clone())).await?;
    Ok(Json(service))
}

/// A service's V-APEX descriptor and what the conformance lint finds in it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DescriptorView {
    /// The descriptor as it would be published.
    #[schema(value_type = Object)]
    pub descriptor: Value,
    /// Every breach; empty when it conforms.
    pub findings: Vec<crate::problem::Finding>,
}

/// Previews a service's V-APEX descriptor and lints it.
#[utoipa::path(get, path = "/admin/v1/services/{slug}/{version}/descriptor", tag = "services",
    params(("slug" = String, Path), ("version" = String, Path)), responses((status = 200, body = DescriptorView)), security(("session" = [])))]
async fn descriptor(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((slug, version)): Path<(String, String)>,
) -> Answer<DescriptorView> {
    require(&caller, READ)?;
    let service = find_service(&state, &slug, &version)?;
    let snapshot = registry(&state);
    let owner = snapshot
        .data
        .agencies
        .iter()
        .find(|a| a.code == service.owner)
        .map(|a| a.name.as_str());
    let (descriptor, findings) = state.describer.linted(&service, owner);
    Ok(Json(DescriptorView {
        descriptor,
        findings,
    }))
}

// ---- subscriptions and plans ------------------------------------------

/// Filters of the subscription list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionQuery {
    /// Consumer system slug.
    pub system: Option<String>,
    /// Service slug.
    pub service: Option<String>,
    /// `requested`, `approved`, `rejected` or `revoked`.
    #[param(value_type = Option<String>)]
    pub state: Option<SubscriptionState>,
}

/// Subscriptions (a commune officer's own agency's only).
#[utoipa::path(get, path = "/admin/v1/subscriptions", tag = "subscriptions", params(SubscriptionQuery),
    responses((status = 200, body = [Subscription])), security(("session" = [])))]
async fn list_subscriptions(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Query(q): Query<SubscriptionQuery>,
) -> Answer<Vec<Subscription>> {
    require(&caller, CATALOGUE)?;
    let snapshot = registry(&state);
    let visible = |sub: &&Subscription| {
        caller.role != Role::CommuneOfficer
            || snapshot
                .data
                .systems
                .iter()
                .any(|s| s.slug == sub.system && own_system(&caller, s).is_ok())
    };
    Ok(Json(
        snapshot
            .data
            .subscriptions
            .iter()
            .filter(visible)
            .filter(|s| q.system.as_deref().is_none_or(|v| s.system.as_str() == v))
            .filter(|s| q.service.as_deref().is_none_or(|v| s.service.as_str() == v))
            .filter(|s| q.state.is_none_or(|v| s.state == v))
            .cloned()
            .collect(),
    ))
}

/// A subscription request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    /// The consumer system.
    pub system: String,
    /// The service slug (all its versions).
    pub service: String,
    /// Purpose codes it will call for.
    #[serde(default)]
    pub purposes: Vec<String>,
}

/// Requests a subscription (province admins, or commune officers for their own systems);
/// only published services accept new ones.
#[utoipa::path(post, path = "/admin/v1/subscriptions", tag = "subscriptions", request_body = SubscriptionRequest,
    responses((status = 201, body = Subscription), (status = 409)), security(("session" = [])))]
async fn request_subscription(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Json(body): Json<Value>,
) -> Created<Subscription> {
    require(&caller, &[Role::ProvinceAdmin, Role::CommuneOfficer])?;
    let request: SubscriptionRequest = parse_json(body, "subscription request")?;
    let system = find_system(&state, &request.system)?;
    own_system(&caller, &system)?;
    if let Ok(existing) = find_subscription(&state, &request.system, &request.service)
        && matches!(
            existing.state,
            SubscriptionState::Requested | SubscriptionState::Approved
        )
    {
        return Err(AdminError::Conflict(format!(
            "system {} already has a {} subscription to {}",
            request.system,
            existing.state.as_str(),
            request.service
        )));
    }
    let subscription = Subscription {
        system: system.slug,
        service: Slug::parse(&request.service)
            .map_err(|e| AdminError::InvalidRequest(format!("service: {e}")))?,
        state: SubscriptionState::Requested,
        plan: Plan::default(),
        purposes: request.purposes,
        write_back: false,
    };
    commit(&state, &caller, declared(subscription.clone())).await?;
    Ok((StatusCode::CREATED, Json(subscription)))
}

/// What an approval may set besides the state.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The rate plan granted; the default plan when absent.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// The purposes granted; those requested when absent.
    #[serde(default)]
    pub purposes: Option<Vec<String>>,
}

/// Approves a requested subscription, optionally with its plan and purposes.
#[utoipa::path(post, path = "/admin/v1/subscriptions/{system}/{service}/approve", tag = "subscriptions", request_body = Approval,
    params(("system" = String, Path), ("service" = String, Path)), responses((status = 200, body = Subscription), (status = 409)), security(("session" = [])))]
async fn approve_subscription(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((system, service)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Answer<Subscription> {
    require(&caller, GOVERN)?;
    let approval: Approval = match body {
        Some(Json(v)) => parse_json(v, "approval")?,
        None => Approval::default(),
    };
    let mut subscription = find_subscription(&state, &system, &service)?;
    if subscription.state != SubscriptionState::Requested {
        return Err(AdminError::Conflict(format!(
            "the subscription is {}; only a requested one can be approved",
            subscription.state.as_str()
        )));
    }
    subscription.state = SubscriptionState::Approved;
    if let Some(plan) = approval.plan {
        subscription.plan = plan;
    }
    if let Some(purposes) = approval.purposes {
        subscription.purposes = purposes;
    }
    commit(&state, &caller, declared(subscription.clone())).await?;
    Ok(Json(subscription))
}

async fn move_subscription(
    state: &NodeState,
    caller: &AdminCaller,
    system: &str,
    service: &str,
    from: SubscriptionState,
    to: SubscriptionState,
) -> Answer<Subscription> {
    require(caller, GOVERN)?;
    let subscription = find_subscription(state, system, service)?;
    if subscription.state != from {
        return Err(AdminError::Conflict(format!(
            "the subscription is {}; only a {} one can become {}",
            subscription.state.as_str(),
            from.as_str(),
            to.as_str()
        )));
    }
    state
        .store
        .set_subscription_state(system, service, to, &actor(caller))
        .await
        .map_err(refusal)?;
    caught_up(state).await?;
    Ok(Json(find_subscription(state, system, service)?))
}

/// Rejects a requested subscription.
#[utoipa::path(post, path = "/admin/v1/subscriptions/{system}/{service}/reject", tag = "subscriptions",
    params(("system" = String, Path), ("service" = String, Path)), responses((status = 200, body = Subscription), (status = 409)), security(("session" = [])))]
async fn reject_subscription(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((system, service)): Path<(String, String)>,
) -> Answer<Subscription> {
    move_subscription(
        &state,
        &caller,
        &system,
        &service,
        SubscriptionState::Requested,
        SubscriptionState::Rejected,
    )
    .await
}

/// Revokes an approved subscription; calls stop at once.
#[utoipa::path(post, path = "/admin/v1/subscriptions/{system}/{service}/revoke", tag = "subscriptions",
    params(("system" = String, Path), ("service" = String, Path)), responses((status = 200, body = Subscription), (status = 409)), security(("session" = [])))]
async fn revoke_subscription(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((system, service)): Path<(String, String)>,
) -> Answer<Subscription> {
    move_subscription(
        &state,
        &caller,
        &system,
        &service,
        SubscriptionState::Approved,
        SubscriptionState::Revoked,
    )
    .await
}

/// Sets a subscription's rate plan (rate, burst, daily quota).
#[utoipa::path(put, path = "/admin/v1/subscriptions/{system}/{service}/plan", tag = "plans", request_body = Plan,
    params(("system" = String, Path), ("service" = String, Path)), responses((status = 200, body = Subscription)), security(("session" = [])))]
async fn set_plan(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path((system, service)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Answer<Subscription> {
    require(&caller, GOVERN)?;
    let plan: Plan = parse_json(body, "plan")?;
    if !(plan.rate_per_second.is_finite() && plan.rate_per_second > 0.0) || plan.burst == 0 {
        return Err(AdminError::InvalidRequest(
            "a plan needs rate_per_second > 0 and burst ≥ 1".into(),
        ));
    }
    let mut subscription = find_subscription(&state, &system, &service)?;
    subscription.plan = plan;
    commit(&state, &caller, declared(subscription.clone())).await?;
    Ok(Json(subscription))
}

// ---- policy -------------------------------------------------------------

/// The policy bundle in force (`null` when the built-in default is).
#[utoipa::path(get, path = "/admin/v1/policy", tag = "policies", responses((status = 200, body = Option<PolicyBundle>)), security(("session" = [])))]
async fn get_policy(
    State(state): State<NodeState>,
    caller: AdminCaller,
) -> Answer<Option<PolicyBundle>> {
    require(&caller, READ)?;
    Ok(Json(registry(&state).data.policy.clone()))
}

/// Puts a policy bundle in force; it must compile.
#[utoipa::path(put, path = "/admin/v1/policy", tag = "policies", request_body = PolicyBundle,
    responses((status = 200, body = PolicyBundle), (status = 400)), security(("session" = [])))]
async fn put_policy(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Json(body): Json<Value>,
) -> Answer<PolicyBundle> {
    require(&caller, GOVERN)?;
    let bundle: PolicyBundle = parse_json(body, "policy")?;
    PolicySet::parse(&bundle.version, &bundle.cedar, &bundle.fields).map_err(|e| {
        AdminError::InvalidRequest(format!("the policy bundle does not compile: {e}"))
    })?;
    commit(&state, &caller, declared(bundle.clone())).await?;
    Ok(Json(bundle))
}

// ---- accounts -----------------------------------------------------------

/// An admin-plane account as listed (never its password hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// Sign-in name.
    pub username: String,
    /// `province_admin`, `operator`, `auditor` or `commune_officer`.
    pub role: String,
    /// A commune officer's agency.
    pub agency: Option<String>,
    /// Whether it can no longer sign in.
    pub disabled: bool,
}

/// A new admin-plane account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Sign-in name.
    pub username: String,
    /// `province_admin`, `operator`, `auditor` or `commune_officer`.
    pub role: String,
    /// Required for a commune officer: its agency code.
    #[serde(default)]
    pub agency: Option<String>,
    /// At least 12 characters; stored as argon2id.
    pub password: String,
}

/// Every admin-plane account.
#[utoipa::path(get, path = "/admin/v1/accounts", tag = "accounts", responses((status = 200, body = [AccountView])), security(("session" = [])))]
async fn list_accounts(
    State(state): State<NodeState>,
    caller: AdminCaller,
) -> Answer<Vec<AccountView>> {
    require(&caller, GOVERN)?;
    Ok(Json(
        state
            .store
            .accounts()
            .await?
            .into_iter()
            .map(|a| AccountView {
                username: a.username,
                role: a.role.to_string(),
                agency: a.agency,
                disabled: a.disabled,
            })
            .collect(),
    ))
}

/// Creates an admin-plane account.
#[utoipa::path(post, path = "/admin/v1/accounts", tag = "accounts", request_body = NewAccount,
    responses((status = 201, body = AccountView)), security(("session" = [])))]
async fn create_account(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Json(body): Json<Value>,
) -> Created<AccountView> {
    require(&caller, GOVERN)?;
    let new: NewAccount = parse_json(body, "account")?;
    let role: Role = new
        .role
        .parse()
        .map_err(|e: super::accounts::UnknownRole| AdminError::InvalidRequest(e.to_string()))?;
    if state.store.account(&new.username).await?.is_some() {
        return Err(AdminError::Conflict(format!(
            "account {} exists",
            new.username
        )));
    }
    create_user(
        &state.store,
        &new.username,
        role,
        new.agency.as_deref(),
        &new.password,
        &actor(&caller),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountView {
            username: new.username,
            role: role.to_string(),
            agency: new.agency,
            disabled: false,
        }),
    ))
}

async fn set_disabled(
    state: &NodeState,
    caller: &AdminCaller,
    username: &str,
    disabled: bool,
) -> Result<StatusCode, AdminError> {
    require(caller, GOVERN)?;
    if username == caller.username && disabled {
        return Err(AdminError::Conflict(
            "an admin cannot disable its own account".into(),
        ));
    }
    if !state
        .store
        .set_account_disabled(username, disabled, &actor(caller))
        .await?
    {
        return Err(AdminError::NotFound(format!(
            "no account is named {username}"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Disables an account; its sessions end at once.
#[utoipa::path(post, path = "/admin/v1/accounts/{username}/disable", tag = "accounts",
    params(("username" = String, Path)), responses((status = 204), (status = 404)), security(("session" = [])))]
async fn disable_account(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(username): Path<String>,
) -> Result<StatusCode, AdminError> {
    set_disabled(&state, &caller, &username, true).await
}

/// Enables a disabled account.
#[utoipa::path(post, path = "/admin/v1/accounts/{username}/enable", tag = "accounts",
    params(("username" = String, Path)), responses((status = 204), (status = 404)), security(("session" = [])))]
async fn enable_account(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Path(username): Path<String>,
) -> Result<StatusCode, AdminError> {
    set_disabled(&state, &caller, &username, false).await
}

// ---- change log and publications --------------------------------------

/// Paging of the admin-change log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Entries after this sequence number (default 0).
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// The admin-change log: who changed what, before and after (secrets redacted).
#[utoipa::path(get, path = "/admin/v1/changes", tag = "changes", params(ChangesQuery),
    responses((status = 200, body = [Object])), security(("session" = [])))]
async fn admin_changes(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Query(q): Query<ChangesQuery>,
) -> Answer<Value> {
    require(&caller, &[Role::ProvinceAdmin, Role::Auditor])?;
    let changes = state
        .store
        .admin_changes(q.after.unwrap_or(0), q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    serde_json::to_value(changes)
        .map(Json)
        .map_err(|e| AdminError::Internal(e.to_string()))
}

/// Filter of the publication list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicationQuery {
    /// Service slug.
    pub service: Option<String>,
}

/// V-APEX publications, newest first.
#[utoipa::path(get, path = "/admin/v1/publications", tag = "publications", params(PublicationQuery),
    responses((status = 200, body = [OutboxRow])), security(("session" = [])))]
async fn publications(
    State(state): State<NodeState>,
    caller: AdminCaller,
    Query(q): Query<PublicationQuery>,
) -> Answer<Vec<OutboxRow>> {
    require(&caller, READ)?;
    let rows = state.store.publications(q.service.as_deref(), 200).await?;
    Ok(Json(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_moves_forward_and_blocks_from_anywhere_live() {
        use ServiceState::*;
        assert!(lifecycle_allows(Draft, Published));
        assert!(lifecycle_allows(Published, Deprecated));
        assert!(lifecycle_allows(Deprecated, Retired));
        assert!(lifecycle_allows(Published, Blocked));
        assert!(lifecycle_allows(Blocked, Published));
        assert!(
            !lifecycle_allows(Published, Retired),
            "retiring needs a deprecation first"
        );
        assert!(!lifecycle_allows(Retired, Published), "retired is final");
        assert!(!lifecycle_allows(Retired, Blocked));
        assert!(!lifecycle_allows(Published, Draft));
    }
}
