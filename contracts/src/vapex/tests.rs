//! Every rule fails on a minimal mutation of the population descriptor in
//! `contracts/vapex/examples/` and passes on it (or on an allowed variant).

use serde_json::{Value, json};

use super::*;
use crate::identifiers::{AgencyCode, Slug};
use crate::schemas::ContractName;

const EXAMPLE: &str = include_str!("../../vapex/examples/population-descriptor.json");
const README: &str = include_str!("../../vapex/README.md");
const CITIZEN: &str = "/paths/~1citizens~1{soDinhDanh}/get";

fn example() -> Value {
    serde_json::from_str(EXAMPLE).expect("the example is JSON")
}

fn declared() -> Vec<String> {
    ["soDinhDanh", "hoTen", "ngaySinh"]
        .map(String::from)
        .to_vec()
}

/// `doc` with the member at `pointer` set to `value`, or removed for `None`.
fn with(doc: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut doc = doc.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    let parent = doc.pointer_mut(parent).expect("the parent exists");
    match (parent, value) {
        (Value::Object(map), Some(value)) => {
            map.insert(last, value);
        }
        (Value::Object(map), None) => {
            map.remove(&last);
        }
        (Value::Array(list), Some(value)) => {
            let i: usize = last.parse().expect("an index");
            if i == list.len() {
                list.push(value);
            } else {
                list[i] = value;
            }
        }
        (Value::Array(list), None) => {
            list.remove(last.parse().expect("an index"));
        }
        _ => panic!("{pointer} is inside a scalar"),
    }
    doc
}

/// The findings of `rule` as `(pointer, message)`.
fn of(doc: &Value, rule: &str) -> Vec<(String, String)> {
    lint(doc, &declared())
        .into_iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.pointer, f.message))
        .collect()
}

fn pointers(doc: &Value, rule: &str) -> Vec<String> {
    of(doc, rule).into_iter().map(|(p, _)| p).collect()
}

/// The one finding of `rule`, which must be at `pointer`; its message.
fn only(doc: &Value, rule: &str, pointer: &str) -> String {
    let found = of(doc, rule);
    assert_eq!(
        found.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [pointer],
        "{found:#?}"
    );
    found.into_iter().next().map(|(_, m)| m).unwrap_or_default()
}

