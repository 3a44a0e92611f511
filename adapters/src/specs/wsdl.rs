//! WSDL 1.1 documents: operations, their SOAP actions and the endpoint,
//! and a generated OpenAPI 3.1 description of the SOAP endpoint.
//!
//! The bytes go through the crate's safe XML reader first (no DTD, no
//! entity, size, depth and element limits). That reader keeps no
//! attributes, and WSDL says almost everything in attributes, so a second
//! pass over the already-accepted document collects each element's
//! unqualified attributes, in the same (document) order as the tree.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::{
    ImportedOperation, ImportedSpec, MAX_DOCUMENT_BYTES, MAX_NESTING, MAX_OPERATIONS, SpecError,
    SpecFormat, clip,
};
use crate::soap::{XmlElement, XmlLimits, read_xml};

const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const WSDL_SOAP11: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const WSDL_SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const WSDL_20: &str = "http://www.w3.org/ns/wsdl";
const SOAP11_ENVELOPE: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_ENVELOPE: &str = "http://www.w3.org/2003/05/soap-envelope";

/// Most elements in one WSDL: generous for a large service with its schemas.
const MAX_ELEMENTS: usize = 100_000;

/// The SOAP version a binding speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SoapVersion {
    V11,
    V12,
}

impl SoapVersion {
    fn content_type(self) -> &'static str {
        match self {
            SoapVersion::V11 => "text/xml",
            SoapVersion::V12 => "application/soap+xml",
        }
    }

    fn fault_schema_name(self) -> &'static str {
        match self {
            SoapVersion::V11 => "SoapFault",
            SoapVersion::V12 => "Soap12Fault",
        }
    }
}

/// Imports a WSDL 1.1 document (SOAP 1.1 and/or SOAP 1.2 bindings).
pub fn import_wsdl(bytes: &[u8]) -> Result<ImportedSpec, SpecError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(SpecError::TooLarge {
            limit: MAX_DOCUMENT_BYTES,
        });
    }
    let limits = XmlLimits {
        max_bytes: MAX_DOCUMENT_BYTES,
        max_depth: MAX_NESTING,
        max_elements: MAX_ELEMENTS,
    };
    let tree = read_xml(bytes, &limits)?;
    read_definitions(&Node::build(&tree))
}

/// An element of the tree (WSDL's own attributes are unqualified, as the reader keeps them).
struct Node<'x> {
    element: &'x XmlElement,
    children: Vec<Node<'x>>,
}

impl<'x> Node<'x> {
    /// Wraps the tree (depth bounded by the reader's limit).
    fn build(element: &'x XmlElement) -> Node<'x> {
        Node {
            element,
            children: element.children.iter().map(Node::build).collect(),
        }
    }

    /// A non-blank attribute, trimmed.
    fn value(&self, name: &str) -> Option<&str> {
        self.element
            .attribute(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
    }

    /// The local part of a QName attribute (`tns:Name` → `Name`).
    fn local_value(&self, name: &str) -> Option<&str> {
        self.value(name)
            .map(|qname| qname.rsplit_once(':').map_or(qname, |(_, local)| local))
    }

    fn is(&self, namespace: &str, name: &str) -> bool {
        self.element.is(Some(namespace), name)
    }

    fn children<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Node<'x>> {
        self.children.iter().filter(move |c| c.is(namespace, name))
    }

    fn child(&self, namespace: &str, name: &str) -> Option<&Node<'x>> {
        self.children.iter().find(|c| c.is(namespace, name))
    }

    /// The trimmed text of the `wsdl:documentation` child, if not blank.
    fn documentation(&self) -> Option<String> {
        self.child(WSDL, "documentation")
            .map(|doc| doc.element.text.trim().to_owned())
            .filter(|text| !text.is_empty())
    }
}

/// A `portType` operation.
struct PortOperation {
    name: String,
    documentation: Option<String>,
    input: Option<String>,
    output: Option<String>,
}

/// A SOAP binding: its portType, SOAP version, and SOAP action per operation.
struct SoapBinding {
    port_type: Option<String>,
    version: SoapVersion,
    actions: HashMap<String, String>,
}

