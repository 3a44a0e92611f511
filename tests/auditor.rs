//! The auditor's side of the audit log, tested on the real store (SQLite and
//! PostgreSQL) behind a real axum server on 127.0.0.1:0: admin accounts and
//! sign-in, role checks, and the `/audit/v1` API (search with every filter,
//! keyset pagination, search by data subject, the per-citizen report, the
//! streaming JSON-lines and CSV exports, the checkpoints).
//!
//! Audit rows are inserted directly with SQL, hash-chained and checkpointed
//! with the audit module's own hashing and signing, so that a full JSON-lines
//! export is also checked with the audit module's `verify_export`.
//!
//! PostgreSQL is `LGSP_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`, in a fresh schema dropped
//! afterwards; `LGSP_SKIP_POSTGRES=1` skips it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lgsp_contracts::AgencyCode;
use lgsp_gateway::access::keys::SigningKeys;
use lgsp_gateway::access::tokens::TokenIssuer;
use lgsp_gateway::admin::audit_api::csv_fields;
use lgsp_gateway::admin::auth::session_token_hash;
use lgsp_gateway::admin::{AdminState, AuditorState, Role, create_user};
use lgsp_gateway::audit::{AuditRecord, AuditSigner, Checkpoint, verify_export};
use lgsp_gateway::registry::model::{Agency, RegistryData};
use lgsp_gateway::store::{AUDIT_RECORD_COLUMNS, Store, StoreOptions};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const PASSWORD: &str = "mật-khẩu-đủ-dài-2025";
/// Records seeded: more than one export page (1000), fewer than two.
const RECORDS: usize = 1150;
/// The officer of every 97th record: Vietnamese, a comma, quotes and a line break.
const AWKWARD_OFFICER: &str = "Nguyễn Văn \"A\", tổ 1\nphòng 2";
const CITIZENS: [&str; 3] = ["001099000001", "079188000002", "036200000003"];
const ENTERPRISES: [&str; 2] = ["0101234567", "0312345678-001"];
const CHECKPOINT_COLUMNS: [&str; 7] = [
    "chain",
    "seq",
    "hash",
    "signed_at",
    "key_id",
    "public_key",
    "signature",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("lgsp.db").display());
    let summary = run_suite(&url).await;
    println!("auditor suite on sqlite passed: {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    if std::env::var("LGSP_SKIP_POSTGRES").is_ok_and(|value| value == "1") {
        println!("skipped the PostgreSQL auditor suite: LGSP_SKIP_POSTGRES=1");
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
    let schema = format!("lgsp_auditor_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("create the test schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    // On another task, so that a failed check still reaches the DROP below.
    let outcome = tokio::spawn(async move { run_suite(&url).await }).await;
    let dropped = admin
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await;
    let _ = admin.close().await;
    let summary = match outcome {
        Ok(summary) => summary,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the PostgreSQL suite did not finish: {error}"),
        },
    };
    dropped.expect("drop the test schema");
    println!("auditor suite on postgres passed: {summary}");
}

/// The node state the tests serve: the store, and a stand-in subject hash
/// (any keyed, deterministic function does; the real one is the audit module's).
#[derive(Clone)]
struct TestNode {
    store: Store,
}

impl AdminState for TestNode {
    fn store(&self) -> &Store {
        &self.store
    }
}

impl AuditorState for TestNode {
    fn subject_hash(&self, kind: &str, id: &str) -> Option<String> {
        Some(subject_hash(kind, id))
    }
}

fn subject_hash(kind: &str, id: &str) -> String {
    hex(&Sha256::digest(format!("test-subject-key:{kind}:{id}")))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("ms fit i64")
}

/// A running admin plane and the clients that talk to it.
struct Plane {
    base: String,
    /// Calls from 127.0.0.1.
    client: reqwest::Client,
}

