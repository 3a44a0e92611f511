//! The synthetic national dataset the simulators answer from: citizens (with
//! their birth records, marriages, social-insurance numbers and households)
//! and enterprises.
//!
//! Everything derives from one seed through `ChaCha8Rng`, whose stream is
//! fixed across platforms and releases, so a seed names the same dataset
//! everywhere. Households are generated as families, so parents, spouses and
//! addresses agree across the population, civil-status and social-insurance
//! answers.

use std::collections::{HashMap, HashSet};

use lgsp_contracts::PersonalId;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::calendar::Day;
use super::land::LandRegistry;
use super::vocabulary::{
    self, BRAND_FIRST, BRAND_SECOND, ENTERPRISE_KINDS, ENTERPRISE_STATUSES, ETHNICITIES,
    FEMALE_GIVEN_NAMES, FEMALE_MIDDLE_NAMES, INDUSTRIAL_PARKS, MALE_GIVEN_NAMES, MALE_MIDDLE_NAMES,
    PROVINCES, Province, RELIGIONS, RURAL_COMMUNES, STREETS, SURNAMES, TRADES, URBAN_WARDS,
    VILLAGES,
};

/// A citizen as the population database answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Citizen {
    pub so_dinh_danh: String,
    pub ho_ten: String,
    pub ngay_sinh: String,
    pub gioi_tinh: &'static str,
    pub noi_sinh: String,
    pub que_quan: String,
    pub dan_toc: &'static str,
    pub ton_giao: &'static str,
    pub quoc_tich: &'static str,
    pub tinh_trang_hon_nhan: &'static str,
    pub noi_thuong_tru: String,
    pub noi_o_hien_tai: String,
}

/// A parent named on a birth record; the ID is known only for parents in the dataset.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub ho_ten: String,
    pub so_dinh_danh: Option<String>,
}

/// A birth registration (đăng ký khai sinh).
#[derive(Debug, Clone)]
pub(crate) struct BirthRecord {
    pub so_dang_ky: String,
    pub quyen_so: String,
    pub ngay_dang_ky: String,
    pub noi_dang_ky: String,
    pub father: Parent,
    pub mother: Parent,
}

/// A marriage registration (đăng ký kết hôn) between two citizens of the dataset.
#[derive(Debug, Clone)]
pub(crate) struct Marriage {
    pub so_dang_ky: String,
    pub quyen_so: String,
    pub ngay_dang_ky: String,
    pub noi_dang_ky: String,
    /// Index of the husband in the citizen list.
    pub husband: usize,
    /// Index of the wife in the citizen list.
    pub wife: usize,
}

/// A death registration (đăng ký khai tử) of a citizen of the dataset,
/// declared by another member of their household.
#[derive(Debug, Clone)]
pub(crate) struct Death {
    /// Index of the deceased in the citizen list.
    pub citizen: usize,
    pub so_dang_ky: String,
    pub quyen_so: String,
    pub ngay_dang_ky: String,
    pub noi_dang_ky: String,
    pub ngay_chet: String,
    /// `HH:MM`.
    pub gio_chet: String,
    pub noi_chet: String,
    pub nguyen_nhan_chet: &'static str,
    /// Index of the declarant (người đi khai) in the citizen list.
    pub declarant: usize,
    /// The declarant's relation to the deceased.
    pub quan_he: &'static str,
}

/// Everything the dataset holds about one citizen.
#[derive(Debug, Clone)]
pub(crate) struct CitizenRecord {
    pub citizen: Citizen,
    /// Social-insurance number (mã số BHXH), 10 digits.
    pub ma_so_bhxh: String,
    /// Index of the household in the household list.
    pub household: usize,
    /// Relation to the head of the household (quan hệ với chủ hộ).
    pub relation: &'static str,
    pub birth: BirthRecord,
    /// Index of the marriage in the marriage list.
    pub marriage: Option<usize>,
}

/// A household of the social-insurance database.
#[derive(Debug, Clone)]
pub(crate) struct Household {
    /// Household code (mã hộ gia đình), 10 digits.
    pub ma_ho_gia_dinh: String,
    pub dia_chi: String,
    /// The commune the household lives in.
    pub place: Place,
    /// Citizen indexes; the head comes first.
    pub members: Vec<usize>,
}

