//! Stage 2, route: find the service version for `/api/{service}/{version}/{rest}`
//! in the snapshot, check its lifecycle state, match the operation and
//! validate identifiers in the path before any upstream call.

use crate::problem::GatewayError;
use crate::registry::model::ServiceState;
use crate::registry::snapshot::{Lookup, OperationMatch, Route, Snapshot};
use http::{Method, Uri};
use std::sync::Arc;

/// A request matched to a route.
#[derive(Debug)]
pub struct Routed {
    /// The service version.
    pub route: Arc<Route>,
    /// The path below the version: empty, or starting with `/`.
    pub rest: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The matched operation's template, when the service declares operations.
    pub operation: Option<String>,
    /// The operation's path parameters by name (identifiers already validated).
    pub params: Vec<(String, String)>,
    /// Production or sandbox upstream, by the caller's onboarding stage.
    pub lane: Lane,
}

/// Which upstream a call goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lane {
    /// The service's production upstream (live systems).
    #[default]
    Production,
    /// The service's sandbox (systems in trial or accepted, not yet live).
    Sandbox,
}

impl Routed {
    /// The base URL of the upstream this call goes to.
    pub fn upstream_base(&self) -> &str {
        match (self.lane, &self.route.sandbox_base) {
            (Lane::Sandbox, Some(base)) => base,
            _ => &self.route.upstream_base,
        }
    }
}

/// Routes a request.
pub fn route(snapshot: &Snapshot, method: &Method, uri: &Uri) -> Result<Routed, GatewayError> {
    let path = uri.path();
    let not_found = || GatewayError::ServiceNotFound(path_for_humans(path));
    let below_api = path.strip_prefix("/api/").ok_or_else(not_found)?;
    let mut parts = below_api.splitn(3, '/');
    let slug = parts
        .next()
        .filter(|s| !s.is_empty())
        .ok_or_else(not_found)?;
    let version = parts
        .next()
        .filter(|s| !s.is_empty())
        .ok_or_else(not_found)?;
    // `/api/x/v1` reaches the upstream base itself; `/api/x/v1/` its root.
    let rest = parts.next().map(|r| format!("/{r}")).unwrap_or_default();

    let route = match snapshot.lookup(slug, version) {
        Lookup::Found(route) => route.clone(),
        Lookup::NotFound => return Err(not_found()),
    };
    match route.service.state {
        ServiceState::Published | ServiceState::Deprecated => {}
        ServiceState::Draft => return Err(not_found()),
        ServiceState::Retired => return Err(GatewayError::ServiceRetired(route.key.clone())),
        ServiceState::Blocked => return Err(GatewayError::ServiceBlocked(route.key.clone())),
    }
    check_traversal(&rest)?;

    let mut params = Vec::new();
    let operation = match route.match_operation(method, &rest) {
        OperationMatch::Undeclared => None,
        OperationMatch::Matched(op) => {
            for (name, value) in &op.params {
                lgsp_contracts::identifiers::validate_named(name, value).map_err(|e| {
                    GatewayError::InvalidRequest(format!("path parameter {name}: {e}"))
                })?;
            }
            params = op
                .params
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect();
            Some(op.template.to_string())
        }
        OperationMatch::MethodNotOffered(offered) => {
            return Err(GatewayError::InvalidRequest(format!(
                "method {method} is not offered here; this path accepts {}",
                offered.join(", ")
            )));
        }
        OperationMatch::NoSuchPath => {
            return Err(GatewayError::ServiceNotFound(format!(
                "{} has no operation at this path",
                route.key
            )));
        }
    };
    Ok(Routed {
        route,
        rest,
        query: uri.query().map(str::to_string),
        operation,
        params,
        lane: Lane::Production,
    })
}

/// Refuses dot segments, raw or percent-encoded, so a caller cannot climb
/// out of the service's upstream base path.
fn check_traversal(rest: &str) -> Result<(), GatewayError> {
    let lowered = rest.to_ascii_lowercase();
    let encoded = lowered.contains("%2e") || lowered.contains("%2f") || lowered.contains("%5c");
    let dotted = rest.split('/').any(|s| s == "." || s == "..");
    if encoded || dotted || rest.contains('\\') {
        return Err(GatewayError::InvalidRequest(
            "path must not contain dot segments or encoded separators".into(),
        ));
    }
    Ok(())
}

