//! The store suite: one set of checks written against `Store`, run on SQLite
//! (a temporary file) and on PostgreSQL (a fresh schema, dropped afterwards).
//!
//! PostgreSQL is `LGSP_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached the
//! test fails and says how to start it, unless `LGSP_SKIP_POSTGRES=1`.
//!
//! Every change leaves its entry in the admin-change log; the checks follow
//! the log along (entries per apply, before and after, redaction) and end by
//! verifying its chain, tampering with it through SQL and restoring it.

use std::collections::{BTreeMap, BTreeSet};

use lgsp_contracts::Slug;
use lgsp_gateway::admin::Role;
use lgsp_gateway::audit::{AdminChange, BreakKind, verify_admin_changes, verify_store};
use lgsp_gateway::registry::model::{
    Credential, CredentialKind, RegistryData, ServiceState, SubscriptionState,
};
use lgsp_gateway::store::{ApplyReport, Backend, Store, StoreError, StoreOptions};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Executor, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const START_POSTGRES: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
/// Who the suite's changes are attributed to in the admin-change log.
const ACTOR: &str = "cli:store-suite";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A missing parent directory is part of what open must handle.
    let path = dir.path().join("data").join("lgsp.db");
    let url = format!("sqlite://{}", path.display());
    let version = run_suite(&url, Backend::Sqlite).await;
    assert!(path.exists(), "the SQLite file should be at {path:?}");
    println!("sqlite store suite passed at registry version {version}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if std::env::var("LGSP_SKIP_POSTGRES").is_ok_and(|value| value == "1") {
        println!("skipped the PostgreSQL store suite: LGSP_SKIP_POSTGRES=1");
        return;
    }
    let base = std::env::var("LGSP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
    let mut admin = match PgConnection::connect(&base).await {
        Ok(admin) => admin,
        Err(error) => panic!(
            "\n\nPostgreSQL is unreachable at {base}: {error}\n\
             Start it with:\n    {START_POSTGRES}\n\
             or point LGSP_TEST_POSTGRES_URL at another server, \
             or set LGSP_SKIP_POSTGRES=1 to skip this test.\n"
        ),
    };
    let schema = format!("lgsp_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create the test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");

    // Run on another task so that a failed check still reaches the DROP below.
    let outcome = tokio::spawn(async move { run_suite(&url, Backend::Postgres).await }).await;
    let isolation = match &outcome {
        Ok(version) => Some(schema_holds_the_store(&mut admin, &schema, *version).await),
        Err(_) => None,
    };
    let dropped = admin
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await;
    let _ = admin.close().await;

    let version = match outcome {
        Ok(version) => version,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the PostgreSQL suite did not finish: {error}"),
        },
    };
    if let Some(Err(problem)) = isolation {
        panic!("{problem}");
    }
    dropped.expect("drop the test schema");
    println!("postgres store suite passed at registry version {version} in schema {schema}");
}

/// Proves that the store wrote into the test schema and nowhere else: every
/// table is there and its version row is the one the suite ended with.
async fn schema_holds_the_store(
    admin: &mut PgConnection,
    schema: &str,
    version: i64,
) -> Result<(), String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = $1 ORDER BY table_name",
    )
    .bind(schema)
    .fetch_all(&mut *admin)
    .await
    .map_err(|error| format!("listing the tables of {schema}: {error}"))?;
    let expected = [
        "_sqlx_migrations",
        "admin_accounts",
        "admin_changes",
        "admin_sessions",
        "agencies",
        "audit_anchors",
        "audit_checkpoints",
        "audit_records",
        "credentials",
        "policy_bundles",
        "registry_meta",
        "reuse_asked",
        "reuse_items",
        "reuse_write_backs",
        "services",
        "subscriptions",
        "systems",
        "vapex_outbox",
    ];
    if tables != expected {
        return Err(format!(
            "schema {schema} holds {tables:?}, expected {expected:?}"
        ));
    }
    let stored: i64 = sqlx::query_scalar(&format!(
        "SELECT version FROM {schema}.registry_meta WHERE id = 1"
    ))
    .fetch_one(&mut *admin)
    .await
    .map_err(|error| format!("reading {schema}.registry_meta: {error}"))?;
    if stored != version {
        return Err(format!(
            "{schema}.registry_meta holds {stored}, the store said {version}"
        ));
    }
    Ok(())
}

/// Every check, in order, on one backend; returns the final registry version.
async fn run_suite(url: &str, backend: Backend) -> i64 {
    let options = StoreOptions::default();
    let store = Store::open(url, &options).await.expect("open the store");
    assert_eq!(store.backend(), backend);
    store.ping().await.expect("ping");

    empty_registry_is_version_zero(&store).await;
    apply_creates_then_reapply_is_unchanged(&store).await;
    update_bumps_the_version_once(&store).await;
    invalid_references_write_nothing(&store).await;
    undeclared_entities_are_left_alone(&store).await;
    concurrent_applies_keep_every_bump(&store).await;
    credentials_round_trip(&store).await;
    shared_lookups_are_refused(&store).await;
    lookups_may_move_between_credentials(&store).await;
    subscriptions_round_trip(&store).await;
    invalid_subscriptions_are_refused(&store).await;
    policy_bundles_are_versioned(&store).await;
    state_changes_bump_the_version(&store).await;
    full_registry_reapply_is_unchanged(&store).await;
    admin_changes_are_chained(&store, url).await;
    store.close().await;

    // Opening again runs the migrator again, which must find nothing to do,
    // and the data must have been durably written.
    let reopened = Store::open(url, &options)
        .await
        .expect("reopen: applied migrations are skipped");
    reopened.ping().await.expect("ping after reopen");
    diacritics_survive(&reopened).await;
    access_survives(&reopened).await;
    let log_report = verify_admin_changes(&reopened)
        .await
        .expect("verify the log");
    assert_eq!(log_report.first_break, None, "{log_report:?}");
    let version = reopened.registry_version().await.expect("version");
    reopened.close().await;
    version
}

fn registry(value: Value) -> RegistryData {
    serde_json::from_value(value).expect("registry fixture")
}

