//! The data-plane request pipeline: named stages, composed in one place.
//!
//! ```text
//! accept → route → authenticate → authorize → limit → reuse → invoke → minimize → record → respond
//! ```
//!
//! Each stage is a small function in its own module with its own tests. A
//! stage fails with a [`GatewayError`]; `respond` turns the outcome into the
//! response, through the one error mapping in [`crate::problem`]. Stages that
//! later issues fill (authenticate, authorize, limit, reuse, minimize,
//! record) are explicit pass-throughs today and say so in their code.

pub mod accept;
pub mod authenticate;
pub mod authorize;
pub mod evidence;
pub mod invoke;
pub mod limit;
pub mod minimize;
pub mod record;
pub mod respond;
pub mod reuse;
pub mod route;

use crate::access::tokens::TokenVerifier;
use crate::limits::{PriorityGate, RateLimiter};
use crate::problem::GatewayError;
use crate::registry::model::Plan;
use crate::registry::snapshot::SnapshotHandle;
use accept::Exchange;
use authorize::Purpose;
use axum::body::Body;
use axum::response::Response;
use http::Request;
use lgsp_adapters::rest::RestAdapter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What every request shares: the snapshot to route on, the credentials
/// verifier, the limiters and the adapters to call.
pub struct Pipeline {
    /// The current registry snapshot.
    pub snapshot: SnapshotHandle,
    /// The REST adapter with its pooled clients and breakers.
    pub rest: RestAdapter,
    /// Accept-stage limits.
    pub accept: accept::AcceptLimits,
    /// Upper bound on one exchange.
    pub deadline: Duration,
    /// Verifies bearer tokens, with its cache.
    pub verifier: Arc<TokenVerifier>,
    /// Rate plans and quotas.
    pub limiter: RateLimiter,
    /// Priority classes.
    pub priority: PriorityGate,
    /// The plan of callers of public services without a subscription.
    pub public_plan: Plan,
    /// `https` when the data listener runs TLS, for `Forwarded` and `X-Forwarded-Proto`.
    pub scheme: &'static str,
}

/// What the stages learned about an exchange, for the record stage.
#[derive(Debug, Default, Clone)]
pub struct Trail {
    /// `slug/version`, once routed.
    pub route: Option<String>,
    /// The consumer system, once authenticated.
    pub system: Option<String>,
    /// The stated purpose code.
    pub purpose: Option<String>,
}

impl Pipeline {
    /// Runs one data-plane request through every stage.
    pub async fn handle(self: Arc<Self>, client: SocketAddr, request: Request<Body>) -> Response {
        let (exchange, request) = accept::accept(client, request);
        let mut trail = Trail::default();
        let outcome =
            match tokio::time::timeout(self.deadline, self.stages(&exchange, request, &mut trail))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(GatewayError::Deadline(self.deadline)),
            };
        record::record(&exchange, &trail, &outcome);
        respond::respond(&exchange, outcome)
    }

    async fn stages(
        &self,
        exchange: &Exchange,
        request: Request<Body>,
        trail: &mut Trail,
    ) -> Result<Response, GatewayError> {
        accept::check_limits(&self.accept, &request)?;
        let snapshot = self.snapshot.current();
        let routed = route::route(&snapshot, request.method(), request.uri())?;
        trail.route = Some(routed.route.key.clone());

        let caller = authenticate::authenticate(
            &snapshot.consumers,
            &self.verifier,
            &request,
            exchange.client.ip(),
        )?;
        trail.system = Some(caller.slug().to_string());
        let purpose = Purpose::from_request(&request);
        trail.purpose = purpose.code.clone();
        let fields = authorize::authorize(
            &snapshot.policy,
            &snapshot.consumers,
            &caller,
            &routed,
            &purpose,
        )?;
        let admission = limit::limit(
            &self.limiter,
            &self.priority,
            &snapshot.consumers,
            &self.public_plan,
            &caller,
            &routed,
        )
        .await?;

        let response = match reuse::lookup(&caller, &routed) {
            Some(answer) => answer,
            None => invoke::invoke(&self.rest, self.scheme, exchange, &routed, request).await?,
        };
        // The priority slot covers the upstream call, not the client's download.
        drop(admission.permit);
        let mut response = minimize::minimize(&fields, response).await?;
        response.headers_mut().extend(admission.headers);
        Ok(response)
    }
}
