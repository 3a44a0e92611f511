//! The rules on the OpenAPI document itself: VAPEX-OPENAPI, VAPEX-VERSION,
//! VAPEX-ERRORS and VAPEX-SECURITY.

use serde_json::{Map, Value};

use super::{Finding, RULE_ERRORS, RULE_OPENAPI, RULE_SECURITY, RULE_VERSION, child, quote};

/// The HTTP methods a path item can hold an operation under.
pub(super) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// How many `$ref` hops to a response are followed before giving up, so a
/// cycle of references cannot loop.
const MAX_REF_HOPS: usize = 8;

/// One operation of the document.
pub(super) struct Operation<'a> {
    /// Pointer to the operation object.
    pub(super) pointer: String,
    /// `GET /citizens/{soDinhDanh}`, for messages.
    pub(super) label: String,
    /// The operation object.
    pub(super) value: &'a Map<String, Value>,
}

/// The path items under `paths`, with their pointers; extensions and
/// members that are not objects are left out.
pub(super) fn path_items(doc: &Map<String, Value>) -> Vec<(&str, String, &Map<String, Value>)> {
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return Vec::new();
    };
    paths
        .iter()
        .filter(|(path, _)| path.starts_with('/'))
        .filter_map(|(path, item)| {
            let item = item.as_object()?;
            Some((path.as_str(), child("/paths", path), item))
        })
        .collect()
}

/// Every operation of every path item, in document order.
pub(super) fn operations(doc: &Map<String, Value>) -> Vec<Operation<'_>> {
    let mut operations = Vec::new();
    for (path, pointer, item) in path_items(doc) {
        for method in METHODS {
            if let Some(value) = item.get(method).and_then(Value::as_object) {
                operations.push(Operation {
                    pointer: child(&pointer, method),
                    label: format!("{} {path}", method.to_ascii_uppercase()),
                    value,
                });
            }
        }
    }
    operations
}

/// VAPEX-OPENAPI: an OpenAPI 3.1 version, a title, at least one path.
pub(super) fn check_openapi(doc: &Map<String, Value>, out: &mut Vec<Finding>) {
    let mut finding = |pointer: &str, message: String| {
        out.push(Finding::new(RULE_OPENAPI, pointer, message));
    };
    match doc.get("openapi") {
        Some(Value::String(v)) if v == "3.1" || v.starts_with("3.1.") => {}
        Some(Value::String(v)) => finding(
            "/openapi",
            format!(
                "is {}, not OpenAPI 3.1: set it to \"3.1.0\" (importing a 3.0 spec again converts it)",
                quote(v)
            ),
        ),
        Some(_) => finding(
            "/openapi",
            "must be a string: set it to \"3.1.0\"".to_owned(),
        ),
        None => finding(
            "/openapi",
            "is missing: set it to \"3.1.0\"; V-APEX takes OpenAPI 3.1 documents".to_owned(),
        ),
    }
    match doc.get("info") {
        Some(Value::Object(info)) => match info.get("title") {
            Some(Value::String(t)) if !t.trim().is_empty() => {}
            Some(Value::String(_)) => finding(
                "/info/title",
                "is empty: give the service's name, e.g. \"Tra cứu thông tin công dân\"".to_owned(),
            ),
            Some(_) => finding(
                "/info/title",
                "must be a string: the service's name, e.g. \"Tra cứu thông tin công dân\""
                    .to_owned(),
            ),
            None => finding(
                "/info/title",
                "is missing: give the service's name, e.g. \"Tra cứu thông tin công dân\""
                    .to_owned(),
            ),
        },
        Some(_) => finding(
            "/info",
            "must be an object with title and version".to_owned(),
        ),
        None => finding(
            "/info",
            "is missing: add info with title and version".to_owned(),
        ),
    }
    match doc.get("paths") {
        Some(Value::Object(paths)) if paths.keys().any(|p| p.starts_with('/')) => {}
        Some(Value::Object(_)) => finding(
            "/paths",
            "has no path: add at least one operation, e.g. under \"/citizens/{soDinhDanh}\""
                .to_owned(),
        ),
        Some(_) => finding(
            "/paths",
            "must be an object of path items, e.g. {\"/citizens/{soDinhDanh}\": {\"get\": …}}"
                .to_owned(),
        ),
        None => finding(
            "/paths",
            "is missing: add the service's operations, e.g. under \"/citizens/{soDinhDanh}\""
                .to_owned(),
        ),
    }
    // Other rules skip what is not a path item or an operation, so say it here.
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return;
    };
    for (path, item) in paths {
        let at = child("/paths", path);
        if !path.starts_with('/') {
            if !path.starts_with("x-") {
                finding(
                    &at,
                    "is not a path: paths start with '/' (and extensions with \"x-\")".to_owned(),
                );
            }
            continue;
        }
        let Some(item) = item.as_object() else {
            finding(
                &at,
                "must be a path item object holding operations, e.g. {\"get\": …}".to_owned(),
            );
            continue;
        };
        if item.contains_key("$ref") {
            finding(
                &child(&at, "$ref"),
                "refers to a path item elsewhere, whose operations the lint cannot check: write the path item inline".to_owned(),
            );
        }
        for method in METHODS {
            if item.get(method).is_some_and(|op| !op.is_object()) {
                finding(
                    &child(&at, method),
                    "must be an operation object with responses".to_owned(),
                );
            }
        }
    }
}

