//! Fault knobs and hit counts per route family, and the middleware that
//! applies them: added latency, error answers, malformed bodies and TCP
//! resets, either for the next N requests or at a rate.
//!
//! The knobs are read on every simulated request, so the common case (no
//! fault set) costs two atomic operations and no lock.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::replies;
use super::server::ConnectionReset;

/// The route families faults and statistics are kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKey {
    Population,
    CivilStatus,
    Enterprise,
    SocialInsurance,
    Echo,
    Fixed,
    EnterpriseSoap,
    Land,
    NdxpToken,
    Ndxp,
    Ndop,
    Vapex,
}

impl RouteKey {
    /// Every route family, in the order they are shown.
    pub(crate) const ALL: [RouteKey; 12] = [
        RouteKey::Population,
        RouteKey::CivilStatus,
        RouteKey::Enterprise,
        RouteKey::SocialInsurance,
        RouteKey::Echo,
        RouteKey::Fixed,
        RouteKey::EnterpriseSoap,
        RouteKey::Land,
        RouteKey::NdxpToken,
        RouteKey::Ndxp,
        RouteKey::Ndop,
        RouteKey::Vapex,
    ];

    /// The name used in `/__sim` paths and bodies.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RouteKey::Population => "population",
            RouteKey::CivilStatus => "civil_status",
            RouteKey::Enterprise => "enterprise",
            RouteKey::SocialInsurance => "social_insurance",
            RouteKey::Echo => "echo",
            RouteKey::Fixed => "fixed",
            RouteKey::EnterpriseSoap => "enterprise_soap",
            RouteKey::Land => "land",
            RouteKey::NdxpToken => "ndxp_token",
            RouteKey::Ndxp => "ndxp",
            RouteKey::Ndop => "ndop",
            RouteKey::Vapex => "vapex",
        }
    }

    /// Whether the family answers in SOAP, so its injected errors are
    /// faults and its malformed answers broken XML.
    fn speaks_soap(self) -> bool {
        self == RouteKey::EnterpriseSoap
    }

    /// The family with this name.
    pub(crate) fn parse(name: &str) -> Option<RouteKey> {
        RouteKey::ALL.into_iter().find(|key| key.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The faults of one route family, as set by `PUT /__sim/faults/{route}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FaultSettings {
    /// Added before answering.
    pub latency_ms: u64,
    /// Share of requests answered with `error_status`.
    pub error_rate: f64,
    /// Status of error answers.
    pub error_status: u16,
    /// The next N requests fail with `error_status`.
    pub fail_next: u32,
    /// Share of requests answered 200 with a truncated body (JSON, or XML on SOAP routes).
    pub malformed_rate: f64,
    /// Share of requests whose connection is reset without an answer.
    pub reset_rate: f64,
    /// The next N requests have their connection reset.
    pub reset_next: u32,
}

impl Default for FaultSettings {
    fn default() -> Self {
        FaultSettings {
            latency_ms: 0,
            error_rate: 0.0,
            error_status: 500,
            fail_next: 0,
            malformed_rate: 0.0,
            reset_rate: 0.0,
            reset_next: 0,
        }
    }
}

/// Longest latency that can be set, so a typo cannot park every request for days.
const MAX_LATENCY_MS: u64 = 10 * 60 * 1000;

impl FaultSettings {
    /// Checks the ranges; the message is shown to the caller.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        if ![self.error_rate, self.malformed_rate, self.reset_rate]
            .into_iter()
            .all(rate_ok)
        {
            return Err("error_rate, malformed_rate và reset_rate phải trong khoảng 0..1");
        }
        if !(400..=599).contains(&self.error_status) {
            return Err("error_status phải trong khoảng 400..599");
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err("latency_ms không được vượt quá 600000");
        }
        Ok(())
    }

    fn is_quiet(&self) -> bool {
        let quiet = FaultSettings {
            error_status: self.error_status,
            ..FaultSettings::default()
        };
        *self == quiet
    }
}

/// The live state of one route family.
#[derive(Debug, Default)]
struct RouteFaults {
    settings: RwLock<FaultSettings>,
    fail_next: AtomicU32,
    reset_next: AtomicU32,
    /// Whether any fault is set; lets quiet routes skip the lock.
    active: AtomicBool,
    hits: AtomicU64,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail(StatusCode),
    Malformed,
    Reset,
}

/// The faults and hit counts of every route family.
#[derive(Debug)]
pub(crate) struct FaultBoard {
    routes: [RouteFaults; RouteKey::ALL.len()],
    /// Seeded so a test run with rates replays the same faults.
    rng: Mutex<ChaCha8Rng>,
}

/// Decrements a countdown if it is positive; true when it was.
fn take_one(countdown: &AtomicU32) -> bool {
    countdown
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl FaultBoard {
    /// A board without faults whose rates draw from `seed`.
    pub(crate) fn new(seed: u64) -> FaultBoard {
        FaultBoard {
            routes: std::array::from_fn(|_| RouteFaults::default()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0xFA17_5EED)),
        }
    }

    fn route(&self, key: RouteKey) -> &RouteFaults {
        &self.routes[key.index()]
    }

    /// Replaces the faults of a route family.
    pub(crate) fn set(&self, key: RouteKey, settings: FaultSettings) {
        let route = self.route(key);
        let mut current = route
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = settings;
        route.fail_next.store(settings.fail_next, Ordering::Release);
        route
            .reset_next
            .store(settings.reset_next, Ordering::Release);
        route.active.store(!settings.is_quiet(), Ordering::Release);
    }

    /// Removes every fault.
    pub(crate) fn clear(&self) {
        for key in RouteKey::ALL {
            self.set(key, FaultSettings::default());
        }
    }

    /// The faults of a route family, with what remains of the countdowns.
    pub(crate) fn settings(&self, key: RouteKey) -> FaultSettings {
        let route = self.route(key);
        let settings = *route
            .settings
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        FaultSettings {
            fail_next: route.fail_next.load(Ordering::Acquire),
            reset_next: route.reset_next.load(Ordering::Acquire),
            ..settings
        }
    }

    /// Requests seen by a route family since start or the last reset.
    pub(crate) fn hits(&self, key: RouteKey) -> u64 {
        self.route(key).hits.load(Ordering::Relaxed)
    }

    /// Sets every hit count back to zero.
    pub(crate) fn reset_hits(&self) {
        for route in &self.routes {
            route.hits.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a request and decides its fate; `None` when no fault is set.
    fn admit(&self, key: RouteKey) -> Option<(Duration, Outcome)> {
        let route = self.route(key);
        route.hits.fetch_add(1, Ordering::Relaxed);
        if !route.active.load(Ordering::Acquire) {
            return None;
        }
        let settings = *route
            .settings
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let error_status = StatusCode::from_u16(settings.error_status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Countdowns come first so "fail the next request" is exact even with rates set.
        let outcome = if take_one(&route.reset_next) {
            Outcome::Reset
        } else if take_one(&route.fail_next) {
            Outcome::Fail(error_status)
        } else if settings.reset_rate > 0.0
            || settings.error_rate > 0.0
            || settings.malformed_rate > 0.0
        {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            if rng.random::<f64>() < settings.reset_rate {
                Outcome::Reset
            } else if rng.random::<f64>() < settings.error_rate {
                Outcome::Fail(error_status)
            } else if rng.random::<f64>() < settings.malformed_rate {
                Outcome::Malformed
            } else {
                Outcome::Pass
            }
        } else {
            Outcome::Pass
        };
        Some((Duration::from_millis(settings.latency_ms), outcome))
    }
}

/// The state of the fault middleware of one route family.
#[derive(Debug, Clone)]
pub(crate) struct FaultGate {
    pub board: Arc<FaultBoard>,
    pub key: RouteKey,
}

/// A JSON body cut off in the middle of a string, as a crashed upstream sends.
const MALFORMED_BODY: &[u8] =
    "{\"maKetQua\":\"00\",\"moTa\":\"Thành công\",\"duLieu\":{\"hoTen\":\"Nguyễn Văn".as_bytes();

/// A SOAP answer cut off inside an element, as a crashed upstream sends.
const MALFORMED_SOAP_BODY: &[u8] = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">"#,
    r#"<soapenv:Body><dn:TraCuuDoanhNghiepResponse xmlns:dn="urn:lgsp:dkkd:doanhnghiep:v1"><dn:doanhNghiep>"#,
    "<dn:tenDoanhNghiep>Công ty TNHH Thương mại"
)
.as_bytes();

/// Middleware: counts the request and applies the faults of its route family.
pub(crate) async fn apply_faults(
    State(gate): State<FaultGate>,
    request: Request,
    next: Next,
) -> Response {
    let Some((latency, outcome)) = gate.board.admit(gate.key) else {
        return next.run(request).await;
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match outcome {
        Outcome::Pass => next.run(request).await,
        Outcome::Fail(status) if gate.key.speaks_soap() => replies::soap_fault(
            status,
            "Server",
            "Lỗi hệ thống (lỗi giả lập của trình mô phỏng)",
            "SYSTEM_ERROR",
        ),
        Outcome::Fail(status) => replies::lgsp_error(
            status,
            "SYSTEM_ERROR",
            "Lỗi hệ thống (lỗi giả lập của trình mô phỏng)",
        ),
        Outcome::Malformed if gate.key.speaks_soap() => {
            replies::soap_bytes(StatusCode::OK, Bytes::from_static(MALFORMED_SOAP_BODY))
        }
        Outcome::Malformed => {
            replies::json_bytes(StatusCode::OK, Bytes::from_static(MALFORMED_BODY))
        }
        Outcome::Reset => {
            reset_connection(request.extensions().get::<ConnectionReset>().cloned()).await
        }
    }
}

/// Asks the connection task to reset the connection, then waits to be dropped with it.
async fn reset_connection(reset: Option<ConnectionReset>) -> Response {
    if let Some(reset) = reset {
        reset.fire();
        // The connection task drops this future along with the connection;
        // the bound only matters if that task is already gone.
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    // Served without the simulator's own server (no reset signal): the
    // closest a plain router can get is an error answer.
    replies::lgsp_error(
        StatusCode::BAD_GATEWAY,
        "SYSTEM_ERROR",
        "Không ngắt được kết nối (lỗi giả lập)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_come_before_rates_and_run_out() {
        let board = FaultBoard::new(1);
        assert_eq!(board.admit(RouteKey::Fixed), None);
        board.set(
            RouteKey::Fixed,
            FaultSettings {
                fail_next: 2,
                reset_next: 1,
                error_status: 503,
                ..Default::default()
            },
        );
        let outcomes: Vec<_> = (0..4)
            .filter_map(|_| board.admit(RouteKey::Fixed))
            .map(|p| p.1)
            .collect();
        let unavailable = Outcome::Fail(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            outcomes,
            [Outcome::Reset, unavailable, unavailable, Outcome::Pass]
        );
        assert_eq!(board.hits(RouteKey::Fixed), 5);
        assert_eq!(board.settings(RouteKey::Fixed).fail_next, 0);
        board.clear();
        board.reset_hits();
        assert_eq!(board.admit(RouteKey::Fixed), None);
        assert_eq!(board.hits(RouteKey::Fixed), 1);
    }

    #[test]
    fn rates_follow_their_share() {
        let board = FaultBoard::new(7);
        board.set(
            RouteKey::Echo,
            FaultSettings {
                error_rate: 0.25,
                ..Default::default()
            },
        );
        let failed = (0..4000)
            .filter(|_| matches!(board.admit(RouteKey::Echo), Some((_, Outcome::Fail(_)))))
            .count();
        assert!((800..1200).contains(&failed), "{failed}");
    }

    #[test]
    fn validation_and_names() {
        assert!(FaultSettings::default().validate().is_ok());
        assert!(
            FaultSettings {
                error_rate: 1.5,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            FaultSettings {
                reset_rate: f64::NAN,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            FaultSettings {
                error_status: 200,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        for key in RouteKey::ALL {
            assert_eq!(RouteKey::parse(key.name()), Some(key));
        }
        assert_eq!(RouteKey::parse("vehicles"), None);
        assert!(RouteKey::EnterpriseSoap.speaks_soap());
        assert!(!RouteKey::Enterprise.speaks_soap());
    }
}
