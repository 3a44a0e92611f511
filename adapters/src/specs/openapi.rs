//! OpenAPI 3.0/3.1 documents: read (JSON or YAML), checked for what the
//! gateway routes on, and brought to OpenAPI 3.1.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::yaml::yaml_to_json;
use super::{
    ImportedOperation, ImportedSpec, MAX_DOCUMENT_BYTES, MAX_NESTING, MAX_OPERATIONS, SpecError,
    SpecFormat, clip,
};

/// The HTTP methods of a path item, in the specification's order.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Members whose value is a map from names (of properties, responses,
/// components…) to objects: there, a key such as `default` or `example` is
/// a name, not a keyword holding data.
const NAME_MAPS: [&str; 16] = [
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
    "schemas",
    "responses",
    "parameters",
    "headers",
    "requestBodies",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
    "paths",
    "webhooks",
];

/// Keywords whose value is instance data, not schemas: never rewritten or
/// searched for markers.
const DATA_KEYWORDS: [&str; 5] = ["example", "examples", "default", "enum", "const"];

/// The OpenAPI minor version of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V30,
    V31,
}

/// Imports an OpenAPI 3.0.x or 3.1.x document, JSON (first non-blank
/// character `{`) or YAML.
pub fn import_openapi(text: &str) -> Result<ImportedSpec, SpecError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(SpecError::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let document = match text.trim_start().chars().next() {
        None => return Err(SpecError::Empty),
        Some('{') => json_document(text)?,
        Some(_) => yaml_to_json(text)?,
    };
    read_document(document)
}

/// Parses JSON after checking its nesting, so the parser's own recursion
/// never gets near its limit.
fn json_document(text: &str) -> Result<Value, SpecError> {
    if json_nesting(text) > MAX_NESTING {
        return Err(SpecError::TooDeep { limit: MAX_NESTING });
    }
    serde_json::from_str(text).map_err(|error| SpecError::Json(error.to_string()))
}

