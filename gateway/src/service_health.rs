//! Service health statistics, like X-Road's health data: for each service
//! (route key `slug/version`), over a sliding window, how many exchanges
//! succeeded and failed, how long they took (min, mean, max, p95) and how
//! large their requests and responses were. Served as JSON at
//! `GET /admin/v1/health/services` on the admin listener.
//!
//! The window is [`BUCKETS`] time buckets of `window / BUCKETS` each, kept
//! per (service, consumer system): recording an exchange touches only the
//! current bucket of its series, so it costs the same whatever the traffic.
//! Reading sums the buckets still inside the window, so the window is exact
//! to within one bucket (10 s for the default 10 minutes). Buckets exist only
//! for series that had traffic in them, so an idle service costs nothing.
//!
//! The p95 comes from a fixed log-scale histogram per bucket ([`BINS`] bins,
//! four per doubling from [`BASE_MICROS`]): it is the upper edge of the bin
//! holding the 95th percentile, clamped to the observed min and max, so it is
//! at most 19 % above the true value and never above the max. Histograms of
//! buckets and systems merge by adding bins, which a sample could not.
//!
//! Statistics are per node and in memory: a restart starts an empty window.

use crate::admin::accounts::Role;
use crate::admin::auth::{AdminCaller, require};
use crate::admin::error::AdminError;
use crate::audit::record::Outcome;
use crate::server::NodeState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Time buckets in one window.
pub const BUCKETS: u64 = 60;
/// Bins of a bucket's duration histogram.
pub const BINS: usize = 96;
/// The lower edge of the second bin: durations under it share the first.
pub const BASE_MICROS: f64 = 50.0;
/// Bins per doubling of the duration.
const BINS_PER_DOUBLING: f64 = 4.0;
/// The system of exchanges refused before any system was known.
const NO_SYSTEM: &str = "-";

/// One finished exchange of a routed service, as the statistics see it.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// The route key, `slug/version`.
    pub service: &'a str,
    /// The consumer system, once authenticated.
    pub system: Option<&'a str>,
    /// Its agency code.
    pub agency: Option<&'a str>,
    /// Allowed, refused or failed.
    pub outcome: Outcome,
    /// Time spent in the gateway.
    pub elapsed: Duration,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes.
    pub response_bytes: u64,
}

/// The sliding-window statistics of every service this node routed.
#[derive(Debug)]
pub struct ServiceHealth {
    /// The whole window.
    window: Duration,
    /// One bucket's span: `window / BUCKETS`.
    width: Duration,
    /// Bucket numbers count from here.
    origin: Instant,
    /// Per service, per system: the buckets that had traffic.
    series: Mutex<HashMap<String, HashMap<String, Series>>>,
}

/// The buckets of one (service, system) pair, oldest first.
#[derive(Debug, Default)]
struct Series {
    /// The system's agency, for the commune officer's view.
    agency: Option<String>,
    /// (bucket number, its tally), at most [`BUCKETS`] of them.
    buckets: VecDeque<(u64, Tally)>,
}

/// What one bucket (or a sum of them) counted.
#[derive(Debug, Clone)]
struct Tally {
    successes: u64,
    refused: u64,
    failed: u64,
    duration_micros: Spread,
    bins: [u32; BINS],
    request_bytes: Spread,
    response_bytes: Spread,
}

/// Min, max and sum of a quantity; the count is the tally's total.
#[derive(Debug, Clone, Copy)]
struct Spread {
    min: u64,
    max: u64,
    sum: u64,
}

impl Default for Spread {
    fn default() -> Self {
        Spread {
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }
}

impl Spread {
    fn add(&mut self, value: u64) {
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum = self.sum.saturating_add(value);
    }

    fn merge(&mut self, other: &Spread) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum = self.sum.saturating_add(other.sum);
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            successes: 0,
            refused: 0,
            failed: 0,
            duration_micros: Spread::default(),
            bins: [0; BINS],
            request_bytes: Spread::default(),
            response_bytes: Spread::default(),
        }
    }
}

impl Tally {
    fn total(&self) -> u64 {
        self.successes + self.refused + self.failed
    }

    fn add(&mut self, seen: &Observation<'_>) {
        match seen.outcome {
            Outcome::Allowed => self.successes += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Failed => self.failed += 1,
        }
        let micros = u64::try_from(seen.elapsed.as_micros()).unwrap_or(u64::MAX);
        self.duration_micros.add(micros);
        let bin = &mut self.bins[bin_of(micros)];
        *bin = bin.saturating_add(1);
        self.request_bytes.add(seen.request_bytes);
        self.response_bytes.add(seen.response_bytes);
    }

