//! A running gateway node: the data and admin listeners, the snapshot
//! follower, and graceful shutdown.
//!
//! Shutdown stops accepting, lets in-flight exchanges finish within
//! `limits.shutdown_grace_ms`, then closes the store so its last writes are
//! flushed.

use crate::access::AccessError;
use crate::access::keys::SigningKeys;
use crate::access::tls::{TlsSettings, serve_tls, server_config};
use crate::access::tokens::{TokenIssuer, TokenVerifier};
use crate::admin::{self, AdminState, AuditorState};
use crate::audit::writer::{AuditWriter, WriterHandle, WriterSettings};
use crate::audit::{
    AuditError, AuditSigner, RetentionHandle, RetentionSettings, SiemHandle, SiemSettings,
    SiemSink, SubjectKey, SubjectKind, start_retention, start_siem,
};
use crate::catalogue::descriptor::Describer;
use crate::channels::{self, ChannelBoard, ChannelError, ChannelMonitor, ChannelSettings};
use crate::config::{AuditMode, SiemMode};
use crate::config::{Config, RateLimitMode, RedisFailurePolicy, redact_url};
use crate::limits::{
    LimitError, LimitMode, LimiterOptions, PriorityGate, RateLimiter, RedisFailure,
    TokenEndpointGuard,
};
use crate::maintenance::{self, Maintenance};
use crate::metrics::{self, Metrics};
use crate::pipeline::{Pipeline, accept::AcceptLimits};
use crate::registry::model::Plan;
use crate::registry::{reload, reload::ReloadError, snapshot::SnapshotHandle};
use crate::reuse::{ReuseKeys, ReuseStore};
use crate::service_health;
use crate::store::{Store, StoreOptions};
use crate::upstream::{UpstreamSetupError, Upstreams};
use crate::{health, oauth};
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error("cannot open the store at {url}: {source}")]
    Store {
        /// The store URL, password hidden.
        url: String,
        /// The cause.
        source: ReloadError,
    },
    /// The audit log could not be started.
    #[error("audit log: {0}")]
    Audit(AuditError),
    /// Signing keys or TLS material could not be loaded.
    #[error("{0}")]
    Access(#[from] AccessError),
    /// The rate limiter could not be set up.
    #[error("rate limits: {0}")]
    Limits(#[from] LimitError),
    /// The reuse store's keys could not be loaded.
    #[error("reuse store: {0}")]
    Reuse(crate::reuse::ReuseError),
    /// The upstream adapters (NDXP, NDOP) could not be set up.
    #[error("upstream adapters: {0}")]
    Upstreams(#[from] UpstreamSetupError),
    /// The V-APEX publisher could not be set up.
    #[error("V-APEX publisher: {0}")]
    Publisher(#[from] crate::publication::PublisherConfigError),
    /// Channel monitoring could not be set up.
    #[error("channel monitoring: {0}")]
    Channels(#[from] ChannelError),
    /// A listener could not bind.
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The configuration key that set it.
        key: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

/// What both planes share.
#[derive(Clone)]
pub struct NodeState {
    /// The data-plane pipeline.
    pub pipeline: Arc<Pipeline>,
    /// The store.
    pub store: Store,
    /// The current snapshot.
    pub snapshot: SnapshotHandle,
    /// The token-signing keys (for JWKS).
    pub keys: Arc<SigningKeys>,
    /// Issues tokens at `/oauth2/token`.
    pub issuer: Arc<TokenIssuer>,
    /// Per-source-IP guard of the token endpoint.
    pub token_guard: Arc<TokenEndpointGuard>,
    /// The keyed hash of data subjects, for the auditor's searches.
    pub subject_key: Arc<SubjectKey>,
    /// The audit checkpoint key (base64url), pinned by the verification status.
    pub audit_public_key: Arc<str>,
    /// The node's Prometheus metrics, served at `/metrics` on the admin listener.
    pub metrics: Arc<Metrics>,
    /// What the channel probes found, for `/admin/v1/health/channels`.
    pub channels: ChannelBoard,
    /// Rebuilds the snapshot after a change (the admin API's own, or another node's).
    pub reloader: Arc<reload::Reloader>,
    /// The node's configuration.
    pub config: Arc<Config>,
    /// Builds V-APEX descriptors advertising this node's public endpoint.
    pub describer: Arc<Describer>,
}

impl AdminState for NodeState {
    fn store(&self) -> &Store {
        &self.store
    }
}

impl AuditorState for NodeState {
    fn subject_hash(&self, kind: &str, id: &str) -> Option<String> {
        SubjectKind::parse(kind).map(|kind| self.subject_key.hash(kind, id))
    }

    fn audit_public_key(&self) -> Option<String> {
        Some(self.audit_public_key.to_string())
    }
}

/// A started gateway node.
pub struct Node {
    /// Where the data plane listens.
    pub data_addr: SocketAddr,
    /// Where the admin plane listens.
    pub admin_addr: SocketAddr,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    follower: JoinHandle<()>,
    purger: JoinHandle<()>,
    publisher: Option<JoinHandle<()>>,
    channels: ChannelMonitor,
    store: Store,
    audit: WriterHandle,
    siem: Option<SiemHandle>,
    retention: Option<RetentionHandle>,
    grace: Duration,
}

impl Node {
    /// Opens the store, loads the snapshot and starts both listeners.
    pub async fn start(config: Config) -> Result<Node, StartError> {
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new(Duration::from_secs(
            config.monitoring.health_window_secs,
        )));
        let url = config.store_url();
        if url.starts_with("sqlite:") {
            // The embedded store lives in the data directory; create it on first run.
            let _ = std::fs::create_dir_all(&config.data_dir);
        }
        let store_error = |source: ReloadError| StartError::Store {
            url: redact_url(&url),
            source,
        };
        let store = Store::open(
            &url,
            &StoreOptions {
                max_connections: config.store.max_connections,
            },
        )
        .await
        .map_err(|e| store_error(e.into()))?;
        let upstreams = Arc::new(Upstreams::start(&config)?);
        let snapshot = SnapshotHandle::new(
            reload::load(&store, &config, &upstreams, &metrics)
                .await
                .map_err(store_error)?,
        );

        let keys = Arc::new(SigningKeys::load_or_create(&config.keys_dir())?);
        let ttl = Duration::from_secs(config.auth.token_ttl_secs);
        let issuer = Arc::new(TokenIssuer::new(
            keys.clone(),
            config.auth.issuer.clone(),
            ttl,
        ));
        let verifier = Arc::new(TokenVerifier::new(keys.clone(), config.auth.issuer.clone()));
        let limit_mode = match config.rate_limits.mode {
            RateLimitMode::Local => LimitMode::Local,
            RateLimitMode::Redis => LimitMode::Redis {
                url: config.rate_limits.redis_url.clone(),
                on_failure: match config.rate_limits.on_redis_failure {
                    RedisFailurePolicy::FailClosed => RedisFailure::FailClosed,
                    RedisFailurePolicy::Local => RedisFailure::Local,
                },
            },
        };
        let limiter = RateLimiter::with_options(
            limit_mode,
            LimiterOptions {
                redis_call_timeout: Duration::from_millis(config.rate_limits.redis_timeout_ms),
                ..LimiterOptions::default()
            },
        )
        .await?;

        let signer = Arc::new(
            AuditSigner::load_or_create(&config.audit_keys_dir()).map_err(StartError::Audit)?,
        );
        let subject_key = Arc::new(
            SubjectKey::load_or_create(&config.subject_key_file()).map_err(StartError::Audit)?,
        );
        let chain_id = config
            .chain_id()
            .map_err(|e| StartError::Audit(AuditError::Io(e)))?;
        let settings = WriterSettings {
            batch_size: config.audit.batch_size,
            max_wait: Duration::from_millis(config.audit.max_wait_ms),
            queue_capacity: config.audit.queue_capacity,
            durable: config.audit.mode == AuditMode::Durable,
            checkpoint_every: config.audit.checkpoint_every,
            checkpoint_interval: Duration::from_millis(config.audit.checkpoint_interval_ms),
            on_commit: Some(metrics.audit_commit_observer()),
            ..WriterSettings::new(chain_id.clone())
        };
        let siem_sink = match config.audit.siem {
            SiemMode::Off => None,
            SiemMode::File => Some(SiemSink::File(config.audit.siem_file.clone())),
            SiemMode::Syslog => Some(SiemSink::Syslog(config.audit.siem_syslog.clone())),
        };
        let (siem_publisher, siem) = match siem_sink {
            Some(sink) => {
                let (publisher, handle) = start_siem(SiemSettings {
                    sink,
                    queue_capacity: config.audit.siem_queue_capacity,
                })
                .map_err(StartError::Audit)?;
                (Some(publisher), Some(handle))
            }
            None => (None, None),
        };
        let audit_public_key: Arc<str> = Arc::from(signer.public_key_b64());
        let (audit_writer, audit_handle) =
            AuditWriter::start_with_feed(store.clone(), signer.clone(), settings, siem_publisher)
                .await
                .map_err(StartError::Audit)?;
        let retention = start_retention(
            store.clone(),
            RetentionSettings {
                retention: config.audit_retention(),
                check_interval: Duration::from_millis(config.audit.retention_check_interval_ms),
                public_key: Some(audit_public_key.to_string()),
                ..RetentionSettings::new(config.audit_archive_dir())
            },
        );

        let reuse_keys =
            ReuseKeys::load_or_create(&config.reuse_key_dir()).map_err(StartError::Reuse)?;
        let reuse = ReuseStore::new(store.clone(), Arc::new(reuse_keys));
        let pipeline = Arc::new(Pipeline {
            reuse: reuse.clone(),
            signer: signer.clone(),
            audit: audit_writer,
            subject_key: subject_key.clone(),
            hash_limit: config.audit.hash_limit_bytes,
            snapshot: snapshot.clone(),
            upstreams: upstreams.clone(),
            accept: AcceptLimits {
                max_request_bytes: config.limits.max_request_bytes,
            },
            deadline: Duration::from_millis(config.limits.request_timeout_ms),
            verifier,
            limiter,
            priority: PriorityGate::new(config.rate_limits.max_in_flight),
            scheme: if config.tls.is_some() {
                "https"
            } else {
                "http"
            },
            public_plan: Plan {
                rate_per_second: config.rate_limits.public_rate_per_second,
                burst: config.rate_limits.public_burst,
                daily_quota: None,
            },
            metrics: metrics.clone(),
            maintenance: Arc::new(Maintenance::new(chain_id)),
        });
        metrics.watch_pipeline(&pipeline);
        let channel_monitor =
            ChannelMonitor::start(ChannelSettings::from_config(&config), snapshot.clone())?;
        metrics.register_collector(Box::new(channel_monitor.board.collector()));
        let reloader = Arc::new(reload::Reloader::new(
            store.clone(),
            config.clone(),
            snapshot.clone(),
            upstreams.clone(),
            metrics.clone(),
        ));
        let tls = match &config.tls {
            Some(t) => Some(server_config(&TlsSettings {
                cert: t.cert.clone(),
                key: t.key.clone(),
                client_ca: t.client_ca.clone(),
            })?),
            None => None,
        };

        let bind = |addr, key| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, key, source })
        };
        let data_listener = bind(config.listen.data, "listen.data").await?;
        let admin_listener = bind(config.listen.admin, "listen.admin").await?;
        let data_addr = data_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.listen.data,
                key: "listen.data",
                source,
            })?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: config.listen.admin,
                key: "listen.admin",
                source,
            })?;

        let state = NodeState {
            reloader: reloader.clone(),
            config: config.clone(),
            describer: Arc::new(Describer::for_node(&config, data_addr)),
            channels: channel_monitor.board.clone(),
            subject_key,
            audit_public_key,
            metrics: metrics.clone(),
            pipeline,
            store: store.clone(),
            snapshot: snapshot.clone(),
            keys,
            issuer,
            token_guard: Arc::new(TokenEndpointGuard::new(
                config.auth.token_requests_per_minute,
                config.auth.token_burst,
            )),
        };
        let (stop, stopped) = watch::channel(false);
        let data_server = match tls {
            Some(tls) => tokio::spawn(serve_tls(
                data_listener,
                tls,
                data_plane(state.clone()),
                stopped.clone(),
            )),
            None => serve(data_listener, data_plane(state.clone()), stopped.clone()),
        };
        let servers = vec![
            data_server,
            serve(admin_listener, admin_plane(state.clone()), stopped.clone()),
        ];
        let purger = reuse.spawn_purger(
            Duration::from_secs(config.reuse.purge_interval_secs),
            stopped.clone(),
        );
        let publisher = match &config.vapex {
            Some(vapex) => Some(crate::publication::spawn(
                store.clone(),
                vapex,
                stopped.clone(),
            )?),
            None => None,
        };
        let follower = tokio::spawn(reload::follow(reloader, Some(url.clone()), stopped.clone()));
        tracing::info!(event = "node_started", data = %data_addr, admin = %admin_addr, store = %redact_url(&url));
        Ok(Node {
            data_addr,
            admin_addr,
            stop,
            servers,
            follower,
            purger,
            publisher,
            channels: channel_monitor,
            store,
            audit: audit_handle,
            siem,
            retention,
            grace: config.shutdown_grace(),
        })
    }

    /// Stops accepting, waits up to the grace period for in-flight exchanges,
    /// then flushes and closes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let drained =
            tokio::time::timeout(self.grace, futures_util::future::join_all(self.servers)).await;
        if drained.is_err() {
            tracing::warn!(
                event = "shutdown_grace_exceeded",
                grace_ms = self.grace.as_millis() as u64
            );
        }
        self.follower.abort();
        self.purger.abort();
        if let Some(publisher) = &self.publisher {
            publisher.abort();
        }
        drop(self.channels);
        if let Some(retention) = self.retention {
            retention.shutdown().await;
        }
        // Every exchange that finished has its record queued; commit them and seal the chain.
        self.audit.shutdown().await;
        // After the writer, which publishes its last records to the feed.
        if let Some(siem) = self.siem {
            siem.shutdown().await;
        }
        self.store.close().await;
        tracing::info!(event = "node_stopped");
    }
}