/// The province's file, deliberately out of order.
fn province() -> RegistryData {
    registry(json!({
        "agencies": [
            { "code": "000.00.02.H29", "name": "Ủy ban nhân dân xã Hòa Bình", "parent": "000.00.00.H29" },
            { "code": "000.00.00.H29", "name": "Ủy ban nhân dân tỉnh Hà Tĩnh" },
            { "code": "000.00.01.H29", "name": "Sở Tư pháp tỉnh Hà Tĩnh", "parent": "000.00.00.H29" }
        ],
        "systems": [
            { "slug": "motcua-xa-a", "agency": "000.00.02.H29", "name": "Một cửa xã Hòa Bình" },
            { "slug": "dvc-tinh", "agency": "000.00.00.H29", "name": "Cổng dịch vụ công tỉnh" }
        ],
        "services": [
            {
                "slug": "population", "version": "v2", "name": "Cơ sở dữ liệu dân cư",
                "owner": "000.00.00.H29", "upstream": { "url": "http://127.0.0.1:9/population/v2" }
            },
            {
                "slug": "population-extract", "version": "v1", "name": "Trích lục dân cư",
                "owner": "000.00.00.H29", "upstream": { "url": "http://127.0.0.1:9/extract" }
            },
            {
                "slug": "civil-status", "version": "v1", "name": "Hộ tịch",
                "owner": "000.00.01.H29", "personal_data": true,
                "upstream": { "url": "http://127.0.0.1:9/civil-status", "timeout_ms": 3000 },
                "operations": [{ "method": "GET", "path": "/records/{soDinhDanh}" }]
            },
            {
                "slug": "population", "version": "v1", "name": "Cơ sở dữ liệu dân cư",
                "owner": "000.00.00.H29", "upstream": { "url": "http://127.0.0.1:9/population/v1" }
            }
        ]
    }))
}

/// The province's file as load must return it: each list sorted by key.
fn sorted(mut data: RegistryData) -> RegistryData {
    data.agencies.sort_by(|a, b| a.code.cmp(&b.code));
    data.systems.sort_by(|a, b| a.slug.cmp(&b.slug));
    data.services
        .sort_by(|a, b| (&a.slug, &a.version).cmp(&(&b.slug, &b.version)));
    data.credentials.sort_by(|a, b| a.id.cmp(&b.id));
    data.subscriptions
        .sort_by(|a, b| (&a.system, &a.service).cmp(&(&b.system, &b.service)));
    data
}

/// Every label of a registry file, as an apply report names them.
fn labels(data: &RegistryData) -> BTreeSet<String> {
    let agencies = data.agencies.iter().map(|a| format!("agency {}", a.code));
    let systems = data.systems.iter().map(|s| format!("system {}", s.slug));
    let services = data
        .services
        .iter()
        .map(|s| format!("service {}/{}", s.slug, s.version));
    let credentials = data
        .credentials
        .iter()
        .map(|c| format!("credential {}", c.id));
    let subscriptions = data
        .subscriptions
        .iter()
        .map(|s| format!("subscription {}/{}", s.system, s.service));
    let policy = data.policy.iter().map(|p| format!("policy {}", p.version));
    agencies
        .chain(systems)
        .chain(services)
        .chain(credentials)
        .chain(subscriptions)
        .chain(policy)
        .collect()
}

fn set(list: &[String]) -> BTreeSet<String> {
    list.iter().cloned().collect()
}

/// The JSON definition of every entity of a file, by its label.
fn definitions(data: &RegistryData) -> BTreeMap<String, Value> {
    fn add<T: serde::Serialize>(found: &mut BTreeMap<String, Value>, label: String, entity: &T) {
        found.insert(label, serde_json::to_value(entity).expect("serialize"));
    }
    let mut found = BTreeMap::new();
    for a in &data.agencies {
        add(&mut found, format!("agency {}", a.code), a);
    }
    for s in &data.systems {
        add(&mut found, format!("system {}", s.slug), s);
    }
    for s in &data.services {
        add(&mut found, format!("service {}/{}", s.slug, s.version), s);
    }
    for c in &data.credentials {
        add(&mut found, format!("credential {}", c.id), c);
    }
    for s in &data.subscriptions {
        add(
            &mut found,
            format!("subscription {}/{}", s.system, s.service),
            s,
        );
    }
    if let Some(p) = &data.policy {
        add(&mut found, format!("policy {}", p.version), p);
    }
    found
}

/// The admin-change entries after `seq`, in order.
async fn log_after(store: &Store, seq: i64) -> Vec<AdminChange> {
    store
        .admin_changes(seq, 100_000)
        .await
        .expect("read the admin-change log")
}

/// The whole admin-change log.
async fn log(store: &Store) -> Vec<AdminChange> {
    log_after(store, 0).await
}

/// The seq of the last admin-change entry, 0 for none.
async fn log_head(store: &Store) -> i64 {
    log(store).await.last().map_or(0, |entry| entry.seq)
}

/// A `before` or `after` column, parsed.
fn parsed(column: &Option<String>) -> Option<Value> {
    column
        .as_deref()
        .map(|text| serde_json::from_str(text).expect("the log holds JSON"))
}

async fn empty_registry_is_version_zero(store: &Store) {
    assert_eq!(store.registry_version().await.expect("version"), 0);
    let (version, data) = store.load_registry().await.expect("load");
    assert_eq!(version, 0);
    assert_eq!(data, RegistryData::default());

    let report = store
        .apply(&RegistryData::default(), ACTOR)
        .await
        .expect("apply nothing");
    assert_eq!(
        report,
        ApplyReport::default(),
        "applying nothing changes nothing"
    );
    assert!(log(store).await.is_empty(), "and logs nothing");
}

