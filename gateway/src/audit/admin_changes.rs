//! The admin-change log (issue 4, item 6): every change made through the
//! admin plane or `lgsp apply`, with who made it, what it changed, the
//! definition before and after, and when, kept in one hash chain of its own.
//!
//! An entry is written by the store in the same transaction as the change it
//! describes (see `Store::apply`), so a committed change always has its entry
//! and an entry always its change. The chain is the whole registry's, not a
//! node's: every writer first locks the `registry_meta` row, then reads the
//! head, so concurrent writers take turns instead of forking it.
//!
//! The canonical encoding is built like the audit record's
//! ([`super::record`]): the compact serde_json serialization of every column
//! except `hash`, in the schema's column order, `null` for NULL; `hash` is
//! the lowercase hex SHA-256 of it and the first entry's `prev_hash` is
//! [`GENESIS_HASH`]. `before` and `after` are hashed as the text the columns
//! hold, so verification needs no JSON normalisation.
//!
//! Secrets never enter the log: [`redact`] replaces `secret_hash`, `key_hash`
//! and `password_hash` with `"***"` wherever they appear in a definition.
//! Definitions are written with their object keys sorted, so one definition
//! always reads the same in the log, whichever order it was built in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::verify::{ChainReport, ChainWalk, Chained};
use super::{AuditError, hex};
use crate::store::Store;

/// The name under which [`super::verify_store`] reports the admin-change chain.
pub const ADMIN_CHANGES_CHAIN: &str = "admin-changes";

/// What a redacted secret reads as in `before` and `after`.
pub const REDACTED: &str = "***";

/// The fields whose values are secrets (hashes an attacker could brute-force
/// or replay), redacted wherever they appear in a definition.
pub const SECRET_FIELDS: [&str; 3] = ["secret_hash", "key_hash", "password_hash"];

/// The field added to `after` when a secret changed, since both sides of a
/// redacted secret read the same.
pub const SECRET_CHANGED: &str = "secret_changed";

/// Entries read from the store per query while verifying.
const VERIFY_PAGE: i64 = 1000;

/// What a change did, as the `action` column names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    /// A registry entity that did not exist was written.
    Create,
    /// A stored registry entity was replaced by a different definition.
    Update,
    /// A stored policy bundle was made the one in force.
    Activate,
    /// A credential was revoked.
    Revoke,
    /// A subscription moved to another approval state.
    SetState,
    /// An admin-plane account was created.
    CreateAccount,
    /// An admin-plane account was disabled.
    DisableAccount,
    /// A disabled admin-plane account was enabled again.
    EnableAccount,
    /// A node's maintenance mode was switched on or off, or its reason changed.
    SetMaintenance,
}

impl AdminAction {
    /// The `action` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::Create => "create",
            AdminAction::Update => "update",
            AdminAction::Activate => "activate",
            AdminAction::Revoke => "revoke",
            AdminAction::SetState => "set_state",
            AdminAction::CreateAccount => "create_account",
            AdminAction::DisableAccount => "disable_account",
            AdminAction::EnableAccount => "enable_account",
            AdminAction::SetMaintenance => "set_maintenance",
        }
    }
}

/// A change about to be logged: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAdminChange {
    /// Unix milliseconds.
    pub changed_at: i64,
    /// Who made it, e.g. `cli:root` or `admin:quantri`.
    pub actor: String,
    /// What it did.
    pub action: AdminAction,
    /// What it changed, e.g. `service population/v1` or `account thanhtra`.
    pub entity: String,
    /// The definition before, redacted; `None` for a creation.
    pub before: Option<String>,
    /// The definition after, redacted.
    pub after: Option<String>,
}

