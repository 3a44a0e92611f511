//! The civil-status database (Cơ sở dữ liệu hộ tịch điện tử): birth,
//! marriage and death records. Like the real service, the request and the answer are
//! JSON envelopes whose `duLieu` field carries an XML message.
//!
//! Messages are read by the adapters' XML reader (`crate::soap`), which
//! refuses DTDs outright (no entity expansion can happen) and bounds size,
//! depth and element count, because the gateway's tests feed it hostile input.

use std::io;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lgsp_contracts::PersonalId;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde::{Deserialize, Serialize};

use super::Simulator;
use super::dataset::{CitizenRecord, Dataset, Death, Marriage};
use super::replies;
use crate::soap::{XmlElement, XmlError, XmlLimits, read_xml};

/// Largest JSON envelope read from a request.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Largest XML message accepted in `duLieu`.
const MAX_XML_BYTES: usize = 16 * 1024;
/// Deepest element nesting accepted.
const MAX_XML_DEPTH: usize = 16;
/// Most elements accepted in one message.
const MAX_XML_ELEMENTS: usize = 256;

/// The root element of a lookup request.
const REQUEST_ROOT: &str = "YeuCauTraCuu";

/// Why an XML message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XmlRefusal {
    /// Larger than [`MAX_XML_BYTES`].
    TooLarge,
    /// Has a document type declaration.
    DocType,
    /// Nested deeper than [`MAX_XML_DEPTH`].
    TooDeep,
    /// More than [`MAX_XML_ELEMENTS`] elements.
    TooManyElements,
    /// References an entity other than the five predefined ones or a character.
    UnknownEntity,
    /// Not well-formed, not UTF-8, or without exactly one root element.
    Malformed,
}

impl XmlRefusal {
    /// The reason shown to the caller.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            XmlRefusal::TooLarge => "Dữ liệu XML vượt quá kích thước cho phép",
            XmlRefusal::DocType => "Dữ liệu XML không được chứa khai báo DOCTYPE/DTD",
            XmlRefusal::TooDeep => "Dữ liệu XML lồng quá sâu",
            XmlRefusal::TooManyElements => "Dữ liệu XML có quá nhiều phần tử",
            XmlRefusal::UnknownEntity => "Dữ liệu XML tham chiếu thực thể không hợp lệ",
            XmlRefusal::Malformed => "Dữ liệu XML không hợp lệ",
        }
    }
}

/// A flat view of an XML message: the root name and each leaf element's
/// slash-separated path (root included) with its unescaped text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XmlLeaves {
    pub root: String,
    pub leaves: Vec<(String, String)>,
}

impl XmlLeaves {
    /// The text of the only leaf at `path`; `None` when absent or repeated.
    pub(crate) fn single(&self, path: &str) -> Option<&str> {
        let mut found = self.leaves.iter().filter(|(p, _)| p == path);
        match (found.next(), found.next()) {
            (Some((_, text)), None) => Some(text),
            _ => None,
        }
    }
}

/// The bounds above, for the shared XML reader.
const LIMITS: XmlLimits = XmlLimits {
    max_bytes: MAX_XML_BYTES,
    max_depth: MAX_XML_DEPTH,
    max_elements: MAX_XML_ELEMENTS,
};

/// Reads an XML message into its leaves, within the bounds above, with the
/// same reader (and the same refusals) as the adapters' XML codec.
pub(crate) fn read_leaves(xml: &str) -> Result<XmlLeaves, XmlRefusal> {
    let root = read_xml(xml.as_bytes(), &LIMITS).map_err(|error| match error {
        XmlError::TooLarge { .. } => XmlRefusal::TooLarge,
        XmlError::DocType => XmlRefusal::DocType,
        XmlError::TooDeep { .. } => XmlRefusal::TooDeep,
        XmlError::TooManyElements { .. } => XmlRefusal::TooManyElements,
        XmlError::UnknownEntity(_) => XmlRefusal::UnknownEntity,
        XmlError::Encoding(_) | XmlError::Malformed(_) => XmlRefusal::Malformed,
    })?;
    let mut leaves = Vec::new();
    collect_leaves(&root, "", &mut leaves);
    Ok(XmlLeaves {
        root: root.name,
        leaves,
    })
}

