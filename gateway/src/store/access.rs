//! Access-control rows of the registry: the credentials of systems, their
//! subscriptions to services, and the versioned policy bundles with a pointer
//! (`registry_meta.active_policy`) to the one in force.
//!
//! Credentials and subscriptions are stored like the other entities: typed key
//! columns plus the `definition` serde_json wrote. A credential's `kind` and
//! `lookup` (client id, API key hash or certificate fingerprint) are unique
//! together, so one value can never authenticate two systems. Policy bundles
//! are immutable once stored. Messages name credentials by id and never carry
//! a client id, hash or fingerprint.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Row};

use super::admin_changes::ChangeLog;
use super::registry::{
    Declared, Entity, Writing, bump_version, lock_registry, missing_version_row, now_millis,
    parse_failure, serialize_declared, unreadable_definition,
};
use super::{Store, StoreError};
use crate::audit::AdminAction;
use crate::registry::model::{
    Credential, CredentialKind, PolicyBundle, Subscription, SubscriptionState, System,
};

impl Entity for Credential {
    const KIND: &'static str = "credential";
    const SECRET: bool = true;
    const SELECT: &'static str = "SELECT id, definition FROM credentials";

    fn key(&self) -> String {
        self.id.to_string()
    }

    fn row_key(row: &AnyRow) -> Result<String, sqlx::Error> {
        row.try_get("id")
    }

    fn upsert(
        &self,
        definition: String,
        now: i64,
        revision: i64,
    ) -> Query<'static, Any, AnyArguments<'static>> {
        let (kind, lookup) = lookup_of(&self.kind);
        sqlx::query(
            "INSERT INTO credentials (id, system, kind, lookup, revoked, definition, updated_at, revision) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET system = excluded.system, kind = excluded.kind, \
             lookup = excluded.lookup, revoked = excluded.revoked, \
             definition = excluded.definition, updated_at = excluded.updated_at, revision = excluded.revision",
        )
        .bind(self.id.to_string())
        .bind(self.system.to_string())
        .bind(kind.to_string())
        .bind(lookup.to_string())
        .bind(i64::from(self.revoked))
        .bind(definition)
        .bind(now)
        .bind(revision)
    }
}

impl Entity for Subscription {
    const KIND: &'static str = "subscription";
    const SELECT: &'static str = "SELECT system, service, definition FROM subscriptions";

    fn key(&self) -> String {
        format!("{}/{}", self.system, self.service)
    }

    fn row_key(row: &AnyRow) -> Result<String, sqlx::Error> {
        let system: String = row.try_get("system")?;
        let service: String = row.try_get("service")?;
        Ok(format!("{system}/{service}"))
    }

    fn upsert(
        &self,
        definition: String,
        now: i64,
        revision: i64,
    ) -> Query<'static, Any, AnyArguments<'static>> {
        sqlx::query(
            "INSERT INTO subscriptions (system, service, state, definition, updated_at, revision) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (system, service) DO UPDATE SET state = excluded.state, \
             definition = excluded.definition, updated_at = excluded.updated_at, revision = excluded.revision",
        )
        .bind(self.system.to_string())
        .bind(self.service.to_string())
        .bind(self.state.as_str().to_string())
        .bind(definition)
        .bind(now)
        .bind(revision)
    }
}

/// The `kind` column's value (the tag serde writes) and the `lookup` value.
fn lookup_of(kind: &CredentialKind) -> (&'static str, &str) {
    match kind {
        CredentialKind::ClientSecret { client_id, .. } => ("client_secret", client_id),
        CredentialKind::ApiKey { key_hash } => ("api_key", key_hash),
        CredentialKind::Certificate { fingerprint } => ("certificate", fingerprint),
    }
}

/// What the lookup value of a credential kind is called in messages.
fn lookup_label(kind: &str) -> &'static str {
    match kind {
        "client_secret" => "client id",
        "api_key" => "API key hash",
        "certificate" => "certificate fingerprint",
        _ => "lookup value",
    }
}

