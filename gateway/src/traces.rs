//! Distributed traces: one server span per exchange, a child span per
//! pipeline stage and one per upstream call, exported with OpenTelemetry over
//! OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` variables name a
//! collector.
//!
//! The exchange span continues the caller's W3C `traceparent`, and the
//! upstream call's own span id goes out in the `traceparent` sent upstream, so
//! logs, audit records, exported spans and the upstream's spans share one
//! trace id. Span attributes carry route keys, operation templates, system
//! slugs and codes, never request paths: a path may hold a personal ID.
//!
//! Stage and upstream spans are `debug` spans and the exchange span an `info`
//! one: with export off and `RUST_LOG` at `info`, stage spans are disabled at
//! their call site and cost a relaxed load each.

use crate::audit::record::Outcome;
use crate::pipeline::Trail;
use crate::pipeline::accept::Exchange;
use crate::pipeline::accept::TraceContext;
use crate::telemetry::may_hold_identifier;
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Status, TraceContextExt, TracerProvider as _};
use opentelemetry::{Key, KeyValue};
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{HeaderExtractor, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::{Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::{Layer, Registry};

/// Set once the exporter is installed; read on the hot path so that, with
/// export off, no OpenTelemetry work happens at all.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Samplers the SDK implements, as `OTEL_TRACES_SAMPLER` names them.
const SAMPLERS: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// The OTLP request timeout when `OTEL_EXPORTER_OTLP_TIMEOUT` is unset (the specification's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why trace export could not be set up; each names the variable to fix.
#[derive(Debug, thiserror::Error)]
pub enum TraceSetupError {
    /// A variable holds a value the gateway cannot honour.
    #[error("{name}={value:?}: {reason}")]
    Invalid {
        /// The environment variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is accepted instead.
        reason: &'static str,
    },
    /// Export needs the node's Tokio runtime, and there is none.
    #[error("trace export must be set up inside the node's runtime")]
    NoRuntime,
    /// The SDK refused the exporter configuration.
    #[error("OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// What the gateway reads from the environment itself; the SDK reads the rest
/// (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`, `OTEL_RESOURCE_ATTRIBUTES`, the sampler).
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    /// `http/protobuf` (the specification's default) or `http/json`.
    protocol: Protocol,
    /// Time allowed for one OTLP request.
    timeout: Duration,
}

impl Settings {
    /// `None` when no collector is configured or export is switched off.
    fn read(var: impl Fn(&str) -> Option<String>) -> Result<Option<Settings>, TraceSetupError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let invalid = |name: &'static str, value: String, reason: &'static str| {
            Err(TraceSetupError::Invalid {
                name,
                value,
                reason,
            })
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match var("OTEL_TRACES_EXPORTER") {
            Some(v) if v.trim().eq_ignore_ascii_case("none") => return Ok(None),
            Some(v) if !v.trim().eq_ignore_ascii_case("otlp") => {
                return invalid(
                    "OTEL_TRACES_EXPORTER",
                    v,
                    "only `otlp` (the default) and `none` are supported",
                );
            }
            _ => {}
        }
        let endpoint = [
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ]
        .into_iter()
        .find_map(|name| var(name).map(|value| (name, value)));
        let Some((name, endpoint)) = endpoint else {
            return Ok(None);
        };
        if !endpoint.trim().starts_with("http://") {
            return invalid(
                name,
                endpoint,
                "the gateway exports over plain HTTP; point it at a collector agent on the node or its network (http://host:4318)",
            );
        }
        let mut protocol = Protocol::HttpBinary;
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ] {
            if let Some(value) = var(name) {
                protocol = match value.trim() {
                    "http/protobuf" => Protocol::HttpBinary,
                    "http/json" => Protocol::HttpJson,
                    _ => {
                        return invalid(
                            name,
                            value,
                            "use `http/protobuf` (the default) or `http/json`; gRPC is not built in",
                        );
                    }
                };
                break;
            }
        }
        let sampler = var("OTEL_TRACES_SAMPLER");
        if let Some(sampler) = &sampler
            && !SAMPLERS.contains(&sampler.trim())
        {
            return invalid(
                "OTEL_TRACES_SAMPLER",
                sampler.clone(),
                "use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
            );
        }
        if sampler.is_some_and(|s| s.trim().ends_with("traceidratio")) {
            let arg = var("OTEL_TRACES_SAMPLER_ARG");
            if !arg
                .as_deref()
                .and_then(|a| a.trim().parse::<f64>().ok())
                .is_some_and(|r| (0.0..=1.0).contains(&r))
            {
                return invalid(
                    "OTEL_TRACES_SAMPLER_ARG",
                    arg.unwrap_or_default(),
                    "a ratio sampler needs a number from 0 to 1",
                );
            }
        }
        let mut timeout = DEFAULT_TIMEOUT;
        for name in [
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ] {
            if let Some(ms) = var(name) {
                match ms.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => timeout = Duration::from_millis(ms),
                    _ => return invalid(name, ms, "milliseconds, above zero"),
                }
                break;
            }
        }
        Ok(Some(Settings { protocol, timeout }))
    }
}

