//! The gateway's one typed configuration: a TOML file, then `LGSP_*`
//! environment overrides, validated at start-up with messages that name the
//! key and say what to fix.
//!
//! Environment keys nest with `__`: `LGSP_LISTEN__DATA=0.0.0.0:8080` sets
//! `listen.data`; `LGSP_STORE__URL=postgres://…` sets `store.url`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration that cannot be used, with a message naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or the environment does not parse into the configuration.
    #[error("configuration error: {0}")]
    Parse(String),
    /// A value parses but cannot work.
    #[error("configuration key `{key}`: {problem}")]
    Invalid {
        /// Dotted key, e.g. `listen.admin`.
        key: &'static str,
        /// What is wrong and what to do.
        problem: String,
    },
}

/// The whole configuration of one gateway node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded store and generated keys live.
    pub data_dir: PathBuf,
    /// Listener addresses.
    pub listen: ListenConfig,
    /// The store.
    pub store: StoreConfig,
    /// Size and time limits of the data plane.
    pub limits: LimitsConfig,
    /// Defaults for calling upstreams; services may override them.
    pub upstream: UpstreamConfig,
    /// How the registry snapshot follows the store.
    pub registry: RegistryConfig,
    /// Logging.
    pub log: LogConfig,
    /// Consumer authentication: tokens and keys.
    pub auth: AuthConfig,
    /// TLS on the data listener (off when absent).
    pub tls: Option<TlsConfig>,
    /// Rate limits, quotas and priority classes.
    pub rate_limits: RateLimitConfig,
    /// The tamper-evident audit log.
    pub audit: AuditConfig,
    /// Observability: channel probes and certificate warnings.
    pub monitoring: MonitoringConfig,
    /// The province's account on NDXP, for services with `adapter.kind = "ndxp"`.
    pub ndxp: Option<NdxpConfig>,
    /// The province's client identity on NDOP, for services with `adapter.kind = "ndop"`.
    pub ndop: Option<NdopConfig>,
    /// The once-only reuse store: where its keys live, how often it purges.
    pub reuse: ReuseConfig,
    /// Publication to V-APEX, the national API catalogue (off when absent).
    pub vapex: Option<VapexConfig>,
}

/// The province's account on V-APEX (`[vapex]`). When set, every service
/// entering or changing in a public state must pass the conformance lint,
/// and its descriptor is published through the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VapexConfig {
    /// Base URL of V-APEX's catalogue API, e.g. `https://vapex.gov.vn/vapex/v1`.
    pub url: String,
    /// The province's bearer token on V-APEX.
    pub token: String,
    /// The gateway's public base URL that descriptors advertise; `http://<listen.data>` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_endpoint: Option<String>,
    /// How often the publisher looks for rows to deliver, in milliseconds.
    #[serde(default = "default_vapex_poll_ms")]
    pub poll_interval_ms: u64,
    /// Bound on one call to V-APEX, in milliseconds.
    #[serde(default = "default_vapex_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_vapex_poll_ms() -> u64 {
    500
}

fn default_vapex_timeout_ms() -> u64 {
    5_000
}

/// The reuse store (`[reuse]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReuseConfig {
    /// Directory of the keys that encrypt reuse items at rest, outside the
    /// database; `<data_dir>/reuse-keys` when absent.
    pub key_dir: Option<PathBuf>,
    /// How often expired items are purged, in seconds.
    pub purge_interval_secs: u64,
}

impl Default for ReuseConfig {
    fn default() -> Self {
        ReuseConfig {
            key_dir: None,
            purge_interval_secs: 3600,
        }
    }
}

/// The province's account on NDXP, the national integration platform (`[ndxp]`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NdxpConfig {
    /// NDXP's OAuth2 token endpoint.
    pub token_url: String,
    /// The client id NDXP knows the province by.
    pub client_id: String,
    /// The client secret; set it with `LGSP_NDXP__CLIENT_SECRET` rather than in the file.
    pub client_secret: String,
    /// The province's agency code, sent as `X-NDXP-Consumer`.
    pub agency_code: String,
    /// The OAuth2 scope asked for, if NDXP wants one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Debug for NdxpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdxpConfig")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("agency_code", &self.agency_code)
            .field("scope", &self.scope)
            .finish()
    }
}

