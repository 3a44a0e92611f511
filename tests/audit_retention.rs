//! Retention, the SIEM feed and the verification status against a real
//! store, run on SQLite (a temporary file) and on PostgreSQL (a fresh schema,
//! dropped afterwards), with the audit writer driven directly as in
//! `audit_store.rs`:
//!
//! - the file sink receives every committed record, one JSON line each;
//! - the syslog sink sends RFC 5424 frames with octet counting and the PRI of
//!   each outcome, and catches up after the collector comes up;
//! - a collector that never reads does not slow appends: records are
//!   dropped for the feed only, and `dropped()` counts them;
//! - retention archives expired records up to a checkpoint into files that
//!   verify and chain to each other, removes the rows, leaves an anchor, and
//!   the chain left still verifies, while tampering with the anchor or with
//!   the first record left is caught;
//! - `GET /audit/v1/verification` answers ok for a clean store, and caches.
//!
//! PostgreSQL is `LGSP_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`; `LGSP_SKIP_POSTGRES=1` skips it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lgsp_gateway::admin::auth::session_token_hash;
use lgsp_gateway::admin::{AdminState, AuditorState, Role, create_user};
use lgsp_gateway::audit::{
    Anchor, AuditError, AuditRecord, AuditSigner, AuditWriter, BreakKind, ChainReport, ExportLine,
    NewRecord, Outcome, RetentionSettings, SiemSettings, SiemSink, Subject, SubjectKey,
    SubjectKind, WriterSettings, archive_chain, export_store, start_retention, start_siem,
    verify_export, verify_store,
};
use lgsp_gateway::store::{Backend, Store, StoreOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Connection, Executor, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PASSWORD: &str = "mật-khẩu-đủ-dài-2025";
/// The personal IDs behind the subject hashes: they must never reach a feed.
const CITIZEN_PREFIX: &str = "0010990";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("lgsp.db").display());
    run_suite(url, Backend::Sqlite).await;
    println!("sqlite retention and SIEM suite passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if std::env::var("LGSP_SKIP_POSTGRES").is_ok_and(|value| value == "1") {
        println!("skipped the PostgreSQL retention suite: LGSP_SKIP_POSTGRES=1");
        return;
    }
    let base = std::env::var("LGSP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string());
    let mut admin = PgConnection::connect(&base).await.unwrap_or_else(|error| {
        panic!(
            "PostgreSQL is unreachable at {base}: {error}; start it, point \
             LGSP_TEST_POSTGRES_URL elsewhere, or set LGSP_SKIP_POSTGRES=1"
        )
    });
    let schema = format!("lgsp_retention_{}", uuid::Uuid::new_v4().simple());
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
            Err(error) => panic!("the PostgreSQL retention suite did not finish: {error}"),
        }
    }
    dropped.expect("drop the test schema");
    println!("postgres retention and SIEM suite passed in schema {schema}");
}

/// What every check needs.
struct Env {
    store: Store,
    /// A second pool on the same database, playing the attacker with direct SQL.
    raw: AnyPool,
    signer: Arc<AuditSigner>,
    subjects: SubjectKey,
    /// Keys, archives and feed files.
    dir: tempfile::TempDir,
}

impl Env {
    fn key(&self) -> Option<&str> {
        Some(self.signer.public_key_b64())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn retention(&self, archive: &str, retention: Duration) -> RetentionSettings {
        RetentionSettings {
            retention,
            public_key: Some(self.signer.public_key_b64().to_string()),
            ..RetentionSettings::new(self.path(archive))
        }
    }
}

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
    let dir = tempfile::tempdir().expect("temp dir");
    let signer = Arc::new(AuditSigner::load_or_create(&dir.path().join("keys")).expect("key"));
    let env = Env {
        store,
        raw,
        signer,
        subjects: SubjectKey::from_bytes([9; 32]).expect("subject key"),
        dir,
    };

    // First, while its chain is the only one: the periodic task archives
    // every chain, and the later checks archive theirs one by one.
    the_retention_task_archives_and_the_chain_goes_on(&env).await;
    siem_file_receives_every_committed_record(&env).await;
    siem_syslog_sends_rfc5424_frames_and_outlives_the_collector(&env).await;
    a_stuck_collector_never_blocks_appends(&env).await;
    retention_archives_to_verified_chained_files(&env).await;
    an_existing_file_is_never_replaced(&env).await;
    let plane = AuditorPlane::start(&env).await;
    plane.verification_is_ok_cached_and_for_auditors(&env).await;
    plane.export_carries_anchors_and_verifies(&env).await;

    tampering_with_the_anchor_is_caught(&env).await;
    tampering_with_the_first_record_left_is_caught(&env).await;
    a_forged_anchor_is_caught(&env).await;