#[test]
fn the_example_conforms() {
    let findings = lint(&example(), &declared());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn a_descriptor_that_is_no_object_is_one_finding() {
    for value in [json!([]), json!("openapi"), json!(null)] {
        let findings = lint(&value, &[]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, "VAPEX-OPENAPI");
        assert_eq!(findings[0].pointer, "");
    }
}

// VAPEX-OPENAPI

#[test]
fn openapi_must_be_3_1() {
    let doc = with(&example(), "/openapi", Some(json!("3.0.3")));
    let message = only(&doc, "VAPEX-OPENAPI", "/openapi");
    assert!(
        message.contains("\"3.0.3\"") && message.contains("3.1.0"),
        "{message}"
    );
    let doc = with(&example(), "/openapi", Some(json!("3.10.0")));
    only(&doc, "VAPEX-OPENAPI", "/openapi");
    let doc = with(&example(), "/openapi", None);
    only(&doc, "VAPEX-OPENAPI", "/openapi");
    for version in ["3.1.1", "3.1"] {
        let doc = with(&example(), "/openapi", Some(json!(version)));
        assert!(of(&doc, "VAPEX-OPENAPI").is_empty(), "{version}");
    }
}

#[test]
fn title_must_not_be_empty() {
    let doc = with(&example(), "/info/title", Some(json!("  ")));
    assert!(only(&doc, "VAPEX-OPENAPI", "/info/title").contains("is empty"));
    let doc = with(&example(), "/info/title", None);
    assert!(only(&doc, "VAPEX-OPENAPI", "/info/title").contains("is missing"));
    let doc = with(&example(), "/info", None);
    only(&doc, "VAPEX-OPENAPI", "/info");
    assert!(of(&doc, "VAPEX-VERSION").is_empty(), "reported once");
}

#[test]
fn paths_must_hold_a_path() {
    let doc = with(&example(), "/paths", Some(json!({"x-note": "none yet"})));
    assert!(only(&doc, "VAPEX-OPENAPI", "/paths").contains("has no path"));
    let doc = with(&example(), "/paths", Some(json!([])));
    only(&doc, "VAPEX-OPENAPI", "/paths");
    let doc = with(&example(), "/paths", None);
    only(&doc, "VAPEX-OPENAPI", "/paths");
    let doc = with(
        &example(),
        "/paths/~1citizens~1{soDinhDanh}",
        Some(json!([1])),
    );
    only(&doc, "VAPEX-OPENAPI", "/paths/~1citizens~1{soDinhDanh}");
    let doc = with(&example(), CITIZEN, Some(json!("get")));
    only(&doc, "VAPEX-OPENAPI", CITIZEN);
    let doc = with(&example(), "/paths/citizens", Some(json!({})));
    only(&doc, "VAPEX-OPENAPI", "/paths/citizens");
    let doc = with(
        &example(),
        "/paths/~1births",
        Some(json!({"$ref": "#/components/pathItems/KhaiSinh"})),
    );
    only(&doc, "VAPEX-OPENAPI", "/paths/~1births/$ref");
    let doc = with(&example(), "/paths/x-ghiChu", Some(json!("ok")));
    assert!(of(&doc, "VAPEX-OPENAPI").is_empty());
}

// VAPEX-VERSION

#[test]
fn info_version_must_be_semantic() {
    let doc = with(&example(), "/info/version", Some(json!("v1")));
    let message = only(&doc, "VAPEX-VERSION", "/info/version");
    assert!(
        message.contains("\"v1\"") && message.contains("MAJOR.MINOR"),
        "{message}"
    );
    let doc = with(&example(), "/info/version", None);
    assert!(only(&doc, "VAPEX-VERSION", "/info/version").contains("is missing"));
    let doc = with(&example(), "/info/version", Some(json!(1)));
    only(&doc, "VAPEX-VERSION", "/info/version");
}

#[test]
fn block_version_must_be_the_major() {
    let doc = with(&example(), "/info/version", Some(json!("2.0.0")));
    let message = only(&doc, "VAPEX-VERSION", "/x-vapex/version");
    assert!(message.contains("set it to \"v2\""), "{message}");
    let doc = with(&example(), "/x-vapex/version", Some(json!("v3")));
    only(&doc, "VAPEX-VERSION", "/x-vapex/version");
    for (info, block) in [
        ("1.0.0-rc.1", "v1"),
        ("1.4", "v1"),
        ("0.9.1", "v0"),
        ("10.0.0", "v10"),
    ] {
        let doc = with(&example(), "/info/version", Some(json!(info)));
        let doc = with(&doc, "/x-vapex/version", Some(json!(block)));
        assert!(of(&doc, "VAPEX-VERSION").is_empty(), "{info} {block}");
    }
}

#[test]
fn a_block_version_of_the_wrong_form_is_reported_once() {
    let doc = with(&example(), "/x-vapex/version", Some(json!("1")));
    assert!(of(&doc, "VAPEX-VERSION").is_empty());
    only(&doc, "VAPEX-BLOCK", "/x-vapex/version");
}

// VAPEX-ERRORS

fn responses() -> String {
    format!("{CITIZEN}/responses")
}

#[test]
fn an_operation_needs_an_error_response_with_a_schema() {
    let ok = json!({"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}});
    let doc = with(&example(), &responses(), Some(json!({"200": ok})));
    let message = only(&doc, "VAPEX-ERRORS", &responses());
    assert!(
        message.starts_with("GET /citizens/{soDinhDanh} has no error response"),
        "{message}"
    );
    assert!(message.contains("application/problem+json"), "{message}");

    let bare = json!({"description": "Không tìm thấy"});
    let doc = with(
        &example(),
        &responses(),
        Some(json!({"200": ok, "404": bare, "5XX": bare})),
    );
    let message = only(&doc, "VAPEX-ERRORS", &responses());
    assert!(
        message.contains("(404, 5XX without a content schema)"),
        "{message}"
    );

    let no_schema = json!({"description": "x", "content": {"application/problem+json": {}}});
    let doc = with(
        &example(),
        &responses(),
        Some(json!({"200": ok, "4XX": no_schema})),
    );
    only(&doc, "VAPEX-ERRORS", &responses());

    let dangling = json!({"$ref": "#/components/responses/Missing"});
    let doc = with(
        &example(),
        &responses(),
        Some(json!({"200": ok, "400": dangling})),
    );
    let message = only(&doc, "VAPEX-ERRORS", &responses());
    assert!(
        message.contains("\"#/components/responses/Missing\""),
        "{message}"
    );

    let doc = with(&example(), &responses(), None);
    assert!(only(&doc, "VAPEX-ERRORS", &responses()).contains("declares no responses"));
}

#[test]
fn error_responses_that_count() {
    let ok = json!({"description": "OK"});
    let inline = |key: &str, media: &str| {
        let doc = with(
            &example(),
            &responses(),
            Some(
                json!({"200": ok, key: {"description": "x", "content": {media: {"schema": {"type": "string"}}}}}),
            ),
        );
        of(&doc, "VAPEX-ERRORS")
    };
    for key in ["default", "4XX", "5XX", "4xx", "5xx", "400", "503"] {
        assert!(inline(key, "text/plain").is_empty(), "{key}");
    }
    assert!(!inline("302", "application/json").is_empty());
    // A chain of references resolves.
    let doc = with(
        &example(),
        "/components/responses/Refusal",
        Some(json!({"$ref": "#/components/responses/Problem"})),
    );
    let doc = with(
        &doc,
        &responses(),
        Some(json!({"200": ok, "403": {"$ref": "#/components/responses/Refusal"}})),
    );
    assert!(of(&doc, "VAPEX-ERRORS").is_empty());
    // A cycle does not.
    let doc = with(
        &doc,
        "/components/responses/Problem",
        Some(json!({"$ref": "#/components/responses/Refusal"})),
    );
    only(&doc, "VAPEX-ERRORS", &responses());
}

#[test]
fn every_operation_is_checked() {
    let post = json!({"responses": {"201": {"description": "Đã tạo"}}});
    let doc = with(
        &example(),
        "/paths/~1citizens~1{soDinhDanh}/post",
        Some(post),
    );
    let message = only(
        &doc,
        "VAPEX-ERRORS",
        "/paths/~1citizens~1{soDinhDanh}/post/responses",
    );
    assert!(
        message.starts_with("POST /citizens/{soDinhDanh}"),
        "{message}"
    );
}

// VAPEX-SECURITY

#[test]
fn schemes_must_be_declared() {
    let doc = with(&example(), "/components/securitySchemes", None);
    assert_eq!(
        pointers(&doc, "VAPEX-SECURITY"),
        ["/components/securitySchemes", "/security/0/lgspOAuth2"]
    );
    let doc = with(&example(), "/components/securitySchemes", Some(json!({})));
    assert!(pointers(&doc, "VAPEX-SECURITY").contains(&"/components/securitySchemes".to_owned()));
}

#[test]
fn an_operation_must_be_covered() {
    let doc = with(&example(), "/security", None);
    let message = only(&doc, "VAPEX-SECURITY", CITIZEN);
    assert!(message.contains("not covered"), "{message}");

    let doc = with(&example(), &format!("{CITIZEN}/security"), Some(json!([])));
    let message = only(&doc, "VAPEX-SECURITY", &format!("{CITIZEN}/security"));
    assert!(message.contains("security: []"), "{message}");

    let doc = with(&example(), "/security", Some(json!([])));
    assert!(only(&doc, "VAPEX-SECURITY", CITIZEN).contains("empty top-level"));

    let doc = with(&example(), "/security/1", Some(json!({})));
    assert!(only(&doc, "VAPEX-SECURITY", "/security/1").contains("without credentials"));

    let doc = with(
        &example(),
        &format!("{CITIZEN}/security"),
        Some(json!([{"apiKey": []}])),
    );
    let message = only(
        &doc,
        "VAPEX-SECURITY",
        &format!("{CITIZEN}/security/0/apiKey"),
    );
    assert!(message.contains("\"apiKey\""), "{message}");

    let doc = with(&example(), "/security", Some(json!({"lgspOAuth2": []})));
    only(&doc, "VAPEX-SECURITY", "/security");
}

#[test]
fn operation_security_may_replace_the_top_level() {
    let doc = with(&example(), "/security", None);
    let doc = with(
        &doc,
        &format!("{CITIZEN}/security"),
        Some(json!([{"lgspOAuth2": []}])),
    );
    assert!(of(&doc, "VAPEX-SECURITY").is_empty());
    // Every operation overriding an empty top level is covered too.
    let doc = with(&doc, "/security", Some(json!([])));
    assert!(of(&doc, "VAPEX-SECURITY").is_empty());
}

// VAPEX-CAMELCASE

const CONG_DAN: &str = "/components/schemas/CongDan/properties";

/// The example with property `from` of CongDan renamed `to`.
fn renamed(from: &str, to: &str) -> Value {
    let mut doc = example();
    let properties = doc
        .pointer_mut(CONG_DAN)
        .and_then(Value::as_object_mut)
        .expect("CongDan has properties");
    let schema = properties.remove(from).expect("the property exists");
    properties.insert(to.to_owned(), schema);
    doc
}

#[test]
fn property_names_are_camel_case_with_a_suggestion() {
    for (bad, good) in [
        ("so_dinh_danh", "soDinhDanh"),
        ("HoTen", "hoTen"),
        ("ngàySinh", "ngaySinh"),
        ("ngay-sinh", "ngaySinh"),
    ] {
        let doc = renamed("ngaySinh", bad);
        let message = only(&doc, "VAPEX-CAMELCASE", &format!("{CONG_DAN}/{bad}"));
        assert!(
            message.contains(&format!("rename it \"{good}\"")),
            "{message}"
        );
    }
    assert!(of(&renamed("ngaySinh", "ngaySinh2"), "VAPEX-CAMELCASE").is_empty());
}

#[test]
fn nested_and_inline_schemas_are_checked() {
    let nested = json!({
        "type": "object",
        "properties": {
            "thanhVien": {"type": "array", "items": {"type": "object", "properties": {"ho_ten_chu_ho": {"type": "string"}}}},
            "diaChiMoi": {"allOf": [{"properties": {"Ma_Tinh": {"type": "string"}}}]},
            "ghiChu": {"type": "object", "additionalProperties": {"properties": {"noi-dung": {"type": "string"}}}}
        }
    });
    let doc = with(&example(), "/components/schemas/HoGiaDinh", Some(nested));
    assert_eq!(
        pointers(&doc, "VAPEX-CAMELCASE"),
        [
            "/components/schemas/HoGiaDinh/properties/diaChiMoi/allOf/0/properties/Ma_Tinh",
            "/components/schemas/HoGiaDinh/properties/ghiChu/additionalProperties/properties/noi-dung",
            "/components/schemas/HoGiaDinh/properties/thanhVien/items/properties/ho_ten_chu_ho",
        ]
    );
    let inline = json!({"description": "OK", "content": {"application/json": {"schema": {"properties": {"MaHoSo": {}}}}}});
    let doc = with(
        &example(),
        &format!("{CITIZEN}/responses/200"),
        Some(inline),
    );
    only(
        &doc,
        "VAPEX-CAMELCASE",
        &format!("{CITIZEN}/responses/200/content/application~1json/schema/properties/MaHoSo"),
    );
}

#[test]
fn refs_are_checked_where_they_are_defined() {
    let doc = renamed("hoTen", "ho_ten");
    let inline = json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CongDan"}}}});
    let doc = with(&doc, &format!("{CITIZEN}/responses/201"), Some(inline));
    assert_eq!(
        pointers(&doc, "VAPEX-CAMELCASE"),
        [format!("{CONG_DAN}/ho_ten")],
        "once, at the definition"
    );
}

#[test]
fn path_and_query_parameters_are_camel_case_headers_are_not() {
    let query = json!({"name": "ma_ho_so", "in": "query", "schema": {"type": "string"}});
    let doc = with(&example(), &format!("{CITIZEN}/parameters/3"), Some(query));
    let message = only(
        &doc,
        "VAPEX-CAMELCASE",
        &format!("{CITIZEN}/parameters/3/name"),
    );
    assert!(message.contains("\"maHoSo\""), "{message}");
    let doc = with(
        &example(),
        "/components/parameters/soDinhDanh/name",
        Some(json!("SoDinhDanh")),
    );
    only(
        &doc,
        "VAPEX-CAMELCASE",
        "/components/parameters/soDinhDanh/name",
    );
    // The example's X-LGSP-* headers pass.
    assert!(of(&example(), "VAPEX-CAMELCASE").is_empty());
    let cookie = json!({"name": "session_id", "in": "cookie"});
    let doc = with(&example(), &format!("{CITIZEN}/parameters/3"), Some(cookie));
    assert!(of(&doc, "VAPEX-CAMELCASE").is_empty());
}

#[test]
fn problem_members_are_exempt_only_in_problem_schemas() {
    // The example's Problem schema carries request_id, audit_id, upstream_status.
    assert!(of(&example(), "VAPEX-CAMELCASE").is_empty());
    let doc = renamed("ngaySinh", "request_id");
    only(&doc, "VAPEX-CAMELCASE", &format!("{CONG_DAN}/request_id"));
    let doc = with(
        &example(),
        "/components/schemas/Problem/properties/ma_loi",
        Some(json!({"type": "string"})),
    );
    only(
        &doc,
        "VAPEX-CAMELCASE",
        "/components/schemas/Problem/properties/ma_loi",
    );
}

#[test]
fn problem_members_match_the_problem_contract() {
    let schema: Value =
        serde_json::from_str(ContractName::Problem.schema_text()).expect("problem schema");
    let mut not_camel: Vec<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .filter(|name| !is_camel_case(name))
        .collect();
    not_camel.sort_unstable();
    assert_eq!(not_camel, fields::PROBLEM_MEMBERS);
}

#[test]
fn deep_schemas_stop_with_a_finding() {
    let mut schema = json!({"type": "string"});
    for _ in 0..100 {
        schema = json!({"type": "object", "properties": {"con": schema}});
    }
    let doc = with(&example(), "/components/schemas/Sau", Some(schema));
    let found = of(&doc, "VAPEX-CAMELCASE");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].1.contains("deeper than 64"), "{:?}", found[0]);
}

// VAPEX-PERSONAL-DATA

#[test]
fn national_list_fields_must_be_declared() {
    let findings = lint(&example(), &["soDinhDanh".into(), "ngaySinh".into()]);
    let personal: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "VAPEX-PERSONAL-DATA")
        .collect();
    assert_eq!(
        personal
            .iter()
            .map(|f| f.pointer.as_str())
            .collect::<Vec<_>>(),
        [
            &format!("{CONG_DAN}/hoTen"),
            "/x-vapex/personalDataFields/1"
        ]
    );
    let message = &personal[0].message;
    assert!(
        message.contains("\"hoTen\"")
            && message.contains("national list")
            && message.contains("declare"),
        "{message}"
    );
}