/// The province's identity on NDOP, the National Data Center's platform (`[ndop]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NdopConfig {
    /// The province's client certificate (PEM) for mTLS.
    pub client_cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub client_key: PathBuf,
    /// The CA certificates (PEM) NDOP's server certificate must chain to.
    pub server_ca: PathBuf,
    /// The key requests are signed with; the client key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<PathBuf>,
    /// The key id NDOP knows the signing key by (`X-NDOP-Key-Id`).
    pub key_id: String,
    /// NDOP's response-signing certificate (PEM); answers must verify against it.
    pub response_cert: PathBuf,
    /// Largest clock difference accepted on signed answers, in seconds.
    #[serde(default = "default_ndop_skew_secs")]
    pub max_skew_secs: u64,
}

fn default_ndop_skew_secs() -> u64 {
    300
}

/// What the node watches about itself and its upstreams (`[monitoring]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Time between two rounds of channel probes, in milliseconds.
    pub probe_interval_ms: u64,
    /// Bound on one probe (connect, TLS, health answer), in milliseconds.
    pub probe_timeout_ms: u64,
    /// A probe slower than this marks its channel `degraded`, in milliseconds.
    pub probe_slow_ms: u64,
    /// Certificates with fewer days than this left are reported `expiring`.
    pub cert_warning_days: u32,
    /// PEM file of private CAs trusted when probing https upstreams, besides Mozilla's roots.
    pub upstream_ca: Option<PathBuf>,
    /// Token endpoints (absolute http(s) URLs) probed as channels of kind `token_endpoint`.
    pub token_endpoints: Vec<String>,
    /// The sliding window of `/admin/v1/health/services`, in seconds.
    pub health_window_secs: u64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            probe_interval_ms: 30_000,
            probe_timeout_ms: 5_000,
            probe_slow_ms: 1_000,
            cert_warning_days: 30,
            upstream_ca: None,
            token_endpoints: Vec::new(),
            health_window_secs: 600,
        }
    }
}

/// How audit records are written and sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// `durable` (the response leaves only after its record is committed) or
    /// `async` (the record is queued; faster, but a crash can lose queued records).
    pub mode: AuditMode,
    /// This node's chain id; each node writes its own hash chain. Empty: a
    /// random id kept in `<data_dir>/node-id`.
    pub chain_id: String,
    /// Records committed in one transaction at most.
    pub batch_size: usize,
    /// How long the writer waits for more records once its queue is empty, in
    /// milliseconds; 0 commits at once, and records that arrive during a commit form the next batch.
    pub max_wait_ms: u64,
    /// Records waiting to be written before the gateway answers 503 instead of queuing more.
    pub queue_capacity: usize,
    /// Sign a checkpoint of the chain head after this many records…
    pub checkpoint_every: u64,
    /// …or after this many milliseconds, whichever comes first.
    pub checkpoint_interval_ms: u64,
    /// The HMAC key for data subjects, kept outside the database; `<data_dir>/keys/audit-subject.key` when empty.
    pub subject_key_file: PathBuf,
    /// Responses up to this size are hashed into the record before they leave;
    /// larger ones (by `Content-Length`) stream and are recorded as `streamed`.
    pub hash_limit_bytes: u64,
    /// Where committed records are streamed for a SIEM: `off`, `file` or `syslog`.
    pub siem: SiemMode,
    /// The JSON-lines file the SIEM feed appends to, for `siem = "file"`.
    pub siem_file: PathBuf,
    /// The collector, `host:port`, for `siem = "syslog"` (RFC 5424 over TCP).
    pub siem_syslog: String,
    /// Records waiting for the SIEM sink before further ones are skipped for
    /// the feed (never for the store).
    pub siem_queue_capacity: usize,
    /// Days a record stays in the store before it is archived and pruned;
    /// 0 keeps records forever. Fractions are allowed (0.5 is twelve hours).
    pub retention_days: f64,
    /// Where expired records are archived; `<data_dir>/audit-archive` when empty.
    pub archive_dir: PathBuf,
    /// How often retention looks for expired records, in milliseconds.
    pub retention_check_interval_ms: u64,
}

/// Where the SIEM feed of committed audit records goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiemMode {
    /// No feed.
    #[default]
    Off,
    /// JSON lines appended to `siem_file`.
    File,
    /// RFC 5424 syslog over TCP to `siem_syslog`.
    Syslog,
}