    // The cached answer stands for a minute; a fresh router sees the breaks.
    let cached = plane.verification("thanhtra").await;
    assert_eq!(cached["ok"], Value::Bool(true), "served from the cache");
    let fresh = AuditorPlane::start(&env).await;
    let now = fresh.verification("thanhtra").await;
    assert_eq!(now["ok"], Value::Bool(false), "{now}");
    let broken: BTreeSet<&str> = now["chains"]
        .as_array()
        .expect("chains")
        .iter()
        .filter(|chain| !chain["first_break"].is_null())
        .filter_map(|chain| chain["chain"].as_str())
        .collect();
    assert_eq!(broken, BTreeSet::from(["t-forged"]), "{now}");
    println!(
        "{backend}: {} chains verified, broken: {broken:?}",
        now["chains"].as_array().map_or(0, Vec::len)
    );
    plane.stop().await;
    fresh.stop().await;
    env.raw.close().await;
    env.store.close().await;
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// An exchange as the pipeline would describe it; `n` varies the fields and
/// the outcome (every 3rd refused, every 5th failed).
fn exchange(env: &Env, n: usize) -> NewRecord {
    let outcome = match n {
        n if n % 5 == 4 => Outcome::Failed,
        n if n % 3 == 2 => Outcome::Refused,
        _ => Outcome::Allowed,
    };
    NewRecord {
        request_id: format!("req-{n}"),
        trace_id: format!("{n:032x}"),
        client_ip: "10.0.0.7".into(),
        system: Some("motcua-xa-a".into()),
        agency: Some("000.00.00.H29".into()),
        auth_method: Some("bearer".into()),
        officer: Some(format!("cán bộ {}", n % 7)),
        purpose: Some("1.001612".into()),
        dossier: Some(format!("H29-{n:04}")),
        service: "dan-cu".into(),
        version: "v1".into(),
        operation: Some("/citizens/{soDinhDanh}".into()),
        method: "GET".into(),
        subject: Some(Subject {
            kind: SubjectKind::PersonalId,
            hash: env.subjects.hash(SubjectKind::PersonalId, &citizen(n)),
        }),
        outcome,
        status: match outcome {
            Outcome::Allowed => 200,
            Outcome::Refused => 403,
            Outcome::Failed => 502,
        },
        error_code: (outcome != Outcome::Allowed).then(|| "refused_or_failed".to_string()),
        upstream_status: (outcome == Outcome::Allowed).then_some(200),
        latency: Duration::from_micros(900),
        request_bytes: 0,
        response_bytes: 256,
        request_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        response_sha256: "cd".repeat(32),
        reuse: None,
        contract_violation: None,
    }
}

/// The personal ID of exchange `n`.
fn citizen(n: usize) -> String {
    format!("{CITIZEN_PREFIX}{:05}", n % 100_000)
}

fn settings(chain: &str, checkpoint_every: u64) -> WriterSettings {
    let mut settings = WriterSettings::new(chain);
    settings.checkpoint_every = checkpoint_every;
    settings
}

/// The report of `chain` in a fresh verification of the store.
async fn chain_report(env: &Env, chain: &str) -> ChainReport {
    verify_store(&env.store, env.key())
        .await
        .expect("verify")
        .chains
        .into_iter()
        .find(|report| report.chain == chain)
        .unwrap_or_else(|| panic!("no report for chain {chain}"))
}

async fn count(env: &Env, table: &str, chain: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE chain = $1"))
        .bind(chain)
        .fetch_one(&env.raw)
        .await
        .expect("count")
}

async fn seqs(env: &Env, table: &str, chain: &str) -> Vec<i64> {
    sqlx::query_scalar(&format!(
        "SELECT seq FROM {table} WHERE chain = $1 ORDER BY seq"
    ))
    .bind(chain)
    .fetch_all(&env.raw)
    .await
    .expect("seqs")
}

async fn sql(env: &Env, statement: &str, chain: &str) {
    sqlx::query(statement)
        .bind(chain)
        .execute(&env.raw)
        .await
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

async fn the_retention_task_archives_and_the_chain_goes_on(env: &Env) {
    let (writer, handle) =
        AuditWriter::start(env.store.clone(), env.signer.clone(), settings("task", 10))
            .await
            .expect("start");
    for n in 0..15 {
        writer.append(exchange(env, n)).await.expect("append");
    }
    handle.shutdown().await;
    assert_eq!(
        seqs(env, "audit_checkpoints", "task").await,
        [10, 15],
        "by count, then at shutdown"
    );

    let mut retention = env.retention("archive-task", Duration::from_millis(300));
    retention.check_interval = Duration::from_millis(100);
    let task = start_retention(env.store.clone(), retention).expect("a retention above zero");
    let started = Instant::now();
    let anchor = loop {
        if let Some(anchor) = env.store.audit_last_anchor("task").await.expect("anchor") {
            break anchor;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the task never archived the expired records"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    task.shutdown().await;
    assert_eq!(
        anchor.seq, 15,
        "everything expired, up to the last checkpoint"
    );
    assert_eq!(
        anchor.file,
        env.path("archive-task")
            .join("task-1-15.jsonl")
            .display()
            .to_string()
    );
    assert_eq!(count(env, "audit_records", "task").await, 0);
    assert_eq!(seqs(env, "audit_checkpoints", "task").await, [15]);
    assert!(
        start_retention(env.store.clone(), env.retention("x", Duration::ZERO)).is_none(),
        "retention 0 keeps records forever: no task"
    );

    // Every record is archived; a restarted writer goes on from the anchor.
    let (writer, handle) =
        AuditWriter::start(env.store.clone(), env.signer.clone(), settings("task", 10))
            .await
            .expect("restart");
    let appended = writer.append(exchange(env, 15)).await.expect("append");
    handle.shutdown().await;
    assert_eq!(appended.seq, Some(16));
    let records = env
        .store
        .audit_records_after("task", 0, 10)
        .await
        .expect("read");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].prev_hash, anchor.hash, "links to the anchor");
    let report = chain_report(env, "task").await;
    assert_eq!(report.first_break, None, "{report:?}");
    assert_eq!(
        (report.records, report.anchor_seq, report.head_seq),
        (1, Some(15), 16)
    );
}

async fn siem_file_receives_every_committed_record(env: &Env) {
    let path = env.path("siem").join("feed.jsonl");
    let (publisher, feed) = start_siem(SiemSettings {
        sink: SiemSink::File(path.clone()),
        queue_capacity: 4096,
    })
    .expect("feed");
    let (writer, handle) = AuditWriter::start_with_feed(
        env.store.clone(),
        env.signer.clone(),
        settings("siem-file", 50),
        Some(publisher.clone()),
    )
    .await
    .expect("start");
    let mut tasks = Vec::new();
    for task in 0..20 {
        let writer = writer.clone();
        let records: Vec<NewRecord> = (0..10).map(|i| exchange(env, task * 10 + i)).collect();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for record in records {
                ids.push(writer.append(record).await.expect("append").id);
            }
            ids
        }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        ids.extend(task.await.expect("task"));
    }
    handle.shutdown().await;
    feed.shutdown().await;
    assert_eq!((publisher.dropped(), publisher.delivered()), (0, 200));

    let text = std::fs::read_to_string(&path).expect("feed file");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 200, "one line per committed record");
    let mut seen = BTreeSet::new();
    for (index, line) in lines.iter().enumerate() {
        let Ok(ExportLine::Record(record)) = serde_json::from_str::<ExportLine>(line) else {
            panic!("line {index} is not an export record line: {line}");
        };
        assert_eq!(
            record.seq,
            i64::try_from(index).expect("seq") + 1,
            "in commit order"
        );
        assert_eq!(record.hash, record.compute_hash(), "as committed");
        assert_eq!(record.subject_kind.as_deref(), Some("personal_id"));
        assert_eq!(record.subject_hash.as_deref().map(str::len), Some(64));
        seen.insert(record.id.clone());
    }
    assert_eq!(seen, ids, "every committed record, each once");
    assert!(
        !text.contains(CITIZEN_PREFIX),
        "no personal ID, only its keyed hash"
    );

