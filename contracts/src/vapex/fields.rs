//! The rules on data field names: VAPEX-CAMELCASE and VAPEX-PERSONAL-DATA.
//!
//! One walk collects every schema property and every parameter of the
//! document, where it is defined: `$ref`s are not followed (their targets are
//! walked where they live), and nesting stops at [`MAX_DEPTH`].

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::document::{METHODS, path_items};
use super::{
    Finding, RULE_CAMELCASE, RULE_PERSONAL_DATA, child, is_camel_case, personal_data_fields, quote,
};

/// How deep schemas are walked; deeper nesting is a finding, so a document
/// the lint could not read to the end never passes.
const MAX_DEPTH: usize = 64;

/// The members of the LGSP problem contract (`problem.schema.json`) that are
/// not camelCase. The gateway writes them in every refusal, so a problem
/// schema may carry them; they are protocol members, not national data.
pub(super) const PROBLEM_MEMBERS: [&str; 3] = ["audit_id", "request_id", "upstream_status"];

/// A schema property or a parameter.
pub(super) struct Field {
    /// The property's or parameter's name.
    name: String,
    /// Pointer to the property, or to the parameter's `name`.
    pointer: String,
    /// For a property, the pointer of the schema whose `properties` hold it.
    owner: Option<String>,
    /// For a parameter, where it goes (`path`, `query`, `header`, `cookie`).
    location: Option<String>,
    /// Marked `x-personal-data: true`.
    marked: bool,
}

/// What one walk of the document found.
pub(super) struct Walked {
    /// Every property and parameter, in walk order.
    fields: Vec<Field>,
    /// Schemas nested deeper than [`MAX_DEPTH`].
    too_deep: Vec<String>,
    /// Pointers of the schemas that describe `application/problem+json` bodies.
    problem_schemas: BTreeSet<String>,
}

/// Collects the fields of `doc`: components (schemas, parameters, request
/// bodies, responses) and every path item's parameters and operations.
pub(super) fn walk(doc: &Map<String, Value>) -> Walked {
    let mut walker = Walker {
        doc,
        walked: Walked {
            fields: Vec::new(),
            too_deep: Vec::new(),
            problem_schemas: BTreeSet::new(),
        },
    };
    walker.components();
    for (_, pointer, item) in path_items(doc) {
        walker.parameters(item.get("parameters"), &child(&pointer, "parameters"));
        for method in METHODS {
            if let Some(op) = item.get(method).and_then(Value::as_object) {
                walker.operation(op, &child(&pointer, method));
            }
        }
    }
    walker.walked
}

struct Walker<'a> {
    doc: &'a Map<String, Value>,
    walked: Walked,
}

