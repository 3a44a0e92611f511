//! The land database (Cơ sở dữ liệu quốc gia về đất đai): a parcel by its
//! code, answered in the canonical `land-parcel` shape.
//!
//! Every household holds the parcel it lives on (jointly with the spouse of
//! a married head), and about a third of rural households also farm a
//! parcel of perennial-crop land. Parcels come from their own seeded stream
//! after the citizens, so they never change the rest of the dataset.

use std::collections::{HashMap, HashSet};

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use lgsp_contracts::records::{LandCertificate, LandParcel, LandUse, Party, PartyKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::calendar::Day;
use super::dataset::{Dataset, Household, Place, sample_indexes};
use super::vocabulary::{RURAL_COMMUNES, URBAN_WARDS};
use super::{Simulator, replies};

/// Salt of the parcels' stream.
const LAND_SALT: u64 = 0x5EED_0000_1A4D_0001;
/// Salt of the parcel-code samples.
const SAMPLE_SALT: u64 = 0x5EED_0000_1A4D_5A3F;

/// How the right to a parcel was obtained, as certificates word it.
const ORIGINS: [&str; 3] = [
    "Công nhận quyền sử dụng đất như giao đất có thu tiền sử dụng đất",
    "Nhận chuyển nhượng đất được công nhận quyền sử dụng đất",
    "Nhận thừa kế quyền sử dụng đất",
];

/// The parcels, indexed by code.
#[derive(Debug, Default)]
pub(crate) struct LandRegistry {
    parcels: Vec<LandParcel>,
    by_code: HashMap<String, usize>,
}

impl LandRegistry {
    /// The parcels of `dataset`'s households, drawn from `seed`.
    pub(crate) fn generate(seed: u64, dataset: &Dataset) -> LandRegistry {
        let mut generator = ParcelGenerator {
            rng: ChaCha8Rng::seed_from_u64(seed ^ LAND_SALT),
            used: HashSet::new(),
            registry: LandRegistry::default(),
        };
        for household in dataset.households() {
            let users = holders(dataset, household);
            if users.is_empty() {
                continue;
            }
            generator.residence(household, users.clone());
            if !household.place.urban && generator.rng.random_bool(0.35) {
                generator.farm(household, users);
            }
        }
        generator.registry
    }

    /// The parcel with this code.
    pub(crate) fn parcel(&self, ma_thua_dat: &str) -> Option<&LandParcel> {
        self.by_code
            .get(ma_thua_dat)
            .and_then(|&i| self.parcels.get(i))
    }

    /// All parcels, in generation order.
    #[cfg(test)]
    pub(crate) fn parcels(&self) -> &[LandParcel] {
        &self.parcels
    }

    /// `n` parcel codes in a seeded order, distinct up to their number.
    pub(crate) fn sample_codes(&self, seed: u64, n: usize) -> Vec<String> {
        sample_indexes(seed ^ SAMPLE_SALT, self.parcels.len(), n)
            .into_iter()
            .filter_map(|i| self.parcels.get(i))
            .map(|p| p.ma_thua_dat.clone())
            .collect()
    }
}

/// The head of a household, and the spouse when the head is married.
fn holders(dataset: &Dataset, household: &Household) -> Vec<Party> {
    household
        .members
        .iter()
        .filter_map(|&i| dataset.citizen_at(i))
        .take(2)
        .enumerate()
        .filter(|(position, record)| *position == 0 || matches!(record.relation, "Vợ" | "Chồng"))
        .map(|(_, record)| Party {
            loai: PartyKind::CaNhan,
            ho_ten: Some(record.citizen.ho_ten.clone()),
            so_dinh_danh: Some(record.citizen.so_dinh_danh.clone()),
            ten_to_chuc: None,
            ma_doanh_nghiep: None,
        })
        .collect()
}

/// The 5-digit code of a commune: its province's code and its place in the
/// commune lists (the real list's codes are not needed, only their shape).
fn commune_code(place: &Place) -> String {
    let index = if place.urban {
        URBAN_WARDS.iter().position(|w| *w == place.commune)
    } else {
        RURAL_COMMUNES
            .iter()
            .position(|c| *c == place.commune)
            .map(|i| i + URBAN_WARDS.len())
    };
    format!("{}{:02}", place.province.code, index.unwrap_or(0))
}

/// Square metres from tenths of a square metre.
fn square_metres(tenths: u32) -> f64 {
    f64::from(tenths) / 10.0
}

struct ParcelGenerator {
    rng: ChaCha8Rng,
    /// Codes already given, so each parcel has its own.
    used: HashSet<String>,
    registry: LandRegistry,
}

impl ParcelGenerator {
    /// A free code in the commune: map sheet and parcel number.
    fn code(&mut self, commune: &str) -> (String, u32, u32) {
        loop {
            let sheet = self.rng.random_range(1..=80u32);
            let number = self.rng.random_range(1..=1500u32);
            let code = format!("{commune}-{sheet}-{number}");
            if self.used.insert(code.clone()) {
                return (code, sheet, number);
            }
        }
    }

    fn certificate(&mut self, place: &Place) -> LandCertificate {
        let series = ["CS", "CT", "DA", "DB", "DC"][self.rng.random_range(0..5)];
        let year = self.rng.random_range(2005..=2024);
        let day =
            Day::first_of_year(year).plus_days(self.rng.random_range(0..Day::days_in_year(year)));
        LandCertificate {
            so_phat_hanh: format!("{series} {:06}", self.rng.random_range(0..1_000_000)),
            so_vao_so: Some(format!("CS{:05}", self.rng.random_range(1..100_000))),
            ngay_cap: day.iso(),
            co_quan_cap: format!("Sở Tài nguyên và Môi trường {}", place.province.label),
        }
    }

    /// Registers a parcel in `place` with a fresh code and certificate.
    fn add(
        &mut self,
        place: &Place,
        dia_chi: String,
        uses: Vec<Use>,
        origin: &str,
        users: Vec<Party>,
    ) {
        let commune = commune_code(place);
        let (code, sheet, number) = self.code(&commune);
        let certificate = self.certificate(place);
        let tenths = uses.iter().map(|u| u.tenths).sum();
        let parcel = LandParcel {
            ma_thua_dat: code,
            ma_don_vi_hanh_chinh: commune,
            so_to_ban_do: sheet,
            so_thua_dat: number,
            dia_chi,
            dien_tich: square_metres(tenths),
            hinh_thuc_su_dung: Some(sharing(&users).into()),
            muc_dich_su_dung: uses
                .into_iter()
                .map(|u| LandUse {
                    ma_loai_dat: u.code.into(),
                    ten_loai_dat: Some(u.name.into()),
                    dien_tich: square_metres(u.tenths),
                    thoi_han_su_dung: u.term,
                })
                .collect(),
            nguon_goc_su_dung: Some(origin.into()),
            nguoi_su_dung: users,
            giay_chung_nhan: Some(certificate),
        };
        self.registry
            .by_code
            .insert(parcel.ma_thua_dat.clone(), self.registry.parcels.len());
        self.registry.parcels.push(parcel);
    }

    /// The parcel a household lives on: all residential land in town; in
    /// the countryside, residential land and the garden around it.
    fn residence(&mut self, household: &Household, users: Vec<Party>) {
        let place = household.place;
        let uses = if place.urban {
            vec![Use::permanent(
                "ODT",
                "Đất ở tại đô thị",
                self.rng.random_range(300..=1500),
            )]
        } else {
            let home = self.rng.random_range(1000..=3000);
            let garden = self.rng.random_range(0..=4000);
            let mut uses = vec![Use::permanent("ONT", "Đất ở tại nông thôn", home)];
            if garden > 0 {
                uses.push(Use::permanent("CLN", PERENNIAL, garden));
            }
            uses
        };
        let origin = ORIGINS[self.rng.random_range(0..ORIGINS.len())];
        self.add(&place, household.dia_chi.clone(), uses, origin, users);
    }

    /// A field of perennial crops, allocated for fifty years.
    fn farm(&mut self, household: &Household, users: Vec<Party>) {
        let place = household.place;
        let allocated = self.rng.random_range(1994..=2020);
        let field = Use {
            code: "CLN",
            name: PERENNIAL,
            tenths: self.rng.random_range(5_000..=50_000),
            term: Day::from_ymd(allocated + 50, 10, 15).iso(),
        };
        let origin = "Nhà nước giao đất không thu tiền sử dụng đất";
        self.add(&place, place.commune_label(), vec![field], origin, users);
    }
}

/// The name of perennial-crop land.
const PERENNIAL: &str = "Đất trồng cây lâu năm";

/// One land use of a parcel being made.
struct Use {
    code: &'static str,
    name: &'static str,
    /// Area in tenths of a square metre, so parts add up exactly.
    tenths: u32,
    /// `Lâu dài` or the last day of use.
    term: String,
}

impl Use {
    fn permanent(code: &'static str, name: &'static str, tenths: u32) -> Use {
        Use {
            code,
            name,
            tenths,
            term: "Lâu dài".into(),
        }
    }
}

fn sharing(users: &[Party]) -> &'static str {
    if users.len() > 1 {
        "Sử dụng chung"
    } else {
        "Sử dụng riêng"
    }
}

/// Whether `code` has the shape of a parcel code (`29875-12-345`).
fn is_parcel_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('-').collect();
    let digits = |p: &str, min: usize, max: usize| {
        (min..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    parts.len() == 3 && digits(parts[0], 5, 5) && digits(parts[1], 1, 4) && digits(parts[2], 1, 5)
}

/// `GET /land/v1/parcels/{maThuaDat}`.
pub(crate) async fn parcel(
    State(simulator): State<Simulator>,
    ma_thua_dat: Result<Path<String>, PathRejection>,
) -> Response {
    let code = match ma_thua_dat {
        Ok(Path(code)) if is_parcel_code(&code) => code,
        _ => {
            return replies::data_incorrect(
                "Mã thửa đất không hợp lệ: cần mã xã (5 chữ số), số tờ bản đồ và số thửa, nối bằng '-'",
            );
        }
    };
    match simulator.dataset.land().parcel(&code) {
        Some(parcel) => replies::json(StatusCode::OK, parcel),
        None => replies::record_not_found(),
    }
}