/// Each leaf under `element` with its slash-separated path; the tree's
/// depth is bounded by [`MAX_XML_DEPTH`], so recursion is too.
fn collect_leaves(element: &XmlElement, parent: &str, leaves: &mut Vec<(String, String)>) {
    let path = if parent.is_empty() {
        element.name.clone()
    } else {
        format!("{parent}/{}", element.name)
    };
    if element.children.is_empty() {
        leaves.push((path, element.text.clone()));
    } else {
        for child in &element.children {
            collect_leaves(child, &path, leaves);
        }
    }
}

/// The personal ID asked for in a `<YeuCauTraCuu>` message.
fn requested_personal_id(xml: &str) -> Result<String, &'static str> {
    let message = read_leaves(xml).map_err(|refusal| refusal.message())?;
    if message.root != REQUEST_ROOT {
        return Err("Dữ liệu XML phải có phần tử gốc YeuCauTraCuu");
    }
    message
        .single("YeuCauTraCuu/soDinhDanh")
        .map(|id| id.trim().to_owned())
        .ok_or("Dữ liệu XML phải có đúng một phần tử soDinhDanh")
}

/// The JSON envelope of a lookup.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CivilStatusQuery {
    loai_ban_ghi: String,
    du_lieu: String,
}

/// The JSON envelope of an answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CivilStatusAnswer {
    ma_ket_qua: &'static str,
    mo_ta: &'static str,
    du_lieu: String,
}

/// The kinds of record the service answers.
#[derive(Debug, Clone, Copy)]
enum RecordKind {
    Birth,
    Marriage,
    Death,
}

/// `POST /civil-status/v1/records`.
pub(crate) async fn records(State(simulator): State<Simulator>, body: Body) -> Response {
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return replies::data_incorrect("Yêu cầu quá lớn hoặc không đọc được");
    };
    let Ok(query) = serde_json::from_slice::<CivilStatusQuery>(&body) else {
        return replies::data_incorrect("Yêu cầu phải là JSON có loaiBanGhi và duLieu");
    };
    let kind = match query.loai_ban_ghi.as_str() {
        "khaiSinh" => RecordKind::Birth,
        "ketHon" => RecordKind::Marriage,
        "khaiTu" => RecordKind::Death,
        _ => return replies::data_incorrect("loaiBanGhi phải là khaiSinh, ketHon hoặc khaiTu"),
    };
    let so_dinh_danh = match requested_personal_id(&query.du_lieu) {
        Ok(id) => id,
        Err(reason) => return replies::data_incorrect(reason),
    };
    if PersonalId::parse(&so_dinh_danh).is_err() {
        return replies::bad_personal_id();
    }
    let dataset = &simulator.dataset;
    let Some(record) = dataset.citizen(&so_dinh_danh) else {
        return replies::record_not_found();
    };
    let xml = match kind {
        RecordKind::Birth => birth_xml(record),
        RecordKind::Marriage => match dataset.marriage_of(record) {
            Some(marriage) => marriage_xml(dataset, marriage),
            None => return replies::record_not_found(),
        },
        RecordKind::Death => match dataset.death_of(&so_dinh_danh) {
            Some(death) => death_xml(dataset, record, death),
            None => return replies::record_not_found(),
        },
    };
    match xml {
        Ok(du_lieu) => replies::json(
            StatusCode::OK,
            &CivilStatusAnswer {
                ma_ket_qua: "00",
                mo_ta: "Thành công",
                du_lieu,
            },
        ),
        Err(_) => replies::lgsp_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Không tạo được dữ liệu XML",
        ),
    }
}

