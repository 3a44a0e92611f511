//! A policy bundle: Cedar policies plus field rules, checked and compiled
//! once when loaded so that deciding needs no parsing and no I/O.

use std::collections::HashMap;

use cedar_policy::{Effect, Policy, PolicyId, Schema, ValidationMode, Validator};
use lgsp_contracts::ErrorCode;

use crate::fields::FieldRules;
use crate::text::split_policies;

/// Largest policy text accepted, in bytes.
pub const MAX_CEDAR_BYTES: usize = 1024 * 1024;

/// Largest field-rule file accepted, in bytes.
pub const MAX_FIELDS_BYTES: usize = 1024 * 1024;

/// The version of the bundle shipped with the gateway.
pub const BUILTIN_VERSION: &str = "builtin-1";

const BUILTIN_CEDAR: &str = include_str!("../default/policy.cedar");
const BUILTIN_FIELDS: &str = include_str!("../default/fields.toml");
const SCHEMA: &str = include_str!("schema.cedarschema");

/// Policy id reported when no policy permits the call.
pub const DEFAULT_DENY_ID: &str = "default-deny";

/// Policy id reported when the engine itself could not reach a decision.
pub const ENGINE_ERROR_ID: &str = "engine-error";

/// Why a bundle was refused; each message names the policy or line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The version label is empty, too long or not printable.
    #[error("bundle version must be 1 to 64 printable characters, got {0:?}")]
    Version(String),
    /// A file of the bundle is larger than accepted.
    #[error("{what} is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// Which file.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The Cedar parser refused a policy.
    #[error("policy at line {line}: {message}")]
    Syntax {
        /// Line where the policy starts.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A policy is too large or nested too deeply to evaluate safely.
    #[error("policy at line {line}: {problem}")]
    TooComplex {
        /// Line of the offending policy or bracket.
        line: usize,
        /// What limit it exceeds.
        problem: String,
    },
    /// A policy has no `@id`.
    #[error(
        "policy at line {line} has no @id(\"...\") annotation; every policy needs a unique, non-empty id"
    )]
    MissingId {
        /// Line where the policy starts.
        line: usize,
    },
    /// Two policies share an `@id`.
    #[error("policy at line {line}: id {id:?} is already used by the policy at line {first_line}")]
    DuplicateId {
        /// The shared id.
        id: String,
        /// Line of the second policy.
        line: usize,
        /// Line of the first policy.
        first_line: usize,
    },
    /// A policy uses an id the engine reports for its own decisions.
    #[error("policy at line {line}: id {id:?} is reserved for the engine's own decisions")]
    ReservedId {
        /// The reserved id.
        id: String,
        /// Line where the policy starts.
        line: usize,
    },
    /// A forbid policy has no `@code`.
    #[error(
        "forbid policy {id:?} (line {line}) has no @code(\"...\") annotation naming the error code the caller receives"
    )]
    MissingCode {
        /// The policy's id.
        id: String,
        /// Line where the policy starts.
        line: usize,
    },
    /// A forbid policy's `@code` names no error code.
    #[error(
        "forbid policy {id:?} (line {line}): @code({code:?}) is not an error code; use one of {}",
        known_codes()
    )]
    UnknownCode {
        /// The policy's id.
        id: String,
        /// Line where the policy starts.
        line: usize,
        /// The unknown code.
        code: String,
    },
    /// A policy does not type-check against the request model.
    #[error("policy {id:?} (line {line}) does not fit the request model: {message}")]
    Invalid {
        /// The policy's id.
        id: String,
        /// Line where the policy starts.
        line: usize,
        /// The validator's message.
        message: String,
    },
    /// `fields.toml` is not TOML.
    #[error("fields.toml is not valid TOML: {0}")]
    FieldsSyntax(String),
    /// `fields.toml` is TOML but not tables of arrays of field names.
    #[error("fields.toml line {line}: {problem}")]
    FieldsShape {
        /// Line of the offending value.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// The request model compiled into the crate did not load.
    #[error("the engine's request model did not load: {0}")]
    Schema(String),
}

