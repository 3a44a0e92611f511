//! The data-plane request pipeline: named stages, composed in one place.
//!
//! ```text
//! accept → route → authenticate → authorize → limit → reuse → invoke → minimize → record → respond
//! ```
//!
//! Each stage is a small function in its own module with its own tests. A
//! stage fails with a [`GatewayError`]; `respond` turns the outcome into the
//! response, through the one error mapping in [`crate::problem`]. Services
//! served by the gateway itself (the reuse service) take the reuse stage's
//! own path instead of invoke.

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
use crate::audit::checkpoint::AuditSigner;
use crate::audit::record::{Outcome, Subject, SubjectKind};
use crate::audit::subject::SubjectKey;
use crate::audit::writer::AuditWriter;
use crate::limits::{PriorityGate, RateLimiter};
use crate::maintenance::Maintenance;
use crate::metrics::Metrics;
use crate::problem::GatewayError;
use crate::registry::model::Plan;
use crate::registry::snapshot::SnapshotHandle;
use crate::reuse::ReuseStore;
use crate::reuse::service::{self as reuse_service, ServiceCall};
use crate::telemetry::{ExchangeFinished, UpstreamCallFinished};
use crate::traces;
use crate::upstream::{RouteAdapter, Upstreams};
use accept::Exchange;
use authenticate::AuthMethod;
use authorize::Purpose;
use axum::body::Body;
use axum::response::Response;
use http::Request;
use lgsp_adapters::CallContext;
use lgsp_contracts::ErrorCode;
use reuse::Plan as ReusePlan;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{Instrument, Span};

/// What every request shares: the snapshot to route on, the credentials
/// verifier, the limiters and the adapters to call.
pub struct Pipeline {
    /// The current registry snapshot.
    pub snapshot: SnapshotHandle,
    /// The node's adapters: pooled clients, breakers, upstream identities.
    pub upstreams: Arc<Upstreams>,
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
    /// The group-commit writer of the audit log.
    pub audit: AuditWriter,
    /// The keyed hash for data subjects.
    pub subject_key: Arc<SubjectKey>,
    /// Responses up to this size are hashed into their record before they leave.
    pub hash_limit: u64,
    /// The node's metrics and service health, counted where exchanges finish.
    pub metrics: Arc<Metrics>,
    /// Maintenance mode, checked before routing.
    pub maintenance: Arc<Maintenance>,
    /// The once-only reuse store.
    pub reuse: ReuseStore,
    /// The gateway's audit key, which also signs write-back receipts.
    pub signer: Arc<AuditSigner>,
}

/// What the stages learned about an exchange, for the record stage.
#[derive(Debug, Default, Clone)]
pub struct Trail {
    /// `slug/version`, once routed.
    pub route: Option<String>,
    /// Service slug as requested (`-` when the path named none).
    pub service: String,
    /// Version as requested.
    pub version: String,
    /// HTTP method.
    pub method: String,
    /// The matched operation template.
    pub operation: Option<String>,
    /// The consumer system, once authenticated.
    pub system: Option<String>,
    /// Its agency code.
    pub agency: Option<String>,
    /// How it authenticated.
    pub auth_method: Option<AuthMethod>,
    /// `X-LGSP-Purpose`.
    pub purpose: Option<String>,
    /// `X-LGSP-User`.
    pub officer: Option<String>,
    /// `X-LGSP-Dossier`.
    pub dossier: Option<String>,
    /// The data subject, keyed-hashed.
    pub subject: Option<Subject>,
    /// The problem code, for refusals and failures.
    pub error_code: Option<ErrorCode>,
    /// The error behind it, for the operator's log.
    pub error: Option<String>,
    /// The upstream's status when it answered with an error.
    pub upstream_status: Option<u16>,
    /// The contract and offending pointers, when the answer broke its contract.
    pub contract_violation: Option<String>,
    /// `hit`, `miss` or `bypass` when the reuse stage took part.
    pub reuse: Option<&'static str>,
}

impl Trail {
    /// What is known before any stage runs: method, the requested service and version, the purpose headers.
    fn start(request: &Request<Body>) -> Trail {
        let mut segments = request
            .uri()
            .path()
            .strip_prefix("/api/")
            .unwrap_or("")
            .split('/');
        let mut segment = || {
            segments
                .next()
                .filter(|s| {
                    !s.is_empty()
                        && s.len() <= 64
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                })
                .unwrap_or("-")
                .to_string()
        };
        let (service, version) = (segment(), segment());
        let purpose = Purpose::from_request(request);
        Trail {
            service,
            version,
            method: request.method().as_str().to_string(),
            purpose: purpose.code,
            officer: purpose.user,
            dossier: purpose.dossier,
            ..Trail::default()
        }
    }

