//! The OpenAPI 3.1 document of the admin and auditor APIs, generated from the handlers'
//! and types' annotations (utoipa) and served at `/admin/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::registry_api as api;
use super::{audit_api, auth};

/// The admin API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "LGSP admin API",
        description = "Registry, lifecycle, onboarding and V-APEX publication of the provincial integration gateway. Sign in at POST /admin/v1/login for a bearer session; errors are RFC 9457 problems with a stable `code`.",
    ),
    paths(
        api::list_agencies, api::get_agency, api::create_agency, api::put_agency,
        api::list_systems, api::create_system, api::get_system, api::put_system,
        api::advance_onboarding, api::system_usage,
        api::issue_credential, api::rotate_credential, api::revoke_credential,
        api::search_services, api::create_service, api::import_service, api::get_service,
        api::put_service, api::change_lifecycle, api::descriptor,
        api::list_subscriptions, api::request_subscription, api::approve_subscription,
        api::reject_subscription, api::revoke_subscription, api::set_plan,
        api::get_policy, api::put_policy,
        api::list_accounts, api::create_account, api::disable_account, api::enable_account,
        api::admin_changes, api::publications,
        auth::login, auth::logout,
        audit_api::search, audit_api::record, audit_api::subject_report, audit_api::export,
        audit_api::checkpoints, audit_api::verification, audit_api::admin_changes,
    ),
    modifiers(&SessionAuth),
    tags(
        (name = "agencies", description = "Agencies by electronic identifier code"),
        (name = "systems", description = "Consumer systems and their onboarding"),
        (name = "credentials", description = "Issue, rotate and revoke credentials"),
        (name = "services", description = "Services, specs, lifecycle, catalogue search and V-APEX descriptors"),
        (name = "subscriptions", description = "Request, approve, reject and revoke"),
        (name = "plans", description = "Rate plans of subscriptions"),
        (name = "policies", description = "The policy bundle in force"),
        (name = "accounts", description = "Admin-plane accounts and roles"),
        (name = "changes", description = "The admin-change log"),
        (name = "publications", description = "Publications to V-APEX"),
        (name = "sessions", description = "Sign-in to the admin listener"),
        (name = "audit", description = "The auditor API: search, subject reports, export, checkpoints, verification"),
    )
)]
pub struct AdminApi;

/// Adds the bearer session scheme every operation names.
struct SessionAuth;

impl Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A session token from POST /admin/v1/login"))
                    .build(),
            ),
        );
    }
}

/// `GET /admin/v1/openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(AdminApi::openapi())
}