async fn apply_creates_then_reapply_is_unchanged(store: &Store) {
    let file = province();
    let report = store.apply(&file, ACTOR).await.expect("first apply");
    assert_eq!(set(&report.created), labels(&file));
    assert!(report.created.contains(&"agency 000.00.00.H29".to_string()));
    assert!(report.created.contains(&"system motcua-xa-a".to_string()));
    assert!(
        report
            .created
            .contains(&"service population/v1".to_string())
    );
    assert!(
        report.updated.is_empty() && report.unchanged.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.version, 1);

    // One entry per created entity: nothing before, the definition after.
    let entries = log(store).await;
    assert_eq!(entries.len(), report.created.len());
    let declared = definitions(&file);
    for (index, entry) in entries.iter().enumerate() {
        assert_eq!(entry.seq, index as i64 + 1);
        assert_eq!(
            (entry.actor.as_str(), entry.action.as_str()),
            (ACTOR, "create")
        );
        assert_eq!(entry.before, None, "{entry:?}");
        assert_eq!(
            parsed(&entry.after).as_ref(),
            declared.get(&entry.entity),
            "{entry:?}"
        );
    }
    let logged: BTreeSet<String> = entries.iter().map(|e| e.entity.clone()).collect();
    assert_eq!(logged, labels(&file));

    let (version, loaded) = store.load_registry().await.expect("load");
    assert_eq!(version, 1);
    assert_eq!(
        loaded,
        sorted(file.clone()),
        "load returns what was applied, sorted"
    );
    let services: Vec<String> = loaded
        .services
        .iter()
        .map(|s| format!("{}/{}", s.slug, s.version))
        .collect();
    assert_eq!(
        services,
        [
            "civil-status/v1",
            "population/v1",
            "population/v2",
            "population-extract/v1"
        ],
        "services sort by slug, then version"
    );

    let again = store.apply(&file, ACTOR).await.expect("re-apply");
    assert!(
        again.created.is_empty() && again.updated.is_empty(),
        "{again:?}"
    );
    assert_eq!(set(&again.unchanged), labels(&file));
    assert_eq!(again.version, 1, "an idempotent apply keeps the version");
    assert_eq!(store.registry_version().await.expect("version"), 1);
    assert_eq!(
        log_head(store).await,
        entries.len() as i64,
        "an unchanged apply logs nothing"
    );
}

async fn update_bumps_the_version_once(store: &Store) {
    let head = log_head(store).await;
    let original = definitions(&province());
    let mut file = province();
    for service in &mut file.services {
        if service.slug.as_str() == "population" && service.version == "v1" {
            service.state = ServiceState::Deprecated;
            service.name = "Cơ sở dữ liệu quốc gia về dân cư".to_string();
            service.upstream.timeout_ms = Some(2500);
        }
    }
    let report = store.apply(&file, ACTOR).await.expect("apply an update");
    assert_eq!(report.updated, ["service population/v1"]);
    assert!(report.created.is_empty(), "{report:?}");
    assert_eq!(report.unchanged.len(), labels(&file).len() - 1);
    assert_eq!(report.version, 2, "one apply, one bump");

    // One entry, holding the definition before and after.
    let entries = log_after(store, head).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(
        (entry.action.as_str(), entry.entity.as_str()),
        ("update", "service population/v1")
    );
    assert_eq!(
        parsed(&entry.before).as_ref(),
        original.get("service population/v1")
    );
    assert_eq!(
        parsed(&entry.after).as_ref(),
        definitions(&file).get("service population/v1")
    );
    assert!(entry.changed_at > 0 && entry.prev_hash != entry.hash);

    let (version, loaded) = store.load_registry().await.expect("load");
    assert_eq!(version, 2);
    assert_eq!(loaded, sorted(file));
    let updated = loaded
        .services
        .iter()
        .find(|s| s.slug.as_str() == "population" && s.version == "v1")
        .expect("population/v1 is loaded");
    assert_eq!(updated.state, ServiceState::Deprecated);
    assert_eq!(updated.upstream.timeout_ms, Some(2500));
}

async fn invalid_references_write_nothing(store: &Store) {
    let before = store.load_registry().await.expect("load before");
    let head = log_head(store).await;
    // Each file also declares a valid new agency, which must not be written either.
    let cases = [
        (
            json!({ "systems": [{ "slug": "ghost", "agency": "000.00.99.H29", "name": "Ma" }] }),
            "system ghost",
            "000.00.99.H29",
        ),
        (
            json!({ "services": [{
                "slug": "orphan", "version": "v1", "name": "Mồ côi",
                "owner": "000.00.98.H29", "upstream": { "url": "http://127.0.0.1:9/" }
            }] }),
            "service orphan/v1",
            "000.00.98.H29",
        ),
        (
            json!({ "agencies": [{
                "code": "000.00.20.H29", "name": "Xã Đông Hà", "parent": "000.00.97.H29"
            }] }),
            "agency 000.00.20.H29",
            "000.00.97.H29",
        ),
    ];
    for (mut file, entity, missing) in cases {
        let valid = json!({ "code": "000.00.50.H29", "name": "Xã Mới" });
        match file.get_mut("agencies").and_then(Value::as_array_mut) {
            Some(agencies) => agencies.push(valid),
            None => file["agencies"] = json!([valid]),
        }
        match store.apply(&registry(file), ACTOR).await {
            Err(StoreError::Invalid { what, detail }) => {
                assert_eq!(what, entity);
                assert!(detail.contains(missing), "{detail}");
                let message = StoreError::Invalid { what, detail }.to_string();
                assert!(
                    message.contains(entity) && message.contains(missing),
                    "{message}"
                );
            }
            other => panic!("{entity} should be refused, got {other:?}"),
        }
        let after = store.load_registry().await.expect("load after");
        assert_eq!(after, before, "a refused apply writes nothing");
        assert_eq!(log_head(store).await, head, "and logs nothing");
    }
}

async fn undeclared_entities_are_left_alone(store: &Store) {
    let (before_version, before) = store.load_registry().await.expect("load before");
    let file = registry(json!({
        "agencies": [{ "code": "000.00.03.H29", "name": "Sở Y tế", "parent": "000.00.00.H29" }]
    }));
    let report = store
        .apply(&file, ACTOR)
        .await
        .expect("apply a partial file");
    assert_eq!(report.created, ["agency 000.00.03.H29"]);
    assert!(
        report.updated.is_empty() && report.unchanged.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.version, before_version + 1);

    let (_, after) = store.load_registry().await.expect("load after");
    let mut expected = before;
    expected.agencies.extend(file.agencies);
    assert_eq!(after, sorted(expected));
}

