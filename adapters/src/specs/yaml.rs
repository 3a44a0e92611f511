//! YAML text to JSON values, bounded.
//!
//! The parser's events are consumed one at a time (its own `load` recurses
//! once per nesting level, so it is never called), nesting is refused past
//! [`MAX_NESTING`] before anything deeper is built, and every node that
//! anchors and aliases copy counts against [`MAX_ALIAS_NODES`]: a billion
//! laughs stops after a bounded amount of work.
//!
//! Scalars follow the YAML 1.2 core schema; mapping keys are kept as
//! written (so `200:` is the key `"200"`); `<<` merge keys are applied;
//! a value JSON cannot hold (`.inf`, `.nan`, complex keys, several
//! documents) is refused.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use super::{MAX_ALIAS_NODES, MAX_NESTING, SpecError, clip};

/// The tag prefix `!!` stands for.
const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Reads one YAML document into a JSON value.
pub(super) fn yaml_to_json(text: &str) -> Result<Value, SpecError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    let mut documents = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(scan_error)?;
        match event {
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(yaml_error(
                        mark,
                        "the stream has more than one document; an OpenAPI document is one",
                    ));
                }
            }
            Event::Alias(id) => builder.alias(id, mark)?,
            Event::Scalar(text, style, anchor, tag) => {
                builder.scalar(text, style, anchor, tag.as_ref(), mark)?;
            }
            Event::SequenceStart(anchor, _) => builder.open(Open::Sequence(Vec::new()), anchor)?,
            Event::MappingStart(anchor, _) => {
                builder.open(Open::Mapping(OpenMapping::default()), anchor)?;
            }
            Event::SequenceEnd | Event::MappingEnd => builder.close(mark)?,
        }
    }
    builder.root.ok_or(SpecError::Empty)
}

/// A collection being read.
enum Open {
    /// A sequence and the items so far.
    Sequence(Vec<Value>),
    /// A mapping being read.
    Mapping(OpenMapping),
}

/// A mapping being read: the entries so far, the key waiting for its
/// value, and the keys that came from a `<<` merge (which the mapping's own
/// keys may override).
#[derive(Default)]
struct OpenMapping {
    entries: Map<String, Value>,
    pending: Option<String>,
    merged: HashSet<String>,
}

/// The YAML 1.1 merge key, still common in hand-written OpenAPI YAML.
const MERGE_KEY: &str = "<<";

/// A value kept under its anchor, with its size and depth so that each
/// alias is priced without walking it again.
struct Anchored {
    value: Value,
    nodes: usize,
    depth: usize,
}

/// Builds the value from events.
#[derive(Default)]
struct Builder {
    /// Open collections, outermost first, each with its anchor id (0: none).
    open: Vec<(Open, usize)>,
    anchors: HashMap<usize, Anchored>,
    /// Nodes copied so far by anchors and aliases.
    copied: usize,
    root: Option<Value>,
}

impl Builder {
    fn open(&mut self, collection: Open, anchor: usize) -> Result<(), SpecError> {
        if self.expects_key() {
            return Err(SpecError::Yaml(
                "a mapping key is a sequence or mapping; keys must be scalars".to_owned(),
            ));
        }
        if self.open.len() >= MAX_NESTING {
            return Err(SpecError::TooDeep { limit: MAX_NESTING });
        }
        self.open.push((collection, anchor));
        Ok(())
    }

    fn close(&mut self, mark: Marker) -> Result<(), SpecError> {
        let Some((collection, anchor)) = self.open.pop() else {
            return Err(yaml_error(mark, "a collection ends that never started"));
        };
        let value = match collection {
            Open::Sequence(items) => Value::Array(items),
            Open::Mapping(OpenMapping {
                entries,
                pending: None,
                ..
            }) => Value::Object(entries),
            Open::Mapping(OpenMapping {
                pending: Some(key), ..
            }) => {
                return Err(yaml_error(
                    mark,
                    &format!("key `{}` has no value", clip(&key)),
                ));
            }
        };
        self.complete(value, anchor, mark)
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        mark: Marker,
    ) -> Result<(), SpecError> {
        if self.expects_key() {
            // Keys stay as written: `200:` is the response code "200".
            return self.key(text, anchor, mark);
        }
        let value = scalar_value(text, style, tag).map_err(|problem| yaml_error(mark, &problem))?;
        self.complete(value, anchor, mark)
    }

