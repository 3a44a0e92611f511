//! The business registration lookup served as SOAP 1.1, as some ministries
//! still expose their services: `POST` an envelope with a `SOAPAction`, get
//! the enterprise back in an envelope, or a fault. It answers from the same
//! dataset as the JSON lookup, through the `enterprise-lookup` mapping of
//! `contracts/soap/`, read by the same codec the adapters use.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use lgsp_contracts::EnterpriseCode;

use super::Simulator;
use super::replies::{self, DATA_INCORRECT, RECORD_NOT_FOUND};
use crate::soap::{Binding, CodecError, Mapping, MappingError, XmlLimits};

/// The mapping the route speaks.
const MAPPING: &str = "enterprise-lookup";
/// Largest request envelope read.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Bounds on a request envelope: a lookup is a handful of elements.
const LIMITS: XmlLimits = XmlLimits {
    max_bytes: MAX_REQUEST_BYTES,
    max_depth: 16,
    max_elements: 256,
};

/// The mapping, read once.
fn mapping() -> Result<&'static Mapping, &'static MappingError> {
    static LOADED: OnceLock<Result<Mapping, MappingError>> = OnceLock::new();
    LOADED.get_or_init(|| Mapping::builtin(MAPPING)).as_ref()
}

/// A fault for the caller's mistake: SOAP 1.1 answers every fault with 500.
fn client_fault(reason: &str, lgsp_code: &str) -> Response {
    replies::soap_fault(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Client",
        reason,
        lgsp_code,
    )
}

/// `POST /enterprise/v1/soap`.
pub(crate) async fn lookup(
    State(simulator): State<Simulator>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(mapping) = mapping() else {
        return replies::soap_fault(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server",
            "Không đọc được ánh xạ SOAP của dịch vụ",
            "SYSTEM_ERROR",
        );
    };
    let Binding::Soap { action, .. } = &mapping.binding else {
        return replies::soap_fault(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server",
            "Ánh xạ của dịch vụ không phải SOAP",
            "SYSTEM_ERROR",
        );
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("text/xml") {
        return replies::soap_fault(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Client",
            "Dịch vụ SOAP 1.1 cần Content-Type text/xml",
            DATA_INCORRECT,
        );
    }
    let requested = headers
        .get("soapaction")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().trim_matches('"'));
    if requested != Some(action.as_str()) {
        return client_fault(
            "SOAPAction không khớp với thao tác của dịch vụ",
            DATA_INCORRECT,
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return client_fault("Yêu cầu quá lớn hoặc không đọc được", DATA_INCORRECT);
    };
    let request = match mapping.decode_request(&bytes, &LIMITS) {
        Ok(request) => request,
        Err(CodecError::VersionMismatch { .. }) => {
            return replies::soap_fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                "VersionMismatch",
                "Dịch vụ chỉ nhận phong bì SOAP 1.1",
                DATA_INCORRECT,
            );
        }
        Err(error) => return client_fault(&error.to_string(), DATA_INCORRECT),
    };
    let code = request["maDoanhNghiep"].as_str().unwrap_or_default();
    if EnterpriseCode::parse(code).is_err() {
        return client_fault(
            "Mã số doanh nghiệp không hợp lệ: cần 10 chữ số",
            DATA_INCORRECT,
        );
    }
    let Some(enterprise) = simulator.dataset.enterprise(code) else {
        return client_fault("Không tìm thấy dữ liệu", RECORD_NOT_FOUND);
    };
    let answer = serde_json::to_value(enterprise)
        .map_err(|e| CodecError::Write(e.to_string()))
        .and_then(|json| mapping.encode_response(&json));
    match answer {
        Ok(message) => replies::soap_bytes(StatusCode::OK, message.body),
        Err(_) => replies::soap_fault(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Server",
            "Không tạo được phong bì SOAP",
            "SYSTEM_ERROR",
        ),
    }
}
