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
pub mod invoke;
pub mod limit;
pub mod minimize;
pub mod record;
pub mod respond;
pub mod reuse;
pub mod route;

use crate::problem::GatewayError;
use crate::registry::snapshot::SnapshotHandle;
use accept::Exchange;
use axum::body::Body;
use axum::response::Response;
use http::Request;
use lgsp_adapters::rest::RestAdapter;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What every request shares: the snapshot to route on and the adapters to call.
pub struct Pipeline {
    /// The current registry snapshot.
    pub snapshot: SnapshotHandle,
    /// The REST adapter with its pooled clients and breakers.
    pub rest: RestAdapter,
    /// Accept-stage limits.
    pub accept: accept::AcceptLimits,
    /// Upper bound on one exchange.
    pub deadline: Duration,
}

impl Pipeline {
    /// Runs one data-plane request through every stage.
    pub async fn handle(self: Arc<Self>, client: SocketAddr, request: Request<Body>) -> Response {
        let (exchange, request) = accept::accept(client, request);
        let outcome =
            match tokio::time::timeout(self.deadline, self.stages(&exchange, request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err((None, GatewayError::Deadline(self.deadline))),
            };
        let (route_key, outcome) = match outcome {
            Ok((key, response)) => (Some(key), Ok(response)),
            Err((key, error)) => (key, Err(error)),
        };
        record::record(&exchange, route_key.as_deref(), &outcome);
        respond::respond(&exchange, outcome)
    }

    async fn stages(
        &self,
        exchange: &Exchange,
        request: Request<Body>,
    ) -> Result<(String, Response), (Option<String>, GatewayError)> {
        accept::check_limits(&self.accept, &request).map_err(|e| (None, e))?;
        let snapshot = self.snapshot.current();
        let routed =
            route::route(&snapshot, request.method(), request.uri()).map_err(|e| (None, e))?;
        let key = Some(routed.route.key.clone());
        let fail = |e| (key.clone(), e);

        let caller = authenticate::authenticate(&request).map_err(fail)?;
        authorize::authorize(&caller, &routed).map_err(fail)?;
        limit::limit(&caller, &routed).map_err(fail)?;
        let response = match reuse::lookup(&caller, &routed) {
            Some(answer) => answer,
            None => invoke::invoke(&self.rest, exchange, &routed, request)
                .await
                .map_err(fail)?,
        };
        let response = minimize::minimize(&caller, &routed, response);
        Ok((routed.route.key.clone(), response))
    }
}
