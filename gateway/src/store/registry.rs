//! Registry queries: loading the declared agencies, systems, services,
//! credentials, subscriptions and the policy in force as one consistent
//! snapshot, and applying a desired state in one transaction.
//!
//! Each row keeps the entity as serde_json wrote it in `definition`; loading
//! parses that, and applying compares it (as JSON values) with what is declared.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Executor, Row};

use super::access::{self, StoredAccess};
use super::admin_changes::ChangeLog;
use super::{Backend, Store, StoreError};
use crate::audit::AdminAction;
use crate::catalogue::descriptor::Describer;
use crate::registry::model::{
    Agency, Credential, RegistryData, Service, ServiceState, Subscription, System,
};
use lgsp_adapters::vapex::PublicationEvent;

/// The V-APEX event a service in `state` announces, if any.
pub fn publication_event(state: ServiceState) -> Option<PublicationEvent> {
    match state {
        ServiceState::Draft => None,
        ServiceState::Published => Some(PublicationEvent::Publish),
        ServiceState::Deprecated => Some(PublicationEvent::Deprecate),
        ServiceState::Retired => Some(PublicationEvent::Retire),
        ServiceState::Blocked => Some(PublicationEvent::Block),
    }
}

/// What an apply changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Entities that did not exist before, e.g. `agency 000.00.00.H29`.
    pub created: Vec<String>,
    /// Entities whose stored definition differed and was replaced.
    pub updated: Vec<String>,
    /// Entities already stored exactly as declared.
    pub unchanged: Vec<String>,
    /// The registry version after the apply.
    pub version: i64,
}