/// Writes `<name>text</name>`, escaping the text.
fn leaf(writer: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    writer
        .create_element(name)
        .write_text_content(BytesText::new(text))?;
    Ok(())
}

/// A document with an XML declaration and one root element.
fn document(
    root: &str,
    content: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>,
) -> io::Result<String> {
    let mut writer = Writer::new(Vec::with_capacity(1024));
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer.create_element(root).write_inner_content(content)?;
    String::from_utf8(writer.into_inner()).map_err(io::Error::other)
}

/// The `<KhaiSinh>` message of a citizen.
fn birth_xml(record: &CitizenRecord) -> io::Result<String> {
    let citizen = &record.citizen;
    let birth = &record.birth;
    document("KhaiSinh", |w| {
        leaf(w, "soDangKy", &birth.so_dang_ky)?;
        leaf(w, "quyenSo", &birth.quyen_so)?;
        leaf(w, "ngayDangKy", &birth.ngay_dang_ky)?;
        leaf(w, "noiDangKy", &birth.noi_dang_ky)?;
        leaf(w, "soDinhDanh", &citizen.so_dinh_danh)?;
        leaf(w, "hoTen", &citizen.ho_ten)?;
        leaf(w, "gioiTinh", citizen.gioi_tinh)?;
        leaf(w, "ngaySinh", &citizen.ngay_sinh)?;
        leaf(w, "noiSinh", &citizen.noi_sinh)?;
        leaf(w, "queQuan", &citizen.que_quan)?;
        leaf(w, "danToc", citizen.dan_toc)?;
        leaf(w, "quocTich", citizen.quoc_tich)?;
        leaf(w, "chaHoTen", &birth.father.ho_ten)?;
        if let Some(id) = &birth.father.so_dinh_danh {
            leaf(w, "chaSoDinhDanh", id)?;
        }
        leaf(w, "meHoTen", &birth.mother.ho_ten)?;
        if let Some(id) = &birth.mother.so_dinh_danh {
            leaf(w, "meSoDinhDanh", id)?;
        }
        Ok(())
    })
}

/// The `<KetHon>` message of a marriage, naming both spouses.
fn marriage_xml(dataset: &Dataset, marriage: &Marriage) -> io::Result<String> {
    let spouses = dataset
        .citizen_at(marriage.husband)
        .zip(dataset.citizen_at(marriage.wife));
    let Some((husband, wife)) = spouses else {
        return Err(io::Error::other(
            "marriage names a citizen outside the dataset",
        ));
    };
    document("KetHon", |w| {
        leaf(w, "soDangKy", &marriage.so_dang_ky)?;
        leaf(w, "quyenSo", &marriage.quyen_so)?;
        leaf(w, "ngayDangKy", &marriage.ngay_dang_ky)?;
        leaf(w, "noiDangKy", &marriage.noi_dang_ky)?;
        for (prefix, spouse) in [("chong", husband), ("vo", wife)] {
            let c = &spouse.citizen;
            leaf(w, &format!("{prefix}HoTen"), &c.ho_ten)?;
            leaf(w, &format!("{prefix}NgaySinh"), &c.ngay_sinh)?;
            leaf(w, &format!("{prefix}SoDinhDanh"), &c.so_dinh_danh)?;
            leaf(w, &format!("{prefix}DanToc"), c.dan_toc)?;
            leaf(w, &format!("{prefix}QuocTich"), c.quoc_tich)?;
            leaf(w, &format!("{prefix}NoiCuTru"), &c.noi_thuong_tru)?;
        }
        Ok(())
    })
}

