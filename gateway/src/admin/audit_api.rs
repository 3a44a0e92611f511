//! The auditor API under `/audit/v1` (issue 4, items 5 and 6): search, the
//! record by id, the per-citizen access report, streaming export, the
//! checkpoints, the admin-change log and the verification status.
//!
//! Read-only, and for the auditor role only. A province admin is refused too,
//! on purpose: separation of duties keeps those who change the registry and
//! grant access apart from those who inspect the evidence of its use, so no
//! single account can both act and review its own actions.
//!
//! A data subject is asked for in clear (a personal ID or an enterprise code)
//! and hashed here with the node's subject key, exactly as the audit writer
//! hashed it; the identifier is validated, never stored, never logged and
//! never echoed. Every answer carries `Cache-Control: no-store`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{HeaderValue, header};
use lgsp_contracts::{EnterpriseCode, PersonalId};
use serde::Serialize;
use serde_json::{Value, json};

use super::accounts::Role;
use super::auth::{AdminCaller, AdminState, require};
use super::error::AdminError;
use super::timestamps::{VIETNAM_OFFSET_MINUTES, format_rfc3339, format_vietnamese, parse_time};
use crate::audit::{
    Anchor, AuditRecord, Checkpoint, verify_store, write_anchor_line, write_checkpoint_line,
    write_record_line,
};
use crate::store::{
    AUDIT_RECORD_COLUMNS, AuditFilter, ChainPosition, RecordPosition, Store, StoreError,
    SubjectAccessRow,
};

/// Rows per page when the caller does not say.
pub const DEFAULT_PAGE_ROWS: u32 = 100;
/// Most rows a caller may ask for in one page.
pub const MAX_PAGE_ROWS: u32 = 1000;
/// Rows an export reads from the store per round trip, and so per body chunk.
pub const EXPORT_PAGE_ROWS: u32 = 1000;
/// Longest value accepted for a text filter.
const MAX_FILTER_BYTES: usize = 256;
/// The subject kind of a personal ID, as the audit log stores it.
pub const SUBJECT_PERSONAL_ID: &str = "personal_id";
/// The subject kind of an enterprise code, as the audit log stores it.
pub const SUBJECT_ENTERPRISE: &str = "enterprise";
/// The outcomes a record can have.
const OUTCOMES: [&str; 3] = ["allowed", "refused", "failed"];
/// How long a verification result is served before the store is walked again.
pub const VERIFICATION_CACHE: Duration = Duration::from_secs(60);

/// What the auditor API needs from the node's state, beyond the store.
pub trait AuditorState: AdminState {
    /// The keyed hash (lowercase hex HMAC-SHA256) under which the audit log
    /// stores the data subject `id` of `kind` (`personal_id` or
    /// `enterprise`); `None` when the node has no subject key.
    fn subject_hash(&self, kind: &str, id: &str) -> Option<String>;

    /// The node's audit public key (base64url), pinned when the verification
    /// status walks the log; `None` trusts each chain's first checkpoint key.
    fn audit_public_key(&self) -> Option<String> {
        None
    }
}

/// The routes of the auditor API, all under `/audit/v1`, for auditors only.
pub fn audit_routes<S: AuditorState>() -> Router<S> {
    Router::new()
        .route("/audit/v1/records", get(search::<S>))
        .route("/audit/v1/records/{id}", get(record::<S>))
        .route("/audit/v1/subjects/report", get(subject_report::<S>))
        .route("/audit/v1/export", get(export::<S>))
        .route("/audit/v1/checkpoints", get(checkpoints::<S>))
        .route(
            "/audit/v1/verification",
            get(verification::<S>).layer(Extension(Arc::new(VerificationCache::default()))),
        )
        .route("/audit/v1/admin-changes", get(admin_changes::<S>))
        .layer(axum::middleware::map_response(no_store))
}

/// An [`AdminCaller`] holding the auditor role; anyone else is refused
/// (401 without a session, 403 with another role).
#[derive(Debug, Clone)]
pub struct Auditor(pub AdminCaller);

impl<S: AdminState> FromRequestParts<S> for Auditor {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = AdminCaller::from_request_parts(parts, state).await?;
        require(&caller, &[Role::Auditor])?;
        Ok(Auditor(caller))
    }
}

/// Audit data must not linger in shared or browser caches.
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The filter parameters shared by search and export.
const FILTER_PARAMS: [&str; 11] = [
    "from",
    "to",
    "system",
    "agency",
    "officer",
    "service",
    "purpose",
    "dossier",
    "outcome",
    "subject",
    "subject_kind",
];

/// The query parameters of a request: known names only, each at most once,
/// empty values dropped. Deliberately without `Debug`: it may hold a subject.
struct Params(BTreeMap<String, String>);

