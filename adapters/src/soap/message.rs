//! One message, either way: canonical JSON → element tree by a mapping's
//! fields, element tree → canonical JSON, and an element tree → XML bytes.
//! The SOAP and XML-inside-JSON bindings both go through here.

use std::sync::Arc;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Number, Value};

use super::mapping::{Field, FieldValue, Message, QName, ValueType, join};
use super::reader::is_xml_char;
use super::{CodecError, XmlElement};

/// Builds the message element (with its wrappers) from canonical JSON.
pub(crate) fn encode(message: &Message, json: &Value) -> Result<XmlElement, CodecError> {
    let Value::Object(object) = json else {
        return Err(json_error("", "expected a JSON object"));
    };
    let Some((outer, inner_path)) = message.element.split_first() else {
        return Err(CodecError::Write("the message has no element".to_owned()));
    };
    let mut root = outer.element();
    let inner = ensure_path(&mut root, inner_path);
    encode_fields(&message.fields, object, "", inner)?;
    Ok(root)
}

/// Reads canonical JSON from the message element `root` (for SOAP, the
/// Body's child; for XML inside JSON, the document root).
pub(crate) fn decode(message: &Message, root: &XmlElement) -> Result<Value, CodecError> {
    let unexpected = |expected: &QName, found: Option<&XmlElement>| CodecError::UnexpectedElement {
        expected: expected.to_string(),
        found: found.map_or_else(|| "nothing".to_owned(), XmlElement::expanded_name),
    };
    let Some((outer, inner_path)) = message.element.split_first() else {
        return Err(CodecError::Write("the message has no element".to_owned()));
    };
    if !outer.matches(root) {
        return Err(unexpected(outer, Some(root)));
    }
    let mut element = root;
    for name in inner_path {
        element = match single(element, name, &message.element)? {
            Some(child) => child,
            None => return Err(unexpected(name, element.children.first())),
        };
    }
    let object = decode_fields(&message.fields, element, &join(&message.element))?;
    Ok(Value::Object(object))
}

fn json_error(pointer: &str, reason: &str) -> CodecError {
    CodecError::Json {
        pointer: pointer.to_owned(),
        reason: reason.to_owned(),
    }
}

fn element_error(path: &str, reason: &str) -> CodecError {
    CodecError::Element {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The JSON pointer of a dotted field path under `base`.
fn pointer(base: &str, path: &[String]) -> String {
    let mut pointer = base.to_owned();
    for segment in path {
        pointer.push('/');
        pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    }
    pointer
}

/// The child of `parent` on `path`, creating missing elements; children
/// already made by an earlier field are shared (`a/b` and `a/c` give one `a`).
fn ensure_path<'e>(mut parent: &'e mut XmlElement, path: &[QName]) -> &'e mut XmlElement {
    for name in path {
        let index = match parent.children.iter().position(|c| name.matches(c)) {
            Some(index) => index,
            None => {
                parent.children.push(name.element());
                parent.children.len() - 1
            }
        };
        parent = &mut parent.children[index];
    }
    parent
}

fn encode_fields(
    fields: &[Field],
    object: &Map<String, Value>,
    base: &str,
    parent: &mut XmlElement,
) -> Result<(), CodecError> {
    for field in fields {
        let here = pointer(base, &field.json);
        let value = lookup(object, &field.json).filter(|v| !v.is_null());
        let Some(value) = value else {
            if field.required {
                return Err(json_error(&here, "is required"));
            }
            continue;
        };
        let Some((last, container_path)) = field.xml.split_last() else {
            continue;
        };
        let container = ensure_path(parent, container_path);
        if field.repeated {
            let Value::Array(items) = value else {
                return Err(json_error(&here, "expected an array"));
            };
            for (i, item) in items.iter().enumerate() {
                let mut element = last.element();
                fill(&mut element, field, item, &format!("{here}/{i}"))?;
                container.children.push(element);
            }
        } else {
            let mut element = last.element();
            fill(&mut element, field, value, &here)?;
            container.children.push(element);
        }
    }
    Ok(())
}

