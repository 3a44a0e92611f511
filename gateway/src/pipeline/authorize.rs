//! Stage 4, authorize: the policy engine decides from the caller's system,
//! the service, the subscription and the stated purpose and officer. The
//! decision needs no I/O: everything comes from the snapshot and two headers.

use super::authenticate::Caller;
use super::route::{Lane, Routed};
use crate::problem::GatewayError;
use crate::registry::consumers::Consumers;
use crate::registry::model::{OnboardingStage, SubscriptionState, System};
use crate::upstream::RouteAdapter;
use axum::body::Body;
use http::Request;
use lgsp_policies::{AccessRequest, Decision, FieldFilter, PolicyEngine, SubscriptionView};

/// Why the consumer needs the data: the purpose code and the officer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purpose {
    /// `X-LGSP-Purpose`: an administrative-procedure code or purpose category.
    pub code: Option<String>,
    /// `X-LGSP-User`: the officer or end user asking.
    pub user: Option<String>,
    /// `X-LGSP-Dossier`: the dossier (mã hồ sơ), if any.
    pub dossier: Option<String>,
}

impl Purpose {
    /// Reads the purpose headers; blank or non-text values count as absent.
    pub fn from_request(request: &Request<Body>) -> Purpose {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.len() <= 128)
                .map(str::to_string)
        };
        Purpose {
            code: header("x-lgsp-purpose"),
            user: header("x-lgsp-user"),
            dossier: header("x-lgsp-dossier"),
        }
    }
}

/// Decides which upstream the caller's onboarding stage lets it reach: live
/// systems the production upstream, systems in trial or accepted the
/// service's sandbox, earlier stages nothing.
pub fn onboarding(system: &System, routed: &Routed) -> Result<Lane, GatewayError> {
    let stage = system.onboarding;
    if stage == OnboardingStage::Live {
        return Ok(Lane::Production);
    }
    if !stage.may_call() {
        return Err(GatewayError::OnboardingIncomplete(format!(
            "system {} is at onboarding stage {}; calls open at the trial stage, against sandboxes",
            system.slug,
            stage.as_str()
        )));
    }
    let service = &routed.route.service;
    if matches!(routed.route.adapter, RouteAdapter::ReuseStore)
        || routed.route.sandbox_base.is_none()
    {
        return Err(GatewayError::OnboardingIncomplete(format!(
            "system {} is at onboarding stage {} and reaches sandboxes only; service {} has no sandbox",
            system.slug,
            stage.as_str(),
            service.slug
        )));
    }
    Ok(Lane::Sandbox)
}

/// Decides whether the caller may invoke the route; on success, which fields it may see.
pub fn authorize(
    engine: &PolicyEngine,
    consumers: &Consumers,
    caller: &Caller,
    routed: &Routed,
    purpose: &Purpose,
) -> Result<FieldFilter, GatewayError> {
    let system = &caller.system.system;
    let service = &routed.route.service;
    let subscription = consumers.subscription(system.slug.as_str(), service.slug.as_str());
    let request = AccessRequest {
        system: system.slug.as_str(),
        agency: system.agency.as_str(),
        system_level: system.security_level.get(),
        service: service.slug.as_str(),
        service_level: service.security_level.get(),
        data_class: service.data_class,
        personal_data: service.personal_data,
        subscription: subscription.map(|s| SubscriptionView {
            approved: s.state == SubscriptionState::Approved,
            purposes: &s.purposes,
        }),
        purpose: purpose.code.as_deref(),
        user_present: purpose.user.is_some(),
    };
    match engine.decide(&request) {
        Decision::Allow { fields } => Ok(fields),
        Decision::Deny { code, reason, .. } => Err(GatewayError::Denied {
            code,
            detail: reason,
        }),
    }
}