impl Params {
    /// Reads the query, refusing names outside `allowed` so that a misspelt
    /// filter fails loudly instead of silently matching everything.
    fn read(
        query: Result<Query<Vec<(String, String)>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Params, AdminError> {
        let Query(pairs) = query.map_err(|e| {
            AdminError::InvalidRequest(format!("malformed query string: {}", e.body_text()))
        })?;
        let mut values = BTreeMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                let shown: String = name.chars().take(32).collect();
                return Err(AdminError::InvalidRequest(format!(
                    "unknown query parameter {shown:?}; known: {}",
                    allowed.join(", ")
                )));
            }
            if value.is_empty() {
                continue;
            }
            if values.insert(name.clone(), value).is_some() {
                return Err(AdminError::InvalidRequest(format!(
                    "query parameter {name} is given more than once"
                )));
            }
        }
        Ok(Params(values))
    }

    /// A text parameter, bounded in length.
    fn text(&mut self, name: &str) -> Result<Option<String>, AdminError> {
        match self.0.remove(name) {
            Some(value) if value.len() > MAX_FILTER_BYTES => Err(AdminError::InvalidRequest(
                format!("{name} is longer than {MAX_FILTER_BYTES} bytes"),
            )),
            other => Ok(other),
        }
    }

    /// A time parameter: unix ms or RFC 3339.
    fn time(&mut self, name: &str) -> Result<Option<i64>, AdminError> {
        self.0
            .remove(name)
            .map(|value| {
                parse_time(&value).map_err(|e| AdminError::InvalidRequest(format!("{name}: {e}")))
            })
            .transpose()
    }

    /// The page size: 1 to [`MAX_PAGE_ROWS`], [`DEFAULT_PAGE_ROWS`] when absent.
    fn limit(&mut self) -> Result<u32, AdminError> {
        let Some(value) = self.0.remove("limit") else {
            return Ok(DEFAULT_PAGE_ROWS);
        };
        value
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_ROWS).contains(n))
            .ok_or_else(|| {
                AdminError::InvalidRequest(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE_ROWS}"
                ))
            })
    }

    /// The records filter: time range, equalities, and the subject hashed with the node's key.
    fn filter<S: AuditorState>(&mut self, state: &S) -> Result<AuditFilter, AdminError> {
        let from = self.time("from")?;
        let to = self.time("to")?;
        if let (Some(from), Some(to)) = (from, to)
            && from >= to
        {
            return Err(AdminError::InvalidRequest(
                "from must be earlier than to (from is inclusive, to exclusive)".into(),
            ));
        }
        let outcome = self.text("outcome")?;
        if let Some(outcome) = &outcome
            && !OUTCOMES.contains(&outcome.as_str())
        {
            return Err(AdminError::InvalidRequest(format!(
                "outcome must be one of {}",
                OUTCOMES.join(", ")
            )));
        }
        let kind = self.text("subject_kind")?;
        let subject = self.0.remove("subject");
        let (subject_kind, subject_hash) = subject_condition(state, subject, kind)?;
        Ok(AuditFilter {
            from,
            to,
            system: self.text("system")?,
            agency: self.text("agency")?,
            officer: self.text("officer")?,
            service: self.text("service")?,
            purpose: self.text("purpose")?,
            dossier: self.text("dossier")?,
            outcome,
            subject_kind,
            subject_hash,
        })
    }

    /// The names of the filters given, for the query log (never their values).
    fn names(&self) -> String {
        self.0.keys().cloned().collect::<Vec<_>>().join(",")
    }
}

/// The subject kind and hash to match: the kind as given or, with a subject
/// and no kind, as its format says (12 digits are a personal ID, 10 or 10-3
/// an enterprise code); the subject validated and hashed with the node's key.
fn subject_condition<S: AuditorState>(
    state: &S,
    subject: Option<String>,
    kind: Option<String>,
) -> Result<(Option<String>, Option<String>), AdminError> {
    if let Some(kind) = &kind
        && kind != SUBJECT_PERSONAL_ID
        && kind != SUBJECT_ENTERPRISE
    {
        return Err(AdminError::InvalidRequest(format!(
            "subject_kind must be {SUBJECT_PERSONAL_ID} or {SUBJECT_ENTERPRISE}"
        )));
    }
    let Some(subject) = subject else {
        return Ok((kind, None));
    };
    let kind = kind.unwrap_or_else(|| {
        if subject.len() == 12 {
            SUBJECT_PERSONAL_ID.to_string()
        } else {
            SUBJECT_ENTERPRISE.to_string()
        }
    });
    let invalid =
        |e: lgsp_contracts::IdentifierError| AdminError::InvalidRequest(format!("subject: {e}"));
    let canonical = if kind == SUBJECT_PERSONAL_ID {
        PersonalId::parse(&subject)
            .map_err(invalid)?
            .as_str()
            .to_string()
    } else {
        EnterpriseCode::parse(&subject)
            .map_err(invalid)?
            .as_str()
            .to_string()
    };
    let hash = state.subject_hash(&kind, &canonical).ok_or_else(|| {
        AdminError::Internal(
            "subject search is unavailable: the node has no audit subject key".into(),
        )
    })?;
    Ok((Some(kind), Some(hash)))
}

/// The opaque cursor of a position in the newest-first order.
fn record_cursor(position: &RecordPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("r1:{}:{}", position.recorded_at, position.id))
}

/// The opaque cursor of a position in the checkpoint order.
fn checkpoint_cursor(position: &ChainPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!("c1:{}:{}", position.seq, position.chain))
}