/// Whether a response waits for its audit record to be durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditMode {
    /// Group commit before the response: nothing acknowledged is ever lost.
    #[default]
    Durable,
    /// Queue and answer: lower latency, records in the queue are lost on a crash.
    Async,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            mode: AuditMode::Durable,
            chain_id: String::new(),
            batch_size: 256,
            max_wait_ms: 0,
            queue_capacity: 8192,
            checkpoint_every: 1000,
            checkpoint_interval_ms: 10_000,
            subject_key_file: PathBuf::new(),
            hash_limit_bytes: 1024 * 1024,
            siem: SiemMode::Off,
            siem_file: PathBuf::new(),
            siem_syslog: String::new(),
            siem_queue_capacity: 8192,
            retention_days: 0.0,
            archive_dir: PathBuf::new(),
            retention_check_interval_ms: 3_600_000,
        }
    }
}

/// How consumers authenticate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of issued access tokens, in seconds.
    pub token_ttl_secs: u64,
    /// The `iss` of issued tokens.
    pub issuer: String,
    /// Where the Ed25519 signing keys live; `<data_dir>/keys` when empty.
    pub keys_dir: PathBuf,
    /// Token requests allowed per source IP per minute (credential-stuffing guard).
    pub token_requests_per_minute: u32,
    /// Burst of token requests per source IP.
    pub token_burst: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl_secs: 300,
            issuer: "lgsp".into(),
            keys_dir: PathBuf::new(),
            token_requests_per_minute: 30,
            token_burst: 10,
        }
    }
}

/// TLS for the data listener; with `client_ca`, systems may authenticate by certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the gateway.
    pub cert: PathBuf,
    /// PEM private key of the gateway.
    pub key: PathBuf,
    /// PEM CA that issues consumer client certificates (mTLS), if any.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Where rate-limit state lives and what happens when it is unreachable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `local` (per node, no Redis) or `redis` (exact across nodes).
    pub mode: RateLimitMode,
    /// Redis URL for `redis` mode.
    pub redis_url: String,
    /// When Redis is unreachable: `fail_closed` refuses, `local` falls back to per-node limits.
    pub on_redis_failure: RedisFailurePolicy,
    /// Bound on one Redis call, in milliseconds; past it Redis counts as unreachable.
    pub redis_timeout_ms: u64,
    /// In-flight upstream calls across all priority classes.
    pub max_in_flight: usize,
    /// Sustained calls per second allowed to a system on public services without a subscription.
    pub public_rate_per_second: f64,
    /// Burst for public services without a subscription.
    pub public_burst: u32,
}

/// Where rate-limit counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitMode {
    /// In this node's memory.
    #[default]
    Local,
    /// In Redis, shared by every node.
    Redis,
}

/// What to do when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedisFailurePolicy {
    /// Refuse calls until Redis is back.
    #[default]
    FailClosed,
    /// Fall back to this node's own limits.
    Local,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            mode: RateLimitMode::Local,
            redis_url: "redis://127.0.0.1:6379".into(),
            on_redis_failure: RedisFailurePolicy::FailClosed,
            redis_timeout_ms: 100,
            max_in_flight: 1024,
            public_rate_per_second: 20.0,
            public_burst: 40,
        }
    }
}

/// Listener addresses; the data and admin planes never share one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// Data plane: `/api/…`, health.
    pub data: SocketAddr,
    /// Admin plane: `/admin/v1/…`, health.
    pub admin: SocketAddr,
}

/// Which store to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://FILE` or `postgres://…`; empty means SQLite in `data_dir`.
    pub url: String,
    /// Pool size.
    pub max_connections: u32,
}

/// Size and time limits applied in the accept stage and by default per service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Default largest request body, in bytes.
    pub max_request_bytes: u64,
    /// Default largest response body, in bytes.
    pub max_response_bytes: u64,
    /// Upper bound on a whole exchange, in milliseconds.
    pub request_timeout_ms: u64,
    /// On shutdown, how long in-flight requests may take to finish, in milliseconds.
    pub shutdown_grace_ms: u64,
}

/// Defaults for upstream calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// TCP connect timeout, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time allowed for the response head, in milliseconds.
    pub timeout_ms: u64,
    /// Retries for idempotent calls.
    pub retries: u32,
    /// Consecutive failures that open an upstream's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls, in milliseconds.
    pub breaker_open_ms: u64,
}

