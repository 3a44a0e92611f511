//! Tests of the SOAP/XML codec: envelopes of both versions, namespace
//! handling by URI, faults, the XML-inside-JSON binding, the mapping checks,
//! and hostile or broken input.

use std::io::{BufReader, Read};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::*;

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const DN: &str = "urn:lgsp:dkkd:doanhnghiep:v1";
const BH: &str = "urn:lgsp:bhxh:hogiadinh:v1";

fn mapping(name: &str) -> Mapping {
    Mapping::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn limits() -> XmlLimits {
    XmlLimits::default()
}

fn text(message: &EncodedMessage) -> &str {
    std::str::from_utf8(&message.body).expect("UTF-8")
}

fn enterprise_json() -> Value {
    json!({
        "maDoanhNghiep": "0312345678",
        "tenDoanhNghiep": "Công ty TNHH Thương mại <Hưng & Phát> \"Việt\"",
        "tenTiengAnh": "Hung Phat Trading Company Limited",
        "loaiHinh": "Công ty TNHH hai thành viên trở lên",
        "ngayThanhLap": "2010-04-01",
        "diaChiTruSo": "Số 12 đường Lê Lợi, Phường Điện Biên, Quận Ba Đình, thành phố Hà Nội",
        "nguoiDaiDien": { "hoTen": "Nguyễn Thị Hương", "soDinhDanh": "001190004567" },
        "vonDieuLe": 15000000000u64,
        "trangThai": "Đang hoạt động",
        "nganhNgheChinh": "4690 - Bán buôn tổng hợp"
    })
}

fn household_json() -> Value {
    json!({
        "maHoGiaDinh": "8712345678",
        "chuHo": { "hoTen": "Phạm Văn Sơn", "soDinhDanh": "087080000001" },
        "diaChi": "Ấp 2, xã Mỹ Hiệp, tỉnh Đồng Tháp",
        "thanhVien": [
            { "hoTen": "Phạm Văn Sơn", "soDinhDanh": "087080000001", "maSoBhxh": "8700000001",
              "quanHeVoiChuHo": "Chủ hộ", "ngaySinh": "1980-01-01" },
            { "hoTen": "Đỗ Thị Hạnh", "maSoBhxh": "8700000002", "quanHeVoiChuHo": "Vợ" },
            { "hoTen": "Phạm Ngọc Hương", "soDinhDanh": "087318000003", "maSoBhxh": "8700000003",
              "quanHeVoiChuHo": "Con", "ngaySinh": "2018-02-28" }
        ]
    })
}

#[test]
fn every_builtin_mapping_loads() {
    for file in lgsp_contracts::mappings::BUILTIN {
        let mapping = mapping(file.name);
        assert_eq!(mapping.name.as_str(), file.name);
        assert!(mapping.response.contract.is_some(), "{}", file.name);
    }
    assert_eq!(
        Mapping::builtin("land"),
        Err(MappingError::Unknown("land".into()))
    );
}

#[test]
fn soap_11_request_has_envelope_headers_and_escaped_text() {
    let mapping = mapping("enterprise-lookup");
    let request = mapping
        .encode_request(&json!({"maDoanhNghiep": "0312345678"}))
        .expect("encodes");
    assert_eq!(request.content_type, "text/xml; charset=utf-8");
    assert_eq!(
        request.soap_action.as_deref(),
        Some("\"urn:lgsp:dkkd:doanhnghiep:v1#TraCuuDoanhNghiep\"")
    );
    assert_eq!(
        text(&request),
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:dn="urn:lgsp:dkkd:doanhnghiep:v1">"#,
            r#"<soapenv:Body><dn:TraCuuDoanhNghiep><dn:maDoanhNghiep>0312345678</dn:maDoanhNghiep>"#,
            r#"</dn:TraCuuDoanhNghiep></soapenv:Body></soapenv:Envelope>"#
        )
    );
    // The server side reads back what the client wrote.
    assert_eq!(
        mapping.decode_request(&request.body, &limits()),
        Ok(json!({"maDoanhNghiep": "0312345678"}))
    );
    // Text is escaped, and diacritics pass through unchanged.
    let answer = mapping
        .encode_response(&enterprise_json())
        .expect("encodes");
    let xml = text(&answer);
    assert!(
        xml.contains("<dn:tenDoanhNghiep>Công ty TNHH Thương mại &lt;Hưng &amp; Phát&gt; &quot;Việt&quot;</dn:tenDoanhNghiep>"),
        "{xml}"
    );
    assert!(
        xml.contains("<dn:nguoiDaiDien><dn:hoTen>Nguyễn Thị Hương</dn:hoTen><dn:soDinhDanh>001190004567</dn:soDinhDanh></dn:nguoiDaiDien>"),
        "{xml}"
    );
    assert_eq!(
        mapping.decode_response(&answer.body, &limits()),
        Ok(enterprise_json())
    );
}

