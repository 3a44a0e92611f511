//! The KPI reads (`crate::kpi`): the few columns of `audit_records` that the
//! figures need, paged by keyset so that a province's day (up to about a
//! million exchanges) is read in bounded pages rather than held at once, and
//! the items one-stop software still had to ask citizens for (`reuse_asked`).
//!
//! Values only ever reach SQL as bound parameters; the text of a query is
//! assembled solely from fixed column names and `$N` placeholders.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// Rows per page when [`Store::kpi_rows`] reads a whole window.
pub const KPI_PAGE_ROWS: u32 = 5_000;

/// One exchange as the KPIs see it: the columns of an audit record they use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiRow {
    /// The audit record's id; with `recorded_at`, the position in the walk.
    pub id: String,
    /// When, unix ms.
    pub recorded_at: i64,
    /// The consumer system's agency (the commune); `None` when not authenticated.
    pub agency: Option<String>,
    /// The service slug.
    pub service: String,
    /// `allowed`, `refused` or `failed`.
    pub outcome: String,
    /// Time spent in the gateway, in microseconds.
    pub latency_us: i64,
    /// The dossier (`X-LGSP-Dossier`).
    pub dossier: Option<String>,
    /// `hit`, `miss` or `bypass`; `None` when the reuse stage did not run.
    pub reuse: Option<String>,
    /// Problem code, `None` on success.
    pub error_code: Option<String>,
}

/// Where a walk of [`KpiRow`]s stands: the last row of a page, in the order
/// (recorded_at ASC, id ASC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiPosition {
    /// The row's `recorded_at`.
    pub recorded_at: i64,
    /// The row's `id`.
    pub id: String,
}

/// One report from one-stop software of data items it still had to ask the citizen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedRow {
    /// When reported, unix ms.
    pub recorded_at: i64,
    /// The reporting commune's agency.
    pub agency: Option<String>,
    /// The service the items belonged to, when the software knew it.
    pub service: Option<String>,
    /// How many items were asked for.
    pub items: i64,
}

/// One procedure result written back, for the on-time KPI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBackRow {
    /// The reuse item's id.
    pub id: String,
    /// When the gateway received it, unix ms.
    pub received_at: i64,
    /// The commune that wrote it back.
    pub agency: String,
    /// The reuse service's slug.
    pub service: String,
    /// 00:00 (Asia/Ho_Chi_Minh) of the day the result was issued, unix ms.
    pub issued_at: i64,
}

/// The columns of a [`KpiRow`].
const KPI_COLUMNS: &str =
    "id, recorded_at, agency, service, outcome, latency_us, dossier, reuse, error_code";

/// A WHERE clause over a time window and optional agency and service, with
/// its values in placeholder order.
struct WindowConditions {
    /// The conditions, joined with AND.
    clauses: Vec<String>,
    /// The values of the placeholders `$1`, `$2`, … in order.
    args: Vec<Arg>,
}

/// A value to bind.
enum Arg {
    /// A BIGINT.
    Int(i64),
    /// A TEXT.
    Text(String),
}

impl WindowConditions {
    /// `recorded_at` in [from_ms, to_ms), and the agency and service when given.
    fn new(from_ms: i64, to_ms: i64, agency: Option<&str>, service: Option<&str>) -> Self {
        let mut conditions = WindowConditions {
            clauses: Vec::new(),
            args: Vec::new(),
        };
        let from = conditions.bind(Arg::Int(from_ms));
        let to = conditions.bind(Arg::Int(to_ms));
        conditions
            .clauses
            .push(format!("recorded_at >= {from} AND recorded_at < {to}"));
        if let Some(agency) = agency {
            let p = conditions.bind(Arg::Text(agency.to_string()));
            conditions.clauses.push(format!("agency = {p}"));
        }
        if let Some(service) = service {
            let p = conditions.bind(Arg::Text(service.to_string()));
            conditions.clauses.push(format!("service = {p}"));
        }
        conditions
    }

    /// Adds a value and returns its placeholder.
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// The rows of `sql` with every value bound in order.
    async fn fetch(self, store: &Store, sql: &str) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut query = sqlx::query(sql);
        for arg in self.args {
            query = match arg {
                Arg::Int(n) => query.bind(n),
                Arg::Text(s) => query.bind(s),
            };
        }
        query.fetch_all(&store.pool).await
    }
}

