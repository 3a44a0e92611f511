//! The SOAP/XML codec: canonical JSON to and from SOAP 1.1/1.2 envelopes,
//! and to and from XML carried inside a JSON member (the civil-status
//! style), driven by the declarative mappings of `contracts/soap/` and
//! `contracts/xml/`.
//!
//! Every XML byte goes through [`read_xml`]: no DTD, no entity other than
//! the predefined ones, size, depth and element limits checked while
//! reading, namespaces matched by URI and local name, never by prefix.
//!
//! A client (the adapters) uses [`Mapping::encode_request`] and
//! [`Mapping::decode_response`]; a server (the simulators) uses
//! [`Mapping::decode_request`] and [`Mapping::encode_response`], and
//! [`SoapFault::encode`] for faults.

mod adapter;
mod embedded;
mod envelope;
mod mapping;
mod message;
mod reader;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use adapter::{SoapAdapter, answer_error, canonical_request, request_error};
pub use envelope::SoapFault;
pub use mapping::{
    Binding, EmbeddedBinding, Field, FieldValue, Mapping, MappingError, Message, QName,
    SoapVersion, ValueType,
};
pub use reader::{XmlElement, XmlError, XmlLimits, read_xml, read_xml_from};

/// A message ready to send: body and the headers that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedMessage {
    /// The body bytes (UTF-8).
    pub body: Vec<u8>,
    /// The `Content-Type` header (for SOAP 1.2 it carries the action).
    pub content_type: String,
    /// The `SOAPAction` header value, quoted (SOAP 1.1 requests only).
    pub soap_action: Option<String>,
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The XML was refused by the reader.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The upstream answered with a SOAP fault.
    #[error("SOAP fault: {0}")]
    Fault(SoapFault),
    /// The document is not a SOAP envelope.
    #[error("not a {expected} envelope: the root element is {found}")]
    NotAnEnvelope {
        /// The version the mapping speaks.
        expected: SoapVersion,
        /// The root element found.
        found: String,
    },
    /// The envelope is of the other SOAP version.
    #[error("expected a {expected} envelope, got {found}")]
    VersionMismatch {
        /// The version the mapping speaks.
        expected: SoapVersion,
        /// The version of the envelope received.
        found: SoapVersion,
    },
    /// The envelope has no Body.
    #[error("the SOAP envelope has no Body")]
    MissingBody,
    /// The message element is not the one the mapping names.
    #[error("expected element {expected}, found {found}")]
    UnexpectedElement {
        /// The element the mapping expects.
        expected: String,
        /// What was there instead.
        found: String,
    },
    /// An element does not fit its field (wrong type, repeated, missing).
    #[error("element {path} {reason}")]
    Element {
        /// The element's path, as the mapping writes it.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A JSON member does not fit its field (wrong type, missing).
    #[error("member {pointer} {reason}")]
    Json {
        /// JSON pointer of the member.
        pointer: String,
        /// What is wrong.
        reason: String,
    },
    /// The JSON envelope of an XML-inside-JSON message is unusable.
    #[error("XML-inside-JSON envelope refused: {0}")]
    Envelope(String),
    /// The XML-inside-JSON answer carries a result code other than success.
    #[error("upstream result code `{code}`: {message}")]
    UpstreamResult {
        /// The result code.
        code: String,
        /// The upstream's description, cut to 256 characters.
        message: String,
    },
    /// Writing the XML failed; a defect, not an input problem.
    #[error("writing XML failed: {0}")]
    Write(String),
}

impl Mapping {
    /// Canonical JSON of a request → the message to send upstream.
    pub fn encode_request(&self, json: &Value) -> Result<EncodedMessage, CodecError> {
        match &self.binding {
            Binding::Soap { version, action } => {
                let content = message::encode(&self.request, json)?;
                let body = envelope::write_envelope(*version, content, &self.namespaces)?;
                Ok(EncodedMessage {
                    body,
                    content_type: envelope::content_type(*version, Some(action)),
                    soap_action: (*version == SoapVersion::V1_1).then(|| format!("\"{action}\"")),
                })
            }
            Binding::Embedded(binding) => embedded::encode_request(self, binding, json),
        }
    }

    /// The upstream's answer → canonical JSON (a fault is [`CodecError::Fault`]).
    pub fn decode_response(&self, body: &[u8], limits: &XmlLimits) -> Result<Value, CodecError> {
        match &self.binding {
            Binding::Soap { version, .. } => {
                let content = envelope::open_envelope(*version, body, limits)?;
                message::decode(&self.response, &content)
            }
            Binding::Embedded(binding) => embedded::decode_response(self, binding, body, limits),
        }
    }

    /// A request received → canonical JSON (the server side, for simulators).
    pub fn decode_request(&self, body: &[u8], limits: &XmlLimits) -> Result<Value, CodecError> {
        match &self.binding {
            Binding::Soap { version, .. } => {
                let content = envelope::open_envelope(*version, body, limits)?;
                message::decode(&self.request, &content)
            }
            Binding::Embedded(binding) => embedded::decode_request(self, binding, body, limits),
        }
    }

    /// Canonical JSON of an answer → the message to send back (the server
    /// side, for simulators).
    pub fn encode_response(&self, json: &Value) -> Result<EncodedMessage, CodecError> {
        match &self.binding {
            Binding::Soap { version, .. } => {
                let content = message::encode(&self.response, json)?;
                let body = envelope::write_envelope(*version, content, &self.namespaces)?;
                Ok(EncodedMessage {
                    body,
                    content_type: envelope::content_type(*version, None),
                    soap_action: None,
                })
            }
            Binding::Embedded(binding) => embedded::encode_response(self, binding, json),
        }
    }
}
