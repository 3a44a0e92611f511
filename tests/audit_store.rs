//! The audit log against a real store: group commit under concurrency,
//! restart, backpressure, async mode, commit failures, and verification
//! naming the spot of each tampering done with direct SQL, run on SQLite (a
//! temporary file) and on PostgreSQL (a fresh schema, dropped afterwards).
//!
//! PostgreSQL is `LGSP_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. When it cannot be reached the
//! test fails and says how to start it, unless `LGSP_SKIP_POSTGRES=1`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use lgsp_gateway::audit::{
    Appended, AuditError, AuditRecord, AuditSigner, AuditWriter, Break, BreakKind, NewRecord,
    Outcome, Subject, SubjectKey, SubjectKind, VerifyReport, WriterSettings, export_store,
    verify_export, verify_store,
};
use lgsp_gateway::store::{Backend, Store, StoreOptions};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Executor, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const START_POSTGRES: &str =
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/// Records in the main chain, written by [`TASKS`] concurrent tasks.
const RECORDS: usize = 1000;
/// Concurrent appenders.
const TASKS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("lgsp.db").display());
    run_suite(url, Backend::Sqlite).await;
    println!("sqlite audit store suite passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if std::env::var("LGSP_SKIP_POSTGRES").is_ok_and(|value| value == "1") {
        println!("skipped the PostgreSQL audit suite: LGSP_SKIP_POSTGRES=1");
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
    let schema = format!("lgsp_audit_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create the test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");

    // Run on another task so that a failed check still reaches the DROP below.
    let outcome = tokio::spawn(run_suite(url, Backend::Postgres)).await;
    let dropped = admin
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await;
    let _ = admin.close().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the PostgreSQL audit suite did not finish: {error}"),
        }
    }
    dropped.expect("drop the test schema");
    println!("postgres audit store suite passed in schema {schema}");
}

/// What every check needs.
struct Env {
    store: Store,
    /// A second pool on the same database, playing the attacker with direct SQL.
    raw: AnyPool,
    backend: Backend,
    signer: Arc<AuditSigner>,
    subjects: SubjectKey,
    _keys: tempfile::TempDir,
}

impl Env {
    fn key(&self) -> Option<&str> {
        Some(self.signer.public_key_b64())
    }
}

/// Every check, in order, on one backend.
async fn run_suite(url: String, backend: Backend) {
    let store = Store::open(&url, &StoreOptions::default())
        .await
        .expect("open the store");
    assert_eq!(store.backend(), backend);
    sqlx::any::install_default_drivers();
    let raw = AnyPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("open a second pool");
    let keys = tempfile::tempdir().expect("key dir");
    let signer = Arc::new(AuditSigner::load_or_create(keys.path()).expect("audit key"));
    let env = Env {
        store,
        raw,
        backend,
        signer,
        subjects: SubjectKey::from_bytes([7; 32]).expect("subject key"),
        _keys: keys,
    };

    concurrent_appends_are_durable_and_contiguous(&env).await;
    a_restarted_writer_continues_the_chain(&env).await;
    export_round_trips_and_a_tampered_line_fails(&env).await;
    edited_field_is_named(&env).await;
    deleted_row_is_named(&env).await;
    swapped_pair_is_named(&env).await;
    inserted_row_is_named(&env).await;
    truncated_tail_is_named(&env).await;
    forged_checkpoint_is_named(&env).await;
    full_queue_is_refused_not_awaited(&env).await;
    async_mode_returns_before_commit_but_commits(&env).await;
    failed_commit_fails_its_batch_and_the_writer_goes_on(&env).await;

    // The tampering stayed in its own chains: the main chain still verifies,
    // and the store's and an export's verdicts agree chain by chain.
    let report = verify(&env).await;
    let main = report
        .chains
        .iter()
        .find(|chain| chain.chain == "main")
        .expect("main chain");
    assert_eq!(main.first_break, None, "{main:?}");
    assert_eq!((main.records, main.head_seq), (1001, 1001));
    let mut exported = Vec::new();
    export_store(&env.store, &mut exported)
        .await
        .expect("export");
    let from_export = verify_export(exported.as_slice(), env.key()).expect("verify export");
    assert_eq!(from_export, report);
    println!(
        "{backend}: {} chains verified, breaks found in {}",
        report.chains.len(),
        report
            .chains
            .iter()
            .filter(|chain| chain.first_break.is_some())
            .count()
    );
    env.raw.close().await;
    env.store.close().await;
}

