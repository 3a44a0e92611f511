//! The declarative mapping format (TOML, shipped under `contracts/soap/` and
//! `contracts/xml/`), read and checked once into a [`Mapping`].
//!
//! A mapping names a binding (`[soap]` or `[embedded]`), the namespaces its
//! paths use, and a `[request]` and a `[response]` message: the element the
//! message is (a path of qualified names) and its fields, each an XML path
//! relative to that element and a dotted JSON path in the canonical JSON.
//! `contracts/README.md` describes the format with an example.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use lgsp_contracts::{ContractName, Slug};
use serde::Deserialize;

/// The SOAP version of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum SoapVersion {
    /// SOAP 1.1: `text/xml` and a `SOAPAction` header.
    #[serde(rename = "1.1")]
    V1_1,
    /// SOAP 1.2: `application/soap+xml` with an `action` parameter.
    #[serde(rename = "1.2")]
    V1_2,
}

impl SoapVersion {
    /// The envelope's namespace URI.
    pub fn namespace(self) -> &'static str {
        match self {
            SoapVersion::V1_1 => "http://schemas.xmlsoap.org/soap/envelope/",
            SoapVersion::V1_2 => "http://www.w3.org/2003/05/soap-envelope",
        }
    }

    /// The prefix written for the envelope's namespace; mappings may not use it.
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            SoapVersion::V1_1 => "soapenv",
            SoapVersion::V1_2 => "env",
        }
    }

    /// The version whose envelope namespace this is.
    pub(crate) fn of_namespace(namespace: &str) -> Option<SoapVersion> {
        [SoapVersion::V1_1, SoapVersion::V1_2]
            .into_iter()
            .find(|v| v.namespace() == namespace)
    }
}

impl fmt::Display for SoapVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SoapVersion::V1_1 => "SOAP 1.1",
            SoapVersion::V1_2 => "SOAP 1.2",
        })
    }
}

/// Why a mapping file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// Not TOML, or keys the format does not have.
    #[error("mapping file does not parse: {0}")]
    Toml(String),
    /// A key whose value the format does not allow.
    #[error("mapping `{mapping}`, key `{key}`: {reason}")]
    Invalid {
        /// The mapping's name.
        mapping: String,
        /// The offending key, dotted (`response.fields[3].xml`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// No built-in mapping has this name.
    #[error("no built-in mapping is named `{0}`")]
    Unknown(String),
}

/// How a scalar field's text is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A JSON string; text is trimmed when read.
    #[default]
    String,
    /// A JSON integer (i64 or u64).
    Integer,
    /// A JSON number.
    Number,
    /// `true`/`false` (`1`/`0` accepted when read).
    Boolean,
    /// An ISO date, `YYYY-MM-DD` (an `xsd:date` offset is dropped when read).
    Date,
}

/// A qualified element name: namespace URI and local name, with the prefix
/// the mapping gave it (used only when writing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QName {
    /// Namespace URI, or `None` for no namespace.
    pub namespace: Option<Arc<str>>,
    /// Local name.
    pub local: String,
    /// Prefix as written in the mapping.
    pub prefix: Option<String>,
}

impl QName {
    /// Whether `element` has this name (namespace URI and local name).
    pub(crate) fn matches(&self, element: &super::XmlElement) -> bool {
        element.is(self.namespace.as_deref(), &self.local)
    }

    /// A new empty element of this name.
    pub(crate) fn element(&self) -> super::XmlElement {
        super::XmlElement::new(self.namespace.clone(), self.local.clone())
    }
}

impl fmt::Display for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.prefix {
            Some(prefix) => write!(f, "{prefix}:{}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// Text of one type.
    Scalar(ValueType),
    /// An object, from the element's own fields.
    Object(Vec<Field>),
}

/// One field of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Element path relative to the message (or enclosing object) element.
    pub xml: Vec<QName>,
    /// Member path in the canonical JSON, one name per level.
    pub json: Vec<String>,
    /// Scalar type or nested fields.
    pub value: FieldValue,
    /// Whether a missing value is an error.
    pub required: bool,
    /// Whether the last element repeats, giving a JSON array.
    pub repeated: bool,
}

impl Field {
    /// The XML path as the mapping wrote it.
    pub(crate) fn xml_path(&self) -> String {
        join(&self.xml)
    }
}

/// `a:b/a:c`.
pub(crate) fn join(path: &[QName]) -> String {
    path.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

/// A request or response message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message element: for SOAP, the path from the Body's child; for
    /// XML inside JSON, from the document's root.
    pub element: Vec<QName>,
    /// The canonical contract of the message's JSON, if it has one.
    pub contract: Option<ContractName>,
    /// The fields.
    pub fields: Vec<Field>,
}

