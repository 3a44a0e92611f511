//! The auditor's read queries over the audit tables (`audit_records`,
//! `audit_checkpoints`, written by the audit writer): filtered search with
//! keyset pagination, the per-subject access report, the record by id, the
//! ordered walk that exports use, and the checkpoints. Rows are read into the
//! audit module's own [`AuditRecord`] and [`Checkpoint`], so that what the
//! auditor sees and exports is what `lgsp audit verify` checks.
//!
//! Values only ever reach SQL as bound parameters; the text of a query is
//! assembled solely from the fixed column names below and `$N` placeholders.
//! Pages continue from the last row seen (keyset), not by OFFSET, so a page
//! costs the same however deep it is and rows appended meanwhile neither
//! repeat nor shift the walk.

use super::audit::{CHECKPOINT_COLUMNS, audit_record_from_row, checkpoint_from_row};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Executor};

use super::{Store, StoreError};
use crate::audit::{AuditRecord, Checkpoint};

/// Every column of `audit_records`, in the schema's order, as `r.x AS x`
/// (aliased because SQLite leaves the name of an unaliased `r.x` unspecified).
const RECORD_COLUMNS: &str = "r.id AS id, r.chain AS chain, r.seq AS seq, \
     r.recorded_at AS recorded_at, r.request_id AS request_id, r.trace_id AS trace_id, \
     r.client_ip AS client_ip, r.system AS system, r.agency AS agency, \
     r.auth_method AS auth_method, r.officer AS officer, r.purpose AS purpose, \
     r.dossier AS dossier, r.service AS service, r.version AS version, \
     r.operation AS operation, r.method AS method, r.subject_kind AS subject_kind, \
     r.subject_hash AS subject_hash, r.outcome AS outcome, r.status AS status, \
     r.error_code AS error_code, r.upstream_status AS upstream_status, \
     r.latency_us AS latency_us, r.request_bytes AS request_bytes, \
     r.response_bytes AS response_bytes, r.request_sha256 AS request_sha256, \
     r.response_sha256 AS response_sha256, r.reuse AS reuse, \
     r.contract_violation AS contract_violation, r.prev_hash AS prev_hash, \
     r.hash AS hash";

/// The columns of the per-subject report, with the agency's name from the registry.
const ACCESS_COLUMNS: &str = "r.id AS id, r.recorded_at AS recorded_at, r.system AS system, \
     r.agency AS agency, g.name AS agency_name, r.officer AS officer, r.service AS service, \
     r.version AS version, r.operation AS operation, r.method AS method, \
     r.purpose AS purpose, r.dossier AS dossier, r.outcome AS outcome, r.status AS status, \
     r.error_code AS error_code";

/// The columns of `audit_records` in the schema's order, which is also the
/// order in which [`AuditRecord`] serializes them.
pub const AUDIT_RECORD_COLUMNS: [&str; 32] = [
    "id",
    "chain",
    "seq",
    "recorded_at",
    "request_id",
    "trace_id",
    "client_ip",
    "system",
    "agency",
    "auth_method",
    "officer",
    "purpose",
    "dossier",
    "service",
    "version",
    "operation",
    "method",
    "subject_kind",
    "subject_hash",
    "outcome",
    "status",
    "error_code",
    "upstream_status",
    "latency_us",
    "request_bytes",
    "response_bytes",
    "request_sha256",
    "response_sha256",
    "reuse",
    "contract_violation",
    "prev_hash",
    "hash",
];

/// One access to a data subject's data, for the per-subject report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubjectAccessRow {
    /// The audit record's id.
    pub id: String,
    /// When, unix ms.
    pub recorded_at: i64,
    /// The consumer system; `None` when not authenticated.
    pub system: Option<String>,
    /// Its agency code.
    pub agency: Option<String>,
    /// The agency's name, when the registry knows the code.
    pub agency_name: Option<String>,
    /// The officer who asked.
    pub officer: Option<String>,
    /// The service called.
    pub service: String,
    /// Its version.
    pub version: String,
    /// The operation template.
    pub operation: Option<String>,
    /// HTTP method.
    pub method: String,
    /// The stated purpose.
    pub purpose: Option<String>,
    /// The dossier.
    pub dossier: Option<String>,
    /// `allowed`, `refused` or `failed`.
    pub outcome: String,
    /// HTTP status sent to the consumer.
    pub status: i64,
    /// Problem code, `None` on success.
    pub error_code: Option<String>,
}