#[test]
fn marked_fields_and_parameters_must_be_declared() {
    let marked = json!({"type": "string", "x-personal-data": true});
    let doc = with(&example(), &format!("{CONG_DAN}/ngheNghiep"), Some(marked));
    let message = only(
        &doc,
        "VAPEX-PERSONAL-DATA",
        &format!("{CONG_DAN}/ngheNghiep"),
    );
    assert!(message.contains("x-personal-data"), "{message}");
    let findings = lint(&doc, &[declared(), vec!["ngheNghiep".into()]].concat());
    assert!(findings.is_empty(), "{findings:?}");

    // The path parameter is marked; without its declaration it is a finding.
    let findings = lint(&example(), &["hoTen".into(), "ngaySinh".into()]);
    let personal: Vec<_> = findings
        .iter()
        .filter(|f| f.rule == "VAPEX-PERSONAL-DATA")
        .map(|f| f.pointer.as_str())
        .collect();
    assert_eq!(
        personal,
        [
            "/components/parameters/soDinhDanh/name",
            &format!("{CONG_DAN}/soDinhDanh"),
            "/x-vapex/personalDataFields/0",
        ]
    );
}

#[test]
fn a_reference_to_a_marked_component_is_personal_data() {
    let doc = with(
        &example(),
        "/components/schemas/MaSoThue",
        Some(json!({"type": "string", "x-personal-data": true})),
    );
    let doc = with(
        &doc,
        &format!("{CONG_DAN}/thue"),
        Some(json!({"$ref": "#/components/schemas/MaSoThue"})),
    );
    only(&doc, "VAPEX-PERSONAL-DATA", &format!("{CONG_DAN}/thue"));
}