fn read_definitions(root: &Node<'_>) -> Result<ImportedSpec, SpecError> {
    if !root.is(WSDL, "definitions") {
        if root.element.is(Some(WSDL_20), "description") {
            return Err(SpecError::Wsdl20);
        }
        return Err(SpecError::NotWsdl {
            found: root.element.expanded_name(),
        });
    }
    let messages = message_elements(root);
    let port_types = port_types(root, &messages)?;
    let bindings = soap_bindings(root);
    let servers = servers(root);
    let services: Vec<&Node<'_>> = root.children(WSDL, "service").collect();

    let title = root
        .value("name")
        .or_else(|| services.iter().find_map(|service| service.value("name")))
        .map(str::to_owned)
        .ok_or_else(|| SpecError::Missing {
            at: "definitions".to_owned(),
            member: "name (and no service is named)".to_owned(),
        })?;
    let description = root
        .documentation()
        .or_else(|| services.iter().find_map(|service| service.documentation()));
    let spec_version = description.as_deref().and_then(documented_version);

    // Only the portTypes a SOAP binding serves are callable; a WSDL without
    // SOAP bindings (abstract) offers all of them.
    let served = |port_type: &str| {
        bindings.is_empty()
            || bindings
                .iter()
                .any(|b| b.port_type.as_deref() == Some(port_type))
    };
    let mut operations: Vec<(ImportedOperation, &PortOperation)> = Vec::new();
    // An operation offered by several portTypes (one per binding style) is one operation.
    let mut seen: HashSet<&str> = HashSet::new();
    for (port_type, port_operations) in &port_types {
        if !served(port_type) {
            continue;
        }
        for operation in port_operations {
            if !seen.insert(operation.name.as_str()) {
                continue;
            }
            if operations.len() == MAX_OPERATIONS {
                return Err(SpecError::TooManyOperations {
                    limit: MAX_OPERATIONS,
                });
            }
            let soap_action = bindings
                .iter()
                .filter(|b| b.port_type.as_deref() == Some(port_type.as_str()))
                .find_map(|b| b.actions.get(&operation.name))
                .cloned();
            operations.push((
                ImportedOperation {
                    method: "POST".to_owned(),
                    path: "/".to_owned(),
                    operation_id: Some(operation.name.clone()),
                    summary: operation.documentation.clone(),
                    soap_action,
                },
                operation,
            ));
        }
    }
    if operations.is_empty() {
        return Err(SpecError::NoWsdlOperations {
            has_imports: root.child(WSDL, "import").is_some(),
        });
    }

    let mut versions: Vec<SoapVersion> = Vec::new();
    for binding in &bindings {
        if !versions.contains(&binding.version) {
            versions.push(binding.version);
        }
    }
    if versions.is_empty() {
        versions.push(SoapVersion::V11);
    }
    versions.sort_by_key(|v| *v == SoapVersion::V12);
    let openapi = openapi_document(
        &title,
        description.as_deref(),
        spec_version.as_deref(),
        &servers,
        &operations,
        &versions,
    );
    Ok(ImportedSpec {
        format: SpecFormat::Wsdl,
        title,
        description,
        spec_version,
        servers,
        operations: operations.into_iter().map(|(op, _)| op).collect(),
        personal_data_fields: Vec::new(),
        openapi,
    })
}

/// Message name → the element its first part carries (document/literal),
/// or the message name itself (rpc parts have types, not elements).
fn message_elements(root: &Node<'_>) -> HashMap<String, String> {
    root.children(WSDL, "message")
        .filter_map(|message| {
            let name = message.value("name")?;
            let element = message
                .children(WSDL, "part")
                .find_map(|part| part.local_value("element"))
                .unwrap_or(name);
            Some((name.to_owned(), element.to_owned()))
        })
        .collect()
}

/// Each portType's name and operations, in document order.
fn port_types(
    root: &Node<'_>,
    messages: &HashMap<String, String>,
) -> Result<Vec<(String, Vec<PortOperation>)>, SpecError> {
    let mut port_types = Vec::new();
    for (index, port_type) in root.children(WSDL, "portType").enumerate() {
        let Some(name) = port_type.value("name") else {
            return Err(SpecError::Missing {
                at: format!("definitions.portType[{index}]"),
                member: "name".to_owned(),
            });
        };
        let mut operations = Vec::new();
        for (op_index, operation) in port_type.children(WSDL, "operation").enumerate() {
            let Some(op_name) = operation.value("name") else {
                return Err(SpecError::Missing {
                    at: format!("portType `{}`.operation[{op_index}]", clip(name)),
                    member: "name".to_owned(),
                });
            };
            let element_of = |direction: &str| {
                operation
                    .child(WSDL, direction)
                    .and_then(|io| io.local_value("message"))
                    .map(|message| messages.get(message).map_or(message, String::as_str))
                    .map(str::to_owned)
            };
            operations.push(PortOperation {
                name: op_name.to_owned(),
                documentation: operation.documentation(),
                input: element_of("input"),
                output: element_of("output"),
            });
        }
        port_types.push((name.to_owned(), operations));
    }
    Ok(port_types)
}