/// The MAJOR of a `MAJOR.MINOR[.PATCH][-pre]` version, without leading zeros.
fn semantic_major(version: &str) -> Option<&str> {
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    if let Some(pre) = pre {
        let ok = !pre.is_empty()
            && pre
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !ok {
            return None;
        }
    }
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) {
        return None;
    }
    parts.first().map(|major| without_leading_zeros(major))
}

/// `007` → `7`, `0` → `0`: numbers compared as text cannot overflow.
fn without_leading_zeros(digits: &str) -> &str {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() { "0" } else { trimmed }
}

/// VAPEX-VERSION: a semantic `info.version` whose MAJOR is `x-vapex.version`.
pub(super) fn check_version(doc: &Map<String, Value>, out: &mut Vec<Finding>) {
    // Without an info object VAPEX-OPENAPI already names the problem.
    let Some(info) = doc.get("info").and_then(Value::as_object) else {
        return;
    };
    let (version, major) = match info.get("version") {
        Some(Value::String(v)) => match semantic_major(v) {
            Some(major) => (v, major),
            None => {
                out.push(Finding::new(
                    RULE_VERSION,
                    "/info/version",
                    format!(
                        "is {}, not MAJOR.MINOR[.PATCH][-pre]: write the API's version like \"1.2.0\" (the \"v1\" form belongs in x-vapex.version)",
                        quote(v)
                    ),
                ));
                return;
            }
        },
        Some(_) => {
            out.push(Finding::new(
                RULE_VERSION,
                "/info/version",
                "must be a string MAJOR.MINOR[.PATCH][-pre], e.g. \"1.2.0\"",
            ));
            return;
        }
        None => {
            out.push(Finding::new(
                RULE_VERSION,
                "/info/version",
                "is missing: set the API's version as MAJOR.MINOR[.PATCH][-pre], e.g. \"1.2.0\"",
            ));
            return;
        }
    };
    let Some(block_version) = doc
        .get("x-vapex")
        .and_then(|block| block.get("version"))
        .and_then(Value::as_str)
    else {
        return; // VAPEX-BLOCK reports a missing block version.
    };
    let Some(number) = block_version
        .strip_prefix('v')
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    else {
        return; // VAPEX-BLOCK reports a version that is not v<N>.
    };
    if without_leading_zeros(number) != major {
        out.push(Finding::new(
            RULE_VERSION,
            "/x-vapex/version",
            format!(
                "is {} but info.version {} has major version {major}: set it to \"v{major}\", or correct info.version",
                quote(block_version),
                quote(version)
            ),
        ));
    }
}

