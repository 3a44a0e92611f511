//! The immutable in-memory snapshot of the registry that the data plane
//! routes on, and the handle that swaps it atomically.
//!
//! The hot path never touches the store: it loads the current snapshot (one
//! atomic pointer read) and looks routes up in hash maps.

use super::consumers::Consumers;
use super::model::ServiceState;
use super::model::{RegistryData, Service};
use crate::admin::timestamps::local_day_start;
use crate::config::Config;
use crate::reuse::from_unix_ms;
use crate::upstream::{RouteAdapter, Upstreams, contract_named};
use arc_swap::ArcSwap;
use http::{HeaderMap, HeaderValue, Method};
use lgsp_adapters::rest::CallSettings;
use lgsp_contracts::Contract;
use lgsp_policies::{PolicyEngine, PolicyError, PolicySet};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A service version ready to be called: its declaration and resolved settings.
#[derive(Debug)]
pub struct Route {
    /// The service as registered.
    pub service: Service,
    /// `slug/version`, as used in logs and metrics.
    pub key: String,
    /// Upstream base URL without a trailing slash.
    pub upstream_base: String,
    /// Sandbox base URL without a trailing slash, for systems in trial.
    pub sandbox_base: Option<String>,
    /// Timeouts and limits, service values over gateway defaults.
    pub call: CallSettings,
    /// The adapter that calls the upstream, or why the service cannot be called.
    pub adapter: RouteAdapter,
    /// The contract successful answers must satisfy.
    pub contract: Option<&'static Contract>,
    /// The contract request bodies must satisfy.
    pub request_contract: Option<&'static Contract>,
    /// `Deprecation` and `Sunset` for a deprecated service, added to its answers.
    pub lifecycle_headers: HeaderMap,
    operations: Vec<CompiledOperation>,
}

#[derive(Debug)]
struct CompiledOperation {
    method: Method,
    template: String,
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// An operation matched by a request path.
#[derive(Debug, PartialEq, Eq)]
pub struct MatchedOperation<'a> {
    /// The operation's path template, e.g. `/citizens/{soDinhDanh}`.
    pub template: &'a str,
    /// Path parameters by name.
    pub params: Vec<(&'a str, String)>,
}

/// How a request path relates to a route's declared operations.
#[derive(Debug, PartialEq, Eq)]
pub enum OperationMatch<'a> {
    /// The service declares no operations: everything passes through.
    Undeclared,
    /// An operation matched.
    Matched(MatchedOperation<'a>),
    /// The path matches an operation, but not with this method.
    MethodNotOffered(Vec<&'a str>),
    /// No operation has this path.
    NoSuchPath,
}

impl Route {
    fn build(service: Service, config: &Config, upstreams: &Upstreams) -> Route {
        let up = &service.upstream;
        let call = CallSettings {
            connect_timeout: Duration::from_millis(
                up.connect_timeout_ms
                    .unwrap_or(config.upstream.connect_timeout_ms),
            ),
            timeout: Duration::from_millis(up.timeout_ms.unwrap_or(config.upstream.timeout_ms)),
            retries: up.retries.unwrap_or(config.upstream.retries),
            max_request_bytes: up
                .max_request_bytes
                .unwrap_or(config.limits.max_request_bytes),
            max_response_bytes: up
                .max_response_bytes
                .unwrap_or(config.limits.max_response_bytes),
        };
        let operations = service
            .operations
            .iter()
            .filter_map(|op| {
                let method = Method::from_bytes(op.method.to_ascii_uppercase().as_bytes()).ok()?;
                let segments = split_path(&op.path)
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(name) => Segment::Param(name.to_string()),
                            None => Segment::Literal(s.to_string()),
                        },
                    )
                    .collect();
                Some(CompiledOperation {
                    method,
                    template: op.path.clone(),
                    segments,
                })
            })
            .collect();
        let contract = |name: &Option<String>| match name {
            Some(name) => contract_named(name).map(Some),
            None => Ok(None),
        };
        let (adapter, contract, request_contract) = match (
            upstreams.adapter_for(&service),
            contract(&service.contract),
            contract(&service.request_contract),
        ) {
            (RouteAdapter::Unusable(problem), _, _)
            | (_, Err(problem), _)
            | (_, _, Err(problem)) => {
                tracing::warn!(
                    event = "service_unusable",
                    service = %service.slug,
                    version = %service.version,
                    problem = %problem
                );
                (RouteAdapter::Unusable(problem), None, None)
            }
            (adapter, Ok(c), Ok(rc)) => (adapter, c, rc),
        };
        Route {
            lifecycle_headers: lifecycle_headers(&service),
            adapter,
            contract,
            request_contract,
            key: format!("{}/{}", service.slug, service.version),
            upstream_base: up.url.trim_end_matches('/').to_string(),
            sandbox_base: up
                .sandbox_url
                .as_deref()
                .map(|url| url.trim_end_matches('/').to_string()),
            call,
            operations,
            service,
        }
    }