/// The bindings that speak SOAP 1.1 or 1.2 (HTTP bindings are left out).
fn soap_bindings(root: &Node<'_>) -> Vec<SoapBinding> {
    root.children(WSDL, "binding")
        .filter_map(|binding| {
            let version = if binding.child(WSDL_SOAP11, "binding").is_some() {
                SoapVersion::V11
            } else if binding.child(WSDL_SOAP12, "binding").is_some() {
                SoapVersion::V12
            } else {
                return None;
            };
            let soap_ns = match version {
                SoapVersion::V11 => WSDL_SOAP11,
                SoapVersion::V12 => WSDL_SOAP12,
            };
            let actions = binding
                .children(WSDL, "operation")
                .filter_map(|operation| {
                    let name = operation.value("name")?;
                    let action = operation.child(soap_ns, "operation")?.value("soapAction")?;
                    Some((name.to_owned(), action.to_owned()))
                })
                .collect();
            Some(SoapBinding {
                port_type: binding.local_value("type").map(str::to_owned),
                version,
                actions,
            })
        })
        .collect()
}

/// The `soap:address`/`soap12:address` locations of the service ports.
fn servers(root: &Node<'_>) -> Vec<String> {
    let mut servers: Vec<String> = Vec::new();
    for port in root
        .children(WSDL, "service")
        .flat_map(|service| service.children(WSDL, "port"))
    {
        let location = port
            .child(WSDL_SOAP11, "address")
            .or_else(|| port.child(WSDL_SOAP12, "address"))
            .and_then(|address| address.value("location"));
        if let Some(location) = location
            && !servers.iter().any(|known| known == location)
        {
            servers.push(location.to_owned());
        }
    }
    servers
}

/// A version stated in the documentation on a line of its own
/// (`Version: 2.1.0` or `Phiên bản: 2.1.0`); WSDL has no version member.
fn documented_version(documentation: &str) -> Option<String> {
    documentation.lines().find_map(|line| {
        let line = line.trim();
        let lower = line.to_lowercase();
        let label = ["version:", "phiên bản:"]
            .into_iter()
            .find(|label| lower.starts_with(label))?;
        // Lower-casing these labels keeps their byte length, so the offset holds.
        line.get(label.len()..)?
            .split_whitespace()
            .next()
            .map(str::to_owned)
    })
}