#[test]
fn soap_12_round_trips_repeated_members() {
    let mapping = mapping("social-insurance-household");
    let request = mapping
        .encode_request(&json!({"soDinhDanh": "087080000001"}))
        .expect("encodes");
    assert_eq!(
        request.content_type,
        "application/soap+xml; charset=utf-8; action=\"urn:lgsp:bhxh:hogiadinh:v1#TraCuuHoGiaDinh\""
    );
    assert_eq!(request.soap_action, None);
    let envelope = read_xml(&request.body, &limits()).expect("well-formed");
    assert!(envelope.is(Some(SOAP12), "Envelope"));
    let answer = mapping.encode_response(&household_json()).expect("encodes");
    assert_eq!(answer.content_type, "application/soap+xml; charset=utf-8");
    let xml = text(&answer);
    assert_eq!(xml.matches("<bh:thanhVien>").count(), 3, "{xml}");
    assert_eq!(xml.matches("<bh:danhSachThanhVien>").count(), 1, "{xml}");
    assert_eq!(
        mapping.decode_response(&answer.body, &limits()),
        Ok(household_json())
    );
}

#[test]
fn namespaces_match_by_uri_not_prefix() {
    let mapping = mapping("enterprise-lookup");
    let expected = json!({
        "maDoanhNghiep": "0312345678",
        "tenDoanhNghiep": "Công ty Cổ phần Thủy sản Phú Thịnh",
        "nguoiDaiDien": { "hoTen": "Nguyễn Thị Hương" },
        "vonDieuLe": 2000000000
    });
    let payload = |p: &str| {
        format!(
            "<{p}maDoanhNghiep> 0312345678 </{p}maDoanhNghiep>\
             <{p}tenDoanhNghiep>Công ty Cổ phần Thủy sản Phú Thịnh</{p}tenDoanhNghiep>\
             <{p}nguoiDaiDien><{p}hoTen>Nguyễn Thị Hương</{p}hoTen></{p}nguoiDaiDien>\
             <{p}vonDieuLe>2000000000</{p}vonDieuLe>"
        )
    };
    let variants = [
        // Other prefixes than the mapping's.
        format!(
            r#"<S:Envelope xmlns:S="{SOAP11}" xmlns:x="{DN}"><S:Header/><S:Body><x:TraCuuDoanhNghiepResponse><x:doanhNghiep>{}</x:doanhNghiep></x:TraCuuDoanhNghiepResponse></S:Body></S:Envelope>"#,
            payload("x:")
        ),
        // A default namespace for the payload, declared on the operation element.
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><TraCuuDoanhNghiepResponse xmlns="{DN}"><doanhNghiep>{}</doanhNghiep></TraCuuDoanhNghiepResponse></soap:Body></soap:Envelope>"#,
            payload("")
        ),
        // The default namespace is the envelope's, the payload prefixed; a
        // prefix rebound deeper down.
        format!(
            r#"<Envelope xmlns="{SOAP11}"><Body><a:TraCuuDoanhNghiepResponse xmlns:a="{DN}"><b:doanhNghiep xmlns:b="{DN}" xmlns:a="urn:other">{}</b:doanhNghiep></a:TraCuuDoanhNghiepResponse></Body></Envelope>"#,
            payload("b:")
        ),
    ];
    for xml in variants {
        assert_eq!(
            mapping.decode_response(xml.as_bytes(), &limits()),
            Ok(expected.clone()),
            "{xml}"
        );
    }
    // Same local names in the wrong namespace are not the mapped elements.
    let wrong = format!(
        r#"<s:Envelope xmlns:s="{SOAP11}"><s:Body><dn:TraCuuDoanhNghiepResponse xmlns:dn="urn:other"><dn:doanhNghiep/></dn:TraCuuDoanhNghiepResponse></s:Body></s:Envelope>"#
    );
    assert!(matches!(
        mapping.decode_response(wrong.as_bytes(), &limits()),
        Err(CodecError::UnexpectedElement { .. })
    ));
    let unqualified = format!(
        r#"<s:Envelope xmlns:s="{SOAP11}"><s:Body><x:TraCuuDoanhNghiepResponse xmlns:x="{DN}"><x:doanhNghiep><maDoanhNghiep>0312345678</maDoanhNghiep></x:doanhNghiep></x:TraCuuDoanhNghiepResponse></s:Body></s:Envelope>"#
    );
    assert_eq!(
        mapping.decode_response(unqualified.as_bytes(), &limits()),
        Err(CodecError::Element {
            path: "dn:TraCuuDoanhNghiepResponse/dn:doanhNghiep/dn:maDoanhNghiep".into(),
            reason: "is required but missing".into()
        })
    );
}