/// Which records a search, report or export covers; `None` matches anything.
/// All given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Recorded at or after, unix ms (inclusive).
    pub from: Option<i64>,
    /// Recorded before, unix ms (exclusive).
    pub to: Option<i64>,
    /// Consumer system slug.
    pub system: Option<String>,
    /// Consumer agency code.
    pub agency: Option<String>,
    /// Officer.
    pub officer: Option<String>,
    /// Service slug.
    pub service: Option<String>,
    /// Purpose code.
    pub purpose: Option<String>,
    /// Dossier number.
    pub dossier: Option<String>,
    /// `allowed`, `refused` or `failed`.
    pub outcome: Option<String>,
    /// `personal_id` or `enterprise`.
    pub subject_kind: Option<String>,
    /// The subject's keyed hash (never the identifier itself).
    pub subject_hash: Option<String>,
}

/// A position in the newest-first order (recorded_at DESC, id DESC): the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPosition {
    /// The row's `recorded_at`.
    pub recorded_at: i64,
    /// The row's `id`.
    pub id: String,
}

/// A position in a chain: the last row of a page walked by (chain, seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainPosition {
    /// The chain.
    pub chain: String,
    /// The sequence number.
    pub seq: i64,
}

/// A value to bind, in placeholder order.
#[derive(Debug, Clone)]
enum Arg {
    /// A BIGINT.
    Int(i64),
    /// A TEXT.
    Text(String),
}

/// A WHERE clause under construction: conditions over fixed column names,
/// each value behind its own `$N` placeholder.
#[derive(Debug, Default)]
struct Conditions {
    /// The conditions, joined with AND.
    clauses: Vec<String>,
    /// The values of the placeholders `$1`, `$2`, … in order.
    args: Vec<Arg>,
}