impl Store {
    /// The registry version counter, bumped by every apply that changes something.
    pub async fn registry_version(&self) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        read_version(&mut conn).await
    }

    /// The registry version and every entity, read in one transaction and sorted by key.
    pub async fn load_registry(&self) -> Result<(i64, RegistryData), StoreError> {
        self.load_registry_rows(None).await
    }

    /// The registry version, the entities written after version `since`
    /// (sorted by key) and the policy in force: what a node holding the
    /// registry at `since` needs to catch up. Entities are never deleted,
    /// so nothing else can have changed.
    pub async fn load_registry_since(&self, since: i64) -> Result<(i64, RegistryData), StoreError> {
        self.load_registry_rows(Some(since)).await
    }

    async fn load_registry_rows(
        &self,
        since: Option<i64>,
    ) -> Result<(i64, RegistryData), StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Under PostgreSQL's default READ COMMITTED each SELECT would take
            // its own snapshot, and an apply committing in between would tear
            // the version from the entities. SQLite's WAL snapshot already
            // spans the whole transaction.
            (&mut *tx)
                .execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?;
        }
        let version = read_version(&mut tx).await?;
        let agencies = parse_all::<Agency>(written_since::<Agency>(&mut tx, since).await?)?;
        let systems = parse_all::<System>(written_since::<System>(&mut tx, since).await?)?;
        let services = parse_all::<Service>(written_since::<Service>(&mut tx, since).await?)?;
        let credentials =
            parse_all::<Credential>(written_since::<Credential>(&mut tx, since).await?)?;
        let subscriptions =
            parse_all::<Subscription>(written_since::<Subscription>(&mut tx, since).await?)?;
        let policy = access::load_active_policy(&mut tx).await?;
        tx.commit().await?;
        let mut data = RegistryData {
            agencies,
            systems,
            services,
            credentials,
            subscriptions,
            policy,
        };
        data.sort();
        Ok((version, data))
    }

    /// Upserts every entity of `desired` in one transaction and reports what changed.
    ///
    /// Entities absent from `desired` are left alone. References (an agency's
    /// parent, a system's agency, a service's owner, a credential's or
    /// subscription's system, a subscription's service slug) must resolve
    /// within `desired` or the store, a credential's lookup value must be no
    /// other credential's, and a policy version already stored must hold the
    /// same bundle, or nothing is written. A declared policy becomes the one
    /// in force. The registry version is bumped by one when anything was
    /// created or updated.
    ///
    /// Every created or updated entity leaves one entry in the admin-change
    /// log, attributed to `actor` (e.g. `cli:root`), in the same transaction:
    /// the change and its entry are committed together or not at all.
    pub async fn apply(
        &self,
        desired: &RegistryData,
        actor: &str,
    ) -> Result<ApplyReport, StoreError> {
        self.apply_publishing(desired, actor, None).await
    }

    /// [`Store::apply`], also queueing a V-APEX publication for every
    /// service that enters or changes in a public state (published,
    /// deprecated, retired, blocked) when a `describer` is given: its
    /// descriptor is built and checked before anything is written, and its
    /// outbox row is written in the apply's own transaction. A service whose
    /// descriptor breaks the conventions stops the whole apply with
    /// [`StoreError::Nonconforming`].
    pub async fn apply_publishing(
        &self,
        desired: &RegistryData,
        actor: &str,
        describer: Option<&Describer>,
    ) -> Result<ApplyReport, StoreError> {
        let agencies = declare(&desired.agencies)?;
        let systems = declare(&desired.systems)?;
        let services = declare(&desired.services)?;
        let credentials = declare(&desired.credentials)?;
        let subscriptions = declare(&desired.subscriptions)?;
        let policy = desired
            .policy
            .as_ref()
            .map(access::declare_policy)
            .transpose()?;
        access::check_declared(&credentials, &subscriptions, desired.policy.as_ref())?;

        let mut tx = self.pool.begin().await?;
        lock_registry(&mut tx).await?;
        let stored_agencies = stored_definitions::<Agency>(&mut tx).await?;
        let stored_systems = stored_definitions::<System>(&mut tx).await?;
        let stored_services = stored_services_for(&mut tx, &services, &subscriptions).await?;
        let stored_credentials = stored_definitions::<Credential>(&mut tx).await?;
        let stored_subscriptions = stored_definitions::<Subscription>(&mut tx).await?;
        let mut parents = HashMap::new();
        for row in sqlx::query("SELECT code, parent FROM agencies")
            .fetch_all(&mut *tx)
            .await?
        {
            let code: String = row.try_get("code")?;
            let parent: Option<String> = row.try_get("parent")?;
            parents.insert(code, parent);
        }
        validate(&agencies, &systems, &services, parents)?;
        let stored_slugs = stored_services
            .keys()
            .filter_map(|key| key.split_once('/').map(|(slug, _)| slug.to_string()))
            .collect();
        let stored_access = StoredAccess::read(
            &mut tx,
            stored_systems.keys().cloned().collect(),
            stored_slugs,
        )
        .await?;
        let service_slugs: BTreeSet<String> = services
            .values()
            .map(|declared| declared.entity.slug.to_string())
            .collect();
        access::validate_access(
            &credentials,
            &subscriptions,
            &systems,
            &service_slugs,
            &stored_access,
        )?;
        check_new_subscriptions(
            &subscriptions,
            &stored_subscriptions,
            &services,
            &stored_services,
        )?;
        let publications = match describer {
            Some(describer) => {
                plan_publications(&mut tx, &services, &stored_services, describer, &agencies)
                    .await?
            }
            None => Vec::new(),
        };
        let policy_change = match &policy {
            Some(declared) => Some(access::plan_policy(&mut tx, declared).await?),
            None => None,
        };

        let now = now_millis();
        let mut log = ChangeLog::start(&mut tx, actor, now).await?;
        let mut report = ApplyReport::default();
        let mut writing = Writing {
            now,
            revision: read_version(&mut tx).await? + 1,
            report: &mut report,
            log: &mut log,
        };
        write_changes(&mut tx, &agencies, &stored_agencies, &mut writing).await?;
        write_changes(&mut tx, &systems, &stored_systems, &mut writing).await?;
        write_changes(&mut tx, &services, &stored_services, &mut writing).await?;
        access::park_changed_lookups(&mut tx, &credentials, &stored_access).await?;
        write_changes(&mut tx, &credentials, &stored_credentials, &mut writing).await?;
        write_changes(&mut tx, &subscriptions, &stored_subscriptions, &mut writing).await?;
        if let (Some(declared), Some(change)) = (&policy, policy_change) {
            access::write_policy(&mut tx, declared, change, &mut writing).await?;
        }
        for mut row in publications {
            row.created_at = now;
            row.updated_at = now;
            row.next_attempt_at = now;
            super::publications::enqueue(&mut tx, &row).await?;
        }
        if !report.created.is_empty() || !report.updated.is_empty() {
            bump_version(&mut tx).await?;
        }
        report.version = read_version(&mut tx).await?;
        tx.commit().await?;
        Ok(report)
    }
}

