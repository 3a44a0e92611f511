//! Importing a service's specification: an OpenAPI 3.0/3.1 document (JSON
//! or YAML) for a REST service, or a WSDL 1.1 for a SOAP service, read into
//! what the registry needs (operations, upstream servers, personal-data
//! fields) and into the OpenAPI 3.1 document the gateway later publishes.
//!
//! Everything here is pure and bounded: documents over
//! [`MAX_DOCUMENT_BYTES`], nested deeper than [`MAX_NESTING`] or with more
//! than [`MAX_OPERATIONS`] operations are refused with a clear error, never
//! a panic. YAML aliases are expanded only up to [`MAX_ALIAS_NODES`] nodes.

mod openapi;
mod wsdl;
mod yaml;

use serde::{Deserialize, Serialize};

use crate::soap::XmlError;

pub use openapi::import_openapi;
pub use wsdl::import_wsdl;

/// Largest document accepted, in bytes (2 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;
/// Deepest nesting of objects/arrays (JSON, YAML) or elements (XML) accepted.
pub const MAX_NESTING: usize = 64;
/// Most operations one document may declare.
pub const MAX_OPERATIONS: usize = 2_000;
/// Most YAML nodes that anchors and aliases may copy, in total; beyond it
/// the document is an alias bomb.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// The kind of specification a service was described with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecFormat {
    /// OpenAPI 3.0 or 3.1 (JSON or YAML), for REST services.
    OpenApi,
    /// WSDL 1.1, for SOAP services.
    Wsdl,
}

/// One operation the imported service offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportedOperation {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template as written (e.g. `/citizens/{soDinhDanh}`); always starts with `/`.
    pub path: String,
    /// The spec's operation id (for WSDL, the operation name).
    pub operation_id: Option<String>,
    /// One-line summary (for WSDL, the operation's documentation).
    pub summary: Option<String>,
    /// The `SOAPAction` that selects this operation (WSDL only).
    pub soap_action: Option<String>,
}

/// A specification read and normalised, ready to become a registry service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedSpec {
    /// What the document was.
    pub format: SpecFormat,
    /// The service's title (`info.title`, or the WSDL's name).
    pub title: String,
    /// The service's description, if the document has one.
    pub description: Option<String>,
    /// The document's own version (`info.version`); for WSDL only when documented.
    pub spec_version: Option<String>,
    /// Absolute upstream URLs the document names (OpenAPI `servers`, WSDL `soap:address`).
    pub servers: Vec<String>,
    /// The operations: for OpenAPI sorted by path (methods in the
    /// specification's order), for WSDL in document order.
    pub operations: Vec<ImportedOperation>,
    /// Names of properties and parameters marked `x-personal-data: true`, sorted, deduplicated.
    pub personal_data_fields: Vec<String>,
    /// The document as OpenAPI 3.1 (converted from 3.0, or generated for WSDL).
    pub openapi: serde_json::Value,
}

