//! The reuse service (`/api/reuse/v1`), served by the gateway from its reuse
//! store behind the same stages as any service: a registered service with
//! `adapter = { kind = "reuse" }`, subscriptions, purposes, limits, audit.
//!
//! | operation | what |
//! |---|---|
//! | `GET /subjects/{soDinhDanh}/items` | what the state holds about a citizen: data types, sources, freshness (no content) |
//! | `GET /subjects/{soDinhDanh}/items/{loaiDuLieu}` | one fresh item, minimized for the purpose |
//! | `POST /subjects/{soDinhDanh}/results` | write back a procedure result (`procedure-result` contract); signed receipt |
//! | `DELETE /subjects/{soDinhDanh}/items/{loaiDuLieu}` | the source's owner marks its items superseded |
//! | `POST /dossiers/{maHoSo}/asked` | one-stop software reports items it still had to ask the citizen for |
//!
//! The same paths under `/enterprises/{maDoanhNghiep}` serve enterprises.
//!
//! Reading an item needs the same rights as calling its source: a national
//! lookup kept by the reuse stage is readable by a system subscribed to that
//! source service for the stated purpose, and is minimized by that
//! service's field rules. A written-back result is readable by any system
//! subscribed to the reuse service for the stated purpose. Writing back and
//! invalidating need `write_back = true` on the reuse subscription.

use super::unix_ms;
use super::{AskedItems, ItemMeta, NewItem, ReuseStore};
use crate::admin::timestamps::local_day_start;
use crate::audit::checkpoint::AuditSigner;
use crate::audit::record::Subject;
use crate::metrics::Metrics;
use crate::pipeline::authenticate::Caller;
use crate::pipeline::authorize::{Purpose, authorize};
use crate::pipeline::reuse::{RETAIN_AFTER_STALE, mark, rfc3339, source_of};
use crate::pipeline::route::Routed;
use crate::problem::GatewayError;
use crate::registry::model::SubscriptionState;
use crate::registry::snapshot::{Lookup, Snapshot};
use crate::store::kpi::WriteBackRow;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use lgsp_adapters::adapter::read_request_body;
use lgsp_contracts::{Contract, ErrorCode};
use lgsp_policies::FieldFilter;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// Where written-back results come from, in listings and `X-LGSP-Source`.
pub const WRITE_BACK_SOURCE: &str = "write-back";
/// How long a written-back result stays fresh: results do not go stale by
/// themselves; the issuing agency supersedes them.
const RESULT_FRESH_FOR: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Largest write-back or report body.
const MAX_BODY_BYTES: u64 = 256 * 1024;

/// Everything one reuse-service call needs from the earlier stages.
pub struct ServiceCall<'a> {
    /// The snapshot the call was routed on.
    pub snapshot: &'a Snapshot,
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// The stated purpose, officer and dossier.
    pub purpose: &'a Purpose,
    /// The matched route and operation.
    pub routed: &'a Routed,
    /// The data subject of the path, keyed-hashed.
    pub subject: Option<&'a Subject>,
    /// The request method.
    pub method: Method,
    /// Where asked-for items are counted for the KPI metrics.
    pub metrics: &'a Metrics,
}

/// What one reuse-service call returns: the answer and, for a fetch, the
/// field rules of the item's source (minimization follows).
pub struct Served {
    /// The answer.
    pub response: Response,
    /// The fields the purpose may see.
    pub fields: FieldFilter,
    /// `hit` when an item's content was served from the store.
    pub reuse: Option<&'static str>,
}

/// Serves one call of the reuse service.
pub async fn serve(
    store: &ReuseStore,
    signer: &AuditSigner,
    call: ServiceCall<'_>,
    body: Body,
) -> Result<Served, GatewayError> {
    let operation = call.routed.operation.as_deref().unwrap_or_default();
    let tail = operation
        .split_once("}/")
        .map(|(_, tail)| tail)
        .unwrap_or(operation);
    match (&call.method, tail) {
        (&Method::GET, "items") => list(store, &call).await,
        (&Method::GET, "items/{loaiDuLieu}") => fetch(store, &call).await,
        (&Method::DELETE, "items/{loaiDuLieu}") => invalidate(store, &call).await,
        (&Method::POST, "results") => write_back(store, signer, &call, body).await,
        (&Method::POST, "asked") => asked(store, &call, body).await,
        _ => Err(GatewayError::ServiceNotFound(format!(
            "the reuse service has no operation {} {operation}",
            call.method
        ))),
    }
}

fn subject<'a>(call: &'a ServiceCall<'_>) -> Result<&'a Subject, GatewayError> {
    call.subject.ok_or_else(|| {
        GatewayError::InvalidRequest("the path names no citizen or enterprise".into())
    })
}

