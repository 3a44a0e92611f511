//! Field minimization: which fields of an answer each purpose may see
//! (`fields.toml` of a bundle), and the filter the minimize stage applies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;
use toml::de::{DeTable, DeValue};

use crate::PolicyError;

/// The key of a service table that applies to any purpose it does not list.
pub(crate) const ANY_PURPOSE: &str = "*";

/// Which top-level (and dotted nested) JSON fields a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldFilter {
    /// Every field: the service has no minimization rule.
    All,
    /// Only these fields; `"a.b"` keeps `b` inside the object (or each object of the array) `a`.
    Only(Arc<Vec<String>>),
}

/// What a path rule keeps of one field: all of it, or some of its own fields.
enum Keep<'a> {
    Whole,
    Fields(BTreeMap<&'a str, Keep<'a>>),
}

impl FieldFilter {
    /// Removes the fields the caller may not see; never fails.
    ///
    /// Objects keep the listed fields. Arrays are filtered element by element.
    /// A value that is not an object where fields were listed for it (a
    /// scalar answer, or `a` being a string under a rule `"a.b"`) has no
    /// field the caller may see: it is removed, and a scalar answer becomes
    /// `null`. Minimization fails closed.
    pub fn apply(&self, value: &mut Value) {
        let FieldFilter::Only(paths) = self else {
            return;
        };
        let mut root = BTreeMap::new();
        for path in paths.iter() {
            keep_path(&mut root, path);
        }
        if !has_fields(value) {
            *value = Value::Null;
            return;
        }
        // An explicit stack rather than recursion: arrays nest as deep as the
        // answer does, and the answer comes from an upstream.
        let mut pending: Vec<(&mut Value, &BTreeMap<&str, Keep<'_>>)> = vec![(value, &root)];
        while let Some((value, keep)) = pending.pop() {
            match value {
                Value::Object(map) => {
                    map.retain(|name, field| match keep.get(name.as_str()) {
                        None => false,
                        Some(Keep::Whole) => true,
                        Some(Keep::Fields(_)) => has_fields(field),
                    });
                    for (name, field) in map.iter_mut() {
                        if let Some(Keep::Fields(inner)) = keep.get(name.as_str()) {
                            pending.push((field, inner));
                        }
                    }
                }
                Value::Array(items) => {
                    items.retain(has_fields);
                    pending.extend(items.iter_mut().map(|item| (item, keep)));
                }
                _ => {}
            }
        }
    }
}

/// Whether a value can hold named fields, directly or in its elements.
fn has_fields(value: &Value) -> bool {
    matches!(value, Value::Object(_) | Value::Array(_))
}

/// Adds the dotted `path` to the tree; a whole field absorbs any deeper rule for it.
fn keep_path<'a>(root: &mut BTreeMap<&'a str, Keep<'a>>, path: &'a str) {
    let mut level = root;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segments.peek().is_none() {
            level.insert(segment, Keep::Whole);
            return;
        }
        level = match level
            .entry(segment)
            .or_insert_with(|| Keep::Fields(BTreeMap::new()))
        {
            Keep::Whole => return,
            Keep::Fields(inner) => inner,
        };
    }
}

/// The field rules of a bundle, per service slug and purpose code.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldRules {
    services: HashMap<String, ServiceFields>,
}

/// The rules of one service: per purpose code, and for any other purpose.
#[derive(Debug, Clone, Default)]
struct ServiceFields {
    by_purpose: HashMap<String, Arc<Vec<String>>>,
    any_purpose: Option<Arc<Vec<String>>>,
}

