//! Key performance indicators computed by the gateway from its own records,
//! served as JSON at `GET /admin/v1/kpi` on the admin listener, per day,
//! per commune (agency) and per service, with totals over the whole window.
//!
//! ## Sources
//!
//! - **Exchanges**: the audit log (`audit_records`), one record per data-plane
//!   exchange. The agency is the consumer system's agency, that is the commune
//!   that asked (`-` when the caller was refused before it was known).
//! - **Asked items**: `reuse_asked`, where one-stop software reports, per
//!   dossier, how many data items it still had to ask the citizen for (typed
//!   in or uploaded). A report without a service counts only in its agency's
//!   figures, under the service `-`.
//!
//! Days are calendar days in Asia/Ho_Chi_Minh (UTC+7, no daylight saving):
//! a record belongs to the day on which it was recorded in local time.
//!
//! ## Definitions
//!
//! - `exchanges`: every audit record; `allowed`, `refused` and `failed` split
//!   it by outcome (refused: a control said no; failed: something broke on
//!   the way, such as an unreachable source).
//! - `errorRate` = failed / exchanges; `refusalRate` = refused / exchanges;
//!   `null` when there were no exchanges.
//! - `latencyMs.p50`, `p95`, `p99`: time spent in the gateway, in
//!   milliseconds, by the nearest-rank method (the value at rank
//!   ⌈p/100 · n⌉ of the n sorted values) over the allowed and failed
//!   exchanges; refusals are left out because they are answered before any
//!   work and would flatter the figures. `null` when n = 0.
//! - `reuse.hits`: allowed exchanges answered from the reuse store (`hit`);
//!   `reuse.authoritative`: allowed exchanges answered by the authoritative
//!   national source (`miss`, or `bypass` when the caller sent
//!   `Cache-Control: no-cache`). `storeHitRate` = hits / (hits +
//!   authoritative), `null` when both are 0.
//! - **Data reuse rate.** Of the data items a dossier needed, the share
//!   served from data the state already held rather than asked of the
//!   citizen:
//!   - `itemsFromState`: allowed exchanges that carry a dossier
//!     (`X-LGSP-Dossier`) and went through the reuse stage (`hit`, `miss`
//!     or `bypass`); each is one data item of that dossier served from the
//!     state's data, whether from the reuse store or the authoritative source;
//!   - `itemsAsked`: the sum of the items one-stop software reported it still
//!     had to ask the citizen for;
//!   - `reuseRate` = itemsFromState / (itemsFromState + itemsAsked), `null`
//!     when both are 0.
//!
//! - **On-time data updates.** `writeBacks`: procedure results written back
//!   to the reuse store (`reuse_write_backs`), on the day received;
//!   `writeBacksOnTime`: those received before the end of the day after the
//!   result's issue date (`ngayCap`, local time), so that other communes can
//!   reuse it the next working day; `onTimeRate` = writeBacksOnTime /
//!   writeBacks, `null` when 0.
//!
//! Totals are computed from the same exchanges and reports as the day rows
//! (percentiles over all their latencies, rates from the summed counts), not
//! by averaging the rows.
//!
//! ## Query
//!
//! `from` and `to` are inclusive local dates (`YYYY-MM-DD`), each today when
//! absent, at most [`MAX_DAYS`] days apart. `agency` and `service` (the
//! service's slug) narrow the figures. Province admins, operators and
//! auditors see every agency; a commune officer sees only its own agency's,
//! and asking for another agency is refused.
//!
//! ## Prometheus
//!
//! The same items are counted live, per node, as
//! `lgsp_dossier_items_total{agency, service, source}` (`source` is
//! `state_store` for reuse-store hits and `authoritative` for lookups of the
//! national source) and `lgsp_dossier_items_asked_total{agency}`. The daily
//! reuse rate of a commune is then, in PromQL:
//!
//! ```text
//! sum by (agency) (increase(lgsp_dossier_items_total[1d]))
//!   / (sum by (agency) (increase(lgsp_dossier_items_total[1d]))
//!      + sum by (agency) (increase(lgsp_dossier_items_asked_total[1d])))
//! ```
//!
//! Counters restart with the node and `increase` windows are rolling, not
//! calendar days, so the JSON endpoint, which reads the durable records, is
//! the figure of record.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use crate::admin::accounts::Role;
use crate::admin::auth::{AdminCaller, require};
use crate::admin::error::AdminError;
use crate::admin::timestamps::{VIETNAM_OFFSET_MINUTES, format_rfc3339, local_day_start};
use crate::server::NodeState;
use crate::store::kpi::{AskedRow, KpiRow, WriteBackRow};
use crate::store::{Store, StoreError};

/// The most days one KPI query may span, from and to included.
pub const MAX_DAYS: i64 = 92;