/// Why a specification was refused. Locations are dotted member paths of
/// the document (`paths./citizens/{id}.get`); names taken from the document
/// are cut to a readable length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Larger than [`MAX_DOCUMENT_BYTES`].
    #[error("the document is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Nothing but whitespace.
    #[error("the document is empty")]
    Empty,
    /// An OpenAPI document that is not UTF-8 text.
    #[error("the document is not UTF-8 text")]
    NotUtf8,
    /// Nested deeper than [`MAX_NESTING`].
    #[error("the document nests deeper than {limit} levels")]
    TooDeep {
        /// The limit in levels.
        limit: usize,
    },
    /// More than [`MAX_OPERATIONS`] operations.
    #[error("the document declares more than {limit} operations")]
    TooManyOperations {
        /// The limit in operations.
        limit: usize,
    },
    /// Not well-formed JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Not well-formed YAML, or YAML that has no JSON equivalent.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// YAML anchors and aliases copy more than [`MAX_ALIAS_NODES`] nodes.
    #[error(
        "YAML anchors and aliases copy more than {limit} nodes; expand them in the document or send it as JSON"
    )]
    AliasExpansion {
        /// The limit in nodes.
        limit: usize,
    },
    /// A Swagger 2.0 document.
    #[error(
        "Swagger 2.0 documents are not accepted: convert the document to OpenAPI 3 (for example with swagger2openapi or the Swagger Editor) and import it again"
    )]
    Swagger2,
    /// An `openapi` version other than 3.0.x or 3.1.x.
    #[error("openapi: version `{0}` is not supported; only 3.0.x and 3.1.x are accepted")]
    UnsupportedVersion(String),
    /// A required member is absent.
    #[error("{}{member} is missing", located(.at))]
    Missing {
        /// Where, as a dotted member path (empty for the document root).
        at: String,
        /// The missing member.
        member: String,
    },
    /// A member has the wrong type or an unusable value.
    #[error("{}{member} must be {expected}", located(.at))]
    WrongType {
        /// Where, as a dotted member path (empty for the document root).
        at: String,
        /// The member.
        member: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A path the gateway cannot route on.
    #[error("paths.{path}: the gateway cannot route this path: {reason}")]
    UnroutablePath {
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two operations share an operation id.
    #[error(
        "{second}: operationId `{operation_id}` is already used by {first}; operation ids must be unique"
    )]
    DuplicateOperationId {
        /// The id.
        operation_id: String,
        /// The operation that has it first.
        first: String,
        /// The operation that repeats it.
        second: String,
    },
    /// A `$ref` that does not point into the document.
    #[error("{at}: $ref `{reference}` cannot be used: {reason}")]
    UnresolvedRef {
        /// Where the reference is.
        at: String,
        /// The reference as written.
        reference: String,
        /// Why it cannot be followed.
        reason: &'static str,
    },
    /// The WSDL was refused by the XML reader.
    #[error("WSDL: {0}")]
    Xml(#[from] XmlError),
    /// XML, but not a WSDL 1.1 document.
    #[error(
        "not a WSDL 1.1 document: the root element is {found}, expected {{http://schemas.xmlsoap.org/wsdl/}}definitions"
    )]
    NotWsdl {
        /// The root element found.
        found: String,
    },
    /// A WSDL 2.0 document.
    #[error("WSDL 2.0 is not supported: import the service's WSDL 1.1 description")]
    Wsdl20,
    /// A WSDL without any portType operation.
    #[error("the WSDL defines no portType operation{}", if *.has_imports { " (wsdl:import is not followed: import a WSDL that contains its portTypes)" } else { "" })]
    NoWsdlOperations {
        /// Whether the WSDL imports other documents, which are not read.
        has_imports: bool,
    },
}

/// `at: ` before a member name, or nothing at the document root.
fn located(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!("{at}: ")
    }
}

