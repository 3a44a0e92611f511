//! The declarative XML↔JSON mappings shipped with the contracts: SOAP
//! services under `contracts/soap/`, XML-inside-JSON services under
//! `contracts/xml/`. Each is a TOML file read by the SOAP/XML codec of
//! `lgsp-adapters` (the format is described in `contracts/README.md`); here
//! they are only embedded, so a registry can name a built-in mapping.

/// A mapping file shipped with the contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingFile {
    /// The mapping's name, equal to its `name` key and file stem.
    pub name: &'static str,
    /// Where it lives in the repository.
    pub path: &'static str,
    /// The TOML text.
    pub text: &'static str,
}

/// Every built-in mapping.
pub const BUILTIN: [MappingFile; 5] = [
    MappingFile {
        name: "enterprise-lookup",
        path: "contracts/soap/enterprise-lookup.toml",
        text: include_str!("../soap/enterprise-lookup.toml"),
    },
    MappingFile {
        name: "social-insurance-household",
        path: "contracts/soap/social-insurance-household.toml",
        text: include_str!("../soap/social-insurance-household.toml"),
    },
    MappingFile {
        name: "civil-status-birth",
        path: "contracts/xml/civil-status-birth.toml",
        text: include_str!("../xml/civil-status-birth.toml"),
    },
    MappingFile {
        name: "civil-status-marriage",
        path: "contracts/xml/civil-status-marriage.toml",
        text: include_str!("../xml/civil-status-marriage.toml"),
    },
    MappingFile {
        name: "civil-status-death",
        path: "contracts/xml/civil-status-death.toml",
        text: include_str!("../xml/civil-status-death.toml"),
    },
];

/// The built-in mapping named `name`.
pub fn builtin(name: &str) -> Option<&'static MappingFile> {
    BUILTIN.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_files_and_keys() {
        for mapping in BUILTIN {
            assert!(
                mapping.path.ends_with(&format!("/{}.toml", mapping.name)),
                "{}",
                mapping.path
            );
            assert!(
                mapping
                    .text
                    .contains(&format!("\nname = \"{}\"\n", mapping.name)),
                "{}",
                mapping.name
            );
            assert_eq!(builtin(mapping.name), Some(&mapping));
        }
        assert_eq!(builtin("land"), None);
    }
}