/// An `Invalid` error about one entity.
fn invalid(what: String, detail: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        what,
        detail: detail.into(),
    }
}

/// Checks what each declared credential, subscription and policy says on its
/// own, before the store is read.
pub(super) fn check_declared(
    credentials: &BTreeMap<String, Declared<'_, Credential>>,
    subscriptions: &BTreeMap<String, Declared<'_, Subscription>>,
    policy: Option<&PolicyBundle>,
) -> Result<(), StoreError> {
    for (id, declared) in credentials {
        let what = || format!("credential {id}");
        let (kind, lookup) = lookup_of(&declared.entity.kind);
        if lookup.trim().is_empty() {
            return Err(invalid(
                what(),
                format!("its {} is empty", lookup_label(kind)),
            ));
        }
        if let CredentialKind::ClientSecret { secret_hash, .. } = &declared.entity.kind
            && secret_hash.trim().is_empty()
        {
            return Err(invalid(what(), "its secret hash is empty"));
        }
    }
    for (key, declared) in subscriptions {
        let what = || format!("subscription {key}");
        let subscription = declared.entity;
        let rate = subscription.plan.rate_per_second;
        if !rate.is_finite() || rate <= 0.0 {
            return Err(invalid(
                what(),
                format!("its plan's rate_per_second must be a finite number above 0, not {rate}"),
            ));
        }
        if let Some(index) = subscription
            .purposes
            .iter()
            .position(|purpose| purpose.trim().is_empty())
        {
            return Err(invalid(
                what(),
                format!("its purpose #{} is empty", index + 1),
            ));
        }
    }
    if let Some(policy) = policy
        && policy.version.trim().is_empty()
    {
        return Err(invalid(
            "policy".to_string(),
            "its version is empty".to_string(),
        ));
    }
    Ok(())
}

/// What the store already holds that declared credentials and subscriptions
/// may refer to or collide with.
pub(super) struct StoredAccess {
    /// Slugs of stored systems.
    pub(super) systems: BTreeSet<String>,
    /// Slugs of stored services, any version.
    pub(super) service_slugs: BTreeSet<String>,
    /// The `(kind, lookup)` of every stored credential, by id.
    pub(super) lookups: BTreeMap<String, (String, String)>,
}

impl StoredAccess {
    /// Reads the credential lookups; `systems` are the keys of the stored
    /// systems and `service_slugs` the stored slugs of every service the
    /// declared subscriptions name, both already read by the caller.
    pub(super) async fn read(
        conn: &mut AnyConnection,
        systems: BTreeSet<String>,
        service_slugs: BTreeSet<String>,
    ) -> Result<StoredAccess, StoreError> {
        let mut lookups = BTreeMap::new();
        for row in sqlx::query("SELECT id, kind, lookup FROM credentials")
            .fetch_all(&mut *conn)
            .await?
        {
            let id: String = row.try_get("id")?;
            let kind: String = row.try_get("kind")?;
            let lookup: String = row.try_get("lookup")?;
            lookups.insert(id, (kind, lookup));
        }
        Ok(StoredAccess {
            systems,
            service_slugs,
            lookups,
        })
    }
}