/// The two fields of a cursor of `kind` (`r1` or `c1`): a number, then text.
fn decode_cursor(cursor: &str, kind: &str) -> Result<(i64, String), AdminError> {
    let malformed = || {
        AdminError::InvalidRequest("cursor is malformed; pass next_cursor back unchanged".into())
    };
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let text = String::from_utf8(raw).map_err(|_| malformed())?;
    let mut parts = text.splitn(3, ':');
    let (Some(prefix), Some(number), Some(rest)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let number = number.parse::<i64>().map_err(|_| malformed())?;
    if prefix != kind || rest.is_empty() {
        return Err(malformed());
    }
    Ok((number, rest.to_string()))
}

/// The position a `cursor` parameter names, if given.
fn record_position(params: &mut Params) -> Result<Option<RecordPosition>, AdminError> {
    params
        .text("cursor")?
        .map(|cursor| {
            decode_cursor(&cursor, "r1").map(|(recorded_at, id)| RecordPosition { recorded_at, id })
        })
        .transpose()
}

/// Logs that an auditor read the log, with the filter names and never their values.
fn log_query(caller: &Auditor, endpoint: &str, filters: &str) {
    tracing::info!(
        event = "audit_query",
        username = %caller.0.username,
        endpoint,
        filters
    );
}

/// `GET /audit/v1/records`: a page of matching records, newest first.
#[utoipa::path(get, path = "/audit/v1/records", tag = "audit", params(
        ("from" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD (Vietnam)"),
        ("to" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD (Vietnam)"),
        ("system" = Option<String>, Query), ("agency" = Option<String>, Query),
        ("officer" = Option<String>, Query), ("service" = Option<String>, Query),
        ("purpose" = Option<String>, Query), ("dossier" = Option<String>, Query),
        ("outcome" = Option<String>, Query, description = "allowed, refused or failed"),
        ("subject" = Option<String>, Query, description = "the clear identifier; hashed server-side"),
        ("subject_kind" = Option<String>, Query),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "`records` and `next_cursor`"), (status = 403)),
    security(("session" = [])))]
pub(crate) async fn search<S: AuditorState>(
    State(state): State<S>,
    auditor: Auditor,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let mut allowed = FILTER_PARAMS.to_vec();
    allowed.extend(["limit", "cursor"]);
    let mut params = Params::read(query, &allowed)?;
    log_query(&auditor, "records", &params.names());
    let filter = params.filter(&state)?;
    let limit = params.limit()?;
    let after = record_position(&mut params)?;
    let (records, next) = state
        .store()
        .search_audit_records(&filter, after.as_ref(), limit)
        .await?;
    Ok(Json(json!({
        "records": records,
        "next_cursor": next.as_ref().map(record_cursor),
    })))
}

/// `GET /audit/v1/records/{id}`: one record.
#[utoipa::path(get, path = "/audit/v1/records/{id}", tag = "audit", params(("id" = String, Path)),
    responses((status = 200, description = "The record, every column"), (status = 404)),
    security(("session" = [])))]
pub(crate) async fn record<S: AuditorState>(
    State(state): State<S>,
    auditor: Auditor,
    Path(id): Path<String>,
) -> Result<Json<AuditRecord>, AdminError> {
    log_query(&auditor, "record", "id");
    if id.is_empty() || id.len() > 128 {
        return Err(AdminError::InvalidRequest(
            "an audit record id is 1 to 128 characters".into(),
        ));
    }
    state
        .store()
        .audit_record(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AdminError::NotFound(format!("no audit record has the id {id}")))
}

/// One line of the per-citizen report: who, when, which service, why, and
/// what came of it, with a Vietnamese sentence (`moTa`) for a portal.
#[derive(Debug, Serialize)]
struct ReportEntry {
    /// The audit record, for an inspector to look up.
    audit_id: String,
    /// When, unix ms.
    recorded_at: i64,
    /// When, RFC 3339 in Vietnam time.
    time: String,
    /// The consumer system.
    system: Option<String>,
    /// Its agency code.
    agency: Option<String>,
    /// Its agency's name.
    agency_name: Option<String>,
    /// The officer who asked.
    officer: Option<String>,
    /// The service.
    service: String,
    /// Its version.
    version: String,
    /// The operation.
    operation: Option<String>,
    /// The stated purpose (an administrative-procedure code or category).
    purpose: Option<String>,
    /// The dossier.
    dossier: Option<String>,
    /// `allowed`, `refused` or `failed`.
    outcome: String,
    /// HTTP status sent to the consumer.
    status: i64,
    /// Problem code when refused or failed.
    error_code: Option<String>,
    /// The access told in Vietnamese.
    #[serde(rename = "moTa")]
    mo_ta: String,
}

impl From<SubjectAccessRow> for ReportEntry {
    fn from(access: SubjectAccessRow) -> Self {
        let mo_ta = describe_in_vietnamese(&access);
        ReportEntry {
            audit_id: access.id,
            time: format_rfc3339(access.recorded_at, VIETNAM_OFFSET_MINUTES),
            recorded_at: access.recorded_at,
            system: access.system,
            agency: access.agency,
            agency_name: access.agency_name,
            officer: access.officer,
            service: access.service,
            version: access.version,
            operation: access.operation,
            purpose: access.purpose,
            dossier: access.dossier,
            outcome: access.outcome,
            status: access.status,
            error_code: access.error_code,
            mo_ta,
        }
    }
}