/// The OpenAPI 3.1 description of the SOAP endpoint: one `POST /` taking
/// and answering envelopes, the operations listed in `x-soap-operations`.
fn openapi_document(
    title: &str,
    description: Option<&str>,
    version: Option<&str>,
    servers: &[String],
    operations: &[(ImportedOperation, &PortOperation)],
    versions: &[SoapVersion],
) -> Value {
    let mut info = Map::new();
    info.insert("title".to_owned(), json!(title));
    info.insert("version".to_owned(), json!(version.unwrap_or("1.0.0")));
    if let Some(description) = description {
        info.insert("description".to_owned(), json!(description));
    }
    let soap_operations: Vec<Value> = operations
        .iter()
        .map(|(imported, port)| {
            let mut entry = Map::new();
            entry.insert("name".to_owned(), json!(port.name));
            if let Some(action) = &imported.soap_action {
                entry.insert("soapAction".to_owned(), json!(action));
            }
            if let Some(input) = &port.input {
                entry.insert("input".to_owned(), json!(input));
            }
            if let Some(output) = &port.output {
                entry.insert("output".to_owned(), json!(output));
            }
            Value::Object(entry)
        })
        .collect();
    let envelope_content = |description: &str| {
        let content: Map<String, Value> = versions
            .iter()
            .map(|v| {
                (
                    v.content_type().to_owned(),
                    json!({"schema": {"type": "string", "contentMediaType": v.content_type(), "description": description}}),
                )
            })
            .collect();
        Value::Object(content)
    };
    let fault_content: Map<String, Value> = versions
        .iter()
        .map(|v| {
            (
                v.content_type().to_owned(),
                json!({"schema": {"$ref": format!("#/components/schemas/{}", v.fault_schema_name())}}),
            )
        })
        .collect();
    let fault_schemas: Map<String, Value> = versions
        .iter()
        .map(|v| (v.fault_schema_name().to_owned(), fault_schema(*v)))
        .collect();
    let mut document = json!({
        "openapi": "3.1.0",
        "info": info,
        "paths": {
            "/": {
                "post": {
                    "summary": format!("SOAP endpoint of {title}"),
                    "description": "Posts a SOAP envelope to the endpoint; the SOAP action (the SOAPAction header, or the action parameter of the SOAP 1.2 content type) selects the operation listed in x-soap-operations.",
                    "x-soap-operations": soap_operations,
                    "requestBody": {
                        "required": true,
                        "content": envelope_content("The SOAP request envelope."),
                    },
                    "responses": {
                        "200": {
                            "description": "The SOAP response envelope.",
                            "content": envelope_content("The SOAP response envelope."),
                        },
                        "default": {
                            "description": "A SOAP Fault.",
                            "content": fault_content,
                        },
                    },
                },
            },
        },
        "components": {"schemas": fault_schemas},
    });
    if !servers.is_empty()
        && let Some(root) = document.as_object_mut()
    {
        let servers: Vec<Value> = servers.iter().map(|url| json!({"url": url})).collect();
        root.insert("servers".to_owned(), Value::Array(servers));
    }
    document
}