/// The lifecycle state a stored service definition holds (serde's default when absent).
fn stored_state(definition: &str) -> Option<ServiceState> {
    let value: Value = serde_json::from_str(definition).ok()?;
    match value.get("state") {
        None => Some(ServiceState::default()),
        Some(state) => serde_json::from_value(state.clone()).ok(),
    }
}

/// Only published services accept new subscriptions: a subscription that is
/// new, or asked for again after a refusal or revocation, needs a published
/// version of its service (as declared, else as stored).
fn check_new_subscriptions(
    subscriptions: &BTreeMap<String, Declared<'_, Subscription>>,
    stored_subscriptions: &BTreeMap<String, String>,
    services: &BTreeMap<String, Declared<'_, Service>>,
    stored_services: &BTreeMap<String, String>,
) -> Result<(), StoreError> {
    use crate::registry::model::SubscriptionState;
    let mut states: BTreeMap<String, ServiceState> = stored_services
        .iter()
        .filter_map(|(key, definition)| Some((key.clone(), stored_state(definition)?)))
        .collect();
    for (key, declared) in services {
        states.insert(key.clone(), declared.entity.state);
    }
    for (key, declared) in subscriptions {
        let wanted = declared.entity.state;
        if !matches!(
            wanted,
            SubscriptionState::Requested | SubscriptionState::Approved
        ) {
            continue;
        }
        let before = stored_subscriptions
            .get(key)
            .and_then(|text| serde_json::from_str::<Subscription>(text).ok())
            .map(|s| s.state);
        if matches!(
            before,
            Some(SubscriptionState::Requested | SubscriptionState::Approved)
        ) {
            continue;
        }
        let slug = declared.entity.service.as_str();
        let published = states.iter().any(|(service_key, state)| {
            service_key.split_once('/').map(|(s, _)| s) == Some(slug)
                && *state == ServiceState::Published
        });
        if !published {
            return Err(StoreError::Conflict {
                what: format!("subscription {key}"),
                detail: format!(
                    "service {slug} has no published version; only published services accept new subscriptions"
                ),
            });
        }
    }
    Ok(())
}

/// The outbox rows an apply adds: one per service entering or changing in
/// a public state, with its descriptor built and checked.
async fn plan_publications(
    conn: &mut AnyConnection,
    services: &BTreeMap<String, Declared<'_, Service>>,
    stored_services: &BTreeMap<String, String>,
    describer: &Describer,
    agencies: &BTreeMap<String, Declared<'_, Agency>>,
) -> Result<Vec<super::publications::OutboxRow>, StoreError> {
    let mut names: HashMap<String, String> = HashMap::new();
    for row in sqlx::query("SELECT code, name FROM agencies")
        .fetch_all(&mut *conn)
        .await?
    {
        names.insert(row.try_get("code")?, row.try_get("name")?);
    }
    for (code, declared) in agencies {
        names.insert(code.clone(), declared.entity.name.clone());
    }
    let mut rows = Vec::new();
    for (key, declared) in services {
        let service = declared.entity;
        let Some(event) = publication_event(service.state) else {
            continue;
        };
        let unchanged = stored_services
            .get(key)
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .is_some_and(|stored| stored == declared.value);
        if unchanged {
            continue;
        }
        let owner = service.owner.to_string();
        let descriptor = describer
            .check(service, names.get(&owner).map(String::as_str))
            .map_err(|findings| StoreError::Nonconforming {
                what: format!("service {key}"),
                findings,
            })?;
        rows.push(super::publications::OutboxRow {
            id: uuid::Uuid::now_v7().to_string(),
            service: service.slug.to_string(),
            version: service.version.clone(),
            agency: owner,
            event: event.as_str().to_string(),
            descriptor: descriptor.to_string(),
            state: super::publications::PublicationState::Pending,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            publication_id: None,
            created_at: 0,
            updated_at: 0,
        });
    }
    Ok(rows)
}

/// A registry entity as stored in its own table.
pub(super) trait Entity: Serialize + DeserializeOwned {
    /// The word naming the entity in reports and errors.
    const KIND: &'static str;
    /// Whether the definition holds secrets (hashes), which errors must not echo.
    const SECRET: bool = false;
    /// Selects the key columns and `definition` of every row.
    const SELECT: &'static str;
    /// The entity's key as text, e.g. `population/v1`.
    fn key(&self) -> String;
    /// The key of a row selected by `SELECT`.
    fn row_key(row: &AnyRow) -> Result<String, sqlx::Error>;
    /// The upsert of this entity with its serialized definition, written at registry version `revision`.
    fn upsert(
        &self,
        definition: String,
        now: i64,
        revision: i64,
    ) -> Query<'static, Any, AnyArguments<'static>>;
}

