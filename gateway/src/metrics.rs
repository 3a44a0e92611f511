//! The node's Prometheus metrics, served at `GET /metrics` on the admin listener.
//!
//! One [`Metrics`] is made at node start and shared as `Arc<Metrics>`. The
//! events of [`crate::telemetry`] count into it where they log, so a metric
//! and its log line cannot drift apart. Label values are bounded: route keys
//! (`slug/version`), system slugs, upstream origins, status and problem
//! codes; never a request path, so never a personal ID.
//!
//! Values that already live elsewhere (the token cache's counters, the audit
//! queue, the circuit breakers, maintenance mode) are read at scrape time by [`PipelineGauges`]
//! rather than copied on the hot path.

use crate::audit::writer::CommitObserver;
use crate::pipeline::Pipeline;
use crate::server::NodeState;
use crate::service_health::{Observation, ServiceHealth};
use crate::telemetry::ExchangeFinished;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use lgsp_adapters::rest::breaker::CircuitState;
use lgsp_contracts::ErrorCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The content type of the OpenMetrics text format, sent when the scraper asks for it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label value for "not known": no route, no system.
const NONE: &str = "-";

/// Buckets of exchange and upstream durations, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of audit commits, in seconds: a group commit takes about a millisecond.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];
/// Buckets of snapshot rebuilds, in seconds.
const RELOAD_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// A family of histograms with fixed buckets.
type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// `lgsp_requests_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    system: String,
    status: u16,
    code: &'static str,
}

/// `lgsp_request_duration_seconds`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    service: String,
    system: String,
    outcome: &'static str,
}

/// A service's label alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

/// `lgsp_upstream_errors_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    service: String,
    kind: &'static str,
}

/// `lgsp_rate_limit_refusals_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    system: String,
    service: String,
    code: &'static str,
}

/// A lookup's result.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// `lgsp_dossier_items_total`'s labels.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DossierItemLabels {
    agency: String,
    service: String,
    source: &'static str,
}

/// An agency's label alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgencyLabels {
    agency: String,
}

/// The build's version.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// Every metric of the node, the registry that encodes them, and the
/// service health window fed by the same events.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    request_duration: Histograms<DurationLabels>,
    upstream_duration: Histograms<ServiceLabels>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    rate_limit_refusals: Family<RefusalLabels, Counter>,
    reuse_lookups: Family<ResultLabels, Counter>,
    dossier_items: Family<DossierItemLabels, Counter>,
    dossier_items_asked: Family<AgencyLabels, Counter>,
    audit_commit_duration: Histogram,
    audit_records_committed: Counter,
    snapshot_version: Gauge,
    snapshot_reload_duration: Histogram,
    health: ServiceHealth,
}