impl Walker<'_> {
    fn components(&mut self) {
        let Some(components) = self.doc.get("components").and_then(Value::as_object) else {
            return;
        };
        let members = |key: &str| {
            components
                .get(key)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
        };
        let base = "/components";
        for (name, schema) in members("schemas") {
            self.schema(schema, &child(&child(base, "schemas"), name), 0);
        }
        for (name, parameter) in members("parameters") {
            self.parameter(parameter, &child(&child(base, "parameters"), name));
        }
        for key in ["requestBodies", "responses"] {
            for (name, body) in members(key) {
                let at = child(&child(base, key), name);
                self.content(body.get("content"), &child(&at, "content"));
            }
        }
    }

    fn operation(&mut self, op: &Map<String, Value>, pointer: &str) {
        self.parameters(op.get("parameters"), &child(pointer, "parameters"));
        if let Some(body) = op.get("requestBody") {
            let at = child(pointer, "requestBody");
            self.content(body.get("content"), &child(&at, "content"));
        }
        if let Some(responses) = op.get("responses").and_then(Value::as_object) {
            let base = child(pointer, "responses");
            for (status, response) in responses {
                let at = child(&base, status);
                self.content(response.get("content"), &child(&at, "content"));
            }
        }
    }

    fn parameters(&mut self, parameters: Option<&Value>, pointer: &str) {
        let Some(parameters) = parameters.and_then(Value::as_array) else {
            return;
        };
        for (i, parameter) in parameters.iter().enumerate() {
            self.parameter(parameter, &child(pointer, &i.to_string()));
        }
    }

    /// A parameter object; a `$ref` is checked where its target is defined.
    fn parameter(&mut self, parameter: &Value, pointer: &str) {
        let Some(parameter) = parameter.as_object() else {
            return;
        };
        if parameter.contains_key("$ref") {
            return;
        }
        if let Some(name) = parameter.get("name").and_then(Value::as_str) {
            let marked = is_marked(parameter)
                || parameter
                    .get("schema")
                    .is_some_and(|schema| self.is_marked_schema(schema));
            self.walked.fields.push(Field {
                name: name.to_owned(),
                pointer: child(pointer, "name"),
                owner: None,
                location: parameter
                    .get("in")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                marked,
            });
        }
        if let Some(schema) = parameter.get("schema") {
            self.schema(schema, &child(pointer, "schema"), 0);
        }
        self.content(parameter.get("content"), &child(pointer, "content"));
    }

    /// A `content` map: the schema of each media type.
    fn content(&mut self, content: Option<&Value>, pointer: &str) {
        let Some(content) = content.and_then(Value::as_object) else {
            return;
        };
        for (media_type, media) in content {
            let Some(schema) = media.get("schema") else {
                continue;
            };
            let at = child(&child(pointer, media_type), "schema");
            if is_problem_media_type(media_type) {
                if let Some(name) = component_schema_name(schema) {
                    let target = child(&child("/components", "schemas"), &name);
                    self.walked.problem_schemas.insert(target);
                }
                self.walked.problem_schemas.insert(at.clone());
            }
            self.schema(schema, &at, 0);
        }
    }

    /// A schema and every schema nested in it.
    fn schema(&mut self, schema: &Value, pointer: &str, depth: usize) {
        let Some(schema) = schema.as_object() else {
            return; // a boolean schema has no names
        };
        if depth >= MAX_DEPTH {
            self.walked.too_deep.push(pointer.to_owned());
            return;
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            let base = child(pointer, "properties");
            for (name, property) in properties {
                let at = child(&base, name);
                let marked = self.is_marked_schema(property);
                self.walked.fields.push(Field {
                    name: name.clone(),
                    pointer: at.clone(),
                    owner: Some(pointer.to_owned()),
                    location: None,
                    marked,
                });
                self.schema(property, &at, depth + 1);
            }
        }
        for key in [
            "items",
            "additionalProperties",
            "unevaluatedProperties",
            "unevaluatedItems",
            "contains",
            "not",
            "if",
            "then",
            "else",
        ] {
            match schema.get(key) {
                // OpenAPI 3.0 documents may still carry tuple `items`.
                Some(Value::Array(list)) => self.schema_list(list, &child(pointer, key), depth),
                Some(sub) => self.schema(sub, &child(pointer, key), depth + 1),
                None => {}
            }
        }
        for key in ["allOf", "anyOf", "oneOf", "prefixItems"] {
            if let Some(list) = schema.get(key).and_then(Value::as_array) {
                self.schema_list(list, &child(pointer, key), depth);
            }
        }
        for key in [
            "patternProperties",
            "dependentSchemas",
            "$defs",
            "definitions",
        ] {
            if let Some(map) = schema.get(key).and_then(Value::as_object) {
                let base = child(pointer, key);
                for (name, sub) in map {
                    self.schema(sub, &child(&base, name), depth + 1);
                }
            }
        }
    }

    fn schema_list(&mut self, list: &[Value], pointer: &str, depth: usize) {
        for (i, sub) in list.iter().enumerate() {
            self.schema(sub, &child(pointer, &i.to_string()), depth + 1);
        }
    }

    /// A property schema is marked itself, or is a `$ref` to a component
    /// schema that is marked (one hop: `{"$ref": "#/components/schemas/SoDinhDanh"}`).
    fn is_marked_schema(&self, schema: &Value) -> bool {
        let Some(object) = schema.as_object() else {
            return false;
        };
        is_marked(object)
            || component_schema_name(schema)
                .and_then(|name| {
                    self.doc
                        .get("components")?
                        .get("schemas")?
                        .get(name.as_str())?
                        .as_object()
                })
                .is_some_and(is_marked)
    }
}

/// Whether an object carries `x-personal-data: true`.
fn is_marked(object: &Map<String, Value>) -> bool {
    object.get("x-personal-data") == Some(&Value::Bool(true))
}