/// The legal representative of an enterprise.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Representative {
    pub ho_ten: String,
    pub so_dinh_danh: String,
}

/// An enterprise as the business registration database answers it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Enterprise {
    pub ma_doanh_nghiep: String,
    pub ten_doanh_nghiep: String,
    pub ten_tieng_anh: String,
    pub loai_hinh: &'static str,
    pub ngay_thanh_lap: String,
    pub dia_chi_tru_so: String,
    pub nguoi_dai_dien: Representative,
    /// Charter capital in đồng.
    pub von_dieu_le: u64,
    pub trang_thai: &'static str,
    pub nganh_nghe_chinh: &'static str,
}

/// The whole synthetic dataset, indexed for O(1) lookups.
#[derive(Debug, Default)]
pub(crate) struct Dataset {
    citizens: Vec<CitizenRecord>,
    by_personal_id: HashMap<String, usize>,
    households: Vec<Household>,
    marriages: Vec<Marriage>,
    enterprises: Vec<Enterprise>,
    by_enterprise_code: HashMap<String, usize>,
    land: LandRegistry,
    /// Sorted by the deceased's index, for binary search.
    deaths: Vec<Death>,
}

/// Salts that keep the sampling streams apart from the generation stream.
const PERSONAL_ID_SAMPLE_SALT: u64 = 0x5EED_0000_C171_2E45;
const ENTERPRISE_SAMPLE_SALT: u64 = 0x5EED_0000_E472_E991;
const DEATH_SALT: u64 = 0x5EED_0000_DEAD_0001;

/// The last year a simulated person can be born or an event can happen.
const LAST_YEAR: i64 = 2025;

impl Dataset {
    /// Generates `citizens` citizens and `enterprises` enterprises from `seed`.
    pub(crate) fn generate(seed: u64, citizens: usize, enterprises: usize) -> Dataset {
        let mut generator = Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            data: Dataset {
                citizens: Vec::with_capacity(citizens),
                by_personal_id: HashMap::with_capacity(citizens),
                enterprises: Vec::with_capacity(enterprises),
                by_enterprise_code: HashMap::with_capacity(enterprises),
                ..Dataset::default()
            },
            enterprise_names: HashSet::with_capacity(enterprises),
            provinces: PROVINCES
                .iter()
                .filter(|p| PersonalId::province_codes().contains(&p.code))
                .collect(),
        };
        while generator.data.citizens.len() < citizens {
            let remaining = citizens - generator.data.citizens.len();
            let size = generator.household_size().min(remaining);
            generator.add_household(size);
        }
        for _ in 0..enterprises {
            generator.add_enterprise();
        }
        // Parcels draw from their own stream, so adding them left every
        // earlier citizen and enterprise of a seed unchanged.
        let mut data = generator.data;
        data.land = LandRegistry::generate(seed, &data);
        // Deaths too draw from their own stream, for the same reason.
        data.deaths = register_deaths(seed, &data);
        data
    }

    /// The death registration of a deceased citizen.
    pub(crate) fn death_of(&self, so_dinh_danh: &str) -> Option<&Death> {
        let index = *self.by_personal_id.get(so_dinh_danh)?;
        self.deaths
            .binary_search_by_key(&index, |d| d.citizen)
            .ok()
            .and_then(|i| self.deaths.get(i))
    }

    /// Personal IDs of up to `n` deceased citizens, in generation order.
    pub(crate) fn deceased_personal_ids(&self, n: usize) -> Vec<String> {
        self.deaths
            .iter()
            .filter_map(|d| self.citizens.get(d.citizen))
            .map(|r| r.citizen.so_dinh_danh.clone())
            .take(n)
            .collect()
    }

    /// All citizens, in generation order.
    pub(crate) fn citizens(&self) -> &[CitizenRecord] {
        &self.citizens
    }

    /// All enterprises, in generation order.
    pub(crate) fn enterprises(&self) -> &[Enterprise] {
        &self.enterprises
    }

    /// All households, in generation order.
    pub(crate) fn households(&self) -> &[Household] {
        &self.households
    }

    /// The citizen with this personal ID.
    pub(crate) fn citizen(&self, so_dinh_danh: &str) -> Option<&CitizenRecord> {
        self.by_personal_id
            .get(so_dinh_danh)
            .and_then(|&i| self.citizens.get(i))
    }

    /// The citizen at an index held by another record.
    pub(crate) fn citizen_at(&self, index: usize) -> Option<&CitizenRecord> {
        self.citizens.get(index)
    }

    /// The household a citizen belongs to.
    pub(crate) fn household_of(&self, record: &CitizenRecord) -> Option<&Household> {
        self.households.get(record.household)
    }

    /// The marriage of a married citizen.
    pub(crate) fn marriage_of(&self, record: &CitizenRecord) -> Option<&Marriage> {
        record.marriage.and_then(|i| self.marriages.get(i))
    }

    /// The land parcels.
    pub(crate) fn land(&self) -> &LandRegistry {
        &self.land
    }

    /// The enterprise with this code.
    pub(crate) fn enterprise(&self, ma_doanh_nghiep: &str) -> Option<&Enterprise> {
        self.by_enterprise_code
            .get(ma_doanh_nghiep)
            .and_then(|&i| self.enterprises.get(i))
    }

    /// `n` personal IDs of the dataset in a seeded order; distinct while `n`
    /// does not exceed the population, then repeating.
    pub(crate) fn sample_personal_ids(&self, seed: u64, n: usize) -> Vec<String> {
        sample_indexes(seed ^ PERSONAL_ID_SAMPLE_SALT, self.citizens.len(), n)
            .into_iter()
            .filter_map(|i| self.citizens.get(i))
            .map(|r| r.citizen.so_dinh_danh.clone())
            .collect()
    }

    /// `n` enterprise codes of the dataset, like [`Dataset::sample_personal_ids`].
    pub(crate) fn sample_enterprise_codes(&self, seed: u64, n: usize) -> Vec<String> {
        sample_indexes(seed ^ ENTERPRISE_SAMPLE_SALT, self.enterprises.len(), n)
            .into_iter()
            .filter_map(|i| self.enterprises.get(i))
            .map(|e| e.ma_doanh_nghiep.clone())
            .collect()
    }
}