impl Metrics {
    /// The node's metrics, every family registered and at zero, with a
    /// service health window of `health_window`.
    pub fn new(health_window: Duration) -> Metrics {
        let metrics = Metrics {
            registry: Mutex::new(Registry::default()),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            upstream_duration: Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS)),
            upstream_errors: Family::default(),
            rate_limit_refusals: Family::default(),
            reuse_lookups: Family::default(),
            dossier_items: Family::default(),
            dossier_items_asked: Family::default(),
            audit_commit_duration: Histogram::new(COMMIT_BUCKETS),
            audit_records_committed: Counter::default(),
            snapshot_version: Gauge::default(),
            snapshot_reload_duration: Histogram::new(RELOAD_BUCKETS),
            health: ServiceHealth::new(health_window),
        };
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        // Both results exist from the start, so a ratio never divides by a missing series.
        for result in ["hit", "miss"] {
            let _ = metrics
                .reuse_lookups
                .get_or_create(&ResultLabels { result });
        }
        {
            let mut r = metrics.lock();
            r.register(
                "lgsp_requests",
                "Data-plane exchanges by service (route key), consumer system, HTTP status and problem code",
                metrics.requests.clone(),
            );
            r.register_with_unit(
                "lgsp_request_duration",
                "Time data-plane exchanges spent in the gateway, by service, system and outcome",
                Unit::Seconds,
                metrics.request_duration.clone(),
            );
            r.register_with_unit(
                "lgsp_upstream_duration",
                "Time from calling a service's upstream to its response head, retries included",
                Unit::Seconds,
                metrics.upstream_duration.clone(),
            );
            r.register(
                "lgsp_upstream_errors",
                "Failed upstream calls by service and kind",
                metrics.upstream_errors.clone(),
            );
            r.register(
                "lgsp_rate_limit_refusals",
                "Calls refused by a rate plan, priority class or daily quota, by system, service and code",
                metrics.rate_limit_refusals.clone(),
            );
            r.register(
                "lgsp_reuse_lookups",
                "Reuse-store lookups by result (hit or miss)",
                metrics.reuse_lookups.clone(),
            );
            r.register(
                "lgsp_dossier_items",
                "Dossier data items served from data the state holds, by commune agency, service \
                 and source (state_store: reuse-store hit; authoritative: national source)",
                metrics.dossier_items.clone(),
            );
            r.register(
                "lgsp_dossier_items_asked",
                "Dossier data items one-stop software reported it still had to ask the citizen for, \
                 by commune agency",
                metrics.dossier_items_asked.clone(),
            );
            r.register_with_unit(
                "lgsp_audit_commit_duration",
                "Time to commit one batch of audit records",
                Unit::Seconds,
                metrics.audit_commit_duration.clone(),
            );
            r.register(
                "lgsp_audit_records_committed",
                "Audit records committed to this node's chain",
                metrics.audit_records_committed.clone(),
            );
            r.register(
                "lgsp_snapshot_version",
                "Registry version of the snapshot the node routes on",
                metrics.snapshot_version.clone(),
            );
            r.register_with_unit(
                "lgsp_snapshot_reload_duration",
                "Time to load the registry and build a snapshot",
                Unit::Seconds,
                metrics.snapshot_reload_duration.clone(),
            );
            r.register(
                "lgsp_build_info",
                "Always 1; the version label names the running build",
                build_info,
            );
        }
        metrics
    }

    /// Adds a collector that is asked for its metrics on every scrape (for
    /// example the channel probes' gauges). Meant for start-up: it takes the
    /// registry's lock, which a scrape also holds while encoding.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.lock().register_collector(collector);
    }

    /// Reads the token cache, the audit queue and the circuit breakers of
    /// `pipeline` at every scrape, for as long as the pipeline lives.
    pub fn watch_pipeline(&self, pipeline: &Arc<Pipeline>) {
        self.register_collector(Box::new(PipelineGauges(Arc::downgrade(pipeline))));
    }

    /// The service health window.
    pub fn health(&self) -> &ServiceHealth {
        &self.health
    }

    /// Counts a finished exchange; called by [`ExchangeFinished::emit`].
    pub fn exchange(&self, event: &ExchangeFinished<'_>) {
        let labels = RequestLabels {
            service: event.route.unwrap_or(NONE).to_string(),
            system: event.system.unwrap_or(NONE).to_string(),
            status: event.status,
            code: event.code.map_or("", ErrorCode::as_str),
        };
        self.requests.get_or_create(&labels).inc();
        if let Some(code @ (ErrorCode::RateLimited | ErrorCode::QuotaExceeded)) = event.code {
            self.rate_limit_refusals
                .get_or_create(&RefusalLabels {
                    system: labels.system.clone(),
                    service: labels.service.clone(),
                    code: code.as_str(),
                })
                .inc();
        }
        // The strings move on to the next label set: two allocations per exchange.
        self.request_duration
            .get_or_create(&DurationLabels {
                service: labels.service,
                system: labels.system,
                outcome: event.outcome.as_str(),
            })
            .observe(event.elapsed.as_secs_f64());
        if let Some(route) = event.route {
            self.health.record(&Observation {
                service: route,
                system: event.system,
                agency: event.agency,
                outcome: event.outcome,
                elapsed: event.elapsed,
                request_bytes: event.request_bytes,
                response_bytes: event.response_bytes,
            });
        }
    }

    /// Counts an upstream call of `service`: its time to the response head
    /// when the upstream was reached, and the kind of its failure if it failed.
    pub fn upstream_call(
        &self,
        service: &str,
        reached: Option<Duration>,
        error: Option<&'static str>,
    ) {
        if let Some(took) = reached {
            self.upstream_duration
                .get_or_create(&ServiceLabels {
                    service: service.to_string(),
                })
                .observe(took.as_secs_f64());
        }
        if let Some(kind) = error {
            self.upstream_errors
                .get_or_create(&UpstreamErrorLabels {
                    service: service.to_string(),
                    kind,
                })
                .inc();
        }
    }

    /// Counts a reuse-store lookup.
    pub fn reuse_lookup(&self, hit: bool) {
        self.reuse_lookups
            .get_or_create(&ResultLabels {
                result: if hit { "hit" } else { "miss" },
            })
            .inc();
    }

    /// Counts one dossier data item served from the state's data: from the
    /// reuse store when `hit`, else from the authoritative source.
    pub fn dossier_item(&self, agency: &str, service: &str, hit: bool) {
        self.dossier_items
            .get_or_create(&DossierItemLabels {
                agency: agency.to_string(),
                service: service.to_string(),
                source: if hit { "state_store" } else { "authoritative" },
            })
            .inc();
    }

    /// Counts `n` dossier data items one-stop software of `agency` still had to ask for.
    pub fn dossier_items_asked(&self, agency: &str, n: u64) {
        self.dossier_items_asked
            .get_or_create(&AgencyLabels {
                agency: agency.to_string(),
            })
            .inc_by(n);
    }

    /// Notes a rebuilt snapshot; called by [`crate::telemetry::SnapshotReloaded::emit`].
    pub fn snapshot_reloaded(&self, version: i64, took: Duration) {
        self.snapshot_version.set(version);
        self.snapshot_reload_duration.observe(took.as_secs_f64());
    }

    /// What the audit writer calls after each committed batch.
    pub fn audit_commit_observer(&self) -> CommitObserver {
        let duration = self.audit_commit_duration.clone();
        let committed = self.audit_records_committed.clone();
        CommitObserver::new(move |records, took| {
            duration.observe(took.as_secs_f64());
            committed.inc_by(u64::try_from(records).unwrap_or(u64::MAX));
        })
    }

    /// Every metric in the OpenMetrics text format, or in Prometheus' text
    /// format 0.0.4 when `openmetrics` is false.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        let registry = self.lock();
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
        }
        Ok(text)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A poisoned lock means a panic mid-registration; the registry is still usable.
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Duration::from_secs(600))
    }
}