/// `X` of a schema that is `{"$ref": "#/components/schemas/X"}`.
fn component_schema_name(schema: &Value) -> Option<String> {
    let name = schema
        .get("$ref")?
        .as_str()?
        .strip_prefix("#/components/schemas/")?;
    (!name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

/// `application/problem+json`, with or without parameters.
fn is_problem_media_type(media_type: &str) -> bool {
    media_type.split(';').next().is_some_and(|essence| {
        essence
            .trim()
            .eq_ignore_ascii_case("application/problem+json")
    })
}

/// VAPEX-CAMELCASE: property and path/query parameter names.
pub(super) fn check_camel_case(walked: &Walked, out: &mut Vec<Finding>) {
    for field in &walked.fields {
        if field
            .location
            .as_deref()
            .is_some_and(|location| location != "path" && location != "query")
        {
            continue; // headers and cookies follow HTTP's own conventions
        }
        let problem_member = field
            .owner
            .as_ref()
            .is_some_and(|owner| walked.problem_schemas.contains(owner))
            && PROBLEM_MEMBERS.contains(&field.name.as_str());
        if problem_member || is_camel_case(&field.name) {
            continue;
        }
        out.push(Finding::new(
            RULE_CAMELCASE,
            field.pointer.clone(),
            camel_case_message(&field.name),
        ));
    }
    for pointer in &walked.too_deep {
        out.push(Finding::new(
            RULE_CAMELCASE,
            pointer.clone(),
            format!(
                "nests schemas deeper than {MAX_DEPTH} levels, so its names cannot be checked: move the nested part to components.schemas and refer to it with $ref"
            ),
        ));
    }
}

/// What is wrong with a name that is not camelCase, and the fix.
fn camel_case_message(name: &str) -> String {
    let problem = if name.is_empty() {
        "is empty"
    } else if !name.is_ascii() {
        "has diacritics or other non-ASCII characters"
    } else if name.contains('_') {
        "is snake_case"
    } else if name.contains('-') {
        "has hyphens"
    } else if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        "has characters other than ASCII letters and digits"
    } else if name.starts_with(|c: char| c.is_ascii_digit()) {
        "starts with a digit"
    } else {
        "starts with a capital letter"
    };
    let fix = match camel_case_suggestion(name) {
        Some(suggestion) => format!("rename it {}", quote(&suggestion)),
        None => "rename it in that form, e.g. \"soDinhDanh\"".to_owned(),
    };
    format!(
        "{} {problem}; data fields are Vietnamese camelCase without diacritics (^[a-z][a-zA-Z0-9]*$): {fix}",
        quote(name)
    )
}

/// The camelCase form of `name` when it is easy to tell: diacritics
/// dropped, `_`/`-`/space-separated words joined, a leading capital
/// lowered (`so_dinh_danh` → `soDinhDanh`, `HoTen` → `hoTen`,
/// `ngày_sinh` → `ngaySinh`).
fn camel_case_suggestion(name: &str) -> Option<String> {
    let folded = fold_vietnamese(name)?;
    let mut suggestion = String::with_capacity(folded.len());
    let words = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty());
    for (i, word) in words.enumerate() {
        // `SO_DINH_DANH` and `ID` are shouting, not acronyms to keep.
        let word = if word.len() > 1 && !word.bytes().any(|b| b.is_ascii_lowercase()) {
            word.to_ascii_lowercase()
        } else {
            word.to_owned()
        };
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            suggestion.push(if i == 0 {
                first.to_ascii_lowercase()
            } else {
                first.to_ascii_uppercase()
            });
            suggestion.extend(chars);
        }
    }
    (is_camel_case(&suggestion) && suggestion != name).then_some(suggestion)
}

/// Vietnamese letters with their base letter, lower then upper case.
const VIETNAMESE_LETTERS: [(char, &str); 14] = [
    ('a', "àáảãạăằắẳẵặâầấẩẫậ"),
    ('e', "èéẻẽẹêềếểễệ"),
    ('i', "ìíỉĩị"),
    ('o', "òóỏõọôồốổỗộơờớởỡợ"),
    ('u', "ùúủũụưừứửữự"),
    ('y', "ỳýỷỹỵ"),
    ('d', "đ"),
    ('A', "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ"),
    ('E', "ÈÉẺẼẸÊỀẾỂỄỆ"),
    ('I', "ÌÍỈĨỊ"),
    ('O', "ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ"),
    ('U', "ÙÚỦŨỤƯỪỨỬỮỰ"),
    ('Y', "ỲÝỶỸỴ"),
    ('D', "Đ"),
];