impl Plane {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client calling from another loopback address, with its own login budget.
    fn client_from(last_octet: u8) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(IpAddr::from([127, 0, 0, last_octet]))
            .build()
            .expect("client")
    }

    async fn login_with(
        &self,
        client: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> (StatusCode, Value) {
        let response = client
            .post(self.url("/admin/v1/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .expect("login request");
        let status = response.status();
        (status, response.json().await.expect("login answers JSON"))
    }

    async fn login(&self, username: &str) -> String {
        let (status, body) = self.login_with(&self.client, username, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "login of {username}: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn get_ok(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.get(path, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Every record a search yields, following next_cursor to the end.
    async fn walk(&self, query: &str, limit: u32, token: &str) -> (Vec<Value>, usize) {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/audit/v1/records?limit={limit}");
            if !query.is_empty() {
                path.push('&');
                path.push_str(query);
            }
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.get_ok(&path, token).await;
            pages += 1;
            let rows = page["records"].as_array().expect("records").clone();
            assert!(rows.len() <= limit as usize);
            records.extend(rows);
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => break,
            }
            assert!(pages <= RECORDS + 1, "pagination does not end");
        }
        (records, pages)
    }
}

/// Opens the store, seeds it, serves the admin plane, runs every check.
async fn run_suite(url: &str) -> String {
    let store = Store::open(url, &StoreOptions::default())
        .await
        .expect("open the store");
    store
        .apply(
            &RegistryData {
                agencies: vec![
                    agency("000.00.00.H29", "UBND tỉnh Hà Tây"),
                    agency("000.00.01.H29", "UBND xã An Khánh"),
                ],
                ..RegistryData::default()
            },
            "cli:auditor-suite",
        )
        .await
        .expect("seed the agencies");
    let key_dir = tempfile::tempdir().expect("audit key dir");
    let signer = AuditSigner::load_or_create(key_dir.path()).expect("audit signing key");
    let rows = seed_audit(url, &signer).await;
    accounts_are_created_once(&store).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = lgsp_gateway::admin::routes::<TestNode>().with_state(TestNode {
        store: store.clone(),
    });
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let plane = Plane {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    };

    let token = login_works(&plane).await;
    unknown_user_and_wrong_password_answer_alike(&plane).await;
    logins_are_limited_per_address(&plane).await;
    callers_without_a_session_get_401(&plane, &store).await;
    other_roles_get_403(&plane).await;
    disabled_accounts_lose_their_sessions(&plane, &store).await;
    let filters = each_filter_finds_exactly_its_records(&plane, &token, &rows).await;
    let pages = pagination_walks_every_record_once(&plane, &token, &rows).await;
    malformed_queries_are_refused(&plane, &token).await;
    record_by_id(&plane, &token, &rows).await;
    let subject = subject_search_matches_by_hash(&plane, &token, &rows).await;
    let report = per_citizen_report(&plane, &token, &rows).await;
    let checkpoints = checkpoints_are_listed(&plane, &token).await;
    let chunks =
        export_jsonl_streams_and_parses_back(&plane, &token, &rows, signer.public_key_b64()).await;
    export_csv_streams_and_parses_back(&plane, &token, &rows).await;
    logout_ends_the_session(&plane, &token).await;

    server.abort();
    store.close().await;
    format!(
        "{} records; {filters} filters; {pages} pages walked; {subject} subject matches; \
         {report} report entries; {checkpoints} checkpoints; jsonl export in {chunks} chunks",
        rows.len()
    )
}

fn agency(code: &str, name: &str) -> Agency {
    Agency {
        code: AgencyCode::parse(code).expect("agency code"),
        name: name.into(),
        parent: None,
    }
}

/// Inserts [`RECORDS`] records over two chains and checkpoints every 100th
/// record of each; returns the records as inserted.
async fn seed_audit(url: &str, signer: &AuditSigner) -> Vec<AuditRecord> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url)
        .await
        .expect("connect for seeding");
    let base = now_ms() - 10 * 86_400_000;
    let mut seqs: BTreeMap<&str, i64> = BTreeMap::new();
    let mut heads: BTreeMap<&str, String> = BTreeMap::new();
    let mut rows = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let chain = if i % 5 < 3 { "node-a" } else { "node-b" };
        let seq = {
            let seq = seqs.entry(chain).or_insert(0);
            *seq += 1;
            *seq
        };
        let prev_hash = heads.get(chain).cloned().unwrap_or_else(|| "0".repeat(64));
        let authenticated = i % 7 != 6;
        let (system, agency) = match i % 3 {
            _ if !authenticated => (None, None),
            0 => (Some("motcua-xa-a"), Some("000.00.01.H29")),
            1 => (Some("motcua-tinh"), Some("000.00.00.H29")),
            _ => (Some("thue-xa"), Some("000.00.02.H29")),
        };
        let service = ["population", "business", "echo"][i % 3];
        let (subject_kind, subject) = match service {
            "population" => (
                Some("personal_id"),
                Some(CITIZENS[(i / 3) % CITIZENS.len()]),
            ),
            "business" => (Some("enterprise"), Some(ENTERPRISES[i % ENTERPRISES.len()])),
            _ => (None, None),
        };
        let officer = if i % 97 == 0 {
            Some(AWKWARD_OFFICER.to_string())
        } else {
            authenticated.then(|| format!("canbo{}", i % 4))
        };
        let outcome = ["allowed", "allowed", "refused", "failed"][i % 4];
        let mut row = AuditRecord {
            id: uuid::Uuid::now_v7().to_string(),
            chain: chain.into(),
            seq,
            // Triples share a millisecond, so pages split ties.
            recorded_at: base + (i as i64 / 3) * 1000,
            request_id: format!("req-{i}"),
            trace_id: format!("{i:032x}"),
            client_ip: "10.0.0.1".into(),
            system: system.map(Into::into),
            agency: agency.map(Into::into),
            auth_method: authenticated.then(|| "api_key".into()),
            officer,
            purpose: (i % 5 != 4).then(|| ["1.001612", "2.000305"][i % 2].into()),
            dossier: (i % 2 == 0).then(|| format!("H29.{}", i % 10)),
            service: service.into(),
            version: "v1".into(),
            operation: Some("/things/{id}".into()),
            method: "GET".into(),
            subject_kind: subject_kind.map(Into::into),
            subject_hash: subject.map(|id| subject_hash(subject_kind.unwrap_or_default(), id)),
            outcome: outcome.into(),
            status: match outcome {
                "allowed" => 200,
                "refused" => 403,
                _ => 502,
            },
            error_code: match outcome {
                "allowed" => None,
                "refused" => Some("SUBSCRIPTION_REQUIRED".into()),
                _ => Some("UPSTREAM_ERROR".into()),
            },
            upstream_status: (outcome != "refused").then_some(200),
            latency_us: 1000 + i as i64,
            request_bytes: 0,
            response_bytes: 100,
            request_sha256: hex(&Sha256::digest(b"")),
            response_sha256: hex(&Sha256::digest(format!("response {i}"))),
            reuse: None,
            contract_violation: None,
            prev_hash,
            hash: String::new(),
        };
        row.hash = row.compute_hash();
        heads.insert(chain, row.hash.clone());
        insert_record(&mut conn, &row).await;
        if seq % 100 == 0 {
            let checkpoint: Checkpoint = signer
                .sign(chain, seq, &row.hash, row.recorded_at + 1)
                .expect("sign a checkpoint");
            sqlx::query(
                "INSERT INTO audit_checkpoints (chain, seq, hash, signed_at, key_id, public_key, signature) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(checkpoint.chain)
            .bind(checkpoint.seq)
            .bind(checkpoint.hash)
            .bind(checkpoint.signed_at)
            .bind(checkpoint.key_id)
            .bind(checkpoint.public_key)
            .bind(checkpoint.signature)
            .execute(&mut conn)
            .await
            .expect("insert a checkpoint");
        }
        rows.push(row);
    }
    conn.close().await.expect("close the seeding connection");
    rows
}