/// XML inside a JSON member, as the civil-status service carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedBinding {
    /// The JSON member holding the XML text.
    pub field: String,
    /// Constant members of the request envelope (`loaiBanGhi = "khaiSinh"`).
    pub envelope: BTreeMap<String, String>,
    /// Member of the answer holding its result code, with the success value.
    pub result: Option<(String, String)>,
    /// Member of the answer holding the result's description.
    pub result_message: Option<String>,
}

/// How a mapping's messages travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// In a SOAP envelope, over HTTP POST.
    Soap {
        /// SOAP 1.1 or 1.2.
        version: SoapVersion,
        /// The operation's action URI.
        action: String,
    },
    /// As XML text inside a JSON envelope.
    Embedded(EmbeddedBinding),
}

/// A checked mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The mapping's name.
    pub name: Slug,
    /// What the operation does.
    pub description: Option<String>,
    /// How messages travel.
    pub binding: Binding,
    /// Prefix → namespace URI, as declared; written on the message element.
    pub namespaces: Vec<(String, Arc<str>)>,
    /// The request message.
    pub request: Message,
    /// The response message.
    pub response: Message,
}

/// Deepest nesting of object fields a mapping may declare.
const MAX_FIELD_NESTING: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    soap: Option<SoapFile>,
    #[serde(default)]
    embedded: Option<EmbeddedFile>,
    #[serde(default)]
    namespaces: BTreeMap<String, String>,
    request: MessageFile,
    response: MessageFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SoapFile {
    version: SoapVersion,
    action: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddedFile {
    field: String,
    #[serde(default)]
    envelope: BTreeMap<String, String>,
    #[serde(default)]
    result_code: Option<String>,
    #[serde(default)]
    success_code: Option<String>,
    #[serde(default)]
    result_message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageFile {
    element: String,
    #[serde(default)]
    contract: Option<ContractName>,
    #[serde(default)]
    fields: Vec<FieldFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldFile {
    xml: String,
    json: String,
    #[serde(default, rename = "type")]
    kind: Option<ValueType>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    repeated: bool,
    #[serde(default)]
    fields: Vec<FieldFile>,
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn from_toml(text: &str) -> Result<Mapping, MappingError> {
        let file: MappingFile =
            toml::from_str(text).map_err(|e| MappingError::Toml(e.message().to_owned()))?;
        Checker {
            mapping: file.name.clone(),
            namespaces: Vec::new(),
        }
        .check(file)
    }

    /// The built-in mapping named `name` (see `lgsp_contracts::mappings`).
    pub fn builtin(name: &str) -> Result<Mapping, MappingError> {
        let file = lgsp_contracts::mappings::builtin(name)
            .ok_or_else(|| MappingError::Unknown(name.to_owned()))?;
        Mapping::from_toml(file.text)
    }
}

/// Checks a parsed file, naming the offending key.
struct Checker {
    mapping: String,
    namespaces: Vec<(String, Arc<str>)>,
}

impl Checker {
    fn invalid(&self, key: impl Into<String>, reason: impl Into<String>) -> MappingError {
        MappingError::Invalid {
            mapping: self.mapping.clone(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    fn check(mut self, file: MappingFile) -> Result<Mapping, MappingError> {
        let name = Slug::parse(&file.name).map_err(|e| self.invalid("name", e.to_string()))?;
        let binding = match (file.soap, file.embedded) {
            (Some(soap), None) => self.soap(soap)?,
            (None, Some(embedded)) => self.embedded(embedded)?,
            _ => {
                return Err(self.invalid(
                    "soap/embedded",
                    "exactly one of [soap] and [embedded] is required",
                ));
            }
        };
        let mut uris = HashSet::new();
        for (prefix, uri) in &file.namespaces {
            let key = format!("namespaces.{prefix}");
            if !is_ncname(prefix) {
                return Err(self.invalid(key, "not a valid XML prefix"));
            }
            let reserved = ["soapenv", "env"];
            if prefix.to_ascii_lowercase().starts_with("xml") || reserved.contains(&prefix.as_str())
            {
                return Err(self.invalid(key, "prefix is reserved (xml…, soapenv, env)"));
            }
            if uri.is_empty() || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(self.invalid(key, "namespace URI must be non-empty, without spaces"));
            }
            if SoapVersion::of_namespace(uri).is_some() || !uris.insert(uri.as_str()) {
                return Err(
                    self.invalid(key, "namespace URI is a SOAP envelope's or declared twice")
                );
            }
            self.namespaces.push((prefix.clone(), uri.as_str().into()));
        }
        let request = self.message("request", file.request)?;
        let response = self.message("response", file.response)?;
        Ok(Mapping {
            name,
            description: file.description,
            binding,
            namespaces: self.namespaces,
            request,
            response,
        })
    }

    fn soap(&self, soap: SoapFile) -> Result<Binding, MappingError> {
        let printable = |c: char| c.is_ascii_graphic() && c != '"' && c != '\\';
        if soap.action.is_empty() || !soap.action.chars().all(printable) {
            return Err(self.invalid(
                "soap.action",
                "must be a non-empty URI of printable ASCII without quotes or backslashes",
            ));
        }
        Ok(Binding::Soap {
            version: soap.version,
            action: soap.action,
        })
    }

    fn embedded(&self, embedded: EmbeddedFile) -> Result<Binding, MappingError> {
        if embedded.field.is_empty() {
            return Err(self.invalid(
                "embedded.field",
                "must name the JSON member holding the XML",
            ));
        }
        if embedded.envelope.contains_key(&embedded.field) {
            return Err(self.invalid("embedded.envelope", "must not set the XML member"));
        }
        let result = match (embedded.result_code, embedded.success_code) {
            (Some(code), Some(success)) => Some((code, success)),
            (None, None) => None,
            _ => {
                return Err(self.invalid(
                    "embedded.result_code",
                    "result_code and success_code go together",
                ));
            }
        };
        Ok(Binding::Embedded(EmbeddedBinding {
            field: embedded.field,
            envelope: embedded.envelope,
            result,
            result_message: embedded.result_message,
        }))
    }

    fn message(&self, key: &str, message: MessageFile) -> Result<Message, MappingError> {
        let element = self.path(&format!("{key}.element"), &message.element)?;
        let fields = self.fields(&format!("{key}.fields"), message.fields, 1)?;
        Ok(Message {
            element,
            contract: message.contract,
            fields,
        })
    }

    fn fields(
        &self,
        key: &str,
        files: Vec<FieldFile>,
        depth: usize,
    ) -> Result<Vec<Field>, MappingError> {
        if depth > MAX_FIELD_NESTING {
            return Err(self.invalid(key, format!("fields nest deeper than {MAX_FIELD_NESTING}")));
        }
        let mut fields = Vec::with_capacity(files.len());
        let mut json_paths: Vec<Vec<String>> = Vec::new();
        for (i, file) in files.into_iter().enumerate() {
            let key = format!("{key}[{i}]");
            let xml = self.path(&format!("{key}.xml"), &file.xml)?;
            let json: Vec<String> = file.json.split('.').map(str::to_owned).collect();
            if json.iter().any(|s| s.is_empty()) {
                return Err(self.invalid(
                    format!("{key}.json"),
                    "empty member name in the dotted path",
                ));
            }
            // `a` and `a.b` (or `a` twice) would write one member twice.
            let clash = json_paths.iter().any(|other| {
                let n = other.len().min(json.len());
                other[..n] == json[..n]
            });
            if clash {
                return Err(
                    self.invalid(format!("{key}.json"), "overlaps another field's JSON path")
                );
            }
            json_paths.push(json.clone());
            let value = if file.fields.is_empty() {
                FieldValue::Scalar(file.kind.unwrap_or_default())
            } else if file.kind.is_some() {
                return Err(self.invalid(
                    format!("{key}.type"),
                    "a field with nested fields is an object; drop `type`",
                ));
            } else {
                FieldValue::Object(self.fields(&format!("{key}.fields"), file.fields, depth + 1)?)
            };
            fields.push(Field {
                xml,
                json,
                value,
                required: file.required,
                repeated: file.repeated,
            });
        }
        Ok(fields)
    }

    /// `p:a/p:b/c` into qualified names, each prefix declared.
    fn path(&self, key: &str, path: &str) -> Result<Vec<QName>, MappingError> {
        let mut names = Vec::new();
        for segment in path.split('/') {
            let (prefix, local) = match segment.split_once(':') {
                Some((prefix, local)) => (Some(prefix), local),
                None => (None, segment),
            };
            if !is_ncname(local) {
                return Err(self.invalid(key, format!("`{segment}` is not an element name")));
            }
            let namespace = match prefix {
                None => None,
                Some(prefix) => Some(
                    self.namespaces
                        .iter()
                        .find(|(p, _)| p == prefix)
                        .map(|(_, uri)| uri.clone())
                        .ok_or_else(|| {
                            self.invalid(
                                key,
                                format!("prefix `{prefix}` is not declared in [namespaces]"),
                            )
                        })?,
                ),
            };
            names.push(QName {
                namespace,
                local: local.to_owned(),
                prefix: prefix.map(str::to_owned),
            });
        }
        Ok(names)
    }
}

/// An XML name without a colon (XML Namespaces' NCName), restricted to
/// letters, digits and `_ - .` for simplicity.
fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
