//! The node's upstream adapters, and the choice of one per service.
//!
//! Pooled resources (the HTTP client and its breakers, the NDXP token, the
//! NDOP TLS identity) are built once at start-up; each route gets its own
//! small adapter over them, holding the service's mapping, when the
//! snapshot is built.

use crate::config::{Config, NdopConfig, NdxpConfig};
use crate::registry::model::{AdapterSettings, Service};
use lgsp_adapters::Adapter;
use lgsp_adapters::ndop::{NdopAdapter, NdopClient, NdopSettings};
use lgsp_adapters::ndxp::{NdxpAdapter, NdxpPayload, NdxpProvince, TokenSettings, TokenSource};
use lgsp_adapters::rest::RestAdapter;
use lgsp_adapters::rest::breaker::BreakerSettings;
use lgsp_adapters::soap::{Mapping, SoapAdapter};
use lgsp_contracts::Contract;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why the node's adapters could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    /// A file named by `[ndop]` cannot be read.
    #[error("{key} {path}: {source}")]
    File {
        /// The configuration key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The `[ndxp]` or `[ndop]` settings are unusable.
    #[error("{key}: {problem}")]
    Invalid {
        /// The configuration key to fix.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
}

/// The adapters of one node.
pub struct Upstreams {
    /// Plain HTTP, and the transport of the translating adapters.
    pub rest: Arc<RestAdapter>,
    /// The province's NDXP account (token source), when configured.
    pub ndxp: Option<NdxpProvince>,
    /// The province's NDOP client (mTLS identity and signing key), when configured.
    pub ndop: Option<Arc<NdopClient>>,
}

impl Upstreams {
    /// Builds the pooled clients from the node's configuration.
    pub fn start(config: &Config) -> Result<Upstreams, UpstreamSetupError> {
        let breaker = BreakerSettings {
            failure_threshold: config.upstream.breaker_failures,
            open_for: Duration::from_millis(config.upstream.breaker_open_ms),
        };
        let rest = Arc::new(RestAdapter::new(breaker));
        let ndop = match &config.ndop {
            Some(ndop) => Some(Arc::new(ndop_client(ndop, breaker)?)),
            None => None,
        };
        let ndxp = match &config.ndxp {
            Some(ndxp) => Some(ndxp_province(ndxp, config, rest.clone())?),
            None => None,
        };
        Ok(Upstreams { rest, ndxp, ndop })
    }

    /// A node's adapters with default breakers and neither NDXP nor NDOP, for unit tests.
    #[cfg(test)]
    pub fn plain() -> Upstreams {
        Upstreams {
            rest: Arc::new(RestAdapter::new(BreakerSettings::default())),
            ndxp: None,
            ndop: None,
        }
    }

    /// The adapter for `service`, or why it cannot be called.
    pub fn adapter_for(&self, service: &Service) -> RouteAdapter {
        match self.upstream_adapter(service) {
            Ok(Some(adapter)) => RouteAdapter::Upstream(adapter),
            Ok(None) => RouteAdapter::ReuseStore,
            Err(problem) => RouteAdapter::Unusable(problem),
        }
    }

    /// The upstream adapter, `None` for services the gateway serves itself.
    fn upstream_adapter(&self, service: &Service) -> Result<Option<Arc<dyn Adapter>>, String> {
        let adapter: Arc<dyn Adapter> = match &service.adapter {
            AdapterSettings::Reuse => return Ok(None),
            AdapterSettings::Rest => self.rest.clone(),
            AdapterSettings::Soap { mapping } => {
                let mapping = builtin_mapping(mapping)?;
                Arc::new(SoapAdapter::new(self.rest.clone(), mapping))
            }
            AdapterSettings::Ndxp {
                service_code,
                mapping,
            } => {
                let Some(province) = &self.ndxp else {
                    return Err("the ndxp adapter needs [ndxp] in the node's configuration".into());
                };
                let payload = match mapping {
                    Some(name) => NdxpPayload::XmlInJson(builtin_mapping(name)?),
                    None => NdxpPayload::Json,
                };
                Arc::new(NdxpAdapter::new(
                    province.clone(),
                    service_code.clone(),
                    payload,
                ))
            }
            AdapterSettings::Ndop => match &self.ndop {
                Some(client) => Arc::new(NdopAdapter::new(client.clone())),
                None => {
                    return Err("the ndop adapter needs [ndop] in the node's configuration".into());
                }
            },
        };
        Ok(Some(adapter))
    }
}

/// The province's NDXP account: one token source shared by every NDXP service.
fn ndxp_province(
    ndxp: &NdxpConfig,
    config: &Config,
    transport: Arc<RestAdapter>,
) -> Result<NdxpProvince, UpstreamSetupError> {
    let token_url = ndxp
        .token_url
        .parse()
        .map_err(|_| UpstreamSetupError::Invalid {
            key: "ndxp.token_url",
            problem: format!("{:?} is not a URL", ndxp.token_url),
        })?;
    let mut settings = TokenSettings::new(
        token_url,
        ndxp.client_id.clone(),
        ndxp.client_secret.clone(),
    );
    settings.scope = ndxp.scope.clone();
    let client =
        TokenSource::http_client(Duration::from_millis(config.upstream.connect_timeout_ms));
    Ok(NdxpProvince {
        agency_code: ndxp.agency_code.clone(),
        tokens: Arc::new(TokenSource::new(settings, client)),
        transport,
    })
}

/// Reads the `[ndop]` files and builds the province's NDOP client.
fn ndop_client(
    config: &NdopConfig,
    breaker: BreakerSettings,
) -> Result<NdopClient, UpstreamSetupError> {
    let read = |key: &'static str, path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|source| UpstreamSetupError::File {
            key,
            path: path.display().to_string(),
            source,
        })
    };
    let client_key_pem = read("ndop.client_key", &config.client_key)?;
    let settings = NdopSettings {
        client_cert_pem: read("ndop.client_cert", &config.client_cert)?,
        signing_key_pem: match &config.signing_key {
            Some(path) => read("ndop.signing_key", path)?,
            None => client_key_pem.clone(),
        },
        client_key_pem,
        server_ca_pem: read("ndop.server_ca", &config.server_ca)?,
        key_id: config.key_id.clone(),
        response_verify_cert_pem: read("ndop.response_cert", &config.response_cert)?,
        max_skew: Duration::from_secs(config.max_skew_secs),
    };
    NdopClient::new(settings, breaker).map_err(|e| UpstreamSetupError::Invalid {
        key: "ndop",
        problem: e.to_string(),
    })
}