/// Whether a response key stands for client or server errors.
fn is_error_status(key: &str) -> bool {
    let bytes = key.as_bytes();
    key == "default"
        || matches!(key, "4XX" | "5XX" | "4xx" | "5xx")
        || (bytes.len() == 3
            && matches!(bytes.first(), Some(b'4' | b'5'))
            && bytes.iter().all(u8::is_ascii_digit))
}

/// The response a `$ref` to `#/components/responses/<name>` reaches,
/// following references up to [`MAX_REF_HOPS`]; `Err` names a reference
/// that does not resolve inside the document.
fn resolve_response<'a>(
    doc: &'a Map<String, Value>,
    response: &'a Value,
) -> Result<&'a Value, String> {
    let mut current = response;
    for _ in 0..=MAX_REF_HOPS {
        let Some(reference) = current.get("$ref") else {
            return Ok(current);
        };
        let target = reference
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/responses/"))
            .filter(|name| !name.contains('/'))
            .map(|name| name.replace("~1", "/").replace("~0", "~"))
            .and_then(|name| {
                doc.get("components")
                    .and_then(|c| c.get("responses"))
                    .and_then(|r| r.get(name.as_str()))
            });
        match target {
            Some(next) => current = next,
            None => {
                return Err(reference
                    .as_str()
                    .map(quote)
                    .unwrap_or_else(|| "a $ref that is not a string".to_owned()));
            }
        }
    }
    Err("a chain of more than 8 $refs".to_owned())
}

/// Whether a response object's content declares a schema for some media type.
fn has_content_schema(response: &Value) -> bool {
    response
        .get("content")
        .and_then(Value::as_object)
        .is_some_and(|content| content.values().any(|media| media.get("schema").is_some()))
}

/// VAPEX-ERRORS: every operation declares an error response with a schema.
pub(super) fn check_errors(doc: &Map<String, Value>, out: &mut Vec<Finding>) {
    const HOW: &str = "add a \"4XX\", \"5XX\", 4xx/5xx or \"default\" response whose content has a schema; application/problem+json with the LGSP problem schema is recommended";
    for op in operations(doc) {
        let pointer = child(&op.pointer, "responses");
        let Some(responses) = op.value.get("responses").and_then(Value::as_object) else {
            out.push(Finding::new(
                RULE_ERRORS,
                pointer,
                format!("{} declares no responses: {HOW}", op.label),
            ));
            continue;
        };
        let mut without_schema = Vec::new();
        let mut unresolved = Vec::new();
        let mut satisfied = false;
        for (status, response) in responses.iter().filter(|(k, _)| is_error_status(k)) {
            match resolve_response(doc, response) {
                Ok(resolved) if has_content_schema(resolved) => {
                    satisfied = true;
                    break;
                }
                Ok(_) => without_schema.push(status.as_str()),
                Err(reference) => unresolved.push(format!("{status} refers to {reference}")),
            }
        }
        if satisfied {
            continue;
        }
        let mut detail = String::new();
        if !without_schema.is_empty() {
            detail.push_str(&format!(
                " ({} without a content schema)",
                without_schema.join(", ")
            ));
        }
        if !unresolved.is_empty() {
            detail.push_str(&format!(
                " ({}, which does not resolve to #/components/responses)",
                unresolved.join("; ")
            ));
        }
        out.push(Finding::new(
            RULE_ERRORS,
            pointer,
            format!(
                "{} has no error response with a schema{detail}: {HOW}",
                op.label
            ),
        ));
    }
}