#[test]
fn other_fields_need_no_declaration() {
    let doc = with(
        &example(),
        &format!("{CONG_DAN}/ngheNghiep"),
        Some(json!({"type": "string"})),
    );
    let doc = with(
        &doc,
        &format!("{CONG_DAN}/coQuan"),
        Some(json!({"x-personal-data": false})),
    );
    assert!(lint(&doc, &declared()).is_empty());
}

#[test]
fn the_national_list() {
    let list = personal_data_fields();
    assert!((25..=40).contains(&list.len()), "{}", list.len());
    for name in list {
        assert!(is_camel_case(name), "{name}");
    }
    let mut unique = list.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), list.len(), "no name twice");
    for name in [
        "soDinhDanh",
        "hoTen",
        "ngaySinh",
        "noiThuongTru",
        "hoTenVoChong",
        "email",
    ] {
        assert!(list.contains(&name), "{name}");
    }
}

// VAPEX-BLOCK

#[test]
fn the_block_must_be_present() {
    let doc = with(&example(), "/x-vapex", None);
    let message = only(&doc, "VAPEX-BLOCK", "/x-vapex");
    assert!(
        message.contains("is missing") && message.contains("gatewayEndpoint"),
        "{message}"
    );
    assert!(of(&doc, "VAPEX-VERSION").is_empty());
    let doc = with(&example(), "/x-vapex", Some(json!("population")));
    only(&doc, "VAPEX-BLOCK", "/x-vapex");
}