impl Conditions {
    /// The conditions of `filter` over the records aliased `r`.
    fn of(filter: &AuditFilter) -> Conditions {
        let mut conditions = Conditions::default();
        if let Some(from) = filter.from {
            let p = conditions.bind(Arg::Int(from));
            conditions.clauses.push(format!("r.recorded_at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = conditions.bind(Arg::Int(to));
            conditions.clauses.push(format!("r.recorded_at < {p}"));
        }
        let equalities: [(&str, &Option<String>); 9] = [
            ("system", &filter.system),
            ("agency", &filter.agency),
            ("officer", &filter.officer),
            ("service", &filter.service),
            ("purpose", &filter.purpose),
            ("dossier", &filter.dossier),
            ("outcome", &filter.outcome),
            ("subject_kind", &filter.subject_kind),
            ("subject_hash", &filter.subject_hash),
        ];
        for (column, value) in equalities {
            if let Some(value) = value {
                let p = conditions.bind(Arg::Text(value.clone()));
                conditions.clauses.push(format!("r.{column} = {p}"));
            }
        }
        conditions
    }

    /// Adds a value and returns its placeholder.
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// Continues after `position` in the order (recorded_at DESC, id DESC).
    fn after_record(&mut self, position: &RecordPosition) {
        let at = self.bind(Arg::Int(position.recorded_at));
        let id = self.bind(Arg::Text(position.id.clone()));
        self.clauses.push(format!(
            "(r.recorded_at < {at} OR (r.recorded_at = {at} AND r.id < {id}))"
        ));
    }

    /// Continues after `position` in the order (chain ASC, seq ASC).
    fn after_chain_ascending(&mut self, position: &ChainPosition, alias: &str) {
        let chain = self.bind(Arg::Text(position.chain.clone()));
        let seq = self.bind(Arg::Int(position.seq));
        self.clauses.push(format!(
            "({alias}chain > {chain} OR ({alias}chain = {chain} AND {alias}seq > {seq}))"
        ));
    }

    /// ` WHERE …`, or nothing when there is no condition.
    fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// A query of `sql` with every value bound in order.
    fn query(self, sql: &str) -> Query<'_, Any, AnyArguments<'_>> {
        let mut query = sqlx::query(sql);
        for arg in self.args {
            query = match arg {
                Arg::Int(n) => query.bind(n),
                Arg::Text(s) => query.bind(s),
            };
        }
        query
    }
}

impl Store {
    /// One page of the records matching `filter`, newest first (recorded_at
    /// DESC, id DESC), continuing after `after`; with the position to continue
    /// from when more rows follow.
    pub async fn search_audit_records(
        &self,
        filter: &AuditFilter,
        after: Option<&RecordPosition>,
        limit: u32,
    ) -> Result<(Vec<AuditRecord>, Option<RecordPosition>), StoreError> {
        let mut conditions = Conditions::of(filter);
        if let Some(position) = after {
            conditions.after_record(position);
        }
        // One row more than asked says whether another page follows.
        let fetch = conditions.bind(Arg::Int(i64::from(limit) + 1));
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM audit_records r{} \
             ORDER BY r.recorded_at DESC, r.id DESC LIMIT {fetch}",
            conditions.where_clause()
        );
        let rows = self.pool.fetch_all(conditions.query(&sql)).await?;
        let mut records = rows
            .iter()
            .map(audit_record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = next_record_position(&mut records, limit, |r| (r.recorded_at, &r.id));
        Ok((records, next))
    }

    /// The record with `id`, if any.
    pub async fn audit_record(&self, id: &str) -> Result<Option<AuditRecord>, StoreError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM audit_records r WHERE r.id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(audit_record_from_row).transpose()
    }

    /// One page of the accesses matching `filter` (normally a subject's hash
    /// and a time range), newest first, with the agency's name from the
    /// registry; with the position to continue from when more rows follow.
    pub async fn subject_accesses(
        &self,
        filter: &AuditFilter,
        after: Option<&RecordPosition>,
        limit: u32,
    ) -> Result<(Vec<SubjectAccessRow>, Option<RecordPosition>), StoreError> {
        let mut conditions = Conditions::of(filter);
        if let Some(position) = after {
            conditions.after_record(position);
        }
        let fetch = conditions.bind(Arg::Int(i64::from(limit) + 1));
        let sql = format!(
            "SELECT {ACCESS_COLUMNS} FROM audit_records r \
             LEFT JOIN agencies g ON g.code = r.agency{} \
             ORDER BY r.recorded_at DESC, r.id DESC LIMIT {fetch}",
            conditions.where_clause()
        );
        let rows = self.pool.fetch_all(conditions.query(&sql)).await?;
        let mut accesses = rows
            .iter()
            .map(access_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = next_record_position(&mut accesses, limit, |a| (a.recorded_at, &a.id));
        Ok((accesses, next))
    }

    /// Up to `limit` records matching `filter` in chain order (chain ASC, seq
    /// ASC), continuing after `after`: the walk of an export.
    pub async fn audit_records_in_chain_order(
        &self,
        filter: &AuditFilter,
        after: Option<&ChainPosition>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut conditions = Conditions::of(filter);
        if let Some(position) = after {
            conditions.after_chain_ascending(position, "r.");
        }
        let fetch = conditions.bind(Arg::Int(i64::from(limit)));
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM audit_records r{} \
             ORDER BY r.chain ASC, r.seq ASC LIMIT {fetch}",
            conditions.where_clause()
        );
        let rows = self.pool.fetch_all(conditions.query(&sql)).await?;
        rows.iter()
            .map(audit_record_from_row)
            .collect::<Result<Vec<_>, _>>()
    }

    /// One page of checkpoints, optionally of one chain, by chain and then
    /// newest first (chain ASC, seq DESC), continuing after `after`; with the
    /// position to continue from when more rows follow.
    pub async fn audit_checkpoints(
        &self,
        chain: Option<&str>,
        after: Option<&ChainPosition>,
        limit: u32,
    ) -> Result<(Vec<Checkpoint>, Option<ChainPosition>), StoreError> {
        let mut conditions = Conditions::default();
        if let Some(chain) = chain {
            let p = conditions.bind(Arg::Text(chain.to_string()));
            conditions.clauses.push(format!("chain = {p}"));
        }
        if let Some(position) = after {
            let c = conditions.bind(Arg::Text(position.chain.clone()));
            let s = conditions.bind(Arg::Int(position.seq));
            conditions
                .clauses
                .push(format!("(chain > {c} OR (chain = {c} AND seq < {s}))"));
        }
        let fetch = conditions.bind(Arg::Int(i64::from(limit) + 1));
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints{} \
             ORDER BY chain ASC, seq DESC LIMIT {fetch}",
            conditions.where_clause()
        );
        let rows = self.pool.fetch_all(conditions.query(&sql)).await?;
        let mut checkpoints = rows
            .iter()
            .map(checkpoint_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if checkpoints.len() > limit as usize {
            checkpoints.truncate(limit as usize);
            checkpoints.last().map(|c| ChainPosition {
                chain: c.chain.clone(),
                seq: c.seq,
            })
        } else {
            None
        };
        Ok((checkpoints, next))
    }

    /// The checkpoints of `chain` signing a head between `first_seq` and
    /// `last_seq` inclusive, in chain order: those an export of that span carries.
    pub async fn audit_checkpoints_between(
        &self,
        chain: &str,
        first_seq: i64,
        last_seq: i64,
    ) -> Result<Vec<Checkpoint>, StoreError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints \
             WHERE chain = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq ASC"
        );
        let rows = sqlx::query(&sql)
            .bind(chain.to_string())
            .bind(first_seq)
            .bind(last_seq)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(checkpoint_from_row)
            .collect::<Result<Vec<_>, _>>()
    }
}

