//! The judicial-record database (Cơ sở dữ liệu lý lịch tư pháp): requests
//! for a criminal-record certificate (Phiếu lý lịch tư pháp) and their
//! status, reached only through NDXP.
//!
//! A request is checked against the `criminal-record-request` contract and
//! the person it names against the population dataset; a mismatch is
//! refused (`tuChoi`) as the real service refuses it. A request the
//! dataset confirms is received (`tiepNhan`), is in progress at the first
//! status lookup (`dangXuLy`) and has its certificate ready
//! (`daCoKetQua`) from the second on, so a test sees the whole life of a
//! request in three calls. The request is known by its dossier number
//! (`maHoSo`), which is the `maYeuCau` of the status route.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lgsp_contracts::{Contract, ContractName};
use serde_json::{Value, json};

use super::Simulator;
use super::calendar::Day;
use super::replies;
use crate::rest::lock;

/// Most requests remembered; beyond it new requests are refused, not old ones forgotten.
const MAX_REQUESTS: usize = 10_000;

/// The Ministry of Justice, which handles the requests.
const MINISTRY_OF_JUSTICE: &str = "000.00.00.G12";

/// Working days the law allows for a certificate (Luật Lý lịch tư pháp, art. 48), as calendar days.
const DAYS_TO_ISSUE: i64 = 10;

/// Why a request whose person does not match the dataset is refused.
const MISMATCH: &str = "Thông tin nhân thân không khớp với Cơ sở dữ liệu quốc gia về dân cư";

/// One request as the service keeps it.
#[derive(Debug, Clone)]
struct Filed {
    /// Day the request was received.
    received: Day,
    /// Why it was refused, if it was.
    refusal: Option<&'static str>,
    /// Status lookups so far; moves the request along.
    lookups: u32,
    /// Serial of the certificate, once one is issued.
    serial: u64,
}

/// The requests received so far, by dossier number.
#[derive(Debug, Default)]
pub(crate) struct CriminalRecords {
    filed: Mutex<HashMap<String, Filed>>,
}

/// Today and now, as the service stamps its answers (Vietnam time, UTC+7).
fn now() -> (Day, String) {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .saturating_add(7 * 3600);
    let days = i64::try_from(seconds / 86_400).unwrap_or_default();
    let day = Day::from_ymd(1970, 1, 1).plus_days(days);
    let of_day = seconds % 86_400;
    let stamp = format!(
        "{}T{:02}:{:02}:{:02}+07:00",
        day.iso(),
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    (day, stamp)
}

/// The status answer of a request.
fn status(ma_ho_so: &str, filed: &Filed) -> Value {
    let (_, stamp) = now();
    let mut answer = json!({
        "maHoSo": ma_ho_so,
        "thoiDiemCapNhat": stamp,
        "coQuanXuLy": { "maDinhDanh": MINISTRY_OF_JUSTICE, "ten": "Bộ Tư pháp" },
        "ngayTiepNhan": filed.received.iso(),
    });
    let fields = match (filed.refusal, filed.lookups) {
        (Some(reason), _) => json!({ "trangThai": "tuChoi", "lyDo": reason }),
        (None, 0) => json!({
            "trangThai": "tiepNhan",
            "ngayHenTra": filed.received.plus_days(DAYS_TO_ISSUE).iso(),
        }),
        (None, 1) => json!({
            "trangThai": "dangXuLy",
            "ngayHenTra": filed.received.plus_days(DAYS_TO_ISSUE).iso(),
        }),
        (None, _) => json!({
            "trangThai": "daCoKetQua",
            "ngayHenTra": filed.received.plus_days(DAYS_TO_ISSUE).iso(),
            "soPhieu": format!("{}/{}/LLTP", filed.serial, filed.received.year()),
            "ngayCapPhieu": filed.received.plus_days(DAYS_TO_ISSUE - 1).iso(),
        }),
    };
    if let (Value::Object(answer), Value::Object(fields)) = (&mut answer, fields) {
        answer.extend(fields);
    }
    answer
}

/// Whether the person named on a request is the dataset's citizen.
fn matches_dataset(simulator: &Simulator, person: &Value) -> bool {
    let id = person["soDinhDanh"].as_str().unwrap_or_default();
    simulator.dataset.citizen(id).is_some_and(|record| {
        let citizen = &record.citizen;
        person["hoTen"].as_str() == Some(citizen.ho_ten.as_str())
            && person["ngaySinh"].as_str() == Some(citizen.ngay_sinh.as_str())
    })
}

/// `POST /ndxp/v1/criminal-record/requests`: files a request, answering its status.
///
/// Filing the same dossier again answers the status it has, so a retried
/// request is not filed twice.
pub(crate) async fn submit(State(simulator): State<Simulator>, body: Bytes) -> Response {
    let contract = match Contract::get(ContractName::CriminalRecordRequest) {
        Ok(contract) => contract,
        Err(_) => {
            return replies::lgsp_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                "Không nạp được lược đồ dữ liệu",
            );
        }
    };
    let request = match contract.check_request(&body) {
        Ok(request) => request,
        Err(invalid) => {
            return replies::data_incorrect(&format!(
                "Yêu cầu không đúng cấu trúc tại `{}`",
                invalid.pointer()
            ));
        }
    };
    let ma_ho_so = request["maHoSo"].as_str().unwrap_or_default().to_owned();
    let refusal = (!matches_dataset(&simulator, &request["nguoiYeuCau"])).then_some(MISMATCH);
    let records = &simulator.criminal_records;
    let mut filed = lock(&records.filed);
    if let Some(existing) = filed.get(&ma_ho_so) {
        return replies::json(StatusCode::OK, &status(&ma_ho_so, existing));
    }
    if filed.len() >= MAX_REQUESTS {
        return replies::lgsp_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SYSTEM_BUSY",
            "Hệ thống đang quá tải, vui lòng thử lại sau",
        );
    }
    let entry = Filed {
        received: now().0,
        refusal,
        lookups: 0,
        serial: u64::try_from(filed.len()).unwrap_or_default() + 1,
    };
    let answer = status(&ma_ho_so, &entry);
    filed.insert(ma_ho_so, entry);
    replies::json(StatusCode::OK, &answer)
}

/// `GET /ndxp/v1/criminal-record/requests/{maYeuCau}`: where a request stands.
pub(crate) async fn lookup(
    State(simulator): State<Simulator>,
    ma_yeu_cau: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(ma_yeu_cau)) = ma_yeu_cau else {
        return replies::data_incorrect("Mã yêu cầu không hợp lệ");
    };
    let mut filed = lock(&simulator.criminal_records.filed);
    let Some(entry) = filed.get_mut(&ma_yeu_cau) else {
        return replies::record_not_found();
    };
    entry.lookups = entry.lookups.saturating_add(1);
    replies::json(StatusCode::OK, &status(&ma_yeu_cau, entry))
}