    // Appended, not truncated: a second feed adds to the same file.
    let (publisher, feed) = start_siem(SiemSettings {
        sink: SiemSink::File(path.clone()),
        queue_capacity: 16,
    })
    .expect("feed");
    let (writer, handle) = AuditWriter::start_with_feed(
        env.store.clone(),
        env.signer.clone(),
        settings("siem-file", 50),
        Some(publisher),
    )
    .await
    .expect("restart");
    writer.append(exchange(env, 200)).await.expect("append");
    handle.shutdown().await;
    feed.shutdown().await;
    let text = std::fs::read_to_string(&path).expect("feed file");
    assert_eq!(text.lines().count(), 201);
}

/// One frame of an octet-counted syslog stream, or `None` at its end.
async fn read_frame(reader: &mut BufReader<tokio::net::TcpStream>) -> Option<String> {
    let mut length = Vec::new();
    if reader.read_until(b' ', &mut length).await.ok()? == 0 {
        return None;
    }
    let length: usize = std::str::from_utf8(&length).ok()?.trim().parse().ok()?;
    let mut frame = vec![0; length];
    reader.read_exact(&mut frame).await.ok()?;
    String::from_utf8(frame).ok()
}

/// A collector on `addr` sending every frame it reads to the channel.
async fn collector(addr: SocketAddr, frames: tokio::sync::mpsc::UnboundedSender<String>) {
    let listener = TcpListener::bind(addr).await.expect("collector binds");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let frames = frames.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                while let Some(frame) = read_frame(&mut reader).await {
                    if frames.send(frame).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

/// The parts of an RFC 5424 message: PRI, the header fields, the SD element and the message.
fn parse_rfc5424(frame: &str) -> (u8, Vec<&str>, &str, &str) {
    let rest = frame.strip_prefix('<').expect("PRI opens with <");
    let (pri, rest) = rest.split_once('>').expect("PRI closes with >");
    let mut header = Vec::new();
    let mut rest = rest;
    for _ in 0..6 {
        let (field, tail) = rest.split_once(' ').expect("header field");
        header.push(field);
        rest = tail;
    }
    let (sd, msg) = rest
        .split_once("] ")
        .expect("one SD element, then the message");
    (pri.parse().expect("PRI is a number"), header, sd, msg)
}

async fn siem_syslog_sends_rfc5424_frames_and_outlives_the_collector(env: &Env) {
    // The collector is down when the feed starts: its port is free.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("probe")
        .local_addr()
        .expect("addr");
    let (publisher, feed) = start_siem(SiemSettings {
        sink: SiemSink::Syslog(addr.to_string()),
        queue_capacity: 1024,
    })
    .expect("feed");
    let (writer, handle) = AuditWriter::start_with_feed(
        env.store.clone(),
        env.signer.clone(),
        settings("siem-syslog", 100),
        Some(publisher.clone()),
    )
    .await
    .expect("start");
    let mut appended = Vec::new();
    for n in 0..5 {
        let started = Instant::now();
        appended.push(writer.append(exchange(env, n)).await.expect("append"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a collector that is down does not hold up appends"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sender, mut frames) = tokio::sync::mpsc::unbounded_channel();
    collector(addr, sender).await;
    for n in 5..10 {
        appended.push(writer.append(exchange(env, n)).await.expect("append"));
    }
    let mut received = Vec::new();
    while received.len() < 10 {
        match tokio::time::timeout(Duration::from_secs(15), frames.recv()).await {
            Ok(Some(frame)) => received.push(frame),
            other => panic!("{} of 10 frames arrived before {other:?}", received.len()),
        }
    }
    handle.shutdown().await;
    feed.shutdown().await;
    assert_eq!(publisher.dropped(), 0);

    for (n, (frame, appended)) in received.iter().zip(&appended).enumerate() {
        let (pri, header, sd, msg) = parse_rfc5424(frame);
        let record: AuditRecord = match serde_json::from_str::<ExportLine>(msg) {
            Ok(ExportLine::Record(record)) => *record,
            other => panic!("the message is not a record line: {other:?}"),
        };
        assert_eq!(record.id, appended.id, "in commit order");
        let severity = match exchange(env, n).outcome {
            Outcome::Allowed => 6,
            Outcome::Refused => 5,
            Outcome::Failed => 4,
        };
        assert_eq!(
            pri,
            16 * 8 + severity,
            "local0 and the outcome's severity: {frame}"
        );
        assert_eq!(header[0], "1", "version");
        let timestamp = header[1];
        assert_eq!(timestamp.len(), 24, "{timestamp}");
        assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T');
        assert!(!header[2].is_empty(), "hostname");
        assert_eq!(&header[3..], ["lgsp", "-", "audit"]);
        assert!(sd.starts_with("[lgsp@32473 "), "{sd}");
        assert!(sd.contains(&format!("id=\"{}\"", record.id)), "{sd}");
        assert!(
            sd.contains(&format!("outcome=\"{}\"", record.outcome)),
            "{sd}"
        );
        assert!(!frame.contains(CITIZEN_PREFIX), "no personal ID: {frame}");
    }
    let pris: BTreeSet<u8> = received.iter().map(|f| parse_rfc5424(f).0).collect();
    assert_eq!(
        pris,
        BTreeSet::from([132, 133, 134]),
        "all three severities seen"
    );
}

async fn a_stuck_collector_never_blocks_appends(env: &Env) {
    // A collector that accepts and never reads, with a tiny receive window.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("recv buffer");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(4).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let holder = tokio::spawn(async move {
        let accepted = listener.accept().await;
        let _ = released.await;
        drop(accepted);
    });

    let (publisher, feed) = start_siem(SiemSettings {
        sink: SiemSink::Syslog(addr.to_string()),
        queue_capacity: 16,
    })
    .expect("feed");
    let (writer, handle) = AuditWriter::start_with_feed(
        env.store.clone(),
        env.signer.clone(),
        settings("siem-stuck", 1000),
        Some(publisher.clone()),
    )
    .await
    .expect("start");
    const RECORDS: usize = 1000;
    // 8 KiB a record: 8 MB in all, beyond what the socket buffers can absorb.
    let bulky = "x".repeat(8 * 1024);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..25 {
        let writer = writer.clone();
        let records: Vec<NewRecord> = (0..RECORDS / 25)
            .map(|i| {
                let mut record = exchange(env, task * 100 + i);
                record.officer = Some(bulky.clone());
                record
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for record in records {
                let one = Instant::now();
                writer.append(record).await.expect("append");
                slowest = slowest.max(one.elapsed());
            }
            slowest
        }));
    }
    let mut slowest = Duration::ZERO;
    for task in tasks {
        slowest = slowest.max(task.await.expect("task"));
    }
    let elapsed = started.elapsed();
    handle.shutdown().await;
    assert_eq!(
        count(env, "audit_records", "siem-stuck").await,
        RECORDS as i64,
        "every record is in the store"
    );
    assert!(
        publisher.dropped() > 0,
        "the stuck feed drops records for itself: {} dropped, {} delivered",
        publisher.dropped(),
        publisher.delivered()
    );
    assert!(
        slowest < Duration::from_secs(3) && elapsed < Duration::from_secs(60),
        "appends never wait for the feed: slowest {slowest:?}, all {elapsed:?}"
    );
    let stopping = Instant::now();
    feed.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "shutdown gives a stuck sink a few seconds, not forever: {:?}",
        stopping.elapsed()
    );
    let _ = release.send(());
    holder.await.expect("holder");
    println!(
        "stuck collector: {RECORDS} appends in {elapsed:?} (slowest {slowest:?}), \
         {} dropped for the feed",
        publisher.dropped()
    );
}

/// Writes `early` records, notes the time, then `late` more records after a
/// pause, checkpointing every `every`th and at shutdown; returns the time
/// after which only the late records were written.
async fn two_aged_batches(env: &Env, chain: &str, early: usize, late: usize, every: u64) -> i64 {
    let (writer, handle) = AuditWriter::start(
        env.store.clone(),
        env.signer.clone(),
        settings(chain, every),
    )
    .await
    .expect("start");
    for n in 0..early {
        writer.append(exchange(env, n)).await.expect("append");
    }
    let between = now_ms();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for n in early..early + late {
        writer.append(exchange(env, n)).await.expect("append");
    }
    handle.shutdown().await;
    between
}

/// Retention of one second, run as if it were just after `between`: the
/// early records have expired, the late ones not.
const RETENTION: Duration = Duration::from_secs(1);

fn just_expired(between: i64) -> i64 {
    between + 1000 + 5
}

async fn retention_archives_to_verified_chained_files(env: &Env) {
    let between = two_aged_batches(env, "ret", 25, 10, 10).await;
    assert_eq!(
        seqs(env, "audit_checkpoints", "ret").await,
        [10, 20, 30, 35]
    );
    let mut retention = env.retention("archive", RETENTION);
    retention.max_file_records = 10;
    let archived = archive_chain(&env.store, &retention, "ret", just_expired(between))
        .await
        .expect("archive");
    // Seq 21 to 25 expired too, but no checkpoint covers them yet.
    let spans: Vec<(i64, i64, u64)> = archived
        .iter()
        .map(|a| (a.first_seq, a.anchor.seq, a.records))
        .collect();
    assert_eq!(spans, [(1, 10, 10), (11, 20, 10)]);

    let files: Vec<PathBuf> = ["ret-1-10.jsonl", "ret-11-20.jsonl"]
        .iter()
        .map(|name| env.path("archive").join(name))
        .collect();
    let mut bytes = Vec::new();
    for (file, archive) in files.iter().zip(&archived) {
        let content = std::fs::read(file).expect("archive file");
        assert_eq!(archive.anchor.file, file.display().to_string());
        assert_eq!(archive.anchor.file_sha256, sha256_hex(&content));
        let report = verify_export(content.as_slice(), env.key()).expect("verify archive");
        assert!(report.ok, "{report:?}");
        let chain = &report.chains[0];
        assert_eq!(
            (chain.records, chain.head_seq),
            (10, archive.anchor.seq),
            "{chain:?}"
        );
        bytes.push(content);
    }
    // The second file starts with the first one's anchor: file, SHA-256, last hash.
    let second = String::from_utf8(bytes[1].clone()).expect("utf-8");
    let mut lines = second.lines();
    let first_line: ExportLine = serde_json::from_str(lines.next().expect("line")).expect("json");
    assert_eq!(first_line, ExportLine::Anchor(archived[0].anchor.clone()));
    let first_record = lines
        .filter_map(|line| match serde_json::from_str::<ExportLine>(line) {
            Ok(ExportLine::Record(record)) => Some(record),
            _ => None,
        })
        .next()
        .expect("a record");
    assert_eq!(
        (first_record.seq, first_record.prev_hash.as_str()),
        (11, archived[0].anchor.hash.as_str())
    );
    let report = verify_export(bytes.concat().as_slice(), env.key()).expect("verify both");
    assert!(report.ok, "the archives read one after another: {report:?}");
    assert_eq!(
        (report.chains[0].records, report.chains[0].head_seq),
        (20, 20)
    );
    assert_eq!(
        verify_export(bytes[1].as_slice(), env.key())
            .expect("verify")
            .chains[0]
            .anchor_seq,
        Some(10)
    );

    assert_eq!(seqs(env, "audit_anchors", "ret").await, [10, 20]);
    assert_eq!(
        seqs(env, "audit_records", "ret").await,
        (21..=35).collect::<Vec<_>>(),
        "the archived rows are gone"
    );
    assert_eq!(
        seqs(env, "audit_checkpoints", "ret").await,
        [20, 30, 35],
        "the anchor's checkpoint stays, signing it"
    );
    let report = chain_report(env, "ret").await;
    assert_eq!(report.first_break, None, "{report:?}");
    assert_eq!(
        (
            report.records,
            report.checkpoints,
            report.head_seq,
            report.anchor_seq
        ),
        (15, 3, 35, Some(20))
    );

    // An export of the store starts from the anchor and verifies alike.
    let mut exported = Vec::new();
    let summary = export_store(&env.store, &mut exported)
        .await
        .expect("export");
    assert!(summary.anchors >= 2, "{summary:?}");
    let from_export = verify_export(exported.as_slice(), env.key()).expect("verify export");
    let exported_ret = from_export
        .chains
        .iter()
        .find(|chain| chain.chain == "ret")
        .expect("ret exported");
    assert_eq!(exported_ret, &report);

    let again = archive_chain(&env.store, &retention, "ret", just_expired(between))
        .await
        .expect("archive again");
    assert!(
        again.is_empty(),
        "nothing more ends on a checkpoint: {again:?}"
    );
    assert_eq!(
        archive_chain(
            &env.store,
            &env.retention("archive", Duration::ZERO),
            "ret",
            i64::MAX
        )
        .await
        .expect("retention 0"),
        [],
        "retention 0 keeps everything"
    );
}

async fn an_existing_file_is_never_replaced(env: &Env) {
    let between = two_aged_batches(env, "clash", 12, 3, 10).await;
    let retention = env.retention("archive", RETENTION);
    let squatter = env.path("archive").join("clash-1-10.jsonl");
    std::fs::write(&squatter, b"not an archive\n").expect("squat");
    let refused = archive_chain(&env.store, &retention, "clash", just_expired(between)).await;
    assert!(
        matches!(&refused, Err(AuditError::Archive { detail, .. }) if detail.contains("already exists")),
        "{refused:?}"
    );
    assert_eq!(
        count(env, "audit_records", "clash").await,
        15,
        "nothing deleted"
    );
    assert_eq!(count(env, "audit_anchors", "clash").await, 0);
    assert_eq!(
        std::fs::read(&squatter).expect("read"),
        b"not an archive\n",
        "the file is left as it was"
    );
    let leftovers = std::fs::read_dir(env.path("archive"))
        .expect("list")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0, "no temporary file left behind");
    std::fs::remove_file(&squatter).expect("remove");
    let archived = archive_chain(&env.store, &retention, "clash", just_expired(between))
        .await
        .expect("archive");
    assert_eq!(archived.len(), 1);
    assert_eq!(chain_report(env, "clash").await.first_break, None);
}

