//! The control plane under `/__sim`: set, show and clear faults, read and
//! reset hit counts. Its own requests are neither counted nor faulted.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use super::Simulator;
use super::faults::{FaultSettings, RouteKey};
use super::replies;

/// The faults of every route family, keyed by name.
fn all_faults(simulator: &Simulator) -> Response {
    let mut shown = Map::new();
    for key in RouteKey::ALL {
        let settings = simulator.faults.settings(key);
        shown.insert(
            key.name().to_owned(),
            serde_json::to_value(settings).unwrap_or(Value::Null),
        );
    }
    replies::json(StatusCode::OK, &shown)
}

/// The hit count of every route family, keyed by name.
fn all_stats(simulator: &Simulator) -> Response {
    let mut shown = Map::new();
    for key in RouteKey::ALL {
        shown.insert(
            key.name().to_owned(),
            Value::from(simulator.faults.hits(key)),
        );
    }
    replies::json(StatusCode::OK, &shown)
}

/// `PUT /__sim/faults/{route}`: replaces the faults of one route family and
/// answers the settings now in force.
pub(crate) async fn put_faults(
    State(simulator): State<Simulator>,
    route: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let Some(key) = route.ok().and_then(|Path(name)| RouteKey::parse(&name)) else {
        return replies::lgsp_error(
            StatusCode::NOT_FOUND,
            replies::RECORD_NOT_FOUND,
            "Không có tuyến này; dùng population, civil_status, enterprise, social_insurance, echo, fixed, enterprise_soap, land, ndxp_token, ndxp, ndop hoặc vapex",
        );
    };
    let settings = if body.is_empty() {
        FaultSettings::default()
    } else {
        // Serde would also read a struct from a JSON array; only objects are meant.
        let parsed = match serde_json::from_slice::<Value>(&body) {
            Ok(object @ Value::Object(_)) => serde_json::from_value::<FaultSettings>(object),
            _ => return replies::data_incorrect("Cấu hình lỗi giả lập phải là một đối tượng JSON"),
        };
        match parsed {
            Ok(settings) => settings,
            Err(_) => return replies::data_incorrect("Cấu hình lỗi giả lập không hợp lệ"),
        }
    };
    if let Err(reason) = settings.validate() {
        return replies::data_incorrect(reason);
    }
    simulator.faults.set(key, settings);
    replies::json(StatusCode::OK, &simulator.faults.settings(key))
}

/// `GET /__sim/faults`.
pub(crate) async fn get_faults(State(simulator): State<Simulator>) -> Response {
    all_faults(&simulator)
}

/// `DELETE /__sim/faults`: clears every fault and shows the cleared settings.
pub(crate) async fn clear_faults(State(simulator): State<Simulator>) -> Response {
    simulator.faults.clear();
    all_faults(&simulator)
}

/// `GET /__sim/stats`.
pub(crate) async fn get_stats(State(simulator): State<Simulator>) -> Response {
    all_stats(&simulator)
}

/// `DELETE /__sim/stats`: sets the counts back to zero and shows them.
pub(crate) async fn reset_stats(State(simulator): State<Simulator>) -> Response {
    simulator.faults.reset_hits();
    all_stats(&simulator)
}