    /// Matches `rest` (the path below `/api/{service}/{version}`) against the operations.
    pub fn match_operation(&self, method: &Method, rest: &str) -> OperationMatch<'_> {
        if self.operations.is_empty() {
            return OperationMatch::Undeclared;
        }
        let parts: Vec<&str> = split_path(rest).collect();
        let mut offered = Vec::new();
        for op in &self.operations {
            if op.segments.len() != parts.len() {
                continue;
            }
            let mut params = Vec::new();
            let fits = op.segments.iter().zip(&parts).all(|(seg, part)| match seg {
                Segment::Literal(l) => l == part,
                Segment::Param(name) => {
                    params.push((name.as_str(), (*part).to_string()));
                    true
                }
            });
            if !fits {
                continue;
            }
            if op.method == *method {
                return OperationMatch::Matched(MatchedOperation {
                    template: &op.template,
                    params,
                });
            }
            offered.push(op.method.as_str());
        }
        if offered.is_empty() {
            OperationMatch::NoSuchPath
        } else {
            OperationMatch::MethodNotOffered(offered)
        }
    }
}

fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// What a lookup of `/api/{slug}/{version}` found.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// The route.
    Found(&'a Arc<Route>),
    /// No service has this slug, or not this version.
    NotFound,
}

/// Shards of the route table. A change rebuilds only the shards of the
/// slugs it touches and shares the others with the previous snapshot, so one
/// change among ten thousand routes copies a few hundred entries, not all.
const ROUTE_SHARDS: usize = 64;

/// Routes by slug, then version: a slug has a handful of versions, so a
/// small list is cheaper to build, search and drop than a map.
type RouteShard = HashMap<String, Vec<(String, Arc<Route>)>>;

/// The route table, in [`ROUTE_SHARDS`] shards by slug.
type RouteShards = Vec<Arc<RouteShard>>;

/// The shard of a slug (SipHash with fixed keys: the same on every build).
fn shard_of(slug: &str) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    slug.hash(&mut hasher);
    (hasher.finish() % ROUTE_SHARDS as u64) as usize
}

/// One immutable view of the registry.
#[derive(Debug)]
pub struct Snapshot {
    /// The store's registry version this was built from.
    pub version: i64,
    /// When it was built.
    pub built_at: SystemTime,
    /// The registry data, for the admin plane.
    pub data: RegistryData,
    /// Systems, credentials and subscriptions, indexed.
    pub consumers: Consumers,
    /// The policy bundle in force, with its decision cache.
    pub policy: PolicyEngine,
    routes: RouteShards,
}

impl Snapshot {
    /// Builds the routing tables, consumer indexes and policy engine from registry data.
    ///
    /// Fails only when the stored policy bundle does not compile; the node then
    /// keeps the snapshot it has rather than run without policies.
    pub fn build(
        version: i64,
        data: RegistryData,
        config: &Config,
        upstreams: &Upstreams,
    ) -> Result<Snapshot, PolicyError> {
        Snapshot::build_from(None, None, version, data, config, upstreams)
    }