#[test]
fn block_members_are_checked_at_their_pointer() {
    let cases = [
        ("/x-vapex/agencyCode", json!("H29"), "000.00.00.G01"),
        ("/x-vapex/serviceCode", json!("Population"), "slug"),
        ("/x-vapex/dataClass", json!("internal"), "\"confidential\""),
        ("/x-vapex/securityLevel", json!(6), "1 to 5"),
        ("/x-vapex/lifecycle", json!("draft"), "\"published\""),
        ("/x-vapex/sla/availabilityPercent", json!(101), "0 to 100"),
        ("/x-vapex/sla/responseTimeMs", json!(0), "milliseconds"),
        ("/x-vapex/contacts", json!([]), "at least one contact"),
        ("/x-vapex/contacts/0/email", json!("cds"), "e-mail"),
        (
            "/x-vapex/gatewayEndpoint",
            json!("ftp://lgsp"),
            "gateway URL",
        ),
        ("/x-vapex/sunsetOn", json!("2026-02-30"), "calendar day"),
        (
            "/x-vapex/personalDataFields/2",
            json!("ngay_sinh"),
            "camelCase field name",
        ),
    ];
    for (pointer, value, hint) in cases {
        let doc = with(&example(), pointer, Some(value));
        let found = of(&doc, "VAPEX-BLOCK");
        let at_pointer: Vec<_> = found.iter().filter(|(p, _)| p == pointer).collect();
        assert_eq!(at_pointer.len(), 1, "{pointer}: {found:?}");
        assert!(at_pointer[0].1.contains(hint), "{pointer}: {found:?}");
    }
}