/// A written-back result is on time when received before this long after
/// 00:00 of its issue date: by the end of the next day.
const ON_TIME_MS: i64 = 2 * 86_400_000;
/// The agency or service of a row that has none.
pub const NONE: &str = "-";
/// Longest `agency` or `service` filter accepted, in bytes.
const MAX_FILTER_BYTES: usize = 128;
/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// Vietnam's offset from UTC in milliseconds.
const OFFSET_MS: i64 = VIETNAM_OFFSET_MINUTES as i64 * 60_000;
/// Rows read per page of the audit log.
const PAGE_ROWS: u32 = crate::store::kpi::KPI_PAGE_ROWS;

/// The query string of `GET /admin/v1/kpi`; unknown names are refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    /// First day, `YYYY-MM-DD` in Asia/Ho_Chi_Minh; today when absent.
    pub from: Option<String>,
    /// Last day, included; today when absent.
    pub to: Option<String>,
    /// Only this agency (commune) code.
    pub agency: Option<String>,
    /// Only this service slug.
    pub service: Option<String>,
}

/// Inclusive local days, as day numbers since 1970-01-01 in Asia/Ho_Chi_Minh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpiWindow {
    /// The first day.
    pub first_day: i64,
    /// The last day, included.
    pub last_day: i64,
}

impl KpiWindow {
    /// The window `from`..=`to` (each `today` when absent), refused with a
    /// message safe to show when a date is malformed, the order is reversed
    /// or the span exceeds [`MAX_DAYS`].
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: i64,
    ) -> Result<KpiWindow, AdminError> {
        let first_day = from.map_or(Ok(today), |text| parse_day("from", text))?;
        let last_day = to.map_or(Ok(today), |text| parse_day("to", text))?;
        if last_day < first_day {
            return Err(AdminError::InvalidRequest(format!(
                "to ({}) is before from ({})",
                format_day(last_day),
                format_day(first_day)
            )));
        }
        if last_day - first_day + 1 > MAX_DAYS {
            return Err(AdminError::InvalidRequest(format!(
                "from {} to {} spans {} days; a KPI query spans at most {MAX_DAYS} days",
                format_day(first_day),
                format_day(last_day),
                last_day - first_day + 1
            )));
        }
        Ok(KpiWindow {
            first_day,
            last_day,
        })
    }

    /// The first millisecond of the window (unix ms, inclusive).
    pub fn from_ms(&self) -> i64 {
        day_start_ms(self.first_day)
    }

    /// The first millisecond after the window (unix ms, exclusive).
    pub fn to_ms(&self) -> i64 {
        day_start_ms(self.last_day.saturating_add(1))
    }
}

/// The local day (Asia/Ho_Chi_Minh) of a unix-ms instant.
pub fn local_day_of(ms: i64) -> i64 {
    ms.saturating_add(OFFSET_MS).div_euclid(DAY_MS)
}

/// Today's local day number.
pub fn today() -> i64 {
    // A clock before 1970 is broken; the epoch's day keeps the query answerable.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    local_day_of(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
}

/// A local day number as `YYYY-MM-DD`.
pub fn format_day(day: i64) -> String {
    let stamp = format_rfc3339(day_start_ms(day), VIETNAM_OFFSET_MINUTES);
    stamp
        .split_once('T')
        .map_or(stamp.clone(), |(date, _)| date.to_string())
}

/// The unix ms at which local day `day` begins.
fn day_start_ms(day: i64) -> i64 {
    day.saturating_mul(DAY_MS).saturating_sub(OFFSET_MS)
}

/// The local day number of a `YYYY-MM-DD` date; `name` is the parameter, for the message.
fn parse_day(name: &str, text: &str) -> Result<i64, AdminError> {
    let refuse = || {
        let shown: String = text.chars().take(32).collect();
        AdminError::InvalidRequest(format!(
            "{name} must be a calendar date YYYY-MM-DD (Asia/Ho_Chi_Minh), such as 2026-11-24; \
             got {shown:?}"
        ))
    };
    let ms = local_day_start(text).ok_or_else(refuse)?;
    Ok(local_day_of(ms))
}

/// The agency filter a caller gets: its own for a commune officer (refused
/// when it asks for another or has none), the asked one for anyone else.
pub fn scoped_agency(
    caller: &AdminCaller,
    requested: Option<String>,
) -> Result<Option<String>, AdminError> {
    if caller.role != Role::CommuneOfficer {
        return Ok(requested);
    }
    let Some(own) = caller.agency.as_deref() else {
        return Err(AdminError::Forbidden(
            "this commune officer account has no agency, so it has no KPIs to see".into(),
        ));
    };
    match requested {
        Some(other) if other != own => Err(AdminError::Forbidden(format!(
            "a commune officer sees only the KPIs of its own agency {own}"
        ))),
        _ => Ok(Some(own.to_string())),
    }
}