    /// [`Snapshot::build`], keeping the routes of `previous` whose service is
    /// unchanged: with ten thousand routes, one change compiles one route.
    /// `changed` names the services (`slug/version`) known to differ from
    /// `previous`; the others are kept without comparing them. Without it,
    /// each service is compared with its previous route's.
    pub fn build_from(
        previous: Option<&Snapshot>,
        changed: Option<&HashSet<String>>,
        version: i64,
        data: RegistryData,
        config: &Config,
        upstreams: &Upstreams,
    ) -> Result<Snapshot, PolicyError> {
        let policy = match (previous, &data.policy) {
            // Compiling Cedar is the costly part of a rebuild; an unchanged bundle is reused.
            (Some(previous), bundle) if previous.data.policy == *bundle => {
                previous.policy.policies().clone()
            }
            (_, Some(bundle)) => PolicySet::parse(&bundle.version, &bundle.cedar, &bundle.fields)?,
            (_, None) => PolicySet::builtin(),
        };
        let routes = match (previous, changed) {
            (Some(previous), Some(changed)) => {
                Snapshot::changed_routes(previous, changed, &data, config, upstreams)
            }
            _ => Snapshot::all_routes(previous, &data, config, upstreams),
        };
        let consumers = Consumers::build(&data);
        Ok(Snapshot {
            version,
            built_at: SystemTime::now(),
            data,
            consumers,
            policy: PolicyEngine::new(policy),
            routes,
        })
    }

    /// Every route, keeping those of `previous` whose service is equal.
    fn all_routes(
        previous: Option<&Snapshot>,
        data: &RegistryData,
        config: &Config,
        upstreams: &Upstreams,
    ) -> RouteShards {
        let mut shards: Vec<RouteShard> = vec![HashMap::new(); ROUTE_SHARDS];
        for service in &data.services {
            let kept =
                previous.and_then(
                    |p| match p.lookup(service.slug.as_str(), &service.version) {
                        Lookup::Found(route) if route.service == *service => Some(route.clone()),
                        _ => None,
                    },
                );
            let route =
                kept.unwrap_or_else(|| Arc::new(Route::build(service.clone(), config, upstreams)));
            shards[shard_of(service.slug.as_str())]
                .entry(service.slug.to_string())
                .or_default()
                .push((service.version.clone(), route));
        }
        shards.into_iter().map(Arc::new).collect()
    }

    /// The routes of `previous` with those in `changed` (`slug/version`,
    /// new or different) rebuilt from `data`; untouched shards are shared.
    fn changed_routes(
        previous: &Snapshot,
        changed: &HashSet<String>,
        data: &RegistryData,
        config: &Config,
        upstreams: &Upstreams,
    ) -> RouteShards {
        let mut shards = previous.routes.clone();
        for key in changed {
            let Some((slug, version)) = key.split_once('/') else {
                continue;
            };
            let found = data
                .services
                .binary_search_by(|s| (s.slug.as_str(), s.version.as_str()).cmp(&(slug, version)));
            let Ok(at) = found else {
                continue;
            };
            let route = Arc::new(Route::build(data.services[at].clone(), config, upstreams));
            let shard = Arc::make_mut(&mut shards[shard_of(slug)]);
            let versions = shard.entry(slug.to_string()).or_default();
            match versions.iter_mut().find(|(v, _)| v == version) {
                Some(held) => held.1 = route,
                None => versions.push((version.to_string(), route)),
            }
        }
        shards
    }

    /// An empty snapshot, before the first load.
    pub fn empty() -> Snapshot {
        Snapshot {
            version: -1,
            built_at: SystemTime::now(),
            data: RegistryData::default(),
            consumers: Consumers::default(),
            policy: PolicyEngine::new(PolicySet::builtin()),
            routes: (0..ROUTE_SHARDS)
                .map(|_| Arc::new(HashMap::new()))
                .collect(),
        }
    }