/// Paths may hold personal IDs; problem details show only the first segments.
fn path_for_humans(path: &str) -> String {
    let shown: Vec<&str> = path.split('/').take(4).collect();
    let mut text = shown.join("/");
    if path.split('/').count() > 4 {
        text.push_str("/…");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::registry::model::{RegistryData, Service};

    fn snapshot(state: &str) -> Snapshot {
        let service: Service = toml::from_str(&format!(
            "slug='population'\nversion='v1'\nname='Dân cư'\nowner='000.00.00.G01'\nstate='{state}'\n[upstream]\nurl='http://127.0.0.1:1/p'\n[[operations]]\nmethod='GET'\npath='/citizens/{{soDinhDanh}}'\n"
        ))
        .expect("service");
        Snapshot::build(
            1,
            RegistryData {
                services: vec![service],
                ..Default::default()
            },
            &Config::default(),
            &crate::upstream::Upstreams::plain(),
        )
        .expect("snapshot")
    }

    fn uri(s: &str) -> Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn routes_a_published_operation() {
        let snap = snapshot("published");
        let routed = route(
            &snap,
            &Method::GET,
            &uri("/api/population/v1/citizens/001203004567?x=1"),
        )
        .expect("routed");
        assert_eq!(routed.rest, "/citizens/001203004567");
        assert_eq!(routed.query.as_deref(), Some("x=1"));
        assert_eq!(routed.operation.as_deref(), Some("/citizens/{soDinhDanh}"));
    }

    #[test]
    fn bare_version_maps_to_the_upstream_base() {
        let snap = Snapshot::build(
            1,
            RegistryData {
                services: vec![toml::from_str("slug='fixed'\nversion='v1'\nname='x'\nowner='000.00.00.G01'\n[upstream]\nurl='http://127.0.0.1:1/fixed'\n").expect("service")],
                ..Default::default()
            },
            &Config::default(),
            &crate::upstream::Upstreams::plain(),
        )
        .expect("snapshot");
        assert_eq!(
            route(&snap, &Method::GET, &uri("/api/fixed/v1"))
                .expect("routed")
                .rest,
            ""
        );
        assert_eq!(
            route(&snap, &Method::GET, &uri("/api/fixed/v1/"))
                .expect("routed")
                .rest,
            "/"
        );
    }

    #[test]
    fn unknown_service_or_version() {
        let snap = snapshot("published");
        for path in [
            "/api/nope/v1/x",
            "/api/population/v9/citizens/001203004567",
            "/api/",
            "/api/population",
            "/other",
        ] {
            assert!(
                matches!(
                    route(&snap, &Method::GET, &uri(path)),
                    Err(GatewayError::ServiceNotFound(_))
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn malformed_personal_id_is_invalid_and_not_echoed() {
        let snap = snapshot("published");
        let err = route(
            &snap,
            &Method::GET,
            &uri("/api/population/v1/citizens/12345"),
        )
        .expect_err("invalid");
        assert!(matches!(err, GatewayError::InvalidRequest(_)));
        assert!(!err.to_string().contains("12345"));
    }

    #[test]
    fn lifecycle_states() {
        let u = uri("/api/population/v1/citizens/001203004567");
        assert!(matches!(
            route(&snapshot("retired"), &Method::GET, &u),
            Err(GatewayError::ServiceRetired(_))
        ));
        assert!(matches!(
            route(&snapshot("blocked"), &Method::GET, &u),
            Err(GatewayError::ServiceBlocked(_))
        ));
        assert!(matches!(
            route(&snapshot("draft"), &Method::GET, &u),
            Err(GatewayError::ServiceNotFound(_))
        ));
        assert!(route(&snapshot("deprecated"), &Method::GET, &u).is_ok());
    }

    #[test]
    fn wrong_method_and_traversal() {
        let snap = snapshot("published");
        assert!(matches!(
            route(
                &snap,
                &Method::POST,
                &uri("/api/population/v1/citizens/001203004567")
            ),
            Err(GatewayError::InvalidRequest(_))
        ));
        for bad in [
            "/api/population/v1/citizens/../admin",
            "/api/population/v1/%2e%2e/x",
            "/api/population/v1/a%2Fb",
        ] {
            assert!(
                matches!(
                    route(&snap, &Method::GET, &uri(bad)),
                    Err(GatewayError::InvalidRequest(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn human_path_hides_identifiers() {
        assert_eq!(
            path_for_humans("/api/population/v1/citizens/001203004567"),
            "/api/population/v1/…"
        );
    }
}
