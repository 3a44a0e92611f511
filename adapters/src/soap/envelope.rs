//! SOAP 1.1 and 1.2 envelopes: writing one around a message, opening one
//! (checking its version), and faults both ways.

use std::sync::Arc;

use super::mapping::SoapVersion;
use super::message::write_document;
use super::reader::{XmlLimits, read_xml};
use super::{CodecError, EncodedMessage, XmlElement};

/// Longest fault detail kept, in characters, so a fault cannot flood logs.
const MAX_DETAIL_CHARS: usize = 1024;

/// A SOAP fault, from either version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}{}: {reason}", subcode.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
pub struct SoapFault {
    /// The fault code's local part: `Client`/`Server` (1.1), `Sender`/`Receiver`… (1.2).
    pub code: String,
    /// The first subcode's local part (1.2 only).
    pub subcode: Option<String>,
    /// The human-readable reason (`faultstring`, `Reason/Text`).
    pub reason: String,
    /// The detail's text, its pieces joined by `; ` and cut to 1024 characters.
    pub detail: Option<String>,
}

impl SoapFault {
    /// Writes the fault as a whole envelope (for the simulators). The
    /// detail is carried as `<maLoi>`, the LGSP error-code element.
    pub fn encode(&self, version: SoapVersion) -> Result<EncodedMessage, CodecError> {
        let env: Arc<str> = version.namespace().into();
        let prefix = version.prefix();
        let in_env = |name: &str| XmlElement::new(Some(env.clone()), name);
        let leaf = |namespace: Option<Arc<str>>, name: &str, text: &str| XmlElement {
            text: text.to_owned(),
            ..XmlElement::new(namespace, name)
        };
        let detail = self.detail.as_ref().map(|d| leaf(None, "maLoi", d));
        let mut fault = in_env("Fault");
        match version {
            SoapVersion::V1_1 => {
                fault
                    .children
                    .push(leaf(None, "faultcode", &format!("{prefix}:{}", self.code)));
                fault.children.push(leaf(None, "faultstring", &self.reason));
                if let Some(detail) = detail {
                    let mut holder = XmlElement::new(None, "detail");
                    holder.children.push(detail);
                    fault.children.push(holder);
                }
            }
            SoapVersion::V1_2 => {
                let mut code = in_env("Code");
                code.children.push(leaf(
                    Some(env.clone()),
                    "Value",
                    &format!("{prefix}:{}", self.code),
                ));
                let mut reason = in_env("Reason");
                reason
                    .children
                    .push(leaf(Some(env.clone()), "Text", &self.reason));
                fault.children.push(code);
                fault.children.push(reason);
                if let Some(detail) = detail {
                    let mut holder = in_env("Detail");
                    holder.children.push(detail);
                    fault.children.push(holder);
                }
            }
        }
        let body = write_envelope(version, fault, &[])?;
        Ok(EncodedMessage {
            body,
            content_type: content_type(version, None),
            soap_action: None,
        })
    }
}

/// The content type of a SOAP message; for 1.2 it carries the action.
pub(crate) fn content_type(version: SoapVersion, action: Option<&str>) -> String {
    match (version, action) {
        (SoapVersion::V1_1, _) => "text/xml; charset=utf-8".to_owned(),
        (SoapVersion::V1_2, Some(action)) => {
            format!("application/soap+xml; charset=utf-8; action=\"{action}\"")
        }
        (SoapVersion::V1_2, None) => "application/soap+xml; charset=utf-8".to_owned(),
    }
}

/// `<Envelope><Body>{content}</Body></Envelope>` as bytes.
pub(crate) fn write_envelope(
    version: SoapVersion,
    content: XmlElement,
    prefixes: &[(String, Arc<str>)],
) -> Result<Vec<u8>, CodecError> {
    let env: Arc<str> = version.namespace().into();
    let mut body = XmlElement::new(Some(env.clone()), "Body");
    body.children.push(content);
    let mut envelope = XmlElement::new(Some(env.clone()), "Envelope");
    envelope.children.push(body);
    let mut all = vec![(version.prefix().to_owned(), env)];
    all.extend(prefixes.iter().cloned());
    write_document(&envelope, &all)
}