impl Store {
    /// Every exchange recorded in [from_ms, to_ms), optionally of one agency
    /// and one service, oldest first; read in pages of [`KPI_PAGE_ROWS`].
    /// For large windows prefer [`Store::kpi_rows_page`], which lets the
    /// caller fold each page and drop it.
    pub async fn kpi_rows(
        &self,
        from_ms: i64,
        to_ms: i64,
        agency: Option<&str>,
        service: Option<&str>,
    ) -> Result<Vec<KpiRow>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let (rows, next) = self
                .kpi_rows_page(
                    from_ms,
                    to_ms,
                    agency,
                    service,
                    after.as_ref(),
                    KPI_PAGE_ROWS,
                )
                .await?;
            all.extend(rows);
            match next {
                Some(position) => after = Some(position),
                None => return Ok(all),
            }
        }
    }

    /// Up to `limit` exchanges recorded in [from_ms, to_ms), optionally of
    /// one agency and one service, in the order (recorded_at, id), continuing
    /// after `after`; with the position to continue from when more follow.
    pub async fn kpi_rows_page(
        &self,
        from_ms: i64,
        to_ms: i64,
        agency: Option<&str>,
        service: Option<&str>,
        after: Option<&KpiPosition>,
        limit: u32,
    ) -> Result<(Vec<KpiRow>, Option<KpiPosition>), StoreError> {
        let limit = limit.max(1);
        let mut conditions = WindowConditions::new(from_ms, to_ms, agency, service);
        if let Some(position) = after {
            let at = conditions.bind(Arg::Int(position.recorded_at));
            let id = conditions.bind(Arg::Text(position.id.clone()));
            conditions.clauses.push(format!(
                "(recorded_at > {at} OR (recorded_at = {at} AND id > {id}))"
            ));
        }
        // One row more than asked says whether another page follows.
        let fetch = conditions.bind(Arg::Int(i64::from(limit) + 1));
        let sql = format!(
            "SELECT {KPI_COLUMNS} FROM audit_records WHERE {} \
             ORDER BY recorded_at ASC, id ASC LIMIT {fetch}",
            conditions.clauses.join(" AND ")
        );
        let rows = conditions.fetch(self, &sql).await?;
        let mut rows = rows
            .iter()
            .map(kpi_row_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|row| KpiPosition {
                recorded_at: row.recorded_at,
                id: row.id.clone(),
            })
        } else {
            None
        };
        Ok((rows, next))
    }

    /// Notes a written-back result for the on-time KPI.
    pub async fn kpi_record_write_back(&self, row: &WriteBackRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO reuse_write_backs (id, received_at, agency, service, issued_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(row.id.as_str())
        .bind(row.received_at)
        .bind(row.agency.as_str())
        .bind(row.service.as_str())
        .bind(row.issued_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The results written back in the window, oldest first.
    pub async fn kpi_write_backs(
        &self,
        from_ms: i64,
        to_ms: i64,
        agency: Option<&str>,
        service: Option<&str>,
    ) -> Result<Vec<WriteBackRow>, StoreError> {
        let mut sql = String::from(
            "SELECT id, received_at, agency, service, issued_at FROM reuse_write_backs \
             WHERE received_at >= $1 AND received_at < $2",
        );
        let mut next = 3;
        for (column, value) in [("agency", agency), ("service", service)] {
            if value.is_some() {
                sql.push_str(&format!(" AND {column} = ${next}"));
                next += 1;
            }
        }
        sql.push_str(" ORDER BY received_at ASC, id ASC");
        let mut query = sqlx::query(&sql).bind(from_ms).bind(to_ms);
        for value in [agency, service].into_iter().flatten() {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(WriteBackRow {
                    id: row.try_get("id")?,
                    received_at: row.try_get("received_at")?,
                    agency: row.try_get("agency")?,
                    service: row.try_get("service")?,
                    issued_at: row.try_get("issued_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every report of asked-for items in [from_ms, to_ms), optionally of
    /// one agency and one service (a report without a service then does not
    /// match), oldest first.
    pub async fn kpi_asked(
        &self,
        from_ms: i64,
        to_ms: i64,
        agency: Option<&str>,
        service: Option<&str>,
    ) -> Result<Vec<AskedRow>, StoreError> {
        let conditions = WindowConditions::new(from_ms, to_ms, agency, service);
        let sql = format!(
            "SELECT recorded_at, agency, service, items FROM reuse_asked WHERE {} \
             ORDER BY recorded_at ASC, id ASC",
            conditions.clauses.join(" AND ")
        );
        let rows = conditions.fetch(self, &sql).await?;
        rows.iter()
            .map(|row| {
                Ok(AskedRow {
                    recorded_at: row.try_get("recorded_at")?,
                    agency: row.try_get("agency")?,
                    service: row.try_get("service")?,
                    items: row.try_get("items")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// A [`KpiRow`] from a row selected with [`KPI_COLUMNS`].
fn kpi_row_from_row(row: &AnyRow) -> Result<KpiRow, sqlx::Error> {
    Ok(KpiRow {
        id: row.try_get("id")?,
        recorded_at: row.try_get("recorded_at")?,
        agency: row.try_get("agency")?,
        service: row.try_get("service")?,
        outcome: row.try_get("outcome")?,
        latency_us: row.try_get("latency_us")?,
        dossier: row.try_get("dossier")?,
        reuse: row.try_get("reuse")?,
        error_code: row.try_get("error_code")?,
    })
}

/// Writing the rows the KPI tests read, straight into the tables.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;

    /// One exchange to insert; the columns the KPIs do not read get fixed values.
    #[derive(Debug, Clone)]
    pub(crate) struct Exchange<'a> {
        pub recorded_at: i64,
        pub agency: Option<&'a str>,
        pub service: &'a str,
        pub outcome: &'a str,
        pub latency_us: i64,
        pub dossier: Option<&'a str>,
        pub reuse: Option<&'a str>,
        pub error_code: Option<&'a str>,
    }

    /// The `reuse_asked` table of migration 0008, made here while that
    /// migration is not in this tree; a no-op once it is.
    pub(crate) async fn ensure_reuse_asked(store: &Store) {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS reuse_asked (id TEXT PRIMARY KEY NOT NULL, \
             recorded_at BIGINT NOT NULL, agency TEXT NULL, system TEXT NULL, \
             dossier TEXT NOT NULL, service TEXT NULL, items BIGINT NOT NULL, \
             data_types TEXT NULL)",
        )
        .execute(&store.pool)
        .await
        .expect("create reuse_asked");
    }

    /// Inserts `exchange` as audit record number `seq` of a test chain.
    pub(crate) async fn insert_exchange(store: &Store, seq: i64, exchange: &Exchange<'_>) {
        sqlx::query(
            "INSERT INTO audit_records (id, chain, seq, recorded_at, request_id, trace_id, \
             client_ip, system, agency, dossier, service, version, method, outcome, status, \
             error_code, latency_us, request_bytes, response_bytes, request_sha256, \
             response_sha256, reuse, prev_hash, hash) VALUES ($1, 'kpi-test', $2, $3, $4, \
             't', '127.0.0.1', 'sys', $5, $6, $7, 'v1', 'GET', $8, 200, $9, $10, 0, 0, \
             'x', 'x', $11, 'p', 'h')",
        )
        .bind(format!("rec-{seq:04}"))
        .bind(seq)
        .bind(exchange.recorded_at)
        .bind(format!("req-{seq}"))
        .bind(exchange.agency.map(str::to_string))
        .bind(exchange.dossier.map(str::to_string))
        .bind(exchange.service.to_string())
        .bind(exchange.outcome.to_string())
        .bind(exchange.error_code.map(str::to_string))
        .bind(exchange.latency_us)
        .bind(exchange.reuse.map(str::to_string))
        .execute(&store.pool)
        .await
        .expect("insert audit record");
    }

    /// Inserts one report of asked-for items.
    pub(crate) async fn insert_asked(
        store: &Store,
        id: &str,
        recorded_at: i64,
        agency: Option<&str>,
        service: Option<&str>,
        items: i64,
    ) {
        sqlx::query(
            "INSERT INTO reuse_asked (id, recorded_at, agency, system, dossier, service, items) \
             VALUES ($1, $2, $3, 'sys', 'HS', $4, $5)",
        )
        .bind(id.to_string())
        .bind(recorded_at)
        .bind(agency.map(str::to_string))
        .bind(service.map(str::to_string))
        .bind(items)
        .execute(&store.pool)
        .await
        .expect("insert reuse_asked");
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{Exchange, ensure_reuse_asked, insert_asked, insert_exchange};
    use super::*;
    use crate::store::StoreOptions;

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}", dir.path().join("kpi.db").display());
        Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store")
    }

    fn exchange(
        recorded_at: i64,
        agency: &'static str,
        service: &'static str,
    ) -> Exchange<'static> {
        Exchange {
            recorded_at,
            agency: Some(agency),
            service,
            outcome: "allowed",
            latency_us: recorded_at,
            dossier: None,
            reuse: None,
            error_code: None,
        }
    }

    #[tokio::test]
    async fn kpi_rows_page_through_the_window_with_filters() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir).await;
        // Two rows share a millisecond, so the walk must break ties by id.
        let rows = [
            exchange(99, "A", "s1"),
            exchange(100, "A", "s1"),
            exchange(100, "B", "s1"),
            exchange(101, "A", "s2"),
            exchange(150, "A", "s1"),
            exchange(200, "A", "s1"),
        ];
        for (seq, row) in rows.iter().enumerate() {
            insert_exchange(&store, seq as i64, row).await;
        }

        let all = store.kpi_rows(100, 200, None, None).await.expect("rows");
        let times: Vec<i64> = all.iter().map(|r| r.recorded_at).collect();
        assert_eq!(times, [100, 100, 101, 150], "from inclusive, to exclusive");

        let mut walked = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let (page, next) = store
                .kpi_rows_page(100, 200, None, None, after.as_ref(), 1)
                .await
                .expect("page");
            pages += 1;
            walked.extend(page);
            match next {
                Some(position) => after = Some(position),
                None => break,
            }
        }
        assert_eq!(walked, all, "pages of one row walk the same rows once");
        assert_eq!(pages, 4);

        let a_s1 = store
            .kpi_rows(0, 1_000, Some("A"), Some("s1"))
            .await
            .expect("filtered");
        assert_eq!(a_s1.len(), 4);
        assert!(
            a_s1.iter()
                .all(|r| r.agency.as_deref() == Some("A") && r.service == "s1")
        );
        let b = store
            .kpi_rows(0, 1_000, Some("B"), None)
            .await
            .expect("by agency");
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].latency_us, 100);
    }

    #[tokio::test]
    async fn kpi_asked_reads_the_window_and_drops_serviceless_rows_under_a_service_filter() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = store(&dir).await;
        ensure_reuse_asked(&store).await;
        insert_asked(&store, "1", 10, Some("A"), Some("s1"), 2).await;
        insert_asked(&store, "2", 11, Some("A"), None, 1).await;
        insert_asked(&store, "3", 12, Some("B"), Some("s1"), 5).await;
        insert_asked(&store, "4", 20, Some("A"), Some("s1"), 7).await;

        let all = store.kpi_asked(10, 20, None, None).await.expect("asked");
        assert_eq!(
            all.iter().map(|r| r.items).collect::<Vec<_>>(),
            [2, 1, 5],
            "to is exclusive"
        );
        assert_eq!(all[1].service, None);
        let a_s1 = store
            .kpi_asked(0, 100, Some("A"), Some("s1"))
            .await
            .expect("filtered");
        assert_eq!(a_s1.iter().map(|r| r.items).collect::<Vec<_>>(), [2, 7]);
    }
}

/// One line of a system's usage: calls to one service with one outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UsageRow {
    /// Service slug.
    pub service: String,
    /// `allowed`, `refused` or `failed`.
    pub outcome: String,
    /// Number of calls.
    pub calls: i64,
}

impl Store {
    /// A system's calls since `since_ms`, by service and outcome, from the audit log.
    pub async fn system_usage(
        &self,
        system: &str,
        since_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT service, outcome, COUNT(*) AS calls FROM audit_records \
             WHERE system = $1 AND recorded_at >= $2 GROUP BY service, outcome \
             ORDER BY service, outcome",
        )
        .bind(system.to_string())
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UsageRow {
                    service: sqlx::Row::try_get(row, "service")?,
                    outcome: sqlx::Row::try_get(row, "outcome")?,
                    calls: sqlx::Row::try_get(row, "calls")?,
                })
            })
            .collect()
    }
}