/// An exchange as the pipeline would describe it; `n` varies the fields.
fn exchange(env: &Env, n: usize) -> NewRecord {
    NewRecord {
        request_id: format!("req-{n}"),
        trace_id: format!("{n:032x}"),
        client_ip: "10.0.0.7".into(),
        system: Some("motcua-xa-a".into()),
        agency: Some("000.00.00.H29".into()),
        auth_method: Some("bearer".into()),
        officer: Some(format!("officer-{}", n % 7)),
        purpose: Some("HS-01".into()),
        dossier: Some(format!("000.00.01.H29-240101-{n:04}")),
        service: "dan-cu".into(),
        version: "v1".into(),
        operation: Some("/citizens/{soDinhDanh}".into()),
        method: "GET".into(),
        subject: Some(Subject {
            kind: SubjectKind::PersonalId,
            hash: env
                .subjects
                .hash(SubjectKind::PersonalId, &format!("0010990{n:05}")),
        }),
        outcome: if n.is_multiple_of(10) {
            Outcome::Refused
        } else {
            Outcome::Allowed
        },
        status: if n.is_multiple_of(10) { 403 } else { 200 },
        error_code: (n.is_multiple_of(10)).then(|| "forbidden".to_string()),
        upstream_status: (!n.is_multiple_of(10)).then_some(200),
        latency: Duration::from_micros(800 + n as u64),
        request_bytes: 0,
        response_bytes: 512,
        request_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        response_sha256: "cd".repeat(32),
        reuse: None,
        contract_violation: None,
    }
}

fn settings(chain: &str) -> WriterSettings {
    let mut settings = WriterSettings::new(chain);
    settings.checkpoint_every = 100;
    settings
}

async fn verify(env: &Env) -> VerifyReport {
    verify_store(&env.store, env.key()).await.expect("verify")
}

/// The first break of `chain`, which must have one.
async fn break_of(env: &Env, chain: &str, key: Option<&str>) -> Break {
    let report = verify_store(&env.store, key).await.expect("verify");
    assert!(!report.ok, "verification must fail after tampering {chain}");
    let chain_report = report
        .chains
        .into_iter()
        .find(|report| report.chain == chain)
        .expect("chain report");
    chain_report
        .first_break
        .unwrap_or_else(|| panic!("chain {chain} should be broken"))
}

/// Writes `n` records one after another into `chain`, checkpointing every
/// 10th, and returns the records as stored.
async fn small_chain(env: &Env, chain: &str, n: usize) -> Vec<AuditRecord> {
    let mut settings = settings(chain);
    settings.checkpoint_every = 10;
    let (writer, handle) = AuditWriter::start(env.store.clone(), env.signer.clone(), settings)
        .await
        .expect("start");
    for i in 0..n {
        writer.append(exchange(env, i)).await.expect("append");
    }
    handle.shutdown().await;
    let records = env
        .store
        .audit_records_after(chain, 0, 1000)
        .await
        .expect("read back");
    assert_eq!(records.len(), n);
    let checkpoints: Vec<i64> = env
        .store
        .audit_checkpoints_after(chain, 0, 100)
        .await
        .expect("checkpoints")
        .iter()
        .map(|cp| cp.seq)
        .collect();
    assert_eq!(checkpoints, [10, 20, 30]);
    let report = verify(env).await;
    let fresh = report
        .chains
        .iter()
        .find(|r| r.chain == chain)
        .expect("chain");
    assert_eq!(fresh.first_break, None, "{chain} verifies before tampering");
    records
}