async fn concurrent_applies_keep_every_bump(store: &Store) {
    let before = store.registry_version().await.expect("version");
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let file = registry(json!({
                    "agencies": [{
                        "code": format!("000.00.1{i}.H29"),
                        "name": format!("Xã số {i}"),
                        "parent": "000.00.00.H29"
                    }]
                }));
                store.apply(&file, ACTOR).await
            })
        })
        .collect();
    let mut versions = BTreeSet::new();
    for task in tasks {
        let report = task.await.expect("apply task").expect("concurrent apply");
        assert_eq!(report.created.len(), 1, "{report:?}");
        versions.insert(report.version);
    }
    let expected: BTreeSet<i64> = (before + 1..=before + 6).collect();
    assert_eq!(versions, expected, "each apply got its own version");
    assert_eq!(store.registry_version().await.expect("version"), before + 6);
}

async fn diacritics_survive(store: &Store) {
    let (_, loaded) = store.load_registry().await.expect("load");
    let names: BTreeSet<&str> = loaded.agencies.iter().map(|a| a.name.as_str()).collect();
    for name in [
        "Ủy ban nhân dân xã Hòa Bình",
        "Ủy ban nhân dân tỉnh Hà Tĩnh",
        "Sở Tư pháp tỉnh Hà Tĩnh",
        "Sở Y tế",
        "Xã số 5",
    ] {
        assert!(
            names.contains(name),
            "{name:?} should load unchanged from {names:?}"
        );
    }
    let system = loaded
        .systems
        .iter()
        .find(|s| s.slug.as_str() == "motcua-xa-a")
        .expect("motcua-xa-a is loaded");
    assert_eq!(system.name, "Một cửa xã Hòa Bình");
    assert!(
        loaded
            .services
            .iter()
            .any(|s| s.name == "Cơ sở dữ liệu quốc gia về dân cư"),
        "the updated service name should load unchanged"
    );
}

/// Test hashes: 64 hex digits derived from a seed (not real key material).
fn hex(seed: char) -> String {
    std::iter::repeat_n(seed, 64).collect()
}

/// The argon2id PHC string of a made-up secret.
const SECRET_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

/// A credential built in Rust.
fn credential(id: &str, system: &str, kind: CredentialKind, revoked: bool) -> Credential {
    Credential {
        id: Slug::parse(id).expect("credential id"),
        system: Slug::parse(system).expect("system slug"),
        kind,
        revoked,
    }
}

fn client_secret(client_id: &str, secret_hash: &str) -> CredentialKind {
    CredentialKind::ClientSecret {
        client_id: client_id.to_string(),
        secret_hash: secret_hash.to_string(),
    }
}

fn api_key(key_hash: String) -> CredentialKind {
    CredentialKind::ApiKey { key_hash }
}

fn certificate(fingerprint: String) -> CredentialKind {
    CredentialKind::Certificate { fingerprint }
}

fn with_credentials(credentials: Vec<Credential>) -> RegistryData {
    RegistryData {
        credentials,
        ..RegistryData::default()
    }
}

/// One credential of each kind, out of order, one of them revoked, as a file declares them.
fn credentials() -> RegistryData {
    registry(json!({
        "credentials": [
            {
                "id": "motcua-xa-a-key", "system": "motcua-xa-a",
                "kind": "api_key", "key_hash": hex('a')
            },
            {
                "id": "dvc-tinh-cert", "system": "dvc-tinh",
                "kind": "certificate", "fingerprint": hex('c'), "revoked": true
            },
            {
                "id": "motcua-xa-a-oauth", "system": "motcua-xa-a",
                "kind": "client_secret", "client_id": "motcua-xa-a", "secret_hash": SECRET_HASH
            }
        ]
    }))
}

/// Subscriptions with plans and purposes, out of order; `population` has two versions.
fn subscriptions() -> RegistryData {
    registry(json!({
        "subscriptions": [
            {
                "system": "motcua-xa-a", "service": "population", "state": "approved",
                "plan": { "rate_per_second": 2.5, "burst": 5, "daily_quota": 10000 },
                "purposes": ["khai-sinh", "ket-hon"]
            },
            { "system": "dvc-tinh", "service": "civil-status" },
            {
                "system": "motcua-xa-a", "service": "civil-status", "state": "rejected",
                "plan": { "rate_per_second": 0.5, "burst": 0 },
                "purposes": ["khai-tu"]
            }
        ]
    }))
}

fn policy(version: &str, cedar: &str) -> RegistryData {
    registry(json!({
        "policy": {
            "version": version,
            "cedar": cedar,
            "fields": "[population.khai-sinh]\nallow = [\"hoTen\"]\n"
        }
    }))
}

const CEDAR: &str = "permit (principal, action, resource) when { context.approved };";

/// Applies a file that must be refused for `entity`; checks that the message
/// names `needle`, leaks none of `secrets`, and that nothing was written.
async fn refused(store: &Store, file: &RegistryData, entity: &str, needle: &str, secrets: &[&str]) {
    let before = store.load_registry().await.expect("load before");
    let head = log_head(store).await;
    match store.apply(file, ACTOR).await {
        Err(StoreError::Invalid { what, detail }) => {
            assert_eq!(what, entity, "{detail}");
            assert!(detail.contains(needle), "{detail:?} should name {needle:?}");
            let message = StoreError::Invalid { what, detail }.to_string();
            for secret in secrets {
                assert!(!message.contains(secret), "{message:?} leaks {secret:?}");
            }
        }
        other => panic!("{entity} should be refused, got {other:?}"),
    }
    let after = store.load_registry().await.expect("load after");
    assert_eq!(after, before, "a refused apply writes nothing");
    assert_eq!(log_head(store).await, head, "and logs nothing");
}