#[test]
fn faults_of_both_versions_become_typed_errors() {
    let enterprise = mapping("enterprise-lookup");
    let fault11 = format!(
        r#"<?xml version="1.0"?><soap:Envelope xmlns:soap="{SOAP11}"><soap:Body><soap:Fault>
            <faultcode>soap:Client</faultcode>
            <faultstring>Mã số doanh nghiệp không tồn tại</faultstring>
            <detail><e:loi xmlns:e="urn:e"><e:ma>RECORD_NOT_FOUND</e:ma><e:moTa>Không tìm thấy</e:moTa></e:loi></detail>
        </soap:Fault></soap:Body></soap:Envelope>"#
    );
    let fault = SoapFault {
        code: "Client".into(),
        subcode: None,
        reason: "Mã số doanh nghiệp không tồn tại".into(),
        detail: Some("RECORD_NOT_FOUND; Không tìm thấy".into()),
    };
    assert_eq!(
        enterprise.decode_response(fault11.as_bytes(), &limits()),
        Err(CodecError::Fault(fault.clone()))
    );
    assert_eq!(
        fault.to_string(),
        "Client: Mã số doanh nghiệp không tồn tại"
    );

    let household = mapping("social-insurance-household");
    let fault12 = format!(
        r#"<env:Envelope xmlns:env="{SOAP12}" xmlns:bh="{BH}"><env:Body><env:Fault>
            <env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>bh:DinhDanhKhongHopLe</env:Value></env:Subcode></env:Code>
            <env:Reason><env:Text xml:lang="vi">Số định danh không hợp lệ</env:Text><env:Text xml:lang="en">Invalid ID</env:Text></env:Reason>
        </env:Fault></env:Body></env:Envelope>"#
    );
    let Err(CodecError::Fault(fault)) = household.decode_response(fault12.as_bytes(), &limits())
    else {
        panic!("a fault");
    };
    assert_eq!(fault.code, "Sender");
    assert_eq!(fault.subcode.as_deref(), Some("DinhDanhKhongHopLe"));
    assert_eq!(fault.reason, "Số định danh không hợp lệ");
    assert_eq!(fault.detail, None);
    assert_eq!(
        fault.to_string(),
        "Sender (DinhDanhKhongHopLe): Số định danh không hợp lệ"
    );

    // What the simulators write reads back the same, in both versions.
    for (version, mapping) in [
        (SoapVersion::V1_1, &enterprise),
        (SoapVersion::V1_2, &household),
    ] {
        let fault = SoapFault {
            code: "Server".into(),
            subcode: None,
            reason: "Lỗi hệ thống <giả lập>".into(),
            detail: Some("SYSTEM_ERROR".into()),
        };
        let encoded = fault.encode(version).expect("encodes");
        assert_eq!(
            mapping.decode_response(&encoded.body, &limits()),
            Err(CodecError::Fault(fault)),
            "{}",
            text(&encoded)
        );
    }
}