    /// Notes how the stages ended.
    fn finish(&mut self, outcome: &Result<Response, GatewayError>) {
        if let Err(error) = outcome {
            self.error_code = Some(error.code());
            self.error = Some(error.to_string());
            match error {
                GatewayError::Upstream(e) => self.upstream_status = e.upstream_status(),
                GatewayError::ContractViolation(described) => {
                    self.contract_violation = Some(described.clone());
                }
                _ => {}
            }
        }
    }

    /// Allowed, refused by a control, or failed on the way.
    pub fn outcome(&self) -> Outcome {
        match self.error_code {
            None => Outcome::Allowed,
            Some(
                ErrorCode::ContractViolation
                | ErrorCode::UpstreamTimeout
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::UpstreamError
                | ErrorCode::InternalError,
            ) => Outcome::Failed,
            Some(_) => Outcome::Refused,
        }
    }
}

impl Pipeline {
    /// Runs one data-plane request through every stage, inside the exchange's span.
    pub async fn handle(self: Arc<Self>, client: SocketAddr, request: Request<Body>) -> Response {
        let (mut exchange, request) = accept::accept(client, request);
        let span = traces::exchange_span(&mut exchange, request.headers());
        let response = self
            .exchange(&exchange, request, &span)
            .instrument(span.clone())
            .await;
        traces::record_status(&span, &exchange.trace, response.status().as_u16());
        response
    }