async fn credentials_round_trip(store: &Store) {
    let before = store.registry_version().await.expect("version");
    let file = credentials();
    let report = store.apply(&file, ACTOR).await.expect("apply credentials");
    assert_eq!(set(&report.created), labels(&file));
    assert!(
        report
            .created
            .contains(&"credential motcua-xa-a-oauth".to_string())
    );
    assert_eq!(report.version, before + 1);

    let (_, loaded) = store.load_registry().await.expect("load");
    assert_eq!(loaded.credentials, sorted(file.clone()).credentials);
    let ids: Vec<&str> = loaded.credentials.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["dvc-tinh-cert", "motcua-xa-a-key", "motcua-xa-a-oauth"]
    );
    let oauth = &loaded.credentials[2];
    assert_eq!(oauth.kind, client_secret("motcua-xa-a", SECRET_HASH));
    assert!(loaded.credentials[0].revoked && !oauth.revoked);

    let again = store
        .apply(&file, ACTOR)
        .await
        .expect("re-apply credentials");
    assert_eq!(set(&again.unchanged), labels(&file));
    assert_eq!(again.version, before + 1);
}

async fn shared_lookups_are_refused(store: &Store) {
    // The same value as a stored credential of another id, for each kind; the
    // system differs too, which is what the unique lookup protects against.
    let cases = [
        (
            client_secret("motcua-xa-a", "$argon2id$other"),
            "client id",
            "motcua-xa-a-oauth",
        ),
        (api_key(hex('a')), "API key hash", "motcua-xa-a-key"),
        (
            certificate(hex('c')),
            "certificate fingerprint",
            "dvc-tinh-cert",
        ),
    ];
    let secrets = [hex('a'), hex('c'), hex('e'), SECRET_HASH.to_string()];
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for (kind, label, holder) in cases {
        // A valid new agency in the same file must not be written either.
        let mut file = with_credentials(vec![credential("intruder", "dvc-tinh", kind, false)]);
        file.agencies = registry(json!({
            "agencies": [{ "code": "000.00.51.H29", "name": "Xã Mới" }]
        }))
        .agencies;
        refused(store, &file, "credential intruder", holder, &secrets).await;
        let detail = match store.apply(&file, ACTOR).await {
            Err(StoreError::Invalid { detail, .. }) => detail,
            other => panic!("expected Invalid, got {other:?}"),
        };
        assert!(detail.contains(label), "{detail}");
        assert!(!detail.contains("$argon2id$other"), "{detail}");
    }

    // Two new credentials sharing one key hash within the same file.
    let file = with_credentials(vec![
        credential("twin-a", "dvc-tinh", api_key(hex('e')), false),
        credential("twin-b", "motcua-xa-a", api_key(hex('e')), false),
    ]);
    refused(store, &file, "credential twin-b", "twin-a", &secrets).await;

    // An unknown system is refused, and so is an empty lookup value.
    let file = with_credentials(vec![credential(
        "ghost-key",
        "ghost",
        certificate(hex('e')),
        false,
    )]);
    refused(store, &file, "credential ghost-key", "ghost", &secrets).await;
    let file = with_credentials(vec![credential(
        "blank",
        "dvc-tinh",
        api_key(" ".to_string()),
        false,
    )]);
    refused(store, &file, "credential blank", "empty", &secrets).await;
}

async fn lookups_may_move_between_credentials(store: &Store) {
    let before = store.registry_version().await.expect("version");
    let mut file = credentials();
    file.credentials
        .retain(|c| c.id.as_str() != "dvc-tinh-cert");
    file.credentials.push(credential(
        "dvc-tinh-key",
        "dvc-tinh",
        api_key(hex('b')),
        false,
    ));
    let report = store.apply(&file, ACTOR).await.expect("add a second key");
    assert_eq!(report.created, ["credential dvc-tinh-key"]);

    // Two stored credentials exchange their key hashes in one apply.
    let swap = |data: &mut RegistryData| {
        for credential in &mut data.credentials {
            let hash = match credential.id.as_str() {
                "motcua-xa-a-key" => hex('b'),
                "dvc-tinh-key" => hex('a'),
                _ => continue,
            };
            credential.kind = api_key(hash);
        }
    };
    let mut swapped = file.clone();
    swap(&mut swapped);
    let head = log_head(store).await;
    let report = store
        .apply(&swapped, ACTOR)
        .await
        .expect("swap two key hashes");
    // Only the hashes changed; redacted, both sides read the same, so the
    // entry says that a secret changed.
    let entries = log_after(store, head).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    for entry in &entries {
        let (before, after) = (parsed(&entry.before), parsed(&entry.after));
        let (before, after) = (before.expect("before"), after.expect("after"));
        assert_eq!(
            (before["key_hash"].as_str(), after["key_hash"].as_str()),
            (Some("***"), Some("***"))
        );
        assert_eq!(after["secret_changed"], json!(true), "{entry:?}");
    }
    assert_eq!(
        set(&report.updated),
        set(&[
            "credential dvc-tinh-key".to_string(),
            "credential motcua-xa-a-key".to_string()
        ])
    );
    assert_eq!(report.version, before + 2);

    // And back, so that later checks find the first assignment.
    let report = store.apply(&file, ACTOR).await.expect("swap back");
    assert_eq!(report.updated.len(), 2, "{report:?}");
    let (_, loaded) = store.load_registry().await.expect("load");
    let key = loaded
        .credentials
        .iter()
        .find(|c| c.id.as_str() == "dvc-tinh-key")
        .expect("dvc-tinh-key is loaded");
    assert_eq!(key.kind, api_key(hex('b')));
}