/// Cuts a page fetched with one extra row back to `limit`, and returns the
/// position of its last row when the extra row showed that more follow.
fn next_record_position<T>(
    rows: &mut Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> (i64, &String),
) -> Option<RecordPosition> {
    let limit = limit as usize;
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|row| {
        let (recorded_at, id) = key(row);
        RecordPosition {
            recorded_at,
            id: id.clone(),
        }
    })
}

/// An access from a row selected with [`ACCESS_COLUMNS`].
fn access_from_row(row: &AnyRow) -> Result<SubjectAccessRow, sqlx::Error> {
    Ok(SubjectAccessRow {
        id: row.try_get("id")?,
        recorded_at: row.try_get("recorded_at")?,
        system: row.try_get("system")?,
        agency: row.try_get("agency")?,
        agency_name: row.try_get("agency_name")?,
        officer: row.try_get("officer")?,
        service: row.try_get("service")?,
        version: row.try_get("version")?,
        operation: row.try_get("operation")?,
        method: row.try_get("method")?,
        purpose: row.try_get("purpose")?,
        dossier: row.try_get("dossier")?,
        outcome: row.try_get("outcome")?,
        status: row.try_get("status")?,
        error_code: row.try_get("error_code")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_bind_every_value_and_interpolate_none() {
        let filter = AuditFilter {
            from: Some(1),
            to: Some(2),
            system: Some("x' OR 1=1 --".into()),
            subject_hash: Some("ab".into()),
            ..AuditFilter::default()
        };
        let mut conditions = Conditions::of(&filter);
        conditions.after_record(&RecordPosition {
            recorded_at: 5,
            id: "id'".into(),
        });
        let sql = conditions.where_clause();
        assert_eq!(
            sql,
            " WHERE r.recorded_at >= $1 AND r.recorded_at < $2 AND r.system = $3 \
             AND r.subject_hash = $4 AND (r.recorded_at < $5 OR (r.recorded_at = $5 AND r.id < $6))"
        );
        assert!(!sql.contains('\''));
        assert_eq!(conditions.args.len(), 6);
        assert_eq!(Conditions::default().where_clause(), "");
    }

    #[test]
    fn record_fields_follow_the_columns() {
        assert_eq!(
            RECORD_COLUMNS.matches(" AS ").count(),
            AUDIT_RECORD_COLUMNS.len()
        );
        for column in AUDIT_RECORD_COLUMNS {
            assert!(
                RECORD_COLUMNS.contains(&format!("r.{column} AS {column}")),
                "{column}"
            );
        }
    }
}