/// Causes of death written on the simulated registrations.
const CAUSES_OF_DEATH: [&str; 5] = [
    "Bệnh già",
    "Đột quỵ",
    "Bệnh tim mạch",
    "Ung thư",
    "Tai nạn giao thông",
];

/// Deaths of some older citizens who share a household with someone who
/// can declare them; at most one per household, in household order.
fn register_deaths(seed: u64, data: &Dataset) -> Vec<Death> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ DEATH_SALT);
    let mut deaths = Vec::new();
    for household in &data.households {
        let older = household.members.iter().copied().find(|&i| {
            data.citizens
                .get(i)
                .and_then(|r| r.citizen.ngay_sinh.get(..4))
                .and_then(|y| y.parse::<i64>().ok())
                .is_some_and(|year| year < 1962)
        });
        let (Some(deceased), true) = (older, rng.random_bool(0.3)) else {
            continue;
        };
        let Some(declarant) = household.members.iter().copied().find(|&i| i != deceased) else {
            continue;
        };
        let (Some(dead), Some(teller)) =
            (data.citizens.get(deceased), data.citizens.get(declarant))
        else {
            continue;
        };
        let birth_year = dead
            .citizen
            .ngay_sinh
            .get(..4)
            .and_then(|y| y.parse::<i64>().ok())
            .unwrap_or(1950);
        let year = rng.random_range((birth_year + 45).max(2005)..=LAST_YEAR);
        let died = Day::first_of_year(year).plus_days(rng.random_range(0..Day::days_in_year(year)));
        let registered = died.plus_days(rng.random_range(1..=15));
        let quan_he = match teller.relation {
            "Con" => "Con",
            "Vợ" | "Chồng" | "Chủ hộ" if teller.citizen.gioi_tinh == "Nữ" => "Vợ",
            "Vợ" | "Chồng" | "Chủ hộ" => "Chồng",
            _ => "Người thân",
        };
        let noi_chet = if rng.random_bool(0.6) {
            format!("Tại nhà, {}", dead.citizen.noi_thuong_tru)
        } else {
            format!("Bệnh viện Đa khoa {}", household.place.province.label)
        };
        deaths.push(Death {
            citizen: deceased,
            so_dang_ky: rng.random_range(1..=300).to_string(),
            quyen_so: format!("{:02}/{}", rng.random_range(1..=2), registered.year()),
            ngay_dang_ky: registered.iso(),
            noi_dang_ky: format!("UBND {}", household.place.commune_label()),
            ngay_chet: died.iso(),
            gio_chet: format!(
                "{:02}:{:02}",
                rng.random_range(0..24),
                rng.random_range(0..60)
            ),
            noi_chet,
            nguyen_nhan_chet: CAUSES_OF_DEATH[rng.random_range(0..CAUSES_OF_DEATH.len())],
            declarant,
            quan_he,
        });
    }
    deaths.sort_by_key(|d| d.citizen);
    deaths
}

