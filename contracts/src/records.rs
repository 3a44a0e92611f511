//! Rust types of the canonical national data, written to match the schemas
//! in `contracts/schemas/` member for member (the tests check them against
//! the schemas in both directions).
//!
//! Identifiers and dates are plain strings here: a value read from an
//! upstream is checked by [`crate::schemas::Contract::validate`], which gives
//! the pointer of what is wrong, where a typed field would only fail to
//! deserialize. Optional members are left out when `None`, as the schemas'
//! closed objects expect.

use serde::{Deserialize, Serialize};

/// A citizen of the population database (`citizen.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Citizen {
    /// Personal ID, 12 digits.
    pub so_dinh_danh: String,
    /// Full name.
    pub ho_ten: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub ngay_sinh: String,
    /// `Nam` or `Nữ`.
    pub gioi_tinh: String,
    /// Place of birth registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noi_sinh: Option<String>,
    /// Home town.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub que_quan: Option<String>,
    /// Ethnicity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dan_toc: Option<String>,
    /// Religion (`Không` for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ton_giao: Option<String>,
    /// Nationality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoc_tich: Option<String>,
    /// Marital status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tinh_trang_hon_nhan: Option<String>,
    /// Permanent residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noi_thuong_tru: Option<String>,
    /// Current residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noi_o_hien_tai: Option<String>,
}

/// A person named on a record, with their ID when known (`nguoiLienQuan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamedPerson {
    /// Full name.
    pub ho_ten: String,
    /// Personal ID, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
}

/// An agency by its electronic identifier code (`coQuan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Agency {
    /// Agency code, e.g. `000.00.00.H29`.
    pub ma_dinh_danh: String,
    /// Agency name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ten: Option<String>,
}

/// A birth registration (`birth-record.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BirthRecord {
    /// Number in the register book.
    pub so_dang_ky: String,
    /// Register book, e.g. `01/2020`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quyen_so: Option<String>,
    /// Day of registration.
    pub ngay_dang_ky: String,
    /// The registering People's Committee.
    pub noi_dang_ky: String,
    /// Personal ID of the registered person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
    /// Full name of the registered person.
    pub ho_ten: String,
    /// `Nam` or `Nữ`.
    pub gioi_tinh: String,
    /// Date of birth.
    pub ngay_sinh: String,
    /// Place of birth.
    pub noi_sinh: String,
    /// Home town.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub que_quan: Option<String>,
    /// Ethnicity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dan_toc: Option<String>,
    /// Nationality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoc_tich: Option<String>,
    /// The father, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cha: Option<NamedPerson>,
    /// The mother, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<NamedPerson>,
}

/// One party to a marriage (`benKetHon`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spouse {
    /// Full name.
    pub ho_ten: String,
    /// Date of birth.
    pub ngay_sinh: String,
    /// Personal ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
    /// Ethnicity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dan_toc: Option<String>,
    /// Nationality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoc_tich: Option<String>,
    /// Residence at the time of marriage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noi_cu_tru: Option<String>,
}

/// A marriage registration (`marriage-record.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarriageRecord {
    /// Number in the register book.
    pub so_dang_ky: String,
    /// Register book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quyen_so: Option<String>,
    /// Day of registration.
    pub ngay_dang_ky: String,
    /// The registering People's Committee.
    pub noi_dang_ky: String,
    /// The husband.
    pub chong: Spouse,
    /// The wife.
    pub vo: Spouse,
}

/// Who declared a death.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Declarant {
    /// Full name.
    pub ho_ten: String,
    /// Personal ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
    /// Relation to the deceased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quan_he: Option<String>,
}

/// A death registration (`death-record.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeathRecord {
    /// Number in the register book.
    pub so_dang_ky: String,
    /// Register book.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quyen_so: Option<String>,
    /// Day of registration.
    pub ngay_dang_ky: String,
    /// The registering People's Committee.
    pub noi_dang_ky: String,
    /// Personal ID of the deceased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
    /// Full name of the deceased.
    pub ho_ten: String,
    /// `Nam` or `Nữ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gioi_tinh: Option<String>,
    /// Date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngay_sinh: Option<String>,
    /// Ethnicity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dan_toc: Option<String>,
    /// Nationality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoc_tich: Option<String>,
    /// Last place of residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noi_cu_tru_cuoi_cung: Option<String>,
    /// Day of death.
    pub ngay_chet: String,
    /// Hour of death, `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gio_chet: Option<String>,
    /// Place of death.
    pub noi_chet: String,
    /// Cause of death.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nguyen_nhan_chet: Option<String>,
    /// Who declared the death.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nguoi_di_khai: Option<Declarant>,
}