/// A name or value taken from an untrusted document, cut for messages.
fn clip(text: &str) -> String {
    const MAX_CHARS: usize = 120;
    if text.chars().count() <= MAX_CHARS {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(MAX_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// Imports a specification, told by `format_hint` or sniffed: a document
/// whose first non-blank character is `<` is XML and read as WSDL (so an
/// XML file that is not WSDL is refused as such), anything else as OpenAPI.
pub fn import(bytes: &[u8], format_hint: Option<SpecFormat>) -> Result<ImportedSpec, SpecError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(SpecError::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let format = format_hint.unwrap_or_else(|| sniff(bytes));
    match format {
        SpecFormat::Wsdl => import_wsdl(bytes),
        SpecFormat::OpenApi => {
            import_openapi(std::str::from_utf8(bytes).map_err(|_| SpecError::NotUtf8)?)
        }
    }
}

/// The format a document looks like, from its first non-blank byte.
fn sniff(bytes: &[u8]) -> SpecFormat {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => SpecFormat::Wsdl,
        _ => SpecFormat::OpenApi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POPULATION_JSON: &str = include_str!("fixtures/population.openapi.json");
    const MOTCUA_YAML: &str = include_str!("fixtures/motcua-hoso.openapi.yaml");
    const ENTERPRISE_WSDL: &str = include_str!("fixtures/enterprise-soap11.wsdl");

    #[test]
    fn sniffs_wsdl_json_and_yaml() {
        let wsdl = import(ENTERPRISE_WSDL.as_bytes(), None).expect("accepted");
        assert_eq!(wsdl.format, SpecFormat::Wsdl);
        let json = import(POPULATION_JSON.as_bytes(), None).expect("accepted");
        assert_eq!(json.format, SpecFormat::OpenApi);
        assert_eq!(json.openapi["openapi"], "3.1.0");
        let yaml = import(MOTCUA_YAML.as_bytes(), None).expect("accepted");
        assert_eq!(yaml.format, SpecFormat::OpenApi);
        assert_eq!(yaml.title, "Tra cứu hồ sơ một cửa");
    }

    #[test]
    fn sniffs_through_a_byte_order_mark_and_leading_blanks() {
        let mut bytes = b"\xEF\xBB\xBF\n  ".to_vec();
        bytes.extend_from_slice(ENTERPRISE_WSDL.as_bytes());
        assert_eq!(
            import(&bytes, None).expect("accepted").format,
            SpecFormat::Wsdl
        );
    }

    #[test]
    fn the_hint_wins_over_sniffing() {
        let error =
            import(POPULATION_JSON.as_bytes(), Some(SpecFormat::Wsdl)).expect_err("refused");
        assert!(matches!(error, SpecError::Xml(_)), "{error}");
        let error =
            import(ENTERPRISE_WSDL.as_bytes(), Some(SpecFormat::OpenApi)).expect_err("refused");
        assert!(matches!(error, SpecError::Yaml(_)), "{error}");
    }

    #[test]
    fn xml_that_is_not_wsdl_is_refused_as_such() {
        let error =
            import(b"<?xml version=\"1.0\"?><html><body/></html>", None).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "not a WSDL 1.1 document: the root element is html, expected {http://schemas.xmlsoap.org/wsdl/}definitions"
        );
    }

    #[test]
    fn refuses_oversized_input_of_either_format() {
        let mut big = POPULATION_JSON.as_bytes().to_vec();
        big.resize(MAX_DOCUMENT_BYTES + 1, b' ');
        assert_eq!(
            import(&big, None).expect_err("refused"),
            SpecError::TooLarge {
                limit: MAX_DOCUMENT_BYTES
            }
        );
        let mut big = ENTERPRISE_WSDL.as_bytes().to_vec();
        big.resize(MAX_DOCUMENT_BYTES + 1, b' ');
        assert_eq!(
            import(&big, Some(SpecFormat::Wsdl)).expect_err("refused"),
            SpecError::TooLarge {
                limit: MAX_DOCUMENT_BYTES
            }
        );
        // Exactly at the limit is still read (and here parses).
        let mut at_limit = POPULATION_JSON.as_bytes().to_vec();
        at_limit.resize(MAX_DOCUMENT_BYTES, b' ');
        assert!(import(&at_limit, None).is_ok());
    }

    #[test]
    fn refuses_openapi_that_is_not_utf8() {
        assert_eq!(
            import(b"openapi: \xFF\xFE", None).expect_err("refused"),
            SpecError::NotUtf8
        );
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        let samples: [&[u8]; 12] = [
            b"",
            b"   \n\t ",
            b"\x00\x01\x02\x03",
            b"{",
            b"{\"openapi\": \"3.1.0\", ]",
            b"<",
            b"<definitions",
            b"- - - [ ] : : {",
            b"key: [unclosed",
            b"just some text",
            b"%YAML 1.2\n---\n!!binary AAAA",
            b"? [a, b]\n: c\n",
        ];
        for sample in samples {
            assert!(import(sample, None).is_err(), "{sample:?} was accepted");
        }
        // Pseudo-random bytes, deterministic.
        const ALPHABET: &[u8] = b"{}[]:,-'\"&*!|>#\n abc<>/=?\\%";
        let mut state: u32 = 0x2545_f491;
        for round in 0..200 {
            let len = 1 + (round * 7) % 300;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    ALPHABET[state as usize % ALPHABET.len()]
                })
                .collect();
            let _ = import(&bytes, None);
        }
    }

    #[test]
    fn errors_locate_the_member() {
        let error = SpecError::Missing {
            at: "paths./citizens/{id}.get".to_owned(),
            member: "responses".to_owned(),
        };
        assert_eq!(
            error.to_string(),
            "paths./citizens/{id}.get: responses is missing"
        );
        let at_root = SpecError::Missing {
            at: String::new(),
            member: "paths".to_owned(),
        };
        assert_eq!(at_root.to_string(), "paths is missing");
    }

    #[test]
    fn format_serializes_in_lower_case() {
        assert_eq!(
            serde_json::to_value(SpecFormat::OpenApi).expect("accepted"),
            "openapi"
        );
        assert_eq!(
            serde_json::to_value(SpecFormat::Wsdl).expect("accepted"),
            "wsdl"
        );
        let back: SpecFormat = serde_json::from_str("\"wsdl\"").expect("accepted");
        assert_eq!(back, SpecFormat::Wsdl);
    }

    #[test]
    fn clips_long_names() {
        let long = "a".repeat(500);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), 121);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("soDinhDanh"), "soDinhDanh");
    }
}