#[test]
fn wrong_envelopes_are_refused() {
    let mapping = mapping("enterprise-lookup");
    let cases = [
        (
            r#"<doanhNghiep><maDoanhNghiep>0312345678</maDoanhNghiep></doanhNghiep>"#.to_owned(),
            "NotAnEnvelope",
        ),
        (
            r#"<Envelope><Body/></Envelope>"#.to_owned(),
            "NotAnEnvelope",
        ),
        (
            r#"<e:Envelope xmlns:e="urn:not-soap"><e:Body/></e:Envelope>"#.to_owned(),
            "NotAnEnvelope",
        ),
        (
            format!(r#"<e:Envelope xmlns:e="{SOAP12}"><e:Body/></e:Envelope>"#),
            "VersionMismatch",
        ),
        (
            format!(r#"<e:Envelope xmlns:e="{SOAP11}"><e:Header/></e:Envelope>"#),
            "MissingBody",
        ),
        (
            format!(r#"<e:Envelope xmlns:e="{SOAP11}"><e:Body></e:Body></e:Envelope>"#),
            "UnexpectedElement",
        ),
        (
            format!(
                r#"<e:Envelope xmlns:e="{SOAP11}"><e:Body><x:Khac xmlns:x="{DN}"/></e:Body></e:Envelope>"#
            ),
            "UnexpectedElement",
        ),
        (
            format!(
                r#"<e:Envelope xmlns:e="{SOAP11}"><e:Body><x:TraCuuDoanhNghiepResponse xmlns:x="{DN}"/></e:Body></e:Envelope>"#
            ),
            "UnexpectedElement",
        ),
    ];
    for (xml, expected) in cases {
        let error = mapping
            .decode_response(xml.as_bytes(), &limits())
            .expect_err(&xml);
        let kind = format!("{error:?}");
        assert!(kind.starts_with(expected), "{xml}: {error:?}");
    }
    let error = mapping
        .decode_response(
            format!(r#"<e:Envelope xmlns:e="{SOAP12}"><e:Body/></e:Envelope>"#).as_bytes(),
            &limits(),
        )
        .expect_err("1.2 to a 1.1 mapping");
    assert_eq!(
        error.to_string(),
        "expected a SOAP 1.1 envelope, got SOAP 1.2"
    );
}

#[test]
fn fields_that_do_not_fit_name_their_path() {
    let mapping = mapping("enterprise-lookup");
    let answer = |inner: &str| {
        format!(
            r#"<e:Envelope xmlns:e="{SOAP11}"><e:Body><d:TraCuuDoanhNghiepResponse xmlns:d="{DN}"><d:doanhNghiep><d:maDoanhNghiep>0312345678</d:maDoanhNghiep><d:tenDoanhNghiep>X</d:tenDoanhNghiep>{inner}</d:doanhNghiep></d:TraCuuDoanhNghiepResponse></e:Body></e:Envelope>"#
        )
    };
    let base = "dn:TraCuuDoanhNghiepResponse/dn:doanhNghiep";
    let cases = [
        (
            "<d:vonDieuLe>mười tỷ</d:vonDieuLe>",
            "dn:vonDieuLe",
            "is not an integer",
        ),
        (
            "<d:ngayThanhLap>2010-02-30</d:ngayThanhLap>",
            "dn:ngayThanhLap",
            "is not a date (YYYY-MM-DD)",
        ),
        (
            "<d:ngayThanhLap>01/04/2010</d:ngayThanhLap>",
            "dn:ngayThanhLap",
            "is not a date (YYYY-MM-DD)",
        ),
        (
            "<d:trangThai>a</d:trangThai><d:trangThai>b</d:trangThai>",
            "dn:trangThai",
            "appears more than once where one is expected",
        ),
    ];
    for (inner, path, reason) in cases {
        assert_eq!(
            mapping.decode_response(answer(inner).as_bytes(), &limits()),
            Err(CodecError::Element {
                path: format!("{base}/{path}"),
                reason: reason.into()
            }),
            "{inner}"
        );
    }
    // Empty elements and offsets on dates are what upstreams send.
    let decoded = mapping
        .decode_response(
            answer("<d:vonDieuLe/><d:tenTiengAnh>  </d:tenTiengAnh><d:ngayThanhLap>2010-04-01+07:00</d:ngayThanhLap>").as_bytes(),
            &limits(),
        )
        .expect("decodes");
    assert_eq!(
        decoded,
        json!({"maDoanhNghiep": "0312345678", "tenDoanhNghiep": "X", "ngayThanhLap": "2010-04-01"})
    );

    let cases = [
        (json!({}), "/maDoanhNghiep", "is required"),
        (
            json!({"maDoanhNghiep": 312345678}),
            "/maDoanhNghiep",
            "expected a string",
        ),
        (
            json!({"maDoanhNghiep": "03123\u{1}45678"}),
            "/maDoanhNghiep",
            "holds a character XML cannot carry",
        ),
        (json!(["0312345678"]), "", "expected a JSON object"),
    ];
    for (request, pointer, reason) in cases {
        assert_eq!(
            mapping.encode_request(&request),
            Err(CodecError::Json {
                pointer: pointer.into(),
                reason: reason.into()
            }),
            "{request}"
        );
    }
    let household = mapping_household_member_error();
    assert_eq!(
        household,
        Err(CodecError::Json {
            pointer: "/thanhVien/1/ngaySinh".into(),
            reason: "expected a date (YYYY-MM-DD)".into()
        })
    );
}

fn mapping_household_member_error() -> Result<EncodedMessage, CodecError> {
    let mut value = household_json();
    value["thanhVien"][1]["ngaySinh"] = json!("1982-13-01");
    mapping("social-insurance-household").encode_response(&value)
}

#[test]
fn civil_status_xml_inside_json_round_trips() {
    let birth = mapping("civil-status-birth");
    let request = birth
        .encode_request(&json!({"soDinhDanh": "087203004567"}))
        .expect("encodes");
    assert_eq!(request.content_type, "application/json; charset=utf-8");
    let envelope: Value = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(
        envelope,
        json!({
            "loaiBanGhi": "khaiSinh",
            "duLieu": "<?xml version=\"1.0\" encoding=\"utf-8\"?><YeuCauTraCuu><soDinhDanh>087203004567</soDinhDanh></YeuCauTraCuu>"
        })
    );
    assert_eq!(
        birth.decode_request(&request.body, &limits()),
        Ok(json!({"soDinhDanh": "087203004567"}))
    );
    let wrong_kind = json!({"loaiBanGhi": "ketHon", "duLieu": envelope["duLieu"]});
    assert_eq!(
        birth.decode_request(wrong_kind.to_string().as_bytes(), &limits()),
        Err(CodecError::Json {
            pointer: "/loaiBanGhi".into(),
            reason: "must be \"khaiSinh\"".into()
        })
    );

    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><KhaiSinh><soDangKy>125</soDangKy>\
        <quyenSo>01/2003</quyenSo><ngayDangKy>2003-03-15</ngayDangKy>\
        <noiDangKy>UBND phường Điện Biên, Quận Ba Đình</noiDangKy><soDinhDanh>001303004567</soDinhDanh>\
        <hoTen>Nguyễn Thị Hương</hoTen><gioiTinh>Nữ</gioiTinh><ngaySinh>2003-02-28</ngaySinh>\
        <noiSinh>Phường Điện Biên, Quận Ba Đình</noiSinh><danToc>H&apos;Mông</danToc><quocTich>Việt Nam</quocTich>\
        <chaHoTen>Nguyễn Văn Hùng</chaHoTen><chaSoDinhDanh>001075001234</chaSoDinhDanh><meHoTen>Trần Thị Lan</meHoTen></KhaiSinh>";
    let answer = json!({"maKetQua": "00", "moTa": "Thành công", "duLieu": xml});
    let decoded = birth
        .decode_response(answer.to_string().as_bytes(), &limits())
        .expect("decodes");
    assert_eq!(
        decoded,
        json!({
            "soDangKy": "125", "quyenSo": "01/2003", "ngayDangKy": "2003-03-15",
            "noiDangKy": "UBND phường Điện Biên, Quận Ba Đình", "soDinhDanh": "001303004567",
            "hoTen": "Nguyễn Thị Hương", "gioiTinh": "Nữ", "ngaySinh": "2003-02-28",
            "noiSinh": "Phường Điện Biên, Quận Ba Đình", "danToc": "H'Mông", "quocTich": "Việt Nam",
            "cha": { "hoTen": "Nguyễn Văn Hùng", "soDinhDanh": "001075001234" },
            "me": { "hoTen": "Trần Thị Lan" }
        })
    );
    let encoded = birth.encode_response(&decoded).expect("encodes");
    assert_eq!(birth.decode_response(&encoded.body, &limits()), Ok(decoded));

    let failed = json!({"maKetQua": "99", "moTa": "Lỗi hệ thống", "duLieu": ""});
    assert_eq!(
        birth.decode_response(failed.to_string().as_bytes(), &limits()),
        Err(CodecError::UpstreamResult {
            code: "99".into(),
            message: "Lỗi hệ thống".into()
        })
    );
    for (body, reason) in [
        (
            json!({"maKetQua": "00", "duLieu": 5}).to_string(),
            "member `duLieu` is missing or not a string",
        ),
        (json!(["x"]).to_string(), "not a JSON object"),
        (
            "{\"maKetQua\": \"00\", \"duLieu\": \"<Kh".to_owned(),
            "not JSON (line 1, column 33)",
        ),
    ] {
        assert_eq!(
            birth.decode_response(body.as_bytes(), &limits()),
            Err(CodecError::Envelope(reason.into())),
            "{body}"
        );
    }
    let hostile = json!({
        "maKetQua": "00",
        "duLieu": "<!DOCTYPE KhaiSinh [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><KhaiSinh><hoTen>&xxe;</hoTen></KhaiSinh>"
    });
    assert_eq!(
        birth.decode_response(hostile.to_string().as_bytes(), &limits()),
        Err(CodecError::Xml(XmlError::DocType))
    );
    let marriage = json!({"maKetQua": "00", "duLieu": xml});
    assert!(matches!(
        mapping("civil-status-marriage")
            .decode_response(marriage.to_string().as_bytes(), &limits()),
        Err(CodecError::UnexpectedElement { .. })
    ));
}

#[test]
fn vietnamese_text_round_trips_through_every_builtin_mapping() {
    let names = [
        "Nguyễn Thị Hương",
        "Phường Điện Biên, Quận Ba Đình",
        "Đặng Thị Ánh Tuyết, ấp Mỹ Xuyên, xã Thạnh Phú",
        "Hồ <Thị> & \"Ánh\" H'Mông",
        "Ỷ Lan — Ưng Hoàng Phúc 𠀀",
    ];
    for name in names {
        let death = json!({
            "soDangKy": "9", "ngayDangKy": "2024-01-05", "noiDangKy": name, "hoTen": name,
            "ngayChet": "2024-01-02", "noiChet": name,
            "nguoiDiKhai": { "hoTen": name, "quanHe": "Con" }
        });
        let marriage = json!({
            "soDangKy": "17", "ngayDangKy": "2015-10-10", "noiDangKy": name,
            "chong": { "hoTen": name, "ngaySinh": "1990-06-01" },
            "vo": { "hoTen": name, "ngaySinh": "1991-07-02", "noiCuTru": name }
        });
        let mut household = household_json();
        household["thanhVien"][2]["hoTen"] = json!(name);
        household["diaChi"] = json!(name);
        let mut enterprise = enterprise_json();
        enterprise["tenDoanhNghiep"] = json!(name);
        let cases = [
            ("civil-status-death", death),
            ("civil-status-marriage", marriage),
            ("social-insurance-household", household),
            ("enterprise-lookup", enterprise),
        ];
        for (mapping_name, value) in cases {
            let mapping = mapping(mapping_name);
            let encoded = mapping.encode_response(&value).expect("encodes");
            assert_eq!(
                mapping.decode_response(&encoded.body, &limits()),
                Ok(value),
                "{mapping_name}: {}",
                text(&encoded)
            );
        }
    }
}

#[test]
fn hostile_xml_is_refused_quickly() {
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<lolz>&lol9;</lolz>"#;
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
    let parameter =
        r#"<!DOCTYPE foo [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]><foo/>"#;
    let external_dtd = r#"<!DOCTYPE foo SYSTEM "http://127.0.0.1:9/evil.dtd"><foo/>"#;
    for hostile in [billion_laughs, xxe, parameter, external_dtd] {
        assert_eq!(
            read_xml(hostile.as_bytes(), &limits()),
            Err(XmlError::DocType),
            "{hostile}"
        );
    }
    assert_eq!(
        read_xml(b"<foo>&xxe;</foo>", &limits()),
        Err(XmlError::UnknownEntity("xxe".into()))
    );
    assert_eq!(
        read_xml(b"<foo>&lol9;&lol9;</foo>", &limits()),
        Err(XmlError::UnknownEntity("lol9".into()))
    );

    let started = Instant::now();
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    assert_eq!(
        read_xml(deep.as_bytes(), &limits()),
        Err(XmlError::TooDeep { limit: 64 })
    );
    let unclosed = "<a>".repeat(10_000);
    assert_eq!(
        read_xml(unclosed.as_bytes(), &limits()),
        Err(XmlError::TooDeep { limit: 64 })
    );
    let envelope =
        format!(r#"<s:Envelope xmlns:s="{SOAP11}"><s:Body>{deep}</s:Body></s:Envelope>"#);
    assert_eq!(
        mapping("enterprise-lookup").decode_response(envelope.as_bytes(), &limits()),
        Err(CodecError::Xml(XmlError::TooDeep { limit: 64 }))
    );
    let at_limit = format!("{}{}", "<a>".repeat(64), "</a>".repeat(64));
    assert!(read_xml(at_limit.as_bytes(), &limits()).is_ok());
    let small = XmlLimits {
        max_bytes: 4096,
        max_depth: 8,
        max_elements: 50,
    };
    let wide = format!("<a>{}</a>", "<b/>".repeat(50));
    assert_eq!(
        read_xml(wide.as_bytes(), &small),
        Err(XmlError::TooManyElements { limit: 50 })
    );
    let big = format!("<a>{}</a>", "x".repeat(5000));
    assert_eq!(
        read_xml(big.as_bytes(), &small),
        Err(XmlError::TooLarge { limit: 4096 })
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn size_is_checked_while_streaming() {
    // An endless stream: the reader stops one byte past the limit instead of
    // buffering it all.
    let endless = BufReader::new(b"<a>".chain(std::io::repeat(b'x')));
    let limits = XmlLimits {
        max_bytes: 1024 * 1024,
        ..XmlLimits::default()
    };
    assert_eq!(
        read_xml_from(endless, &limits),
        Err(XmlError::TooLarge { limit: 1024 * 1024 })
    );
    let endless_tags = BufReader::new(b"<a>".chain(std::io::repeat(b'<').take(u64::MAX)));
    assert!(read_xml_from(endless_tags, &limits).is_err());
    let endless_comment = BufReader::new(b"<a><!--".chain(std::io::repeat(b'-')));
    assert_eq!(
        read_xml_from(endless_comment, &limits),
        Err(XmlError::TooLarge { limit: 1024 * 1024 })
    );
    let fits = format!("<a>{}</a>", "x".repeat(1024 * 1024 - 7));
    assert!(read_xml_from(fits.as_bytes(), &limits).is_ok());
}

#[test]
fn malformed_and_truncated_xml_is_refused() {
    let good = mapping("enterprise-lookup")
        .encode_response(&enterprise_json())
        .expect("encodes")
        .body;
    // Every truncation of a valid answer fails cleanly.
    for cut in 0..good.len() {
        let result = mapping("enterprise-lookup").decode_response(&good[..cut], &limits());
        assert!(result.is_err(), "cut at {cut} decoded");
    }
    let cases: [&[u8]; 16] = [
        b"",
        b"   ",
        b"<a>",
        b"<a></b>",
        b"</a>",
        b"<a/><b/>",
        b"text",
        b"<a></a>trailing",
        b"<a>&#0;</a>",
        b"<a>&#x1;</a>",
        b"<a>&#xFFFFFFFF;</a>",
        b"<a x='1' x='2'/>",
        b"<p:a/>",
        b"<a>\xff\xfe</a>",
        b"<a><![CDATA[unclosed</a>",
        b"<a>&amp</a>",
    ];
    for case in cases {
        let result = read_xml(case, &limits());
        assert!(
            matches!(result, Err(XmlError::Malformed(_))),
            "{:?}: {result:?}",
            String::from_utf8_lossy(case)
        );
    }
    assert_eq!(
        read_xml(
            br#"<?xml version="1.0" encoding="ISO-8859-1"?><a/>"#,
            &limits()
        ),
        Err(XmlError::Encoding("ISO-8859-1".into()))
    );
    let ok = read_xml(
        b"<?xml version='1.0' encoding='utf-8'?><!-- c --><?pi x?><a>x &lt;&#x1EC7;<![CDATA[<&>]]></a>\n",
        &limits(),
    )
    .expect("well-formed");
    assert_eq!(ok.text, "x <ệ<&>");
}

#[test]
fn random_damage_never_panics() {
    let mapping = mapping("social-insurance-household");
    let good = mapping
        .encode_response(&household_json())
        .expect("encodes")
        .body;
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let alphabet = b"<>/&;:=\"' !?[]-xmlns#\xc3\xa1\x00";
    for _ in 0..3000 {
        let mut damaged = good.clone();
        for _ in 0..rng.random_range(1..6) {
            let at = rng.random_range(0..damaged.len());
            match rng.random_range(0..3) {
                0 => damaged[at] = alphabet[rng.random_range(0..alphabet.len())],
                1 => {
                    damaged.remove(at);
                }
                _ => damaged.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
            }
        }
        // Any outcome but a panic is fine; most are refusals.
        let _ = mapping.decode_response(&damaged, &limits());
    }
}

#[test]
fn mapping_files_are_checked() {
    let valid = lgsp_contracts::mappings::builtin("enterprise-lookup")
        .expect("built in")
        .text;
    let invalid = |from: &str, to: &str| {
        assert!(valid.contains(from), "{from}");
        Mapping::from_toml(&valid.replacen(from, to, 1)).expect_err(to)
    };
    let key_of = |error: MappingError| match error {
        MappingError::Invalid { key, .. } => key,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        key_of(invalid("xml = \"dn:vonDieuLe\"", "xml = \"zz:vonDieuLe\"")),
        "response.fields[8].xml"
    );
    assert_eq!(
        key_of(invalid("json = \"tenTiengAnh\"", "json = \"nguoiDaiDien\"")),
        "response.fields[6].json"
    );
    assert_eq!(
        key_of(invalid("json = \"tenTiengAnh\"", "json = \"a..b\"")),
        "response.fields[2].json"
    );
    assert_eq!(
        key_of(invalid("action = \"urn:", "action = \"urn: ")),
        "soap.action"
    );
    assert_eq!(
        key_of(invalid(
            "name = \"enterprise-lookup\"",
            "name = \"Enterprise Lookup\""
        )),
        "name"
    );
    assert_eq!(
        key_of(invalid("dn = \"urn:", "soapenv = \"urn:")),
        "namespaces.soapenv"
    );
    assert_eq!(
        key_of(invalid(
            "element = \"dn:TraCuuDoanhNghiep\"",
            "element = \"dn:1x\""
        )),
        "request.element"
    );
    assert_eq!(
        key_of(invalid(
            "[soap]",
            "[embedded]\nfield = \"duLieu\"\n\n[soap]"
        )),
        "soap/embedded"
    );
    assert!(matches!(
        invalid("required = true", "requried = true"),
        MappingError::Toml(_)
    ));
    assert!(matches!(
        invalid("version = \"1.1\"", "version = \"1.3\""),
        MappingError::Toml(_)
    ));
    assert!(matches!(
        invalid("contract = \"enterprise\"", "contract = \"vehicle\""),
        MappingError::Toml(_)
    ));
    assert!(matches!(
        Mapping::from_toml("not toml ["),
        Err(MappingError::Toml(_))
    ));
}

#[test]
fn the_reader_keeps_unqualified_attributes_with_entities_resolved() {
    let doc = br#"<d xmlns="urn:x" xmlns:t="urn:t" name="A &amp; B" t:type="t:Q"><e location="http://h/p?a=1&amp;b=2"/></d>"#;
    let root = read_xml(doc, &limits()).expect("well-formed");
    assert_eq!(
        root.attributes,
        vec![("name".to_string(), "A & B".to_string())]
    );
    assert_eq!(root.attribute("name"), Some("A & B"));
    assert_eq!(
        root.attribute("type"),
        None,
        "prefixed attributes are left out"
    );
    assert_eq!(
        root.children[0].attribute("location"),
        Some("http://h/p?a=1&b=2")
    );
    assert!(matches!(
        read_xml(br#"<d name="&xxe;"/>"#, &limits()),
        Err(XmlError::Malformed(_))
    ));
}