/// One access told in Vietnamese, e.g. "Lúc 07:00:00 ngày 01/01/2025 (giờ Việt
/// Nam), hệ thống motcua-xa-a (UBND xã A), cán bộ nva, đã truy cập dịch vụ
/// population phiên bản v1, mục đích: 1.001612, hồ sơ: H29.1. Kết quả: được phép."
fn describe_in_vietnamese(access: &SubjectAccessRow) -> String {
    let when = format_vietnamese(access.recorded_at);
    let (date, clock) = when.split_once(' ').unwrap_or((when.as_str(), ""));
    let who = match (&access.system, &access.agency_name, &access.agency) {
        (Some(system), Some(name), _) => format!("hệ thống {system} ({name})"),
        (Some(system), None, Some(code)) => format!("hệ thống {system} (cơ quan {code})"),
        (Some(system), None, None) => format!("hệ thống {system}"),
        (None, _, _) => "một bên chưa xác thực".to_string(),
    };
    let officer = access
        .officer
        .as_ref()
        .map(|officer| format!(", cán bộ {officer},"))
        .unwrap_or_default();
    let purpose = match &access.purpose {
        Some(purpose) => format!("mục đích: {purpose}"),
        None => "không nêu mục đích".to_string(),
    };
    let dossier = access
        .dossier
        .as_ref()
        .map(|dossier| format!(", hồ sơ: {dossier}"))
        .unwrap_or_default();
    let outcome = match access.outcome.as_str() {
        "allowed" => "được phép",
        "refused" => "bị từ chối",
        "failed" => "không thành công",
        other => other,
    };
    format!(
        "Lúc {clock} ngày {date} (giờ Việt Nam), {who}{officer} đã truy cập dịch vụ {} \
         phiên bản {}, {purpose}{dossier}. Kết quả: {outcome}.",
        access.service, access.version
    )
}

/// `GET /audit/v1/subjects/report`: who accessed this person's (or
/// enterprise's) data, when and why, newest first.
#[utoipa::path(get, path = "/audit/v1/subjects/report", tag = "audit", params(
        ("subject" = String, Query, description = "the clear identifier; hashed server-side"),
        ("subject_kind" = Option<String>, Query), ("from" = Option<String>, Query),
        ("to" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "`accesses` in Vietnamese sentences, `next_cursor`")),
    security(("session" = [])))]
pub(crate) async fn subject_report<S: AuditorState>(
    State(state): State<S>,
    auditor: Auditor,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::read(
        query,
        &["subject", "subject_kind", "from", "to", "limit", "cursor"],
    )?;
    log_query(&auditor, "subject_report", &params.names());
    if !params.0.contains_key("subject") {
        return Err(AdminError::InvalidRequest(
            "subject (a personal ID or an enterprise code) is required".into(),
        ));
    }
    let filter = params.filter(&state)?;
    let limit = params.limit()?;
    let after = record_position(&mut params)?;
    let (accesses, next) = state
        .store()
        .subject_accesses(&filter, after.as_ref(), limit)
        .await?;
    let entries: Vec<ReportEntry> = accesses.into_iter().map(ReportEntry::from).collect();
    Ok(Json(json!({
        "subject_kind": filter.subject_kind,
        "from": filter.from,
        "to": filter.to,
        "accesses": entries,
        "next_cursor": next.as_ref().map(record_cursor),
    })))
}

/// `GET /audit/v1/checkpoints`: signed chain heads, by chain and newest first.
#[utoipa::path(get, path = "/audit/v1/checkpoints", tag = "audit", params(
        ("chain" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "Signed checkpoints")), security(("session" = [])))]
pub(crate) async fn checkpoints<S: AuditorState>(
    State(state): State<S>,
    auditor: Auditor,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::read(query, &["chain", "limit", "cursor"])?;
    log_query(&auditor, "checkpoints", &params.names());
    let chain = params.text("chain")?;
    let limit = params.limit()?;
    let after = params
        .text("cursor")?
        .map(|cursor| decode_cursor(&cursor, "c1").map(|(seq, chain)| ChainPosition { chain, seq }))
        .transpose()?;
    let (checkpoints, next) = state
        .store()
        .audit_checkpoints(chain.as_deref(), after.as_ref(), limit)
        .await?;
    Ok(Json(json!({
        "checkpoints": checkpoints,
        "next_cursor": next.as_ref().map(checkpoint_cursor),
    })))
}

/// `GET /audit/v1/admin-changes?after=&limit=`: entries of the admin-change
/// log with seq above `after` (0 when absent), oldest first.
///
/// Each entry carries every column as stored (`before` and `after` are JSON
/// text, secrets redacted), so a client can recompute its hash and links.
/// `next_after` is the seq to pass as `after` for the next page, `null` on
/// the last one.
#[utoipa::path(get, path = "/audit/v1/admin-changes", tag = "audit", params(
        ("after" = Option<i64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "`changes` with every column, `next_after`")),
    security(("session" = [])))]
pub(crate) async fn admin_changes<S: AuditorState>(
    State(state): State<S>,
    auditor: Auditor,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::read(query, &["after", "limit"])?;
    log_query(&auditor, "admin_changes", &params.names());
    let after = match params.text("after")? {
        None => 0,
        Some(value) => value
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq >= 0)
            .ok_or_else(|| {
                AdminError::InvalidRequest(
                    "after must be a whole number from 0: the seq of the last entry read".into(),
                )
            })?,
    };
    let limit = params.limit()?;
    let changes = state.store().admin_changes(after, i64::from(limit)).await?;
    let full_page = u64::try_from(changes.len()).is_ok_and(|rows| rows >= u64::from(limit));
    let next_after = changes.last().filter(|_| full_page).map(|last| last.seq);
    Ok(Json(json!({
        "changes": changes,
        "next_after": next_after,
    })))
}