impl Entity for Agency {
    const KIND: &'static str = "agency";
    const SELECT: &'static str = "SELECT code, definition FROM agencies";

    fn key(&self) -> String {
        self.code.to_string()
    }

    fn row_key(row: &AnyRow) -> Result<String, sqlx::Error> {
        row.try_get("code")
    }

    fn upsert(
        &self,
        definition: String,
        now: i64,
        revision: i64,
    ) -> Query<'static, Any, AnyArguments<'static>> {
        sqlx::query(
            "INSERT INTO agencies (code, name, parent, definition, updated_at, revision) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
             definition = excluded.definition, updated_at = excluded.updated_at, revision = excluded.revision",
        )
        .bind(self.code.to_string())
        .bind(self.name.clone())
        .bind(self.parent.as_ref().map(|parent| parent.to_string()))
        .bind(definition)
        .bind(now)
        .bind(revision)
    }
}

impl Entity for System {
    const KIND: &'static str = "system";
    const SELECT: &'static str = "SELECT slug, definition FROM systems";

    fn key(&self) -> String {
        self.slug.to_string()
    }

    fn row_key(row: &AnyRow) -> Result<String, sqlx::Error> {
        row.try_get("slug")
    }

    fn upsert(
        &self,
        definition: String,
        now: i64,
        revision: i64,
    ) -> Query<'static, Any, AnyArguments<'static>> {
        sqlx::query(
            "INSERT INTO systems (slug, agency, definition, updated_at, revision) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (slug) DO UPDATE SET agency = excluded.agency, \
             definition = excluded.definition, updated_at = excluded.updated_at, revision = excluded.revision",
        )
        .bind(self.slug.to_string())
        .bind(self.agency.to_string())
        .bind(definition)
        .bind(now)
        .bind(revision)
    }
}

impl Entity for Service {
    const KIND: &'static str = "service";
    const SELECT: &'static str = "SELECT slug, version, definition FROM services";

    fn key(&self) -> String {
        format!("{}/{}", self.slug, self.version)
    }

    fn row_key(row: &AnyRow) -> Result<String, sqlx::Error> {
        let slug: String = row.try_get("slug")?;
        let version: String = row.try_get("version")?;
        Ok(format!("{slug}/{version}"))
    }

    fn upsert(
        &self,
        definition: String,
        now: i64,
        revision: i64,
    ) -> Query<'static, Any, AnyArguments<'static>> {
        sqlx::query(
            "INSERT INTO services (slug, version, state, owner, definition, updated_at, revision) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (slug, version) DO UPDATE SET state = excluded.state, \
             owner = excluded.owner, definition = excluded.definition, \
             updated_at = excluded.updated_at, revision = excluded.revision",
        )
        .bind(self.slug.to_string())
        .bind(self.version.clone())
        .bind(self.state.as_str().to_string())
        .bind(self.owner.to_string())
        .bind(definition)
        .bind(now)
        .bind(revision)
    }
}

/// An entity of the desired state, serialized once for comparing and writing.
pub(super) struct Declared<'a, T> {
    /// The declared entity.
    pub(super) entity: &'a T,
    /// Its JSON value, compared with the stored definition.
    pub(super) value: Value,
    /// Its JSON text, written as the definition.
    pub(super) text: String,
}

/// Serializes one declared entity; `what` names it in the error.
pub(super) fn serialize_declared<T: Serialize>(
    entity: &T,
    what: impl Fn() -> String,
) -> Result<Declared<'_, T>, StoreError> {
    let invalid = |error: serde_json::Error| StoreError::Invalid {
        what: what(),
        detail: format!("cannot be serialized: {error}"),
    };
    let value = serde_json::to_value(entity).map_err(invalid)?;
    let text = serde_json::to_string(&value).map_err(invalid)?;
    Ok(Declared {
        entity,
        value,
        text,
    })
}

