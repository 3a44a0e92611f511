//! Tests of the schemas themselves, of the validation API, and of the Rust
//! types of `records` against the schemas.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use crate::records::*;
use crate::{AgencyCode, EnterpriseCode, ErrorCode, PersonalId};

fn contract(name: ContractName) -> &'static Contract {
    Contract::get(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The pointers of the violations of `value`, in order.
fn pointers(name: ContractName, value: &Value) -> Vec<String> {
    match contract(name).validate(value) {
        Ok(()) => Vec::new(),
        Err(violations) => violations.into_iter().map(|v| v.pointer).collect(),
    }
}

/// Serializes a typed value, checks it against its contract, and reads it back.
fn round_trip<T>(name: ContractName, value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_value(value).expect("serializes");
    if let Err(violations) = contract(name).validate(&json) {
        panic!("{name}: {violations:?}\n{json:#}");
    }
    let back: T = serde_json::from_value(json).expect("deserializes");
    assert_eq!(&back, value);
}

/// A copy of `value` with `pointer` replaced (or removed when `None`).
fn with(value: &Value, pointer: &str, replacement: Option<Value>) -> Value {
    let mut copy = value.clone();
    let (parent, member) = pointer.rsplit_once('/').expect("a pointer");
    let target = copy.pointer_mut(parent).expect("parent exists");
    match (target, replacement) {
        (Value::Object(object), Some(v)) => {
            object.insert(member.to_owned(), v);
        }
        (Value::Object(object), None) => {
            object.remove(member);
        }
        (Value::Array(items), Some(v)) => {
            items[member.parse::<usize>().expect("index")] = v;
        }
        (Value::Array(items), None) => {
            items.remove(member.parse::<usize>().expect("index"));
        }
        (other, _) => panic!("{parent} is {other}"),
    }
    copy
}

fn citizen() -> Citizen {
    Citizen {
        so_dinh_danh: "087203004567".into(),
        ho_ten: "Nguyễn Thị Hương".into(),
        ngay_sinh: "2003-02-28".into(),
        gioi_tinh: "Nữ".into(),
        noi_sinh: Some("xã Mỹ Hiệp, tỉnh Đồng Tháp".into()),
        que_quan: Some("xã Tân Phú, tỉnh Đồng Tháp".into()),
        dan_toc: Some("Kinh".into()),
        ton_giao: Some("Không".into()),
        quoc_tich: Some("Việt Nam".into()),
        tinh_trang_hon_nhan: Some("Chưa kết hôn".into()),
        noi_thuong_tru: Some("Ấp 3, xã Mỹ Hiệp, tỉnh Đồng Tháp".into()),
        noi_o_hien_tai: Some("Số 12 đường Lê Lợi, phường Điện Biên, Quận Ba Đình".into()),
    }
}

fn birth_record() -> BirthRecord {
    BirthRecord {
        so_dang_ky: "125".into(),
        quyen_so: Some("01/2003".into()),
        ngay_dang_ky: "2003-03-15".into(),
        noi_dang_ky: "UBND xã Mỹ Hiệp, tỉnh Đồng Tháp".into(),
        so_dinh_danh: Some("087203004567".into()),
        ho_ten: "Nguyễn Thị Hương".into(),
        gioi_tinh: "Nữ".into(),
        ngay_sinh: "2003-02-28".into(),
        noi_sinh: "xã Mỹ Hiệp, tỉnh Đồng Tháp".into(),
        que_quan: None,
        dan_toc: Some("Kinh".into()),
        quoc_tich: Some("Việt Nam".into()),
        cha: Some(NamedPerson {
            ho_ten: "Nguyễn Văn Hùng".into(),
            so_dinh_danh: Some("087075001234".into()),
        }),
        me: Some(NamedPerson {
            ho_ten: "Trần Thị Lan".into(),
            so_dinh_danh: None,
        }),
    }
}

fn spouse(name: &str, id: &str) -> Spouse {
    Spouse {
        ho_ten: name.into(),
        ngay_sinh: "1990-06-01".into(),
        so_dinh_danh: Some(id.into()),
        dan_toc: Some("H'Mông".into()),
        quoc_tich: Some("Việt Nam".into()),
        noi_cu_tru: Some("Thôn Đông, xã Yên Lạc, tỉnh Lào Cai".into()),
    }
}

fn marriage_record() -> MarriageRecord {
    MarriageRecord {
        so_dang_ky: "17".into(),
        quyen_so: Some("01/2015".into()),
        ngay_dang_ky: "2015-10-10".into(),
        noi_dang_ky: "UBND xã Yên Lạc, tỉnh Lào Cai".into(),
        chong: spouse("Vàng A Dình", "010090001111"),
        vo: spouse("Giàng Thị Mỷ", "010190002222"),
    }
}

fn death_record() -> DeathRecord {
    DeathRecord {
        so_dang_ky: "9".into(),
        quyen_so: None,
        ngay_dang_ky: "2024-01-05".into(),
        noi_dang_ky: "UBND phường Ba Đình, thành phố Hà Nội".into(),
        so_dinh_danh: Some("001045000123".into()),
        ho_ten: "Lê Văn Đức".into(),
        gioi_tinh: Some("Nam".into()),
        ngay_sinh: Some("1945-08-19".into()),
        dan_toc: None,
        quoc_tich: Some("Việt Nam".into()),
        noi_cu_tru_cuoi_cung: Some("Số 5 đường Bà Triệu, phường Ba Đình, thành phố Hà Nội".into()),
        ngay_chet: "2024-01-02".into(),
        gio_chet: Some("23:15".into()),
        noi_chet: "Bệnh viện Bạch Mai".into(),
        nguyen_nhan_chet: None,
        nguoi_di_khai: Some(Declarant {
            ho_ten: "Lê Thị Mai".into(),
            so_dinh_danh: None,
            quan_he: Some("Con".into()),
        }),
    }
}

fn enterprise() -> Enterprise {
    Enterprise {
        ma_doanh_nghiep: "0312345678".into(),
        ten_doanh_nghiep: "Công ty Cổ phần Thủy sản Phú Thịnh".into(),
        ten_tieng_anh: Some("Phu Thinh Seafood Joint Stock Company".into()),
        loai_hinh: "Công ty cổ phần".into(),
        ngay_thanh_lap: "2010-04-01".into(),
        dia_chi_tru_so: "Lô A12, Khu công nghiệp Trà Nóc, xã Mỹ Hiệp, tỉnh Đồng Tháp".into(),
        nguoi_dai_dien: Some(NamedPerson {
            ho_ten: "Huỳnh Minh Tuấn".into(),
            so_dinh_danh: Some("087080005555".into()),
        }),
        von_dieu_le: Some(15_000_000_000),
        trang_thai: "Đang hoạt động".into(),
        nganh_nghe_chinh: Some(
            "1020 - Chế biến, bảo quản thủy sản và các sản phẩm từ thủy sản".into(),
        ),
    }
}

fn household() -> SocialInsuranceHousehold {
    let member = |name: &str, id: &str, bhxh: &str, relation: &str| HouseholdMember {
        ho_ten: name.into(),
        so_dinh_danh: Some(id.into()),
        ma_so_bhxh: bhxh.into(),
        quan_he_voi_chu_ho: relation.into(),
        ngay_sinh: Some("1980-01-01".into()),
    };
    SocialInsuranceHousehold {
        ma_ho_gia_dinh: "8712345678".into(),
        chu_ho: NamedPerson {
            ho_ten: "Phạm Văn Sơn".into(),
            so_dinh_danh: Some("087080000001".into()),
        },
        dia_chi: "Ấp 2, xã Mỹ Hiệp, tỉnh Đồng Tháp".into(),
        thanh_vien: vec![
            member("Phạm Văn Sơn", "087080000001", "8700000001", "Chủ hộ"),
            member("Đỗ Thị Hạnh", "087182000002", "8700000002", "Vợ"),
        ],
    }
}

fn land_parcel() -> LandParcel {
    LandParcel {
        ma_thua_dat: "29875-12-345".into(),
        ma_don_vi_hanh_chinh: "29875".into(),
        so_to_ban_do: 12,
        so_thua_dat: 345,
        dia_chi: "Ấp 2, xã Mỹ Hiệp, tỉnh Đồng Tháp".into(),
        dien_tich: 1250.5,
        hinh_thuc_su_dung: Some("Sử dụng chung".into()),
        muc_dich_su_dung: vec![
            LandUse {
                ma_loai_dat: "ONT".into(),
                ten_loai_dat: Some("Đất ở tại nông thôn".into()),
                dien_tich: 300.0,
                thoi_han_su_dung: "Lâu dài".into(),
            },
            LandUse {
                ma_loai_dat: "CLN".into(),
                ten_loai_dat: None,
                dien_tich: 950.5,
                thoi_han_su_dung: "2064-10-15".into(),
            },
        ],
        nguon_goc_su_dung: Some("Công nhận quyền sử dụng đất".into()),
        nguoi_su_dung: vec![
            Party {
                loai: PartyKind::CaNhan,
                ho_ten: Some("Phạm Văn Sơn".into()),
                so_dinh_danh: Some("087080000001".into()),
                ten_to_chuc: None,
                ma_doanh_nghiep: None,
            },
            Party {
                loai: PartyKind::ToChuc,
                ho_ten: None,
                so_dinh_danh: None,
                ten_to_chuc: Some("Công ty TNHH Nông sản Đại Phát".into()),
                ma_doanh_nghiep: Some("1401234567-001".into()),
            },
        ],
        giay_chung_nhan: Some(LandCertificate {
            so_phat_hanh: "CS 123456".into(),
            so_vao_so: Some("CS01234".into()),
            ngay_cap: "2015-06-30".into(),
            co_quan_cap: "Sở Tài nguyên và Môi trường tỉnh Đồng Tháp".into(),
        }),
    }
}

fn criminal_record_request() -> CriminalRecordRequest {
    CriminalRecordRequest {
        ma_ho_so: "H29.01-2026-000123".into(),
        loai_phieu: 2,
        muc_dich_su_dung: "Bổ sung hồ sơ xin việc".into(),
        so_luong_phieu: 1,
        co_quan_tiep_nhan: "000.00.00.H29".into(),
        ngay_yeu_cau: "2026-11-20".into(),
        nguoi_yeu_cau: CertificateSubject {
            so_dinh_danh: "087203004567".into(),
            ho_ten: "Nguyễn Thị Hương".into(),
            ten_goi_khac: None,
            gioi_tinh: "Nữ".into(),
            ngay_sinh: "2003-02-28".into(),
            noi_sinh: "xã Mỹ Hiệp, tỉnh Đồng Tháp".into(),
            quoc_tich: "Việt Nam".into(),
            dan_toc: Some("Kinh".into()),
            noi_thuong_tru: None,
            noi_tam_tru: None,
            so_dien_thoai: Some("0912345678".into()),
            email: Some("huong@example.vn".into()),
        },
        cha: Some(Relative {
            ho_ten: "Nguyễn Văn Hùng".into(),
            so_dinh_danh: None,
            ngay_sinh: None,
        }),
        me: Some(Relative {
            ho_ten: "Trần Thị Lan".into(),
            so_dinh_danh: None,
            ngay_sinh: Some("1978-05-05".into()),
        }),
        vo_chong: None,
    }
}

fn criminal_record_status() -> CriminalRecordStatus {
    CriminalRecordStatus {
        ma_ho_so: "H29.01-2026-000123".into(),
        trang_thai: CriminalRecordState::DaCoKetQua,
        thoi_diem_cap_nhat: "2026-11-24T08:30:00+07:00".into(),
        co_quan_xu_ly: Some(Agency {
            ma_dinh_danh: "000.00.00.H29".into(),
            ten: Some("Sở Tư pháp".into()),
        }),
        ngay_tiep_nhan: Some("2026-11-20".into()),
        ngay_hen_tra: Some("2026-11-30".into()),
        so_phieu: Some("1234/LLTP".into()),
        ngay_cap_phieu: Some("2026-11-24".into()),
        ly_do: None,
    }
}

fn procedure_result() -> ProcedureResult {
    ProcedureResult {
        ma_ho_so: "H29.01-2026-000123".into(),
        ma_thu_tuc_hanh_chinh: "1.001612".into(),
        ten_thu_tuc_hanh_chinh: Some("Đăng ký khai sinh".into()),
        co_quan_cap: Agency {
            ma_dinh_danh: "000.00.01.H29".into(),
            ten: Some("UBND xã Mỹ Hiệp".into()),
        },
        chu_ho_so: Some(Party {
            loai: PartyKind::CaNhan,
            ho_ten: Some("Nguyễn Văn Hùng".into()),
            so_dinh_danh: Some("087075001234".into()),
            ten_to_chuc: None,
            ma_doanh_nghiep: None,
        }),
        ket_qua: ResultDocument {
            loai_giay_to: "Giấy khai sinh".into(),
            so_ky_hieu: "125/2026".into(),
            trich_yeu: None,
            nguoi_ky: Some("Lê Văn Tám".into()),
            tep_dinh_kem: vec![AttachedFile {
                ten_tep: "giay-khai-sinh.pdf".into(),
                duong_dan: "https://dichvucong.dongthap.gov.vn/ketqua/125.pdf".into(),
                kieu_du_lieu: "application/pdf".into(),
                kich_thuoc: Some(183_211),
                ma_bam: "a".repeat(64),
            }],
        },
        ngay_cap: "2026-11-24".into(),
        ngay_het_hieu_luc: None,
    }
}

#[test]
fn every_contract_compiles_and_is_found_by_name() {
    for name in ContractName::ALL {
        assert_eq!(contract(name).name(), name);
        assert_eq!(
            Contract::by_name(name.as_str()).map(Contract::name),
            Ok(name)
        );
        assert_eq!(ContractName::parse(&name.to_string()), Some(name));
        let schema: Value = serde_json::from_str(name.schema_text()).expect("JSON");
        assert_eq!(
            schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(schema["$id"], name.schema_id().as_str(), "{name}");
        assert!(schema["title"].is_string(), "{name}");
        let serde_name = serde_json::to_value(name).expect("serializes");
        assert_eq!(serde_name, name.as_str());
    }
    assert_eq!(
        Contract::by_name("vehicle").map(Contract::name),
        Err(ContractError::UnknownContract("vehicle".into()))
    );
}

#[test]
fn references_never_leave_the_embedded_schemas() {
    let registry = Registry::new()
        .add(
            format!("{SCHEMA_BASE}{}", SHARED_TYPES.0),
            serde_json::from_str::<Value>(SHARED_TYPES.1).expect("JSON"),
        )
        .and_then(|b| b.prepare())
        .expect("registry");
    // (The draft meta-schemas are compiled into the validator crate, so
    // `$schema` needs no retrieval either.)
    for target in [
        "http://127.0.0.1:9/evil.json",
        "https://lgsp.gov.vn/contracts/elsewhere.schema.json",
        "file:///etc/passwd",
        "missing.schema.json",
    ] {
        let schema = json!({"$id": "https://lgsp.gov.vn/contracts/x.schema.json", "$ref": target});
        assert!(build(&schema, &registry).is_err(), "{target} resolved");
    }
    let local = json!({
        "$id": "https://lgsp.gov.vn/contracts/x.schema.json",
        "$ref": "types.schema.json#/$defs/soDinhDanh"
    });
    let validator = build(&local, &registry).expect("local reference");
    assert!(validator.is_valid(&json!("001203004567")));
    assert!(!validator.is_valid(&json!("003203004567")));
}

#[test]
fn identifier_patterns_agree_with_the_identifier_types() {
    let types: Value = serde_json::from_str(SHARED_TYPES.1).expect("JSON");
    let validator_of = |def: &str| {
        let schema = types["$defs"][def].clone();
        jsonschema::draft202012::new(&schema).expect("compiles")
    };
    let personal_id = validator_of("soDinhDanh");
    for prefix in 0..1000 {
        let id = format!("{prefix:03}203004567");
        assert_eq!(
            personal_id.is_valid(&json!(id)),
            PersonalId::parse(&id).is_ok(),
            "{id}"
        );
    }
    for id in [
        "00120300456",
        "0012030045678",
        "00120300456a",
        "０01203004567",
        "001２03004567",
    ] {
        assert!(!personal_id.is_valid(&json!(id)), "{id}");
        assert!(PersonalId::parse(id).is_err(), "{id}");
    }
    let agency = validator_of("maDinhDanhCoQuan");
    let enterprise = validator_of("maDoanhNghiep");
    for code in [
        "000.00.00.H29",
        "000.00.00.G10",
        "H29",
        "000.00.00.h29",
        "000.00.00.H2",
        "00.000.00.H29",
        "000.00.00.H29.1",
        "000.00.00.Ê29",
        "000.00.00.H2９",
    ] {
        assert_eq!(
            agency.is_valid(&json!(code)),
            AgencyCode::parse(code).is_ok(),
            "{code}"
        );
    }
    for code in [
        "0312345678",
        "0312345678-001",
        "031234567",
        "0312345678-01",
        "0312345678001",
        "03123456७8",
    ] {
        assert_eq!(
            enterprise.is_valid(&json!(code)),
            EnterpriseCode::parse(code).is_ok(),
            "{code}"
        );
    }
    let procedure = validator_of("maThuTucHanhChinh");
    for ok in ["1.001612", "2.000986", "1.011442.000.00.00.H38"] {
        assert!(procedure.is_valid(&json!(ok)), "{ok}");
    }
    for bad in ["1001612", "1.00161", "1.011442.H38", "1.001612."] {
        assert!(!procedure.is_valid(&json!(bad)), "{bad}");
    }
}

#[test]
fn typed_records_validate_and_read_back() {
    round_trip(ContractName::Citizen, &citizen());
    round_trip(ContractName::BirthRecord, &birth_record());
    round_trip(ContractName::MarriageRecord, &marriage_record());
    round_trip(ContractName::DeathRecord, &death_record());
    round_trip(ContractName::Enterprise, &enterprise());
    round_trip(ContractName::SocialInsuranceHousehold, &household());
    round_trip(ContractName::LandParcel, &land_parcel());
    round_trip(
        ContractName::CriminalRecordRequest,
        &criminal_record_request(),
    );
    round_trip(
        ContractName::CriminalRecordStatus,
        &criminal_record_status(),
    );
    round_trip(ContractName::ProcedureResult, &procedure_result());
    // The smallest values the schemas accept are the types' required fields.
    let minimal = Citizen {
        noi_sinh: None,
        que_quan: None,
        dan_toc: None,
        ton_giao: None,
        quoc_tich: None,
        tinh_trang_hon_nhan: None,
        noi_thuong_tru: None,
        noi_o_hien_tai: None,
        ..citizen()
    };
    round_trip(ContractName::Citizen, &minimal);
    let orphan = BirthRecord {
        cha: None,
        me: None,
        so_dinh_danh: None,
        quyen_so: None,
        ..birth_record()
    };
    round_trip(ContractName::BirthRecord, &orphan);
}

#[test]
fn every_schema_member_is_a_field_of_its_type() {
    // A full value of each type names every property of its schema's top
    // level, so the types cannot silently miss a member the schema has.
    let full_citizen = serde_json::to_value(citizen()).expect("json");
    let full_birth = serde_json::to_value(BirthRecord {
        que_quan: Some("xã Tân Phú, tỉnh Đồng Tháp".into()),
        ..birth_record()
    })
    .expect("json");
    let full_death = serde_json::to_value(DeathRecord {
        dan_toc: Some("Kinh".into()),
        quyen_so: Some("01/2024".into()),
        nguyen_nhan_chet: Some("Bệnh".into()),
        ..death_record()
    })
    .expect("json");
    let cases = [
        (ContractName::Citizen, full_citizen),
        (ContractName::BirthRecord, full_birth),
        (
            ContractName::MarriageRecord,
            serde_json::to_value(marriage_record()).expect("json"),
        ),
        (ContractName::DeathRecord, full_death),
        (
            ContractName::Enterprise,
            serde_json::to_value(enterprise()).expect("json"),
        ),
        (
            ContractName::SocialInsuranceHousehold,
            serde_json::to_value(household()).expect("json"),
        ),
        (
            ContractName::LandParcel,
            serde_json::to_value(land_parcel()).expect("json"),
        ),
    ];
    for (name, value) in cases {
        let schema: Value = serde_json::from_str(name.schema_text()).expect("JSON");
        let properties = schema["properties"].as_object().expect("properties");
        let members = value.as_object().expect("object");
        let mut missing: Vec<_> = properties
            .keys()
            .filter(|k| !members.contains_key(*k))
            .collect();
        missing.sort();
        assert!(
            missing.is_empty(),
            "{name}: the type never writes {missing:?}"
        );
    }
}

#[test]
fn invalid_values_fail_at_the_offending_pointer() {
    let citizen = serde_json::to_value(citizen()).expect("json");
    let cases: [(ContractName, Value, &[&str]); 11] = [
        (
            ContractName::Citizen,
            with(&citizen, "/soDinhDanh", Some(json!("003203004567"))),
            &["/soDinhDanh"],
        ),
        (
            ContractName::Citizen,
            with(&citizen, "/hoTen", None),
            &["/hoTen"],
        ),
        (
            ContractName::Citizen,
            with(&citizen, "/ngaySinh", Some(json!("2003-02-30"))),
            &["/ngaySinh"],
        ),
        (
            ContractName::Citizen,
            with(&citizen, "/ngaySinh", Some(json!("28/02/2003"))),
            &["/ngaySinh", "/ngaySinh"],
        ),
        (
            ContractName::Citizen,
            with(&citizen, "/gioiTinh", Some(json!("nam"))),
            &["/gioiTinh"],
        ),
        (
            ContractName::Citizen,
            with(&citizen, "/maSoThue", Some(json!("x"))),
            &["/maSoThue"],
        ),
        (
            ContractName::Citizen,
            with(&citizen, "/hoTen", Some(json!(" Nguyễn"))),
            &["/hoTen"],
        ),
        (
            ContractName::SocialInsuranceHousehold,
            with(
                &serde_json::to_value(household()).expect("json"),
                "/thanhVien/1/maSoBhxh",
                Some(json!(8700000002u64)),
            ),
            &["/thanhVien/1/maSoBhxh"],
        ),
        (
            ContractName::LandParcel,
            with(
                &serde_json::to_value(land_parcel()).expect("json"),
                "/nguoiSuDung/0/hoTen",
                None,
            ),
            &["/nguoiSuDung/0/hoTen"],
        ),
        (
            ContractName::CriminalRecordRequest,
            with(
                &serde_json::to_value(criminal_record_request()).expect("json"),
                "/cha",
                None,
            ),
            &["/cha"],
        ),
        (
            ContractName::CriminalRecordStatus,
            with(
                &serde_json::to_value(criminal_record_status()).expect("json"),
                "/soPhieu",
                None,
            ),
            &["/soPhieu"],
        ),
    ];
    for (name, value, expected) in cases {
        assert_eq!(pointers(name, &value), expected, "{name}: {value}");
    }
}

#[test]
fn violations_are_sorted_deduplicated_and_never_quote_values() {
    let mut household = serde_json::to_value(household()).expect("json");
    let members = household["thanhVien"].as_array_mut().expect("array");
    let template = members[0].clone();
    members.extend((0..10).map(|_| template.clone()));
    for i in [10, 2, 9] {
        household["thanhVien"][i]["maSoBhxh"] = json!("secret-0123");
    }
    household["maHoGiaDinh"] = json!("087203004567x");
    let violations = contract(ContractName::SocialInsuranceHousehold)
        .validate(&household)
        .expect_err("invalid");
    let shown: Vec<_> = violations.iter().map(|v| v.pointer.as_str()).collect();
    assert_eq!(
        shown,
        [
            "/maHoGiaDinh",
            "/thanhVien/2/maSoBhxh",
            "/thanhVien/9/maSoBhxh",
            "/thanhVien/10/maSoBhxh"
        ]
    );
    for violation in &violations {
        assert_eq!(violation.keyword, "pattern");
        assert!(!violation.message.contains("secret"), "{violation}");
        assert!(!violation.message.contains("087203004567"), "{violation}");
    }
    let again = contract(ContractName::SocialInsuranceHousehold)
        .validate(&household)
        .expect_err("invalid");
    assert_eq!(again, violations);
    assert_eq!(
        violations[1].to_string().split(':').next(),
        Some("at /thanhVien/2/maSoBhxh")
    );
}

#[test]
fn requests_give_the_pointer_for_invalid_request() {
    let contract = contract(ContractName::CriminalRecordRequest);
    let body = serde_json::to_vec(&criminal_record_request()).expect("json");
    let value = contract.check_request(&body).expect("valid");
    assert_eq!(value["loaiPhieu"], 2);

    let mut broken = serde_json::to_value(criminal_record_request()).expect("json");
    broken["nguoiYeuCau"]["ngaySinh"] = json!("2003-13-01");
    let refusal = contract
        .check_request(&serde_json::to_vec(&broken).expect("json"))
        .expect_err("invalid");
    assert_eq!(refusal.pointer(), "/nguoiYeuCau/ngaySinh");
    assert_eq!(refusal.contract, ContractName::CriminalRecordRequest);
    let shown = refusal.to_string();
    assert!(
        shown.starts_with(
            "request does not match contract `criminal-record-request` at /nguoiYeuCau/ngaySinh: "
        ),
        "{shown}"
    );
    assert!(!shown.contains("2003-13-01"), "{shown}");

    let refusal = contract
        .check_request(b"{\"maHoSo\": ")
        .expect_err("not JSON");
    assert_eq!(refusal.pointer(), "");
    assert_eq!(refusal.violations[0].keyword, "json");
    assert!(
        refusal.to_string().contains("at /: not a JSON document"),
        "{refusal}"
    );
}

#[test]
fn problem_schema_matches_the_error_codes_and_the_gateway_body() {
    let schema: Value = serde_json::from_str(ContractName::Problem.schema_text()).expect("JSON");
    let listed: Vec<_> = schema["properties"]["code"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let codes: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, codes);
    for code in ErrorCode::ALL {
        let body = json!({
            "type": code.type_uri(),
            "title": code.title(),
            "status": code.status(),
            "detail": "chi tiết",
            "code": code,
            "request_id": "0192f0a1-7c3e-7000-8000-000000000001",
        });
        assert!(pointers(ContractName::Problem, &body).is_empty(), "{code}");
    }
    let invalid_request = json!({
        "type": ErrorCode::InvalidRequest.type_uri(),
        "title": ErrorCode::InvalidRequest.title(),
        "status": 400,
        "detail": "request does not match contract",
        "code": "INVALID_REQUEST",
        "request_id": "r-1",
        "audit_id": "a-1",
        "errors": [{ "pointer": "/nguoiYeuCau/ngaySinh", "detail": "is not a \"date\"" }]
    });
    assert!(pointers(ContractName::Problem, &invalid_request).is_empty());
    let unknown = with(&invalid_request, "/code", Some(json!("TEAPOT")));
    assert_eq!(pointers(ContractName::Problem, &unknown), ["/code"]);
}

#[test]
fn not_json_is_one_violation_at_the_root() {
    let violations = contract(ContractName::Enterprise)
        .validate_slice(b"{\"maDoanhNghiep\":\"03123")
        .expect_err("truncated");
    assert_eq!(violations.len(), 1);
    assert_eq!(
        (
            violations[0].pointer.as_str(),
            violations[0].keyword.as_str()
        ),
        ("", "json")
    );
    let value = contract(ContractName::Enterprise)
        .validate_slice(&serde_json::to_vec(&enterprise()).expect("json"))
        .expect("valid");
    assert_eq!(value["maDoanhNghiep"], "0312345678");
}