/// The last verification status, shared by the auditors of one router.
#[derive(Debug, Default)]
pub(crate) struct VerificationCache {
    /// When it was computed, and the answer. The lock is held while the
    /// store is walked, so concurrent requests wait for one walk.
    last: tokio::sync::Mutex<Option<(Instant, Value)>>,
}

/// `GET /audit/v1/verification`: every chain verified as `lgsp audit verify`
/// does (pinning the node's audit key), with `checked_at`; the result is
/// reused for [`VERIFICATION_CACHE`] so that auditors cannot hammer the store.
#[utoipa::path(get, path = "/audit/v1/verification", tag = "audit",
    responses((status = 200, description = "Every chain verified, with `checked_at`")),
    security(("session" = [])))]
pub(crate) async fn verification<S: AuditorState>(
    State(state): State<S>,
    auditor: Auditor,
    Extension(cache): Extension<Arc<VerificationCache>>,
) -> Result<Json<Value>, AdminError> {
    log_query(&auditor, "verification", "");
    let mut last = cache.last.lock().await;
    if let Some((at, body)) = last.as_ref()
        && at.elapsed() < VERIFICATION_CACHE
    {
        return Ok(Json(body.clone()));
    }
    let public_key = state.audit_public_key();
    let report = verify_store(state.store(), public_key.as_deref())
        .await
        .map_err(|e| AdminError::Internal(format!("verifying the audit log: {e}")))?;
    let checked_at = crate::audit::now_millis();
    let breaks = report
        .chains
        .iter()
        .filter(|chain| chain.first_break.is_some())
        .count();
    tracing::info!(
        event = "audit_verification_run",
        username = %auditor.0.username,
        ok = report.ok,
        chains = report.chains.len(),
        breaks,
    );
    let body = json!({
        "ok": report.ok,
        "chains": report.chains,
        "checked_at": checked_at,
        "checked_at_time": format_rfc3339(checked_at, VIETNAM_OFFSET_MINUTES),
        "public_key": public_key,
        "cache_seconds": VERIFICATION_CACHE.as_secs(),
    });
    *last = Some((Instant::now(), body.clone()));
    Ok(Json(body))
}

/// The formats of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportFormat {
    /// JSON lines: records then the checkpoints of their span, verifiable offline.
    Jsonl,
    /// RFC 4180 CSV of the records, for spreadsheets.
    Csv,
}

/// `GET /audit/v1/export?format=jsonl|csv&…filters…`: a streamed export.
///
/// Records come in chain order (chain, seq ascending). JSON lines are the
/// audit module's export format, written by its own line writers: each record
/// is `{"type":"record", …every column…}`, and each checkpoint that signs an
/// exported record follows that record as `{"type":"checkpoint", …every
/// column…}` (the placement `lgsp audit verify --file` expects), so an
/// unfiltered export verifies offline. A chain whose oldest records were
/// archived by retention starts with `{"type":"anchor", …}` and the
/// checkpoint signing it, which the first record left links to. CSV carries
/// the records only, with a header row.
#[utoipa::path(get, path = "/audit/v1/export", tag = "audit", params(
        ("from" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD (Vietnam)"),
        ("to" = Option<String>, Query, description = "RFC 3339 time or YYYY-MM-DD (Vietnam)"),
        ("system" = Option<String>, Query), ("agency" = Option<String>, Query),
        ("officer" = Option<String>, Query), ("service" = Option<String>, Query),
        ("purpose" = Option<String>, Query), ("dossier" = Option<String>, Query),
        ("outcome" = Option<String>, Query, description = "allowed, refused or failed"),
        ("subject" = Option<String>, Query, description = "the clear identifier; hashed server-side"),
        ("subject_kind" = Option<String>, Query),
        ("format" = String, Query, description = "jsonl (with checkpoints, verifiable offline) or csv")),
    responses((status = 200, description = "A streamed JSONL or CSV export")),
    security(("session" = [])))]