impl FieldRules {
    /// Reads `fields.toml`: tables of service slugs, mapping purpose codes (or
    /// `"*"`) to arrays of field paths.
    pub(crate) fn parse(src: &str) -> Result<FieldRules, PolicyError> {
        let document = DeTable::parse(src).map_err(|e| PolicyError::FieldsSyntax(e.to_string()))?;
        let line_at = |span: std::ops::Range<usize>| line_of(src, span.start);
        let mut services = HashMap::new();
        for (service, table) in document.get_ref() {
            let service_name = service.get_ref().as_ref();
            let DeValue::Table(purposes) = table.get_ref() else {
                return Err(PolicyError::FieldsShape {
                    line: line_at(table.span()),
                    problem: format!(
                        "{service_name:?} must be a table of purpose codes, like [{service_name}], not {}",
                        with_article(table.get_ref().type_str())
                    ),
                });
            };
            if service_name.trim().is_empty() {
                return Err(PolicyError::FieldsShape {
                    line: line_at(service.span()),
                    problem: "a service slug cannot be empty".into(),
                });
            }
            let mut rules = ServiceFields::default();
            for (purpose, list) in purposes {
                let purpose_name = purpose.get_ref().as_ref();
                let at = format!("[{service_name}] {purpose_name:?}");
                if purpose_name.trim().is_empty() {
                    return Err(PolicyError::FieldsShape {
                        line: line_at(purpose.span()),
                        problem: format!("{at}: a purpose code cannot be empty"),
                    });
                }
                let DeValue::Array(items) = list.get_ref() else {
                    return Err(PolicyError::FieldsShape {
                        line: line_at(list.span()),
                        problem: format!(
                            "{at} must be an array of field names, not {}",
                            with_article(list.get_ref().type_str())
                        ),
                    });
                };
                let mut fields = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let DeValue::String(field) = item.get_ref() else {
                        return Err(PolicyError::FieldsShape {
                            line: line_at(item.span()),
                            problem: format!(
                                "{at}, element {}: a field name must be a string, not {}",
                                index + 1,
                                with_article(item.get_ref().type_str())
                            ),
                        });
                    };
                    if field.split('.').any(|segment| segment.trim().is_empty()) {
                        return Err(PolicyError::FieldsShape {
                            line: line_at(item.span()),
                            problem: format!(
                                "{at}, element {}: {field:?} is not a field path like \"hoTen\" or \"thanhVien.hoTen\"",
                                index + 1
                            ),
                        });
                    }
                    fields.push(field.to_string());
                }
                let fields = Arc::new(fields);
                if purpose_name == ANY_PURPOSE {
                    rules.any_purpose = Some(fields);
                } else {
                    rules.by_purpose.insert(purpose_name.to_string(), fields);
                }
            }
            services.insert(service_name.to_string(), rules);
        }
        Ok(FieldRules { services })
    }

    /// The filter for an allowed call of `service` for `purpose`.
    ///
    /// A service without rules is returned whole. A service with rules that
    /// neither list the purpose nor have `"*"` is returned empty: a rule table
    /// means the data is minimized, so an unforeseen purpose sees nothing.
    pub(crate) fn filter_for(&self, service: &str, purpose: Option<&str>) -> FieldFilter {
        let Some(rules) = self.services.get(service) else {
            return FieldFilter::All;
        };
        purpose
            .and_then(|p| rules.by_purpose.get(p))
            .or(rules.any_purpose.as_ref())
            .map_or_else(
                || FieldFilter::Only(Arc::new(Vec::new())),
                |fields| FieldFilter::Only(Arc::clone(fields)),
            )
    }
}

/// "an integer", "a table": a TOML type name fit for a sentence.
fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