fn serve(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        })
        .await
    })
}

/// The data plane: health, tokens, and everything else through the pipeline.
fn data_plane(state: NodeState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .route("/oauth2/token", axum::routing::post(oauth::token))
        .route("/.well-known/jwks.json", axum::routing::get(oauth::jwks))
        .fallback(exchange)
        .with_state(state)
}

async fn exchange(
    State(state): State<NodeState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    state.pipeline.clone().handle(client, request).await
}

/// The admin plane: health, accounts, the registry view and the auditor's API.
fn admin_plane(state: NodeState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(health::healthz))
        .route("/readyz", axum::routing::get(health::readyz))
        .route("/admin/v1/registry", axum::routing::get(health::registry))
        .route("/metrics", axum::routing::get(metrics::scrape))
        .route(
            "/admin/v1/health/services",
            axum::routing::get(service_health::services),
        )
        .route(
            "/admin/v1/maintenance",
            axum::routing::get(maintenance::get).put(maintenance::put),
        )
        .route("/admin/v1/kpi", axum::routing::get(crate::kpi::kpi))
        .route(
            "/admin/v1/health/channels",
            axum::routing::get(channels::channels_report),
        )
        .route(
            "/admin/v1/openapi.json",
            axum::routing::get(admin::openapi::document),
        )
        .merge(admin::routes::<NodeState>())
        .merge(admin::registry_api::registry_routes())
        .with_state(state)
}