impl NewAdminChange {
    /// A change of `entity` from `before` to `after` (definitions in clear):
    /// both are redacted and key-sorted here, and `after` gains
    /// `"secret_changed": true` when a secret differs between them, which the
    /// redaction would hide.
    pub fn new(
        changed_at: i64,
        actor: &str,
        action: AdminAction,
        entity: String,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> NewAdminChange {
        let secret_changed = match (before, after) {
            (Some(before), Some(after)) => secrets_of(before) != secrets_of(after),
            _ => false,
        };
        let before = before.map(|before| sorted(redacted(before)));
        let after = after.map(|after| {
            let mut after = redacted(after);
            if secret_changed && let Value::Object(fields) = &mut after {
                fields.insert(SECRET_CHANGED.to_string(), Value::Bool(true));
            }
            sorted(after)
        });
        NewAdminChange {
            changed_at,
            actor: actor.to_string(),
            action,
            entity,
            // Value's Display is its compact JSON and cannot fail.
            before: before.map(|value| value.to_string()),
            after: after.map(|value| value.to_string()),
        }
    }
}

/// A copy of `value` with every secret field's value replaced by [`REDACTED`].
pub fn redacted(value: &Value) -> Value {
    let mut copy = value.clone();
    redact(&mut copy);
    copy
}

/// Replaces the value of every [`SECRET_FIELDS`] field, at any depth, with [`REDACTED`].
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if SECRET_FIELDS.contains(&name.as_str()) {
                    *field = Value::String(REDACTED.to_string());
                } else {
                    redact(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

/// `value` with the keys of every object in sorted order. serde_json keeps
/// insertion order when a dependency enables its `preserve_order` feature,
/// so the order is imposed here rather than left to how the build turned out.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut entries: Vec<(String, Value)> = fields.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(name, field)| (name, sorted(field)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Every secret field of `value` with its path, in a stable order, so two
/// definitions can be compared on their secrets alone.
fn secrets_of(value: &Value) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    collect_secrets(value, String::new(), &mut found);
    found
}

/// Appends the secret fields found below `path` to `found`.
fn collect_secrets(value: &Value, path: String, found: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let inner = format!("{path}/{name}");
                if SECRET_FIELDS.contains(&name.as_str()) {
                    found.push((inner, field.clone()));
                } else {
                    collect_secrets(field, inner, found);
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_secrets(item, format!("{path}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// An account as the log shows it: everything but the password hash, which
/// is left out entirely rather than redacted.
pub fn account_definition(
    username: &str,
    role: &str,
    agency: Option<&str>,
    disabled: bool,
    created_at: i64,
) -> Value {
    let mut fields = Map::new();
    fields.insert("username".into(), Value::String(username.to_string()));
    fields.insert("role".into(), Value::String(role.to_string()));
    fields.insert(
        "agency".into(),
        agency.map_or(Value::Null, |agency| Value::String(agency.to_string())),
    );
    fields.insert("disabled".into(), Value::Bool(disabled));
    fields.insert("created_at".into(), Value::from(created_at));
    Value::Object(fields)
}

/// An entry as stored and verified: every column of `admin_changes`, in
/// schema order. `action` stays text, so that a value tampered into
/// something no [`AdminAction`] names is still read, hashed and reported as
/// an edited entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AdminChange {
    /// 1, 2, 3… contiguous: one chain for the whole registry.
    pub seq: i64,
    /// Unix milliseconds.
    pub changed_at: i64,
    /// Who made the change, e.g. `cli:root` or `admin:quantri`.
    pub actor: String,
    /// `create`, `update`, `activate`, `revoke`, `set_state`, `create_account`, …
    pub action: String,
    /// What was changed, e.g. `service population/v1`.
    pub entity: String,
    /// JSON definition before, secrets redacted; `None` for a creation.
    pub before: Option<String>,
    /// JSON definition after, secrets redacted.
    pub after: Option<String>,
    /// The previous entry's hash; 64 zeros for seq 1.
    pub prev_hash: String,
    /// Hex SHA-256 of the canonical encoding.
    pub hash: String,
}

/// The canonical encoding's fields: the columns minus `hash`, in schema
/// order, in a struct of its own so that reordering [`AdminChange`]'s
/// fields can never change what is hashed.
#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    changed_at: i64,
    actor: &'a str,
    action: &'a str,
    entity: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
    prev_hash: &'a str,
}

impl AdminChange {
    /// The canonical encoding that `hash` covers.
    pub fn canonical(&self) -> Vec<u8> {
        let canonical = Canonical {
            seq: self.seq,
            changed_at: self.changed_at,
            actor: &self.actor,
            action: &self.action,
            entity: &self.entity,
            before: self.before.as_deref(),
            after: self.after.as_deref(),
            prev_hash: &self.prev_hash,
        };
        // Serializing strings and integers into a Vec cannot fail; an empty
        // encoding would only ever produce a hash no entry carries.
        serde_json::to_vec(&canonical).unwrap_or_default()
    }

    /// Lowercase hex SHA-256 of [`AdminChange::canonical`]: what `hash` must hold.
    pub fn compute_hash(&self) -> String {
        hex(&Sha256::digest(self.canonical()))
    }

    /// Gives a new change its place in the chain and seals it with its hash.
    pub fn seal(change: NewAdminChange, seq: i64, prev_hash: String) -> AdminChange {
        let mut sealed = AdminChange {
            seq,
            changed_at: change.changed_at,
            actor: change.actor,
            action: change.action.as_str().to_string(),
            entity: change.entity,
            before: change.before,
            after: change.after,
            prev_hash,
            hash: String::new(),
        };
        sealed.hash = sealed.compute_hash();
        sealed
    }
}

impl Chained for AdminChange {
    fn seq(&self) -> i64 {
        self.seq
    }

    /// Entries have no id of their own; the seq names them.
    fn id(&self) -> String {
        format!("admin-change-{}", self.seq)
    }

    fn prev_hash(&self) -> &str {
        &self.prev_hash
    }

    fn hash(&self) -> &str {
        &self.hash
    }

    fn compute_hash(&self) -> String {
        AdminChange::compute_hash(self)
    }
}

/// Walks the admin-change chain in the store by seq, with the same rules and
/// break kinds as the audit chains: each hash recomputed, each `prev_hash`
/// the previous entry's, seqs contiguous from 1.
///
/// The chain has no signed checkpoints, so entries cut from its tail (or the
/// whole log emptied) leave nothing to detect; everything before the head is
/// covered.
pub async fn verify_admin_changes(store: &Store) -> Result<ChainReport, AuditError> {
    let mut walk = ChainWalk::new(ADMIN_CHANGES_CHAIN, None);
    let mut after = 0;
    loop {
        let page = store.admin_changes(after, VERIFY_PAGE).await?;
        for change in &page {
            walk.record(change);
        }
        match page.last() {
            Some(last) if i64::try_from(page.len()).unwrap_or(i64::MAX) >= VERIFY_PAGE => {
                after = last.seq;
            }
            _ => break,
        }
    }
    Ok(walk.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::GENESIS_HASH;
    use crate::audit::verify::BreakKind;
    use serde_json::json;

    /// An update of a credential whose key hash changed, the same on every call.
    fn sample() -> AdminChange {
        let new = NewAdminChange::new(
            1_720_000_000_000,
            "admin:quản-trị \"1\"",
            AdminAction::Update,
            "credential sys-a-key".into(),
            Some(&json!({"id":"sys-a-key","system":"sys-a","kind":"api_key","key_hash":"aa"})),
            Some(&json!({"id":"sys-a-key","system":"sys-a","kind":"api_key","key_hash":"bb"})),
        );
        AdminChange::seal(new, 1, GENESIS_HASH.into())
    }

    #[test]
    fn canonical_encoding_is_pinned() {
        let change = sample();
        let golden = concat!(
            r#"{"seq":1,"changed_at":1720000000000,"actor":"admin:quản-trị \"1\"","#,
            r#""action":"update","entity":"credential sys-a-key","#,
            r#""before":"{\"id\":\"sys-a-key\",\"key_hash\":\"***\",\"kind\":\"api_key\",\"system\":\"sys-a\"}","#,
            r#""after":"{\"id\":\"sys-a-key\",\"key_hash\":\"***\",\"kind\":\"api_key\",\"secret_changed\":true,\"system\":\"sys-a\"}","#,
            r#""prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
        );
        assert_eq!(
            String::from_utf8(change.canonical()).expect("utf-8"),
            golden
        );
        assert_eq!(change.hash, hex(&Sha256::digest(golden.as_bytes())));
        assert_eq!(change.hash, GOLDEN_HASH);
    }

    /// SHA-256 of the golden encoding, cross-checked with `sha256sum`.
    const GOLDEN_HASH: &str = "355e270811f64fc2f225fa315102eaee8834e0304d743058ecbadf8b2bcc9fc8";

    #[test]
    fn definitions_are_written_with_sorted_keys() {
        let mut fields = Map::new();
        for name in ["z", "a", "m"] {
            fields.insert(name.into(), json!([{ "y": 1, "b": 2 }]));
        }
        let new = NewAdminChange::new(
            0,
            "a",
            AdminAction::Create,
            "e".into(),
            None,
            Some(&Value::Object(fields)),
        );
        assert_eq!(
            new.after.as_deref(),
            Some(r#"{"a":[{"b":2,"y":1}],"m":[{"b":2,"y":1}],"z":[{"b":2,"y":1}]}"#)
        );
    }

    #[test]
    fn null_columns_are_encoded_as_null() {
        let new = NewAdminChange::new(
            5,
            "cli:root",
            AdminAction::Create,
            "agency 000.00.00.H29".into(),
            None,
            Some(&json!({"code":"000.00.00.H29"})),
        );
        let change = AdminChange::seal(new, 2, "ab".repeat(32));
        let text = String::from_utf8(change.canonical()).expect("utf-8");
        assert!(text.contains(r#""before":null,"after":"{\"code\":\"000.00.00.H29\"}""#));
        assert_eq!(change.hash, change.compute_hash());
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = sample();
        type Edit = fn(&mut AdminChange);
        let edits: &[(&str, Edit)] = &[
            ("seq", |c| c.seq += 1),
            ("changed_at", |c| c.changed_at += 1),
            ("actor", |c| c.actor.push('x')),
            ("action", |c| c.action = "create".into()),
            ("entity", |c| c.entity.push('x')),
            ("before", |c| c.before = None),
            ("after", |c| c.after = Some("{}".into())),
            ("prev_hash", |c| c.prev_hash = "1".repeat(64)),
        ];
        // Every column but `hash` is covered, so a new column cannot slip in unhashed.
        let columns = serde_json::to_value(&base).expect("json");
        assert_eq!(columns.as_object().map(|o| o.len()), Some(edits.len() + 1));
        for (field, edit) in edits {
            let mut edited = base.clone();
            edit(&mut edited);
            assert_ne!(edited.compute_hash(), base.hash, "{field} is not covered");
        }
        let mut hash_only = base.clone();
        hash_only.hash = "f".repeat(64);
        assert_eq!(hash_only.compute_hash(), base.hash, "hash covers itself");
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let secret = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
        let definition = json!({
            "id": "c", "kind": "client_secret", "client_id": "pub", "secret_hash": secret,
            "nested": [{"key_hash": "k"}, {"password_hash": secret}],
        });
        let new = NewAdminChange::new(
            0,
            "a",
            AdminAction::Update,
            "e".into(),
            Some(&definition),
            Some(&definition),
        );
        for text in [new.before.as_deref(), new.after.as_deref()] {
            let text = text.expect("both sides");
            assert!(!text.contains(secret), "{text}");
            assert!(!text.contains("\"k\""), "{text}");
            assert!(text.contains("\"client_id\":\"pub\""), "{text}");
        }
        assert!(
            !new.after
                .as_deref()
                .unwrap_or_default()
                .contains(SECRET_CHANGED),
            "an unchanged secret is not flagged"
        );
        let created = NewAdminChange::new(
            0,
            "a",
            AdminAction::Create,
            "e".into(),
            None,
            Some(&definition),
        );
        let after = created.after.expect("after");
        assert!(!after.contains(secret) && !after.contains(SECRET_CHANGED));
    }

    #[test]
    fn actions_match_serde() {
        for action in [
            AdminAction::Create,
            AdminAction::Update,
            AdminAction::Activate,
            AdminAction::Revoke,
            AdminAction::SetState,
            AdminAction::CreateAccount,
            AdminAction::DisableAccount,
            AdminAction::EnableAccount,
            AdminAction::SetMaintenance,
        ] {
            let serde = serde_json::to_value(action).expect("action serializes");
            assert_eq!(serde, Value::String(action.as_str().to_string()));
        }
    }

    #[test]
    fn the_walk_names_an_edited_entry() {
        let first = sample();
        let second = AdminChange::seal(
            NewAdminChange::new(9, "cli:root", AdminAction::Revoke, "x".into(), None, None),
            2,
            first.hash.clone(),
        );
        let mut walk = ChainWalk::new(ADMIN_CHANGES_CHAIN, None);
        let mut edited = second.clone();
        edited.actor = "cli:mallory".into();
        walk.record(&first);
        walk.record(&edited);
        let report = walk.finish();
        let found = report.first_break.expect("a break");
        assert_eq!(
            (found.kind, found.seq, found.record_id.as_deref()),
            (BreakKind::EditedRecord, 2, Some("admin-change-2"))
        );
    }
}