pub(crate) async fn export<S: AuditorState>(
    State(state): State<S>,
    auditor: Auditor,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AdminError> {
    let mut allowed = FILTER_PARAMS.to_vec();
    allowed.push("format");
    let mut params = Params::read(query, &allowed)?;
    log_query(&auditor, "export", &params.names());
    let format = match params.text("format")?.as_deref() {
        None | Some("jsonl") => ExportFormat::Jsonl,
        Some("csv") => ExportFormat::Csv,
        Some(_) => {
            return Err(AdminError::InvalidRequest(
                "format must be jsonl or csv".into(),
            ));
        }
    };
    let filter = params.filter(&state)?;
    let export = Export {
        store: state.store().clone(),
        filter,
        format,
        after: None,
        stage: ExportStage::Header,
    };
    let stream = futures_util::stream::unfold(export, |mut export| async move {
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), export)),
            Ok(None) => None,
            Err(error) => {
                // The body ends with an error, so the client sees a broken
                // transfer rather than an export that merely looks short.
                tracing::error!(event = "audit_export_failed", error = %error);
                export.stage = ExportStage::Done;
                Some((Err(error), export))
            }
        }
    });
    let (content_type, extension) = match format {
        ExportFormat::Jsonl => ("application/x-ndjson", "jsonl"),
        ExportFormat::Csv => ("text/csv; charset=utf-8; header=present", "csv"),
    };
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!(
        "attachment; filename=\"lgsp-audit-{}.{extension}\"",
        uuid::Uuid::now_v7()
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Where an export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportStage {
    /// Nothing sent yet.
    Header,
    /// Walking the records.
    Records,
    /// Finished.
    Done,
}

/// An export in progress: it holds one page at a time, never the whole export.
struct Export {
    /// The store read page by page.
    store: Store,
    /// Which records.
    filter: AuditFilter,
    /// How they are written.
    format: ExportFormat,
    /// The last record sent.
    after: Option<ChainPosition>,
    /// Where the export is.
    stage: ExportStage,
}

impl Export {
    /// The next chunk of the body, or `None` at the end.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        loop {
            match self.stage {
                ExportStage::Header => {
                    self.stage = ExportStage::Records;
                    if self.format == ExportFormat::Csv {
                        let mut header = AUDIT_RECORD_COLUMNS.join(",");
                        header.push_str("\r\n");
                        return Ok(Some(Bytes::from(header)));
                    }
                }
                ExportStage::Records => {
                    let page = self
                        .store
                        .audit_records_in_chain_order(
                            &self.filter,
                            self.after.as_ref(),
                            EXPORT_PAGE_ROWS,
                        )
                        .await?;
                    if page.len() < EXPORT_PAGE_ROWS as usize {
                        self.stage = ExportStage::Done;
                    }
                    let Some(last) = page.last() else {
                        continue;
                    };
                    self.after = Some(ChainPosition {
                        chain: last.chain.clone(),
                        seq: last.seq,
                    });
                    let chunk = match self.format {
                        ExportFormat::Jsonl => {
                            let checkpoints = self.checkpoints_of(&page).await?;
                            let anchors = self.anchors_of(&page).await?;
                            encode_jsonl(&page, checkpoints, anchors)?
                        }
                        ExportFormat::Csv => encode_csv(&page),
                    };
                    return Ok(Some(chunk));
                }
                ExportStage::Done => return Ok(None),
            }
        }
    }

    /// The checkpoints signing records of `page`, by (chain, seq): one query
    /// per chain in the page, over the page's span of that chain.
    async fn checkpoints_of(
        &self,
        page: &[AuditRecord],
    ) -> Result<BTreeMap<(String, i64), Vec<Checkpoint>>, StoreError> {
        let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for record in page {
            spans
                .entry(record.chain.as_str())
                .and_modify(|span| span.1 = record.seq)
                .or_insert((record.seq, record.seq));
        }
        let mut found: BTreeMap<(String, i64), Vec<Checkpoint>> = BTreeMap::new();
        for (chain, (first, last)) in spans {
            for checkpoint in self
                .store
                .audit_checkpoints_between(chain, first, last)
                .await?
            {
                found
                    .entry((checkpoint.chain.clone(), checkpoint.seq))
                    .or_default()
                    .push(checkpoint);
            }
        }
        Ok(found)
    }

    /// The anchors that records of `page` resume from, by (chain, anchor
    /// seq), each with the checkpoints signing it: one query per chain in
    /// the page, and one more per anchor found (at most one per chain).
    async fn anchors_of(
        &self,
        page: &[AuditRecord],
    ) -> Result<BTreeMap<(String, i64), (Anchor, Vec<Checkpoint>)>, StoreError> {
        let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for record in page {
            spans
                .entry(record.chain.as_str())
                .and_modify(|span| span.1 = record.seq)
                .or_insert((record.seq, record.seq));
        }
        let mut found = BTreeMap::new();
        for (chain, (first, last)) in spans {
            for anchor in self
                .store
                .audit_anchors_between(chain, first - 1, last - 1)
                .await?
            {
                let signing = self
                    .store
                    .audit_checkpoints_between(chain, anchor.seq, anchor.seq)
                    .await?;
                found.insert((anchor.chain.clone(), anchor.seq), (anchor, signing));
            }
        }
        Ok(found)
    }
}

/// One page of records as JSON lines, each followed by the checkpoints that
/// sign it, and the first record after an archived prefix preceded by the
/// anchor it resumes from and the checkpoint signing that anchor.
fn encode_jsonl(
    page: &[AuditRecord],
    mut checkpoints: BTreeMap<(String, i64), Vec<Checkpoint>>,
    mut anchors: BTreeMap<(String, i64), (Anchor, Vec<Checkpoint>)>,
) -> Result<Bytes, StoreError> {
    let mut buffer = Vec::with_capacity(page.len() * 768);
    let encoding_failed = |e: std::io::Error| StoreError::Corrupt {
        what: "exported audit line".into(),
        detail: e.to_string(),
    };
    for record in page {
        if let Some((anchor, signing)) = anchors.remove(&(record.chain.clone(), record.seq - 1)) {
            write_anchor_line(&mut buffer, &anchor).map_err(encoding_failed)?;
            for checkpoint in &signing {
                write_checkpoint_line(&mut buffer, checkpoint).map_err(encoding_failed)?;
            }
        }
        write_record_line(&mut buffer, record).map_err(encoding_failed)?;
        let signing = checkpoints
            .remove(&(record.chain.clone(), record.seq))
            .unwrap_or_default();
        for checkpoint in &signing {
            write_checkpoint_line(&mut buffer, checkpoint).map_err(encoding_failed)?;
        }
    }
    Ok(Bytes::from(buffer))
}