/// Deepest bracket nesting of JSON text, strings skipped.
fn json_nesting(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn read_document(mut document: Value) -> Result<ImportedSpec, SpecError> {
    let Some(root) = document.as_object() else {
        return Err(wrong(
            "",
            "the document",
            "an object with openapi, info and paths",
        ));
    };
    if root.contains_key("swagger") {
        return Err(SpecError::Swagger2);
    }
    let version = match root.get("openapi") {
        None => return Err(missing("", "openapi")),
        Some(Value::String(v)) => openapi_version(v)?,
        Some(_) => {
            return Err(wrong(
                "",
                "openapi",
                "a string such as \"3.1.0\" (in YAML, quote it)",
            ));
        }
    };
    let info = object_member(root, "", "info")?.ok_or_else(|| missing("", "info"))?;
    let title = match string_member(info, "info", "title")? {
        Some(title) if !title.trim().is_empty() => title.to_owned(),
        Some(_) => return Err(wrong("info", "title", "a non-empty string")),
        None => return Err(missing("info", "title")),
    };
    let spec_version = match info.get("version") {
        None => return Err(missing("info", "version")),
        Some(Value::String(v)) => v.clone(),
        Some(_) => {
            return Err(wrong(
                "info",
                "version",
                "a string (in YAML, quote a version such as \"1.0\")",
            ));
        }
    };
    let description = string_member(info, "info", "description")?.map(str::to_owned);
    let servers = servers(root)?;
    let operations = operations(&document, version)?;
    let mut personal = BTreeSet::new();
    personal_data_fields(&document, &document, false, &mut personal);
    if version == Version::V30 {
        upgrade_to_31(&mut document);
    }
    Ok(ImportedSpec {
        format: SpecFormat::OpenApi,
        title,
        description,
        spec_version: Some(spec_version),
        servers,
        operations,
        personal_data_fields: personal.into_iter().collect(),
        openapi: document,
    })
}

fn openapi_version(version: &str) -> Result<Version, SpecError> {
    let minor = |prefix: &str| {
        version
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    if minor("3.0") {
        Ok(Version::V30)
    } else if minor("3.1") {
        Ok(Version::V31)
    } else if version.starts_with('2') {
        Err(SpecError::Swagger2)
    } else {
        Err(SpecError::UnsupportedVersion(clip(version)))
    }
}

/// The absolute `servers[].url`s, variables replaced by their defaults;
/// relative URLs (resolved against wherever the document was served) and
/// URLs with unresolved variables are left out.
fn servers(root: &Map<String, Value>) -> Result<Vec<String>, SpecError> {
    let servers = match root.get("servers") {
        None => return Ok(Vec::new()),
        Some(Value::Array(servers)) => servers,
        Some(_) => return Err(wrong("", "servers", "an array of server objects")),
    };
    let mut urls = Vec::new();
    for (index, server) in servers.iter().enumerate() {
        let at = format!("servers[{index}]");
        let Some(server) = server.as_object() else {
            return Err(wrong(
                "servers",
                &format!("[{index}]"),
                "an object with url",
            ));
        };
        let Some(url) = string_member(server, &at, "url")? else {
            return Err(missing(&at, "url"));
        };
        let url = substitute_variables(url, server.get("variables"));
        let lower = url.to_ascii_lowercase();
        let absolute = lower.starts_with("https://") || lower.starts_with("http://");
        if absolute && !url.contains('{') && !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

fn substitute_variables(url: &str, variables: Option<&Value>) -> String {
    let Some(Value::Object(variables)) = variables else {
        return url.to_owned();
    };
    let mut url = url.to_owned();
    for (name, variable) in variables {
        if let Some(Value::String(default)) = variable.get("default") {
            url = url.replace(&format!("{{{name}}}"), default);
        }
    }
    url
}

fn operations(document: &Value, version: Version) -> Result<Vec<ImportedOperation>, SpecError> {
    let paths = match document.get("paths") {
        None => return Err(missing("", "paths")),
        Some(Value::Object(paths)) => paths,
        Some(_) => return Err(wrong("", "paths", "an object")),
    };
    let mut operations = Vec::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    for (path, item) in paths {
        check_path_template(path)?;
        let at = format!("paths.{}", clip(path));
        let Some(item) = item.as_object() else {
            return Err(wrong("paths", &clip(path), "a path item object"));
        };
        let referenced = match item.get("$ref") {
            Some(Value::String(reference)) => Some(local_ref(document, reference, &at)?),
            Some(_) => return Err(wrong(&at, "$ref", "a string")),
            None => None,
        };
        for method in METHODS {
            let operation = match (item.get(method), referenced.and_then(|r| r.get(method))) {
                (Some(operation), _) | (None, Some(operation)) => operation,
                (None, None) => continue,
            };
            let op_at = format!("{at}.{method}");
            let Some(operation) = operation.as_object() else {
                return Err(wrong(&at, method, "an operation object"));
            };
            match operation.get("responses") {
                Some(Value::Object(_)) => {}
                Some(_) => return Err(wrong(&op_at, "responses", "an object")),
                // 3.1 made responses optional; 3.0 requires them.
                None if version == Version::V30 => return Err(missing(&op_at, "responses")),
                None => {}
            }
            let operation_id = string_member(operation, &op_at, "operationId")?.map(str::to_owned);
            let summary = string_member(operation, &op_at, "summary")?.map(str::to_owned);
            if let Some(id) = &operation_id {
                if let Some(first) = ids.get(id) {
                    return Err(SpecError::DuplicateOperationId {
                        operation_id: clip(id),
                        first: first.clone(),
                        second: op_at,
                    });
                }
                ids.insert(id.clone(), op_at);
            }
            if operations.len() == MAX_OPERATIONS {
                return Err(SpecError::TooManyOperations {
                    limit: MAX_OPERATIONS,
                });
            }
            operations.push(ImportedOperation {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                operation_id,
                summary,
                soap_action: None,
            });
        }
    }
    // Whether JSON maps keep document order depends on a serde_json feature
    // another crate may switch on; sorting keeps the result the same either
    // way (stable, so methods stay in the specification's order).
    operations.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(operations)
}

/// Refuses a path the gateway's router cannot match: it routes on whole
/// segments, each a literal or one `{name}`.
fn check_path_template(path: &str) -> Result<(), SpecError> {
    let refuse = |reason: String| SpecError::UnroutablePath {
        path: clip(path),
        reason,
    };
    if !path.starts_with('/') {
        return Err(refuse("it does not start with `/`".to_owned()));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse(
            "it contains whitespace or control characters".to_owned(),
        ));
    }
    if path.contains(['?', '#']) {
        return Err(refuse(
            "it contains `?` or `#`; query parameters are declared as parameters".to_owned(),
        ));
    }
    let mut names = BTreeSet::new();
    for segment in path.split('/') {
        if !segment.contains(['{', '}']) {
            continue;
        }
        if segment == "{}" {
            return Err(refuse("it has an empty parameter `{}`".to_owned()));
        }
        let name = segment
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .filter(|name| !name.contains(['{', '}']));
        let Some(name) = name else {
            return Err(refuse(format!(
                "segment `{}` must be a literal or exactly one `{{parameter}}`",
                clip(segment)
            )));
        };
        if !names.insert(name) {
            return Err(refuse(format!(
                "parameter `{{{}}}` appears twice",
                clip(name)
            )));
        }
    }
    Ok(())
}

/// Follows a `$ref` inside the document (`#/json/pointer`).
fn local_ref<'d>(document: &'d Value, reference: &str, at: &str) -> Result<&'d Value, SpecError> {
    let unusable = |reason| SpecError::UnresolvedRef {
        at: at.to_owned(),
        reference: clip(reference),
        reason,
    };
    let Some(pointer) = reference.strip_prefix('#') else {
        return Err(unusable(
            "only references inside the document (`#/…`) are followed; bundle the document first",
        ));
    };
    let pointer = percent_decode(pointer).ok_or_else(|| unusable("bad percent-encoding"))?;
    document
        .pointer(&pointer)
        .filter(|target| target.is_object())
        .ok_or_else(|| unusable("it points to no object in the document"))
}

/// Decodes `%XX` escapes of a URI fragment.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Collects the names of properties and parameters marked
/// `x-personal-data: true` (on the property's schema, the schema it
/// references, the parameter, or the parameter's schema).
fn personal_data_fields(
    document: &Value,
    value: &Value,
    in_name_map: bool,
    found: &mut BTreeSet<String>,
) {
    match value {
        Value::Object(object) => {
            if !in_name_map {
                if let Some(Value::Object(properties)) = object.get("properties") {
                    for (name, schema) in properties {
                        if is_marked(document, schema) {
                            found.insert(name.clone());
                        }
                    }
                }
                if let (Some(Value::String(name)), Some(Value::String(_))) =
                    (object.get("name"), object.get("in"))
                    && (is_marked(document, value)
                        || object.get("schema").is_some_and(|s| is_marked(document, s)))
                {
                    found.insert(name.clone());
                }
            }
            for (key, child) in object {
                if !in_name_map && is_data(key) {
                    continue;
                }
                let child_is_name_map = !in_name_map && NAME_MAPS.contains(&key.as_str());
                personal_data_fields(document, child, child_is_name_map, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                personal_data_fields(document, item, false, found);
            }
        }
        _ => {}
    }
}

fn is_marked(document: &Value, schema: &Value) -> bool {
    let marked = |value: &Value| value.get("x-personal-data") == Some(&Value::Bool(true));
    if marked(schema) {
        return true;
    }
    match schema.get("$ref") {
        Some(Value::String(reference)) => reference
            .strip_prefix('#')
            .and_then(percent_decode)
            .and_then(|pointer| document.pointer(&pointer))
            .is_some_and(marked),
        _ => false,
    }
}

/// A member holding data or an extension, not part of the description's structure.
fn is_data(key: &str) -> bool {
    DATA_KEYWORDS.contains(&key) || key.starts_with("x-")
}

/// Brings a 3.0 document to 3.1: the version, `nullable` as a `"null"`
/// type, and boolean `exclusiveMinimum`/`exclusiveMaximum` as numbers.
fn upgrade_to_31(document: &mut Value) {
    upgrade_schemas(document, false);
    if let Some(root) = document.as_object_mut() {
        root.insert("openapi".to_owned(), Value::String("3.1.0".to_owned()));
    }
}

fn upgrade_schemas(value: &mut Value, in_name_map: bool) {
    match value {
        Value::Object(object) => {
            if !in_name_map {
                upgrade_nullable(object);
                upgrade_exclusive(object, "exclusiveMinimum", "minimum");
                upgrade_exclusive(object, "exclusiveMaximum", "maximum");
            }
            for (key, child) in object.iter_mut() {
                if !in_name_map && is_data(key) {
                    continue;
                }
                let child_is_name_map = !in_name_map && NAME_MAPS.contains(&key.as_str());
                upgrade_schemas(child, child_is_name_map);
            }
        }
        Value::Array(items) => {
            for item in items {
                upgrade_schemas(item, false);
            }
        }
        _ => {}
    }
}

/// `nullable: true` adds `"null"` to `type` (OpenAPI 3.0.3 says it has no
/// effect without a `type`), and to `enum` when there is one.
fn upgrade_nullable(schema: &mut Map<String, Value>) {
    let Some(Value::Bool(nullable)) = schema.get("nullable") else {
        return;
    };
    let nullable = *nullable;
    schema.remove("nullable");
    if !nullable {
        return;
    }
    let null = Value::String("null".to_owned());
    match schema.get_mut("type") {
        Some(Value::String(single)) if single != "null" => {
            let single = Value::String(std::mem::take(single));
            schema.insert("type".to_owned(), Value::Array(vec![single, null]));
        }
        Some(Value::Array(types)) if !types.contains(&null) => types.push(null),
        Some(_) => {}
        None => return,
    }
    if let Some(Value::Array(values)) = schema.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
}

/// 3.0's `exclusiveMinimum: true` next to `minimum: n` is 3.1's `exclusiveMinimum: n`.
fn upgrade_exclusive(schema: &mut Map<String, Value>, exclusive: &str, bound: &str) {
    let Some(Value::Bool(is_exclusive)) = schema.get(exclusive) else {
        return;
    };
    let is_exclusive = *is_exclusive;
    schema.remove(exclusive);
    if is_exclusive && let Some(limit) = schema.remove(bound) {
        schema.insert(exclusive.to_owned(), limit);
    }
}

fn missing(at: &str, member: &str) -> SpecError {
    SpecError::Missing {
        at: at.to_owned(),
        member: member.to_owned(),
    }
}

fn wrong(at: &str, member: &str, expected: &'static str) -> SpecError {
    SpecError::WrongType {
        at: at.to_owned(),
        member: member.to_owned(),
        expected,
    }
}

/// An optional string member.
fn string_member<'v>(
    object: &'v Map<String, Value>,
    at: &str,
    member: &str,
) -> Result<Option<&'v str>, SpecError> {
    match object.get(member) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(wrong(at, member, "a string")),
    }
}