async fn sql(env: &Env, statement: &str, chain: &str) {
    sqlx::query(statement)
        .bind(chain)
        .execute(&env.raw)
        .await
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
}

async fn count(env: &Env, chain: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_records WHERE chain = $1")
        .bind(chain)
        .fetch_one(&env.raw)
        .await
        .expect("count")
}

async fn concurrent_appends_are_durable_and_contiguous(env: &Env) {
    let (writer, handle) =
        AuditWriter::start(env.store.clone(), env.signer.clone(), settings("main"))
            .await
            .expect("start");
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let writer = writer.clone();
        let records: Vec<NewRecord> = (0..RECORDS / TASKS)
            .map(|i| exchange(env, task * 1000 + i))
            .collect();
        let raw = env.raw.clone();
        tasks.push(tokio::spawn(async move {
            let mut appended = Vec::new();
            for record in records {
                let done: Appended = writer.append(record).await.expect("append");
                appended.push(done);
            }
            // Durable means durable on return: another connection sees it.
            let last = appended.last().expect("appended");
            let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_records WHERE id = $1")
                .bind(&last.id)
                .fetch_one(&raw)
                .await
                .expect("look up");
            assert_eq!(
                seen, 1,
                "record {} is committed when append returns",
                last.id
            );
            appended
        }));
    }
    let mut seqs = Vec::new();
    let mut ids = BTreeSet::new();
    for task in tasks {
        for appended in task.await.expect("task") {
            seqs.push(appended.seq.expect("durable mode knows the seq"));
            assert!(appended.hash.is_some());
            ids.insert(appended.id);
        }
    }
    seqs.sort_unstable();
    let expected: Vec<i64> = (1..=RECORDS as i64).collect();
    assert_eq!(seqs, expected, "seq 1..{RECORDS} without gap or repeat");
    assert_eq!(ids.len(), RECORDS);
    handle.shutdown().await;

    assert_eq!(count(env, "main").await, RECORDS as i64);
    let report = verify(env).await;
    assert!(report.ok, "{report:?}");
    let main = &report.chains[0];
    assert_eq!(
        (main.chain.as_str(), main.records),
        ("main", RECORDS as u64)
    );
    // A checkpoint follows the batch that reaches 100 records since the last
    // one, so with load-sized batches (up to batch_size) they come every 100
    // to 100 + batch_size records, plus the one at shutdown.
    let most_apart = 100 + settings("main").batch_size as u64;
    assert!(
        main.checkpoints >= RECORDS as u64 / most_apart && main.checkpoints <= 11,
        "every 100 records: {main:?}"
    );
}

async fn a_restarted_writer_continues_the_chain(env: &Env) {
    let (writer, handle) =
        AuditWriter::start(env.store.clone(), env.signer.clone(), settings("main"))
            .await
            .expect("restart");
    let appended = writer.append(exchange(env, 1)).await.expect("append");
    assert_eq!(appended.seq, Some(RECORDS as i64 + 1));
    handle.shutdown().await;
    let report = verify(env).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.chains[0].head_seq, RECORDS as i64 + 1);
    assert_eq!(
        env.store
            .audit_last_checkpoint_seq("main")
            .await
            .expect("read"),
        Some(RECORDS as i64 + 1),
        "shutdown signs the head"
    );
}