/// `name` with Vietnamese letters replaced by their base letter and
/// combining marks dropped; `None` if another non-ASCII character remains.
fn fold_vietnamese(name: &str) -> Option<String> {
    let mut folded = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii() {
            folded.push(c);
        } else if ('\u{0300}'..='\u{036F}').contains(&c) {
            // A combining mark of a decomposed (NFD) letter.
        } else {
            let (base, _) = VIETNAMESE_LETTERS
                .iter()
                .find(|(_, letters)| letters.contains(c))?;
            folded.push(*base);
        }
    }
    Some(folded)
}

/// VAPEX-PERSONAL-DATA: every personal-data field is declared for the service.
pub(super) fn check_personal_data(
    doc: &Map<String, Value>,
    walked: &Walked,
    declared: &[String],
    out: &mut Vec<Finding>,
) {
    let is_declared = |name: &str| declared.iter().any(|d| d == name);
    let national = personal_data_fields();
    for field in &walked.fields {
        let listed = national.contains(&field.name.as_str());
        let why = match (field.marked, listed) {
            (true, true) => "marked `x-personal-data: true` and on the national list",
            (true, false) => "marked `x-personal-data: true`",
            (false, true) => "on the national list of personal-data fields",
            (false, false) => continue,
        };
        if is_declared(&field.name) {
            continue;
        }
        let name = quote(&field.name);
        out.push(Finding::new(
            RULE_PERSONAL_DATA,
            field.pointer.clone(),
            format!(
                "{name} is personal data ({why}) but the service's registry entry does not declare it: declare {name} among the service's personal-data fields, or remove the field from the descriptor"
            ),
        ));
    }
    let listed_in_block = doc
        .get("x-vapex")
        .and_then(|block| block.get("personalDataFields"))
        .and_then(Value::as_array);
    for (i, entry) in listed_in_block.into_iter().flatten().enumerate() {
        let Some(name) = entry.as_str() else {
            continue; // VAPEX-BLOCK reports entries that are not names
        };
        if !is_declared(name) {
            out.push(Finding::new(
                RULE_PERSONAL_DATA,
                format!("/x-vapex/personalDataFields/{i}"),
                format!(
                    "lists {} as personal data but the service's registry entry does not declare it: declare it for the service, or remove it from this list",
                    quote(name)
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let cases = [
            ("so_dinh_danh", Some("soDinhDanh")),
            ("SO_DINH_DANH", Some("soDinhDanh")),
            ("HoTen", Some("hoTen")),
            ("ho-ten", Some("hoTen")),
            ("ngày_sinh", Some("ngaySinh")),
            ("hoTên", Some("hoTen")),
            ("Địa chỉ", Some("diaChi")),
            ("ngay\u{0300}Sinh", Some("ngaySinh")),
            ("ID", Some("id")),
            ("1stName", None),
            ("名前", None),
            ("___", None),
        ];
        for (name, expected) in cases {
            assert_eq!(camel_case_suggestion(name).as_deref(), expected, "{name}");
        }
    }

    #[test]
    fn messages_say_what_is_wrong() {
        assert!(camel_case_message("so_dinh_danh").contains("is snake_case"));
        assert!(camel_case_message("hoTên").contains("diacritics"));
        assert!(camel_case_message("HoTen").contains("capital"));
        assert!(camel_case_message("ho-ten").contains("hyphens"));
        assert!(camel_case_message("2fa").contains("digit"));
        assert!(camel_case_message("a.b").contains("other than ASCII"));
        assert!(camel_case_message("").contains("is empty"));
    }

    #[test]
    fn problem_media_types() {
        assert!(is_problem_media_type("application/problem+json"));
        assert!(is_problem_media_type(
            "Application/Problem+JSON; charset=utf-8"
        ));
        assert!(!is_problem_media_type("application/json"));
    }
}