    fn merge(&mut self, other: &Tally) {
        self.successes += other.successes;
        self.refused += other.refused;
        self.failed += other.failed;
        self.duration_micros.merge(&other.duration_micros);
        for (mine, theirs) in self.bins.iter_mut().zip(other.bins.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
        self.request_bytes.merge(&other.request_bytes);
        self.response_bytes.merge(&other.response_bytes);
    }

    /// The upper edge of the bin holding the 95th percentile, within [min, max].
    fn p95_micros(&self) -> u64 {
        let total: u64 = self.bins.iter().map(|n| u64::from(*n)).sum();
        let rank = (total * 95).div_ceil(100).max(1);
        let mut seen = 0;
        let mut edge = self.duration_micros.max;
        for (bin, n) in self.bins.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= rank {
                edge = upper_edge(bin);
                break;
            }
        }
        edge.clamp(self.duration_micros.min, self.duration_micros.max)
    }

    fn report(&self) -> Stats {
        let count = self.total();
        let spread = |s: &Spread, scale: f64| SpreadReport {
            min: if count == 0 {
                0.0
            } else {
                s.min as f64 / scale
            },
            mean: if count == 0 {
                0.0
            } else {
                s.sum as f64 / count as f64 / scale
            },
            max: s.max as f64 / scale,
        };
        let bytes = |s: &Spread| BytesReport {
            min: if count == 0 { 0 } else { s.min },
            mean: s.sum.checked_div(count).unwrap_or(0),
            max: s.max,
            total: s.sum,
        };
        let duration = spread(&self.duration_micros, 1000.0);
        Stats {
            successes: self.successes,
            failures: self.refused + self.failed,
            refused: self.refused,
            failed: self.failed,
            duration_ms: DurationReport {
                min: duration.min,
                mean: duration.mean,
                max: duration.max,
                p95: if count == 0 {
                    0.0
                } else {
                    self.p95_micros() as f64 / 1000.0
                },
            },
            request_bytes: bytes(&self.request_bytes),
            response_bytes: bytes(&self.response_bytes),
        }
    }
}

/// The histogram bin of a duration in microseconds.
fn bin_of(micros: u64) -> usize {
    if (micros as f64) < BASE_MICROS {
        return 0;
    }
    let bin = 1.0 + (BINS_PER_DOUBLING * (micros as f64 / BASE_MICROS).log2()).floor();
    (bin as usize).min(BINS - 1)
}

/// The largest duration (µs) a bin holds; the last bin is open-ended.
fn upper_edge(bin: usize) -> u64 {
    if bin + 1 >= BINS {
        return u64::MAX;
    }
    (BASE_MICROS * 2f64.powf(bin as f64 / BINS_PER_DOUBLING)).ceil() as u64
}

/// Which exchanges a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Every exchange (operators, province admins).
    All,
    /// Only exchanges of systems of this agency (a commune officer's).
    Agency(&'a str),
}

impl ServiceHealth {
    /// Empty statistics over a window of `window` (at least one microsecond per bucket).
    pub fn new(window: Duration) -> ServiceHealth {
        let window = window.max(Duration::from_micros(BUCKETS));
        ServiceHealth {
            window,
            width: window / BUCKETS as u32,
            origin: Instant::now(),
            series: Mutex::new(HashMap::new()),
        }
    }