/// Serializes the declared entities by key, refusing a key declared twice
/// (which of the two would win is not something a file should leave open).
fn declare<T: Entity>(entities: &[T]) -> Result<BTreeMap<String, Declared<'_, T>>, StoreError> {
    let mut declared = BTreeMap::new();
    for entity in entities {
        let key = entity.key();
        let what = || format!("{} {key}", T::KIND);
        let serialized = serialize_declared(entity, what)?;
        if declared.contains_key(&key) {
            return Err(StoreError::Invalid {
                what: what(),
                detail: "is declared more than once".to_string(),
            });
        }
        declared.insert(key, serialized);
    }
    Ok(declared)
}

/// Checks that every reference resolves within the desired state or the store
/// and that no agency becomes its own ancestor.
fn validate(
    agencies: &BTreeMap<String, Declared<'_, Agency>>,
    systems: &BTreeMap<String, Declared<'_, System>>,
    services: &BTreeMap<String, Declared<'_, Service>>,
    stored_parents: HashMap<String, Option<String>>,
) -> Result<(), StoreError> {
    let mut parents = stored_parents;
    for (code, declared) in agencies {
        let parent = declared
            .entity
            .parent
            .as_ref()
            .map(|parent| parent.to_string());
        parents.insert(code.clone(), parent);
    }
    let missing = |kind: &str, key: &str, role: &str, code: &str| StoreError::Invalid {
        what: format!("{kind} {key}"),
        detail: format!("its {role} {code} is neither in the applied data nor in the store"),
    };

    for (code, declared) in agencies {
        let Some(parent) = &declared.entity.parent else {
            continue;
        };
        if !parents.contains_key(parent.as_str()) {
            return Err(missing("agency", code, "parent agency", parent.as_str()));
        }
        let mut chain = vec![code.as_str()];
        let mut next = parents.get(code).and_then(|parent| parent.as_deref());
        while let Some(ancestor) = next {
            let looped = chain.contains(&ancestor);
            chain.push(ancestor);
            if looped {
                return Err(StoreError::Invalid {
                    what: format!("agency {code}"),
                    detail: format!("its parent chain loops: {}", chain.join(" → ")),
                });
            }
            next = parents.get(ancestor).and_then(|parent| parent.as_deref());
        }
    }
    for (slug, declared) in systems {
        let agency = declared.entity.agency.as_str();
        if !parents.contains_key(agency) {
            return Err(missing("system", slug, "agency", agency));
        }
    }
    for (key, declared) in services {
        let owner = declared.entity.owner.as_str();
        if !parents.contains_key(owner) {
            return Err(missing("service", key, "owner agency", owner));
        }
    }
    Ok(())
}

/// Where an apply writes besides the entity tables: the time of the
/// change, the report and the admin-change log.
pub(super) struct Writing<'a> {
    /// Now, unix ms: one instant for the whole apply.
    pub(super) now: i64,
    /// The registry version this apply writes (the current one plus one).
    pub(super) revision: i64,
    /// What the apply reports.
    pub(super) report: &'a mut ApplyReport,
    /// The apply's entries in the admin-change log.
    pub(super) log: &'a mut ChangeLog,
}

/// What the log shows as `before` for a stored definition that does not
/// parse: the text itself could hold anything, secrets included.
pub(super) fn unreadable_definition() -> Value {
    serde_json::json!({ "unreadable": "the stored definition did not parse" })
}

/// Writes the declared entities that differ from the stored ones, lists each
/// one in the report and logs it as created or updated.
async fn write_changes<T: Entity>(
    conn: &mut AnyConnection,
    declared: &BTreeMap<String, Declared<'_, T>>,
    stored: &BTreeMap<String, String>,
    writing: &mut Writing<'_>,
) -> Result<(), StoreError> {
    for (key, entity) in declared {
        let label = format!("{} {key}", T::KIND);
        let before = match stored.get(key) {
            None => None,
            // A stored definition that no longer parses is replaced: the
            // apply repairs it rather than failing on it.
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) if value == entity.value => {
                    writing.report.unchanged.push(label);
                    continue;
                }
                Ok(value) => Some(value),
                Err(_) => Some(unreadable_definition()),
            },
        };
        entity
            .entity
            .upsert(entity.text.clone(), writing.now, writing.revision)
            .execute(&mut *conn)
            .await?;
        let (action, list) = match before {
            None => (AdminAction::Create, &mut writing.report.created),
            Some(_) => (AdminAction::Update, &mut writing.report.updated),
        };
        list.push(label.clone());
        writing
            .log
            .append(conn, action, label, before.as_ref(), Some(&entity.value))
            .await?;
    }
    Ok(())
}