/// How the snapshot follows the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// How often the store's registry version is checked, in milliseconds.
    pub reload_interval_ms: u64,
}

/// Log output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `json` (for SIEM shipping) or `text`.
    pub format: LogFormat,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./lgsp-data"),
            listen: ListenConfig::default(),
            store: StoreConfig::default(),
            limits: LimitsConfig::default(),
            upstream: UpstreamConfig::default(),
            registry: RegistryConfig::default(),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            tls: None,
            rate_limits: RateLimitConfig::default(),
            audit: AuditConfig::default(),
            monitoring: MonitoringConfig::default(),
            ndxp: None,
            ndop: None,
            reuse: ReuseConfig::default(),
            vapex: None,
        }
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            data: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin: SocketAddr::from(([127, 0, 0, 1], 8081)),
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: String::new(),
            max_connections: 8,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_request_bytes: 10 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            request_timeout_ms: 60_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_timeout_ms: 2_000,
            timeout_ms: 10_000,
            retries: 2,
            breaker_failures: 5,
            breaker_open_ms: 10_000,
        }
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            reload_interval_ms: 1_000,
        }
    }
}

/// Top-level keys that `LGSP_*` variables may set; other `LGSP_*` variables
/// (test switches, for instance) are not configuration.
const ENV_SECTIONS: [&str; 12] = [
    "data_dir",
    "listen",
    "store",
    "limits",
    "upstream",
    "registry",
    "log",
    "auth",
    "tls",
    "rate_limits",
    "audit",
    "monitoring",
];

