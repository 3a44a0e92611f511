//! The one XML reader of the adapters and simulators: untrusted bytes in,
//! a bounded element tree out, or a clear refusal.
//!
//! - A document type declaration is refused outright, so no DTD is read and
//!   no entity (internal or external) can ever be expanded: billion laughs
//!   and XXE have nothing to work with.
//! - Only the five predefined entities and character references are resolved.
//! - Size, depth and element count are checked while reading: the input is
//!   read through a `take` of the size limit, so a larger stream is never
//!   buffered, and the tree never holds more than the limits allow.
//! - Namespaces are resolved: each element carries its namespace URI (shared,
//!   so a long URI declared once costs its length once) and its local name;
//!   callers match on those, never on prefixes.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

use quick_xml::NsReader;
use quick_xml::encoding::Decoder;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// Bounds on one XML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting (the root is depth 1).
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
}

impl Default for XmlLimits {
    /// 8 MiB, 64 levels, 100 000 elements: far above any national answer,
    /// far below what would hurt the gateway.
    fn default() -> Self {
        XmlLimits {
            max_bytes: 8 * 1024 * 1024,
            max_depth: 64,
            max_elements: 100_000,
        }
    }
}

/// Why an XML document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Larger than the size limit.
    #[error("XML document larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Has a document type declaration.
    #[error(
        "XML document type declarations (<!DOCTYPE>) are refused; no DTD or entity is ever read"
    )]
    DocType,
    /// Nested deeper than the depth limit.
    #[error("XML nested deeper than {limit} elements")]
    TooDeep {
        /// The limit in levels.
        limit: usize,
    },
    /// More elements than the element limit.
    #[error("XML document has more than {limit} elements")]
    TooManyElements {
        /// The limit in elements.
        limit: usize,
    },
    /// References an entity other than the predefined ones.
    #[error(
        "XML references entity `{0}`; only &lt; &gt; &amp; &apos; &quot; and character references are allowed"
    )]
    UnknownEntity(String),
    /// Declares an encoding other than UTF-8.
    #[error("XML encoding `{0}` is not supported; documents must be UTF-8")]
    Encoding(String),
    /// Not well-formed, not UTF-8, or not exactly one root element.
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// An element of a document read by [`read_xml`], or built to be written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlElement {
    /// The namespace URI, or `None` for an element in no namespace.
    pub namespace: Option<Arc<str>>,
    /// The local name (without prefix).
    pub name: String,
    /// The element's own text, entities resolved (for mixed content, all of
    /// its text pieces joined).
    pub text: String,
    /// Its unqualified attributes (name, value with entities resolved), in
    /// document order; prefixed attributes and namespace declarations are
    /// left out.
    pub attributes: Vec<(String, String)>,
    /// Child elements, in document order.
    pub children: Vec<XmlElement>,
}