/// An optional object member.
fn object_member<'v>(
    object: &'v Map<String, Value>,
    at: &str,
    member: &str,
) -> Result<Option<&'v Map<String, Value>>, SpecError> {
    match object.get(member) {
        None => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(wrong(at, member, "an object")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const MOTCUA_YAML: &str = include_str!("fixtures/motcua-hoso.openapi.yaml");
    const POPULATION_JSON: &str = include_str!("fixtures/population.openapi.json");

    fn error_of(text: &str) -> String {
        import_openapi(text).expect_err("refused").to_string()
    }

    #[test]
    fn imports_a_commune_service_from_openapi_30_yaml() {
        let spec = import_openapi(MOTCUA_YAML).expect("accepted");
        assert_eq!(spec.format, SpecFormat::OpenApi);
        assert_eq!(spec.title, "Tra cứu hồ sơ một cửa");
        assert_eq!(spec.spec_version.as_deref(), Some("1.2.0"));
        assert!(
            spec.description
                .as_deref()
                .is_some_and(|d| d.contains("UBND xã Mỹ Hiệp"))
        );
        assert_eq!(
            spec.servers,
            [
                "https://motcua.myhiep.dongthap.gov.vn/api/v1",
                "https://thunghiem.motcua.dongthap.gov.vn/api/v1",
            ]
        );
        let ops: Vec<_> = spec
            .operations
            .iter()
            .map(|op| {
                (
                    op.method.as_str(),
                    op.path.as_str(),
                    op.operation_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            ops,
            [
                ("GET", "/hoSo", Some("timHoSo")),
                ("POST", "/hoSo", Some("tiepNhanHoSo")),
                ("GET", "/hoSo/{maHoSo}", Some("layHoSo")),
            ]
        );
        assert_eq!(
            spec.operations[2].summary.as_deref(),
            Some("Tra cứu một hồ sơ theo mã hồ sơ")
        );
        assert!(spec.operations.iter().all(|op| op.soap_action.is_none()));
        assert_eq!(
            spec.personal_data_fields,
            ["diaChi", "hoTen", "ngaySinh", "soDienThoai", "soDinhDanh"]
        );
    }

    #[test]
    fn converts_30_to_31() {
        let spec = import_openapi(MOTCUA_YAML).expect("accepted");
        let doc = &spec.openapi;
        assert_eq!(doc["openapi"], "3.1.0");
        let hoso = &doc["components"]["schemas"]["HoSo"]["properties"];
        assert_eq!(hoso["ngayHenTra"]["type"], json!(["string", "null"]));
        assert!(hoso["ngayHenTra"].get("nullable").is_none());
        // `nullable: false` is dropped and changes nothing.
        assert_eq!(hoso["maThuTuc"]["type"], "string");
        assert!(hoso["maThuTuc"].get("nullable").is_none());
        // A nullable enum admits null.
        assert_eq!(hoso["ketQua"]["type"], json!(["string", "null"]));
        assert_eq!(hoso["ketQua"]["enum"], json!(["dat", "khongDat", null]));
        // Boolean exclusiveMinimum becomes the bound itself.
        assert_eq!(hoso["soTrang"]["exclusiveMinimum"], 0);
        assert!(hoso["soTrang"].get("minimum").is_none());
        // Examples stay; YAML integer response codes become string keys.
        assert_eq!(hoso["maHoSo"]["example"], "H29.01-2026-000123");
        let post = &doc["paths"]["/hoSo"]["post"];
        assert!(post["responses"].get("201").is_some());
        // The default response is a name, not data: its schema is upgraded too.
        let default_schema = &post["responses"]["default"]["content"]["application/problem+json"]["schema"]
            ["properties"]["instance"];
        assert_eq!(default_schema["type"], json!(["string", "null"]));
        // Nothing nullable is left anywhere.
        assert!(!doc.to_string().contains("\"nullable\""));
    }

    #[test]
    fn imports_a_31_json_unchanged() {
        let spec = import_openapi(POPULATION_JSON).expect("accepted");
        let original: Value = serde_json::from_str(POPULATION_JSON).expect("accepted");
        assert_eq!(spec.openapi, original);
        assert_eq!(spec.title, "Tra cứu thông tin công dân");
        assert_eq!(spec.spec_version.as_deref(), Some("1.0.0"));
        assert_eq!(
            spec.servers,
            ["https://csdlqg-dancu.example.gov.vn/population/v1"]
        );
        assert_eq!(spec.operations.len(), 1);
        let op = &spec.operations[0];
        assert_eq!(op.method, "GET");
        assert_eq!(op.path, "/citizens/{soDinhDanh}");
        assert_eq!(op.operation_id.as_deref(), Some("traCuuCongDan"));
        assert_eq!(
            spec.personal_data_fields,
            ["hoTen", "ngaySinh", "noiThuongTru", "soDinhDanh"]
        );
    }

    #[test]
    fn refuses_swagger_20() {
        let message = error_of("swagger: \"2.0\"\ninfo: {title: x, version: '1'}\npaths: {}\n");
        assert!(
            message.contains("convert the document to OpenAPI 3"),
            "{message}"
        );
        assert_eq!(
            import_openapi(
                r#"{"openapi": "2.0", "info": {"title": "x", "version": "1"}, "paths": {}}"#
            )
            .expect_err("refused"),
            SpecError::Swagger2
        );
    }

    #[test]
    fn refuses_other_versions_and_unquoted_numbers() {
        assert_eq!(
            error_of("openapi: 4.0.0\ninfo: {title: x, version: '1'}\npaths: {}\n"),
            "openapi: version `4.0.0` is not supported; only 3.0.x and 3.1.x are accepted"
        );
        assert_eq!(
            error_of("openapi: 3.1\ninfo: {title: x, version: '1'}\npaths: {}\n"),
            "openapi must be a string such as \"3.1.0\" (in YAML, quote it)"
        );
        assert_eq!(
            error_of("openapi: 3.1.0\ninfo: {title: x, version: 1.0}\npaths: {}\n"),
            "info: version must be a string (in YAML, quote a version such as \"1.0\")"
        );
        // "3.10.0" is not 3.1.
        assert!(
            error_of("openapi: 3.10.0\ninfo: {title: x, version: '1'}\npaths: {}\n")
                .contains("not supported")
        );
    }

    #[test]
    fn names_missing_members() {
        assert_eq!(
            error_of("openapi: 3.1.0\ninfo: {title: Dân cư, version: '1'}\n"),
            "paths is missing"
        );
        assert_eq!(
            error_of("info: {title: x, version: '1'}\npaths: {}\n"),
            "openapi is missing"
        );
        assert_eq!(error_of("openapi: 3.0.3\npaths: {}\n"), "info is missing");
        assert_eq!(
            error_of("openapi: 3.0.3\ninfo: {version: '1'}\npaths: {}\n"),
            "info: title is missing"
        );
        assert_eq!(
            error_of("openapi: 3.0.3\ninfo: {title: ' ', version: '1'}\npaths: {}\n"),
            "info: title must be a non-empty string"
        );
        assert_eq!(
            error_of(
                "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths:\n  /citizens/{id}:\n    get: {summary: x}\n"
            ),
            "paths./citizens/{id}.get: responses is missing"
        );
        assert_eq!(
            error_of(
                "openapi: 3.0.3\ninfo: {title: x, version: '1'}\nservers: [{description: x}]\npaths: {}\n"
            ),
            "servers[0]: url is missing"
        );
        assert_eq!(
            error_of(
                "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get: {operationId: 7}\n"
            ),
            "paths./a.get: operationId must be a string"
        );
        assert_eq!(
            error_of("[1, 2]"),
            "the document must be an object with openapi, info and paths"
        );
    }

    #[test]
    fn responses_are_optional_in_31() {
        let spec = import_openapi(
            "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get: {operationId: a}\n",
        )
        .expect("accepted");
        assert_eq!(spec.operations.len(), 1);
    }

    #[test]
    fn refuses_paths_the_gateway_cannot_route() {
        for (path, reason) in [
            ("citizens/{id}", "it does not start with `/`"),
            ("/citizens/{}", "it has an empty parameter `{}`"),
            (
                "/files/{name}.{ext}",
                "segment `{name}.{ext}` must be a literal or exactly one `{parameter}`",
            ),
            (
                "/a/{id",
                "segment `{id` must be a literal or exactly one `{parameter}`",
            ),
            (
                "/a/{{id}}",
                "segment `{{id}}` must be a literal or exactly one `{parameter}`",
            ),
            ("/a/{id}/b/{id}", "parameter `{id}` appears twice"),
            ("/a b", "it contains whitespace or control characters"),
            (
                "/a?x=1",
                "it contains `?` or `#`; query parameters are declared as parameters",
            ),
        ] {
            let text = json!({
                "openapi": "3.1.0",
                "info": {"title": "x", "version": "1"},
                "paths": {path: {"get": {"responses": {}}}}
            })
            .to_string();
            assert_eq!(
                error_of(&text),
                format!("paths.{path}: the gateway cannot route this path: {reason}")
            );
        }
        let ok = json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"},
                        "paths": {"/": {"get": {}}, "/a/{b}/c/{d}/": {"get": {}}}});
        assert_eq!(
            import_openapi(&ok.to_string())
                .expect("accepted")
                .operations
                .len(),
            2
        );
    }

    #[test]
    fn refuses_duplicate_operation_ids() {
        let text = json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"},
                          "paths": {"/a": {"get": {"operationId": "lay"}}, "/b": {"post": {"operationId": "lay"}}}});
        assert_eq!(
            error_of(&text.to_string()),
            "paths./b.post: operationId `lay` is already used by paths./a.get; operation ids must be unique"
        );
    }

    #[test]
    fn lists_every_method_and_follows_local_path_item_refs() {
        let mut item = Map::new();
        for method in METHODS {
            item.insert(method.to_owned(), json!({"responses": {}}));
        }
        item.insert("parameters".to_owned(), json!([]));
        let text = json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"},
                          "paths": {"/all": item, "/shared": {"$ref": "#/components/pathItems/Shared"}},
                          "components": {"pathItems": {"Shared": {"delete": {"operationId": "xoa"}}}}});
        let spec = import_openapi(&text.to_string()).expect("accepted");
        let methods: Vec<_> = spec
            .operations
            .iter()
            .map(|op| op.method.as_str())
            .collect();
        assert_eq!(
            methods,
            [
                "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "DELETE"
            ]
        );
        // Sorted by path whatever the map order.
        assert_eq!(spec.operations[8].path, "/shared");
        assert_eq!(spec.operations[8].operation_id.as_deref(), Some("xoa"));

        let external = json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"},
                              "paths": {"/x": {"$ref": "other.yaml#/x"}}});
        assert!(error_of(&external.to_string()).starts_with(
            "paths./x: $ref `other.yaml#/x` cannot be used: only references inside the document"
        ));
    }

    #[test]
    fn refuses_more_than_the_operation_limit() {
        let mut paths = Map::new();
        for i in 0..=MAX_OPERATIONS / 2 {
            paths.insert(format!("/r{i}"), json!({"get": {}, "post": {}}));
        }
        let text =
            json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": paths});
        assert_eq!(
            import_openapi(&text.to_string()).expect_err("refused"),
            SpecError::TooManyOperations {
                limit: MAX_OPERATIONS
            }
        );
        paths.remove("/r0");
        let text =
            json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": paths});
        assert_eq!(
            import_openapi(&text.to_string())
                .expect("accepted")
                .operations
                .len(),
            MAX_OPERATIONS
        );
    }

    #[test]
    fn refuses_deep_json_and_yaml() {
        let deep_json = format!(
            "{{\"openapi\": \"3.1.0\", \"x\": {}{}}}",
            "[".repeat(MAX_NESTING),
            "]".repeat(MAX_NESTING)
        );
        assert_eq!(
            import_openapi(&deep_json).expect_err("refused"),
            SpecError::TooDeep { limit: MAX_NESTING }
        );
        // Brackets inside strings do not count.
        assert_eq!(json_nesting(r#"{"a": "[[[[[[\"[[["}"#), 1);
        let deep_yaml = format!("openapi: 3.1.0\nx: {}", "[".repeat(10_000));
        assert_eq!(
            import_openapi(&deep_yaml).expect_err("refused"),
            SpecError::TooDeep { limit: MAX_NESTING }
        );
    }

    #[test]
    fn refuses_an_alias_bomb_in_a_spec() {
        let mut text = String::from("openapi: 3.1.0\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n");
        for i in 1..10 {
            let refs = vec![format!("*x{}", i - 1); 10].join(", ");
            text.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
        }
        text.push_str("info: {title: x, version: '1'}\npaths: {}\n");
        assert_eq!(
            import_openapi(&text).expect_err("refused"),
            SpecError::AliasExpansion {
                limit: crate::specs::MAX_ALIAS_NODES
            }
        );
    }

    #[test]
    fn reports_json_syntax_errors_with_position() {
        let message = error_of("{\"openapi\": \"3.1.0\",\n \"info\": }");
        assert!(message.starts_with("invalid JSON: "), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn markers_on_parameters_and_referenced_schemas_count_but_examples_do_not() {
        let text = json!({
            "openapi": "3.1.0", "info": {"title": "x", "version": "1"},
            "paths": {"/a/{soCccd}": {"get": {
                "parameters": [
                    {"name": "soCccd", "in": "path", "required": true, "schema": {"type": "string"}, "x-personal-data": true},
                    {"name": "email", "in": "query", "schema": {"type": "string", "x-personal-data": true}},
                    {"name": "trang", "in": "query", "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"hoTenCha": {"$ref": "#/components/schemas/HoTen"}}},
                    "example": {"properties": {"giaTri": {"x-personal-data": true}}}
                }}}}
            }}},
            "components": {"schemas": {"HoTen": {"type": "string", "x-personal-data": true},
                                       "KhongDanhDau": {"type": "object", "properties": {"maXa": {"type": "string", "x-personal-data": false}}}}}
        });
        let spec = import_openapi(&text.to_string()).expect("accepted");
        assert_eq!(spec.personal_data_fields, ["email", "hoTenCha", "soCccd"]);
    }

    #[test]
    fn property_names_that_look_like_keywords_are_still_schemas() {
        let text = "openapi: 3.0.3\ninfo: {title: x, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n    Mau:\n      type: object\n      properties:\n        example: {type: string, nullable: true}\n        default: {type: integer, nullable: true, x-personal-data: true}\n      example: {nullable: true}\n";
        let spec = import_openapi(text).expect("accepted");
        let mau = &spec.openapi["components"]["schemas"]["Mau"];
        assert_eq!(
            mau["properties"]["example"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            mau["properties"]["default"]["type"],
            json!(["integer", "null"])
        );
        // Example data is left as it is.
        assert_eq!(mau["example"], json!({"nullable": true}));
        assert_eq!(spec.personal_data_fields, ["default"]);
    }

    #[test]
    fn checks_the_declared_types_of_members() {
        assert_eq!(
            error_of("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths: [1]\n"),
            "paths must be an object"
        );
        assert_eq!(
            error_of("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a: 1\n"),
            "paths: /a must be a path item object"
        );
        assert_eq!(
            error_of("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get: 1\n"),
            "paths./a: get must be an operation object"
        );
        assert_eq!(
            error_of(
                "openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get: {responses: []}\n"
            ),
            "paths./a.get: responses must be an object"
        );
        assert_eq!(
            error_of("openapi: 3.0.0\ninfo: [x]\npaths: {}\n"),
            "info must be an object"
        );
    }
}
