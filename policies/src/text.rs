//! Cuts Cedar policy text into one slice per policy, each with the line it
//! starts on, before Cedar parses it.
//!
//! Parsing policy by policy is what lets an error name the policy's line, and
//! keeps the order in which the policies were written (the tie-break between
//! forbids of equal precedence). The scan also bounds nesting: Cedar's parser
//! and evaluator recurse, and a policy nested a few hundred levels deep
//! overflows a 2 MiB thread stack, which aborts the whole gateway.

use crate::PolicyError;

/// Deepest bracket nesting (`(`, `[`, `{`, the `when { }` block included) accepted.
pub(crate) const MAX_NESTING: usize = 32;

/// Most `if` expressions accepted in one policy; they nest without brackets.
pub(crate) const MAX_IFS_PER_POLICY: usize = 32;

/// Largest single policy accepted, in bytes.
pub(crate) const MAX_POLICY_BYTES: usize = 32 * 1024;

/// The text of one policy, up to and including its `;`, and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PolicySource<'a> {
    /// The policy text, with the comments that precede it.
    pub text: &'a str,
    /// The 1-based line of the policy's first token.
    pub line: usize,
}

/// Where the scanner is: in policy code, inside a string literal, or in a `//` comment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Code,
    String { escaped: bool },
    Comment,
}

/// Splits `src` at every `;` outside strings and comments, refusing policies
/// that are too large or nested too deeply to parse safely.
pub(crate) fn split_policies(src: &str) -> Result<Vec<PolicySource<'_>>, PolicyError> {
    let mut policies = Vec::new();
    let mut scan = Scan::Code;
    let mut line = 1;
    let mut start = 0;
    // Line of the first token of the policy being read; None while only
    // whitespace and comments were seen, so trailing comments are no policy.
    let mut first_line: Option<usize> = None;
    let mut depth = 0usize;
    let mut ifs = 0usize;
    let mut word_start: Option<usize> = None;
    let mut chars = src.char_indices().peekable();

    while let Some((at, c)) = chars.next() {
        let is_word = c.is_ascii_alphanumeric() || c == '_';
        // Taking the word ends it, whether or not it was an `if`.
        if scan == Scan::Code
            && !is_word
            && let Some(word) = word_start.take()
            && src.get(word..at) == Some("if")
        {
            ifs += 1;
        }
        if let Some(policy_line) = first_line {
            if at - start > MAX_POLICY_BYTES {
                return Err(PolicyError::TooComplex {
                    line: policy_line,
                    problem: format!("the policy is longer than {MAX_POLICY_BYTES} bytes"),
                });
            }
            if ifs > MAX_IFS_PER_POLICY {
                return Err(PolicyError::TooComplex {
                    line,
                    problem: format!(
                        "more than {MAX_IFS_PER_POLICY} `if` expressions in one policy"
                    ),
                });
            }
        }
        match scan {
            Scan::Comment => {
                if c == '\n' {
                    scan = Scan::Code;
                }
            }
            Scan::String { escaped } => {
                scan = match c {
                    _ if escaped => Scan::String { escaped: false },
                    '\\' => Scan::String { escaped: true },
                    '"' => Scan::Code,
                    _ => Scan::String { escaped: false },
                };
            }
            Scan::Code => {
                if c == '/' && chars.peek().map(|&(_, next)| next) == Some('/') {
                    scan = Scan::Comment;
                } else if !c.is_whitespace() {
                    first_line.get_or_insert(line);
                    match c {
                        '"' => scan = Scan::String { escaped: false },
                        '(' | '[' | '{' => {
                            depth += 1;
                            if depth > MAX_NESTING {
                                return Err(PolicyError::TooComplex {
                                    line,
                                    problem: format!(
                                        "brackets nested more than {MAX_NESTING} deep"
                                    ),
                                });
                            }
                        }
                        ')' | ']' | '}' => depth = depth.saturating_sub(1),
                        ';' => {
                            if let Some(policy_line) = first_line.take() {
                                let end = at + c.len_utf8();
                                policies.push(PolicySource {
                                    text: src.get(start..end).unwrap_or_default(),
                                    line: policy_line,
                                });
                                start = end;
                            }
                            depth = 0;
                            ifs = 0;
                        }
                        _ if is_word => {
                            word_start.get_or_insert(at);
                        }
                        _ => {}
                    }
                }
            }
        }
        if c == '\n' {
            line += 1;
        }
    }
    // Text after the last `;` is a policy missing its end; Cedar says so.
    if let Some(policy_line) = first_line {
        policies.push(PolicySource {
            text: src.get(start..).unwrap_or_default(),
            line: policy_line,
        });
    }
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(src: &str) -> Vec<usize> {
        split_policies(src)
            .map(|p| p.iter().map(|p| p.line).collect())
            .unwrap_or_default()
    }

    #[test]
    fn splits_at_semicolons_outside_strings_and_comments() {
        let src = "// a; comment\n@id(\"a;b\")\npermit(principal, action, resource);\n\n\
                   forbid(principal, action, resource) when { context.purpose == \"x\\\";\" };\n// tail;\n";
        let policies = split_policies(src).unwrap_or_default();
        assert_eq!(policies.len(), 2);
        assert_eq!(policies[0].line, 2);
        assert!(policies[0].text.starts_with("// a; comment"));
        assert!(policies[0].text.ends_with("resource);"));
        assert_eq!(policies[1].line, 5);
        assert!(policies[1].text.ends_with("\" };"));
    }

    #[test]
    fn keeps_an_unterminated_tail_for_the_parser() {
        assert_eq!(
            lines("permit(principal, action, resource);\npermit(principal"),
            vec![1, 2]
        );
        assert_eq!(lines("\"never closed; at all"), vec![1]);
        assert_eq!(lines("   \n// only a comment"), Vec::<usize>::new());
    }

    #[test]
    fn refuses_deep_nesting_and_if_chains() {
        let deep = format!(
            "permit(principal, action, resource) when {{ {}true{} }};",
            "(".repeat(40),
            ")".repeat(40)
        );
        assert!(matches!(
            split_policies(&deep),
            Err(PolicyError::TooComplex { line: 1, .. })
        ));
        let ifs = format!(
            "permit(principal, action, resource) when {{ {} true {} }};",
            "if true then ".repeat(40),
            " else false".repeat(40)
        );
        assert!(matches!(
            split_policies(&ifs),
            Err(PolicyError::TooComplex { .. })
        ));
        // `if` inside identifiers and strings is no `if` expression.
        let words = format!(
            "permit(principal, action, resource) when {{ context.purpose == \"{}\" }};",
            "if ".repeat(40)
        );
        assert!(split_policies(&words).is_ok());
        let long = format!(
            "permit(principal, action, resource) when {{ {} }};",
            "true && ".repeat(5000)
        );
        assert!(matches!(
            split_policies(&long),
            Err(PolicyError::TooComplex { .. })
        ));
    }

    #[test]
    fn nesting_resets_per_policy() {
        let one = format!(
            "permit(principal, action, resource) when {{ {}true{} }};\n",
            "(".repeat(30),
            ")".repeat(30)
        );
        assert_eq!(
            split_policies(&one.repeat(3)).map(|p| p.len()).ok(),
            Some(3)
        );
    }
}