    /// Looks a service version up.
    pub fn lookup(&self, slug: &str, version: &str) -> Lookup<'_> {
        match self.routes[shard_of(slug)]
            .get(slug)
            .and_then(|versions| versions.iter().find(|(v, _)| v == version))
        {
            Some((_, route)) => Lookup::Found(route),
            None => Lookup::NotFound,
        }
    }

    /// Number of routable service versions.
    pub fn route_count(&self) -> usize {
        self.routes
            .iter()
            .flat_map(|shard| shard.values())
            .map(Vec::len)
            .sum()
    }
}

/// The lifecycle headers of a deprecated service: `Deprecation: @<unix
/// seconds>` (RFC 9745) and `Sunset: <HTTP-date>` (RFC 8594).
fn lifecycle_headers(service: &Service) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if service.state != ServiceState::Deprecated {
        return headers;
    }
    if let Some(ms) = service.deprecated_on.as_deref().and_then(local_day_start)
        && let Ok(v) = HeaderValue::from_str(&format!("@{}", ms.div_euclid(1000)))
    {
        headers.insert("deprecation", v);
    }
    if let Some(ms) = service.sunset_on.as_deref().and_then(local_day_start)
        && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(from_unix_ms(ms)))
    {
        headers.insert("sunset", v);
    }
    headers
}

/// The shared, atomically swapped current snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotHandle(Arc<ArcSwap<Snapshot>>);

