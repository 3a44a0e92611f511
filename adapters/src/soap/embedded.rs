//! XML inside JSON, as the civil-status service carries it: a JSON envelope
//! with constant members (`loaiBanGhi`), a result code (`maKetQua`), and one
//! member (`duLieu`) whose string is an XML message. The XML goes through
//! the same reader, limits and field mapping as SOAP.

use serde_json::{Map, Value};

use super::mapping::{EmbeddedBinding, Mapping, Message};
use super::message::{self, write_document};
use super::reader::{XmlLimits, read_xml};
use super::{CodecError, EncodedMessage, XmlError};

/// The content type of the JSON envelopes.
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Longest upstream result description kept in an error.
const MAX_MESSAGE_CHARS: usize = 256;

/// Canonical JSON → JSON envelope carrying the request's XML.
pub(crate) fn encode_request(
    mapping: &Mapping,
    binding: &EmbeddedBinding,
    json: &Value,
) -> Result<EncodedMessage, CodecError> {
    let mut envelope: Map<String, Value> = binding
        .envelope
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    envelope.insert(
        binding.field.clone(),
        xml_text(mapping, &mapping.request, json)?,
    );
    finish(&envelope)
}

/// JSON envelope of an answer → canonical JSON of its XML.
pub(crate) fn decode_response(
    mapping: &Mapping,
    binding: &EmbeddedBinding,
    body: &[u8],
    limits: &XmlLimits,
) -> Result<Value, CodecError> {
    let envelope = open(body, limits)?;
    if let Some((member, success)) = &binding.result {
        let code = envelope.get(member).and_then(Value::as_str);
        if code != Some(success.as_str()) {
            let described = |m: &String| envelope.get(m).and_then(Value::as_str);
            return Err(CodecError::UpstreamResult {
                code: code.unwrap_or_default().chars().take(32).collect(),
                message: binding
                    .result_message
                    .as_ref()
                    .and_then(described)
                    .unwrap_or_default()
                    .chars()
                    .take(MAX_MESSAGE_CHARS)
                    .collect(),
            });
        }
    }
    decode_xml(&envelope, binding, &mapping.response, limits)
}

/// JSON envelope of a request → canonical JSON of its XML (for simulators).
pub(crate) fn decode_request(
    mapping: &Mapping,
    binding: &EmbeddedBinding,
    body: &[u8],
    limits: &XmlLimits,
) -> Result<Value, CodecError> {
    let envelope = open(body, limits)?;
    for (member, expected) in &binding.envelope {
        if envelope.get(member).and_then(Value::as_str) != Some(expected.as_str()) {
            return Err(CodecError::Json {
                pointer: format!("/{member}"),
                reason: format!("must be \"{expected}\""),
            });
        }
    }
    decode_xml(&envelope, binding, &mapping.request, limits)
}

/// Canonical JSON → JSON envelope of a successful answer (for simulators).
pub(crate) fn encode_response(
    mapping: &Mapping,
    binding: &EmbeddedBinding,
    json: &Value,
) -> Result<EncodedMessage, CodecError> {
    let mut envelope = Map::new();
    if let Some((member, success)) = &binding.result {
        envelope.insert(member.clone(), Value::String(success.clone()));
    }
    envelope.insert(
        binding.field.clone(),
        xml_text(mapping, &mapping.response, json)?,
    );
    finish(&envelope)
}

fn xml_text(mapping: &Mapping, message: &Message, json: &Value) -> Result<Value, CodecError> {
    let element = message::encode(message, json)?;
    let bytes = write_document(&element, &mapping.namespaces)?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|e| CodecError::Write(e.to_string()))
}

fn finish(envelope: &Map<String, Value>) -> Result<EncodedMessage, CodecError> {
    let body = serde_json::to_vec(envelope).map_err(|e| CodecError::Write(e.to_string()))?;
    Ok(EncodedMessage {
        body,
        content_type: JSON_CONTENT_TYPE.to_owned(),
        soap_action: None,
    })
}

fn open(body: &[u8], limits: &XmlLimits) -> Result<Map<String, Value>, CodecError> {
    if body.len() > limits.max_bytes {
        return Err(CodecError::Xml(XmlError::TooLarge {
            limit: limits.max_bytes,
        }));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(envelope)) => Ok(envelope),
        Ok(_) => Err(CodecError::Envelope("not a JSON object".to_owned())),
        Err(e) => Err(CodecError::Envelope(format!(
            "not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))),
    }
}

/// The envelope's XML member, read and mapped by `message`.
fn decode_xml(
    envelope: &Map<String, Value>,
    binding: &EmbeddedBinding,
    message: &Message,
    limits: &XmlLimits,
) -> Result<Value, CodecError> {
    let xml = envelope
        .get(&binding.field)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            CodecError::Envelope(format!(
                "member `{}` is missing or not a string",
                binding.field
            ))
        })?;
    let root = read_xml(xml.as_bytes(), limits)?;
    message::decode(message, &root)
}