    /// The window the statistics cover.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The bucket number of now.
    fn bucket_now(&self) -> u64 {
        let since = Instant::now().saturating_duration_since(self.origin);
        u64::try_from(since.as_nanos() / self.width.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    /// Counts one finished exchange into the current bucket of its series.
    pub fn record(&self, seen: &Observation<'_>) {
        let now = self.bucket_now();
        let system = seen.system.unwrap_or(NO_SYSTEM);
        let mut services = self.series.lock().unwrap_or_else(|p| p.into_inner());
        // Allocate the keys only the first time a pair is seen.
        let systems = match services.get_mut(seen.service) {
            Some(systems) => systems,
            None => services.entry(seen.service.to_string()).or_default(),
        };
        let series = match systems.get_mut(system) {
            Some(series) => series,
            None => systems.entry(system.to_string()).or_default(),
        };
        if series.agency.as_deref() != seen.agency {
            series.agency = seen.agency.map(str::to_string);
        }
        series.expire(now);
        match series.buckets.back_mut() {
            Some((bucket, tally)) if *bucket == now => tally.add(seen),
            _ => {
                let mut tally = Tally::default();
                tally.add(seen);
                series.buckets.push_back((now, tally));
            }
        }
    }

    /// Every service with traffic in the window that `scope` may see, by route key.
    pub fn report(&self, scope: Scope<'_>) -> Vec<ServiceReport> {
        let now = self.bucket_now();
        let mut services = self.series.lock().unwrap_or_else(|p| p.into_inner());
        // Reading is also when series gone quiet are forgotten.
        services.retain(|_, systems| {
            systems.retain(|_, series| {
                series.expire(now);
                !series.buckets.is_empty()
            });
            !systems.is_empty()
        });
        let mut reports: Vec<ServiceReport> = services
            .iter()
            .filter_map(|(service, systems)| {
                let mut total = Tally::default();
                let mut per_system: Vec<SystemReport> = systems
                    .iter()
                    .filter(|(_, series)| match scope {
                        Scope::All => true,
                        Scope::Agency(agency) => series.agency.as_deref() == Some(agency),
                    })
                    .map(|(system, series)| {
                        let mut sum = Tally::default();
                        for (_, tally) in &series.buckets {
                            sum.merge(tally);
                        }
                        total.merge(&sum);
                        SystemReport {
                            system: system.clone(),
                            agency: series.agency.clone(),
                            stats: sum.report(),
                        }
                    })
                    .collect();
                if per_system.is_empty() {
                    return None;
                }
                per_system.sort_by(|a, b| a.system.cmp(&b.system));
                Some(ServiceReport {
                    service: service.clone(),
                    stats: total.report(),
                    systems: per_system,
                })
            })
            .collect();
        reports.sort_by(|a, b| a.service.cmp(&b.service));
        reports
    }
}

impl Series {
    /// Drops the buckets that have left the window.
    fn expire(&mut self, now: u64) {
        while self
            .buckets
            .front()
            .is_some_and(|(bucket, _)| bucket + BUCKETS <= now)
        {
            self.buckets.pop_front();
        }
    }
}

/// One service's statistics over the window.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    /// The route key, `slug/version`.
    pub service: String,
    /// Over every system the reader may see.
    #[serde(flatten)]
    pub stats: Stats,
    /// The same, per consumer system (`-` for callers refused before authenticating).
    pub systems: Vec<SystemReport>,
}

/// One consumer system's share of a service's statistics.
#[derive(Debug, Clone, Serialize)]
pub struct SystemReport {
    /// The system slug.
    pub system: String,
    /// Its agency code.
    pub agency: Option<String>,
    /// Its exchanges with the service.
    #[serde(flatten)]
    pub stats: Stats,
}

/// Counts, durations and sizes of a set of exchanges.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Answered without a problem code (upstream 4xx answers included).
    pub successes: u64,
    /// Answered with a problem code: `refused` plus `failed`.
    pub failures: u64,
    /// Refused by a control (authentication, policy, limits).
    pub refused: u64,
    /// Failed on the way (upstream errors, timeouts, internal faults).
    pub failed: u64,
    /// Time spent in the gateway, in milliseconds.
    pub duration_ms: DurationReport,
    /// Request body sizes.
    pub request_bytes: BytesReport,
    /// Response body sizes.
    pub response_bytes: BytesReport,
}

/// Durations in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DurationReport {
    /// Shortest.
    pub min: f64,
    /// Average.
    pub mean: f64,
    /// Longest.
    pub max: f64,
    /// 95th percentile, from the histogram (at most 19 % high, never above `max`).
    pub p95: f64,
}

/// Sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BytesReport {
    /// Smallest.
    pub min: u64,
    /// Average, rounded down.
    pub mean: u64,
    /// Largest.
    pub max: u64,
    /// Sum.
    pub total: u64,
}

/// Min, mean and max of a quantity, before it is named.
struct SpreadReport {
    min: f64,
    mean: f64,
    max: f64,
}

/// The JSON of `GET /admin/v1/health/services`.
#[derive(Debug, Serialize)]
pub struct HealthReport {
    /// The window the statistics cover, in seconds.
    pub window_secs: f64,
    /// Every service with traffic in the window, by route key.
    pub services: Vec<ServiceReport>,
}