/// The Fault element of a SOAP version (inside `Envelope/Body`).
fn fault_schema(version: SoapVersion) -> Value {
    match version {
        SoapVersion::V11 => json!({
            "type": "object",
            "description": "A SOAP 1.1 Fault, inside soap:Envelope/soap:Body.",
            "xml": {"name": "Fault", "namespace": SOAP11_ENVELOPE, "prefix": "soap"},
            "required": ["faultcode", "faultstring"],
            "properties": {
                "faultcode": {"type": "string", "description": "Qualified fault code, e.g. soap:Client or soap:Server."},
                "faultstring": {"type": "string", "description": "Human-readable explanation."},
                "faultactor": {"type": "string", "description": "URI of the node that faulted."},
                "detail": {"type": "object", "description": "Application-specific detail.", "additionalProperties": true},
            },
        }),
        SoapVersion::V12 => json!({
            "type": "object",
            "description": "A SOAP 1.2 Fault, inside env:Envelope/env:Body.",
            "xml": {"name": "Fault", "namespace": SOAP12_ENVELOPE, "prefix": "env"},
            "required": ["Code", "Reason"],
            "properties": {
                "Code": {
                    "type": "object",
                    "required": ["Value"],
                    "properties": {
                        "Value": {"type": "string", "description": "env:Sender, env:Receiver, env:MustUnderstand, env:VersionMismatch or env:DataEncodingUnknown."},
                        "Subcode": {"type": "object", "additionalProperties": true},
                    },
                },
                "Reason": {
                    "type": "object",
                    "required": ["Text"],
                    "properties": {"Text": {"type": "string", "description": "Human-readable explanation (xml:lang attributed)."}},
                },
                "Node": {"type": "string"},
                "Role": {"type": "string"},
                "Detail": {"type": "object", "additionalProperties": true},
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::XmlError;

    const ENTERPRISE_11: &str = include_str!("fixtures/enterprise-soap11.wsdl");
    const INSURANCE_12: &str = include_str!("fixtures/social-insurance-soap12.wsdl");

    #[test]
    fn imports_a_soap11_enterprise_lookup() {
        let spec = import_wsdl(ENTERPRISE_11.as_bytes()).expect("accepted");
        assert_eq!(spec.format, SpecFormat::Wsdl);
        assert_eq!(spec.title, "DoanhNghiepService");
        assert_eq!(
            spec.description.as_deref(),
            Some(
                "Tra cứu thông tin đăng ký doanh nghiệp (Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp)."
            )
        );
        assert_eq!(spec.spec_version, None);
        assert_eq!(
            spec.servers,
            ["https://dkkd.example.gov.vn/ws/DoanhNghiepService"]
        );
        assert_eq!(
            spec.operations,
            [
                ImportedOperation {
                    method: "POST".to_owned(),
                    path: "/".to_owned(),
                    operation_id: Some("TraCuuDoanhNghiep".to_owned()),
                    summary: Some("Tra cứu một doanh nghiệp theo mã số doanh nghiệp.".to_owned()),
                    soap_action: Some("urn:lgsp:dkkd:doanhnghiep:v1#TraCuuDoanhNghiep".to_owned()),
                },
                ImportedOperation {
                    method: "POST".to_owned(),
                    path: "/".to_owned(),
                    operation_id: Some("TraCuuNganhNghe".to_owned()),
                    summary: None,
                    soap_action: Some("urn:lgsp:dkkd:doanhnghiep:v1#TraCuuNganhNghe".to_owned()),
                },
            ]
        );
        assert!(spec.personal_data_fields.is_empty());
    }

    #[test]
    fn generates_openapi_31_for_soap11() {
        let doc = import_wsdl(ENTERPRISE_11.as_bytes())
            .expect("accepted")
            .openapi;
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "DoanhNghiepService");
        assert_eq!(doc["info"]["version"], "1.0.0");
        assert_eq!(
            doc["servers"],
            json!([{"url": "https://dkkd.example.gov.vn/ws/DoanhNghiepService"}])
        );
        let paths = doc["paths"].as_object().expect("accepted");
        assert_eq!(paths.keys().collect::<Vec<_>>(), ["/"]);
        let post = &doc["paths"]["/"]["post"];
        assert_eq!(
            post["x-soap-operations"],
            json!([
                {"name": "TraCuuDoanhNghiep", "soapAction": "urn:lgsp:dkkd:doanhnghiep:v1#TraCuuDoanhNghiep",
                 "input": "TraCuuDoanhNghiep", "output": "TraCuuDoanhNghiepResponse"},
                {"name": "TraCuuNganhNghe", "soapAction": "urn:lgsp:dkkd:doanhnghiep:v1#TraCuuNganhNghe",
                 "input": "TraCuuNganhNghe", "output": "TraCuuNganhNgheResponse"},
            ])
        );
        let request = post["requestBody"]["content"]
            .as_object()
            .expect("accepted");
        assert_eq!(request.keys().collect::<Vec<_>>(), ["text/xml"]);
        assert_eq!(request["text/xml"]["schema"]["type"], "string");
        assert_eq!(
            post["responses"]["200"]["content"]["text/xml"]["schema"]["type"],
            "string"
        );
        assert_eq!(
            post["responses"]["default"]["content"]["text/xml"]["schema"]["$ref"],
            "#/components/schemas/SoapFault"
        );
        let fault = &doc["components"]["schemas"]["SoapFault"];
        assert_eq!(fault["required"], json!(["faultcode", "faultstring"]));
        assert_eq!(fault["xml"]["namespace"], SOAP11_ENVELOPE);
        assert!(doc["components"].get("securitySchemes").is_none());
    }

    #[test]
    fn imports_a_soap12_service() {
        let spec = import_wsdl(INSURANCE_12.as_bytes()).expect("accepted");
        assert_eq!(spec.title, "BaoHiemXaHoiService");
        assert_eq!(spec.spec_version.as_deref(), Some("2.1.0"));
        assert_eq!(spec.openapi["info"]["version"], "2.1.0");
        assert_eq!(spec.servers, ["https://bhxh.example.gov.vn/soap12/TraCuu"]);
        let ops: Vec<_> = spec
            .operations
            .iter()
            .map(|op| (op.operation_id.as_deref(), op.soap_action.as_deref()))
            .collect();
        assert_eq!(
            ops,
            [
                (
                    Some("TraCuuHoGiaDinh"),
                    Some("urn:bhxh:tracuu:v2/TraCuuHoGiaDinh")
                ),
                (Some("TraCuuQuaTrinhThamGia"), None),
            ]
        );
        let post = &spec.openapi["paths"]["/"]["post"];
        let request = post["requestBody"]["content"]
            .as_object()
            .expect("accepted");
        assert_eq!(request.keys().collect::<Vec<_>>(), ["application/soap+xml"]);
        assert_eq!(
            post["responses"]["default"]["content"]["application/soap+xml"]["schema"]["$ref"],
            "#/components/schemas/Soap12Fault"
        );
        assert_eq!(
            spec.openapi["components"]["schemas"]["Soap12Fault"]["xml"]["namespace"],
            SOAP12_ENVELOPE
        );
        // An operation without soapAction has none in the list either.
        assert!(post["x-soap-operations"][1].get("soapAction").is_none());
        // rpc-style parts have types: the message name stands in.
        assert_eq!(
            post["x-soap-operations"][1]["input"],
            "TraCuuQuaTrinhThamGiaRequest"
        );
    }

    /// A .NET-style WSDL: SOAP 1.1 and 1.2 bindings of one portType, and an
    /// HTTP GET binding of another with the same operation names.
    const DUAL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"
    xmlns:tns="urn:thue" targetNamespace="urn:thue">
  <wsdl:message name="In"><wsdl:part name="p" element="tns:TraCuuMst"/></wsdl:message>
  <wsdl:message name="Out"><wsdl:part name="p" element="tns:TraCuuMstResponse"/></wsdl:message>
  <wsdl:portType name="ThueSoap"><wsdl:operation name="TraCuuMst"><wsdl:input message="tns:In"/><wsdl:output message="tns:Out"/></wsdl:operation></wsdl:portType>
  <wsdl:portType name="ThueHttpGet"><wsdl:operation name="TraCuuMst"/><wsdl:operation name="ChiQuaHttp"/></wsdl:portType>
  <wsdl:binding name="ThueSoap" type="tns:ThueSoap"><soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="TraCuuMst"><soap:operation soapAction="urn:thue/TraCuuMst" style="document"/></wsdl:operation></wsdl:binding>
  <wsdl:binding name="ThueSoap12" type="tns:ThueSoap"><soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="TraCuuMst"><soap12:operation soapAction="urn:thue/TraCuuMst" style="document"/></wsdl:operation></wsdl:binding>
  <wsdl:binding name="ThueHttpGet" type="tns:ThueHttpGet"><http:binding verb="GET"/></wsdl:binding>
  <wsdl:service name="Thue">
    <wsdl:port name="ThueSoap" binding="tns:ThueSoap"><soap:address location="https://thue.example.vn/Thue.asmx"/></wsdl:port>
    <wsdl:port name="ThueSoap12" binding="tns:ThueSoap12"><soap12:address location="https://thue.example.vn/Thue.asmx"/></wsdl:port>
    <wsdl:port name="ThueHttpGet" binding="tns:ThueHttpGet"><http:address location="https://thue.example.vn/Thue.asmx"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>"#;

    #[test]
    fn serves_both_soap_versions_and_skips_http_bindings() {
        let spec = import_wsdl(DUAL.as_bytes()).expect("accepted");
        // No definitions/@name: the service names the spec.
        assert_eq!(spec.title, "Thue");
        assert_eq!(spec.servers, ["https://thue.example.vn/Thue.asmx"]);
        assert_eq!(spec.operations.len(), 1);
        assert_eq!(
            spec.operations[0].soap_action.as_deref(),
            Some("urn:thue/TraCuuMst")
        );
        let post = &spec.openapi["paths"]["/"]["post"];
        let mut types: Vec<_> = post["requestBody"]["content"]
            .as_object()
            .expect("accepted")
            .keys()
            .collect();
        types.sort();
        assert_eq!(types, ["application/soap+xml", "text/xml"]);
        assert!(
            spec.openapi["components"]["schemas"]
                .get("SoapFault")
                .is_some()
        );
        assert!(
            spec.openapi["components"]["schemas"]
                .get("Soap12Fault")
                .is_some()
        );
    }

    #[test]
    fn refuses_a_dtd() {
        let with_dtd = ENTERPRISE_11.replacen(
            "<wsdl:definitions",
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\">]>\n<wsdl:definitions",
            1,
        );
        assert_eq!(
            import_wsdl(with_dtd.as_bytes()).expect_err("refused"),
            SpecError::Xml(XmlError::DocType)
        );
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\" name=\"&x;\"/>";
        assert_eq!(
            import_wsdl(xxe.as_bytes()).expect_err("refused"),
            SpecError::Xml(XmlError::DocType)
        );
    }

    #[test]
    fn refuses_a_wsdl_without_port_type_operations() {
        let empty = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="Rong"><portType name="P"/></definitions>"#;
        assert_eq!(
            import_wsdl(empty.as_bytes())
                .expect_err("refused")
                .to_string(),
            "the WSDL defines no portType operation"
        );
        let imports = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="Rong"><import namespace="urn:x" location="x.wsdl"/></definitions>"#;
        assert!(
            import_wsdl(imports.as_bytes())
                .expect_err("refused")
                .to_string()
                .contains("wsdl:import is not followed")
        );
    }

    #[test]
    fn refuses_other_xml_and_wsdl_20() {
        assert_eq!(
            import_wsdl(br#"<description xmlns="http://www.w3.org/ns/wsdl"/>"#)
                .expect_err("refused"),
            SpecError::Wsdl20
        );
        assert_eq!(
            import_wsdl(br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"/>"#)
                .expect_err("refused"),
            SpecError::NotWsdl {
                found: "{http://schemas.xmlsoap.org/soap/envelope/}Envelope".to_owned()
            }
        );
        // `definitions` in no namespace is not WSDL either.
        assert!(matches!(
            import_wsdl(b"<definitions name=\"x\"/>").expect_err("refused"),
            SpecError::NotWsdl { .. }
        ));
    }

    #[test]
    fn names_what_is_missing() {
        let nameless_op = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="X"><portType name="P"><operation/></portType></definitions>"#;
        assert_eq!(
            import_wsdl(nameless_op.as_bytes())
                .expect_err("refused")
                .to_string(),
            "portType `P`.operation[0]: name is missing"
        );
        let untitled = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"><portType name="P"><operation name="a"/></portType></definitions>"#;
        assert_eq!(
            import_wsdl(untitled.as_bytes())
                .expect_err("refused")
                .to_string(),
            "definitions: name (and no service is named) is missing"
        );
    }

    #[test]
    fn refuses_garbage_and_deep_or_huge_xml() {
        assert!(matches!(
            import_wsdl(b"<definitions").expect_err("refused"),
            SpecError::Xml(XmlError::Malformed(_))
        ));
        assert!(matches!(
            import_wsdl(b"not xml at all").expect_err("refused"),
            SpecError::Xml(XmlError::Malformed(_))
        ));
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(
            import_wsdl(deep.as_bytes()).expect_err("refused"),
            SpecError::Xml(XmlError::TooDeep { limit: MAX_NESTING })
        );
        let huge = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(
            import_wsdl(&huge).expect_err("refused"),
            SpecError::TooLarge {
                limit: MAX_DOCUMENT_BYTES
            }
        );
        assert!(matches!(
            import_wsdl(
                b"<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\" name=\"&bad;\"/>"
            )
            .expect_err("refused"),
            SpecError::Xml(_)
        ));
    }

    #[test]
    fn refuses_more_than_the_operation_limit() {
        let operations: String = (0..=MAX_OPERATIONS)
            .map(|i| format!("<operation name=\"op{i}\"/>"))
            .collect();
        let wsdl = format!(
            r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="X"><portType name="P">{operations}</portType></definitions>"#
        );
        assert_eq!(
            import_wsdl(wsdl.as_bytes()).expect_err("refused"),
            SpecError::TooManyOperations {
                limit: MAX_OPERATIONS
            }
        );
    }

    #[test]
    fn unescapes_attributes_and_reads_documented_versions() {
        let wsdl = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="Dịch vụ &amp; tra cứu">
          <documentation>Dịch vụ thử.
            Phiên bản: 3.0.1 (2026)</documentation>
          <portType name="P"><operation name="a"/></portType></definitions>"#;
        let spec = import_wsdl(wsdl.as_bytes()).expect("accepted");
        assert_eq!(spec.title, "Dịch vụ & tra cứu");
        assert_eq!(spec.spec_version.as_deref(), Some("3.0.1"));
        assert_eq!(
            documented_version("Version: 1.2\nx"),
            Some("1.2".to_owned())
        );
        assert_eq!(documented_version("no version here"), None);
        // Abstract WSDL: no binding, SOAP 1.1 assumed, no servers.
        assert!(spec.servers.is_empty());
        assert!(spec.openapi.get("servers").is_none());
        assert!(
            spec.openapi["paths"]["/"]["post"]["requestBody"]["content"]
                .get("text/xml")
                .is_some()
        );
    }
}
