//! VAPEX-BLOCK: the `x-vapex` block against `contracts/vapex/x-vapex.schema.json`,
//! and the document's `servers` against the block's gateway endpoint.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value};

use super::{Finding, RULE_BLOCK, child, quote};

/// The schema of the `x-vapex` block, as shipped in `contracts/vapex/`.
pub(super) const SCHEMA_TEXT: &str = include_str!("../../vapex/x-vapex.schema.json");

/// The compiled schema, or why this build's schema does not compile.
fn validator() -> Result<&'static Validator, &'static str> {
    static COMPILED: OnceLock<Result<Validator, String>> = OnceLock::new();
    COMPILED
        .get_or_init(compile)
        .as_ref()
        .map_err(String::as_str)
}

/// Draft 2020-12, formats asserted (a `sunsetOn` that is no calendar day
/// fails), and no reference resolution outside the schema itself.
pub(super) fn compile() -> Result<Validator, String> {
    let schema: Value = serde_json::from_str(SCHEMA_TEXT).map_err(|e| e.to_string())?;
    jsonschema::draft202012::options()
        .offline()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(&schema)
        .map_err(|e| e.to_string())
}

/// Checks the block, then that `servers` name its gateway endpoint.
pub(super) fn check_block(doc: &Map<String, Value>, out: &mut Vec<Finding>) {
    let Some(block) = doc.get("x-vapex") else {
        out.push(Finding::new(
            RULE_BLOCK,
            "/x-vapex",
            "is missing: add the x-vapex block with agencyCode, serviceCode, version, dataClass, securityLevel, lifecycle, sla, contacts and gatewayEndpoint (contracts/vapex/README.md)",
        ));
        return;
    };
    match validator() {
        Ok(validator) => {
            if !validator.is_valid(block) {
                for error in validator.iter_errors(block) {
                    out.extend(findings_of(&error));
                }
            }
        }
        Err(defect) => out.push(Finding::new(
            RULE_BLOCK,
            "/x-vapex",
            format!(
                "cannot be checked: the x-vapex schema of this build does not compile ({defect})"
            ),
        )),
    }
    check_servers(doc, block, out);
}

/// The findings one schema error stands for. Missing and unexpected members
/// are reported at the member, which is where the admin must act.
fn findings_of(error: &ValidationError<'_>) -> Vec<Finding> {
    let at = format!("/x-vapex{}", error.instance_path().as_str());
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let message = if name == "sunsetOn" {
                "is required while lifecycle is \"deprecated\": the day this version retires, YYYY-MM-DD".to_owned()
            } else {
                match hint(name) {
                    Some(hint) => format!("is required: {hint}"),
                    None => "is required".to_owned(),
                }
            };
            vec![Finding::new(RULE_BLOCK, child(&at, name), message)]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                Finding::new(
                    RULE_BLOCK,
                    child(&at, name),
                    "is not a member the x-vapex schema allows here: remove it or correct its spelling (members are listed in contracts/vapex/README.md)",
                )
            })
            .collect(),
        _ => {
            let what = error.masked().to_string();
            let message = match hint_at(&at) {
                Some(hint) => format!("{what}: expected {hint}"),
                None => what,
            };
            vec![Finding::new(RULE_BLOCK, at, message)]
        }
    }
}

/// What the member at `pointer` should hold: by its name, or for an array
/// entry by the array's name.
fn hint_at(pointer: &str) -> Option<&'static str> {
    let mut segments = pointer.rsplit('/');
    let last = segments.next()?;
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return match segments.next()? {
            "contacts" => Some("a contact object {name, email?, phone?, role?}"),
            "personalDataFields" => Some("a Vietnamese camelCase field name, e.g. \"soDinhDanh\""),
            "allowedPurposes" => Some("a purpose code, e.g. the procedure code \"1.001612\""),
            _ => None,
        };
    }
    hint(last)
}

/// What a member of the block should hold, for messages.
fn hint(member: &str) -> Option<&'static str> {
    Some(match member {
        "x-vapex" => "an object with the catalogue metadata (contracts/vapex/README.md)",
        "agencyCode" => "the owning agency's electronic identifier, e.g. \"000.00.00.G01\"",
        "serviceCode" => {
            "the service's registry slug: lower-case letters, digits, '-' or '_', e.g. \"population\""
        }
        "version" => "the published major version as in the gateway path, e.g. \"v1\"",
        "dataClass" => "one of \"public\", \"confidential\", \"secret\"",
        "securityLevel" => "the certified security level callers need, an integer from 1 to 5",
        "lifecycle" => "one of \"published\", \"deprecated\", \"retired\", \"blocked\"",
        "deprecatedOn" | "sunsetOn" => "a calendar day, YYYY-MM-DD",
        "sla" => "an object {availabilityPercent, responseTimeMs, timeoutMs?, ratePlan?}",
        "availabilityPercent" => "a number from 0 to 100, e.g. 99.5",
        "responseTimeMs" | "timeoutMs" => "a whole number of milliseconds, at least 1",
        "ratePlan" => "the name of the rate plan, a non-empty string",
        "contacts" => "a list of at least one contact {name, email?, phone?, role?}",
        "name" => "the contact's name, a non-empty string",
        "email" => "an e-mail address",
        "phone" => {
            "a phone number of 9 to 24 characters: digits with spaces, dots, hyphens or brackets, e.g. \"+84 277 385 0000\""
        }
        "role" => "one of \"technical\", \"business\", \"security\"",
        "gatewayEndpoint" => {
            "the gateway URL consumers call, e.g. \"https://lgsp.dongthap.gov.vn/api/population/v1\""
        }
        "personalDataFields" => "a list of distinct Vietnamese camelCase field names",
        "allowedPurposes" => "a list of distinct purpose codes, e.g. [\"1.001612\"]",
        "ownerAgencyName" => "the owning agency's official name, a non-empty string",
        "description" => "what the service is for, a non-empty string",
        _ => return None,
    })
}

/// Consumers call the gateway, so every server is the block's gateway endpoint.
fn check_servers(doc: &Map<String, Value>, block: &Value, out: &mut Vec<Finding>) {
    let Some(endpoint) = block.get("gatewayEndpoint").and_then(Value::as_str) else {
        return; // the schema reports it
    };
    let wanted = endpoint.trim_end_matches('/');
    let servers = doc
        .get("servers")
        .and_then(Value::as_array)
        .filter(|servers| !servers.is_empty());
    let Some(servers) = servers else {
        out.push(Finding::new(
            RULE_BLOCK,
            "/servers",
            format!(
                "is missing or empty: set it to [{{\"url\": {}}}], the gateway endpoint consumers call",
                quote(endpoint)
            ),
        ));
        return;
    };
    for (i, server) in servers.iter().enumerate() {
        let pointer = child(&child("/servers", &i.to_string()), "url");
        let found = match server.get("url").and_then(Value::as_str) {
            Some(url) if url.trim_end_matches('/') == wanted => continue,
            Some(url) => format!("is {}", quote(url)),
            None => "is missing".to_owned(),
        };
        out.push(Finding::new(
            RULE_BLOCK,
            pointer,
            format!(
                "{found}, not the gateway endpoint {}: consumers call the gateway, never the provider's upstream; set it to x-vapex.gatewayEndpoint",
                quote(endpoint)
            ),
        ));
    }
}