async fn subscriptions_round_trip(store: &Store) {
    let before = store.registry_version().await.expect("version");
    let file = subscriptions();
    let report = store
        .apply(&file, ACTOR)
        .await
        .expect("apply subscriptions");
    assert_eq!(set(&report.created), labels(&file));
    assert!(
        report
            .created
            .contains(&"subscription motcua-xa-a/population".to_string())
    );
    assert_eq!(report.version, before + 1);

    let (_, loaded) = store.load_registry().await.expect("load");
    assert_eq!(loaded.subscriptions, sorted(file.clone()).subscriptions);
    let keys: Vec<String> = loaded
        .subscriptions
        .iter()
        .map(|s| format!("{}/{}", s.system, s.service))
        .collect();
    assert_eq!(
        keys,
        [
            "dvc-tinh/civil-status",
            "motcua-xa-a/civil-status",
            "motcua-xa-a/population"
        ]
    );
    let population = &loaded.subscriptions[2];
    assert_eq!(population.state, SubscriptionState::Approved);
    assert_eq!(population.plan.rate_per_second, 2.5);
    assert_eq!(population.plan.burst, 5);
    assert_eq!(population.plan.daily_quota, Some(10000));
    assert_eq!(population.purposes, ["khai-sinh", "ket-hon"]);
    let defaulted = &loaded.subscriptions[0];
    assert_eq!(defaulted.state, SubscriptionState::Requested);
    assert!(defaulted.purposes.is_empty());

    let again = store
        .apply(&file, ACTOR)
        .await
        .expect("re-apply subscriptions");
    assert_eq!(set(&again.unchanged), labels(&file));
    assert_eq!(again.version, before + 1);

    let mut changed = file.clone();
    changed.subscriptions[1]
        .purposes
        .push("chung-thuc".to_string());
    let report = store
        .apply(&changed, ACTOR)
        .await
        .expect("update a subscription");
    assert_eq!(report.updated, ["subscription dvc-tinh/civil-status"]);
    assert_eq!(report.version, before + 2);
    store
        .apply(&file, ACTOR)
        .await
        .expect("restore the subscription");
}

async fn invalid_subscriptions_are_refused(store: &Store) {
    let with_new_agency = |subscription: Value| {
        registry(json!({
            "agencies": [{ "code": "000.00.52.H29", "name": "Xã Mới" }],
            "subscriptions": [subscription]
        }))
    };
    let file = with_new_agency(json!({ "system": "motcua-xa-a", "service": "land" }));
    refused(store, &file, "subscription motcua-xa-a/land", "land", &[]).await;
    let file = with_new_agency(json!({ "system": "ghost", "service": "population" }));
    refused(store, &file, "subscription ghost/population", "ghost", &[]).await;
    let file = with_new_agency(
        json!({ "system": "dvc-tinh", "service": "population", "purposes": ["khai-sinh", ""] }),
    );
    refused(
        store,
        &file,
        "subscription dvc-tinh/population",
        "purpose",
        &[],
    )
    .await;
    for rate in [json!(0), json!(-1.5)] {
        let file = with_new_agency(json!({
            "system": "dvc-tinh", "service": "population",
            "plan": { "rate_per_second": rate, "burst": 1 }
        }));
        refused(
            store,
            &file,
            "subscription dvc-tinh/population",
            "rate_per_second",
            &[],
        )
        .await;
    }
    // JSON has no NaN or infinity, but a caller building the data in Rust can.
    for rate in [f64::NAN, f64::INFINITY] {
        let mut file = with_new_agency(json!({ "system": "dvc-tinh", "service": "population" }));
        file.subscriptions[0].plan.rate_per_second = rate;
        refused(
            store,
            &file,
            "subscription dvc-tinh/population",
            "rate_per_second",
            &[],
        )
        .await;
    }

    // A service or system declared in the same file is enough.
    let file = registry(json!({
        "systems": [{ "slug": "hcc-huyen", "agency": "000.00.00.H29", "name": "Hành chính công" }],
        "services": [{
            "slug": "land", "version": "v3", "name": "Đất đai",
            "owner": "000.00.00.H29", "upstream": { "url": "http://127.0.0.1:9/land" }
        }],
        "subscriptions": [{ "system": "hcc-huyen", "service": "land" }]
    }));
    let report = store
        .apply(&file, ACTOR)
        .await
        .expect("references within the file");
    assert_eq!(report.created.len(), 3, "{report:?}");
}