/// Every error code, for the message that refuses an unknown one.
fn known_codes() -> String {
    ErrorCode::ALL.map(ErrorCode::as_str).join(", ")
}

/// What a forbid policy answers when it determines a denial.
#[derive(Debug, Clone)]
pub(crate) struct ForbidRule {
    /// The code the caller receives.
    pub code: ErrorCode,
    /// The sentence shown to the caller.
    pub reason: String,
    /// Position in the bundle text, to break ties between equal codes.
    pub order: usize,
}

/// A versioned policy bundle compiled and ready: Cedar policies + per-purpose field rules.
#[derive(Debug, Clone)]
pub struct PolicySet {
    version: String,
    pub(crate) policies: cedar_policy::PolicySet,
    pub(crate) forbids: HashMap<String, ForbidRule>,
    pub(crate) fields: FieldRules,
}

impl PolicySet {
    /// The default bundle shipped in `policies/default/`, version `builtin-1`.
    pub fn builtin() -> PolicySet {
        // The shipped bundle is checked by the tests; were it ever broken, the
        // gateway must still start and refuse everything, not panic.
        PolicySet::parse(BUILTIN_VERSION, BUILTIN_CEDAR, BUILTIN_FIELDS)
            .unwrap_or_else(|_| PolicySet::deny_all(BUILTIN_VERSION))
    }

    /// Checks and compiles a bundle: Cedar policy text and `fields.toml` text.
    pub fn parse(version: &str, cedar: &str, fields_toml: &str) -> Result<PolicySet, PolicyError> {
        let version_ok = !version.trim().is_empty()
            && version.chars().count() <= 64
            && !version.chars().any(char::is_control);
        if !version_ok {
            return Err(PolicyError::Version(version.chars().take(80).collect()));
        }
        if cedar.len() > MAX_CEDAR_BYTES {
            return Err(PolicyError::TooLarge {
                what: "the policy text",
                size: cedar.len(),
                limit: MAX_CEDAR_BYTES,
            });
        }
        if fields_toml.len() > MAX_FIELDS_BYTES {
            return Err(PolicyError::TooLarge {
                what: "fields.toml",
                size: fields_toml.len(),
                limit: MAX_FIELDS_BYTES,
            });
        }

        let mut policies = cedar_policy::PolicySet::new();
        let mut forbids = HashMap::new();
        let mut lines: HashMap<String, usize> = HashMap::new();
        for (order, source) in split_policies(cedar)?.into_iter().enumerate() {
            let line = source.line;
            let policy = Policy::parse(Some(PolicyId::new(format!("line-{line}"))), source.text)
                .map_err(|errors| PolicyError::Syntax {
                    line,
                    message: errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                })?;
            let id = match policy.annotation("id").map(str::trim) {
                Some(id) if !id.is_empty() => id.to_string(),
                _ => return Err(PolicyError::MissingId { line }),
            };
            if id == DEFAULT_DENY_ID || id == ENGINE_ERROR_ID {
                return Err(PolicyError::ReservedId { id, line });
            }
            if let Some(&first_line) = lines.get(&id) {
                return Err(PolicyError::DuplicateId {
                    id,
                    line,
                    first_line,
                });
            }
            if policy.effect() == Effect::Forbid {
                let rule = forbid_rule(&policy, &id, line, order)?;
                forbids.insert(id.clone(), rule);
            }
            policies
                .add(policy.new_id(PolicyId::new(&id)))
                .map_err(|e| PolicyError::Syntax {
                    line,
                    message: e.to_string(),
                })?;
            lines.insert(id, line);
        }
        validate(&policies, &lines)?;

        Ok(PolicySet {
            version: version.to_string(),
            policies,
            forbids,
            fields: FieldRules::parse(fields_toml)?,
        })
    }

    /// The bundle's version label, recorded with every decision.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A bundle with no policies: every call falls to the default denial.
    fn deny_all(version: &str) -> PolicySet {
        PolicySet {
            version: format!("{version}-deny-all"),
            policies: cedar_policy::PolicySet::new(),
            forbids: HashMap::new(),
            fields: FieldRules::default(),
        }
    }
}

