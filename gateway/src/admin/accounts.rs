//! Accounts of the admin listener: the roles, the stored account, and the
//! creation of a user with a checked name and an argon2id password (what
//! `lgsp admin create-user` calls).
//!
//! Roles (issue 6): a province admin governs the registry, an operator watches
//! and switches maintenance, an auditor reads the audit log and nothing else,
//! and a commune officer sees its own commune's systems. The audit API admits
//! auditors only, not province admins: the people who change the registry must
//! not also be the ones who inspect the evidence of its use.

use std::fmt;
use std::str::FromStr;

use lgsp_contracts::AgencyCode;
use serde::{Deserialize, Serialize};

use super::error::AdminError;
use crate::access::secrets::hash_secret;
use crate::store::Store;

/// Shortest password accepted for an admin account.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, which bounds the argon2 work an attacker can ask for.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest username accepted.
pub const MAX_USERNAME_BYTES: usize = 64;

/// What an admin-plane account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Registers agencies, systems and services, approves subscriptions, publishes.
    ProvinceAdmin,
    /// Watches health and KPIs and switches maintenance mode.
    Operator,
    /// Reads, exports and verifies the audit log; changes nothing.
    Auditor,
    /// Sees its own commune's systems and requests subscriptions for them.
    CommuneOfficer,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [
        Role::ProvinceAdmin,
        Role::Operator,
        Role::Auditor,
        Role::CommuneOfficer,
    ];

    /// The role as stored and as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProvinceAdmin => "province_admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::CommuneOfficer => "commune_officer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use province_admin, operator, auditor or commune_officer")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.chars().take(32).collect()))
    }
}

/// An admin-plane account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The sign-in name.
    pub username: String,
    /// What the account may do.
    pub role: Role,
    /// The commune agency of a commune officer; `None` for the other roles.
    pub agency: Option<String>,
    /// The argon2id PHC string of the password.
    pub password_hash: String,
    /// A disabled account cannot sign in and its sessions are void.
    pub disabled: bool,
    /// When it was created, unix ms.
    pub created_at: i64,
}

/// The password hash stays out of logs and debug output.
impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("agency", &self.agency)
            .field("password_hash", &"<redacted>")
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Checks a new user, hashes the password with argon2id and stores the account.
///
/// A commune officer must name its agency (an agency code such as
/// `000.00.00.H29`); the other roles must not. The password must have at
/// least [`MIN_PASSWORD_CHARS`] characters. The creation is logged in the
/// admin-change log as made by `actor`, e.g. `cli:root`.
pub async fn create_user(
    store: &Store,
    username: &str,
    role: Role,
    agency: Option<&str>,
    password: &str,
    actor: &str,
) -> Result<(), AdminError> {
    check_username(username)?;
    match (role, agency) {
        (Role::CommuneOfficer, Some(code)) => {
            AgencyCode::parse(code).map_err(|e| AdminError::InvalidRequest(e.to_string()))?;
        }
        (Role::CommuneOfficer, None) => {
            return Err(AdminError::InvalidRequest(
                "a commune officer must name its agency".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(AdminError::InvalidRequest(format!(
                "only a commune officer belongs to an agency, not a {role}"
            )));
        }
        (_, None) => {}
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AdminError::InvalidRequest(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AdminError::InvalidRequest(format!(
            "the password must have at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    let password = password.to_string();
    // argon2 is deliberately slow; keep it off the async workers.
    let hash = tokio::task::spawn_blocking(move || hash_secret(&password))
        .await
        .map_err(|e| AdminError::Internal(format!("password hashing task failed: {e}")))?
        .map_err(|e| AdminError::Internal(format!("password hashing failed: {e}")))?;
    store
        .create_account(username, role, agency, &hash, actor)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Invalid { detail, .. } => AdminError::InvalidRequest(detail),
            other => AdminError::Store(other),
        })
}

/// Whether `username` is 1 to 64 characters of a-z, 0-9, `.`, `_`, `-` or `@`,
/// starting with a letter or digit: enough for names and e-mail addresses,
/// and nothing a log line or a header could be confused by.
pub fn check_username(username: &str) -> Result<(), AdminError> {
    let allowed = |b: u8| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'@')
    };
    let ok = !username.is_empty()
        && username.len() <= MAX_USERNAME_BYTES
        && username
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && username.bytes().all(allowed);
    if ok {
        Ok(())
    } else {
        Err(AdminError::InvalidRequest(format!(
            "username must be 1-{MAX_USERNAME_BYTES} characters of a-z, 0-9, '.', '_', '-' or '@', \
             starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_text_and_serde() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(
                serde_json::to_value(role).expect("serialize"),
                serde_json::Value::String(role.as_str().into())
            );
        }
        assert!("admin".parse::<Role>().is_err());
        assert!("Auditor".parse::<Role>().is_err());
    }

    #[test]
    fn usernames_are_checked() {
        for good in ["auditor1", "thanh.tra@soTTTT".to_lowercase().as_str(), "a"] {
            assert!(check_username(good).is_ok(), "{good}");
        }
        for bad in ["", "Auditor", "-x", "a b", "a\nb", &"a".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_password_hash() {
        let account = Account {
            username: "u".into(),
            role: Role::Auditor,
            agency: None,
            password_hash: "$argon2id$secret".into(),
            disabled: false,
            created_at: 0,
        };
        assert!(!format!("{account:?}").contains("argon2id"));
    }
}