impl SnapshotHandle {
    /// A handle holding `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        SnapshotHandle(Arc::new(ArcSwap::from_pointee(snapshot)))
    }

    /// The current snapshot; cheap, lock-free.
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Replaces the snapshot; requests in flight keep the one they loaded.
    pub fn replace(&self, snapshot: Snapshot) {
        self.0.store(Arc::new(snapshot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::UpstreamSettings;

    fn service(ops: &[(&str, &str)]) -> Service {
        toml::from_str::<Service>(&format!(
            "slug='population'\nversion='v1'\nname='Dân cư'\nowner='000.00.00.G01'\n[upstream]\nurl='http://127.0.0.1:1/p/'\n{}",
            ops.iter().map(|(m, p)| format!("[[operations]]\nmethod='{m}'\npath='{p}'\n")).collect::<String>()
        ))
        .expect("service")
    }

    fn named(slug: &str, name: &str) -> Service {
        let mut s = service(&[]);
        s.slug = lgsp_contracts::Slug::parse(slug).expect("slug");
        s.name = name.into();
        s
    }

    fn data_of(mut services: Vec<Service>) -> RegistryData {
        services.sort_by(|a, b| (&a.slug, &a.version).cmp(&(&b.slug, &b.version)));
        RegistryData {
            services,
            ..Default::default()
        }
    }

    #[test]
    fn a_change_rebuilds_its_route_and_shares_the_rest() {
        let config = Config::default();
        let upstreams = Upstreams::plain();
        let many: Vec<Service> = (0..500)
            .map(|i| named(&format!("svc-{i:03}"), "x"))
            .collect();
        let first = Snapshot::build(1, data_of(many.clone()), &config, &upstreams).expect("build");
        let mut next = many.clone();
        next[7].name = "đổi tên".into();
        next.push(named("moi", "mới"));
        let changed: HashSet<String> = ["svc-007/v1".to_string(), "moi/v1".to_string()].into();
        let second = Snapshot::build_from(
            Some(&first),
            Some(&changed),
            2,
            data_of(next.clone()),
            &config,
            &upstreams,
        )
        .expect("build");
        let route = |snap: &Snapshot, slug: &str| match snap.lookup(slug, "v1") {
            Lookup::Found(route) => route.clone(),
            Lookup::NotFound => panic!("{slug} not routed"),
        };
        assert_eq!(route(&second, "svc-007").service.name, "đổi tên");
        assert_eq!(route(&second, "moi").service.name, "mới");
        assert!(
            Arc::ptr_eq(&route(&first, "svc-100"), &route(&second, "svc-100")),
            "unchanged routes are kept"
        );
        assert_eq!(second.route_count(), 501);
        let shared = first
            .routes
            .iter()
            .zip(&second.routes)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(
            shared >= ROUTE_SHARDS - 2,
            "only the touched shards are rebuilt: {shared} shared"
        );
        // Without the change list every service is compared: the same result.
        let compared =
            Snapshot::build_from(Some(&first), None, 2, data_of(next), &config, &upstreams)
                .expect("build");
        assert_eq!(route(&compared, "svc-007").service.name, "đổi tên");
        assert!(Arc::ptr_eq(
            &route(&first, "svc-100"),
            &route(&compared, "svc-100")
        ));
    }

    #[test]
    fn resolves_defaults_and_trims_base() {
        let mut s = service(&[]);
        s.upstream = UpstreamSettings {
            timeout_ms: Some(250),
            ..s.upstream
        };
        let snap = Snapshot::build(
            1,
            RegistryData {
                services: vec![s],
                ..Default::default()
            },
            &Config::default(),
            &crate::upstream::Upstreams::plain(),
        )
        .expect("snapshot");
        let Lookup::Found(route) = snap.lookup("population", "v1") else {
            panic!("route")
        };
        assert_eq!(route.upstream_base, "http://127.0.0.1:1/p");
        assert_eq!(route.call.timeout, Duration::from_millis(250));
        assert_eq!(route.call.connect_timeout, Duration::from_millis(2_000));
        assert!(matches!(snap.lookup("population", "v2"), Lookup::NotFound));
        assert!(matches!(snap.lookup("nope", "v1"), Lookup::NotFound));
    }

    #[test]
    fn matches_operations_with_params() {
        let snap = Snapshot::build(
            1,
            RegistryData {
                services: vec![service(&[
                    ("GET", "/citizens/{soDinhDanh}"),
                    ("POST", "/citizens"),
                ])],
                ..Default::default()
            },
            &Config::default(),
            &crate::upstream::Upstreams::plain(),
        )
        .expect("snapshot");
        let Lookup::Found(route) = snap.lookup("population", "v1") else {
            panic!("route")
        };
        assert_eq!(
            route.match_operation(&Method::GET, "/citizens/001203004567"),
            OperationMatch::Matched(MatchedOperation {
                template: "/citizens/{soDinhDanh}",
                params: vec![("soDinhDanh", "001203004567".into())]
            })
        );
        assert_eq!(
            route.match_operation(&Method::DELETE, "/citizens/1"),
            OperationMatch::MethodNotOffered(vec!["GET"])
        );
        assert_eq!(
            route.match_operation(&Method::GET, "/households/1"),
            OperationMatch::NoSuchPath
        );
        assert!(matches!(
            route.match_operation(&Method::POST, "/citizens"),
            OperationMatch::Matched(_)
        ));
    }

    #[test]
    fn undeclared_operations_pass_through() {
        let snap = Snapshot::build(
            1,
            RegistryData {
                services: vec![service(&[])],
                ..Default::default()
            },
            &Config::default(),
            &crate::upstream::Upstreams::plain(),
        )
        .expect("snapshot");
        let Lookup::Found(route) = snap.lookup("population", "v1") else {
            panic!("route")
        };
        assert_eq!(
            route.match_operation(&Method::PATCH, "/anything/at/all"),
            OperationMatch::Undeclared
        );
    }

    #[test]
    fn handle_swaps_atomically() {
        let handle = SnapshotHandle::new(Snapshot::empty());
        let before = handle.current();
        handle.replace(
            Snapshot::build(
                7,
                RegistryData::default(),
                &Config::default(),
                &crate::upstream::Upstreams::plain(),
            )
            .expect("snapshot"),
        );
        assert_eq!(
            before.version, -1,
            "a loaded snapshot never changes under its reader"
        );
        assert_eq!(handle.current().version, 7);
    }
}