/// A chain of 35 records whose first 20 are archived; returns the anchor
/// and the records left.
async fn archived_chain(env: &Env, chain: &str) -> (Anchor, Vec<AuditRecord>) {
    let between = two_aged_batches(env, chain, 25, 10, 10).await;
    let archived = archive_chain(
        &env.store,
        &env.retention("archive", RETENTION),
        chain,
        just_expired(between),
    )
    .await
    .expect("archive");
    assert_eq!(archived.len(), 1);
    let anchor = archived[0].anchor.clone();
    assert_eq!(anchor.seq, 20);
    let left = env
        .store
        .audit_records_after(chain, 0, 100)
        .await
        .expect("read");
    assert_eq!(left.first().map(|r| r.seq), Some(21));
    assert_eq!(chain_report(env, chain).await.first_break, None);
    (anchor, left)
}

/// The kind and seq of the first break of `chain`, which must have one.
async fn break_of(env: &Env, chain: &str) -> (BreakKind, i64, String) {
    let report = chain_report(env, chain).await;
    let found = report
        .first_break
        .unwrap_or_else(|| panic!("chain {chain} should be broken"));
    (found.kind, found.seq, found.detail)
}

async fn tampering_with_the_anchor_is_caught(env: &Env) {
    let chain = "t-anchor";
    let (anchor, _) = archived_chain(env, chain).await;

    sqlx::query("UPDATE audit_anchors SET hash = $1 WHERE chain = $2")
        .bind("ab".repeat(32))
        .bind(chain)
        .execute(&env.raw)
        .await
        .expect("tamper");
    let (kind, seq, detail) = break_of(env, chain).await;
    assert_eq!((kind, seq), (BreakKind::AnchorMismatch, 20), "{detail}");
    sqlx::query("UPDATE audit_anchors SET hash = $1 WHERE chain = $2")
        .bind(&anchor.hash)
        .bind(chain)
        .execute(&env.raw)
        .await
        .expect("restore");
    assert_eq!(chain_report(env, chain).await.first_break, None);

    // The anchor without the checkpoint that signs it.
    let signing = env
        .store
        .audit_checkpoints_after(chain, 19, 1)
        .await
        .expect("checkpoint");
    sql(
        env,
        "DELETE FROM audit_checkpoints WHERE chain = $1 AND seq = 20",
        chain,
    )
    .await;
    let (kind, seq, detail) = break_of(env, chain).await;
    assert_eq!((kind, seq), (BreakKind::AnchorMismatch, 20), "{detail}");
    assert!(detail.contains("no checkpoint signs"), "{detail}");
    env.store
        .insert_checkpoint(&signing[0])
        .await
        .expect("restore");

    // Without the anchor, the chain starts at seq 21 from nowhere.
    sql(env, "DELETE FROM audit_anchors WHERE chain = $1", chain).await;
    let (kind, seq, detail) = break_of(env, chain).await;
    assert_eq!((kind, seq), (BreakKind::MissingRecord, 1), "{detail}");
    sqlx::query(
        "INSERT INTO audit_anchors (chain, seq, hash, archived_at, file, file_sha256) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&anchor.chain)
    .bind(anchor.seq)
    .bind(&anchor.hash)
    .bind(anchor.archived_at)
    .bind(&anchor.file)
    .bind(&anchor.file_sha256)
    .execute(&env.raw)
    .await
    .expect("restore");
    assert_eq!(chain_report(env, chain).await.first_break, None);
}

async fn tampering_with_the_first_record_left_is_caught(env: &Env) {
    let chain = "t-first";
    let (_, left) = archived_chain(env, chain).await;
    let first = &left[0];

    sql(
        env,
        "UPDATE audit_records SET officer = 'mallory' WHERE chain = $1 AND seq = 21",
        chain,
    )
    .await;
    let (kind, seq, detail) = break_of(env, chain).await;
    assert_eq!((kind, seq), (BreakKind::EditedRecord, 21), "{detail}");
    sqlx::query("UPDATE audit_records SET officer = $1 WHERE chain = $2 AND seq = 21")
        .bind(first.officer.as_deref())
        .bind(chain)
        .execute(&env.raw)
        .await
        .expect("restore");
    assert_eq!(chain_report(env, chain).await.first_break, None);

    // Relinked elsewhere (its hash recomputed): it no longer follows the anchor.
    let mut relinked = first.clone();
    relinked.prev_hash = "cd".repeat(32);
    relinked.hash = relinked.compute_hash();
    sqlx::query("UPDATE audit_records SET prev_hash = $1, hash = $2 WHERE chain = $3 AND seq = 21")
        .bind(&relinked.prev_hash)
        .bind(&relinked.hash)
        .bind(chain)
        .execute(&env.raw)
        .await
        .expect("relink");
    let (kind, seq, detail) = break_of(env, chain).await;
    assert_eq!((kind, seq), (BreakKind::AnchorMismatch, 21), "{detail}");
    sqlx::query("UPDATE audit_records SET prev_hash = $1, hash = $2 WHERE chain = $3 AND seq = 21")
        .bind(&first.prev_hash)
        .bind(&first.hash)
        .bind(chain)
        .execute(&env.raw)
        .await
        .expect("restore");
    assert_eq!(chain_report(env, chain).await.first_break, None);

    // Deleted: the chain left starts one seq too late.
    sql(
        env,
        "DELETE FROM audit_records WHERE chain = $1 AND seq = 21",
        chain,
    )
    .await;
    let (kind, seq, detail) = break_of(env, chain).await;
    assert_eq!((kind, seq), (BreakKind::MissingRecord, 21), "{detail}");
    env.store
        .append_audit_batch(std::slice::from_ref(first))
        .await
        .expect("restore");
    assert_eq!(chain_report(env, chain).await.first_break, None);
}

async fn a_forged_anchor_is_caught(env: &Env) {
    // Someone with write access cuts the records up to 25 and the
    // checkpoints under them and writes an anchor of their own: nothing signs it.
    let chain = "t-forged";
    let (_, left) = archived_chain(env, chain).await;
    let cut = &left[4];
    assert_eq!(cut.seq, 25);
    sql(
        env,
        "DELETE FROM audit_records WHERE chain = $1 AND seq <= 25",
        chain,
    )
    .await;
    sql(
        env,
        "DELETE FROM audit_checkpoints WHERE chain = $1 AND seq <= 25",
        chain,
    )
    .await;
    sqlx::query(
        "INSERT INTO audit_anchors (chain, seq, hash, archived_at, file, file_sha256) \
         VALUES ($1, 25, $2, 0, 'nowhere.jsonl', $3)",
    )
    .bind(chain)
    .bind(&cut.hash)
    .bind("00".repeat(32))
    .execute(&env.raw)
    .await
    .expect("forge");
    let (kind, seq, detail) = break_of(env, chain).await;
    assert_eq!((kind, seq), (BreakKind::AnchorMismatch, 25), "{detail}");
}

/// The admin plane's auditor routes on 127.0.0.1:0, over the suite's store.
struct AuditorPlane {
    base: String,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct TestNode {
    store: Store,
    public_key: String,
}

impl AdminState for TestNode {
    fn store(&self) -> &Store {
        &self.store
    }
}

impl AuditorState for TestNode {
    fn subject_hash(&self, _kind: &str, _id: &str) -> Option<String> {
        None
    }

    fn audit_public_key(&self) -> Option<String> {
        Some(self.public_key.clone())
    }
}

impl AuditorPlane {
    async fn start(env: &Env) -> AuditorPlane {
        for (username, role) in [
            ("thanhtra", Role::Auditor),
            ("quantri", Role::ProvinceAdmin),
        ] {
            // The second plane finds the accounts already there.
            let _ = create_user(
                &env.store,
                username,
                role,
                None,
                PASSWORD,
                "cli:retention-suite",
            )
            .await;
            env.store
                .create_session(&session_token_hash(username), username, i64::MAX)
                .await
                .ok();
        }
        let node = TestNode {
            store: env.store.clone(),
            public_key: env.signer.public_key_b64().to_string(),
        };
        let router = lgsp_gateway::admin::routes::<TestNode>().with_state(node);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        AuditorPlane {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            server,
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    async fn verification(&self, token: &str) -> Value {
        let response = self.get("/audit/v1/verification", Some(token)).await;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store")
        );
        response.json().await.expect("json")
    }

    async fn verification_is_ok_cached_and_for_auditors(&self, env: &Env) {
        let before = now_ms();
        let status = self.verification("thanhtra").await;
        assert_eq!(status["ok"], Value::Bool(true), "{status}");
        let checked_at = status["checked_at"].as_i64().expect("checked_at");
        assert!(checked_at >= before, "{status}");
        assert!(
            status["checked_at_time"]
                .as_str()
                .is_some_and(|t| t.ends_with("+07:00"))
        );
        assert_eq!(
            status["public_key"],
            Value::from(env.signer.public_key_b64())
        );
        let ret = status["chains"]
            .as_array()
            .expect("chains")
            .iter()
            .find(|chain| chain["chain"] == "ret")
            .expect("chain ret");
        assert_eq!(ret["anchor_seq"], Value::from(20), "{ret}");
        assert_eq!(ret["first_break"], Value::Null);

        let again = self.verification("thanhtra").await;
        assert_eq!(
            again["checked_at"], status["checked_at"],
            "cached for a minute"
        );

        let refused = self.get("/audit/v1/verification", Some("quantri")).await;
        assert_eq!(refused.status().as_u16(), 403, "auditors only");
        let anonymous = self.get("/audit/v1/verification", None).await;
        assert_eq!(anonymous.status().as_u16(), 401);
    }

    async fn export_carries_anchors_and_verifies(&self, env: &Env) {
        let response = self
            .get("/audit/v1/export?format=jsonl", Some("thanhtra"))
            .await;
        assert_eq!(response.status().as_u16(), 200);
        let body = response.bytes().await.expect("body");
        let report = verify_export(body.as_ref(), env.key()).expect("verify");
        assert!(report.ok, "{report:?}");
        let anchored: BTreeSet<&str> = report
            .chains
            .iter()
            .filter(|chain| chain.anchor_seq.is_some())
            .map(|chain| chain.chain.as_str())
            .collect();
        assert_eq!(anchored, BTreeSet::from(["clash", "ret", "task"]));
    }

    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }
}