async fn insert_record(conn: &mut sqlx::AnyConnection, row: &AuditRecord) {
    let placeholders: Vec<String> = (1..=32).map(|n| format!("${n}")).collect();
    let sql = format!(
        "INSERT INTO audit_records ({}) VALUES ({})",
        AUDIT_RECORD_COLUMNS.join(", "),
        placeholders.join(", ")
    );
    sqlx::query(&sql)
        .bind(row.id.clone())
        .bind(row.chain.clone())
        .bind(row.seq)
        .bind(row.recorded_at)
        .bind(row.request_id.clone())
        .bind(row.trace_id.clone())
        .bind(row.client_ip.clone())
        .bind(row.system.clone())
        .bind(row.agency.clone())
        .bind(row.auth_method.clone())
        .bind(row.officer.clone())
        .bind(row.purpose.clone())
        .bind(row.dossier.clone())
        .bind(row.service.clone())
        .bind(row.version.clone())
        .bind(row.operation.clone())
        .bind(row.method.clone())
        .bind(row.subject_kind.clone())
        .bind(row.subject_hash.clone())
        .bind(row.outcome.clone())
        .bind(row.status)
        .bind(row.error_code.clone())
        .bind(row.upstream_status)
        .bind(row.latency_us)
        .bind(row.request_bytes)
        .bind(row.response_bytes)
        .bind(row.request_sha256.clone())
        .bind(row.response_sha256.clone())
        .bind(row.reuse.clone())
        .bind(row.contract_violation.clone())
        .bind(row.prev_hash.clone())
        .bind(row.hash.clone())
        .execute(&mut *conn)
        .await
        .expect("insert a record");
}

async fn accounts_are_created_once(store: &Store) {
    for (username, role, agency) in [
        ("thanhtra.nguyen", Role::Auditor, None),
        ("vanhanh.tran", Role::Operator, None),
        ("quantri.le", Role::ProvinceAdmin, None),
        ("canbo.xa", Role::CommuneOfficer, Some("000.00.01.H29")),
        ("thanhtra.pham", Role::Auditor, None),
    ] {
        create_user(store, username, role, agency, PASSWORD, "cli:auditor-suite")
            .await
            .unwrap_or_else(|e| panic!("create {username}: {e}"));
    }
    let duplicate = create_user(
        store,
        "thanhtra.nguyen",
        Role::Operator,
        None,
        PASSWORD,
        "cli:auditor-suite",
    )
    .await;
    assert!(duplicate.is_err(), "a taken username is refused");
    let account = store
        .account("thanhtra.nguyen")
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        account.role,
        Role::Auditor,
        "the refused duplicate changed nothing"
    );
    assert!(account.password_hash.starts_with("$argon2id$"));
    assert!(!account.password_hash.contains(PASSWORD));
    assert!(
        create_user(
            store,
            "ngan",
            Role::Auditor,
            None,
            "short",
            "cli:auditor-suite"
        )
        .await
        .is_err()
    );
    assert!(
        create_user(
            store,
            "xa2",
            Role::CommuneOfficer,
            None,
            PASSWORD,
            "cli:auditor-suite"
        )
        .await
        .is_err(),
        "a commune officer names its agency"
    );
}