/// An enterprise of the business registration database (`enterprise.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Enterprise {
    /// Enterprise code.
    pub ma_doanh_nghiep: String,
    /// Vietnamese name.
    pub ten_doanh_nghiep: String,
    /// English name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ten_tieng_anh: Option<String>,
    /// Legal form.
    pub loai_hinh: String,
    /// Day of founding.
    pub ngay_thanh_lap: String,
    /// Head-office address.
    pub dia_chi_tru_so: String,
    /// Legal representative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nguoi_dai_dien: Option<NamedPerson>,
    /// Charter capital in đồng.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub von_dieu_le: Option<u64>,
    /// Status.
    pub trang_thai: String,
    /// Main line of business.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nganh_nghe_chinh: Option<String>,
}

/// A member of a social-insurance household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HouseholdMember {
    /// Full name.
    pub ho_ten: String,
    /// Personal ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
    /// Social-insurance number.
    pub ma_so_bhxh: String,
    /// Relation to the head of the household.
    pub quan_he_voi_chu_ho: String,
    /// Date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngay_sinh: Option<String>,
}

/// A household of the social-insurance database (`social-insurance-household.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SocialInsuranceHousehold {
    /// Household code.
    pub ma_ho_gia_dinh: String,
    /// Head of the household.
    pub chu_ho: NamedPerson,
    /// Address.
    pub dia_chi: String,
    /// Members, the head first.
    pub thanh_vien: Vec<HouseholdMember>,
}

/// The area of a parcel under one land-use purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandUse {
    /// Land-type code (`ONT`, `CLN`…).
    pub ma_loai_dat: String,
    /// Land-type name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ten_loai_dat: Option<String>,
    /// Area in square metres.
    pub dien_tich: f64,
    /// `Lâu dài` or the last day of use.
    pub thoi_han_su_dung: String,
}

/// Whether a party is a person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PartyKind {
    /// A person (`caNhan`).
    CaNhan,
    /// An organisation (`toChuc`).
    ToChuc,
}

/// A person or an organisation holding a right or a dossier (`chuThe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Party {
    /// Person or organisation.
    pub loai: PartyKind,
    /// A person's full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ho_ten: Option<String>,
    /// A person's ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
    /// An organisation's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ten_to_chuc: Option<String>,
    /// An organisation's enterprise code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ma_doanh_nghiep: Option<String>,
}

/// A land-use right certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandCertificate {
    /// Printed serial, e.g. `CS 123456`.
    pub so_phat_hanh: String,
    /// Entry in the certificate register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_vao_so: Option<String>,
    /// Day of issue.
    pub ngay_cap: String,
    /// Issuing body.
    pub co_quan_cap: String,
}

/// A land parcel (`land-parcel.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LandParcel {
    /// Parcel code: commune code, map sheet and parcel number.
    pub ma_thua_dat: String,
    /// Commune code, 5 digits.
    pub ma_don_vi_hanh_chinh: String,
    /// Map sheet number.
    pub so_to_ban_do: u32,
    /// Parcel number.
    pub so_thua_dat: u32,
    /// Address of the parcel.
    pub dia_chi: String,
    /// Area in square metres.
    pub dien_tich: f64,
    /// Used by one holder alone or jointly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinh_thuc_su_dung: Option<String>,
    /// Area by land-use purpose.
    pub muc_dich_su_dung: Vec<LandUse>,
    /// How the right was obtained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nguon_goc_su_dung: Option<String>,
    /// Holders of the right.
    pub nguoi_su_dung: Vec<Party>,
    /// The certificate issued for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub giay_chung_nhan: Option<LandCertificate>,
}

