//! The access-policy engine of the LGSP: who may call which service, for
//! which purpose, and which fields of the answer each purpose may see.
//!
//! A [`PolicySet`] is a versioned bundle: Cedar policies (the data classes,
//! security levels and purpose binding of `default/policy.cedar`) and field
//! rules (`default/fields.toml`). A [`PolicyEngine`] decides an
//! [`AccessRequest`] with it, without I/O, and caches the [`Decision`]. The
//! model, the precedence of denials and the bundle format are in `README.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bundle;
mod engine;
mod fields;
mod text;

#[cfg(test)]
mod decision_tests;

pub use bundle::{
    BUILTIN_VERSION, DEFAULT_DENY_ID, ENGINE_ERROR_ID, MAX_CEDAR_BYTES, MAX_FIELDS_BYTES,
    PolicyError, PolicySet,
};
pub use engine::{AccessRequest, Decision, PolicyEngine, SubscriptionView};
pub use fields::FieldFilter;

use serde::{Deserialize, Serialize};

/// How widely a service's data may be shared (Dong Thap framework, 002:4903-4906).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Shared by default.
    #[default]
    Public,
    /// Shared only with an approved subscription.
    Confidential,
    /// Never shared.
    Secret,
}

impl DataClass {
    /// The class as policies see it: `public`, `confidential` or `secret`, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Public => "public",
            DataClass::Confidential => "confidential",
            DataClass::Secret => "secret",
        }
    }
}

/// A certified information-security level (cấp độ an toàn hệ thống thông tin), 1 to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct SecurityLevel(u8);

/// A security level outside 1..=5.
#[derive(Debug, thiserror::Error)]
#[error("security level must be between 1 and 5, got {0}")]
pub struct SecurityLevelError(u8);

impl SecurityLevel {
    /// The lowest level, required of nothing.
    pub const MIN: SecurityLevel = SecurityLevel(1);

    /// Builds a level, refusing values outside 1..=5.
    pub fn new(level: u8) -> Result<Self, SecurityLevelError> {
        if (1..=5).contains(&level) {
            Ok(SecurityLevel(level))
        } else {
            Err(SecurityLevelError(level))
        }
    }

    /// The level as a number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for SecurityLevel {
    fn default() -> Self {
        SecurityLevel::MIN
    }
}

impl TryFrom<u8> for SecurityLevel {
    type Error = SecurityLevelError;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        SecurityLevel::new(v)
    }
}

impl From<SecurityLevel> for u8 {
    fn from(l: SecurityLevel) -> u8 {
        l.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_bounded() {
        assert!(SecurityLevel::new(0).is_err());
        assert!(SecurityLevel::new(6).is_err());
        assert_eq!(SecurityLevel::new(3).map(SecurityLevel::get).ok(), Some(3));
        assert!(SecurityLevel::new(3).ok() > SecurityLevel::new(2).ok());
    }

    #[test]
    fn data_class_names_match_their_serde_form() {
        for class in [
            DataClass::Public,
            DataClass::Confidential,
            DataClass::Secret,
        ] {
            assert_eq!(
                serde_json::to_value(class).ok(),
                Some(serde_json::Value::from(class.as_str()))
            );
        }
    }
}