/// The `<KhaiTu>` message of a deceased citizen, naming the declarant.
fn death_xml(dataset: &Dataset, record: &CitizenRecord, death: &Death) -> io::Result<String> {
    let Some(declarant) = dataset.citizen_at(death.declarant) else {
        return Err(io::Error::other(
            "death names a declarant outside the dataset",
        ));
    };
    let citizen = &record.citizen;
    document("KhaiTu", |w| {
        leaf(w, "soDangKy", &death.so_dang_ky)?;
        leaf(w, "quyenSo", &death.quyen_so)?;
        leaf(w, "ngayDangKy", &death.ngay_dang_ky)?;
        leaf(w, "noiDangKy", &death.noi_dang_ky)?;
        leaf(w, "soDinhDanh", &citizen.so_dinh_danh)?;
        leaf(w, "hoTen", &citizen.ho_ten)?;
        leaf(w, "gioiTinh", citizen.gioi_tinh)?;
        leaf(w, "ngaySinh", &citizen.ngay_sinh)?;
        leaf(w, "danToc", citizen.dan_toc)?;
        leaf(w, "quocTich", citizen.quoc_tich)?;
        leaf(w, "noiCuTruCuoiCung", &citizen.noi_thuong_tru)?;
        leaf(w, "ngayChet", &death.ngay_chet)?;
        leaf(w, "gioChet", &death.gio_chet)?;
        leaf(w, "noiChet", &death.noi_chet)?;
        leaf(w, "nguyenNhanChet", death.nguyen_nhan_chet)?;
        leaf(w, "nguoiDiKhaiHoTen", &declarant.citizen.ho_ten)?;
        leaf(w, "nguoiDiKhaiSoDinhDanh", &declarant.citizen.so_dinh_danh)?;
        leaf(w, "nguoiDiKhaiQuanHe", death.quan_he)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_leaves_with_entities_cdata_and_diacritics() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <a><b>Nguyễn &amp; &#x1EC7;&apos;</b><c><d><![CDATA[<Đỗ>]]></d><e/></c></a>"#;
        let message = read_leaves(xml).expect("well-formed");
        assert_eq!(message.root, "a");
        assert_eq!(message.single("a/b"), Some("Nguyễn & ệ'"));
        assert_eq!(message.single("a/c/d"), Some("<Đỗ>"));
        assert_eq!(message.single("a/c/e"), Some(""));
    }

    #[test]
    fn writer_escapes_and_reader_restores() {
        let tricky = "Hồ <Thị> & \"Ánh\" H'Mông";
        let xml = document("R", |w| leaf(w, "x", tricky)).expect("writes");
        assert!(
            xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><R>"#),
            "{xml}"
        );
        assert_eq!(
            read_leaves(&xml).expect("reads").single("R/x"),
            Some(tricky)
        );
    }

    #[test]
    fn refuses_hostile_or_broken_xml() {
        let doctype = r#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#;
        assert_eq!(read_leaves(doctype), Err(XmlRefusal::DocType));
        assert_eq!(read_leaves("<a>&x;</a>"), Err(XmlRefusal::UnknownEntity));
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(read_leaves(&deep), Err(XmlRefusal::TooDeep));
        let wide = format!("<a>{}</a>", "<b/>".repeat(300));
        assert_eq!(read_leaves(&wide), Err(XmlRefusal::TooManyElements));
        let big = format!("<a>{}</a>", "x".repeat(MAX_XML_BYTES));
        assert_eq!(read_leaves(&big), Err(XmlRefusal::TooLarge));
        for broken in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "text",
            "<a></a>trailing",
            "</a>",
        ] {
            assert_eq!(
                read_leaves(broken),
                Err(XmlRefusal::Malformed),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn request_needs_root_and_one_id() {
        let ok = "<YeuCauTraCuu><soDinhDanh> 001203004567 </soDinhDanh></YeuCauTraCuu>";
        assert_eq!(requested_personal_id(ok), Ok("001203004567".to_owned()));
        assert!(requested_personal_id("<Khac><soDinhDanh>1</soDinhDanh></Khac>").is_err());
        let twice =
            "<YeuCauTraCuu><soDinhDanh>1</soDinhDanh><soDinhDanh>2</soDinhDanh></YeuCauTraCuu>";
        assert!(requested_personal_id(twice).is_err());
        assert!(requested_personal_id("<YeuCauTraCuu/>").is_err());
    }
}