    fn alias(&mut self, id: usize, mark: Marker) -> Result<(), SpecError> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(yaml_error(mark, "an alias names an unknown anchor"));
        };
        if self.open.len() + anchored.depth > MAX_NESTING {
            return Err(SpecError::TooDeep { limit: MAX_NESTING });
        }
        self.copied = self.copied.saturating_add(anchored.nodes);
        if self.copied > MAX_ALIAS_NODES {
            return Err(SpecError::AliasExpansion {
                limit: MAX_ALIAS_NODES,
            });
        }
        if self.expects_key() {
            return match &anchored.value {
                Value::String(key) => {
                    let key = key.clone();
                    self.key(key, 0, mark)
                }
                _ => Err(yaml_error(
                    mark,
                    "an alias used as a mapping key must name a string",
                )),
            };
        }
        let value = anchored.value.clone();
        self.place(value, mark)
    }

    /// Whether the next node is a mapping key.
    fn expects_key(&self) -> bool {
        matches!(
            self.open.last(),
            Some((Open::Mapping(OpenMapping { pending: None, .. }), _))
        )
    }

    fn key(&mut self, key: String, anchor: usize, mark: Marker) -> Result<(), SpecError> {
        if anchor != 0 {
            self.remember(anchor, &Value::String(key.clone()))?;
        }
        if let Some((Open::Mapping(mapping), _)) = self.open.last_mut() {
            if mapping.entries.contains_key(&key) && !mapping.merged.remove(&key) {
                return Err(yaml_error(
                    mark,
                    &format!("key `{}` appears twice in one mapping", clip(&key)),
                ));
            }
            mapping.pending = Some(key);
        }
        Ok(())
    }

    /// A node is complete: remember it under its anchor and place it.
    fn complete(&mut self, value: Value, anchor: usize, mark: Marker) -> Result<(), SpecError> {
        if anchor != 0 {
            self.remember(anchor, &value)?;
        }
        self.place(value, mark)
    }

    fn remember(&mut self, anchor: usize, value: &Value) -> Result<(), SpecError> {
        let (nodes, depth) = measure(value);
        self.copied = self.copied.saturating_add(nodes);
        if self.copied > MAX_ALIAS_NODES {
            return Err(SpecError::AliasExpansion {
                limit: MAX_ALIAS_NODES,
            });
        }
        self.anchors.insert(
            anchor,
            Anchored {
                value: value.clone(),
                nodes,
                depth,
            },
        );
        Ok(())
    }

    /// Puts a complete value into the collection being read, or makes it the root.
    fn place(&mut self, value: Value, mark: Marker) -> Result<(), SpecError> {
        match self.open.last_mut() {
            Some((Open::Sequence(items), _)) => items.push(value),
            Some((Open::Mapping(mapping), _)) => match mapping.pending.take() {
                Some(key) if key == MERGE_KEY => merge(mapping, value, mark)?,
                Some(key) => {
                    mapping.entries.insert(key, value);
                }
                None => {
                    return Err(yaml_error(mark, "a mapping key must be a scalar"));
                }
            },
            None if self.root.is_none() => self.root = Some(value),
            None => return Err(yaml_error(mark, "content after the document's root node")),
        }
        Ok(())
    }
}

/// `<<: *base` (or `<<: [*a, *b]`): the merged mappings' entries join the
/// mapping unless it has them already; earlier merged mappings win.
fn merge(mapping: &mut OpenMapping, value: Value, mark: Marker) -> Result<(), SpecError> {
    let sources = match value {
        Value::Object(source) => vec![source],
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(source) => Ok(source),
                _ => Err(()),
            })
            .collect::<Result<_, _>>()
            .map_err(|()| yaml_error(mark, "a `<<` merge list may only hold mappings"))?,
        _ => {
            return Err(yaml_error(
                mark,
                "a `<<` merge value must be a mapping or a list of mappings",
            ));
        }
    };
    for source in sources {
        for (key, value) in source {
            if !mapping.entries.contains_key(&key) {
                mapping.merged.insert(key.clone());
                mapping.entries.insert(key, value);
            }
        }
    }
    Ok(())
}

/// Node count and collection depth of a value (bounded by [`MAX_NESTING`]).
fn measure(value: &Value) -> (usize, usize) {
    match value {
        Value::Array(items) => items.iter().map(measure).fold((1, 1), |(n, d), (cn, cd)| {
            (n.saturating_add(cn), d.max(cd + 1))
        }),
        Value::Object(map) => map.values().map(measure).fold((1, 1), |(n, d), (cn, cd)| {
            (n.saturating_add(cn), d.max(cd + 1))
        }),
        _ => (1, 0),
    }
}

/// A scalar under the YAML 1.2 core schema (quoted and block scalars, and
/// `!!str`, are strings).
fn scalar_value(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let core_tag = tag
        .filter(|tag| tag.handle == CORE_TAG_PREFIX)
        .map(|tag| tag.suffix.as_str());
    if style != TScalarStyle::Plain || core_tag == Some("str") {
        return Ok(Value::String(text));
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            return Err(format!("`{text}` has no JSON equivalent"));
        }
        _ => {}
    }
    if let Some(number) = integer(&text) {
        return Ok(Value::Number(number));
    }
    if is_core_float(&text) {
        return match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(number) => Ok(Value::Number(number)),
            None => Err(format!("number `{}` is out of range", clip(&text))),
        };
    }
    Ok(Value::String(text))
}