/// The pipeline's own counters and states, read at scrape time.
#[derive(Debug)]
struct PipelineGauges(Weak<Pipeline>);

impl Collector for PipelineGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(pipeline) = self.0.upgrade() else {
            return Ok(());
        };
        let (hits, misses) = pipeline.verifier.cache_stats();
        let mut lookups = encoder.encode_descriptor(
            "lgsp_token_cache_lookups",
            "Bearer-token verifications by result: hit (from the cache) or miss (signature checked)",
            None,
            MetricType::Counter,
        )?;
        for (result, n) in [("hit", hits), ("miss", misses)] {
            ConstCounter::new(n).encode(lookups.encode_family(&[("result", result)])?)?;
        }
        let depth = i64::try_from(pipeline.audit.queue_depth()).unwrap_or(i64::MAX);
        let capacity = i64::try_from(pipeline.audit.queue_capacity()).unwrap_or(i64::MAX);
        for (name, help, value) in [
            (
                "lgsp_audit_queue_depth",
                "Audit records waiting for the writer (beyond capacity, exchanges get 503 AUDIT_UNAVAILABLE)",
                depth,
            ),
            (
                "lgsp_audit_queue_capacity",
                "Audit records the queue holds at most",
                capacity,
            ),
        ] {
            let unit = Unit::Other("records".into());
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                Some(&unit),
                MetricType::Gauge,
            )?)?;
        }
        ConstGauge::new(i64::from(pipeline.maintenance.is_on())).encode(
            encoder.encode_descriptor(
                "lgsp_maintenance_enabled",
                "1 while the node is in maintenance mode and refuses data-plane requests",
                None,
                MetricType::Gauge,
            )?,
        )?;
        let mut circuits = encoder.encode_descriptor(
            "lgsp_upstream_circuit_state",
            "Circuit breaker per upstream origin: 0 closed, 1 half-open, 2 open",
            None,
            MetricType::Gauge,
        )?;
        for (upstream, state) in pipeline.upstreams.rest.circuit_states() {
            let value: i64 = match state {
                CircuitState::Closed => 0,
                CircuitState::HalfOpen => 1,
                CircuitState::Open => 2,
            };
            ConstGauge::new(value)
                .encode(circuits.encode_family(&[("upstream", upstream.as_str())])?)?;
        }
        Ok(())
    }
}