/// One page of records as CSV rows.
fn encode_csv(page: &[AuditRecord]) -> Bytes {
    let mut buffer = Vec::with_capacity(page.len() * 640);
    for record in page {
        for (i, field) in csv_fields(record).iter().enumerate() {
            if i > 0 {
                buffer.push(b',');
            }
            push_csv_field(&mut buffer, field.as_deref());
        }
        buffer.extend_from_slice(b"\r\n");
    }
    Bytes::from(buffer)
}

/// A record's columns as text in the order of [`AUDIT_RECORD_COLUMNS`], `None` for NULL.
pub fn csv_fields(record: &AuditRecord) -> [Option<String>; 32] {
    let text = |s: &String| Some(s.clone());
    let number = |n: i64| Some(n.to_string());
    [
        text(&record.id),
        text(&record.chain),
        number(record.seq),
        number(record.recorded_at),
        text(&record.request_id),
        text(&record.trace_id),
        text(&record.client_ip),
        record.system.clone(),
        record.agency.clone(),
        record.auth_method.clone(),
        record.officer.clone(),
        record.purpose.clone(),
        record.dossier.clone(),
        text(&record.service),
        text(&record.version),
        record.operation.clone(),
        text(&record.method),
        record.subject_kind.clone(),
        record.subject_hash.clone(),
        text(&record.outcome),
        number(record.status),
        record.error_code.clone(),
        record.upstream_status.map(|n| n.to_string()),
        number(record.latency_us),
        number(record.request_bytes),
        number(record.response_bytes),
        text(&record.request_sha256),
        text(&record.response_sha256),
        record.reuse.clone(),
        record.contract_violation.clone(),
        text(&record.prev_hash),
        text(&record.hash),
    ]
}