/// `n` indexes below `len`: a seeded permutation, cycled when `n > len`.
pub(crate) fn sample_indexes(seed: u64, len: usize, n: usize) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.into_iter().cycle().take(n).collect()
}

/// Sex, as the population database writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sex {
    Male,
    Female,
}

impl Sex {
    fn label(self) -> &'static str {
        match self {
            Sex::Male => "Nam",
            Sex::Female => "Nữ",
        }
    }

    fn opposite(self) -> Sex {
        match self {
            Sex::Male => Sex::Female,
            Sex::Female => Sex::Male,
        }
    }
}

/// A commune of a province.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub province: &'static Province,
    pub commune: &'static str,
    /// A ward (phường) of a town rather than a rural commune (xã).
    pub urban: bool,
}

impl Place {
    /// "xã Mỹ Hiệp, tỉnh Đồng Tháp".
    pub(crate) fn commune_label(&self) -> String {
        let kind = if self.urban { "phường" } else { "xã" };
        format!("{kind} {}, {}", self.commune, self.province.label)
    }
}

/// What the household generator knows about a citizen before adding them.
struct NewCitizen {
    sex: Sex,
    birth_year: i64,
    ho_ten: String,
    birth_place: Place,
    que_quan: String,
    dan_toc: &'static str,
    ton_giao: &'static str,
    tinh_trang_hon_nhan: &'static str,
    noi_thuong_tru: String,
    /// Where the citizen lives, which opens their social-insurance number.
    home_province: &'static Province,
    household: usize,
    relation: &'static str,
    father: Parent,
    mother: Parent,
}

/// The seeded generator; it owns the dataset while filling it.
struct Generator {
    rng: ChaCha8Rng,
    data: Dataset,
    enterprise_names: HashSet<String>,
    /// The provinces whose codes the contracts accept, so every generated ID parses.
    provinces: Vec<&'static Province>,
}

/// One of a non-empty constant list.
fn pick<'a, T, const N: usize>(rng: &mut ChaCha8Rng, items: &'a [T; N]) -> &'a T {
    &items[rng.random_range(0..N)]
}

/// One of a non-empty constant list, drawn by weight.
fn pick_weighted<'a, T, const N: usize>(
    rng: &mut ChaCha8Rng,
    items: &'a [T; N],
    weight: impl Fn(&T) -> u32,
) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut ticket = rng.random_range(0..total.max(1));
    for item in items {
        let w = weight(item);
        if ticket < w {
            return item;
        }
        ticket -= w;
    }
    &items[N - 1]
}

/// A bijection of `0..10^8`, so sequential indexes give distinct but
/// irregular-looking 8-digit suffixes (48271 is prime to 10).
fn scramble(index: usize) -> u64 {
    (index as u64).wrapping_mul(48_271).wrapping_add(12_345) % 100_000_000
}

/// The last two digits of a province code, which open BHXH numbers.
fn province_two_digits(province: &Province) -> &'static str {
    province.code.get(1..).unwrap_or(province.code)
}

impl Generator {
    fn household_size(&mut self) -> usize {
        pick_weighted(
            &mut self.rng,
            &[(1, 15), (2, 20), (3, 25), (4, 25), (5, 15)],
            |w| w.1,
        )
        .0
    }