/// A core-schema integer: decimal with optional sign, `0x…` or `0o…`.
fn integer(text: &str) -> Option<Number> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Number::from);
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return u64::from_str_radix(octal, 8).ok().map(Number::from);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if let Ok(value) = unsigned.parse::<i64>() {
        return Some(Number::from(value));
    }
    if let Ok(value) = unsigned.parse::<u64>() {
        return Some(Number::from(value));
    }
    // Too long for 64 bits: a float, as JSON readers would take it.
    unsigned.parse::<f64>().ok().and_then(Number::from_f64)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_float(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let whole = digits(&mut i);
    let mut fraction = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        fraction = digits(&mut i);
    }
    if whole == 0 && fraction == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

fn scan_error(error: ScanError) -> SpecError {
    // The scanner reads ahead through flow collections (`[[[[…`) and stops
    // itself at 255 levels, before the builder sees them: same refusal.
    if error.info() == "recursion limit exceeded" {
        return SpecError::TooDeep { limit: MAX_NESTING };
    }
    yaml_error(*error.marker(), error.info())
}

fn yaml_error(mark: Marker, problem: &str) -> SpecError {
    SpecError::Yaml(format!(
        "{problem} at line {} column {}",
        mark.line(),
        mark.col() + 1
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_core_schema_scalars_and_keeps_keys_as_written() {
        let value = yaml_to_json(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '3'\ng: 3.0.3\nh: 0x1F\n200: ok\ni: 1e3\nj: !!str 12\nk: \"null\"\nl: |\n  two\n  lines\n",
        )
        .expect("accepted");
        assert_eq!(
            value,
            json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "3", "g": "3.0.3",
                   "h": 31, "200": "ok", "i": 1000.0, "j": "12", "k": "null", "l": "two\nlines\n"})
        );
    }

    #[test]
    fn expands_a_few_aliases() {
        let value =
            yaml_to_json("base: &b {type: string}\none: *b\ntwo: [*b]\n").expect("accepted");
        assert_eq!(
            value,
            json!({"base": {"type": "string"}, "one": {"type": "string"}, "two": [{"type": "string"}]})
        );
    }

    #[test]
    fn applies_merge_keys() {
        let value = yaml_to_json(
            "base: &base {type: string, maxLength: 12}
extra: &extra {pattern: x, maxLength: 99}
soDinhDanh:
  <<: [*base, *extra]
  maxLength: 20
",
        )
        .expect("accepted");
        assert_eq!(
            value["soDinhDanh"],
            json!({"type": "string", "maxLength": 20, "pattern": "x"})
        );
        assert!(value["soDinhDanh"].get("<<").is_none());
        let error = yaml_to_json(
            "a:
  <<: 1
",
        )
        .expect_err("refused");
        assert!(error.to_string().contains("merge value"), "{error}");
        // A merged key overridden twice is still a duplicate.
        let error = yaml_to_json(
            "b: &b {x: 1}
a:
  <<: *b
  x: 2
  x: 3
",
        )
        .expect_err("refused");
        assert!(error.to_string().contains("appears twice"), "{error}");
    }

    #[test]
    fn refuses_an_alias_bomb() {
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for pair in names.windows(2) {
            let (previous, name) = (pair[0], pair[1]);
            let refs = vec![format!("*{previous}"); 9].join(",");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        assert_eq!(
            yaml_to_json(&bomb).expect_err("refused"),
            SpecError::AliasExpansion {
                limit: MAX_ALIAS_NODES
            }
        );
    }

    #[test]
    fn refuses_deep_nesting_before_building_it() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            yaml_to_json(&deep).expect_err("refused"),
            SpecError::TooDeep { limit: MAX_NESTING }
        );
        let mut block = String::new();
        for level in 0..70 {
            block.push_str(&" ".repeat(level));
            block.push_str("k:\n");
        }
        assert_eq!(
            yaml_to_json(&block).expect_err("refused"),
            SpecError::TooDeep { limit: MAX_NESTING }
        );
        let ok = format!("{}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(yaml_to_json(&ok).is_ok());
    }

    #[test]
    fn refuses_what_json_cannot_hold() {
        for (text, expected) in [
            (
                "a: .inf\n",
                "`.inf` has no JSON equivalent at line 1 column 4",
            ),
            ("? [a]\n: b\n", "keys must be scalars"),
            ("a: 1\na: 2\n", "key `a` appears twice"),
            ("a: 1\n---\nb: 2\n", "more than one document"),
        ] {
            let error = yaml_to_json(text).expect_err("refused").to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn tells_where_the_syntax_breaks() {
        let error = yaml_to_json("a:\n  b: [1, 2\nc: d\n").expect_err("refused");
        assert!(
            matches!(&error, SpecError::Yaml(m) if m.contains("line")),
            "{error}"
        );
    }

    #[test]
    fn an_empty_stream_is_empty() {
        assert_eq!(
            yaml_to_json("# only a comment\n").expect_err("refused"),
            SpecError::Empty
        );
    }

    #[test]
    fn recognises_core_floats_only() {
        for yes in ["1.5", "-1.5", ".5", "1.", "1e3", "+2.5E-3"] {
            assert!(is_core_float(yes), "{yes}");
        }
        for no in ["1.2.3", "e3", ".", "-", "1e", "abc", "3.0.3", "1_000"] {
            assert!(!is_core_float(no), "{no}");
        }
    }
}