/// A running trace export, to flush on shutdown.
#[derive(Debug)]
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Sets up export from the standard `OTEL_*` variables; `None` when no
    /// collector is configured. Must run inside the node's Tokio runtime.
    pub fn from_env() -> Result<Option<TraceExport>, TraceSetupError> {
        let Some(settings) = Settings::read(|name| std::env::var(name).ok())? else {
            return Ok(None);
        };
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TraceSetupError::NoRuntime)?;
        let client = RuntimeClient {
            inner: HyperClient::with_default_connector(settings.timeout, None),
            runtime,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(settings.protocol)
            .with_timeout(settings.timeout)
            .build()?;
        // The batch processor exports from its own thread; its bounded queue
        // drops spans when full rather than slowing an exchange.
        let provider = SdkTracerProvider::builder()
            .with_span_processor(BatchSpanProcessor::builder(exporter).build())
            .with_resource(resource())
            .build();
        EXPORTING.store(true, Ordering::Relaxed);
        Ok(Some(TraceExport { provider }))
    }

    /// The layer that turns the gateway's spans into OpenTelemetry spans. It
    /// filters on its own, so `RUST_LOG` does not decide what is exported;
    /// log events stay in the logs.
    pub fn layer(&self) -> impl Layer<Registry> + Send + Sync + 'static {
        let ours = filter_fn(|meta| {
            meta.is_span()
                && (meta.target().starts_with("lgsp_gateway")
                    || meta.target().starts_with("lgsp_adapters"))
        })
        .with_max_level_hint(LevelFilter::DEBUG);
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("lgsp"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(ours)
    }

    /// Exports the spans still queued, then stops the exporter.
    pub async fn shutdown(self) {
        EXPORTING.store(false, Ordering::Relaxed);
        // Shutting down blocks until the last batch is sent, and sending runs
        // on this runtime: keep it off the runtime's worker threads.
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match flushed {
            Ok(Ok(())) => tracing::info!(event = "traces_flushed"),
            Ok(Err(e)) => tracing::warn!(event = "traces_flush_failed", error = %e),
            Err(e) => tracing::warn!(event = "traces_flush_failed", error = %e),
        }
    }
}

/// `service.name` from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`, else
/// `lgsp`; `service.version` is the binary's.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&Key::new("service.name"))
        .is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    let mut builder = Resource::builder();
    if !named {
        builder = builder.with_service_name("lgsp");
    }
    if detected.get(&Key::new("service.version")).is_none() {
        builder =
            builder.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    builder.build()
}

/// Sends OTLP requests with hyper on the node's runtime: the SDK's batch
/// processor exports from a thread of its own, outside any Tokio context.
#[derive(Debug)]
struct RuntimeClient {
    inner: HyperClient,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let inner = self.inner.clone();
        self.runtime
            .spawn(async move { inner.send_bytes(request).await })
            .await?
    }
}

