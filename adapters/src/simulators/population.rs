//! The population database (Cơ sở dữ liệu quốc gia về dân cư): a citizen by
//! personal ID.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lgsp_contracts::PersonalId;

use super::Simulator;
use super::replies;

/// `GET /population/v1/citizens/{soDinhDanh}`: the citizen, without the
/// social-insurance fields that belong to another database.
pub(crate) async fn citizen(
    State(simulator): State<Simulator>,
    so_dinh_danh: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(so_dinh_danh)) = so_dinh_danh else {
        return replies::bad_personal_id();
    };
    if PersonalId::parse(&so_dinh_danh).is_err() {
        return replies::bad_personal_id();
    }
    match simulator.dataset.citizen(&so_dinh_danh) {
        Some(record) => replies::json(StatusCode::OK, &record.citizen),
        None => replies::record_not_found(),
    }
}