/// Checks that declared credentials and subscriptions name systems and
/// services that exist in the desired state or the store, and that no lookup
/// value would be held by two credentials once the desired state is written.
pub(super) fn validate_access(
    credentials: &BTreeMap<String, Declared<'_, Credential>>,
    subscriptions: &BTreeMap<String, Declared<'_, Subscription>>,
    systems: &BTreeMap<String, Declared<'_, System>>,
    declared_service_slugs: &BTreeSet<String>,
    stored: &StoredAccess,
) -> Result<(), StoreError> {
    let known_system = |slug: &str| systems.contains_key(slug) || stored.systems.contains(slug);
    let missing = |what: String, role: &str, key: &str| {
        invalid(
            what,
            format!("its {role} {key} is neither in the applied data nor in the store"),
        )
    };

    // Who holds each lookup once the apply is written: stored credentials
    // that are not redeclared keep theirs, declared ones take their new one.
    let mut holders: BTreeMap<(&str, &str), &str> = stored
        .lookups
        .iter()
        .filter(|(id, _)| !credentials.contains_key(id.as_str()))
        .map(|(id, (kind, lookup))| ((kind.as_str(), lookup.as_str()), id.as_str()))
        .collect();
    for (id, declared) in credentials {
        let what = || format!("credential {id}");
        let system = declared.entity.system.as_str();
        if !known_system(system) {
            return Err(missing(what(), "system", system));
        }
        let (kind, lookup) = lookup_of(&declared.entity.kind);
        match holders.entry((kind, lookup)) {
            Entry::Vacant(entry) => {
                entry.insert(id.as_str());
            }
            Entry::Occupied(entry) => {
                return Err(invalid(
                    what(),
                    format!(
                        "its {} is already used by credential {}",
                        lookup_label(kind),
                        entry.get()
                    ),
                ));
            }
        }
    }

    for (key, declared) in subscriptions {
        let what = || format!("subscription {key}");
        let system = declared.entity.system.as_str();
        if !known_system(system) {
            return Err(missing(what(), "system", system));
        }
        let service = declared.entity.service.as_str();
        if !declared_service_slugs.contains(service) && !stored.service_slugs.contains(service) {
            return Err(missing(what(), "service", service));
        }
    }
    Ok(())
}

/// Moves aside the stored lookup of every declared credential whose lookup
/// changes, so that two credentials may exchange values within one apply
/// without tripping the unique index between their upserts. `parked` is no
/// credential kind, and ids are unique, so the parked pairs are too.
pub(super) async fn park_changed_lookups(
    conn: &mut AnyConnection,
    credentials: &BTreeMap<String, Declared<'_, Credential>>,
    stored: &StoredAccess,
) -> Result<(), StoreError> {
    for (id, declared) in credentials {
        let Some((kind, lookup)) = stored.lookups.get(id) else {
            continue;
        };
        if lookup_of(&declared.entity.kind) != (kind.as_str(), lookup.as_str()) {
            sqlx::query("UPDATE credentials SET kind = 'parked', lookup = id WHERE id = $1")
                .bind(id.clone())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// What applying a declared policy bundle does.
pub(super) enum PolicyChange {
    /// The version is new: insert it and make it active.
    Create,
    /// The version is stored as declared but another one is active.
    Activate,
    /// The stored row does not parse: replace it and make it active.
    Repair,
    /// Stored as declared and already active.
    Unchanged,
}

/// Compares a declared bundle with the store, refusing new content under a
/// stored version.
pub(super) async fn plan_policy(
    conn: &mut AnyConnection,
    declared: &Declared<'_, PolicyBundle>,
) -> Result<PolicyChange, StoreError> {
    let version = &declared.entity.version;
    let stored =
        sqlx::query_scalar::<_, String>("SELECT definition FROM policy_bundles WHERE version = $1")
            .bind(version.clone())
            .fetch_optional(&mut *conn)
            .await?;
    let Some(text) = stored else {
        return Ok(PolicyChange::Create);
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(value) if value == declared.value => {
            if read_active_policy(conn).await?.as_deref() == Some(version.as_str()) {
                Ok(PolicyChange::Unchanged)
            } else {
                Ok(PolicyChange::Activate)
            }
        }
        Ok(_) => Err(invalid(
            format!("policy {version}"),
            format!(
                "version {version} is already stored with other content; policy versions are \
                 immutable, so declare the new content under a new version"
            ),
        )),
        Err(_) => Ok(PolicyChange::Repair),
    }
}

/// Writes a planned policy change, lists the bundle in the report and logs
/// it: a new bundle as created, a repaired one as updated, and switching to
/// a stored one as activated, from the version in force before.
pub(super) async fn write_policy(
    conn: &mut AnyConnection,
    declared: &Declared<'_, PolicyBundle>,
    change: PolicyChange,
    writing: &mut Writing<'_>,
) -> Result<(), StoreError> {
    let version = declared.entity.version.clone();
    let label = format!("policy {version}");
    let (action, before, after) = match change {
        PolicyChange::Unchanged => {
            writing.report.unchanged.push(label);
            return Ok(());
        }
        PolicyChange::Create => {
            sqlx::query(
                "INSERT INTO policy_bundles (version, definition, created_at) VALUES ($1, $2, $3)",
            )
            .bind(version.clone())
            .bind(declared.text.clone())
            .bind(writing.now)
            .execute(&mut *conn)
            .await?;
            writing.report.created.push(label.clone());
            (AdminAction::Create, None, declared.value.clone())
        }
        PolicyChange::Repair => {
            sqlx::query("UPDATE policy_bundles SET definition = $1 WHERE version = $2")
                .bind(declared.text.clone())
                .bind(version.clone())
                .execute(&mut *conn)
                .await?;
            writing.report.updated.push(label.clone());
            (
                AdminAction::Update,
                Some(unreadable_definition()),
                declared.value.clone(),
            )
        }
        PolicyChange::Activate => {
            let active = read_active_policy(conn).await?;
            writing.report.updated.push(label.clone());
            (
                AdminAction::Activate,
                Some(json!({ "active_policy": active })),
                json!({ "active_policy": version }),
            )
        }
    };
    sqlx::query("UPDATE registry_meta SET active_policy = $1 WHERE id = 1")
        .bind(version)
        .execute(&mut *conn)
        .await?;
    writing
        .log
        .append(conn, action, label, before.as_ref(), Some(&after))
        .await
}

/// The version named by `registry_meta.active_policy`, if any.
async fn read_active_policy(conn: &mut AnyConnection) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT active_policy FROM registry_meta WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(row.try_get::<Option<String>, _>("active_policy")?),
        None => Err(missing_version_row()),
    }
}

/// The policy bundle in force, if one was applied.
pub(super) async fn load_active_policy(
    conn: &mut AnyConnection,
) -> Result<Option<PolicyBundle>, StoreError> {
    let Some(version) = read_active_policy(conn).await? else {
        return Ok(None);
    };
    let corrupt = |detail: String| StoreError::Corrupt {
        what: format!("policy {version}"),
        detail,
    };
    let text =
        sqlx::query_scalar::<_, String>("SELECT definition FROM policy_bundles WHERE version = $1")
            .bind(version.clone())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| {
                corrupt("it is the active policy but no such bundle is stored".to_string())
            })?;
    let bundle: PolicyBundle = serde_json::from_str(&text)
        .map_err(|error| corrupt(format!("definition does not parse: {error}")))?;
    if bundle.version != version {
        return Err(corrupt(format!(
            "definition describes policy {}",
            bundle.version
        )));
    }
    Ok(Some(bundle))
}