async fn export_round_trips_and_a_tampered_line_fails(env: &Env) {
    let mut exported = Vec::new();
    let summary = export_store(&env.store, &mut exported)
        .await
        .expect("export");
    assert_eq!((summary.chains, summary.records), (1, RECORDS as u64 + 1));
    let report = verify_export(exported.as_slice(), env.key()).expect("verify export");
    assert!(report.ok, "{report:?}");
    assert_eq!(report, verify(env).await, "export and store agree");

    let text = String::from_utf8(exported).expect("utf-8");
    let target = text
        .lines()
        .find(|line| line.contains(r#""type":"record""#) && line.contains(r#""seq":500,"#))
        .expect("line of seq 500");
    let tampered = target.replacen(r#""response_bytes":512"#, r#""response_bytes":0"#, 1);
    assert_ne!(tampered, target);
    let tampered_text = text.replacen(target, &tampered, 1);
    let report = verify_export(tampered_text.as_bytes(), env.key()).expect("verify export");
    let found = report.chains[0].first_break.clone().expect("a break");
    assert_eq!((found.kind, found.seq), (BreakKind::EditedRecord, 500));

    let broken_json = text.replacen(target, &target[..target.len() / 2], 1);
    assert!(matches!(
        verify_export(broken_json.as_bytes(), env.key()),
        Err(AuditError::Export { .. })
    ));
}

async fn edited_field_is_named(env: &Env) {
    let records = small_chain(env, "t-edit", 30).await;
    sql(
        env,
        "UPDATE audit_records SET officer = 'mallory' WHERE chain = $1 AND seq = 7",
        "t-edit",
    )
    .await;
    let found = break_of(env, "t-edit", env.key()).await;
    assert_eq!(
        (found.kind, found.seq, found.record_id.as_deref()),
        (BreakKind::EditedRecord, 7, Some(records[6].id.as_str())),
        "{found:?}"
    );
}

async fn deleted_row_is_named(env: &Env) {
    let records = small_chain(env, "t-delete", 30).await;
    sql(
        env,
        "DELETE FROM audit_records WHERE chain = $1 AND seq = 12",
        "t-delete",
    )
    .await;
    let found = break_of(env, "t-delete", env.key()).await;
    assert_eq!(
        (found.kind, found.seq, found.record_id.as_deref()),
        (BreakKind::MissingRecord, 12, Some(records[12].id.as_str())),
        "{found:?}"
    );
}

async fn swapped_pair_is_named(env: &Env) {
    let records = small_chain(env, "t-swap", 30).await;
    for statement in [
        "UPDATE audit_records SET seq = -1 WHERE chain = $1 AND seq = 15",
        "UPDATE audit_records SET seq = 15 WHERE chain = $1 AND seq = 16",
        "UPDATE audit_records SET seq = 16 WHERE chain = $1 AND seq = -1",
    ] {
        sql(env, statement, "t-swap").await;
    }
    let found = break_of(env, "t-swap", env.key()).await;
    assert_eq!(
        (found.kind, found.seq, found.record_id.as_deref()),
        (BreakKind::BrokenLink, 15, Some(records[15].id.as_str())),
        "{found:?}"
    );
}

async fn inserted_row_is_named(env: &Env) {
    let records = small_chain(env, "t-insert", 30).await;
    // Make room after seq 20 (in two steps, as unique checks are per row),
    // then insert a record that links correctly to seq 20 and hashes right.
    sql(
        env,
        "UPDATE audit_records SET seq = seq + 1000000 WHERE chain = $1 AND seq > 20",
        "t-insert",
    )
    .await;
    sql(
        env,
        "UPDATE audit_records SET seq = seq - 999999 WHERE chain = $1 AND seq > 1000000",
        "t-insert",
    )
    .await;
    let mut forged = records[19].clone();
    forged.id = uuid::Uuid::now_v7().to_string();
    forged.seq = 21;
    forged.officer = Some("mallory".into());
    forged.prev_hash = records[19].hash.clone();
    forged.hash = forged.compute_hash();
    // The same plain INSERT anyone with write access to the table can run.
    env.store
        .append_audit_batch(&[forged])
        .await
        .expect("insert the forged row");
    let found = break_of(env, "t-insert", env.key()).await;
    assert_eq!(
        (found.kind, found.seq, found.record_id.as_deref()),
        (BreakKind::BrokenLink, 22, Some(records[20].id.as_str())),
        "the record after the inserted one no longer links: {found:?}"
    );
}

async fn truncated_tail_is_named(env: &Env) {
    small_chain(env, "t-truncate", 30).await;
    sql(
        env,
        "DELETE FROM audit_records WHERE chain = $1 AND seq > 20",
        "t-truncate",
    )
    .await;
    let found = break_of(env, "t-truncate", env.key()).await;
    assert_eq!(
        (found.kind, found.seq),
        (BreakKind::TruncatedTail, 21),
        "{found:?}"
    );
    assert!(found.detail.contains("seq 30"), "{}", found.detail);
}

async fn forged_checkpoint_is_named(env: &Env) {
    let records = small_chain(env, "t-forge", 30).await;
    // Re-signed with the attacker's own key, which the row now names.
    let attacker_keys = tempfile::tempdir().expect("temp dir");
    let attacker = AuditSigner::load_or_create(attacker_keys.path()).expect("attacker key");
    let forged = attacker
        .sign("t-forge", 20, &records[19].hash, 1)
        .expect("sign");
    sqlx::query(
        "UPDATE audit_checkpoints SET public_key = $1, key_id = $2, signature = $3, \
         signed_at = $4 WHERE chain = $5 AND seq = 20",
    )
    .bind(&forged.public_key)
    .bind(&forged.key_id)
    .bind(&forged.signature)
    .bind(forged.signed_at)
    .bind("t-forge")
    .execute(&env.raw)
    .await
    .expect("forge the checkpoint");
    let expected = (
        BreakKind::ForgedCheckpoint,
        20,
        Some(records[19].id.as_str()),
    );
    let pinned = break_of(env, "t-forge", env.key()).await;
    assert_eq!(
        (pinned.kind, pinned.seq, pinned.record_id.as_deref()),
        expected,
        "{pinned:?}"
    );
    // Unpinned, the chain's first checkpoint fixes the key the others must share.
    let unpinned = break_of(env, "t-forge", None).await;
    assert_eq!(
        (unpinned.kind, unpinned.seq, unpinned.record_id.as_deref()),
        expected,
        "{unpinned:?}"
    );

    let records = small_chain(env, "t-forge-sig", 30).await;
    sql(
        env,
        "UPDATE audit_checkpoints SET signature = \
         (SELECT c.signature FROM audit_checkpoints c WHERE c.chain = $1 AND c.seq = 10) \
         WHERE chain = $1 AND seq = 20",
        "t-forge-sig",
    )
    .await;
    let found = break_of(env, "t-forge-sig", None).await;
    assert_eq!(
        (found.kind, found.seq, found.record_id.as_deref()),
        (
            BreakKind::ForgedCheckpoint,
            20,
            Some(records[19].id.as_str())
        ),
        "{found:?}"
    );
}

/// Holds the write lock on `audit_records` from another connection, so the
/// writer's next commit waits: a paused writer, seen from outside.
async fn lock_records(env: &Env) -> sqlx::pool::PoolConnection<sqlx::Any> {
    let mut conn = env.raw.acquire().await.expect("connection");
    match env.backend {
        Backend::Sqlite => {
            conn.execute("BEGIN IMMEDIATE").await.expect("lock");
        }
        Backend::Postgres => {
            conn.execute("BEGIN").await.expect("begin");
            conn.execute("LOCK TABLE audit_records IN EXCLUSIVE MODE")
                .await
                .expect("lock");
        }
    }
    conn
}

async fn unlock(mut conn: sqlx::pool::PoolConnection<sqlx::Any>) {
    conn.execute("ROLLBACK").await.expect("unlock");
}

async fn wait_for_depth(writer: &AuditWriter, depth: usize) {
    for _ in 0..200 {
        if writer.queue_depth() == depth {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the queue never reached depth {depth}");
}

async fn full_queue_is_refused_not_awaited(env: &Env) {
    let mut settings = settings("pressure");
    settings.queue_capacity = 1;
    let (writer, handle) = AuditWriter::start(env.store.clone(), env.signer.clone(), settings)
        .await
        .expect("start");
    let lock = lock_records(env).await;

    // The first record is taken by the writer, which then waits on the lock…
    let first = tokio::spawn({
        let writer = writer.clone();
        let record = exchange(env, 1);
        async move { writer.append(record).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    wait_for_depth(&writer, 0).await;
    // …the second fills the queue…
    let second = tokio::spawn({
        let writer = writer.clone();
        let record = exchange(env, 2);
        async move { writer.append(record).await }
    });
    wait_for_depth(&writer, 1).await;
    // …and the third is refused at once rather than waiting.
    let third = tokio::time::timeout(Duration::from_secs(1), writer.append(exchange(env, 3)))
        .await
        .expect("append must not wait on a full queue");
    assert!(matches!(third, Err(AuditError::Backpressure)), "{third:?}");
    assert!(!first.is_finished(), "durable: no answer before the commit");

    unlock(lock).await;
    let first = first.await.expect("task").expect("first commits");
    let second = second.await.expect("task").expect("second commits");
    assert_eq!((first.seq, second.seq), (Some(1), Some(2)));
    handle.shutdown().await;
    assert_eq!(
        count(env, "pressure").await,
        2,
        "the refused record was never written"
    );
}

async fn async_mode_returns_before_commit_but_commits(env: &Env) {
    let mut settings = settings("async");
    settings.durable = false;
    let (writer, handle) = AuditWriter::start(env.store.clone(), env.signer.clone(), settings)
        .await
        .expect("start");
    let lock = lock_records(env).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let appended =
            tokio::time::timeout(Duration::from_secs(1), writer.append(exchange(env, i)))
                .await
                .expect("async append does not wait for the commit")
                .expect("queued");
        assert_eq!((appended.seq, appended.hash.as_deref()), (None, None));
        ids.push(appended.id);
    }
    assert_eq!(count(env, "async").await, 0, "nothing is committed yet");
    unlock(lock).await;
    handle.shutdown().await;
    let stored: Vec<String> = env
        .store
        .audit_records_after("async", 0, 10)
        .await
        .expect("read")
        .into_iter()
        .map(|record| record.id)
        .collect();
    assert_eq!(stored, ids, "committed in order after all");
    let report = verify(env).await;
    let chain = report
        .chains
        .iter()
        .find(|r| r.chain == "async")
        .expect("chain");
    assert_eq!(chain.first_break, None);
}

async fn failed_commit_fails_its_batch_and_the_writer_goes_on(env: &Env) {
    let (writer, handle) =
        AuditWriter::start(env.store.clone(), env.signer.clone(), settings("conflict"))
            .await
            .expect("start");
    writer.append(exchange(env, 1)).await.expect("first");
    // Someone takes seq 2 behind the writer's back: its next batch cannot commit.
    let mut squatter = env
        .store
        .audit_records_after("conflict", 0, 1)
        .await
        .expect("read")
        .remove(0);
    squatter.id = "squatter".into();
    squatter.seq = 2;
    env.store
        .append_audit_batch(&[squatter])
        .await
        .expect("squat seq 2");
    let failed = writer.append(exchange(env, 2)).await;
    let Err(AuditError::Commit(_)) = failed else {
        panic!("the caller must hear that its record is not durable, got {failed:?}");
    };
    // The writer re-reads the head and carries on after the squatter.
    let next = writer.append(exchange(env, 3)).await.expect("next batch");
    assert_eq!(next.seq, Some(3));
    handle.shutdown().await;
    assert_eq!(
        count(env, "conflict").await,
        3,
        "the failed record is not stored"
    );
    let found = break_of(env, "conflict", env.key()).await;
    assert_eq!(
        (found.kind, found.seq, found.record_id.as_deref()),
        (BreakKind::BrokenLink, 2, Some("squatter")),
        "{found:?}"
    );
}