/// The stored definitions of one table written after registry version
/// `since` (all of them for `None`), by key.
async fn written_since<T: Entity>(
    conn: &mut AnyConnection,
    since: Option<i64>,
) -> Result<BTreeMap<String, String>, StoreError> {
    let Some(since) = since else {
        return stored_definitions::<T>(conn).await;
    };
    let mut stored = BTreeMap::new();
    for row in sqlx::query(&format!("{} WHERE revision > $1", T::SELECT))
        .bind(since)
        .fetch_all(&mut *conn)
        .await?
    {
        let definition: String = row.try_get("definition")?;
        stored.insert(T::row_key(&row)?, definition);
    }
    Ok(stored)
}

/// The stored services an apply compares with: those it declares and
/// those its subscriptions name, or all of them for a large declaration.
/// Reading only these keeps one change cheap among ten thousand services.
async fn stored_services_for(
    conn: &mut AnyConnection,
    services: &BTreeMap<String, Declared<'_, Service>>,
    subscriptions: &BTreeMap<String, Declared<'_, Subscription>>,
) -> Result<BTreeMap<String, String>, StoreError> {
    const TARGETED_MAX: usize = 64;
    let slugs: BTreeSet<String> = services
        .values()
        .map(|d| d.entity.slug.to_string())
        .chain(subscriptions.values().map(|d| d.entity.service.to_string()))
        .collect();
    if slugs.len() > TARGETED_MAX {
        return stored_definitions::<Service>(conn).await;
    }
    let mut stored = BTreeMap::new();
    for slug in slugs {
        for row in sqlx::query("SELECT slug, version, definition FROM services WHERE slug = $1")
            .bind(slug)
            .fetch_all(&mut *conn)
            .await?
        {
            let definition: String = row.try_get("definition")?;
            stored.insert(Service::row_key(&row)?, definition);
        }
    }
    Ok(stored)
}

/// The stored definitions of one table, by key.
async fn stored_definitions<T: Entity>(
    conn: &mut AnyConnection,
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut stored = BTreeMap::new();
    for row in sqlx::query(T::SELECT).fetch_all(&mut *conn).await? {
        let definition: String = row.try_get("definition")?;
        stored.insert(T::row_key(&row)?, definition);
    }
    Ok(stored)
}

/// Parses stored definitions, checking each belongs to the row that holds it.
fn parse_all<T: Entity>(stored: BTreeMap<String, String>) -> Result<Vec<T>, StoreError> {
    stored
        .into_iter()
        .map(|(key, definition)| {
            let corrupt = |detail: String| StoreError::Corrupt {
                what: format!("{} {key}", T::KIND),
                detail,
            };
            let entity = serde_json::from_str::<T>(&definition)
                .map_err(|error| corrupt(parse_failure::<T>(&error)))?;
            if entity.key() != key {
                return Err(corrupt(format!(
                    "definition describes {} {}",
                    T::KIND,
                    entity.key()
                )));
            }
            Ok(entity)
        })
        .collect()
}

/// Why a stored definition does not parse; for an entity holding secrets
/// only where, since serde's message may quote the offending value.
pub(super) fn parse_failure<T: Entity>(error: &serde_json::Error) -> String {
    if T::SECRET {
        let category = match error.classify() {
            serde_json::error::Category::Io => "an I/O",
            serde_json::error::Category::Syntax => "a syntax",
            serde_json::error::Category::Data => "a data",
            serde_json::error::Category::Eof => "an end-of-input",
        };
        match error.line() {
            0 => format!("definition does not parse: {category} error"),
            line => format!(
                "definition does not parse: {category} error at line {line}, column {}",
                error.column()
            ),
        }
    } else {
        format!("definition does not parse: {error}")
    }
}

/// Writes the version row, which makes concurrent writers take turns:
/// PostgreSQL holds the row lock and SQLite the write lock until commit, so
/// each writer compares against what the previous one committed and SQLite
/// never has to upgrade a stale read snapshot.
pub(super) async fn lock_registry(conn: &mut AnyConnection) -> Result<(), StoreError> {
    let locked = sqlx::query("UPDATE registry_meta SET version = version WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    if locked.rows_affected() != 1 {
        return Err(missing_version_row());
    }
    Ok(())
}