/// The member at a dotted path; `None` when absent or when a level is not an object.
fn lookup<'v>(object: &'v Map<String, Value>, path: &[String]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut value = object.get(first)?;
    for segment in rest {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

fn fill(
    element: &mut XmlElement,
    field: &Field,
    value: &Value,
    here: &str,
) -> Result<(), CodecError> {
    match &field.value {
        FieldValue::Scalar(kind) => {
            element.text = scalar_text(*kind, value)
                .ok_or_else(|| json_error(here, &format!("expected {}", describe(*kind))))?;
            if !element.text.chars().all(is_xml_char) {
                return Err(json_error(here, "holds a character XML cannot carry"));
            }
            Ok(())
        }
        FieldValue::Object(fields) => {
            let Value::Object(object) = value else {
                return Err(json_error(here, "expected an object"));
            };
            encode_fields(fields, object, here, element)
        }
    }
}

fn describe(kind: ValueType) -> &'static str {
    match kind {
        ValueType::String => "a string",
        ValueType::Integer => "an integer",
        ValueType::Number => "a number",
        ValueType::Boolean => "a boolean",
        ValueType::Date => "a date (YYYY-MM-DD)",
    }
}

fn scalar_text(kind: ValueType, value: &Value) -> Option<String> {
    match (kind, value) {
        (ValueType::String, Value::String(s)) => Some(s.clone()),
        (ValueType::Integer, Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        (ValueType::Number, Value::Number(n)) => Some(n.to_string()),
        (ValueType::Boolean, Value::Bool(b)) => Some(b.to_string()),
        (ValueType::Date, Value::String(s)) => iso_date(s).map(str::to_owned),
        _ => None,
    }
}

/// The only child of `parent` named `name`; more than one is an error
/// because the mapping expects one.
fn single<'e>(
    parent: &'e XmlElement,
    name: &QName,
    path: &[QName],
) -> Result<Option<&'e XmlElement>, CodecError> {
    let mut found = parent.children.iter().filter(|c| name.matches(c));
    match (found.next(), found.next()) {
        (first, None) => Ok(first),
        _ => Err(element_error(
            &format!("{}/{name}", join(path)),
            "appears more than once where one is expected",
        )),
    }
}

fn decode_fields(
    fields: &[Field],
    element: &XmlElement,
    base: &str,
) -> Result<Map<String, Value>, CodecError> {
    let mut object = Map::new();
    for field in fields {
        let here = format!("{base}/{}", field.xml_path());
        let value = decode_field(field, element, &here)?;
        match value {
            Some(value) => insert(&mut object, &field.json, value),
            None if field.required => return Err(element_error(&here, "is required but missing")),
            None => {}
        }
    }
    Ok(object)
}

fn decode_field(
    field: &Field,
    element: &XmlElement,
    here: &str,
) -> Result<Option<Value>, CodecError> {
    let Some((last, container_path)) = field.xml.split_last() else {
        return Ok(None);
    };
    let mut container = element;
    for name in container_path {
        match single(container, name, &field.xml)? {
            Some(child) => container = child,
            None => return Ok(None),
        }
    }
    let matches: Vec<&XmlElement> = container
        .children
        .iter()
        .filter(|c| last.matches(c))
        .collect();
    if field.repeated {
        let mut items = Vec::with_capacity(matches.len());
        for (i, item) in matches.into_iter().enumerate() {
            if let Some(value) = read_value(field, item, &format!("{here}[{}]", i + 1))? {
                items.push(value);
            }
        }
        return Ok((!items.is_empty()).then_some(Value::Array(items)));
    }
    match matches.as_slice() {
        [] => Ok(None),
        [only] => read_value(field, only, here),
        _ => Err(element_error(
            here,
            "appears more than once where one is expected",
        )),
    }
}

