//! The business registration database (Cơ sở dữ liệu quốc gia về đăng ký
//! doanh nghiệp): an enterprise by code.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lgsp_contracts::EnterpriseCode;

use super::Simulator;
use super::replies;

/// `GET /enterprise/v1/enterprises/{maDoanhNghiep}`.
pub(crate) async fn enterprise(
    State(simulator): State<Simulator>,
    ma_doanh_nghiep: Result<Path<String>, PathRejection>,
) -> Response {
    let code = match ma_doanh_nghiep {
        Ok(Path(code)) if EnterpriseCode::parse(&code).is_ok() => code,
        _ => return replies::data_incorrect("Mã số doanh nghiệp không hợp lệ: cần 10 chữ số"),
    };
    match simulator.dataset.enterprise(&code) {
        Some(enterprise) => replies::json(StatusCode::OK, enterprise),
        None => replies::record_not_found(),
    }
}
