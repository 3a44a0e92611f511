//! JSON answers in the shape of the real LGSP services: UTF-8 JSON with an
//! explicit charset, and errors as `{"maLoi", "moTa"}` with the LGSP codes;
//! and the SOAP 1.1 answers of the SOAP routes, whose errors are faults with
//! the LGSP code in the detail.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;

use crate::soap::{SoapFault, SoapVersion};

/// The content type of every JSON answer; the charset is explicit because
/// some provincial clients default to Latin-1 without it.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The LGSP code of a malformed request.
pub(crate) const DATA_INCORRECT: &str = "DATA_INCORRECT";
/// The LGSP code of a lookup without a match.
pub(crate) const RECORD_NOT_FOUND: &str = "RECORD_NOT_FOUND";

/// An LGSP error body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct LgspError<'a> {
    ma_loi: &'a str,
    mo_ta: &'a str,
}

/// A response with a body already encoded.
fn encoded(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A response with a JSON body already encoded.
pub(crate) fn json_bytes(status: StatusCode, body: impl Into<Bytes>) -> Response {
    encoded(status, JSON_CONTENT_TYPE, body.into())
}

/// A response with `value` encoded as JSON.
pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, body),
        // Only maps with non-string keys fail to encode, and none are built
        // here; answer as a broken upstream would rather than panic.
        Err(_) => json_bytes(
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from_static(
                r#"{"maLoi":"INTERNAL_ERROR","moTa":"Lỗi mã hóa dữ liệu"}"#.as_bytes(),
            ),
        ),
    }
}

/// An LGSP error answer.
pub(crate) fn lgsp_error(status: StatusCode, ma_loi: &str, mo_ta: &str) -> Response {
    json(status, &LgspError { ma_loi, mo_ta })
}

/// 400 `DATA_INCORRECT` with a reason.
pub(crate) fn data_incorrect(mo_ta: &str) -> Response {
    lgsp_error(StatusCode::BAD_REQUEST, DATA_INCORRECT, mo_ta)
}

/// 404 `RECORD_NOT_FOUND`.
pub(crate) fn record_not_found() -> Response {
    lgsp_error(
        StatusCode::NOT_FOUND,
        RECORD_NOT_FOUND,
        "Không tìm thấy dữ liệu",
    )
}

/// The content type of SOAP 1.1 answers.
pub(crate) const SOAP_CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A SOAP 1.1 answer already encoded.
pub(crate) fn soap_bytes(status: StatusCode, body: impl Into<Bytes>) -> Response {
    encoded(status, SOAP_CONTENT_TYPE, body.into())
}

/// A SOAP 1.1 fault: `code` is `Client` for the caller's mistakes and
/// `Server` for the service's, and the detail carries the LGSP error code.
pub(crate) fn soap_fault(
    status: StatusCode,
    code: &str,
    reason: &str,
    lgsp_code: &str,
) -> Response {
    let fault = SoapFault {
        code: code.to_owned(),
        subcode: None,
        reason: reason.to_owned(),
        detail: Some(lgsp_code.to_owned()),
    };
    match fault.encode(SoapVersion::V1_1) {
        Ok(message) => soap_bytes(status, message.body),
        // Encoding a fault of plain text cannot fail; answer as a broken
        // upstream would rather than panic.
        Err(_) => soap_bytes(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new()),
    }
}

/// 400 for a path parameter that is not a valid personal ID.
pub(crate) fn bad_personal_id() -> Response {
    data_incorrect("Số định danh cá nhân không hợp lệ: cần 12 chữ số, bắt đầu bằng mã tỉnh")
}