/// A field's value from its element; `None` for an empty element, which
/// upstreams send for "no value".
fn read_value(
    field: &Field,
    element: &XmlElement,
    here: &str,
) -> Result<Option<Value>, CodecError> {
    match &field.value {
        FieldValue::Scalar(kind) => {
            let text = element.text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            parse_scalar(*kind, text)
                .map(Some)
                .ok_or_else(|| element_error(here, &format!("is not {}", describe(*kind))))
        }
        FieldValue::Object(fields) => {
            let object = decode_fields(fields, element, here)?;
            Ok((!object.is_empty()).then_some(Value::Object(object)))
        }
    }
}

fn parse_scalar(kind: ValueType, text: &str) -> Option<Value> {
    match kind {
        ValueType::String => Some(Value::String(text.to_owned())),
        ValueType::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<u64>().map(Value::from))
            .ok(),
        ValueType::Number => text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        ValueType::Boolean => match text {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        ValueType::Date => {
            // xsd:date may carry an offset (`2020-01-31+07:00`, `…Z`); a
            // calendar day has none in the canonical JSON.
            let day = text.get(..10)?;
            let offset = &text[10..];
            let offset_ok = offset.is_empty()
                || offset == "Z"
                || (offset.len() == 6
                    && matches!(offset.as_bytes()[0], b'+' | b'-')
                    && offset.as_bytes()[3] == b':');
            (offset_ok && iso_date(day).is_some()).then(|| Value::String(day.to_owned()))
        }
    }
}

/// `s` if it is a real calendar day written `YYYY-MM-DD`.
pub(crate) fn iso_date(s: &str) -> Option<&str> {
    let bytes = s.as_bytes();
    let shape = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape {
        return None;
    }
    let year: u32 = s[..4].parse().ok()?;
    let month: u32 = s[5..7].parse().ok()?;
    let day: u32 = s[8..].parse().ok()?;
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days).contains(&day).then_some(s)
}

/// Puts `value` at a dotted path, creating the objects on the way.
fn insert(object: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut target = object;
    for segment in parents {
        let entry = target
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            // The mapping checks forbid overlapping paths, so this is never
            // reached; the guard keeps a bad mapping from panicking.
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        target = next;
    }
    target.insert(last.clone(), value);
}

/// Writes `root` as an XML document, declaring `prefixes` on the root
/// element. Elements in no namespace are written unprefixed, which is right
/// because no default namespace is ever declared.
pub(crate) fn write_document(
    root: &XmlElement,
    prefixes: &[(String, Arc<str>)],
) -> Result<Vec<u8>, CodecError> {
    let mut writer = Writer::new(Vec::with_capacity(1024));
    let write_error = |e: std::io::Error| CodecError::Write(e.to_string());
    writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .map_err(write_error)?;
    write_element(&mut writer, root, prefixes, true)?;
    Ok(writer.into_inner())
}

fn write_element(
    writer: &mut Writer<Vec<u8>>,
    element: &XmlElement,
    prefixes: &[(String, Arc<str>)],
    declare: bool,
) -> Result<(), CodecError> {
    let name = match &element.namespace {
        None => element.name.clone(),
        Some(namespace) => {
            let prefix = prefixes
                .iter()
                .find(|(_, uri)| uri == namespace)
                .map(|(prefix, _)| prefix)
                .ok_or_else(|| CodecError::Write(format!("no prefix for namespace {namespace}")))?;
            format!("{prefix}:{}", element.name)
        }
    };
    let mut start = BytesStart::new(name.as_str());
    if declare {
        for (prefix, uri) in prefixes {
            start.push_attribute((format!("xmlns:{prefix}").as_str(), uri.as_ref()));
        }
    }
    let write_error = |e: std::io::Error| CodecError::Write(e.to_string());
    if element.children.is_empty() && element.text.is_empty() {
        return writer.write_event(Event::Empty(start)).map_err(write_error);
    }
    writer
        .write_event(Event::Start(start))
        .map_err(write_error)?;
    if !element.text.is_empty() {
        writer
            .write_event(Event::Text(BytesText::new(&element.text)))
            .map_err(write_error)?;
    }
    for child in &element.children {
        write_element(writer, child, prefixes, false)?;
    }
    writer
        .write_event(Event::End(BytesEnd::new(name.as_str())))
        .map_err(write_error)
}
