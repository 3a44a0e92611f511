//! Identifiers that cross the wire, validated on input (DESIGN.md, "Identifiers").

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an identifier was refused; the message is safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// A personal ID that is not 12 digits with a known province code.
    #[error("personal ID must be 12 digits starting with a valid 3-digit province code")]
    PersonalId,
    /// An agency code that is not of the form `000.00.00.H29`.
    #[error(
        "agency code must look like 000.00.00.H29 (three dot-separated digit groups and a letter with two digits)"
    )]
    AgencyCode,
    /// An enterprise code that is not 10 digits, optionally with a 3-digit branch suffix.
    #[error("enterprise code must be 10 digits, optionally followed by -NNN for a branch")]
    EnterpriseCode,
    /// A slug with characters other than lowercase letters, digits, `-` and `_`.
    #[error("slug must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter")]
    Slug,
}

/// Province codes that open a 12-digit personal ID (the 63 codes of Circular 07/2016/TT-BCA).
const PROVINCE_CODES: [&str; 63] = [
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020",
    "022", "024", "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038",
    "040", "042", "044", "045", "046", "048", "049", "051", "052", "054", "056", "058", "060",
    "062", "064", "066", "067", "068", "070", "072", "074", "075", "077", "079", "080", "082",
    "083", "084", "086", "087", "089", "091", "092", "093", "094", "095", "096",
];

/// A 12-digit personal identification number (số định danh cá nhân).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonalId(String);

impl PersonalId {
    /// Parses and validates a personal ID.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let ok = s.len() == 12
            && s.bytes().all(|b| b.is_ascii_digit())
            && PROVINCE_CODES.contains(&&s[..3]);
        if ok {
            Ok(PersonalId(s.to_string()))
        } else {
            Err(IdentifierError::PersonalId)
        }
    }

    /// The known province codes, for generators of synthetic data.
    pub fn province_codes() -> &'static [&'static str] {
        &PROVINCE_CODES
    }

    /// The ID as digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Personal IDs never print in clear: logs and debug output show a masked form.
impl fmt::Debug for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalId({}*********)", &self.0[..3])
    }
}

impl TryFrom<String> for PersonalId {
    type Error = IdentifierError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PersonalId::parse(&s)
    }
}

impl From<PersonalId> for String {
    fn from(id: PersonalId) -> String {
        id.0
    }
}

/// A Vietnamese agency electronic identifier code (mã định danh điện tử), e.g. `000.00.00.H29`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyCode(String);

impl AgencyCode {
    /// Parses and validates an agency code.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let parts: Vec<&str> = s.split('.').collect();
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        let ok = parts.len() == 4
            && digits(parts[0], 3)
            && digits(parts[1], 2)
            && digits(parts[2], 2)
            && parts[3].len() == 3
            && parts[3].as_bytes()[0].is_ascii_uppercase()
            && digits(&parts[3][1..], 2);
        if ok {
            Ok(AgencyCode(s.to_string()))
        } else {
            Err(IdentifierError::AgencyCode)
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AgencyCode {
    type Error = IdentifierError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AgencyCode::parse(&s)
    }
}

impl From<AgencyCode> for String {
    fn from(c: AgencyCode) -> String {
        c.0
    }
}

/// An enterprise code (mã số doanh nghiệp): 10 digits, or 10 digits and `-NNN` for a branch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnterpriseCode(String);

impl EnterpriseCode {
    /// Parses and validates an enterprise code.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        let ok = match s.split_once('-') {
            None => digits(s, 10),
            Some((head, branch)) => digits(head, 10) && digits(branch, 3),
        };
        if ok {
            Ok(EnterpriseCode(s.to_string()))
        } else {
            Err(IdentifierError::EnterpriseCode)
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnterpriseCode {
    type Error = IdentifierError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        EnterpriseCode::parse(&s)
    }
}

impl From<EnterpriseCode> for String {
    fn from(c: EnterpriseCode) -> String {
        c.0
    }
}

/// A stable slug naming a system or a service in paths and configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Parses and validates a slug.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Slug(s.to_string()))
        } else {
            Err(IdentifierError::Slug)
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Slug {
    type Error = IdentifierError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Slug::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> String {
        s.0
    }
}

/// Validates a path parameter whose name is a known identifier in the contracts.
///
/// Operations name their parameters after the canonical field (`soDinhDanh`,
/// `maDoanhNghiep`), so the gateway can refuse a malformed identifier before
/// any upstream call. Unknown names are not validated.
pub fn validate_named(name: &str, value: &str) -> Result<(), IdentifierError> {
    match name {
        "soDinhDanh" | "soCccd" => PersonalId::parse(value).map(drop),
        "maDoanhNghiep" => EnterpriseCode::parse(value).map(drop),
        "maCoQuan" | "maDinhDanhCoQuan" => AgencyCode::parse(value).map(drop),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_ids() {
        assert!(PersonalId::parse("001203004567").is_ok());
        assert!(PersonalId::parse("087099123456").is_ok());
        assert_eq!(
            PersonalId::parse("003203004567"),
            Err(IdentifierError::PersonalId),
            "003 is no province"
        );
        assert!(PersonalId::parse("00120300456").is_err(), "11 digits");
        assert!(PersonalId::parse("0012030045678").is_err(), "13 digits");
        assert!(PersonalId::parse("00120300456a").is_err());
        assert!(PersonalId::parse("").is_err());
        assert!(
            PersonalId::parse("０01203004567").is_err(),
            "full-width digit"
        );
    }

    #[test]
    fn personal_id_debug_is_masked() {
        let id = PersonalId::parse("001203004567").expect("valid");
        let shown = format!("{id:?}");
        assert!(!shown.contains("203004567"), "{shown}");
    }

    #[test]
    fn agency_codes() {
        assert!(AgencyCode::parse("000.00.00.H29").is_ok());
        assert!(AgencyCode::parse("000.00.00.G10").is_ok());
        assert!(AgencyCode::parse("H29").is_err());
        assert!(AgencyCode::parse("000.00.00.h29").is_err());
        assert!(AgencyCode::parse("000.00.00.H2").is_err());
        assert!(AgencyCode::parse("00.000.00.H29").is_err());
        assert!(AgencyCode::parse("000.00.00.H29.1").is_err());
        assert!(AgencyCode::parse("000.00.00.Ê29").is_err());
    }

    #[test]
    fn enterprise_codes() {
        assert!(EnterpriseCode::parse("0312345678").is_ok());
        assert!(EnterpriseCode::parse("0312345678-001").is_ok());
        assert!(EnterpriseCode::parse("031234567").is_err());
        assert!(EnterpriseCode::parse("0312345678-01").is_err());
    }

    #[test]
    fn slugs() {
        assert!(Slug::parse("population").is_ok());
        assert!(Slug::parse("civil-status_2").is_ok());
        assert!(Slug::parse("Population").is_err());
        assert!(Slug::parse("1abc").is_err());
        assert!(Slug::parse("a/b").is_err());
        assert!(Slug::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn named_validation() {
        assert!(validate_named("soDinhDanh", "12").is_err());
        assert!(validate_named("soDinhDanh", "001203004567").is_ok());
        assert!(validate_named("maDoanhNghiep", "x").is_err());
        assert!(validate_named("anything", "x").is_ok());
    }
}