/// The figures of one group of exchanges and reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KpiFigures {
    /// Every exchange.
    pub exchanges: u64,
    /// Exchanges answered.
    pub allowed: u64,
    /// Exchanges refused by a control.
    pub refused: u64,
    /// Exchanges that failed on the way.
    pub failed: u64,
    /// failed / exchanges.
    pub error_rate: Option<f64>,
    /// refused / exchanges.
    pub refusal_rate: Option<f64>,
    /// Latency percentiles over allowed and failed exchanges.
    pub latency_ms: LatencyPercentiles,
    /// Where allowed lookups were answered from.
    pub reuse: ReuseCounts,
    /// hits / (hits + authoritative).
    pub store_hit_rate: Option<f64>,
    /// Dossier data items served from data the state already held.
    pub items_from_state: u64,
    /// Dossier data items one-stop software still had to ask the citizen for.
    pub items_asked: u64,
    /// itemsFromState / (itemsFromState + itemsAsked): the data reuse rate.
    pub reuse_rate: Option<f64>,
    /// Procedure results written back.
    pub write_backs: u64,
    /// Of those, received by the end of the day after they were issued.
    pub write_backs_on_time: u64,
    /// writeBacksOnTime / writeBacks.
    pub on_time_rate: Option<f64>,
}

/// Nearest-rank latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// Allowed lookups by where they were answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReuseCounts {
    /// From the reuse store.
    pub hits: u64,
    /// From the authoritative source (miss or bypass).
    pub authoritative: u64,
}

/// The figures of one day, agency and service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiDay {
    /// The local day, `YYYY-MM-DD`.
    pub day: String,
    /// The agency (commune) code, `-` when unknown.
    pub agency: String,
    /// The service slug, `-` for asked items reported without one.
    pub service: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: KpiFigures,
}

/// The JSON of `GET /admin/v1/kpi`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiReport {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, included.
    pub to: String,
    /// The agency filter applied (a commune officer's own), if any.
    pub agency: Option<String>,
    /// The service filter applied, if any.
    pub service: Option<String>,
    /// Over the whole window and every row below.
    pub totals: KpiFigures,
    /// Per day, agency and service with any exchange or report, in that order.
    pub days: Vec<KpiDay>,
}

/// Counts of one group, before they become [`KpiFigures`].
#[derive(Debug, Clone, Default)]
struct Tally {
    exchanges: u64,
    allowed: u64,
    refused: u64,
    failed: u64,
    /// Latencies of allowed and failed exchanges, µs.
    latencies_us: Vec<i64>,
    hits: u64,
    authoritative: u64,
    items_from_state: u64,
    items_asked: u64,
    write_backs: u64,
    write_backs_on_time: u64,
}

impl Tally {
    /// Counts one exchange.
    fn add_exchange(&mut self, row: &KpiRow) {
        self.exchanges += 1;
        match row.outcome.as_str() {
            "allowed" => {
                self.allowed += 1;
                self.latencies_us.push(row.latency_us.max(0));
                match row.reuse.as_deref() {
                    Some("hit") => self.hits += 1,
                    Some("miss" | "bypass") => self.authoritative += 1,
                    _ => return,
                }
                if row.dossier.as_deref().is_some_and(|d| !d.is_empty()) {
                    self.items_from_state += 1;
                }
            }
            "refused" => self.refused += 1,
            "failed" => {
                self.failed += 1;
                self.latencies_us.push(row.latency_us.max(0));
            }
            // An outcome this version does not know counts only as an exchange.
            _ => {}
        }
    }

    /// Counts one report of asked-for items.
    fn add_asked(&mut self, row: &AskedRow) {
        self.items_asked = self
            .items_asked
            .saturating_add(u64::try_from(row.items).unwrap_or(0));
    }

    /// Counts one written-back result.
    fn add_write_back(&mut self, row: &WriteBackRow) {
        self.write_backs += 1;
        if row.received_at < row.issued_at.saturating_add(ON_TIME_MS) {
            self.write_backs_on_time += 1;
        }
    }

    /// Adds another group's counts.
    fn merge(&mut self, other: &Tally) {
        self.exchanges += other.exchanges;
        self.allowed += other.allowed;
        self.refused += other.refused;
        self.failed += other.failed;
        self.latencies_us.extend_from_slice(&other.latencies_us);
        self.hits += other.hits;
        self.authoritative += other.authoritative;
        self.items_from_state += other.items_from_state;
        self.items_asked = self.items_asked.saturating_add(other.items_asked);
        self.write_backs += other.write_backs;
        self.write_backs_on_time += other.write_backs_on_time;
    }