/// Bumps the registry version by one, within the caller's transaction.
pub(super) async fn bump_version(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("UPDATE registry_meta SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The current registry version.
async fn read_version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    sqlx::query_scalar::<_, i64>("SELECT version FROM registry_meta WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(missing_version_row)
}

/// The error for a database whose migration-created version row was deleted.
pub(super) fn missing_version_row() -> StoreError {
    StoreError::Corrupt {
        what: "registry_meta".to_string(),
        detail: "the registry version row (id = 1) is missing".to_string(),
    }
}

/// Now as unix milliseconds; a clock before 1970 stores 0 rather than failing an apply.
pub(super) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    fn registry(value: Value) -> RegistryData {
        serde_json::from_value(value).expect("registry fixture")
    }

    fn fixture() -> RegistryData {
        registry(serde_json::json!({
            "agencies": [
                { "code": "000.00.00.H29", "name": "UBND tỉnh Hà Tĩnh" },
                { "code": "000.00.01.H29", "name": "Sở Tư pháp", "parent": "000.00.00.H29" }
            ],
            "services": [{
                "slug": "population", "version": "v1", "name": "Dân cư",
                "owner": "000.00.01.H29", "upstream": { "url": "http://127.0.0.1:9/" }
            }]
        }))
    }

    #[test]
    fn state_names_match_serde() {
        for state in [
            ServiceState::Draft,
            ServiceState::Published,
            ServiceState::Deprecated,
            ServiceState::Retired,
            ServiceState::Blocked,
        ] {
            let serde = serde_json::to_value(state).expect("state serializes");
            assert_eq!(serde, Value::String(state.as_str().to_string()));
        }
    }

    #[tokio::test]
    async fn corrupt_definitions_are_reported_and_repaired_by_apply() {
        let store = Store::open("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("open");
        let data = fixture();
        store.apply(&data, "test").await.expect("apply");

        sqlx::query("UPDATE agencies SET definition = $1 WHERE code = $2")
            .bind("{not json".to_string())
            .bind("000.00.01.H29".to_string())
            .execute(&store.pool)
            .await
            .expect("corrupt a row");
        match store.load_registry().await {
            Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "agency 000.00.01.H29"),
            other => panic!("expected Corrupt, got {other:?}"),
        }

        let report = store.apply(&data, "test").await.expect("re-apply");
        assert_eq!(report.updated, vec!["agency 000.00.01.H29".to_string()]);
        // The log shows that the old text was unreadable, never the text itself.
        let log = store.admin_changes(0, 100).await.expect("log");
        let repair = log.last().expect("the repair is logged");
        assert_eq!(
            (repair.seq, repair.action.as_str(), repair.entity.as_str()),
            (4, "update", "agency 000.00.01.H29")
        );
        assert_eq!(
            repair.before.as_deref(),
            Some(r#"{"unreadable":"the stored definition did not parse"}"#)
        );
        let (_, loaded) = store.load_registry().await.expect("load after repair");
        assert_eq!(loaded, data);

        // A definition moved to another row is as wrong as one that does not parse.
        sqlx::query("UPDATE services SET version = $1")
            .bind("v9".to_string())
            .execute(&store.pool)
            .await
            .expect("move a row");
        match store.load_registry().await {
            Err(StoreError::Corrupt { what, detail }) => {
                assert_eq!(what, "service population/v9");
                assert!(detail.contains("population/v1"), "{detail}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn duplicates_and_loops_are_refused() {
        let store = Store::open("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("open");
        let mut twice = fixture();
        twice.agencies.push(twice.agencies[0].clone());
        match store.apply(&twice, "test").await {
            Err(StoreError::Invalid { what, detail }) => {
                assert_eq!(what, "agency 000.00.00.H29");
                assert!(detail.contains("more than once"), "{detail}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }

        store.apply(&fixture(), "test").await.expect("apply");
        // H29 under its own child: valid codes, but a loop through stored data.
        let looping = registry(serde_json::json!({
            "agencies": [
                { "code": "000.00.00.H29", "name": "UBND tỉnh", "parent": "000.00.01.H29" }
            ]
        }));
        match store.apply(&looping, "test").await {
            Err(StoreError::Invalid { what, detail }) => {
                assert_eq!(what, "agency 000.00.00.H29");
                assert!(detail.contains("loops"), "{detail}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(store.registry_version().await.expect("version"), 1);
    }
}