fn builtin_mapping(name: &str) -> Result<Arc<Mapping>, String> {
    Mapping::builtin(name)
        .map(Arc::new)
        .map_err(|e| format!("mapping {name:?}: {e}"))
}

/// How a route is answered.
#[derive(Clone)]
pub enum RouteAdapter {
    /// By an upstream, through this adapter.
    Upstream(Arc<dyn Adapter>),
    /// By the gateway's reuse store (the `/api/reuse/v1` service).
    ReuseStore,
    /// Not at all: a registry or configuration mistake, answered
    /// `UPSTREAM_ERROR` and logged.
    Unusable(String),
}

impl fmt::Debug for RouteAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteAdapter::Upstream(adapter) => write!(f, "Upstream({})", adapter.kind()),
            RouteAdapter::ReuseStore => write!(f, "ReuseStore"),
            RouteAdapter::Unusable(problem) => write!(f, "Unusable({problem})"),
        }
    }
}

/// A contract named by a service, checked when the registry is read.
pub fn contract_named(name: &str) -> Result<&'static Contract, String> {
    Contract::by_name(name).map_err(|e| e.to_string())
}

/// Checks a service's adapter and contract names without building anything,
/// for `lgsp apply`: the mistakes a file can make.
pub fn check_service(service: &Service) -> Result<(), String> {
    if let Some(mapping) = service.adapter.mapping() {
        let mapping = builtin_mapping(mapping)?;
        let embedded = matches!(mapping.binding, lgsp_adapters::soap::Binding::Embedded(_));
        match (&service.adapter, embedded) {
            (AdapterSettings::Soap { .. }, true) => {
                return Err(format!(
                    "mapping {:?} is XML inside JSON; use it with adapter kind \"ndxp\"",
                    mapping.name
                ));
            }
            (AdapterSettings::Ndxp { .. }, false) => {
                return Err(format!(
                    "mapping {:?} is a SOAP mapping; use it with adapter kind \"soap\"",
                    mapping.name
                ));
            }
            _ => {}
        }
    }
    for name in [&service.contract, &service.request_contract]
        .into_iter()
        .flatten()
    {
        contract_named(name)?;
    }
    Ok(())
}