/// Opens the span of one exchange, which names it in every log line inside.
/// With export on, the span continues the caller's trace (`traceparent`,
/// `tracestate`) and the exchange takes the exported span's identity, so logs,
/// the audit record and the collector agree.
pub fn exchange_span(exchange: &mut Exchange, headers: &HeaderMap) -> Span {
    if !EXPORTING.load(Ordering::Relaxed) {
        return tracing::info_span!(
            "exchange",
            otel.kind = "server",
            request_id = exchange.request_id.as_str(),
            trace_id = exchange.trace.trace_id.as_str()
        );
    }
    let span = tracing::info_span!(
        "exchange",
        otel.kind = "server",
        request_id = exchange.request_id.as_str(),
        trace_id = field::Empty
    );
    if headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        // Fails only when the span is disabled, and then nothing is exported.
        let _ = span.set_parent(parent);
    }
    if let Some(trace) = span_trace(&span) {
        exchange.trace = trace;
    }
    span.record("trace_id", exchange.trace.trace_id.as_str());
    span
}

/// The trace context of an exported span, `None` when export is off.
fn span_trace(span: &Span) -> Option<TraceContext> {
    if !EXPORTING.load(Ordering::Relaxed) {
        return None;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| TraceContext {
        trace_id: sc.trace_id().to_string(),
        span_id: sc.span_id().to_string(),
        flags: format!("{:02x}", sc.trace_flags().to_u8()),
    })
}

/// Whether the exchange of `trace` is exported: export is on and the sampler
/// kept its trace. The stage and upstream spans of an exchange that is not
/// are never opened: they would cost on every request without being seen.
fn exported(trace: &TraceContext) -> bool {
    EXPORTING.load(Ordering::Relaxed)
        && u8::from_str_radix(&trace.flags, 16).is_ok_and(|f| f & 1 == 1)
}

/// Whether stage spans are opened: always with export off (then `RUST_LOG`
/// decides, and at `info` they stop at their call site), else when exported.
fn stage_spans(trace: &TraceContext) -> bool {
    !EXPORTING.load(Ordering::Relaxed) || exported(trace)
}

/// Opens the span of one pipeline stage, a child of the exchange's.
pub fn stage(trace: &TraceContext, name: &'static str) -> Span {
    if !stage_spans(trace) {
        return Span::none();
    }
    tracing::debug_span!("stage", otel.name = name)
}

/// Opens the span of one upstream call: where it goes (the configured
/// upstream's host, never the path) and for which route.
pub fn upstream_span(trace: &TraceContext, route: &str, method: &Method, upstream: &Uri) -> Span {
    if !stage_spans(trace) {
        return Span::none();
    }
    tracing::debug_span!(
        "upstream",
        otel.kind = "client",
        route,
        http.request.method = method.as_str(),
        server.address = upstream.host().unwrap_or("-"),
        server.port = upstream
            .port_u16()
            .unwrap_or(if upstream.scheme_str() == Some("https") { 443 } else { 80 }),
        http.response.status_code = field::Empty,
        error.type = field::Empty,
        otel.status_code = field::Empty,
    )
}

/// The `traceparent` that makes the upstream's work a child of `span`;
/// `None` when the span is not exported.
pub fn traceparent(span: &Span) -> Option<String> {
    span_trace(span).map(|t| t.traceparent())
}

/// Notes how the upstream call ended on its span.
pub fn upstream_outcome<T>(
    span: &Span,
    outcome: &Result<http::Response<T>, crate::problem::GatewayError>,
) {
    match outcome {
        Ok(response) => {
            span.record("http.response.status_code", response.status().as_u16());
        }
        Err(error) => {
            span.record("error.type", error.code().as_str());
            span.record("otel.status_code", "error");
            if let crate::problem::GatewayError::Upstream(e) = error
                && let Some(status) = e.upstream_status()
            {
                span.record("http.response.status_code", status);
            }
        }
    }
}