#[test]
fn missing_and_unknown_members_are_named() {
    let doc = with(&example(), "/x-vapex/sla", None);
    assert!(only(&doc, "VAPEX-BLOCK", "/x-vapex/sla").starts_with("is required"));
    let doc = with(&example(), "/x-vapex/contacts/0/name", None);
    only(&doc, "VAPEX-BLOCK", "/x-vapex/contacts/0/name");
    let doc = with(&example(), "/x-vapex/owner", Some(json!("Bộ Công an")));
    assert!(only(&doc, "VAPEX-BLOCK", "/x-vapex/owner").contains("remove it"));
}

#[test]
fn phone_numbers_as_agencies_write_them() {
    for phone in [
        "+84 277 385 0000",
        "0277.385.1234",
        "(0277) 385-1234",
        "0912345678",
    ] {
        let doc = with(&example(), "/x-vapex/contacts/0/phone", Some(json!(phone)));
        assert!(of(&doc, "VAPEX-BLOCK").is_empty(), "{phone}");
    }
    for phone in ["0277", "số máy lẻ 12", "+84 277 385 000x", "........."] {
        let doc = with(&example(), "/x-vapex/contacts/0/phone", Some(json!(phone)));
        only(&doc, "VAPEX-BLOCK", "/x-vapex/contacts/0/phone");
    }
}