/// Serializes a declared policy bundle for comparing and writing.
pub(super) fn declare_policy(
    bundle: &PolicyBundle,
) -> Result<Declared<'_, PolicyBundle>, StoreError> {
    serialize_declared(bundle, || format!("policy {}", bundle.version))
}

impl Store {
    /// Sets the state of a stored subscription; false when there is none.
    ///
    /// The registry version is bumped when the state changes, and the change
    /// is logged as `set_state` by `actor` in the same transaction.
    pub async fn set_subscription_state(
        &self,
        system: &str,
        service: &str,
        state: SubscriptionState,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let what = format!("subscription {system}/{service}");
        let mut tx = self.pool.begin().await?;
        lock_registry(&mut tx).await?;
        let stored = sqlx::query_scalar::<_, String>(
            "SELECT definition FROM subscriptions WHERE system = $1 AND service = $2",
        )
        .bind(system.to_string())
        .bind(service.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(text) = stored else {
            tx.rollback().await?;
            return Ok(false);
        };
        let mut subscription: Subscription = parse_stored(&what, &text)?;
        if subscription.system.as_str() != system || subscription.service.as_str() != service {
            return Err(StoreError::Corrupt {
                what,
                detail: format!("definition describes subscription {}", subscription.key()),
            });
        }
        if subscription.state == state {
            tx.rollback().await?;
            return Ok(true);
        }
        let before = value_of(&what, &subscription)?;
        subscription.state = state;
        let after = value_of(&what, &subscription)?;
        let definition = serialize_stored(&what, &subscription)?;
        let now = now_millis();
        sqlx::query(
            "UPDATE subscriptions SET state = $1, definition = $2, updated_at = $3, \
             revision = (SELECT version + 1 FROM registry_meta WHERE id = 1) \
             WHERE system = $4 AND service = $5",
        )
        .bind(state.as_str().to_string())
        .bind(definition)
        .bind(now)
        .bind(system.to_string())
        .bind(service.to_string())
        .execute(&mut *tx)
        .await?;
        bump_version(&mut tx).await?;
        ChangeLog::start(&mut tx, actor, now)
            .await?
            .append(
                &mut tx,
                AdminAction::SetState,
                what,
                Some(&before),
                Some(&after),
            )
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a stored credential revoked; false when there is none.
    ///
    /// The registry version is bumped unless it was already revoked, and the
    /// revocation is logged as `revoke` by `actor` in the same transaction.
    pub async fn revoke_credential(&self, id: &str, actor: &str) -> Result<bool, StoreError> {
        let what = format!("credential {id}");
        let mut tx = self.pool.begin().await?;
        lock_registry(&mut tx).await?;
        let stored =
            sqlx::query_scalar::<_, String>("SELECT definition FROM credentials WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(text) = stored else {
            tx.rollback().await?;
            return Ok(false);
        };
        let mut credential: Credential = parse_stored(&what, &text)?;
        if credential.id.as_str() != id {
            return Err(StoreError::Corrupt {
                what,
                detail: format!("definition describes credential {}", credential.id),
            });
        }
        if credential.revoked {
            tx.rollback().await?;
            return Ok(true);
        }
        let before = value_of(&what, &credential)?;
        credential.revoked = true;
        let after = value_of(&what, &credential)?;
        let definition = serialize_stored(&what, &credential)?;
        let now = now_millis();
        sqlx::query(
            "UPDATE credentials SET revoked = $1, definition = $2, updated_at = $3, \
             revision = (SELECT version + 1 FROM registry_meta WHERE id = 1) WHERE id = $4",
        )
        .bind(1_i64)
        .bind(definition)
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        bump_version(&mut tx).await?;
        ChangeLog::start(&mut tx, actor, now)
            .await?
            .append(
                &mut tx,
                AdminAction::Revoke,
                what,
                Some(&before),
                Some(&after),
            )
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Parses one stored definition of an entity named `what`.
fn parse_stored<T: Entity>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt {
        what: what.to_string(),
        detail: parse_failure::<T>(&error),
    })
}

/// An entity's definition as a JSON value, for the admin-change log.
fn value_of<T: serde::Serialize>(what: &str, entity: &T) -> Result<Value, StoreError> {
    serde_json::to_value(entity).map_err(|error| StoreError::Invalid {
        what: what.to_string(),
        detail: format!("cannot be serialized: {error}"),
    })
}

/// Serializes an entity about to be written back.
fn serialize_stored<T: serde::Serialize>(what: &str, entity: &T) -> Result<String, StoreError> {
    serde_json::to_string(entity).map_err(|error| StoreError::Invalid {
        what: what.to_string(),
        detail: format!("cannot be serialized: {error}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::RegistryData;
    use crate::store::StoreOptions;
    use lgsp_contracts::Slug;

    fn kinds() -> [CredentialKind; 3] {
        [
            CredentialKind::ClientSecret {
                client_id: "c".to_string(),
                secret_hash: "h".to_string(),
            },
            CredentialKind::ApiKey {
                key_hash: "k".to_string(),
            },
            CredentialKind::Certificate {
                fingerprint: "f".to_string(),
            },
        ]
    }

    #[test]
    /// Guards the stored format: a definition serde wrote must read back.
    fn credentials_read_back_what_serde_writes() {
        for (index, kind) in kinds().into_iter().enumerate() {
            let credential = Credential {
                id: Slug::parse("cred").expect("slug"),
                system: Slug::parse("sys").expect("slug"),
                kind,
                revoked: index == 1,
            };
            let text = serde_json::to_string(&credential).expect("serializes");
            let parsed: Credential = serde_json::from_str(&text).expect("parses");
            assert_eq!(parsed, credential, "{text}");
        }
        let defaulted: Credential =
            serde_json::from_str(r#"{"id":"cred","system":"sys","kind":"api_key","key_hash":"k"}"#)
                .expect("revoked defaults to false");
        assert!(!defaulted.revoked);
        for bad in [
            r#"{"id":"cred","system":"sys","kind":"api_key","key_hash":"k","extra":1}"#,
            r#"{"system":"sys","kind":"api_key","key_hash":"k"}"#,
            r#"{"id":"cred","system":"sys","kind":"password","secret":"s"}"#,
            r#"["cred"]"#,
        ] {
            assert!(serde_json::from_str::<Credential>(bad).is_err(), "{bad}");
        }
    }

    /// A store holding system `sys` and its API key credential `key`.
    async fn store_with_key() -> Store {
        let store = Store::open("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("open");
        let mut data: RegistryData = serde_json::from_value(serde_json::json!({
            "agencies": [{ "code": "000.00.00.H29", "name": "UBND tỉnh Hà Tĩnh" }],
            "systems": [{ "slug": "sys", "agency": "000.00.00.H29", "name": "Hệ thống" }]
        }))
        .expect("registry fixture");
        data.credentials.push(Credential {
            id: Slug::parse("key").expect("slug"),
            system: Slug::parse("sys").expect("slug"),
            kind: CredentialKind::ApiKey {
                key_hash: SECRET.to_string(),
            },
            revoked: false,
        });
        store.apply(&data, "test").await.expect("apply");
        store
    }

    const SECRET: &str = "5e3b1f0c9d2a";

    #[tokio::test]
    async fn the_unique_index_backs_the_validation() {
        let store = store_with_key().await;
        let inserted = sqlx::query(
            "INSERT INTO credentials (id, system, kind, lookup, revoked, definition, updated_at) \
             VALUES ('other', 'sys', 'api_key', $1, 0, '{}', 0)",
        )
        .bind(SECRET.to_string())
        .execute(&store.pool)
        .await;
        assert!(inserted.is_err(), "a second holder of one key hash");
    }

    #[tokio::test]
    async fn corrupt_credentials_do_not_echo_their_content() {
        let store = store_with_key().await;
        // serde would quote the offending string, here the key hash.
        sqlx::query("UPDATE credentials SET definition = $1 WHERE id = 'key'")
            .bind(format!(
                r#"{{"id":"key","system":"sys","kind":"api_key","key_hash":"x","revoked":"{SECRET}"}}"#
            ))
            .execute(&store.pool)
            .await
            .expect("corrupt the row");
        for error in [
            store.load_registry().await.map(|_| ()),
            store.revoke_credential("key", "test").await.map(|_| ()),
        ] {
            match error {
                Err(StoreError::Corrupt { what, detail }) => {
                    assert_eq!(what, "credential key");
                    assert!(!detail.contains(SECRET), "{detail}");
                    assert!(
                        detail.starts_with("definition does not parse: a data error at line 1"),
                        "{detail}"
                    );
                }
                other => panic!("expected Corrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn column_names_match_serde() {
        for state in [
            SubscriptionState::Requested,
            SubscriptionState::Approved,
            SubscriptionState::Rejected,
            SubscriptionState::Revoked,
        ] {
            let serde = serde_json::to_value(state).expect("state serializes");
            assert_eq!(serde, Value::String(state.as_str().to_string()));
        }
        for kind in kinds() {
            let serde = serde_json::to_value(&kind).expect("kind serializes");
            let (name, lookup) = lookup_of(&kind);
            assert_eq!(serde["kind"], Value::String(name.to_string()));
            assert_ne!(lookup_label(name), "lookup value");
            assert!(["c", "k", "f"].contains(&lookup));
        }
    }
}
