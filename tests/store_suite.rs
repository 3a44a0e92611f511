//! The store suite: one set of checks written against `Store`, run on SQLite
//! (a temporary file) and on PostgreSQL (a fresh schema, dropped afterwards).
//!
//! PostgreSQL is `LGSP_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached the
//! test fails and says how to start it, unless `LGSP_SKIP_POSTGRES=1`.

use std::collections::BTreeSet;

use lgsp_gateway::registry::model::{RegistryData, ServiceState};
use lgsp_gateway::store::{ApplyReport, Backend, Store, StoreError, StoreOptions};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const START_POSTGRES: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

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
        "agencies",
        "registry_meta",
        "services",
        "systems",
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
    store.close().await;

    // Opening again runs the migrator again, which must find nothing to do,
    // and the data must have been durably written.
    let reopened = Store::open(url, &options)
        .await
        .expect("reopen: applied migrations are skipped");
    reopened.ping().await.expect("ping after reopen");
    diacritics_survive(&reopened).await;
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
    agencies.chain(systems).chain(services).collect()
}

fn set(list: &[String]) -> BTreeSet<String> {
    list.iter().cloned().collect()
}

async fn empty_registry_is_version_zero(store: &Store) {
    assert_eq!(store.registry_version().await.expect("version"), 0);
    let (version, data) = store.load_registry().await.expect("load");
    assert_eq!(version, 0);
    assert_eq!(data, RegistryData::default());

    let report = store
        .apply(&RegistryData::default())
        .await
        .expect("apply nothing");
    assert_eq!(
        report,
        ApplyReport::default(),
        "applying nothing changes nothing"
    );
}

async fn apply_creates_then_reapply_is_unchanged(store: &Store) {
    let file = province();
    let report = store.apply(&file).await.expect("first apply");
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

    let again = store.apply(&file).await.expect("re-apply");
    assert!(
        again.created.is_empty() && again.updated.is_empty(),
        "{again:?}"
    );
    assert_eq!(set(&again.unchanged), labels(&file));
    assert_eq!(again.version, 1, "an idempotent apply keeps the version");
    assert_eq!(store.registry_version().await.expect("version"), 1);
}

async fn update_bumps_the_version_once(store: &Store) {
    let mut file = province();
    for service in &mut file.services {
        if service.slug.as_str() == "population" && service.version == "v1" {
            service.state = ServiceState::Deprecated;
            service.name = "Cơ sở dữ liệu quốc gia về dân cư".to_string();
            service.upstream.timeout_ms = Some(2500);
        }
    }
    let report = store.apply(&file).await.expect("apply an update");
    assert_eq!(report.updated, ["service population/v1"]);
    assert!(report.created.is_empty(), "{report:?}");
    assert_eq!(report.unchanged.len(), labels(&file).len() - 1);
    assert_eq!(report.version, 2, "one apply, one bump");

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
        match store.apply(&registry(file)).await {
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
    }
}

async fn undeclared_entities_are_left_alone(store: &Store) {
    let (before_version, before) = store.load_registry().await.expect("load before");
    let file = registry(json!({
        "agencies": [{ "code": "000.00.03.H29", "name": "Sở Y tế", "parent": "000.00.00.H29" }]
    }));
    let report = store.apply(&file).await.expect("apply a partial file");
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
                store.apply(&file).await
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