#[test]
fn a_deprecated_version_needs_a_sunset() {
    let doc = with(&example(), "/x-vapex/lifecycle", Some(json!("deprecated")));
    assert!(only(&doc, "VAPEX-BLOCK", "/x-vapex/sunsetOn").contains("deprecated"));
    let doc = with(&doc, "/x-vapex/sunsetOn", Some(json!("2027-06-30")));
    let doc = with(&doc, "/x-vapex/deprecatedOn", Some(json!("2026-12-31")));
    assert!(lint(&doc, &declared()).is_empty());
}

#[test]
fn optional_members_may_be_left_out() {
    let mut doc = example();
    for pointer in [
        "/x-vapex/personalDataFields",
        "/x-vapex/allowedPurposes",
        "/x-vapex/ownerAgencyName",
        "/x-vapex/description",
        "/x-vapex/sla/timeoutMs",
        "/x-vapex/sla/ratePlan",
        "/x-vapex/contacts/0/email",
        "/x-vapex/contacts/0/role",
    ] {
        doc = with(&doc, pointer, None);
    }
    let findings = lint(&doc, &declared());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn servers_must_be_the_gateway() {
    let doc = with(
        &example(),
        "/servers/0/url",
        Some(json!("https://dancu.bocongan.gov.vn/api")),
    );
    let message = only(&doc, "VAPEX-BLOCK", "/servers/0/url");
    assert!(
        message.contains("never the provider's upstream"),
        "{message}"
    );
    let doc = with(&example(), "/servers", None);
    only(&doc, "VAPEX-BLOCK", "/servers");
    let doc = with(
        &example(),
        "/servers/0/url",
        Some(json!("https://lgsp.dongthap.gov.vn/api/population/v1/")),
    );
    assert!(
        of(&doc, "VAPEX-BLOCK").is_empty(),
        "a trailing slash is the same URL"
    );
}

#[test]
fn the_schema_compiles_and_agrees_with_the_identifiers() {
    let validator = block::compile().expect("x-vapex.schema.json compiles");
    let schema: Value = serde_json::from_str(block::SCHEMA_TEXT).expect("JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let block = example()["x-vapex"].clone();
    for code in [
        "000.00.00.H29",
        "000.01.00.H29",
        "000.00.00.G01",
        "H29",
        "000.00.00.h29",
        "00.00.00.H29",
    ] {
        let doc = with(&block, "/agencyCode", Some(json!(code)));
        assert_eq!(
            validator.is_valid(&doc),
            AgencyCode::parse(code).is_ok(),
            "{code}"
        );
    }
    for slug in [
        "population",
        "civil-status",
        "so_tu_phap",
        "Population",
        "1abc",
        "",
    ] {
        let doc = with(&block, "/serviceCode", Some(json!(slug)));
        assert_eq!(
            validator.is_valid(&doc),
            Slug::parse(slug).is_ok(),
            "{slug}"
        );
    }
}

// The whole list

#[test]
fn findings_are_ordered_by_rule_then_pointer() {
    let doc = with(&example(), "/x-vapex/securityLevel", Some(json!(0)));
    let doc = with(&doc, "/openapi", Some(json!("3.0.0")));
    let doc = with(&doc, "/security", None);
    let doc = with(&doc, &format!("{CONG_DAN}/Ho_Ten"), Some(json!({})));
    let doc = with(&doc, &format!("{CONG_DAN}/A_b"), Some(json!({})));
    let findings = lint(&doc, &declared());
    let seen: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.rule, f.pointer.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("VAPEX-OPENAPI", "/openapi"),
            ("VAPEX-SECURITY", CITIZEN),
            ("VAPEX-CAMELCASE", &format!("{CONG_DAN}/A_b")),
            ("VAPEX-CAMELCASE", &format!("{CONG_DAN}/Ho_Ten")),
            ("VAPEX-BLOCK", "/x-vapex/securityLevel"),
        ]
    );
    assert_eq!(lint(&doc, &declared()), findings, "deterministic");
}