impl Config {
    /// Loads the file (if any), applies `LGSP_*` overrides and validates.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Parse(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("LGSP_").split("__").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            ENV_SECTIONS
                .iter()
                .any(|s| key == *s || key.starts_with(&format!("{s}.")))
        }));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(describe_figment(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, problem: String| Err(ConfigError::Invalid { key, problem });
        if self.listen.data == self.listen.admin && self.listen.data.port() != 0 {
            return invalid(
                "listen.admin",
                format!(
                    "must differ from listen.data ({}): the admin and data planes run on separate listeners",
                    self.listen.data
                ),
            );
        }
        let url = &self.store.url;
        if !url.is_empty() && crate::store::Backend::from_url(url).is_err() {
            return invalid(
                "store.url",
                format!(
                    "must start with sqlite:// or postgres://, got {:?}",
                    redact_url(url)
                ),
            );
        }
        if self.store.max_connections == 0 {
            return invalid("store.max_connections", "must be at least 1".into());
        }
        if let Some(ndxp) = &self.ndxp {
            if !ndxp.token_url.starts_with("http://") && !ndxp.token_url.starts_with("https://")
                || ndxp.token_url.parse::<http::Uri>().is_err()
            {
                return invalid(
                    "ndxp.token_url",
                    format!("must be an http(s) URL, got {:?}", ndxp.token_url),
                );
            }
            if ndxp.client_id.is_empty() || ndxp.client_secret.is_empty() {
                return invalid(
                    "ndxp.client_secret",
                    "ndxp.client_id and ndxp.client_secret must both be set (the secret with LGSP_NDXP__CLIENT_SECRET)".into(),
                );
            }
            if lgsp_contracts::AgencyCode::parse(&ndxp.agency_code).is_err() {
                return invalid(
                    "ndxp.agency_code",
                    format!(
                        "must be the province's electronic identifier code like 000.00.00.H29, got {:?}",
                        ndxp.agency_code
                    ),
                );
            }
        }
        if let Some(ndop) = &self.ndop
            && ndop.max_skew_secs == 0
        {
            return invalid("ndop.max_skew_secs", "must be at least 1".into());
        }
        let positive: [(&'static str, u64); 7] = [
            ("limits.max_request_bytes", self.limits.max_request_bytes),
            ("limits.max_response_bytes", self.limits.max_response_bytes),
            ("limits.request_timeout_ms", self.limits.request_timeout_ms),
            (
                "upstream.connect_timeout_ms",
                self.upstream.connect_timeout_ms,
            ),
            ("upstream.timeout_ms", self.upstream.timeout_ms),
            ("upstream.breaker_open_ms", self.upstream.breaker_open_ms),
            (
                "registry.reload_interval_ms",
                self.registry.reload_interval_ms,
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return invalid(key, "must be greater than 0".into());
            }
        }
        if self.auth.token_ttl_secs == 0 || self.auth.token_ttl_secs > 86_400 {
            return invalid(
                "auth.token_ttl_secs",
                format!(
                    "must be between 1 and 86400, got {}",
                    self.auth.token_ttl_secs
                ),
            );
        }
        if self.auth.token_requests_per_minute == 0 {
            return invalid(
                "auth.token_requests_per_minute",
                "must be at least 1".into(),
            );
        }
        let rl = &self.rate_limits;
        if rl.mode == RateLimitMode::Redis
            && !(rl.redis_url.starts_with("redis://") || rl.redis_url.starts_with("rediss://"))
        {
            return invalid(
                "rate_limits.redis_url",
                format!(
                    "must start with redis:// in redis mode, got {:?}",
                    redact_url(&rl.redis_url)
                ),
            );
        }
        if rl.redis_timeout_ms == 0 || rl.redis_timeout_ms > 10_000 {
            return invalid(
                "rate_limits.redis_timeout_ms",
                format!("must be between 1 and 10000, got {}", rl.redis_timeout_ms),
            );
        }
        if rl.max_in_flight == 0 {
            return invalid("rate_limits.max_in_flight", "must be at least 1".into());
        }
        if !(rl.public_rate_per_second.is_finite() && rl.public_rate_per_second > 0.0) {
            return invalid(
                "rate_limits.public_rate_per_second",
                "must be a positive number".into(),
            );
        }
        if let Some(tls) = &self.tls {
            for (key, path) in [
                ("tls.cert", Some(&tls.cert)),
                ("tls.key", Some(&tls.key)),
                ("tls.client_ca", tls.client_ca.as_ref()),
            ] {
                if let Some(path) = path.filter(|p| !p.exists()) {
                    return invalid(key, format!("file {} does not exist", path.display()));
                }
            }
        }
        let audit = &self.audit;
        if audit.batch_size == 0 || audit.queue_capacity == 0 || audit.checkpoint_every == 0 {
            return invalid(
                "audit",
                "batch_size, queue_capacity and checkpoint_every must be at least 1".into(),
            );
        }
        if audit.checkpoint_interval_ms == 0 {
            return invalid(
                "audit.checkpoint_interval_ms",
                "must be greater than 0".into(),
            );
        }
        if audit.chain_id == "admin-changes" {
            return invalid(
                "audit.chain_id",
                "\"admin-changes\" is the name of the admin-change log's chain; choose another"
                    .into(),
            );
        }
        if !audit.chain_id.is_empty() && lgsp_contracts::Slug::parse(&audit.chain_id).is_err() {
            return invalid(
                "audit.chain_id",
                "must be a slug (a-z, 0-9, '-', '_')".into(),
            );
        }
        if audit.siem == SiemMode::File && audit.siem_file.as_os_str().is_empty() {
            return invalid(
                "audit.siem_file",
                "must name the file to append to when audit.siem = \"file\"".into(),
            );
        }
        if audit.siem == SiemMode::Syslog && !is_host_port(&audit.siem_syslog) {
            return invalid(
                "audit.siem_syslog",
                format!(
                    "must be host:port of the collector when audit.siem = \"syslog\", got {:?}",
                    audit.siem_syslog
                ),
            );
        }
        if audit.siem_queue_capacity == 0 {
            return invalid("audit.siem_queue_capacity", "must be at least 1".into());
        }
        if !(audit.retention_days.is_finite()
            && (0.0..=MAX_RETENTION_DAYS).contains(&audit.retention_days))
        {
            return invalid(
                "audit.retention_days",
                format!(
                    "must be a number of days from 0 (keep forever) to {MAX_RETENTION_DAYS}, got {}",
                    audit.retention_days
                ),
            );
        }
        if audit.retention_check_interval_ms == 0 {
            return invalid(
                "audit.retention_check_interval_ms",
                "must be greater than 0".into(),
            );
        }
        if self.upstream.breaker_failures == 0 {
            return invalid("upstream.breaker_failures", "must be at least 1".into());
        }
        let monitoring = &self.monitoring;
        for (key, value) in [
            ("monitoring.probe_interval_ms", monitoring.probe_interval_ms),
            ("monitoring.probe_timeout_ms", monitoring.probe_timeout_ms),
            ("monitoring.probe_slow_ms", monitoring.probe_slow_ms),
        ] {
            if value == 0 {
                return invalid(key, "must be greater than 0".into());
            }
        }
        if !(1..=86_400).contains(&monitoring.health_window_secs) {
            return invalid(
                "monitoring.health_window_secs",
                format!(
                    "must be between 1 and 86400, got {}",
                    monitoring.health_window_secs
                ),
            );
        }
        if let Some(path) = monitoring.upstream_ca.as_ref().filter(|p| !p.exists()) {
            return invalid(
                "monitoring.upstream_ca",
                format!("file {} does not exist", path.display()),
            );
        }
        // The entry is named by position, not quoted: a URL with credentials must not reach a log.
        if let Some(bad) = monitoring
            .token_endpoints
            .iter()
            .position(|url| !crate::channels::is_token_endpoint(url))
        {
            return invalid(
                "monitoring.token_endpoints",
                format!(
                    "entry {} must be an absolute http:// or https:// URL without credentials, query or fragment",
                    bad + 1
                ),
            );
        }
        if self.upstream.retries > 10 {
            return invalid(
                "upstream.retries",
                format!("must be at most 10, got {}", self.upstream.retries),
            );
        }
        Ok(())
    }

    /// The store URL, defaulting to SQLite in the data directory.
    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("lgsp.db").display())
        } else {
            self.store.url.clone()
        }
    }

    /// Where the reuse store's encryption keys live.
    pub fn reuse_key_dir(&self) -> PathBuf {
        self.reuse
            .key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("reuse-keys"))
    }

    /// Where the token-signing keys live.
    pub fn keys_dir(&self) -> PathBuf {
        if self.auth.keys_dir.as_os_str().is_empty() {
            self.data_dir.join("keys")
        } else {
            self.auth.keys_dir.clone()
        }
    }

    /// Where the audit checkpoint key lives: apart from the token keys, so that
    /// it can never sign or be published as a token key.
    pub fn audit_keys_dir(&self) -> PathBuf {
        self.keys_dir().join("audit")
    }

    /// The HMAC key file for audit data subjects.
    pub fn subject_key_file(&self) -> PathBuf {
        if self.audit.subject_key_file.as_os_str().is_empty() {
            self.audit_keys_dir().join("audit-subject.key")
        } else {
            self.audit.subject_key_file.clone()
        }
    }

    /// How long records stay in the store before retention archives them; zero keeps them forever.
    pub fn audit_retention(&self) -> Duration {
        // Validation bounds the days, so the conversion cannot overflow.
        Duration::try_from_secs_f64(self.audit.retention_days * 86_400.0).unwrap_or(Duration::ZERO)
    }

    /// Where retention writes archive files.
    pub fn audit_archive_dir(&self) -> PathBuf {
        if self.audit.archive_dir.as_os_str().is_empty() {
            self.data_dir.join("audit-archive")
        } else {
            self.audit.archive_dir.clone()
        }
    }

    /// This node's audit chain id: configured, or kept in `<data_dir>/node-id`.
    pub fn chain_id(&self) -> std::io::Result<String> {
        if !self.audit.chain_id.is_empty() {
            return Ok(self.audit.chain_id.clone());
        }
        let path = self.data_dir.join("node-id");
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let id = existing.trim();
            if lgsp_contracts::Slug::parse(id).is_ok() {
                return Ok(id.to_string());
            }
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let id = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        std::fs::write(&path, &id)?;
        Ok(id)
    }

    /// Grace period for in-flight requests at shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.limits.shutdown_grace_ms)
    }
}

