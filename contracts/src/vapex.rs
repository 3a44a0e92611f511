//! The V-APEX conformance lint: checks a service descriptor (an OpenAPI 3.1
//! document with an `x-vapex` block) against the national conventions of
//! `contracts/vapex/README.md` before the gateway publishes it.
//!
//! Each [`Finding`] names its rule, a JSON pointer into the descriptor and
//! what to change, because the province admin reads them as the answer to a
//! refused publication. The lint never panics and never fetches anything: a
//! `$ref` is resolved only where a rule needs it, inside the document.

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::Value;

mod block;
mod document;
mod fields;

#[cfg(test)]
mod tests;

/// OpenAPI 3.1 with a title and paths.
const RULE_OPENAPI: &str = "VAPEX-OPENAPI";
/// Semantic `info.version` whose major is the `x-vapex` version.
const RULE_VERSION: &str = "VAPEX-VERSION";
/// Every operation declares an error response with a schema.
const RULE_ERRORS: &str = "VAPEX-ERRORS";
/// Declared security schemes cover every operation.
const RULE_SECURITY: &str = "VAPEX-SECURITY";
/// Data field and parameter names are Vietnamese camelCase.
const RULE_CAMELCASE: &str = "VAPEX-CAMELCASE";
/// Personal-data fields are declared in the registry.
const RULE_PERSONAL_DATA: &str = "VAPEX-PERSONAL-DATA";
/// The `x-vapex` block is present and valid.
const RULE_BLOCK: &str = "VAPEX-BLOCK";

/// Every rule as `(id, one-line summary)`, in the order findings are sorted.
pub const RULES: &[(&str, &str)] = &[
    (
        RULE_OPENAPI,
        "`openapi` is 3.1.x, `info.title` is not empty and `paths` has at least one path",
    ),
    (
        RULE_VERSION,
        "`info.version` is MAJOR.MINOR[.PATCH][-pre] and `x-vapex.version` is `v<MAJOR>`",
    ),
    (
        RULE_ERRORS,
        "every operation declares a 4xx, 5xx or default response whose content has a schema",
    ),
    (
        RULE_SECURITY,
        "declared security schemes cover every operation with a non-empty requirement",
    ),
    (
        RULE_CAMELCASE,
        "schema property and path/query parameter names are Vietnamese camelCase (^[a-z][a-zA-Z0-9]*$)",
    ),
    (
        RULE_PERSONAL_DATA,
        "every personal-data field (marked or on the national list) is declared for the service",
    ),
    (
        RULE_BLOCK,
        "the `x-vapex` block is present, valid against x-vapex.schema.json, and `servers` name its gateway endpoint",
    ),
];

/// One breach of a convention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id, one of [`RULES`] (`VAPEX-ERRORS`).
    pub rule: &'static str,
    /// JSON pointer (RFC 6901) into the descriptor; `""` is the whole document.
    pub pointer: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Finding {
    fn new(rule: &'static str, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            rule,
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{} at {pointer}: {}", self.rule, self.message)
    }
}

/// Checks `descriptor` against every rule. `declared_personal_fields` are the
/// personal-data fields the service's registry entry declares. An empty list
/// means the descriptor conforms; the order is fixed (rule, then pointer
/// segment by segment, then message), so the same input gives the same list.
pub fn lint(descriptor: &Value, declared_personal_fields: &[String]) -> Vec<Finding> {
    let Some(doc) = descriptor.as_object() else {
        return vec![Finding::new(
            RULE_OPENAPI,
            "",
            "the descriptor must be a JSON object: an OpenAPI 3.1 document with an x-vapex block",
        )];
    };
    let mut findings = Vec::new();
    document::check_openapi(doc, &mut findings);
    document::check_version(doc, &mut findings);
    document::check_errors(doc, &mut findings);
    document::check_security(doc, &mut findings);
    let walked = fields::walk(doc);
    fields::check_camel_case(&walked, &mut findings);
    fields::check_personal_data(doc, &walked, declared_personal_fields, &mut findings);
    block::check_block(doc, &mut findings);
    findings.sort_by(order);
    findings.dedup();
    findings
}

/// The national list of personal-data field names
/// (`contracts/vapex/personal-data-fields.txt`), in file order.
pub fn personal_data_fields() -> &'static [&'static str] {
    static LIST: OnceLock<Vec<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../vapex/personal-data-fields.txt")
            .lines()
            .filter_map(|line| line.split('#').next())
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect()
    })
}

/// Findings sort by rule (in [`RULES`] order), then pointer segment by
/// segment (so `/a/10` follows `/a/9`), then message.
fn order(a: &Finding, b: &Finding) -> Ordering {
    let rank = |rule: &str| RULES.iter().position(|(id, _)| *id == rule);
    let segments = |p: &str| {
        p.split('/')
            .map(|s| (s.parse::<u64>().ok(), s.to_owned()))
            .collect::<Vec<_>>()
    };
    rank(a.rule)
        .cmp(&rank(b.rule))
        .then_with(|| segments(&a.pointer).cmp(&segments(&b.pointer)))
        .then_with(|| a.message.cmp(&b.message))
}

/// `base` extended by the member or index `segment`, escaped per RFC 6901.
fn child(base: &str, segment: &str) -> String {
    format!("{base}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

/// Whether `name` is Vietnamese camelCase as the conventions define it.
fn is_camel_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// A name or value from the descriptor as messages show it: quoted, and cut
/// short so a hostile document cannot make a finding arbitrarily long.
fn quote(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}