/// Puts what the stages learned on the exchange's exported span: method,
/// route, operation template, system, agency, purpose and problem code.
pub fn record_trail(span: &Span, trace: &TraceContext, trail: &Trail) {
    if !exported(trace) {
        return;
    }
    span.set_attribute("http.request.method", trail.method.clone());
    for (key, value) in [
        ("route", &trail.route),
        ("operation", &trail.operation),
        ("system", &trail.system),
        ("agency", &trail.agency),
    ] {
        if let Some(value) = value {
            span.set_attribute(key, value.clone());
        }
    }
    // The purpose header is the caller's free text: exported only once the
    // exchange got past authorization, and never when it could be an identifier.
    if let Some(purpose) = &trail.purpose
        && trail.outcome() != Outcome::Refused
        && !may_hold_identifier(purpose)
    {
        span.set_attribute("purpose", purpose.clone());
    }
    if let Some(code) = trail.error_code {
        span.set_attribute("code", code.as_str());
    }
}

/// Puts the status sent on the exchange's exported span; a 5xx marks it failed.
pub fn record_status(span: &Span, trace: &TraceContext, status: u16) {
    if !exported(trace) {
        return;
    }
    span.set_attribute("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.set_status(Status::error(""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Option<Settings>, TraceSetupError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::read(|name| vars.get(name).cloned())
    }

    #[test]
    fn off_without_an_endpoint_or_when_disabled() {
        assert!(read(&[]).expect("ok").is_none());
        assert!(
            read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])
                .expect("ok")
                .is_none()
        );
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            assert!(
                read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), off])
                    .expect("ok")
                    .is_none()
            );
        }
    }

    #[test]
    fn on_with_either_endpoint() {
        for name in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            let settings = read(&[(name, "http://collector:4318")])
                .expect("ok")
                .expect("on");
            assert_eq!(settings.timeout, DEFAULT_TIMEOUT);
            assert_eq!(settings.protocol, Protocol::HttpBinary);
        }
        let settings = read(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
        ])
        .expect("ok")
        .expect("on");
        assert_eq!(settings.timeout, Duration::from_millis(2500));
        assert_eq!(settings.protocol, Protocol::HttpJson);
    }

    #[test]
    fn refuses_what_it_cannot_honour_naming_the_variable() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        for (bad, name) in [
            (
                vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                vec![endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                vec![endpoint, ("OTEL_TRACES_EXPORTER", "zipkin")],
                "OTEL_TRACES_EXPORTER",
            ),
            (
                vec![endpoint, ("OTEL_TRACES_SAMPLER", "sometimes")],
                "OTEL_TRACES_SAMPLER",
            ),
            (
                vec![endpoint, ("OTEL_TRACES_SAMPLER", "traceidratio")],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                vec![
                    endpoint,
                    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
                ],
                "OTEL_TRACES_SAMPLER_ARG",
            ),
            (
                vec![endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")],
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ),
        ] {
            match read(&bad) {
                Err(TraceSetupError::Invalid { name: n, .. }) => assert_eq!(n, name, "{bad:?}"),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn identifiers_are_recognised_in_free_text() {
        assert!(may_hold_identifier("001203004567"));
        assert!(may_hold_identifier("dn 0312345678-001"));
        assert!(!may_hold_identifier("1.001612"));
        assert!(!may_hold_identifier("birth-registration"));
    }

    #[test]
    fn spans_cost_nothing_to_identify_when_export_is_off() {
        let headers: HeaderMap = [(
            http::header::HeaderName::from_static("traceparent"),
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        )]
        .into_iter()
        .collect();
        let request = http::Request::builder()
            .body(axum::body::Body::empty())
            .expect("request");
        let (mut exchange, _) =
            crate::pipeline::accept::accept("127.0.0.1:1".parse().expect("addr"), request);
        let before = exchange.trace.clone();
        let span = exchange_span(&mut exchange, &headers);
        assert_eq!(
            exchange.trace, before,
            "the exchange keeps its own identity"
        );
        assert!(span_trace(&span).is_none());
        assert!(traceparent(&span).is_none());
    }
}