#[test]
fn findings_display_and_serialize() {
    let doc = with(&example(), "/openapi", Some(json!("3.0.3")));
    let finding = lint(&doc, &declared()).remove(0);
    assert!(
        finding
            .to_string()
            .starts_with("VAPEX-OPENAPI at /openapi: is \"3.0.3\""),
        "{finding}"
    );
    let value = serde_json::to_value(&finding).expect("serializes");
    assert_eq!(value["rule"], "VAPEX-OPENAPI");
    assert_eq!(value["pointer"], "/openapi");
    assert!(value["message"].is_string());
    let root = lint(&json!(1), &[]).remove(0);
    assert!(
        root.to_string().starts_with("VAPEX-OPENAPI at /: "),
        "{root}"
    );
}

#[test]
fn hostile_shapes_give_findings_not_panics() {
    let shapes = [
        ("/paths/~1citizens~1{soDinhDanh}", json!([1, 2])),
        (CITIZEN, json!("get")),
        (&format!("{CITIZEN}/responses"), json!("none")),
        (&format!("{CITIZEN}/responses"), json!({"400": {"$ref": 7}})),
        (
            &format!("{CITIZEN}/parameters"),
            json!([5, null, {"name": "ma_ho_so", "in": "query"}]),
        ),
        (
            &format!("{CITIZEN}/parameters/0"),
            json!({"name": "Ma", "in": []}),
        ),
        (&format!("{CITIZEN}/security"), json!([1, "x", null])),
        ("/components", json!([])),
        (
            "/components/schemas/CongDan",
            json!({"properties": "x", "items": 5, "allOf": [null, {"properties": {"B": {}}}]}),
        ),
        ("/paths/citizens", json!({})),
        (
            &format!("{CONG_DAN}/hoTen"),
            json!({"items": [{"properties": {"a_b": {}}}], "allOf": "x"}),
        ),
        ("/x-vapex/contacts", json!("cds@dongthap.gov.vn")),
        ("/x-vapex/personalDataFields", json!([1, null])),
        ("/servers", json!([{"url": 1}, "x"])),
        ("/info", json!({"title": [], "version": {}})),
    ];
    for (pointer, value) in shapes {
        let doc = with(&example(), pointer, Some(value));
        assert!(
            lint(&with(&doc, "/x-vapex", None), &[])
                .iter()
                .any(|f| f.rule == "VAPEX-BLOCK")
        );
        let findings = lint(&doc, &declared());
        assert!(!findings.is_empty(), "{pointer}");
        for finding in &findings {
            assert!(RULES.iter().any(|(id, _)| *id == finding.rule));
            assert!(finding.pointer.is_empty() || finding.pointer.starts_with('/'));
        }
    }
}

#[test]
fn long_names_are_cut_short_in_messages() {
    let name = "x_".repeat(5_000);
    let doc = with(&example(), &format!("{CONG_DAN}/{name}"), Some(json!({})));
    for finding in lint(&doc, &declared()) {
        assert!(finding.message.len() < 1_000, "{}", finding.message.len());
    }
}

// Documentation

#[test]
fn rules_are_unique_and_documented() {
    let mut ids: Vec<&str> = RULES.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 7);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len());
    for (id, summary) in RULES {
        assert!(id.starts_with("VAPEX-") && !summary.is_empty());
        assert!(
            README.contains(&format!("## {id}")),
            "README has a section for {id}"
        );
    }
}

#[test]
fn every_block_member_is_documented() {
    let schema: Value = serde_json::from_str(block::SCHEMA_TEXT).expect("JSON");
    let mut members: Vec<String> = Vec::new();
    let mut collect = |object: &Value| {
        for name in object["properties"].as_object().expect("properties").keys() {
            members.push(name.clone());
        }
    };
    collect(&schema);
    collect(&schema["properties"]["sla"]);
    collect(&schema["properties"]["contacts"]["items"]);
    for member in members {
        assert!(
            README.contains(&format!("`{member}`")),
            "README documents `{member}`"
        );
    }
}