/// Appends one CSV field (RFC 4180): NULL is an empty field, text is quoted
/// when it holds a comma, a quote, a line break or edge spaces, or is empty,
/// so that an empty text stays distinguishable from NULL.
fn push_csv_field(buffer: &mut Vec<u8>, field: Option<&str>) {
    let Some(text) = field else {
        return;
    };
    let needs_quotes = text.is_empty()
        || text.starts_with(' ')
        || text.ends_with(' ')
        || text.contains([',', '"', '\r', '\n']);
    if !needs_quotes {
        buffer.extend_from_slice(text.as_bytes());
        return;
    }
    buffer.push(b'"');
    for byte in text.bytes() {
        if byte == b'"' {
            buffer.push(b'"');
        }
        buffer.push(byte);
    }
    buffer.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::auth::session_token_hash;
    use crate::registry::model::RegistryData;
    use crate::store::StoreOptions;
    use tower::ServiceExt as _;

    /// A node state over an in-memory store, without a subject key.
    #[derive(Clone)]
    struct TestState(Store);

    impl AdminState for TestState {
        fn store(&self) -> &Store {
            &self.0
        }
    }

    impl AuditorState for TestState {
        fn subject_hash(&self, _kind: &str, _id: &str) -> Option<String> {
            None
        }
    }

    /// Status and JSON body of a GET with the session token `token`.
    async fn get(app: &Router, uri: &str, token: &str) -> (u16, Value) {
        let request = http::Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn auditors_page_through_the_admin_change_log() {
        let store = Store::open("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("open");
        // Each account is a logged change too: two entries, then three agencies.
        for (username, role) in [
            ("thanhtra", Role::Auditor),
            ("quantri", Role::ProvinceAdmin),
        ] {
            store
                .create_account(username, role, None, "$argon2id$not-a-hash", "cli:test")
                .await
                .expect("account");
            store
                .create_session(&session_token_hash(username), username, i64::MAX)
                .await
                .expect("session");
        }
        let data: RegistryData = serde_json::from_value(json!({ "agencies": [
            { "code": "000.00.00.H29", "name": "UBND tỉnh" },
            { "code": "000.00.01.H29", "name": "Sở Tư pháp", "parent": "000.00.00.H29" },
            { "code": "000.00.02.H29", "name": "Sở Y tế", "parent": "000.00.00.H29" }
        ]}))
        .expect("registry");
        store.apply(&data, "admin:quantri").await.expect("apply");
        let app = audit_routes::<TestState>().with_state(TestState(store));

        let (status, page) = get(&app, "/audit/v1/admin-changes?limit=3", "thanhtra").await;
        assert_eq!(status, 200, "{page}");
        let seqs: Vec<i64> = page["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter_map(|change| change["seq"].as_i64())
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(page["changes"][0]["action"], json!("create_account"));
        assert_eq!(page["next_after"], json!(3));

        let (status, page) = get(&app, "/audit/v1/admin-changes?after=3", "thanhtra").await;
        assert_eq!(status, 200, "{page}");
        let last = &page["changes"][1];
        assert_eq!(
            (&last["seq"], &last["actor"], &last["entity"]),
            (
                &json!(5),
                &json!("admin:quantri"),
                &json!("agency 000.00.02.H29")
            )
        );
        assert_eq!(page["next_after"], Value::Null, "the last page");

        for bad in ["after=-1", "after=x", "limit=0", "since=1"] {
            let (status, _) =
                get(&app, &format!("/audit/v1/admin-changes?{bad}"), "thanhtra").await;
            assert_eq!(status, 400, "{bad}");
        }
        let (status, _) = get(&app, "/audit/v1/admin-changes", "quantri").await;
        assert_eq!(
            status, 403,
            "a province admin does not review its own changes"
        );
        let (status, _) = get(&app, "/audit/v1/admin-changes", "nobody").await;
        assert_eq!(status, 401);
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let position = RecordPosition {
            recorded_at: 1_735_689_600_000,
            id: "0194-ab:cd".into(),
        };
        let cursor = record_cursor(&position);
        assert_eq!(
            decode_cursor(&cursor, "r1").ok(),
            Some((position.recorded_at, position.id.clone()))
        );
        let checkpoint = checkpoint_cursor(&ChainPosition {
            chain: "node-1".into(),
            seq: 7,
        });
        assert_eq!(
            decode_cursor(&checkpoint, "c1").ok(),
            Some((7, "node-1".to_string()))
        );
        assert!(decode_cursor(&checkpoint, "r1").is_err());
        for bad in ["", "!!", "cjE6eDp5", &URL_SAFE_NO_PAD.encode("r1:5:")] {
            assert!(decode_cursor(bad, "r1").is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_fields_follow_the_column_order() {
        let record = AuditRecord {
            id: "id".into(),
            chain: "chain".into(),
            seq: 3,
            recorded_at: 4,
            request_id: "request".into(),
            trace_id: "trace".into(),
            client_ip: "10.0.0.1".into(),
            system: Some("system".into()),
            agency: Some("agency".into()),
            auth_method: None,
            officer: Some("officer".into()),
            purpose: Some("purpose".into()),
            dossier: Some("dossier".into()),
            service: "service".into(),
            version: "v1".into(),
            operation: Some("/op".into()),
            method: "GET".into(),
            subject_kind: Some("personal_id".into()),
            subject_hash: Some("ab".into()),
            outcome: "allowed".into(),
            status: 200,
            error_code: None,
            upstream_status: Some(201),
            latency_us: 5,
            request_bytes: 6,
            response_bytes: 7,
            request_sha256: "rq".into(),
            response_sha256: "rs".into(),
            reuse: Some("miss".into()),
            contract_violation: Some("contract citizen: /hoTen (type)".into()),
            prev_hash: "prev".into(),
            hash: "hash".into(),
        };
        let json = serde_json::to_value(&record).expect("serialize");
        let fields = csv_fields(&record);
        for (column, field) in AUDIT_RECORD_COLUMNS.iter().zip(fields) {
            let expected = match &json[*column] {
                Value::Null => None,
                Value::String(text) => Some(text.clone()),
                other => Some(other.to_string()),
            };
            assert_eq!(field, expected, "{column}");
        }
        assert_eq!(
            json.as_object().map(|o| o.len()),
            Some(AUDIT_RECORD_COLUMNS.len())
        );
    }

    #[test]
    fn csv_fields_follow_rfc4180() {
        let mut buffer = Vec::new();
        for (i, field) in [
            None,
            Some(""),
            Some("plain"),
            Some("a,b"),
            Some("say \"hi\""),
            Some("two\r\nlines"),
            Some(" edge"),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                buffer.push(b',');
            }
            push_csv_field(&mut buffer, field);
        }
        assert_eq!(
            String::from_utf8(buffer).expect("utf-8"),
            ",\"\",plain,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",\" edge\""
        );
    }

    #[test]
    fn report_sentences_are_vietnamese_and_complete() {
        let access = SubjectAccessRow {
            id: "id".into(),
            recorded_at: 1_735_689_600_000,
            system: Some("motcua-xa-a".into()),
            agency: Some("000.00.00.H29".into()),
            agency_name: Some("UBND xã A".into()),
            officer: Some("nva".into()),
            service: "population".into(),
            version: "v1".into(),
            operation: None,
            method: "GET".into(),
            purpose: Some("1.001612".into()),
            dossier: Some("H29.1".into()),
            outcome: "allowed".into(),
            status: 200,
            error_code: None,
        };
        assert_eq!(
            describe_in_vietnamese(&access),
            "Lúc 07:00:00 ngày 01/01/2025 (giờ Việt Nam), hệ thống motcua-xa-a (UBND xã A), \
             cán bộ nva, đã truy cập dịch vụ population phiên bản v1, mục đích: 1.001612, \
             hồ sơ: H29.1. Kết quả: được phép."
        );
        let anonymous = SubjectAccessRow {
            system: None,
            agency: None,
            agency_name: None,
            officer: None,
            purpose: None,
            dossier: None,
            outcome: "refused".into(),
            ..access
        };
        let sentence = describe_in_vietnamese(&anonymous);
        assert!(
            sentence.contains("một bên chưa xác thực đã truy cập"),
            "{sentence}"
        );
        assert!(sentence.contains("không nêu mục đích"), "{sentence}");
        assert!(sentence.ends_with("Kết quả: bị từ chối."), "{sentence}");
    }
}