async fn policy_bundles_are_versioned(store: &Store) {
    let (before, loaded) = store.load_registry().await.expect("load");
    assert_eq!(loaded.policy, None, "no policy until one is applied");

    let first = policy("2026-01-01.1", CEDAR);
    let report = store.apply(&first, ACTOR).await.expect("apply a policy");
    assert_eq!(report.created, ["policy 2026-01-01.1"]);
    assert_eq!(report.version, before + 1);
    let (_, loaded) = store.load_registry().await.expect("load");
    assert_eq!(loaded.policy, first.policy, "the applied bundle is active");

    let again = store
        .apply(&first, ACTOR)
        .await
        .expect("re-apply the policy");
    assert_eq!(again.unchanged, ["policy 2026-01-01.1"]);
    assert!(again.created.is_empty() && again.updated.is_empty());
    assert_eq!(again.version, before + 1);

    let tampered = policy("2026-01-01.1", "forbid (principal, action, resource);");
    refused(store, &tampered, "policy 2026-01-01.1", "immutable", &[]).await;

    let second = policy("2026-02-01.1", "forbid (principal, action, resource);");
    let report = store
        .apply(&second, ACTOR)
        .await
        .expect("apply a new version");
    assert_eq!(report.created, ["policy 2026-02-01.1"]);
    assert_eq!(report.version, before + 2);
    let (_, loaded) = store.load_registry().await.expect("load");
    assert_eq!(loaded.policy, second.policy, "the new version is active");

    // Declaring a stored older version again rolls back to it, which the
    // log shows as a switch of the bundle in force.
    let head = log_head(store).await;
    let report = store.apply(&first, ACTOR).await.expect("roll back");
    assert_eq!(report.updated, ["policy 2026-01-01.1"]);
    let entries = log_after(store, head).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (
            entries[0].action.as_str(),
            entries[0].before.as_deref(),
            entries[0].after.as_deref()
        ),
        (
            "activate",
            Some(r#"{"active_policy":"2026-02-01.1"}"#),
            Some(r#"{"active_policy":"2026-01-01.1"}"#)
        )
    );
    assert_eq!(report.version, before + 3);
    let (_, loaded) = store.load_registry().await.expect("load");
    assert_eq!(loaded.policy, first.policy);

    // A file without a policy leaves the active one alone.
    let report = store
        .apply(&RegistryData::default(), ACTOR)
        .await
        .expect("apply nothing");
    assert_eq!(report.version, before + 3);
    let (_, loaded) = store.load_registry().await.expect("load");
    assert_eq!(loaded.policy, first.policy);
}

async fn state_changes_bump_the_version(store: &Store) {
    let before = store.registry_version().await.expect("version");
    let head = log_head(store).await;
    let found = store
        .set_subscription_state(
            "dvc-tinh",
            "civil-status",
            SubscriptionState::Approved,
            ACTOR,
        )
        .await
        .expect("approve");
    assert!(found);
    let (version, loaded) = store.load_registry().await.expect("load");
    assert_eq!(version, before + 1);
    let subscription = loaded
        .subscriptions
        .iter()
        .find(|s| s.system.as_str() == "dvc-tinh" && s.service.as_str() == "civil-status")
        .expect("dvc-tinh/civil-status is loaded");
    assert_eq!(subscription.state, SubscriptionState::Approved);
    let entries = log_after(store, head).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].action.as_str(), entries[0].entity.as_str()),
        ("set_state", "subscription dvc-tinh/civil-status")
    );
    let (before_state, after_state) = (parsed(&entries[0].before), parsed(&entries[0].after));
    assert_eq!(before_state.expect("before")["state"], json!("requested"));
    assert_eq!(after_state.expect("after")["state"], json!("approved"));

    let same = store
        .set_subscription_state(
            "dvc-tinh",
            "civil-status",
            SubscriptionState::Approved,
            ACTOR,
        )
        .await
        .expect("approve again");
    assert!(same);
    assert_eq!(store.registry_version().await.expect("version"), before + 1);
    let missing = store
        .set_subscription_state("dvc-tinh", "land", SubscriptionState::Approved, ACTOR)
        .await
        .expect("approve a missing subscription");
    assert!(!missing);
    assert_eq!(store.registry_version().await.expect("version"), before + 1);
    assert_eq!(log_head(store).await, head + 1, "no change, no entry");

    assert!(
        store
            .revoke_credential("motcua-xa-a-key", ACTOR)
            .await
            .expect("revoke")
    );
    let (version, loaded) = store.load_registry().await.expect("load");
    assert_eq!(version, before + 2);
    let key = loaded
        .credentials
        .iter()
        .find(|c| c.id.as_str() == "motcua-xa-a-key")
        .expect("motcua-xa-a-key is loaded");
    assert!(key.revoked);
    let entries = log_after(store, head + 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0].action.as_str(), entries[0].entity.as_str()),
        ("revoke", "credential motcua-xa-a-key")
    );
    let (before_key, after_key) = (parsed(&entries[0].before), parsed(&entries[0].after));
    let (before_key, after_key) = (before_key.expect("before"), after_key.expect("after"));
    assert_eq!(
        (before_key["revoked"].clone(), after_key["revoked"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(after_key["key_hash"], json!("***"));
    assert!(after_key.get("secret_changed").is_none(), "{after_key}");
    assert!(
        store
            .revoke_credential("motcua-xa-a-key", ACTOR)
            .await
            .expect("revoke again")
    );
    assert!(
        !store
            .revoke_credential("nobody", ACTOR)
            .await
            .expect("revoke a missing credential")
    );
    assert_eq!(store.registry_version().await.expect("version"), before + 2);
    assert_eq!(log_head(store).await, head + 2, "no change, no entry");

    // Applying the file again restores what it declares, in one bump.
    let mut file = credentials();
    file.subscriptions = subscriptions().subscriptions;
    let report = store.apply(&file, ACTOR).await.expect("re-apply the file");
    assert_eq!(
        set(&report.updated),
        set(&[
            "credential motcua-xa-a-key".to_string(),
            "subscription dvc-tinh/civil-status".to_string()
        ])
    );
    assert_eq!(report.version, before + 3);
}

/// Everything the suite declared, as one file.
fn full_registry() -> RegistryData {
    let mut file = province();
    for service in &mut file.services {
        if service.slug.as_str() == "population" && service.version == "v1" {
            service.state = ServiceState::Deprecated;
            service.name = "Cơ sở dữ liệu quốc gia về dân cư".to_string();
            service.upstream.timeout_ms = Some(2500);
        }
    }
    file.credentials = credentials().credentials;
    file.subscriptions = subscriptions().subscriptions;
    file.policy = policy("2026-01-01.1", CEDAR).policy;
    file
}

async fn full_registry_reapply_is_unchanged(store: &Store) {
    let before = store.registry_version().await.expect("version");
    let file = full_registry();
    let report = store
        .apply(&file, ACTOR)
        .await
        .expect("apply the full registry");
    assert!(
        report.created.is_empty() && report.updated.is_empty(),
        "{report:?}"
    );
    assert_eq!(set(&report.unchanged), labels(&file));
    assert_eq!(report.version, before);
    let again = store.apply(&file, ACTOR).await.expect("apply it again");
    assert_eq!(again, report);
}

async fn access_survives(store: &Store) {
    let (_, loaded) = store.load_registry().await.expect("load");
    let file = full_registry();
    for credential in &file.credentials {
        assert!(loaded.credentials.contains(credential), "{credential:?}");
    }
    for subscription in &file.subscriptions {
        assert!(
            loaded.subscriptions.contains(subscription),
            "{subscription:?}"
        );
    }
    assert_eq!(loaded.policy, file.policy);
}

/// The argon2id PHC string of a made-up account password.
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$YWNjb3VudHNhbHQ$YWNjb3VudGhhc2hoYXNo";

async fn admin_changes_are_chained(store: &Store, url: &str) {
    // Accounts: created, disabled, enabled; one entry each, no password hash.
    let head = log_head(store).await;
    let admin = "admin:quantri";
    store
        .create_account("thanhtra", Role::Auditor, None, PASSWORD_HASH, admin)
        .await
        .expect("create an account");
    let entries = log_after(store, head).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let created = &entries[0];
    assert_eq!(
        (
            created.actor.as_str(),
            created.action.as_str(),
            created.entity.as_str()
        ),
        (admin, "create_account", "account thanhtra")
    );
    assert_eq!(created.before, None);
    let after = parsed(&created.after).expect("after");
    assert_eq!(
        (&after["role"], &after["disabled"]),
        (&json!("auditor"), &json!(false))
    );
    assert!(after.get("password_hash").is_none(), "{after}");
    let duplicate = store
        .create_account("thanhtra", Role::Operator, None, PASSWORD_HASH, admin)
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Invalid { .. })),
        "{duplicate:?}"
    );
    for (username, disabled, found) in [
        ("thanhtra", true, true),
        ("thanhtra", true, true),
        ("nobody", true, false),
        ("thanhtra", false, true),
    ] {
        let exists = store
            .set_account_disabled(username, disabled, admin)
            .await
            .expect("set disabled");
        assert_eq!(exists, found, "{username}");
    }
    let entries = log_after(store, head + 1).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["disable_account", "enable_account"],
        "{entries:?}"
    );
    let disabled =
        |column: &Option<String>| parsed(column).expect("both sides")["disabled"].clone();
    assert_eq!(
        (disabled(&entries[0].before), disabled(&entries[0].after)),
        (json!(false), json!(true))
    );

    // A change nobody can be named for is refused, and nothing is written.
    let head = log_head(store).await;
    let file = registry(json!({ "agencies": [{ "code": "000.00.53.H29", "name": "Xã Vô Danh" }] }));
    match store.apply(&file, " ").await {
        Err(StoreError::Invalid { what, .. }) => assert_eq!(what, "actor"),
        other => panic!("an empty actor should be refused, got {other:?}"),
    }
    let (_, loaded) = store.load_registry().await.expect("load");
    assert!(
        loaded
            .agencies
            .iter()
            .all(|a| a.code.as_str() != "000.00.53.H29")
    );
    assert_eq!(log_head(store).await, head);

    // No secret reaches the log, though many were written, swapped and revoked.
    let entries = log(store).await;
    let secrets = [
        SECRET_HASH.to_string(),
        hex('a'),
        hex('b'),
        PASSWORD_HASH.to_string(),
    ];
    for entry in &entries {
        for text in [&entry.before, &entry.after].into_iter().flatten() {
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "seq {} leaks a secret: {text}",
                    entry.seq
                );
            }
        }
    }
    let oauth = entries
        .iter()
        .find(|e| e.entity == "credential motcua-xa-a-oauth")
        .and_then(|e| parsed(&e.after))
        .expect("the OAuth credential is logged");
    assert_eq!(oauth["secret_hash"], json!("***"));
    assert_eq!(
        oauth["client_id"],
        json!("motcua-xa-a"),
        "only secrets are redacted"
    );

    // The chain verifies, concurrent applies included, alone and in verify_store.
    let report = verify_admin_changes(store).await.expect("verify");
    assert_eq!(report.first_break, None, "{report:?}");
    let count = entries.len() as i64;
    assert_eq!((report.records, report.head_seq), (count as u64, count));
    let all = verify_store(store, None).await.expect("verify the store");
    assert!(all.ok, "{all:?}");
    let chain = all
        .chains
        .iter()
        .find(|chain| chain.chain == "admin-changes")
        .expect("verify_store reports the admin-change chain");
    assert_eq!(chain, &report);

    // Tampering through SQL, behind the store's back: an edited entry...
    sqlx::any::install_default_drivers();
    let mut raw = AnyConnection::connect(url).await.expect("raw connection");
    let target = entries[entries.len() / 2].clone();
    sqlx::query("UPDATE admin_changes SET after = $1 WHERE seq = $2")
        .bind(r#"{"forged":true}"#.to_string())
        .bind(target.seq)
        .execute(&mut raw)
        .await
        .expect("edit an entry");
    let found = verify_admin_changes(store).await.expect("verify");
    let edited = found.first_break.expect("an edited entry breaks the chain");
    assert_eq!(
        (edited.kind, edited.seq, edited.record_id),
        (
            BreakKind::EditedRecord,
            target.seq,
            Some(format!("admin-change-{}", target.seq))
        )
    );
    assert!(
        !verify_store(store, None)
            .await
            .expect("verify the store")
            .ok
    );
    sqlx::query("UPDATE admin_changes SET after = $1 WHERE seq = $2")
        .bind(target.after.clone())
        .bind(target.seq)
        .execute(&mut raw)
        .await
        .expect("restore the entry");
    assert_eq!(
        verify_admin_changes(store)
            .await
            .expect("verify")
            .first_break,
        None
    );

    // ...and a deleted one, put back afterwards exactly as it was.
    sqlx::query("DELETE FROM admin_changes WHERE seq = $1")
        .bind(target.seq)
        .execute(&mut raw)
        .await
        .expect("delete an entry");
    let found = verify_admin_changes(store).await.expect("verify");
    let missing = found.first_break.expect("a deleted entry breaks the chain");
    assert_eq!(
        (missing.kind, missing.seq, missing.record_id),
        (
            BreakKind::MissingRecord,
            target.seq,
            Some(format!("admin-change-{}", target.seq + 1))
        )
    );
    assert!(
        !verify_store(store, None)
            .await
            .expect("verify the store")
            .ok
    );
    sqlx::query(
        "INSERT INTO admin_changes \
         (seq, changed_at, actor, action, entity, before, after, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(target.seq)
    .bind(target.changed_at)
    .bind(target.actor.clone())
    .bind(target.action.clone())
    .bind(target.entity.clone())
    .bind(target.before.clone())
    .bind(target.after.clone())
    .bind(target.prev_hash.clone())
    .bind(target.hash.clone())
    .execute(&mut raw)
    .await
    .expect("put the entry back");
    raw.close().await.expect("close the raw connection");
    let restored = verify_admin_changes(store).await.expect("verify");
    assert_eq!(restored, report, "the restored chain verifies as before");
}