/// The longest retention `audit.retention_days` accepts: a century.
const MAX_RETENTION_DAYS: f64 = 36_500.0;

/// Whether `address` is `host:port` with a non-empty host and a port from 1 to 65535.
fn is_host_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// Hides a password in a database URL before it is shown.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn describe_figment(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let mut kind = e.kind.to_string();
            if let Some(meta) = &e.metadata {
                kind.push_str(&format!(" (from {})", meta.name));
            }
            if key.is_empty() {
                kind
            } else {
                format!("key `{key}`: {kind}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        Config::default().validate().expect("defaults are valid");
    }

    #[test]
    fn audit_siem_and_retention_keys_are_checked() {
        let with = |edit: fn(&mut AuditConfig)| {
            let mut c = Config::default();
            edit(&mut c.audit);
            c.validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(with(|a| a.siem = SiemMode::File).contains("audit.siem_file"));
        assert!(with(|a| a.siem = SiemMode::Syslog).contains("audit.siem_syslog"));
        assert!(
            with(|a| {
                a.siem = SiemMode::Syslog;
                a.siem_syslog = "siem.example:65536".into();
            })
            .contains("audit.siem_syslog")
        );
        assert_eq!(
            with(|a| {
                a.siem = SiemMode::Syslog;
                a.siem_syslog = "siem.example:6514".into();
            }),
            ""
        );
        assert!(with(|a| a.siem_queue_capacity = 0).contains("audit.siem_queue_capacity"));
        for days in [-1.0, f64::NAN, f64::INFINITY, 1e9] {
            let mut c = Config::default();
            c.audit.retention_days = days;
            let msg = c.validate().expect_err("bad retention").to_string();
            assert!(msg.contains("audit.retention_days"), "{msg}");
        }
        assert!(
            with(|a| a.retention_check_interval_ms = 0)
                .contains("audit.retention_check_interval_ms")
        );

        let mut c = Config::default();
        assert_eq!(
            c.audit_retention(),
            Duration::ZERO,
            "kept forever by default"
        );
        c.audit.retention_days = 0.5;
        assert_eq!(c.audit_retention(), Duration::from_secs(43_200));
        assert_eq!(c.audit_archive_dir(), c.data_dir.join("audit-archive"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn retention_days_take_whole_numbers_and_fractions() {
        figment::Jail::expect_with(|jail| {
            let file = jail.directory().join("lgsp.toml");
            std::fs::write(
                &file,
                "[audit]\nretention_days = 30\nsiem = \"file\"\nsiem_file = \"siem.jsonl\"\n",
            )
            .map_err(|e| e.to_string())?;
            let config = Config::load(Some(&file)).map_err(|e| e.to_string())?;
            assert_eq!(config.audit.retention_days, 30.0);
            assert_eq!(config.audit.siem, SiemMode::File);
            jail.set_env("LGSP_AUDIT__RETENTION_DAYS", "0.25");
            let config = Config::load(Some(&file)).map_err(|e| e.to_string())?;
            assert_eq!(config.audit_retention(), Duration::from_secs(21_600));
            Ok(())
        });
    }

    #[test]
    fn shared_listener_is_refused() {
        let mut c = Config::default();
        c.listen.admin = c.listen.data;
        let msg = c.validate().expect_err("same address").to_string();
        assert!(msg.contains("listen.admin"), "{msg}");
    }

    #[test]
    fn store_url_scheme_is_checked_and_redacted() {
        let mut c = Config::default();
        c.store.url = "mysql://root:hunter2@db/x".into();
        let msg = c.validate().expect_err("mysql").to_string();
        assert!(msg.contains("store.url"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn health_window_is_bounded() {
        for secs in [0, 86_401] {
            let mut c = Config::default();
            c.monitoring.health_window_secs = secs;
            let msg = c.validate().expect_err("out of range").to_string();
            assert!(msg.contains("monitoring.health_window_secs"), "{msg}");
        }
    }

    #[test]
    fn zero_timeout_is_refused() {
        let mut c = Config::default();
        c.upstream.timeout_ms = 0;
        let msg = c.validate().expect_err("zero").to_string();
        assert!(msg.contains("upstream.timeout_ms"), "{msg}");
    }

    #[test]
    fn default_store_is_sqlite_in_data_dir() {
        let c = Config::default();
        assert_eq!(c.store_url(), "sqlite://./lgsp-data/lgsp.db");
    }

    #[test]
    fn file_type_errors_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[listen]\ndata = 8080\n").expect("write");
        let msg = Config::load(Some(&path)).expect_err("bad type").to_string();
        assert!(msg.contains("listen.data"), "{msg}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[upstream]\nretries = 1\n")?;
            jail.set_env("LGSP_UPSTREAM__RETRIES", "3");
            jail.set_env("LGSP_DATA_DIR", "/srv/lgsp");
            jail.set_env("LGSP_TEST_POSTGRES_URL", "not configuration");
            let c = Config::load(Some(Path::new("c.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.upstream.retries, 3);
            assert_eq!(c.data_dir, PathBuf::from("/srv/lgsp"));
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[upstream]\ntimeout = 5\n").expect("write");
        let msg = Config::load(Some(&path))
            .expect_err("unknown key")
            .to_string();
        assert!(msg.contains("timeout"), "{msg}");
    }
}