    /// The figures; sorts the latencies.
    fn figures(&mut self) -> KpiFigures {
        self.latencies_us.sort_unstable();
        let percentile = |p: u64| nearest_rank(&self.latencies_us, p).map(|us| us as f64 / 1000.0);
        KpiFigures {
            exchanges: self.exchanges,
            allowed: self.allowed,
            refused: self.refused,
            failed: self.failed,
            error_rate: ratio(self.failed, self.exchanges),
            refusal_rate: ratio(self.refused, self.exchanges),
            latency_ms: LatencyPercentiles {
                p50: percentile(50),
                p95: percentile(95),
                p99: percentile(99),
            },
            reuse: ReuseCounts {
                hits: self.hits,
                authoritative: self.authoritative,
            },
            store_hit_rate: ratio(self.hits, self.hits + self.authoritative),
            items_from_state: self.items_from_state,
            items_asked: self.items_asked,
            reuse_rate: ratio(
                self.items_from_state,
                self.items_from_state.saturating_add(self.items_asked),
            ),
            write_backs: self.write_backs,
            write_backs_on_time: self.write_backs_on_time,
            on_time_rate: ratio(self.write_backs_on_time, self.write_backs),
        }
    }
}

/// part / whole, `None` when whole is 0.
fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The value at rank ⌈p/100 · n⌉ of `sorted`, `None` when it is empty.
fn nearest_rank(sorted: &[i64], p: u64) -> Option<i64> {
    let n = sorted.len() as u64;
    let rank = (n * p).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// Groups exchanges and reports by (day, agency, service) as they are read.
#[derive(Debug, Default)]
pub struct KpiAggregator {
    groups: BTreeMap<(i64, String, String), Tally>,
}

impl KpiAggregator {
    /// The group of a row, made on first sight.
    fn group(
        &mut self,
        recorded_at: i64,
        agency: Option<&str>,
        service: Option<&str>,
    ) -> &mut Tally {
        let key = (
            local_day_of(recorded_at),
            agency.unwrap_or(NONE).to_string(),
            service.unwrap_or(NONE).to_string(),
        );
        self.groups.entry(key).or_default()
    }

    /// Counts one exchange.
    pub fn add_exchange(&mut self, row: &KpiRow) {
        self.group(row.recorded_at, row.agency.as_deref(), Some(&row.service))
            .add_exchange(row);
    }

    /// Counts one report of asked-for items.
    pub fn add_asked(&mut self, row: &AskedRow) {
        self.group(
            row.recorded_at,
            row.agency.as_deref(),
            row.service.as_deref(),
        )
        .add_asked(row);
    }

    /// Counts one written-back result, on the day it was received.
    pub fn add_write_back(&mut self, row: &WriteBackRow) {
        self.group(row.received_at, Some(&row.agency), Some(&row.service))
            .add_write_back(row);
    }

    /// The report over `window` with the filters that were applied.
    pub fn report(
        self,
        window: &KpiWindow,
        agency: Option<String>,
        service: Option<String>,
    ) -> KpiReport {
        let mut totals = Tally::default();
        let mut days = Vec::with_capacity(self.groups.len());
        for ((day, agency, service), mut tally) in self.groups {
            totals.merge(&tally);
            days.push(KpiDay {
                day: format_day(day),
                agency,
                service,
                figures: tally.figures(),
            });
        }
        KpiReport {
            from: format_day(window.first_day),
            to: format_day(window.last_day),
            agency,
            service,
            totals: totals.figures(),
            days,
        }
    }
}

/// The KPIs of `window`, optionally of one agency and one service, read
/// from the store page by page so that memory grows with the groups and the
/// latencies kept for percentiles, not with whole rows.
pub async fn compute_kpis(
    store: &Store,
    window: &KpiWindow,
    agency: Option<&str>,
    service: Option<&str>,
) -> Result<KpiReport, StoreError> {
    let (from_ms, to_ms) = (window.from_ms(), window.to_ms());
    let mut aggregator = KpiAggregator::default();
    let mut after = None;
    loop {
        let (rows, next) = store
            .kpi_rows_page(from_ms, to_ms, agency, service, after.as_ref(), PAGE_ROWS)
            .await?;
        for row in &rows {
            aggregator.add_exchange(row);
        }
        match next {
            Some(position) => after = Some(position),
            None => break,
        }
    }
    for row in store
        .kpi_write_backs(from_ms, to_ms, agency, service)
        .await?
    {
        aggregator.add_write_back(&row);
    }
    for row in store.kpi_asked(from_ms, to_ms, agency, service).await? {
        aggregator.add_asked(&row);
    }
    Ok(aggregator.report(
        window,
        agency.map(str::to_string),
        service.map(str::to_string),
    ))
}

/// A filter value: empty means absent; too long is refused.
fn filter(name: &str, value: Option<String>) -> Result<Option<String>, AdminError> {
    match value {
        Some(value) if value.len() > MAX_FILTER_BYTES => Err(AdminError::InvalidRequest(format!(
            "{name} is longer than {MAX_FILTER_BYTES} bytes"
        ))),
        Some(value) if value.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// `GET /admin/v1/kpi?from=YYYY-MM-DD&to=YYYY-MM-DD&agency=…&service=…`:
/// province admins, operators and auditors see every agency; a commune
/// officer only its own.
pub async fn kpi(
    caller: AdminCaller,
    State(state): State<NodeState>,
    query: Result<Query<KpiQuery>, QueryRejection>,
) -> Result<Json<KpiReport>, AdminError> {
    require(
        &caller,
        &[
            Role::ProvinceAdmin,
            Role::Operator,
            Role::Auditor,
            Role::CommuneOfficer,
        ],
    )?;
    let Query(q) = query.map_err(|e| {
        AdminError::InvalidRequest(format!(
            "malformed query string: {}; known parameters: from, to, agency, service",
            e.body_text()
        ))
    })?;
    let window = KpiWindow::parse(
        q.from.as_deref().filter(|s| !s.is_empty()),
        q.to.as_deref().filter(|s| !s.is_empty()),
        today(),
    )?;
    let agency = scoped_agency(&caller, filter("agency", q.agency)?)?;
    let service = filter("service", q.service)?;
    let report = compute_kpis(&state.store, &window, agency.as_deref(), service.as_deref()).await?;
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::timestamps::parse_time;
    use crate::store::StoreOptions;
    use crate::store::kpi::fixture::{Exchange, ensure_reuse_asked, insert_asked, insert_exchange};

    const A: &str = "000.01.00.H29";
    const B: &str = "000.02.00.H29";

    /// Unix ms of an RFC 3339 time.
    fn at(text: &str) -> i64 {
        parse_time(text).expect("test time")
    }

    fn window(from: &str, to: &str) -> KpiWindow {
        KpiWindow::parse(Some(from), Some(to), 0).expect("window")
    }

    fn caller(role: Role, agency: Option<&str>) -> AdminCaller {
        AdminCaller {
            username: "u".into(),
            role,
            agency: agency.map(str::to_string),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn exchange(
        recorded_at: i64,
        agency: Option<&'static str>,
        service: &'static str,
        outcome: &'static str,
        latency_us: i64,
        dossier: Option<&'static str>,
        reuse: Option<&'static str>,
    ) -> Exchange<'static> {
        Exchange {
            recorded_at,
            agency,
            service,
            outcome,
            latency_us,
            dossier,
            reuse,
            error_code: match outcome {
                "refused" => Some("PURPOSE_NOT_ALLOWED"),
                "failed" => Some("UPSTREAM_UNAVAILABLE"),
                _ => None,
            },
        }
    }

    /// The scripted run: two local days (2026-11-23 and 24), two communes,
    /// two services, with the day boundary crossed by one millisecond.
    async fn scripted_store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("kpi.db").display());
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store");
        ensure_reuse_asked(&store).await;
        let d1 = at("2026-11-23T09:00:00+07:00");
        let midnight = at("2026-11-24T00:00:00+07:00");
        let d2 = at("2026-11-24T10:00:00+07:00");
        let exchanges = [
            // Outside the window, on either side.
            exchange(
                at("2026-11-23T00:00:00+07:00") - 1,
                Some(A),
                "population",
                "allowed",
                1,
                Some("HS-0"),
                Some("hit"),
            ),
            exchange(
                at("2026-11-25T00:00:00+07:00"),
                Some(A),
                "population",
                "allowed",
                1,
                Some("HS-0"),
                Some("hit"),
            ),
            // Day 1, commune A, population.
            exchange(
                d1,
                Some(A),
                "population",
                "allowed",
                10_000,
                Some("HS-1"),
                Some("miss"),
            ),
            exchange(
                d1 + 1,
                Some(A),
                "population",
                "allowed",
                2_000,
                Some("HS-1"),
                Some("hit"),
            ),
            exchange(
                d1 + 2,
                Some(A),
                "population",
                "allowed",
                3_000,
                None,
                Some("hit"),
            ),
            exchange(
                d1 + 3,
                Some(A),
                "population",
                "refused",
                500,
                Some("HS-1"),
                None,
            ),
            exchange(
                d1 + 4,
                Some(A),
                "population",
                "failed",
                30_000,
                Some("HS-1"),
                Some("bypass"),
            ),
            exchange(
                midnight - 1,
                Some(A),
                "population",
                "allowed",
                20_000,
                Some("HS-2"),
                Some("miss"),
            ),
            // Day 2, commune A.
            exchange(
                midnight,
                Some(A),
                "population",
                "allowed",
                1_000,
                Some("HS-2"),
                Some("hit"),
            ),
            exchange(
                d2,
                Some(A),
                "enterprise",
                "allowed",
                40_000,
                Some("HS-2"),
                Some("bypass"),
            ),
            // Day 2, commune B, and a caller refused before it was known.
            exchange(
                d2 + 1,
                Some(B),
                "population",
                "allowed",
                4_000,
                Some("HS-3"),
                Some("hit"),
            ),
            exchange(d2 + 2, Some(B), "population", "refused", 100, None, None),
            exchange(d2 + 3, None, "population", "refused", 100, None, None),
        ];
        for (seq, row) in exchanges.iter().enumerate() {
            insert_exchange(&store, seq as i64, row).await;
        }
        insert_asked(&store, "a1", d1 + 10, Some(A), Some("population"), 2).await;
        insert_asked(&store, "a2", d1 + 11, Some(A), None, 1).await;
        insert_asked(&store, "a3", d2 + 10, Some(B), Some("population"), 3).await;
        insert_asked(
            &store,
            "a4",
            at("2026-11-25T00:00:00+07:00"),
            Some(A),
            Some("population"),
            50,
        )
        .await;
        store
    }

    fn day<'a>(report: &'a KpiReport, day: &str, agency: &str, service: &str) -> &'a KpiFigures {
        &report
            .days
            .iter()
            .find(|d| d.day == day && d.agency == agency && d.service == service)
            .unwrap_or_else(|| panic!("no row {day} {agency} {service} in {:#?}", report.days))
            .figures
    }

    #[tokio::test]
    async fn kpi_figures_match_the_scripted_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = scripted_store(&dir).await;
        let report = compute_kpis(&store, &window("2026-11-23", "2026-11-24"), None, None)
            .await
            .expect("kpis");
        assert_eq!(
            (report.from.as_str(), report.to.as_str()),
            ("2026-11-23", "2026-11-24")
        );
        let keys: Vec<(&str, &str, &str)> = report
            .days
            .iter()
            .map(|d| (d.day.as_str(), d.agency.as_str(), d.service.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("2026-11-23", A, "-"),
                ("2026-11-23", A, "population"),
                ("2026-11-24", "-", "population"),
                ("2026-11-24", A, "enterprise"),
                ("2026-11-24", A, "population"),
                ("2026-11-24", B, "population"),
            ],
            "ordered by day, agency, service; nothing outside the window"
        );

        // The last millisecond of day 1 stays in day 1.
        let a1 = day(&report, "2026-11-23", A, "population");
        assert_eq!(
            (a1.exchanges, a1.allowed, a1.refused, a1.failed),
            (6, 4, 1, 1)
        );
        assert_eq!(a1.error_rate, Some(1.0 / 6.0));
        assert_eq!(a1.refusal_rate, Some(1.0 / 6.0));
        // Allowed and failed: 2, 3, 10, 20, 30 ms; the refusal is left out.
        assert_eq!(
            a1.latency_ms,
            LatencyPercentiles {
                p50: Some(10.0),
                p95: Some(30.0),
                p99: Some(30.0)
            }
        );
        // The failed bypass served nothing, so it is no authoritative answer.
        assert_eq!(
            a1.reuse,
            ReuseCounts {
                hits: 2,
                authoritative: 2
            }
        );
        assert_eq!(a1.store_hit_rate, Some(0.5));
        // Hit and miss of HS-1 and the miss of HS-2; the hit without a dossier is no item.
        assert_eq!((a1.items_from_state, a1.items_asked), (3, 2));
        assert_eq!(a1.reuse_rate, Some(0.6));

        let asked_only = day(&report, "2026-11-23", A, "-");
        assert_eq!((asked_only.exchanges, asked_only.items_asked), (0, 1));
        assert_eq!(asked_only.reuse_rate, Some(0.0));
        assert_eq!(asked_only.error_rate, None);
        assert_eq!(asked_only.latency_ms.p50, None);
        assert_eq!(asked_only.store_hit_rate, None);

        // The first millisecond of day 2 is in day 2.
        let a2 = day(&report, "2026-11-24", A, "population");
        assert_eq!(
            (a2.exchanges, a2.reuse.hits, a2.items_from_state),
            (1, 1, 1)
        );
        assert_eq!(a2.reuse_rate, Some(1.0));
        assert_eq!(a2.latency_ms.p99, Some(1.0));

        let a2e = day(&report, "2026-11-24", A, "enterprise");
        assert_eq!(
            a2e.reuse,
            ReuseCounts {
                hits: 0,
                authoritative: 1
            }
        );
        assert_eq!(a2e.latency_ms.p50, Some(40.0));

        let b2 = day(&report, "2026-11-24", B, "population");
        assert_eq!((b2.exchanges, b2.allowed, b2.refused), (2, 1, 1));
        assert_eq!((b2.items_from_state, b2.items_asked), (1, 3));
        assert_eq!(b2.reuse_rate, Some(0.25));
        assert_eq!(b2.refusal_rate, Some(0.5));

        let unknown = day(&report, "2026-11-24", "-", "population");
        assert_eq!((unknown.exchanges, unknown.refused), (1, 1));
        assert_eq!(unknown.reuse_rate, None);
        assert_eq!(unknown.latency_ms.p50, None);

        let t = &report.totals;
        assert_eq!((t.exchanges, t.allowed, t.refused, t.failed), (11, 7, 3, 1));
        // 1, 2, 3, 4, 10, 20, 30, 40 ms: ranks 4, 8 and 8.
        assert_eq!(
            t.latency_ms,
            LatencyPercentiles {
                p50: Some(4.0),
                p95: Some(40.0),
                p99: Some(40.0)
            }
        );
        assert_eq!(
            t.reuse,
            ReuseCounts {
                hits: 4,
                authoritative: 3
            }
        );
        assert_eq!(t.store_hit_rate, Some(4.0 / 7.0));
        assert_eq!((t.items_from_state, t.items_asked), (6, 6));
        assert_eq!(t.reuse_rate, Some(0.5));
        assert_eq!(t.error_rate, Some(1.0 / 11.0));
    }

    #[tokio::test]
    async fn kpi_filters_narrow_rows_and_asked_items() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = scripted_store(&dir).await;
        let both = window("2026-11-23", "2026-11-24");

        let b = compute_kpis(&store, &both, Some(B), None)
            .await
            .expect("agency B");
        assert_eq!(b.agency.as_deref(), Some(B));
        assert_eq!(b.days.len(), 1);
        assert_eq!((b.totals.exchanges, b.totals.items_asked), (2, 3));
        assert_eq!(b.totals.reuse_rate, Some(0.25));

        // A report without a service cannot belong to the service asked for.
        let a_pop = compute_kpis(&store, &both, Some(A), Some("population"))
            .await
            .expect("A population");
        assert_eq!(
            (a_pop.totals.exchanges, a_pop.totals.items_from_state),
            (7, 4)
        );
        assert_eq!(a_pop.totals.items_asked, 2);
        assert_eq!(a_pop.totals.reuse_rate, Some(4.0 / 6.0));

        let day2 = compute_kpis(&store, &window("2026-11-24", "2026-11-24"), None, None)
            .await
            .expect("day 2");
        assert_eq!(day2.totals.exchanges, 5);
        assert!(day2.days.iter().all(|d| d.day == "2026-11-24"));

        let empty = compute_kpis(&store, &window("2026-11-20", "2026-11-20"), None, None)
            .await
            .expect("empty day");
        assert!(empty.days.is_empty());
        assert_eq!(empty.totals.exchanges, 0);
        assert_eq!(empty.totals.reuse_rate, None);
    }

    #[test]
    fn kpi_json_uses_camel_case_members() {
        let mut aggregator = KpiAggregator::default();
        aggregator.add_exchange(&KpiRow {
            id: "r".into(),
            recorded_at: at("2026-11-24T08:00:00+07:00"),
            agency: Some(A.into()),
            service: "population".into(),
            outcome: "allowed".into(),
            latency_us: 1_500,
            dossier: Some("HS".into()),
            reuse: Some("hit".into()),
            error_code: None,
        });
        let report = aggregator.report(&window("2026-11-24", "2026-11-24"), None, None);
        let json = serde_json::to_value(&report).expect("json");
        let row = &json["days"][0];
        assert_eq!(row["day"], "2026-11-24");
        assert_eq!(row["agency"], A);
        assert_eq!(row["service"], "population");
        assert_eq!(row["itemsFromState"], 1);
        assert_eq!(row["itemsAsked"], 0);
        assert_eq!(row["reuseRate"], 1.0);
        assert_eq!(row["storeHitRate"], 1.0);
        assert_eq!(row["errorRate"], 0.0);
        assert_eq!(row["refusalRate"], 0.0);
        assert_eq!(row["latencyMs"]["p95"], 1.5);
        assert_eq!(row["reuse"]["hits"], 1);
        assert_eq!(row["reuse"]["authoritative"], 0);
        assert_eq!(json["totals"]["exchanges"], 1);
        assert_eq!(json["from"], "2026-11-24");
        assert!(json["agency"].is_null());
    }

    #[test]
    fn kpi_nearest_rank_percentiles() {
        let hundred: Vec<i64> = (1..=100).collect();
        assert_eq!(nearest_rank(&hundred, 50), Some(50));
        assert_eq!(nearest_rank(&hundred, 95), Some(95));
        assert_eq!(nearest_rank(&hundred, 99), Some(99));
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        assert_eq!(nearest_rank(&[1, 2], 51), Some(2));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn kpi_days_roll_over_at_midnight_in_hanoi() {
        let midnight = at("2026-11-24T00:00:00+07:00");
        assert_eq!(midnight, at("2026-11-23T17:00:00Z"));
        assert_eq!(format_day(local_day_of(midnight - 1)), "2026-11-23");
        assert_eq!(format_day(local_day_of(midnight)), "2026-11-24");
        let w = window("2026-11-24", "2026-11-24");
        assert_eq!((w.from_ms(), w.to_ms()), (midnight, midnight + DAY_MS));
        assert_eq!(format_day(local_day_of(0)), "1970-01-01");
    }

    #[test]
    fn kpi_dates_are_validated() {
        let today = local_day_of(at("2026-11-24T12:00:00+07:00"));
        let w = KpiWindow::parse(None, None, today).expect("defaults");
        assert_eq!((w.first_day, w.last_day), (today, today));
        let w = KpiWindow::parse(Some("2026-11-20"), None, today).expect("to defaults to today");
        assert_eq!(w.last_day - w.first_day, 4);

        let message = |from: Option<&str>, to: Option<&str>| match KpiWindow::parse(from, to, today)
        {
            Err(AdminError::InvalidRequest(message)) => message,
            other => panic!("{from:?}..{to:?} should be refused, got {other:?}"),
        };
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "24/11/2026",
            "2026-11-24T00:00",
            "",
            "2026-1-24",
            "+026-11-24",
        ] {
            let text = message(Some(bad), Some("2026-11-24"));
            assert!(
                text.contains("from must be a calendar date YYYY-MM-DD"),
                "{bad}: {text}"
            );
        }
        assert!(message(Some("2026-11-24"), Some("x")).starts_with("to must be"));
        assert!(message(Some("2026-11-25"), Some("2026-11-24")).contains("before"));
        // 92 days are allowed, 93 are not.
        assert!(KpiWindow::parse(Some("2026-08-25"), Some("2026-11-24"), today).is_ok());
        assert!(message(Some("2026-08-24"), Some("2026-11-24")).contains("at most 92 days"));
        assert!(KpiWindow::parse(Some("2024-02-29"), Some("2024-02-29"), today).is_ok());
    }

    #[test]
    fn kpi_commune_officers_see_only_their_agency() {
        let officer = caller(Role::CommuneOfficer, Some(A));
        assert_eq!(
            scoped_agency(&officer, None).expect("own"),
            Some(A.to_string())
        );
        assert_eq!(
            scoped_agency(&officer, Some(A.into())).expect("own"),
            Some(A.to_string())
        );
        assert!(matches!(
            scoped_agency(&officer, Some(B.into())),
            Err(AdminError::Forbidden(_))
        ));
        assert!(matches!(
            scoped_agency(&caller(Role::CommuneOfficer, None), None),
            Err(AdminError::Forbidden(_))
        ));
        for role in [Role::ProvinceAdmin, Role::Operator, Role::Auditor] {
            let who = caller(role, None);
            assert_eq!(scoped_agency(&who, None).expect("all"), None);
            assert_eq!(
                scoped_agency(&who, Some(B.into())).expect("any"),
                Some(B.to_string())
            );
        }
    }

    #[test]
    fn kpi_filters_drop_empty_and_refuse_long_values() {
        assert_eq!(filter("agency", Some(String::new())).expect("empty"), None);
        assert_eq!(
            filter("agency", Some(A.into())).expect("kept"),
            Some(A.to_string())
        );
        assert!(matches!(
            filter("service", Some("x".repeat(MAX_FILTER_BYTES + 1))),
            Err(AdminError::InvalidRequest(_))
        ));
    }

    #[test]
    fn write_backs_are_on_time_until_the_end_of_the_next_day() {
        let issued = 1_795_971_600_000; // 2026-11-30T00:00:00+07:00
        let row = |received_at: i64| WriteBackRow {
            id: format!("w{received_at}"),
            received_at,
            agency: "000.01.00.H29".into(),
            service: "reuse".into(),
            issued_at: issued,
        };
        let mut tally = Tally::default();
        tally.add_write_back(&row(issued + 3_600_000));
        tally.add_write_back(&row(issued + ON_TIME_MS - 1));
        tally.add_write_back(&row(issued + ON_TIME_MS));
        let figures = tally.figures();
        assert_eq!((figures.write_backs, figures.write_backs_on_time), (3, 2));
        assert_eq!(figures.on_time_rate, Some(2.0 / 3.0));
    }
}