/// A relative named on a criminal-record request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Relative {
    /// Full name.
    pub ho_ten: String,
    /// Personal ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dinh_danh: Option<String>,
    /// Date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngay_sinh: Option<String>,
}

/// The person a criminal-record certificate is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateSubject {
    /// Personal ID.
    pub so_dinh_danh: String,
    /// Full name.
    pub ho_ten: String,
    /// Other name used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ten_goi_khac: Option<String>,
    /// `Nam` or `Nữ`.
    pub gioi_tinh: String,
    /// Date of birth.
    pub ngay_sinh: String,
    /// Place of birth.
    pub noi_sinh: String,
    /// Nationality.
    pub quoc_tich: String,
    /// Ethnicity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dan_toc: Option<String>,
    /// Permanent residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noi_thuong_tru: Option<String>,
    /// Temporary residence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noi_tam_tru: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_dien_thoai: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A request for a criminal-record certificate (`criminal-record-request.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CriminalRecordRequest {
    /// Dossier number.
    pub ma_ho_so: String,
    /// Certificate no. 1 or no. 2.
    pub loai_phieu: u8,
    /// What the certificate is for.
    pub muc_dich_su_dung: String,
    /// How many copies.
    pub so_luong_phieu: u8,
    /// Receiving agency's code.
    pub co_quan_tiep_nhan: String,
    /// Day of the request.
    pub ngay_yeu_cau: String,
    /// The person the certificate is about.
    pub nguoi_yeu_cau: CertificateSubject,
    /// Father (required for certificate no. 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cha: Option<Relative>,
    /// Mother (required for certificate no. 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub me: Option<Relative>,
    /// Spouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vo_chong: Option<Relative>,
}

/// Where a criminal-record request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CriminalRecordState {
    /// Received.
    TiepNhan,
    /// Being processed.
    DangXuLy,
    /// More papers are needed.
    BoSungHoSo,
    /// The certificate is ready.
    DaCoKetQua,
    /// The certificate was handed over.
    DaTraKetQua,
    /// Refused.
    TuChoi,
}

/// The status of a criminal-record request (`criminal-record-status.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CriminalRecordStatus {
    /// Dossier number.
    pub ma_ho_so: String,
    /// Where it stands.
    pub trang_thai: CriminalRecordState,
    /// When it last changed (RFC 3339).
    pub thoi_diem_cap_nhat: String,
    /// The processing agency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub co_quan_xu_ly: Option<Agency>,
    /// Day received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngay_tiep_nhan: Option<String>,
    /// Day promised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngay_hen_tra: Option<String>,
    /// Certificate number, once issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub so_phieu: Option<String>,
    /// Day issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngay_cap_phieu: Option<String>,
    /// Reason for a refusal or a request for papers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ly_do: Option<String>,
}

/// A file of a result document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachedFile {
    /// File name.
    pub ten_tep: String,
    /// Where the signed file can be fetched (https).
    pub duong_dan: String,
    /// Media type.
    pub kieu_du_lieu: String,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kich_thuoc: Option<u64>,
    /// SHA-256, lowercase hex.
    pub ma_bam: String,
}

/// The document a procedure resulted in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResultDocument {
    /// Kind of paper.
    pub loai_giay_to: String,
    /// Number and symbol, e.g. `123/QĐ-UBND`.
    pub so_ky_hieu: String,
    /// Summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trich_yeu: Option<String>,
    /// Signatory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nguoi_ky: Option<String>,
    /// The signed files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tep_dinh_kem: Vec<AttachedFile>,
}

/// The result of an administrative procedure (`procedure-result.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProcedureResult {
    /// Dossier number.
    pub ma_ho_so: String,
    /// Procedure code.
    pub ma_thu_tuc_hanh_chinh: String,
    /// Procedure name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ten_thu_tuc_hanh_chinh: Option<String>,
    /// The issuing agency.
    pub co_quan_cap: Agency,
    /// Who the dossier is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chu_ho_so: Option<Party>,
    /// The result document.
    pub ket_qua: ResultDocument,
    /// Day of issue.
    pub ngay_cap: String,
    /// Day it stops being valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngay_het_hieu_luc: Option<String>,
}