    fn province(&mut self) -> &'static Province {
        match self.provinces.len() {
            0 => &PROVINCES[0],
            len => self.provinces[self.rng.random_range(0..len)],
        }
    }

    fn place_in(&mut self, province: &'static Province) -> Place {
        let urban = province.is_city || self.rng.random_bool(0.2);
        let commune = if urban {
            *pick(&mut self.rng, &URBAN_WARDS)
        } else {
            *pick(&mut self.rng, &RURAL_COMMUNES)
        };
        Place {
            province,
            commune,
            urban,
        }
    }

    fn place(&mut self) -> Place {
        let province = self.province();
        self.place_in(province)
    }

    /// A full address in a commune: a house number and street in towns, a
    /// village (ấp in the south, thôn or xóm elsewhere) in the countryside.
    fn address_in(&mut self, place: &Place) -> String {
        let local = if place.urban {
            let number = self.rng.random_range(1..=350);
            format!("Số {number} đường {}", pick(&mut self.rng, &STREETS))
        } else if place.province.code >= "070" {
            format!("Ấp {}", self.rng.random_range(1..=12))
        } else if self.rng.random_bool(0.6) {
            format!("Thôn {}", pick(&mut self.rng, &VILLAGES))
        } else {
            format!("Xóm {}", self.rng.random_range(1..=15))
        };
        format!("{local}, {}", place.commune_label())
    }

    fn person_name(&mut self, sex: Sex, surname: &str) -> String {
        let (middle, given) = match sex {
            Sex::Male => (
                pick(&mut self.rng, &MALE_MIDDLE_NAMES),
                pick(&mut self.rng, &MALE_GIVEN_NAMES),
            ),
            Sex::Female => (
                pick(&mut self.rng, &FEMALE_MIDDLE_NAMES),
                pick(&mut self.rng, &FEMALE_GIVEN_NAMES),
            ),
        };
        format!("{surname} {middle} {given}")
    }

    fn surname(&mut self) -> &'static str {
        pick_weighted(&mut self.rng, &SURNAMES, |s| s.1).0
    }

    fn ethnicity(&mut self) -> &'static str {
        pick_weighted(&mut self.rng, &ETHNICITIES, |e| e.1).0
    }

    fn religion(&mut self) -> &'static str {
        pick_weighted(&mut self.rng, &RELIGIONS, |r| r.1).0
    }

    /// A parent who is not in the dataset, named by the child's surname for a father.
    fn outside_parent(&mut self, sex: Sex, surname: &str) -> Parent {
        let surname = if sex == Sex::Male {
            surname
        } else {
            self.surname()
        };
        Parent {
            ho_ten: self.person_name(sex, surname),
            so_dinh_danh: None,
        }
    }

    /// A personal ID of the birth province, century-and-sex digit, birth year
    /// and six random digits, not yet used.
    fn personal_id(&mut self, province: &Province, sex: Sex, birth_year: i64) -> String {
        let century_sex = match (birth_year >= 2000, sex) {
            (false, Sex::Male) => 0,
            (false, Sex::Female) => 1,
            (true, Sex::Male) => 2,
            (true, Sex::Female) => 3,
        };
        loop {
            let serial = self.rng.random_range(0..1_000_000);
            let id = format!(
                "{}{century_sex}{:02}{serial:06}",
                province.code,
                birth_year.rem_euclid(100)
            );
            if !self.data.by_personal_id.contains_key(&id) {
                return id;
            }
        }
    }

    fn random_day_in(&mut self, year: i64) -> Day {
        let offset = self.rng.random_range(0..Day::days_in_year(year));
        Day::first_of_year(year).plus_days(offset)
    }

    /// Where an adult was born: mostly the province they live in.
    fn birth_place_for(&mut self, home: &Place) -> Place {
        if self.rng.random_bool(0.7) {
            self.place_in(home.province)
        } else {
            self.place()
        }
    }

    fn add_citizen(&mut self, new: NewCitizen) -> usize {
        let index = self.data.citizens.len();
        let so_dinh_danh = self.personal_id(new.birth_place.province, new.sex, new.birth_year);
        let birthday = self.random_day_in(new.birth_year);
        let registered = birthday.plus_days(self.rng.random_range(1..=60));
        let noi_o_hien_tai = if self.rng.random_bool(0.85) {
            new.noi_thuong_tru.clone()
        } else {
            let elsewhere = self.place();
            self.address_in(&elsewhere)
        };
        let record = CitizenRecord {
            citizen: Citizen {
                so_dinh_danh: so_dinh_danh.clone(),
                ho_ten: new.ho_ten,
                ngay_sinh: birthday.iso(),
                gioi_tinh: new.sex.label(),
                noi_sinh: new.birth_place.commune_label(),
                que_quan: new.que_quan,
                dan_toc: new.dan_toc,
                ton_giao: new.ton_giao,
                quoc_tich: vocabulary::NATIONALITY,
                tinh_trang_hon_nhan: new.tinh_trang_hon_nhan,
                noi_thuong_tru: new.noi_thuong_tru,
                noi_o_hien_tai,
            },
            ma_so_bhxh: format!(
                "{}{:08}",
                province_two_digits(new.home_province),
                scramble(index)
            ),
            household: new.household,
            relation: new.relation,
            birth: BirthRecord {
                so_dang_ky: self.rng.random_range(1..=450).to_string(),
                quyen_so: format!("{:02}/{}", self.rng.random_range(1..=3), registered.year()),
                ngay_dang_ky: registered.iso(),
                noi_dang_ky: format!("UBND {}", new.birth_place.commune_label()),
                father: new.father,
                mother: new.mother,
            },
            marriage: None,
        };
        self.data.by_personal_id.insert(so_dinh_danh, index);
        self.data.citizens.push(record);
        index
    }

    /// Adds a family: a head, often a spouse, then children born after the
    /// marriage, all living at one address.
    fn add_household(&mut self, size: usize) {
        let household = self.data.households.len();
        let home = self.place();
        let address = self.address_in(&home);
        let married = size >= 2 && self.rng.random_bool(0.8);
        let male_share = if married { 0.85 } else { 0.5 };
        let head_sex = if self.rng.random_bool(male_share) {
            Sex::Male
        } else {
            Sex::Female
        };
        let head_year = match (married, size) {
            (true, _) => self.rng.random_range(1950..=1994),
            (false, 1) => self.rng.random_range(1950..=2005),
            (false, _) => self.rng.random_range(1950..=1990),
        };
        let head_status = if married {
            vocabulary::MARRIED
        } else if size > 1 {
            if self.rng.random_bool(0.5) {
                vocabulary::DIVORCED
            } else {
                vocabulary::WIDOWED
            }
        } else if head_year < 1965 && self.rng.random_bool(0.3) {
            vocabulary::WIDOWED
        } else {
            vocabulary::NEVER_MARRIED
        };
        let head_surname = self.surname();
        let head_ethnicity = self.ethnicity();
        let family_religion = self.religion();
        let head_home_town = self.place().commune_label();
        let head_birth_place = self.birth_place_for(&home);
        let head = NewCitizen {
            sex: head_sex,
            birth_year: head_year,
            ho_ten: self.person_name(head_sex, head_surname),
            birth_place: head_birth_place,
            que_quan: head_home_town.clone(),
            dan_toc: head_ethnicity,
            ton_giao: family_religion,
            tinh_trang_hon_nhan: head_status,
            noi_thuong_tru: address.clone(),
            home_province: home.province,
            household,
            relation: "Chủ hộ",
            father: self.outside_parent(Sex::Male, head_surname),
            mother: self.outside_parent(Sex::Female, head_surname),
        };
        let head_index = self.add_citizen(head);
        let mut members = vec![head_index];
        let head_parent = self.as_parent(head_index);

        // The children's surname, ethnicity and home town come from the father.
        let mut family = (head_surname, head_ethnicity, head_home_town);
        let mut father = None;
        let mut mother = None;
        match head_sex {
            Sex::Male => father = Some(head_parent),
            Sex::Female => mother = Some(head_parent),
        }
        let mut children_from = head_year + self.rng.random_range(20..=30);
        if married {
            let spouse_sex = head_sex.opposite();
            let gap = self.rng.random_range(-2..=6);
            let spouse_year = if head_sex == Sex::Male {
                head_year + gap
            } else {
                head_year - gap
            }
            .clamp(1945, 2000);
            let spouse_surname = self.surname();
            let spouse_ethnicity = if self.rng.random_bool(0.85) {
                head_ethnicity
            } else {
                self.ethnicity()
            };
            let spouse_home_town = self.place().commune_label();
            let spouse_birth_place = self.birth_place_for(&home);
            let spouse = NewCitizen {
                sex: spouse_sex,
                birth_year: spouse_year,
                ho_ten: self.person_name(spouse_sex, spouse_surname),
                birth_place: spouse_birth_place,
                que_quan: spouse_home_town.clone(),
                dan_toc: spouse_ethnicity,
                ton_giao: if self.rng.random_bool(0.8) {
                    family_religion
                } else {
                    self.religion()
                },
                tinh_trang_hon_nhan: vocabulary::MARRIED,
                noi_thuong_tru: address.clone(),
                home_province: home.province,
                household,
                relation: if spouse_sex == Sex::Female {
                    "Vợ"
                } else {
                    "Chồng"
                },
                father: self.outside_parent(Sex::Male, spouse_surname),
                mother: self.outside_parent(Sex::Female, spouse_surname),
            };
            let spouse_index = self.add_citizen(spouse);
            let spouse_parent = self.as_parent(spouse_index);
            members.push(spouse_index);
            let (husband, wife) = if head_sex == Sex::Male {
                mother = Some(spouse_parent);
                (head_index, spouse_index)
            } else {
                family = (spouse_surname, spouse_ethnicity, spouse_home_town);
                father = Some(spouse_parent);
                (spouse_index, head_index)
            };
            let wedding_year =
                (head_year.max(spouse_year) + self.rng.random_range(20..=30)).min(2022);
            self.add_marriage(husband, wife, wedding_year, &home);
            children_from = wedding_year + 1;
        }

        for _ in members.len()..size {
            if children_from > LAST_YEAR {
                break;
            }
            let birth_year = self
                .rng
                .random_range(children_from..=(children_from + 20).min(LAST_YEAR));
            let sex = if self.rng.random_bool(0.5) {
                Sex::Male
            } else {
                Sex::Female
            };
            let (surname, ethnicity, home_town) = (family.0, family.1, family.2.clone());
            let child_father = match &father {
                Some(parent) => parent.clone(),
                None => self.outside_parent(Sex::Male, surname),
            };
            let child_mother = match &mother {
                Some(parent) => parent.clone(),
                None => self.outside_parent(Sex::Female, surname),
            };
            let child = NewCitizen {
                sex,
                birth_year,
                ho_ten: self.person_name(sex, surname),
                birth_place: home,
                que_quan: home_town,
                dan_toc: ethnicity,
                ton_giao: family_religion,
                tinh_trang_hon_nhan: vocabulary::NEVER_MARRIED,
                noi_thuong_tru: address.clone(),
                home_province: home.province,
                household,
                relation: "Con",
                father: child_father,
                mother: child_mother,
            };
            members.push(self.add_citizen(child));
        }

        self.data.households.push(Household {
            ma_ho_gia_dinh: format!(
                "{}{:08}",
                province_two_digits(home.province),
                scramble(household)
            ),
            dia_chi: address,
            place: home,
            members,
        });
    }

    /// A citizen of the dataset as named on their children's birth records.
    fn as_parent(&self, index: usize) -> Parent {
        match self.data.citizens.get(index) {
            Some(record) => Parent {
                ho_ten: record.citizen.ho_ten.clone(),
                so_dinh_danh: Some(record.citizen.so_dinh_danh.clone()),
            },
            None => Parent {
                ho_ten: String::new(),
                so_dinh_danh: None,
            },
        }
    }

    fn add_marriage(&mut self, husband: usize, wife: usize, year: i64, home: &Place) {
        let index = self.data.marriages.len();
        let day = self.random_day_in(year);
        self.data.marriages.push(Marriage {
            so_dang_ky: self.rng.random_range(1..=250).to_string(),
            quyen_so: format!("01/{year}"),
            ngay_dang_ky: day.iso(),
            noi_dang_ky: format!("UBND {}", home.commune_label()),
            husband,
            wife,
        });
        for spouse in [husband, wife] {
            if let Some(record) = self.data.citizens.get_mut(spouse) {
                record.marriage = Some(index);
            }
        }
    }

    /// A 10-digit tax code whose last digit is the check digit of the
    /// national scheme, not yet used.
    fn enterprise_code(&mut self) -> String {
        const WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];
        loop {
            let body = self.rng.random_range(10_000_000..1_000_000_000u32);
            let digits = format!("{body:09}");
            let sum: u32 = digits
                .bytes()
                .zip(WEIGHTS)
                .map(|(d, w)| u32::from(d - b'0') * w)
                .sum();
            let check = 10 - sum % 11;
            if check == 10 {
                continue;
            }
            let code = format!("{digits}{check}");
            if !self.data.by_enterprise_code.contains_key(&code) {
                return code;
            }
        }
    }

    /// A citizen old enough to represent an enterprise founded in `year`, or
    /// an invented one when the dataset has none.
    fn representative(&mut self, year: i64) -> Representative {
        let len = self.data.citizens.len();
        let mut fallback = None;
        for _ in 0..16 {
            if len == 0 {
                break;
            }
            let candidate = &self.data.citizens[self.rng.random_range(0..len)].citizen;
            let adult = candidate
                .ngay_sinh
                .get(..4)
                .and_then(|y| y.parse::<i64>().ok())
                .is_some_and(|born| born + 20 <= year);
            let found = Representative {
                ho_ten: candidate.ho_ten.clone(),
                so_dinh_danh: candidate.so_dinh_danh.clone(),
            };
            if adult {
                return found;
            }
            fallback.get_or_insert(found);
        }
        if let Some(found) = fallback {
            return found;
        }
        let sex = if self.rng.random_bool(0.5) {
            Sex::Male
        } else {
            Sex::Female
        };
        let surname = self.surname();
        let province = self.province();
        let born = self.rng.random_range(1955..=1995);
        Representative {
            ho_ten: self.person_name(sex, surname),
            so_dinh_danh: self.personal_id(province, sex, born),
        }
    }

    fn add_enterprise(&mut self) {
        let index = self.data.enterprises.len();
        let kind = pick_weighted(&mut self.rng, &ENTERPRISE_KINDS, |k| k.weight);
        let trade = pick(&mut self.rng, &TRADES);
        let mut names = None;
        for _ in 0..32 {
            let first = pick(&mut self.rng, &BRAND_FIRST);
            let second = pick(&mut self.rng, &BRAND_SECOND);
            if first.0 == second.0 {
                continue;
            }
            let name = format!(
                "{} {} {} {}",
                kind.name_prefix, trade.name, first.0, second.0
            );
            if self.enterprise_names.insert(name.clone()) {
                let english = format!(
                    "{} {} {} {}",
                    first.1, second.1, trade.english, kind.english_suffix
                );
                names = Some((name, english));
                break;
            }
        }
        // Names are unique by law; the index suffix keeps them so when brands run out.
        let (ten_doanh_nghiep, ten_tieng_anh) = names.unwrap_or_else(|| {
            let name = format!("{} {} Số {}", kind.name_prefix, trade.name, index + 1);
            let english = format!(
                "No. {} {} {}",
                index + 1,
                trade.english,
                kind.english_suffix
            );
            (name, english)
        });
        let founded = {
            let year = self.rng.random_range(1995..=LAST_YEAR);
            self.random_day_in(year)
        };
        let place = {
            let province = self.province();
            let mut place = self.place_in(province);
            if trade.manufacturing && self.rng.random_bool(0.5) {
                place.urban = false;
                place.commune = *pick(&mut self.rng, &RURAL_COMMUNES);
                let lot = (b'A' + self.rng.random_range(0..8u8)) as char;
                let number = self.rng.random_range(1..=40);
                let park = pick(&mut self.rng, &INDUSTRIAL_PARKS);
                let address = format!("Lô {lot}{number}, {park}, {}", place.commune_label());
                (place, Some(address))
            } else {
                place.urban = true;
                place.commune = *pick(&mut self.rng, &URBAN_WARDS);
                (place, None)
            }
        };
        let dia_chi_tru_so = match place {
            (_, Some(address)) => address,
            (place, None) => self.address_in(&place),
        };
        let enterprise = Enterprise {
            ma_doanh_nghiep: self.enterprise_code(),
            ten_doanh_nghiep,
            ten_tieng_anh,
            loai_hinh: kind.legal_form,
            ngay_thanh_lap: founded.iso(),
            dia_chi_tru_so,
            nguoi_dai_dien: self.representative(founded.year()),
            von_dieu_le: self.rng.random_range(1..=500u64) * 100_000_000,
            trang_thai: pick_weighted(&mut self.rng, &ENTERPRISE_STATUSES, |s| s.1).0,
            nganh_nghe_chinh: trade.main_line,
        };
        self.data
            .by_enterprise_code
            .insert(enterprise.ma_doanh_nghiep.clone(), index);
        self.data.enterprises.push(enterprise);
    }
}