/// Opens an envelope of `version` and gives the Body's first element; a
/// fault in the Body is returned as [`CodecError::Fault`].
pub(crate) fn open_envelope(
    version: SoapVersion,
    bytes: &[u8],
    limits: &XmlLimits,
) -> Result<XmlElement, CodecError> {
    let root = read_xml(bytes, limits)?;
    let env = version.namespace();
    if root.name != "Envelope" || root.namespace.is_none() {
        return Err(CodecError::NotAnEnvelope {
            expected: version,
            found: root.expanded_name(),
        });
    }
    if !root.is(Some(env), "Envelope") {
        return Err(
            match root
                .namespace
                .as_deref()
                .and_then(SoapVersion::of_namespace)
            {
                Some(found) => CodecError::VersionMismatch {
                    expected: version,
                    found,
                },
                None => CodecError::NotAnEnvelope {
                    expected: version,
                    found: root.expanded_name(),
                },
            },
        );
    }
    let mut root = root;
    let position = root
        .children
        .iter()
        .position(|c| c.is(Some(env), "Body"))
        .ok_or(CodecError::MissingBody)?;
    let body = root.children.swap_remove(position);
    let Some(content) = body.children.into_iter().next() else {
        return Err(CodecError::UnexpectedElement {
            expected: "an element in the SOAP Body".to_owned(),
            found: "nothing".to_owned(),
        });
    };
    if content.is(Some(env), "Fault") {
        return Err(CodecError::Fault(read_fault(version, &content)));
    }
    Ok(content)
}

/// The local part of a QName's text (`soap:Server` → `Server`).
fn local_part(text: &str) -> String {
    let text = text.trim();
    text.rsplit_once(':')
        .map_or(text, |(_, local)| local)
        .to_owned()
}

/// A fault member: SOAP 1.1's are unqualified, though some toolkits put them
/// in the envelope's namespace; 1.2's are in the envelope's namespace.
fn member<'e>(parent: &'e XmlElement, env: &str, name: &str) -> Option<&'e XmlElement> {
    parent
        .children
        .iter()
        .find(|c| c.name == name && (c.namespace.is_none() || c.is(Some(env), name)))
}

fn read_fault(version: SoapVersion, fault: &XmlElement) -> SoapFault {
    let env = version.namespace();
    let text = |element: Option<&XmlElement>| element.map(|e| e.text.trim().to_owned());
    match version {
        SoapVersion::V1_1 => SoapFault {
            code: text(member(fault, env, "faultcode"))
                .map(|c| local_part(&c))
                .unwrap_or_default(),
            subcode: None,
            reason: text(member(fault, env, "faultstring")).unwrap_or_default(),
            detail: member(fault, env, "detail").and_then(flatten),
        },
        SoapVersion::V1_2 => {
            let code = member(fault, env, "Code");
            let value = code.and_then(|c| member(c, env, "Value"));
            let subcode = code
                .and_then(|c| member(c, env, "Subcode"))
                .and_then(|s| member(s, env, "Value"));
            SoapFault {
                code: text(value).map(|c| local_part(&c)).unwrap_or_default(),
                subcode: text(subcode).map(|c| local_part(&c)),
                reason: text(member(fault, env, "Reason").and_then(|r| member(r, env, "Text")))
                    .unwrap_or_default(),
                detail: member(fault, env, "Detail").and_then(flatten),
            }
        }
    }
}

/// The non-blank texts of an element and its descendants, joined and cut.
fn flatten(element: &XmlElement) -> Option<String> {
    fn collect<'e>(element: &'e XmlElement, out: &mut Vec<&'e str>) {
        let text = element.text.trim();
        if !text.is_empty() {
            out.push(text);
        }
        for child in &element.children {
            collect(child, out);
        }
    }
    let mut pieces = Vec::new();
    collect(element, &mut pieces);
    let joined = pieces.join("; ");
    (!joined.is_empty()).then(|| joined.chars().take(MAX_DETAIL_CHARS).collect())
}