/// `GET /admin/v1/health/services`: operators and province admins see every
/// service; a commune officer sees only exchanges of its own agency's systems.
pub async fn services(
    caller: AdminCaller,
    State(state): State<NodeState>,
) -> Result<Json<HealthReport>, AdminError> {
    require(
        &caller,
        &[Role::Operator, Role::ProvinceAdmin, Role::CommuneOfficer],
    )?;
    let health = state.metrics.health();
    let services = match (caller.role, caller.agency.as_deref()) {
        (Role::CommuneOfficer, Some(agency)) => health.report(Scope::Agency(agency)),
        // An officer without an agency has no systems to see.
        (Role::CommuneOfficer, None) => Vec::new(),
        _ => health.report(Scope::All),
    };
    Ok(Json(HealthReport {
        window_secs: health.window().as_secs_f64(),
        services,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(
        service: &'a str,
        system: &'a str,
        outcome: Outcome,
        millis: u64,
    ) -> Observation<'a> {
        Observation {
            service,
            system: Some(system),
            agency: Some(if system == "sys-b" { "B" } else { "A" }),
            outcome,
            elapsed: Duration::from_millis(millis),
            request_bytes: millis,
            response_bytes: 10 * millis,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_bucket_by_bucket() {
        let health = ServiceHealth::new(Duration::from_secs(600));
        for ms in [10, 20, 30] {
            health.record(&seen("population/v1", "sys-a", Outcome::Allowed, ms));
        }
        health.record(&seen("population/v1", "sys-a", Outcome::Failed, 40));
        tokio::time::advance(Duration::from_secs(300)).await;
        health.record(&seen("population/v1", "sys-b", Outcome::Refused, 1));

        let all = health.report(Scope::All);
        assert_eq!(all.len(), 1);
        let stats = &all[0].stats;
        assert_eq!(
            (stats.successes, stats.failures, stats.refused, stats.failed),
            (3, 2, 1, 1)
        );
        assert_eq!(stats.duration_ms.min, 1.0);
        assert_eq!(stats.duration_ms.max, 40.0);
        assert_eq!(stats.duration_ms.mean, 101.0 / 5.0);
        assert_eq!(stats.request_bytes.total, 101);
        assert_eq!(stats.response_bytes.max, 400);
        assert_eq!(all[0].systems.len(), 2);

        // The first four leave the window once their bucket is 600 s old.
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(health.report(Scope::All)[0].stats.successes, 3);
        tokio::time::advance(Duration::from_secs(11)).await;
        let later = health.report(Scope::All);
        assert_eq!(later[0].stats.successes, 0);
        assert_eq!(later[0].stats.refused, 1);
        assert_eq!(later[0].systems.len(), 1, "the quiet series is forgotten");

        tokio::time::advance(Duration::from_secs(600)).await;
        assert!(health.report(Scope::All).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_commune_officer_sees_only_its_agency() {
        let health = ServiceHealth::new(Duration::from_secs(600));
        health.record(&seen("population/v1", "sys-a", Outcome::Allowed, 5));
        health.record(&seen("population/v1", "sys-b", Outcome::Allowed, 5));
        health.record(&seen("echo/v1", "sys-b", Outcome::Allowed, 5));
        let a = health.report(Scope::Agency("A"));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].service, "population/v1");
        assert_eq!(a[0].stats.successes, 1);
        assert_eq!(a[0].systems[0].system, "sys-a");
        assert!(health.report(Scope::Agency("Z")).is_empty());
    }

    #[test]
    fn p95_is_close_above_and_never_past_max() {
        let mut tally = Tally::default();
        for ms in 1..=100u64 {
            tally.add(&seen("s/v1", "sys-a", Outcome::Allowed, ms));
        }
        let p95 = tally.p95_micros();
        assert!((95_000..=95_000 * 119 / 100).contains(&p95), "{p95}");
        let mut one = Tally::default();
        one.add(&seen("s/v1", "sys-a", Outcome::Allowed, 7));
        assert_eq!(one.p95_micros(), 7_000);
        let report = tally.report();
        assert!(report.duration_ms.min <= report.duration_ms.mean);
        assert!(report.duration_ms.mean <= report.duration_ms.max);
        assert!(report.duration_ms.p95 <= report.duration_ms.max);
    }

    #[test]
    fn bins_grow_with_duration() {
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(49), 0);
        assert_eq!(bin_of(50), 1);
        assert_eq!(bin_of(100), 5);
        assert_eq!(bin_of(u64::MAX), BINS - 1);
        for micros in [50, 99, 100, 1_000, 123_456, 10_000_000] {
            let bin = bin_of(micros);
            assert!(micros <= upper_edge(bin), "{micros} in bin {bin}");
        }
    }
}