async fn login_works(plane: &Plane) -> String {
    let response = plane
        .client
        .post(plane.url("/admin/v1/login"))
        .json(&json!({ "username": "thanhtra.nguyen", "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 8 * 3600);
    assert_eq!(body["role"], "auditor");
    let token = body["access_token"].as_str().expect("token").to_string();
    assert_eq!(token.len(), 43, "32 bytes in base64url");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    token
}

async fn unknown_user_and_wrong_password_answer_alike(plane: &Plane) {
    let client = Plane::client_from(2);
    let mut answers = Vec::new();
    let mut timings: BTreeMap<&str, Duration> = BTreeMap::new();
    for (label, username, password) in [
        ("wrong", "thanhtra.nguyen", "not-the-password"),
        ("unknown", "khong.ton.tai", "not-the-password"),
        ("wrong", "thanhtra.nguyen", "still-not-it-2"),
        ("unknown", "ai.do", "still-not-it-2"),
    ] {
        let started = Instant::now();
        let (status, mut body) = plane.login_with(&client, username, password).await;
        let took = started.elapsed();
        timings
            .entry(label)
            .and_modify(|best| *best = (*best).min(took))
            .or_insert(took);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        body.as_object_mut().expect("problem").remove("request_id");
        answers.push(body);
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0]["code"], "AUTHEN_ERROR");
    // Both paths run one argon2 verification; without it the unknown user
    // would answer in a small fraction of the time.
    assert!(
        timings["unknown"] * 4 >= timings["wrong"],
        "unknown user answered suspiciously fast: {timings:?}"
    );
}

async fn logins_are_limited_per_address(plane: &Plane) {
    let client = Plane::client_from(9);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let response = client
            .post(plane.url("/admin/v1/login"))
            .json(&json!({ "username": "khong.ton.tai", "password": "x" }))
            .send()
            .await
            .expect("login");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED)
    );
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
    // Another address is not held back.
    let (status, _) = plane
        .login_with(&Plane::client_from(10), "thanhtra.nguyen", PASSWORD)
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn callers_without_a_session_get_401(plane: &Plane, store: &Store) {
    let path = "/audit/v1/records?limit=1";
    let (status, body) = plane.get(path, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "AUTHEN_ERROR");

    // A consumer's data-plane credentials are no session here.
    let keys_dir = tempfile::tempdir().expect("keys dir");
    let keys = Arc::new(SigningKeys::load_or_create(keys_dir.path()).expect("keys"));
    let jwt = TokenIssuer::new(keys, "lgsp".into(), Duration::from_secs(300))
        .issue("motcua-xa-a", None)
        .expect("issue a data-plane token")
        .access_token;
    let api_key = "lgsp_test_key_for_sys_a_0123456789abcdef";
    for token in [jwt.as_str(), api_key, "garbage", &"x".repeat(600)] {
        let (status, body) = plane.get(path, Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let response = plane
        .client
        .get(plane.url(path))
        .header("x-api-key", api_key)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // An expired session is refused; the same session unexpired is admitted.
    let expired = "an-expired-session-token-of-an-auditor-0000";
    store
        .create_session(
            &session_token_hash(expired),
            "thanhtra.nguyen",
            now_ms() - 1000,
        )
        .await
        .expect("expired session");
    let (status, _) = plane.get(path, Some(expired)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let live = "a-live-session-token-of-an-auditor-00000000";
    store
        .create_session(
            &session_token_hash(live),
            "thanhtra.nguyen",
            now_ms() + 60_000,
        )
        .await
        .expect("live session");
    let (status, _) = plane.get(path, Some(live)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn other_roles_get_403(plane: &Plane) {
    let paths = [
        "/audit/v1/records",
        "/audit/v1/records/0190b2a0-0000-7000-8000-000000000000",
        "/audit/v1/subjects/report?subject=001099000001",
        "/audit/v1/export?format=jsonl",
        "/audit/v1/export?format=csv",
        "/audit/v1/checkpoints",
    ];
    for username in ["vanhanh.tran", "quantri.le", "canbo.xa"] {
        let token = plane.login(username).await;
        for path in paths {
            let (status, body) = plane.get(path, Some(&token)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{username} {path}: {body}");
            assert_eq!(body["code"], "FORBIDDEN");
            assert_eq!(body["title"], "Không có quyền thực hiện thao tác này");
        }
    }
    for path in paths {
        let (status, _) = plane.get(path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

async fn disabled_accounts_lose_their_sessions(plane: &Plane, store: &Store) {
    let token = plane.login("thanhtra.pham").await;
    plane.get_ok("/audit/v1/records?limit=1", &token).await;
    assert!(
        store
            .set_account_disabled("thanhtra.pham", true, "admin:quantri.le")
            .await
            .expect("disable")
    );
    let (status, _) = plane.get("/audit/v1/records?limit=1", Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = plane
        .login_with(&plane.client, "thanhtra.pham", PASSWORD)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// Ids of the rows for which `keep` holds.
fn ids_where(rows: &[AuditRecord], keep: impl Fn(&AuditRecord) -> bool) -> BTreeSet<String> {
    rows.iter()
        .filter(|row| keep(row))
        .map(|row| row.id.clone())
        .collect()
}

fn ids_of(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect()
}

async fn each_filter_finds_exactly_its_records(
    plane: &Plane,
    token: &str,
    rows: &[AuditRecord],
) -> usize {
    let middle = rows[RECORDS / 2].recorded_at;
    let late = rows[RECORDS * 3 / 4].recorded_at;
    let is = |value: &Option<String>, wanted: &str| value.as_deref() == Some(wanted);
    let encoded_officer: String = url_encode(AWKWARD_OFFICER);
    let cases: Vec<(String, BTreeSet<String>)> = vec![
        (
            format!("from={middle}"),
            ids_where(rows, |r| r.recorded_at >= middle),
        ),
        (
            format!("to={middle}"),
            ids_where(rows, |r| r.recorded_at < middle),
        ),
        (
            format!("from={}&to={}", rfc3339(middle), rfc3339(late)),
            ids_where(rows, |r| r.recorded_at >= middle && r.recorded_at < late),
        ),
        (
            "system=thue-xa".into(),
            ids_where(rows, |r| is(&r.system, "thue-xa")),
        ),
        (
            "agency=000.00.01.H29".into(),
            ids_where(rows, |r| is(&r.agency, "000.00.01.H29")),
        ),
        (
            "officer=canbo3".into(),
            ids_where(rows, |r| is(&r.officer, "canbo3")),
        ),
        (
            format!("officer={encoded_officer}"),
            ids_where(rows, |r| is(&r.officer, AWKWARD_OFFICER)),
        ),
        (
            "service=business".into(),
            ids_where(rows, |r| r.service == "business"),
        ),
        (
            "purpose=2.000305".into(),
            ids_where(rows, |r| is(&r.purpose, "2.000305")),
        ),
        (
            "dossier=H29.4".into(),
            ids_where(rows, |r| is(&r.dossier, "H29.4")),
        ),
        (
            "outcome=refused".into(),
            ids_where(rows, |r| r.outcome == "refused"),
        ),
        (
            "subject_kind=enterprise".into(),
            ids_where(rows, |r| is(&r.subject_kind, "enterprise")),
        ),
        (
            format!("system=motcua-xa-a&outcome=allowed&from={middle}"),
            ids_where(rows, |r| {
                is(&r.system, "motcua-xa-a") && r.outcome == "allowed" && r.recorded_at >= middle
            }),
        ),
        ("system=nobody".into(), BTreeSet::new()),
    ];
    for (query, expected) in &cases {
        let (records, _) = plane.walk(query, 1000, token).await;
        assert_eq!(records.len(), expected.len(), "{query}: no duplicates");
        assert_eq!(&ids_of(&records), expected, "{query}");
    }
    let (status, body) = plane
        .get(
            &format!("/audit/v1/records?from={middle}&to={middle}"),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    cases.len()
}

async fn pagination_walks_every_record_once(
    plane: &Plane,
    token: &str,
    rows: &[AuditRecord],
) -> usize {
    let (all, pages) = plane.walk("", 37, token).await;
    assert_eq!(pages, RECORDS.div_ceil(37));
    assert_eq!(all.len(), RECORDS);
    let ids = ids_of(&all);
    assert_eq!(ids.len(), RECORDS, "every record exactly once");
    assert_eq!(ids, ids_where(rows, |_| true));
    let times: Vec<i64> = all
        .iter()
        .map(|r| r["recorded_at"].as_i64().expect("recorded_at"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // The same order whatever the page size, ties included.
    let (in_big_pages, _) = plane.walk("", 1000, token).await;
    let order = |records: &[Value]| -> Vec<String> {
        records
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(order(&all), order(&in_big_pages));
    // A page holds every column, with the stored values.
    let first: AuditRecord = serde_json::from_value(all[0].clone()).expect("a full record");
    assert!(rows.contains(&first));
    assert_eq!(
        all[0].as_object().expect("object").len(),
        AUDIT_RECORD_COLUMNS.len()
    );
    pages
}

async fn malformed_queries_are_refused(plane: &Plane, token: &str) {
    for query in [
        "limit=0",
        "limit=1001",
        "limit=ten",
        "sytem=motcua-xa-a",
        "system=a&system=b",
        "cursor=not-a-cursor",
        "outcome=maybe",
        "from=yesterday",
        "subject_kind=passport",
        "subject=999123456789",
        "subject=12345",
    ] {
        let (status, body) = plane
            .get(&format!("/audit/v1/records?{query}"), Some(token))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], "INVALID_REQUEST", "{query}");
        assert!(
            !body.to_string().contains("999123456789"),
            "a subject is never echoed"
        );
    }
}

async fn record_by_id(plane: &Plane, token: &str, rows: &[AuditRecord]) {
    let wanted = &rows[RECORDS / 3];
    let body = plane
        .get_ok(&format!("/audit/v1/records/{}", wanted.id), token)
        .await;
    let got: AuditRecord = serde_json::from_value(body).expect("a record");
    assert_eq!(&got, wanted);
    let (status, body) = plane
        .get(
            "/audit/v1/records/0190b2a0-0000-7000-8000-000000000000",
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "NOT_FOUND");
}

async fn subject_search_matches_by_hash(plane: &Plane, token: &str, rows: &[AuditRecord]) -> usize {
    let citizen = CITIZENS[1];
    let expected = ids_where(rows, |r| {
        r.subject_hash.as_deref() == Some(subject_hash("personal_id", citizen).as_str())
    });
    assert!(!expected.is_empty());
    let (records, _) = plane.walk(&format!("subject={citizen}"), 50, token).await;
    assert_eq!(ids_of(&records), expected);
    assert!(
        records.iter().all(|r| !r.to_string().contains(citizen)),
        "the identifier is never stored nor answered"
    );
    let (explicit, _) = plane
        .walk(
            &format!("subject={citizen}&subject_kind=personal_id"),
            1000,
            token,
        )
        .await;
    assert_eq!(ids_of(&explicit), expected);

    let enterprise = ENTERPRISES[1];
    let expected_enterprise = ids_where(rows, |r| {
        r.subject_hash.as_deref() == Some(subject_hash("enterprise", enterprise).as_str())
    });
    let (records, _) = plane
        .walk(
            &format!("subject={enterprise}&outcome=allowed"),
            1000,
            token,
        )
        .await;
    let allowed = ids_where(rows, |r| r.outcome == "allowed");
    assert_eq!(
        ids_of(&records),
        &expected_enterprise & &allowed,
        "subject combines with other filters"
    );
    // A personal ID asked for as an enterprise code does not validate.
    let (status, _) = plane
        .get(
            &format!("/audit/v1/records?subject={citizen}&subject_kind=enterprise"),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    expected.len()
}

async fn per_citizen_report(plane: &Plane, token: &str, rows: &[AuditRecord]) -> usize {
    let citizen = CITIZENS[0];
    let hash = subject_hash("personal_id", citizen);
    let from = rows[100].recorded_at;
    let mut expected: Vec<&AuditRecord> = rows
        .iter()
        .filter(|r| r.subject_hash.as_deref() == Some(hash.as_str()) && r.recorded_at >= from)
        .collect();
    expected.sort_by_key(|r| std::cmp::Reverse(r.recorded_at));

    let mut entries = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut path = format!(
            "/audit/v1/subjects/report?subject={citizen}&from={}&limit=25",
            rfc3339(from)
        );
        if !cursor.is_empty() {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = plane.get_ok(&path, token).await;
        assert_eq!(page["subject_kind"], "personal_id");
        assert!(!page.to_string().contains(citizen), "never echoed");
        entries.extend(page["accesses"].as_array().expect("accesses").clone());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(entries.len(), expected.len());
    let answered: Vec<i64> = entries
        .iter()
        .map(|e| e["recorded_at"].as_i64().expect("recorded_at"))
        .collect();
    let wanted: Vec<i64> = expected.iter().map(|r| r.recorded_at).collect();
    assert_eq!(answered, wanted, "newest first");
    assert_eq!(
        ids_of(
            &entries
                .iter()
                .map(|e| json!({ "id": e["audit_id"] }))
                .collect::<Vec<_>>()
        ),
        expected.iter().map(|r| r.id.clone()).collect()
    );
    for entry in &entries {
        let row = rows
            .iter()
            .find(|r| Some(r.id.as_str()) == entry["audit_id"].as_str())
            .expect("a seeded record");
        assert_eq!(entry["system"], json!(row.system));
        assert_eq!(entry["officer"], json!(row.officer));
        assert_eq!(entry["purpose"], json!(row.purpose));
        assert_eq!(entry["dossier"], json!(row.dossier));
        assert_eq!(entry["service"], row.service);
        assert_eq!(entry["outcome"], row.outcome);
        assert!(
            entry["time"]
                .as_str()
                .is_some_and(|t| t.ends_with("+07:00")),
            "{entry}"
        );
        let expected_name = match row.agency.as_deref() {
            Some("000.00.01.H29") => json!("UBND xã An Khánh"),
            Some("000.00.00.H29") => json!("UBND tỉnh Hà Tây"),
            _ => Value::Null,
        };
        assert_eq!(entry["agency_name"], expected_name, "{entry}");
        let sentence = entry["moTa"].as_str().expect("moTa");
        assert!(
            sentence.contains("đã truy cập dịch vụ population"),
            "{sentence}"
        );
        if let Some(name) = expected_name.as_str() {
            assert!(sentence.contains(name), "{sentence}");
        }
    }
    let (status, _) = plane.get("/audit/v1/subjects/report", Some(token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the subject is required");
    entries.len()
}

async fn checkpoints_are_listed(plane: &Plane, token: &str) -> usize {
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut path = "/audit/v1/checkpoints?limit=3".to_string();
        if !cursor.is_empty() {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = plane.get_ok(&path, token).await;
        for checkpoint in page["checkpoints"].as_array().expect("checkpoints") {
            let keys: BTreeSet<&str> = checkpoint
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, CHECKPOINT_COLUMNS.into_iter().collect());
            seen.push((
                checkpoint["chain"].as_str().expect("chain").to_string(),
                checkpoint["seq"].as_i64().expect("seq"),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    let expected: Vec<(String, i64)> = [("node-a", 690), ("node-b", 460)]
        .into_iter()
        .flat_map(|(chain, count)| {
            (1..=count / 100)
                .rev()
                .map(move |k| (chain.to_string(), k * 100))
        })
        .collect();
    assert_eq!(seen, expected, "by chain, newest first, each once");
    let one_chain = plane
        .get_ok("/audit/v1/checkpoints?chain=node-b", token)
        .await;
    assert_eq!(one_chain["checkpoints"].as_array().map(Vec::len), Some(4));
    seen.len()
}

/// Reads a streamed body chunk by chunk; returns it and how many chunks came.
async fn read_stream(response: reqwest::Response) -> (String, usize) {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.expect("chunk"));
        chunks += 1;
    }
    (String::from_utf8(body).expect("utf-8"), chunks)
}

/// Checks an export's JSON lines: records in (chain, seq) order, each
/// checkpoint right after the record it signs; returns the records.
fn parse_jsonl_export(body: &str) -> Vec<AuditRecord> {
    let mut records: Vec<AuditRecord> = Vec::new();
    for line in body.lines() {
        let mut value: Value = serde_json::from_str(line).expect("each line is JSON");
        let object = value.as_object_mut().expect("an object");
        match object.remove("type").as_ref().and_then(Value::as_str) {
            Some("record") => {
                assert_eq!(object.len(), AUDIT_RECORD_COLUMNS.len(), "every column");
                let record: AuditRecord = serde_json::from_value(value).expect("a record");
                if let Some(previous) = records.last() {
                    assert!(
                        (&previous.chain, previous.seq) < (&record.chain, record.seq),
                        "ascending (chain, seq)"
                    );
                }
                records.push(record);
            }
            Some("checkpoint") => {
                let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
                assert_eq!(keys, CHECKPOINT_COLUMNS.into_iter().collect());
                let checkpoint: Checkpoint = serde_json::from_value(value).expect("a checkpoint");
                let signed = records.last().expect("a checkpoint follows its record");
                assert_eq!(
                    (&checkpoint.chain, checkpoint.seq, &checkpoint.hash),
                    (&signed.chain, signed.seq, &signed.hash),
                    "right after the record it signs"
                );
            }
            other => panic!("unexpected line type {other:?}"),
        }
    }
    records
}

async fn export_jsonl_streams_and_parses_back(
    plane: &Plane,
    token: &str,
    rows: &[AuditRecord],
    public_key: &str,
) -> usize {
    let response = plane
        .client
        .get(plane.url("/audit/v1/export?format=jsonl"))
        .bearer_auth(token)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let (body, chunks) = read_stream(response).await;
    let exported = parse_jsonl_export(&body);
    let mut in_chain_order: Vec<AuditRecord> = rows.to_vec();
    in_chain_order.sort_by(|a, b| (&a.chain, a.seq).cmp(&(&b.chain, b.seq)));
    assert_eq!(exported, in_chain_order, "every record, every column");
    let checkpoints = body
        .lines()
        .filter(|l| l.contains(r#""type":"checkpoint""#))
        .count();
    assert_eq!(checkpoints, 6 + 4);

    // The audit module's offline verifier accepts the full export.
    let report = verify_export(std::io::Cursor::new(body.as_bytes()), Some(public_key))
        .expect("the export parses as the audit export format");
    assert!(report.ok, "{report:?}");
    let per_chain: Vec<(&str, u64, u64)> = report
        .chains
        .iter()
        .map(|c| (c.chain.as_str(), c.records, c.checkpoints))
        .collect();
    assert_eq!(per_chain, [("node-a", 690, 6), ("node-b", 460, 4)]);

    // A filtered export carries the checkpoints of its records only; one
    // cut at a time is a prefix of every chain, so it verifies too.
    let to = rows[RECORDS / 2].recorded_at;
    let response = plane
        .client
        .get(plane.url(&format!("/audit/v1/export?to={to}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("export");
    let (body, _) = read_stream(response).await;
    let exported = parse_jsonl_export(&body);
    assert_eq!(
        ids_of_records(&exported),
        ids_where(rows, |r| r.recorded_at < to)
    );
    let report =
        verify_export(std::io::Cursor::new(body.as_bytes()), Some(public_key)).expect("parses");
    assert!(report.ok, "{report:?}");
    assert!(report.chains.iter().all(|c| c.checkpoints > 0));
    chunks
}

fn ids_of_records(records: &[AuditRecord]) -> BTreeSet<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

async fn export_csv_streams_and_parses_back(plane: &Plane, token: &str, rows: &[AuditRecord]) {
    let response = plane
        .client
        .get(plane.url("/audit/v1/export?format=csv&service=population"))
        .bearer_auth(token)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/csv")),
    );
    let (body, _) = read_stream(response).await;
    let table = parse_csv(&body);
    let header: Vec<&str> = table[0]
        .iter()
        .map(|f| f.as_deref().expect("header names"))
        .collect();
    assert_eq!(header, AUDIT_RECORD_COLUMNS);
    let mut expected: Vec<&AuditRecord> =
        rows.iter().filter(|r| r.service == "population").collect();
    expected.sort_by(|a, b| (&a.chain, a.seq).cmp(&(&b.chain, b.seq)));
    assert_eq!(table.len() - 1, expected.len());
    let mut awkward = 0;
    for (fields, row) in table[1..].iter().zip(expected) {
        let wanted: Vec<Option<String>> = csv_fields(row).into_iter().collect();
        assert_eq!(fields, &wanted, "row {}", row.id);
        awkward += usize::from(row.officer.as_deref() == Some(AWKWARD_OFFICER));
    }
    assert!(awkward > 0, "the quoting case was exported");
}

async fn logout_ends_the_session(plane: &Plane, token: &str) {
    let response = plane
        .client
        .post(plane.url("/admin/v1/logout"))
        .bearer_auth(token)
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = plane.get("/audit/v1/records?limit=1", Some(token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = plane
        .client
        .post(plane.url("/admin/v1/logout"))
        .bearer_auth(token)
        .send()
        .await
        .expect("logout again");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// RFC 4180: fields separated by commas, records by CRLF, quoted fields may
/// hold anything with quotes doubled. An unquoted empty field is NULL.
fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut table = Vec::new();
    let mut record = Vec::new();
    let mut chars = text.chars().peekable();
    let mut field = String::new();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() && !quoted => {
                quoted = true;
                loop {
                    match chars.next().expect("closing quote") {
                        '"' if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        '"' => break,
                        other => field.push(other),
                    }
                }
            }
            ',' => {
                record.push((quoted || !field.is_empty()).then(|| std::mem::take(&mut field)));
                quoted = false;
            }
            '\r' => {
                assert_eq!(chars.next(), Some('\n'), "records end with CRLF");
                record.push((quoted || !field.is_empty()).then(|| std::mem::take(&mut field)));
                quoted = false;
                table.push(std::mem::take(&mut record));
            }
            other => {
                assert!(!quoted, "nothing follows a closing quote");
                field.push(other);
            }
        }
    }
    assert!(
        record.is_empty() && field.is_empty(),
        "the last record ends with CRLF"
    );
    table
}

fn rfc3339(ms: i64) -> String {
    url_encode(&lgsp_gateway::admin::timestamps::format_rfc3339(ms, 7 * 60))
}

fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[test]
fn csv_parser_reads_what_the_export_writes() {
    let table = parse_csv("a,,\"\",\"x,\"\"y\"\"\r\nz\"\r\n1,2,3,4\r\n");
    assert_eq!(
        table,
        vec![
            vec![
                Some("a".into()),
                None,
                Some(String::new()),
                Some("x,\"y\"\r\nz".into())
            ],
            vec![
                Some("1".into()),
                Some("2".into()),
                Some("3".into()),
                Some("4".into())
            ],
        ]
    );
}