impl XmlElement {
    /// An empty element.
    pub fn new(namespace: Option<Arc<str>>, name: impl Into<String>) -> XmlElement {
        XmlElement {
            namespace,
            name: name.into(),
            text: String::new(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Whether this element has this namespace URI and local name.
    pub fn is(&self, namespace: Option<&str>, name: &str) -> bool {
        self.name == name && self.namespace.as_deref() == namespace
    }

    /// The value of the unqualified attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The children with this namespace URI and local name.
    pub fn children_named<'a>(
        &'a self,
        namespace: Option<&'a str>,
        name: &'a str,
    ) -> impl Iterator<Item = &'a XmlElement> + 'a {
        self.children.iter().filter(move |c| c.is(namespace, name))
    }

    /// `{namespace}name` (James Clark notation) for messages, cut to 160
    /// characters because the names come from untrusted documents.
    pub fn expanded_name(&self) -> String {
        let full = match &self.namespace {
            Some(ns) => format!("{{{ns}}}{}", self.name),
            None => self.name.clone(),
        };
        full.chars().take(160).collect()
    }
}

/// Reads a whole document from a byte slice.
pub fn read_xml(bytes: &[u8], limits: &XmlLimits) -> Result<XmlElement, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    read_xml_from(bytes, limits)
}

/// Reads a whole document from a stream, reading at most one byte more than
/// the size limit.
pub fn read_xml_from(input: impl BufRead, limits: &XmlLimits) -> Result<XmlElement, XmlError> {
    let ceiling = u64::try_from(limits.max_bytes).unwrap_or(u64::MAX);
    let mut reader = NsReader::from_reader(input.take(ceiling.saturating_add(1)));
    let config = reader.config_mut();
    config.check_end_names = true;
    config.check_comments = true;
    config.allow_unmatched_ends = false;
    config.expand_empty_elements = false;
    let mut tree = TreeBuilder {
        limits,
        open: Vec::new(),
        root: None,
        elements: 0,
        namespaces: HashMap::new(),
    };
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = match reader.read_resolved_event_into(&mut buf) {
            Ok((resolved, event)) => tree.namespace(resolved).map(|namespace| (namespace, event)),
            Err(error) => Err(XmlError::Malformed(error.to_string())),
        };
        // A document cut off by the size ceiling looks malformed to the
        // parser; the size is the real reason.
        if reader.buffer_position() > ceiling {
            return Err(XmlError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        let (namespace, event) = read?;
        match event {
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::Decl(decl) => check_encoding(&decl)?,
            Event::Start(start) => tree.open(namespace, &start, reader.decoder())?,
            Event::Empty(start) => {
                tree.open(namespace, &start, reader.decoder())?;
                tree.close()?;
            }
            Event::End(_) => tree.close()?,
            Event::Text(text) => {
                let text = text
                    .xml_content()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?;
                tree.text(&text)?;
            }
            Event::CData(data) => {
                let text = data
                    .decode()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?;
                tree.content(&text)?;
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) if is_xml_char(c) => c.to_string(),
                    Ok(Some(_)) => {
                        return Err(XmlError::Malformed(
                            "character reference to a character XML does not allow".to_owned(),
                        ));
                    }
                    Ok(None) => {
                        let name = reference
                            .decode()
                            .map_err(|e| XmlError::Malformed(e.to_string()))?;
                        match resolve_predefined_entity(&name) {
                            Some(value) => value.to_owned(),
                            None => {
                                return Err(XmlError::UnknownEntity(
                                    name.chars().take(32).collect(),
                                ));
                            }
                        }
                    }
                    Err(error) => return Err(XmlError::Malformed(error.to_string())),
                };
                tree.content(&resolved)?;
            }
            Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    tree.finish()
}

/// Whether XML 1.0 allows the character in a document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\u{9}' | '\u{A}' | '\u{D}'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// Refuses a declared encoding other than UTF-8: the reader decodes UTF-8
/// only, and guessing would corrupt Vietnamese text.
fn check_encoding(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), XmlError> {
    match decl.encoding() {
        None => Ok(()),
        Some(Ok(name))
            if name.eq_ignore_ascii_case(b"utf-8") || name.eq_ignore_ascii_case(b"utf8") =>
        {
            Ok(())
        }
        Some(Ok(name)) => Err(XmlError::Encoding(
            String::from_utf8_lossy(&name).chars().take(32).collect(),
        )),
        Some(Err(error)) => Err(XmlError::Malformed(error.to_string())),
    }
}

/// The tree being built, with the counts the limits apply to.
struct TreeBuilder<'l> {
    limits: &'l XmlLimits,
    /// Open elements, outermost first.
    open: Vec<XmlElement>,
    root: Option<XmlElement>,
    elements: usize,
    /// Namespace URIs seen, so each is stored once.
    namespaces: HashMap<Vec<u8>, Arc<str>>,
}

impl TreeBuilder<'_> {
    fn namespace(&mut self, resolved: ResolveResult<'_>) -> Result<Option<Arc<str>>, XmlError> {
        match resolved {
            ResolveResult::Unbound => Ok(None),
            ResolveResult::Bound(namespace) => {
                if let Some(uri) = self.namespaces.get(namespace.as_ref()) {
                    return Ok(Some(uri.clone()));
                }
                let uri: Arc<str> = std::str::from_utf8(namespace.as_ref())
                    .map_err(|_| XmlError::Malformed("namespace URI is not UTF-8".to_owned()))?
                    .into();
                self.namespaces
                    .insert(namespace.as_ref().to_vec(), uri.clone());
                Ok(Some(uri))
            }
            ResolveResult::Unknown(prefix) => Err(XmlError::Malformed(format!(
                "undeclared namespace prefix `{}`",
                String::from_utf8_lossy(&prefix)
                    .chars()
                    .take(32)
                    .collect::<String>()
            ))),
        }
    }

    fn open(
        &mut self,
        namespace: Option<Arc<str>>,
        start: &BytesStart<'_>,
        decoder: Decoder,
    ) -> Result<(), XmlError> {
        if self.root.is_some() {
            return Err(XmlError::Malformed(
                "content after the root element".to_owned(),
            ));
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(XmlError::TooManyElements {
                limit: self.limits.max_elements,
            });
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(XmlError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        // A malformed or duplicated attribute, or a kept one naming an
        // unknown entity, makes the document malformed.
        let mut attributes = Vec::new();
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|e| XmlError::Malformed(e.to_string()))?;
            if attribute.key.prefix().is_some() || attribute.key.as_ref() == b"xmlns" {
                continue;
            }
            let value = attribute
                .decode_and_unescape_value(decoder)
                .map_err(|e| XmlError::Malformed(e.to_string()))?;
            let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
            attributes.push((key, value.into_owned()));
        }
        let name = std::str::from_utf8(start.local_name().as_ref())
            .map_err(|_| XmlError::Malformed("element name is not UTF-8".to_owned()))?
            .to_owned();
        self.open.push(XmlElement {
            attributes,
            ..XmlElement::new(namespace, name)
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), XmlError> {
        let element = self
            .open
            .pop()
            .ok_or_else(|| XmlError::Malformed("end tag without a start tag".to_owned()))?;
        match self.open.last_mut() {
            Some(parent) => parent.children.push(element),
            None => self.root = Some(element),
        }
        Ok(())
    }

    /// Character data between tags; only whitespace may sit outside the root.
    fn text(&mut self, text: &str) -> Result<(), XmlError> {
        match self.open.last_mut() {
            Some(element) => {
                element.text.push_str(text);
                Ok(())
            }
            None if text.trim().is_empty() => Ok(()),
            None => Err(XmlError::Malformed(
                "text outside the root element".to_owned(),
            )),
        }
    }

    /// CDATA or a resolved reference, which may only sit inside an element.
    fn content(&mut self, text: &str) -> Result<(), XmlError> {
        match self.open.last_mut() {
            Some(element) => {
                element.text.push_str(text);
                Ok(())
            }
            None => Err(XmlError::Malformed(
                "content outside the root element".to_owned(),
            )),
        }
    }

    fn finish(self) -> Result<XmlElement, XmlError> {
        if !self.open.is_empty() {
            return Err(XmlError::Malformed(
                "document ends inside an element".to_owned(),
            ));
        }
        self.root
            .ok_or_else(|| XmlError::Malformed("no root element".to_owned()))
    }
}