/// Reads the `@code` and `@reason` of a forbid policy.
fn forbid_rule(
    policy: &Policy,
    id: &str,
    line: usize,
    order: usize,
) -> Result<ForbidRule, PolicyError> {
    let Some(written) = policy.annotation("code").map(str::trim) else {
        return Err(PolicyError::MissingCode {
            id: id.to_string(),
            line,
        });
    };
    let Some(code) = ErrorCode::ALL.into_iter().find(|c| c.as_str() == written) else {
        return Err(PolicyError::UnknownCode {
            id: id.to_string(),
            line,
            code: written.to_string(),
        });
    };
    let reason = match policy.annotation("reason").map(str::trim) {
        Some(reason) if !reason.is_empty() => reason.to_string(),
        _ => code.title().to_string(),
    };
    Ok(ForbidRule {
        code,
        reason,
        order,
    })
}

/// Type-checks every policy against the request model the engine provides.
fn validate(
    policies: &cedar_policy::PolicySet,
    lines: &HashMap<String, usize>,
) -> Result<(), PolicyError> {
    let (schema, _warnings) =
        Schema::from_cedarschema_str(SCHEMA).map_err(|e| PolicyError::Schema(e.to_string()))?;
    let result = Validator::new(schema).validate(policies, ValidationMode::Strict);
    let mut problems: Vec<(usize, String, String)> = result
        .validation_errors()
        .map(|e| {
            let id = e.policy_id().to_string();
            (
                lines.get(&id).copied().unwrap_or_default(),
                id,
                e.to_string(),
            )
        })
        .collect();
    problems.sort();
    let count = problems.len();
    match problems.into_iter().next() {
        None => Ok(()),
        Some((line, id, message)) => Err(PolicyError::Invalid {
            id,
            line,
            message: if count > 1 {
                format!("{message} (and {} more problems in the bundle)", count - 1)
            } else {
                message
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERMIT: &str = "@id(\"open\")\npermit (principal, action, resource);\n";

    fn refuse(cedar: &str) -> PolicyError {
        match PolicySet::parse("test-1", cedar, "") {
            Ok(_) => panic!("accepted: {cedar}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_builtin_bundle_loads() {
        let parsed = PolicySet::parse(BUILTIN_VERSION, BUILTIN_CEDAR, BUILTIN_FIELDS);
        assert!(parsed.is_ok(), "{:?}", parsed.err());
        let set = PolicySet::builtin();
        assert_eq!(set.version(), "builtin-1");
        assert_eq!(set.forbids.len(), 6);
        assert_eq!(set.policies.policies().count(), 8);
        assert_eq!(
            set.forbids.get("officer-required").map(|r| r.code),
            Some(ErrorCode::PurposeRequired)
        );
    }

    #[test]
    fn refuses_a_forbid_without_a_valid_code() {
        let missing = refuse(&format!(
            "{PERMIT}\n@id(\"no-code\")\nforbid (principal, action, resource);"
        ));
        assert_eq!(
            missing,
            PolicyError::MissingCode {
                id: "no-code".into(),
                line: 4
            }
        );
        assert!(missing.to_string().contains("no-code"));

        let unknown = refuse("@id(\"bad\") @code(\"NOPE\") forbid (principal, action, resource);");
        assert!(matches!(&unknown, PolicyError::UnknownCode { code, .. } if code == "NOPE"));
        assert!(
            unknown.to_string().contains("PURPOSE_NOT_ALLOWED"),
            "{unknown}"
        );

        let lower = refuse(
            "@id(\"bad\") @code(\"purpose_required\") forbid (principal, action, resource);",
        );
        assert!(matches!(lower, PolicyError::UnknownCode { .. }));
    }

    #[test]
    fn refuses_missing_duplicate_and_reserved_ids() {
        assert_eq!(
            refuse("\n\npermit (principal, action, resource);"),
            PolicyError::MissingId { line: 3 }
        );
        assert_eq!(
            refuse("@id(\"  \") permit (principal, action, resource);"),
            PolicyError::MissingId { line: 1 }
        );
        assert_eq!(
            refuse(&format!("{PERMIT}{PERMIT}")),
            PolicyError::DuplicateId {
                id: "open".into(),
                line: 3,
                first_line: 1
            }
        );
        assert!(matches!(
            refuse("@id(\"default-deny\") permit (principal, action, resource);"),
            PolicyError::ReservedId { .. }
        ));
    }

    #[test]
    fn refuses_cedar_syntax_errors_with_the_parser_message_and_line() {
        let error = refuse(&format!(
            "{PERMIT}\n@id(\"broken\")\npermit (principal, action, resource) when {{ context.approved && }};"
        ));
        match &error {
            PolicyError::Syntax { line, message } => {
                assert_eq!(*line, 4);
                assert!(!message.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(
            error.to_string().starts_with("policy at line 4: "),
            "{error}"
        );
        assert!(matches!(
            refuse("@id(\"t\") permit (principal == ?principal, action, resource);"),
            PolicyError::Syntax { .. }
        ));
        assert!(matches!(
            refuse("@id(\"t\") permit (principal, action, resource)"),
            PolicyError::Syntax { .. }
        ));
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        let inputs = [
            "\u{0}\u{1}\u{2}",
            "}}}}{{{{;;;;",
            "@@@@@@",
            "permit",
            "\"unterminated",
            "@id(\"x\") forbid (principal, action, resource) when { 1 + };",
            "permit (principal, action, resource) unless { ((((((((((( };",
            "💥; 🚀; \u{feff}",
            "@id(\"x\") @code(\"SUBSCRIPTION_REQUIRED\") forbid (principal, action == Action::\"delete\", resource);",
        ];
        for input in inputs {
            assert!(
                PolicySet::parse("g", input, "").is_err(),
                "accepted {input:?}"
            );
        }
        let nested = format!(
            "@id(\"deep\") permit (principal, action, resource) when {{ {}true{} }};",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(matches!(refuse(&nested), PolicyError::TooComplex { .. }));
        let huge = "x".repeat(MAX_CEDAR_BYTES + 1);
        assert!(matches!(refuse(&huge), PolicyError::TooLarge { .. }));
        for version in ["", "  ", "a\nb", &"v".repeat(65)] {
            assert!(matches!(
                PolicySet::parse(version, PERMIT, ""),
                Err(PolicyError::Version(_))
            ));
        }
    }

    #[test]
    fn the_deepest_accepted_policy_still_loads() {
        let inner = format!(
            "{}context.approved{}",
            "if true then ".repeat(30),
            " else false".repeat(30)
        );
        let deep = format!(
            "@id(\"deep\") permit (principal, action, resource) when {{ {}{inner}{} }};",
            "(".repeat(30),
            ")".repeat(30)
        );
        assert!(PolicySet::parse("deep", &deep, "").is_ok());
    }

    #[test]
    fn refuses_policies_that_do_not_fit_the_request_model() {
        let error = refuse(&format!(
            "{PERMIT}\n@id(\"typo\") @code(\"SECURITY_LEVEL_INSUFFICIENT\")\nforbid (principal, action, resource) when {{ principal.levle < resource.level }};"
        ));
        match &error {
            PolicyError::Invalid { id, line, .. } => {
                assert_eq!(id, "typo");
                assert_eq!(*line, 4);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            refuse(
                "@id(\"t\") permit (principal, action, resource) when { context.purpose_allowed == 3 };"
            ),
            PolicyError::Invalid { .. }
        ));
        assert!(matches!(
            refuse("@id(\"t\") permit (principal == User::\"x\", action, resource);"),
            PolicyError::Invalid { .. }
        ));
    }

    #[test]
    fn reports_field_rule_errors() {
        assert!(matches!(
            PolicySet::parse("f", PERMIT, "[population]\n\"*\" = [1]\n"),
            Err(PolicyError::FieldsShape { line: 2, .. })
        ));
    }
}