fn param<'a>(call: &'a ServiceCall<'_>, name: &str) -> Result<&'a str, GatewayError> {
    call.routed
        .params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| GatewayError::InvalidRequest(format!("the path names no {name}")))
}

fn store_error(e: super::ReuseError) -> GatewayError {
    GatewayError::Internal(format!("reuse store: {e}"))
}

/// The field rules under which the caller may read `meta`, or why not.
fn readable(call: &ServiceCall<'_>, meta: &ItemMeta) -> Result<FieldFilter, GatewayError> {
    if meta.source == WRITE_BACK_SOURCE {
        return match &meta.allowed_purposes {
            Some(allowed)
                if !call
                    .purpose
                    .code
                    .as_ref()
                    .is_some_and(|p| allowed.contains(p)) =>
            {
                Err(GatewayError::Denied {
                    code: ErrorCode::PurposeNotAllowed,
                    detail: "the purpose stated is not one this result was shared for".into(),
                })
            }
            // The reuse subscription's purposes were checked by the authorize stage.
            _ => Ok(FieldFilter::All),
        };
    }
    // A national lookup: the same decision as a call to its source.
    let (slug, version) = meta.source.split_once('/').unwrap_or((&meta.source, "v1"));
    let Lookup::Found(route) = call.snapshot.lookup(slug, version) else {
        return Err(GatewayError::Denied {
            code: ErrorCode::SubscriptionRequired,
            detail: format!(
                "the source {} of this item is no longer registered",
                meta.source
            ),
        });
    };
    let source = Routed {
        route: route.clone(),
        rest: String::new(),
        query: None,
        operation: None,
        params: Vec::new(),
        lane: crate::pipeline::route::Lane::Production,
    };
    authorize(
        &call.snapshot.policy,
        &call.snapshot.consumers,
        call.caller,
        &source,
        call.purpose,
    )
}

fn listing(meta: &ItemMeta, now: SystemTime) -> Value {
    json!({
        "loaiDuLieu": meta.data_type,
        "nguon": meta.source,
        "coQuanCungCap": meta.source_agency,
        "thoiDiemLay": rfc3339(meta.fetched_at),
        "hieuLucDen": rfc3339(meta.valid_until),
        "conHieuLuc": meta.is_fresh(now),
        "maBam": meta.content_sha256,
        "maHoSo": meta.dossier,
        "maThuTucHanhChinh": meta.procedure_code,
    })
}

/// A JSON answer with `status`.
pub(crate) fn json_answer(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn list(store: &ReuseStore, call: &ServiceCall<'_>) -> Result<Served, GatewayError> {
    let now = SystemTime::now();
    let items = store.list(subject(call)?, now).await.map_err(store_error)?;
    // Only what the caller could fetch is listed: the listing itself says
    // which agencies hold data about the person.
    let visible: Vec<Value> = items
        .iter()
        .filter(|meta| readable(call, meta).is_ok())
        .map(|meta| listing(meta, now))
        .collect();
    Ok(Served {
        response: json_answer(StatusCode::OK, &json!({ "duLieu": visible })),
        fields: FieldFilter::All,
        reuse: None,
    })
}

async fn fetch(store: &ReuseStore, call: &ServiceCall<'_>) -> Result<Served, GatewayError> {
    let data_type = param(call, "loaiDuLieu")?;
    let now = SystemTime::now();
    let item = store
        .fresh(subject(call)?, data_type, now)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            GatewayError::DataNotFound(format!(
                "no fresh item of type {data_type} is held about this subject; ask its source"
            ))
        })?;
    let fields = readable(call, &item.meta)?;
    let mut response = json_answer(StatusCode::OK, &item.content);
    mark(&mut response, "hit", &source_of(&item.meta));
    Ok(Served {
        response,
        fields,
        reuse: Some("hit"),
    })
}

/// The caller's reuse subscription grants writing.
fn may_write(call: &ServiceCall<'_>) -> Result<(), GatewayError> {
    let subscription = call
        .snapshot
        .consumers
        .subscription(call.caller.slug(), call.routed.route.service.slug.as_str());
    match subscription {
        Some(s) if s.state == SubscriptionState::Approved && s.write_back => Ok(()),
        _ => Err(GatewayError::Denied {
            code: ErrorCode::SubscriptionRequired,
            detail: "the system's subscription to the reuse service does not grant write-back"
                .into(),
        }),
    }
}