/// The 1-based line of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn only(fields: &[&str]) -> FieldFilter {
        FieldFilter::Only(Arc::new(fields.iter().map(|f| f.to_string()).collect()))
    }

    #[test]
    fn all_keeps_everything() {
        let mut value = json!({"a": 1, "b": {"c": 2}});
        let before = value.clone();
        FieldFilter::All.apply(&mut value);
        assert_eq!(value, before);
    }

    #[test]
    fn keeps_listed_top_level_fields() {
        let mut value = json!({"soDinhDanh": "001203004567", "hoTen": "Nguyễn Văn A", "tonGiao": "Không", "noiSinh": {"tinh": "Đồng Tháp"}});
        only(&["soDinhDanh", "hoTen", "absent"]).apply(&mut value);
        assert_eq!(
            value,
            json!({"soDinhDanh": "001203004567", "hoTen": "Nguyễn Văn A"})
        );
    }

    #[test]
    fn follows_dotted_paths_into_objects_and_arrays() {
        let mut value = json!({
            "maHoGiaDinh": "HGD-1",
            "chuHo": {"hoTen": "A", "soDinhDanh": "1"},
            "thanhVien": [
                {"hoTen": "A", "maSoBhxh": "x", "ngaySinh": "1980"},
                {"hoTen": "B", "maSoBhxh": "y", "ngaySinh": "2020"},
                "not an object",
                [{"hoTen": "C", "ngaySinh": "2021"}]
            ],
            "diaChi": "Mỹ Hiệp"
        });
        only(&[
            "maHoGiaDinh",
            "chuHo.hoTen",
            "thanhVien.hoTen",
            "thanhVien.maSoBhxh",
        ])
        .apply(&mut value);
        assert_eq!(
            value,
            json!({
                "maHoGiaDinh": "HGD-1",
                "chuHo": {"hoTen": "A"},
                "thanhVien": [
                    {"hoTen": "A", "maSoBhxh": "x"},
                    {"hoTen": "B", "maSoBhxh": "y"},
                    [{"hoTen": "C"}]
                ]
            })
        );
    }

    #[test]
    fn a_whole_field_wins_over_its_parts() {
        for order in [["a", "a.b"], ["a.b", "a"]] {
            let mut value = json!({"a": {"b": 1, "c": 2}, "d": 3});
            only(&order).apply(&mut value);
            assert_eq!(value, json!({"a": {"b": 1, "c": 2}}));
        }
    }

    #[test]
    fn non_objects_fail_closed() {
        let mut scalar = json!("001203004567");
        only(&["hoTen"]).apply(&mut scalar);
        assert_eq!(scalar, Value::Null);

        let mut list = json!([{"hoTen": "A", "x": 1}, 7, null]);
        only(&["hoTen"]).apply(&mut list);
        assert_eq!(list, json!([{"hoTen": "A"}]));

        // A scalar where sub-fields were listed cannot be shown in part.
        let mut value = json!({"thanhVien": "A, B", "diaChi": "x"});
        only(&["thanhVien.hoTen", "diaChi"]).apply(&mut value);
        assert_eq!(value, json!({"diaChi": "x"}));

        let mut empty = json!({"a": 1});
        only(&[]).apply(&mut empty);
        assert_eq!(empty, json!({}));
    }

    #[test]
    fn odd_paths_and_deep_answers_do_not_panic() {
        let mut deep = json!(1);
        for _ in 0..3_000 {
            deep = Value::Array(vec![deep]);
        }
        only(&["", ".", "a..b", "a."]).apply(&mut deep);
        let mut value = json!({"": 1, "a": {"": 2, "b": 3}});
        only(&["", "a."]).apply(&mut value);
        assert_eq!(value, json!({"": 1, "a": {"": 2}}));
    }

    #[test]
    fn parses_rules_and_picks_by_purpose() {
        let rules = FieldRules::parse(
            "[population]\n\"*\" = [\"hoTen\"]\n\"1.001612\" = [\"hoTen\", \"noiSinh\"]\n[strict]\n\"1.000894\" = [\"a.b\"]\n",
        );
        let rules = match rules {
            Ok(rules) => rules,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            rules.filter_for("population", Some("1.001612")),
            only(&["hoTen", "noiSinh"])
        );
        assert_eq!(
            rules.filter_for("population", Some("2.000986")),
            only(&["hoTen"])
        );
        assert_eq!(rules.filter_for("population", None), only(&["hoTen"]));
        assert_eq!(rules.filter_for("strict", Some("2.000986")), only(&[]));
        assert_eq!(
            rules.filter_for("enterprise", Some("1.001612")),
            FieldFilter::All
        );
        assert!(FieldRules::parse("").is_ok());
    }

    #[test]
    fn refuses_malformed_rules_with_their_line() {
        let cases = [
            ("population = 3\n", 1, "must be a table"),
            ("[population]\n\"*\" = \"hoTen\"\n", 2, "must be an array"),
            ("[population]\n\n\"*\" = [\"hoTen\", 3]\n", 3, "element 2"),
            (
                "[population]\n\"*\" = [\"hoTen\", [\"a\"]]\n",
                2,
                "element 2",
            ),
            (
                "[population]\n\"*\" = [\"thanhVien..hoTen\"]\n",
                2,
                "not a field path",
            ),
            (
                "[population]\n\"\" = [\"hoTen\"]\n",
                2,
                "purpose code cannot be empty",
            ),
            (
                "[population.deep]\n\"*\" = [\"hoTen\"]\n",
                1,
                "must be an array",
            ),
        ];
        for (src, line, words) in cases {
            match FieldRules::parse(src) {
                Err(PolicyError::FieldsShape { line: got, problem }) => {
                    assert_eq!(got, line, "{src}: {problem}");
                    assert!(problem.contains(words), "{src}: {problem}");
                }
                other => panic!("{src}: {other:?}"),
            }
        }
        match FieldRules::parse("[population\n") {
            Err(PolicyError::FieldsSyntax(message)) => {
                assert!(message.contains("line 1"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