    async fn exchange(
        self: Arc<Self>,
        exchange: &Exchange,
        request: Request<Body>,
        span: &Span,
    ) -> Response {
        // Before routing, so a draining node does no work at all for the request.
        if let Some(refusal) = self.maintenance.refusal() {
            return self.refuse_unrouted(exchange, refusal);
        }
        if let Err(error) = traces::stage(&exchange.trace, "accept")
            .in_scope(|| accept::check_limits(&self.accept, &request))
        {
            return self.refuse_unrouted(exchange, error);
        }
        let (parts, body) = request.into_parts();
        let (body, tally) = evidence::tally_request(body);
        let request = Request::from_parts(parts, body);
        let mut trail = Trail::start(&request);
        let outcome =
            match tokio::time::timeout(self.deadline, self.stages(exchange, request, &mut trail))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(GatewayError::Deadline(self.deadline)),
            };
        trail.finish(&outcome);
        traces::record_trail(span, &exchange.trace, &trail);
        let response = traces::stage(&exchange.trace, "respond")
            .in_scope(|| respond::respond(exchange, outcome));
        record::record(
            &self.audit,
            &self.metrics,
            self.hash_limit,
            exchange,
            &trail,
            &tally,
            response,
        )
        .instrument(traces::stage(&exchange.trace, "record"))
        .await
    }

    async fn stages(
        &self,
        exchange: &Exchange,
        request: Request<Body>,
        trail: &mut Trail,
    ) -> Result<Response, GatewayError> {
        let snapshot = self.snapshot.current();
        let mut routed = traces::stage(&exchange.trace, "route")
            .in_scope(|| route::route(&snapshot, request.method(), request.uri()))?;
        trail.route = Some(routed.route.key.clone());
        trail.operation = routed.operation.clone();
        trail.subject = self.subject_of(&routed);

        let caller = traces::stage(&exchange.trace, "authenticate").in_scope(|| {
            authenticate::authenticate(
                &snapshot.consumers,
                &self.verifier,
                &request,
                exchange.client.ip(),
            )
        })?;
        trail.system = Some(caller.slug().to_string());
        trail.agency = Some(caller.system.system.agency.to_string());
        trail.auth_method = Some(caller.method);
        let purpose = Purpose::from_request(&request);
        let fields = traces::stage(&exchange.trace, "authorize").in_scope(|| {
            routed.lane = authorize::onboarding(&caller.system.system, &routed)?;
            authorize::authorize(
                &snapshot.policy,
                &snapshot.consumers,
                &caller,
                &routed,
                &purpose,
            )
        })?;
        let admission = limit::limit(
            &self.limiter,
            &self.priority,
            &snapshot.consumers,
            &self.public_plan,
            &caller,
            &routed,
        )
        .instrument(traces::stage(&exchange.trace, "limit"))
        .await?;

        let (response, fields) = match &routed.route.adapter {
            RouteAdapter::ReuseStore => {
                let (parts, body) = request.into_parts();
                let served = reuse_service::serve(
                    &self.reuse,
                    &self.signer,
                    ServiceCall {
                        snapshot: &snapshot,
                        caller: &caller,
                        purpose: &purpose,
                        routed: &routed,
                        subject: trail.subject.as_ref(),
                        method: parts.method,
                        metrics: &self.metrics,
                    },
                    body,
                )
                .instrument(traces::stage(&exchange.trace, "reuse"))
                .await?;
                trail.reuse = served.reuse;
                (served.response, served.fields)
            }
            _ => {
                let plan = traces::stage(&exchange.trace, "reuse").in_scope(|| {
                    reuse::plan(
                        &routed,
                        request.method(),
                        request.headers(),
                        trail.subject.as_ref(),
                    )
                });
                let reused = match &plan {
                    ReusePlan::Lookup(eligible) => reuse::lookup(&self.reuse, eligible)
                        .instrument(traces::stage(&exchange.trace, "reuse"))
                        .await
                        .unwrap_or_else(|e| {
                            // The source can still answer; the store's fault is logged loudly.
                            tracing::error!(event = "reuse_lookup_failed", route = %routed.route.key, error = %e);
                            None
                        }),
                    _ => None,
                };
                if plan != ReusePlan::NotEligible {
                    self.metrics.reuse_lookup(reused.is_some());
                }
                trail.reuse = plan.label(reused.is_some());
                let response = match reused {
                    Some(answer) => answer,
                    None => {
                        let answer = self
                            .call_source(exchange, &routed, &caller, &purpose, request)
                            .await?;
                        match (&plan, trail.reuse) {
                            (
                                ReusePlan::Lookup(eligible) | ReusePlan::Bypass(eligible),
                                Some(label),
                            ) => {
                                reuse::remember(
                                    &self.reuse,
                                    &routed,
                                    eligible,
                                    label,
                                    purpose.dossier.as_deref(),
                                    answer,
                                )
                                .await
                            }
                            _ => answer,
                        }
                    }
                };
                (response, fields)
            }
        };
        if purpose.dossier.is_some() && trail.reuse.is_some() && response.status().is_success() {
            self.metrics.dossier_item(
                caller.system.system.agency.as_str(),
                routed.route.service.slug.as_str(),
                trail.reuse == Some("hit"),
            );
        }
        // The priority slot covers the upstream call, not the client's download.
        drop(admission.permit);
        let mut response = minimize::minimize(&fields, response)
            .instrument(traces::stage(&exchange.trace, "minimize"))
            .await?;
        response.headers_mut().extend(admission.headers);
        response
            .headers_mut()
            .extend(routed.route.lifecycle_headers.clone());
        if routed.lane == route::Lane::Sandbox {
            // Trial answers come from simulators; the consumer must not mistake them for data.
            response
                .headers_mut()
                .insert("x-lgsp-sandbox", http::HeaderValue::from_static("true"));
        }
        Ok(response)
    }

    /// Calls the service's authoritative source through its adapter.
    async fn call_source(
        &self,
        exchange: &Exchange,
        routed: &route::Routed,
        caller: &authenticate::Caller,
        purpose: &Purpose,
        request: Request<Body>,
    ) -> Result<Response, GatewayError> {
        let started = tokio::time::Instant::now();
        let context = CallContext {
            request_id: exchange.request_id.clone(),
            consumer_system: caller.slug().to_string(),
            consumer_agency: caller.system.system.agency.to_string(),
            officer: purpose.user.clone(),
            purpose: purpose.code.clone(),
            dossier: purpose.dossier.clone(),
        };
        let invoked = invoke::invoke(self.scheme, exchange, routed, context, request)
            .instrument(traces::stage(&exchange.trace, "invoke"))
            .await;
        UpstreamCallFinished {
            route: &routed.route.key,
            elapsed: started.elapsed(),
            error: invoked.as_ref().err(),
        }
        .emit(&self.metrics);
        invoked
    }

    /// Answers a request refused before routing. It gets no audit record (the
    /// audit covers requests that reach the route stage) but is logged and
    /// counted like every exchange, with no service.
    fn refuse_unrouted(&self, exchange: &Exchange, error: GatewayError) -> Response {
        let outcome = Err(error);
        let mut trail = Trail::default();
        trail.finish(&outcome);
        let response = respond::respond(exchange, outcome);
        ExchangeFinished {
            request_id: &exchange.request_id,
            trace_id: &exchange.trace.trace_id,
            route: None,
            system: None,
            agency: None,
            purpose: None,
            status: response.status().as_u16(),
            code: trail.error_code,
            error: trail.error.as_deref(),
            outcome: trail.outcome(),
            elapsed: exchange.started.elapsed(),
            request_bytes: 0,
            response_bytes: http_body::Body::size_hint(response.body())
                .exact()
                .unwrap_or(0),
        }
        .emit(&self.metrics);
        response
    }

    /// The data subject named in the path, keyed-hashed at once so the clear
    /// identifier never leaves this function.
    fn subject_of(&self, routed: &route::Routed) -> Option<Subject> {
        routed.params.iter().find_map(|(name, value)| {
            let kind = match name.as_str() {
                "soDinhDanh" | "soCccd" => SubjectKind::PersonalId,
                "maDoanhNghiep" => SubjectKind::Enterprise,
                _ => return None,
            };
            Some(Subject {
                kind,
                hash: self.subject_key.hash(kind, value),
            })
        })
    }
}
