//! The social-insurance database (Cơ sở dữ liệu quốc gia về bảo hiểm): the
//! household of a citizen, with each member's insurance number.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lgsp_contracts::PersonalId;
use serde::Serialize;

use super::Simulator;
use super::replies;

/// The head of a household.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HeadOfHousehold<'a> {
    ho_ten: &'a str,
    so_dinh_danh: &'a str,
}

/// A member of a household.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Member<'a> {
    ho_ten: &'a str,
    so_dinh_danh: &'a str,
    ma_so_bhxh: &'a str,
    quan_he_voi_chu_ho: &'a str,
    ngay_sinh: &'a str,
}

/// A household as the social-insurance service answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HouseholdAnswer<'a> {
    ma_ho_gia_dinh: &'a str,
    chu_ho: HeadOfHousehold<'a>,
    dia_chi: &'a str,
    thanh_vien: Vec<Member<'a>>,
}

/// `GET /social-insurance/v1/households/{soDinhDanh}`.
pub(crate) async fn household(
    State(simulator): State<Simulator>,
    so_dinh_danh: Result<Path<String>, PathRejection>,
) -> Response {
    let so_dinh_danh = match so_dinh_danh {
        Ok(Path(id)) if PersonalId::parse(&id).is_ok() => id,
        _ => return replies::bad_personal_id(),
    };
    let dataset = &simulator.dataset;
    let Some(household) = dataset
        .citizen(&so_dinh_danh)
        .and_then(|r| dataset.household_of(r))
    else {
        return replies::record_not_found();
    };
    let members: Vec<_> = household
        .members
        .iter()
        .filter_map(|&i| dataset.citizen_at(i))
        .collect();
    let Some(head) = members.first() else {
        return replies::record_not_found();
    };
    let answer = HouseholdAnswer {
        ma_ho_gia_dinh: &household.ma_ho_gia_dinh,
        chu_ho: HeadOfHousehold {
            ho_ten: &head.citizen.ho_ten,
            so_dinh_danh: &head.citizen.so_dinh_danh,
        },
        dia_chi: &household.dia_chi,
        thanh_vien: members
            .iter()
            .map(|m| Member {
                ho_ten: &m.citizen.ho_ten,
                so_dinh_danh: &m.citizen.so_dinh_danh,
                ma_so_bhxh: &m.ma_so_bhxh,
                quan_he_voi_chu_ho: m.relation,
                ngay_sinh: &m.citizen.ngay_sinh,
            })
            .collect(),
    };
    replies::json(StatusCode::OK, &answer)
}