/// VAPEX-SECURITY: declared schemes, and every operation covered by a
/// requirement that names only declared schemes.
pub(super) fn check_security(doc: &Map<String, Value>, out: &mut Vec<Finding>) {
    let schemes = doc
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .and_then(Value::as_object);
    if schemes.is_none_or(Map::is_empty) {
        out.push(Finding::new(
            RULE_SECURITY,
            "/components/securitySchemes",
            "is missing or empty: declare the schemes consumers use at the gateway, e.g. an oauth2 clientCredentials flow with the gateway's tokenUrl",
        ));
    }
    let declared = |name: &str| schemes.is_some_and(|s| s.contains_key(name));

    let top = doc.get("security");
    if let Some(top) = top {
        check_requirements(top, "/security", &declared, out);
    }
    for op in operations(doc) {
        match op.value.get("security") {
            Some(own) => {
                let pointer = child(&op.pointer, "security");
                if own.as_array().is_some_and(Vec::is_empty) {
                    out.push(Finding::new(
                        RULE_SECURITY,
                        pointer,
                        format!(
                            "{} opts out of security with `security: []`: remove it so the top-level requirement applies, or list a scheme",
                            op.label
                        ),
                    ));
                } else {
                    check_requirements(own, &pointer, &declared, out);
                }
            }
            None => match top {
                None => out.push(Finding::new(
                    RULE_SECURITY,
                    op.pointer,
                    format!(
                        "{} is not covered by any security requirement: add a top-level `security` (e.g. [{{\"oauth2\": []}}]) or one on the operation",
                        op.label
                    ),
                )),
                Some(Value::Array(top)) if top.is_empty() => out.push(Finding::new(
                    RULE_SECURITY,
                    op.pointer,
                    format!(
                        "{} inherits the empty top-level `security: []`: list a scheme at the top level or on the operation",
                        op.label
                    ),
                )),
                Some(_) => {} // checked above
            },
        }
    }
}

/// Checks one `security` member: an array of requirement objects, none
/// empty, each naming only declared schemes.
fn check_requirements(
    security: &Value,
    pointer: &str,
    declared: &dyn Fn(&str) -> bool,
    out: &mut Vec<Finding>,
) {
    let Some(requirements) = security.as_array() else {
        out.push(Finding::new(
            RULE_SECURITY,
            pointer,
            "must be an array of security requirements, e.g. [{\"oauth2\": []}]",
        ));
        return;
    };
    for (i, requirement) in requirements.iter().enumerate() {
        let at = child(pointer, &i.to_string());
        let Some(requirement) = requirement.as_object() else {
            out.push(Finding::new(
                RULE_SECURITY,
                at,
                "must be an object naming schemes, e.g. {\"oauth2\": []}",
            ));
            continue;
        };
        if requirement.is_empty() {
            out.push(Finding::new(
                RULE_SECURITY,
                at.clone(),
                "is an empty requirement `{}`, which lets callers in without credentials: remove it",
            ));
        }
        for name in requirement.keys() {
            if !declared(name) {
                out.push(Finding::new(
                    RULE_SECURITY,
                    child(&at, name),
                    format!(
                        "names the scheme {}, which components.securitySchemes does not declare: declare it there or correct the name",
                        quote(name)
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_versions() {
        assert_eq!(semantic_major("1.2.0"), Some("1"));
        assert_eq!(semantic_major("1.2"), Some("1"));
        assert_eq!(semantic_major("02.0.1-rc.1"), Some("2"));
        assert_eq!(semantic_major("0.9.0-beta-2"), Some("0"));
        for bad in [
            "v1",
            "1",
            "1.2.3.4",
            "1..2",
            "1.2-",
            "1.2.0-rc!",
            "",
            "1.x.0",
            "１.0",
        ] {
            assert_eq!(semantic_major(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_statuses() {
        for key in ["default", "4XX", "5xx", "400", "404", "503"] {
            assert!(is_error_status(key), "{key}");
        }
        for key in ["200", "3XX", "4X", "40", "4000", "x-4XX", "6XX"] {
            assert!(!is_error_status(key), "{key}");
        }
    }
}