/// `GET /metrics` on the admin listener, unauthenticated like any Prometheus
/// target: the admin listener is private by design. OpenMetrics when the
/// scraper's `Accept` asks for it, else Prometheus' text format 0.0.4.
pub async fn scrape(State(state): State<NodeState>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match state.metrics.encode(openmetrics) {
        Ok(text) => {
            let content_type = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE
            };
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
                text,
            )
                .into_response()
        }
        Err(_) => {
            tracing::error!(event = "metrics_encoding_failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Outcome;

    fn finished<'a>(status: u16, code: Option<ErrorCode>) -> ExchangeFinished<'a> {
        ExchangeFinished {
            request_id: "r",
            trace_id: "t",
            route: Some("population/v1"),
            system: Some("sys-a"),
            agency: Some("000.01.00.H29"),
            purpose: None,
            status,
            code,
            error: None,
            outcome: if code.is_some() {
                Outcome::Refused
            } else {
                Outcome::Allowed
            },
            elapsed: Duration::from_millis(3),
            request_bytes: 0,
            response_bytes: 10,
        }
    }

    #[test]
    fn exchanges_count_with_bounded_labels() {
        let metrics = Metrics::default();
        metrics.exchange(&finished(200, None));
        metrics.exchange(&finished(200, None));
        metrics.exchange(&finished(429, Some(ErrorCode::QuotaExceeded)));
        metrics.reuse_lookup(false);
        let text = metrics.encode(false).expect("encode");
        assert!(text.contains(
            "lgsp_requests_total{service=\"population/v1\",system=\"sys-a\",status=\"200\",code=\"\"} 2"
        ), "{text}");
        assert!(text.contains(
            "lgsp_rate_limit_refusals_total{system=\"sys-a\",service=\"population/v1\",code=\"QUOTA_EXCEEDED\"} 1"
        ), "{text}");
        assert!(text.contains(
            "lgsp_request_duration_seconds_count{service=\"population/v1\",system=\"sys-a\",outcome=\"allowed\"} 2"
        ), "{text}");
        assert!(
            text.contains("lgsp_reuse_lookups_total{result=\"miss\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("lgsp_reuse_lookups_total{result=\"hit\"} 0"),
            "{text}"
        );
        assert!(text.contains("lgsp_build_info{version=\""), "{text}");
        assert!(
            !text.contains("lgsp_dossier_items_total{"),
            "no dossier series before an item is counted: {text}"
        );
        let open = metrics.encode(true).expect("encode");
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert_eq!(
            metrics.health().report(crate::service_health::Scope::All)[0]
                .stats
                .successes,
            2
        );
    }

    #[test]
    fn kpi_dossier_items_count_by_agency_service_and_source() {
        let metrics = Metrics::default();
        metrics.dossier_item("000.01.00.H29", "population", true);
        metrics.dossier_item("000.01.00.H29", "population", true);
        metrics.dossier_item("000.01.00.H29", "population", false);
        metrics.dossier_item("000.02.00.H29", "enterprise", false);
        metrics.dossier_items_asked("000.01.00.H29", 3);
        metrics.dossier_items_asked("000.01.00.H29", 2);
        let text = metrics.encode(false).expect("encode");
        for line in [
            "lgsp_dossier_items_total{agency=\"000.01.00.H29\",service=\"population\",source=\"state_store\"} 2",
            "lgsp_dossier_items_total{agency=\"000.01.00.H29\",service=\"population\",source=\"authoritative\"} 1",
            "lgsp_dossier_items_total{agency=\"000.02.00.H29\",service=\"enterprise\",source=\"authoritative\"} 1",
            "lgsp_dossier_items_asked_total{agency=\"000.01.00.H29\"} 5",
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
    }
}