async fn invalidate(store: &ReuseStore, call: &ServiceCall<'_>) -> Result<Served, GatewayError> {
    may_write(call)?;
    let data_type = param(call, "loaiDuLieu")?;
    let subject = subject(call)?;
    let now = SystemTime::now();
    let current = store
        .get(subject, data_type, now)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            GatewayError::DataNotFound(format!("no item of type {data_type} is held"))
        })?;
    let agency = call.caller.system.system.agency.as_str();
    if current.meta.source_agency != agency {
        return Err(GatewayError::Forbidden(format!(
            "only the agency that provided it ({}) may mark this item superseded",
            current.meta.source_agency
        )));
    }
    let superseded = store
        .supersede(subject, data_type)
        .await
        .map_err(store_error)?;
    Ok(Served {
        response: json_answer(
            StatusCode::OK,
            &json!({ "loaiDuLieu": data_type, "soMucThayThe": superseded }),
        ),
        fields: FieldFilter::All,
        reuse: None,
    })
}

async fn write_back(
    store: &ReuseStore,
    signer: &AuditSigner,
    call: &ServiceCall<'_>,
    body: Body,
) -> Result<Served, GatewayError> {
    may_write(call)?;
    let subject = subject(call)?.clone();
    let bytes = read_request_body(body, MAX_BODY_BYTES).await?;
    let contract =
        Contract::by_name("procedure-result").map_err(|e| GatewayError::Internal(e.to_string()))?;
    let content = contract.check_request(&bytes)?;
    let procedure = content["maThuTucHanhChinh"].as_str().unwrap_or_default();
    let dossier = content["maHoSo"].as_str().map(str::to_string);
    let received_at = SystemTime::now();
    let data_type = format!("ket-qua-{procedure}");
    let item = NewItem {
        subject,
        data_type: data_type.clone(),
        source: WRITE_BACK_SOURCE.to_string(),
        source_agency: call.caller.system.system.agency.to_string(),
        fetched_at: received_at,
        valid_for: RESULT_FRESH_FOR,
        retain_for: RESULT_FRESH_FOR + RETAIN_AFTER_STALE,
        dossier,
        procedure_code: Some(procedure.to_string()),
        allowed_purposes: None,
        receipt_signature: None,
        content,
    };
    let meta = store.remember(&item).await.map_err(store_error)?;
    let received_ms = unix_ms(received_at);
    if let Some(issued_at) = item.content["ngayCap"].as_str().and_then(local_day_start) {
        let noted = store
            .store()
            .kpi_record_write_back(&WriteBackRow {
                id: meta.id.clone(),
                received_at: received_ms,
                agency: item.source_agency.clone(),
                service: call.routed.route.service.slug.to_string(),
                issued_at,
            })
            .await;
        if let Err(e) = noted {
            tracing::warn!(event = "write_back_kpi_failed", error = %e);
        }
    }
    let signature = signer
        .sign_receipt(&meta.id, &meta.content_sha256, received_ms)
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    let receipt = json!({
        "id": meta.id,
        "loaiDuLieu": data_type,
        "thoiDiemNhan": rfc3339(received_at),
        "thoiDiemNhanMs": received_ms,
        "maBam": meta.content_sha256,
        "chuKy": signature,
        "khoaKy": signer.key_id(),
        "thuatToan": "Ed25519",
    });
    Ok(Served {
        response: json_answer(StatusCode::CREATED, &receipt),
        fields: FieldFilter::All,
        reuse: None,
    })
}

/// The body of `POST /dossiers/{maHoSo}/asked`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AskedReport {
    /// How many data items the desk still had to ask the citizen for.
    so_muc: u32,
    /// Which kinds, for the record.
    #[serde(default)]
    loai_du_lieu: Vec<String>,
}

async fn asked(
    store: &ReuseStore,
    call: &ServiceCall<'_>,
    body: Body,
) -> Result<Served, GatewayError> {
    let dossier = param(call, "maHoSo")?.to_string();
    let bytes = read_request_body(body, MAX_BODY_BYTES).await?;
    let report: AskedReport =
        serde_json::from_slice(&bytes).map_err(|e| GatewayError::InvalidMember {
            pointer: String::new(),
            reason: format!("must be {{\"soMuc\": n, \"loaiDuLieu\": [..]}}: {e}"),
        })?;
    if report.so_muc > 1000 || report.loai_du_lieu.len() > 100 {
        return Err(GatewayError::InvalidMember {
            pointer: "/soMuc".into(),
            reason: "at most 1000 items per report".into(),
        });
    }
    store
        .record_asked(&AskedItems {
            recorded_at: SystemTime::now(),
            agency: Some(call.caller.system.system.agency.to_string()),
            system: Some(call.caller.slug().to_string()),
            dossier: dossier.clone(),
            service: None,
            items: report.so_muc,
            data_types: report.loai_du_lieu,
        })
        .await
        .map_err(store_error)?;
    call.metrics.dossier_items_asked(
        call.caller.system.system.agency.as_str(),
        u64::from(report.so_muc),
    );
    Ok(Served {
        response: json_answer(
            StatusCode::CREATED,
            &json!({ "maHoSo": dossier, "soMuc": report.so_muc }),
        ),
        fields: FieldFilter::All,
        reuse: None,
    })
}
