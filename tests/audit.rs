//! The tamper-evident audit log end to end: one durable record per exchange,
//! refusals included; responses bound to their records; `lgsp audit verify`
//! passing on an untouched log and naming the spot of every kind of tampering;
//! nothing lost on `kill -9`; the auditor's view.

mod harness;

use harness::{
    Gateway, GatewayBuilder, Mock, PURPOSE, SYS_A_KEY, SYS_B_KEY, anonymous, http, lgsp,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Small batches and frequent checkpoints, so tamper tests cross checkpoints.
const AUDIT: &str = "[audit]\ncheckpoint_every = 5\n";

fn db_path(gw: &Gateway) -> PathBuf {
    gw.dir().join("data").join("lgsp.db")
}

async fn sqlite(path: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the audit store")
}

async fn verify(args: &[&str], target: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = lgsp()
        .args(["audit", "verify"])
        .args(args)
        .args(target)
        .output()
        .await
        .expect("run verify");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Drives a mix of allowed, refused and failed exchanges; returns the responses' audit ids.
async fn mixed_traffic(gw: &Gateway) -> Vec<(u16, String, String)> {
    let id = Mock::known_personal_id();
    let citizen = format!("/api/population/v1/citizens/{id}");
    let mut seen = Vec::new();
    let requests: Vec<reqwest::RequestBuilder> = vec![
        http().get(gw.url(&citizen)),      // allowed
        anonymous().get(gw.url(&citizen)), // 401
        anonymous()
            .get(gw.url(&citizen))
            .header("x-api-key", SYS_B_KEY)
            .header("x-lgsp-purpose", PURPOSE)
            .header("x-lgsp-user", "u"), // 403
        anonymous()
            .get(gw.url(&citizen))
            .header("x-api-key", SYS_A_KEY), // 400 purpose
        http().get(gw.url("/api/population/v1/citizens/12345")), // 400 invalid id
        http().get(gw.url("/api/land/v1/parcels/1")), // 404
        http()
            .post(gw.url("/api/echo/v1/inspect"))
            .body("{\"x\":1}"), // allowed, with a body
        http().get(gw.url("/api/echo/v1/inspect")), // allowed
    ];
    for rb in requests {
        let r = rb.send().await.expect("send");
        let status = r.status().as_u16();
        let audit_id = r
            .headers()
            .get("x-lgsp-audit-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let request_hash = r
            .headers()
            .get("x-lgsp-request-hash")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            !audit_id.is_empty(),
            "status {status} came without X-LGSP-Audit-Id"
        );
        seen.push((status, audit_id, request_hash));
    }
    seen
}

#[tokio::test]
async fn every_exchange_leaves_exactly_one_bound_record() {
    let mock = Mock::start().await;
    let mut gw = GatewayBuilder::new(&mock).config(AUDIT).start().await;
    let seen = mixed_traffic(&gw).await;
    gw.terminate();
    gw.wait(Duration::from_secs(15)).await;

    let pool = sqlite(&db_path(&gw)).await;
    let rows = sqlx::query("SELECT id, status, request_sha256, response_sha256, subject_hash, outcome FROM audit_records")
        .fetch_all(&pool)
        .await
        .expect("records");
    assert_eq!(
        rows.len(),
        seen.len(),
        "one record per exchange, refusals included"
    );
    let ids: HashSet<String> = rows.iter().map(|r| r.get::<String, _>("id")).collect();
    for (status, audit_id, request_hash) in &seen {
        assert!(
            ids.contains(audit_id),
            "the record {audit_id} named by a {status} response exists"
        );
        let row = rows
            .iter()
            .find(|r| r.get::<String, _>("id") == *audit_id)
            .expect("row");
        assert_eq!(row.get::<i64, _>("status"), i64::from(*status));
        let expected = lgsp_gateway::pipeline::evidence::request_hash(
            audit_id,
            &row.get::<String, _>("request_sha256"),
            &row.get::<String, _>("response_sha256"),
            *status,
        );
        assert_eq!(
            request_hash, &expected,
            "X-LGSP-Request-Hash binds the request to the response"
        );
    }
    // The data subject is only ever a keyed hash.
    let id = Mock::known_personal_id();
    let dump = std::fs::read(db_path(&gw)).expect("db file");
    assert!(
        !dump.windows(id.len()).any(|w| w == id.as_bytes()),
        "the personal ID is stored in clear"
    );
    let hashed: Vec<Option<String>> = rows.iter().map(|r| r.get("subject_hash")).collect();
    assert!(hashed.iter().flatten().all(|h| h.len() == 64), "{hashed:?}");
    let outcomes: HashSet<String> = rows.iter().map(|r| r.get::<String, _>("outcome")).collect();
    assert!(
        outcomes.contains("allowed") && outcomes.contains("refused"),
        "{outcomes:?}"
    );

    let (ok, report) = verify(&["--config"], &[gw.config_path.as_os_str()]).await;
    assert!(ok, "verify passes on an untouched log: {report}");
}

/// Each tampering, applied to a fresh copy of a verified log, with what verify must report.
const TAMPERINGS: [(&str, &str, &str); 6] = [
    (
        "edited field",
        "UPDATE audit_records SET purpose = 'other' WHERE seq = 3",
        "3",
    ),
    (
        "deleted row",
        "DELETE FROM audit_records WHERE seq = 4",
        "4",
    ),
    (
        "swapped pair",
        "UPDATE audit_records SET seq = -1 WHERE seq = 2; UPDATE audit_records SET seq = 2 WHERE seq = 3; UPDATE audit_records SET seq = 3 WHERE seq = -1",
        "2",
    ),
    (
        "inserted row",
        "INSERT INTO audit_records SELECT 'forged-id', chain, 1000, recorded_at, request_id, trace_id, client_ip, system, agency, auth_method, officer, purpose, dossier, service, version, operation, method, subject_kind, subject_hash, outcome, status, error_code, upstream_status, latency_us, request_bytes, response_bytes, request_sha256, response_sha256, reuse, prev_hash, hash, contract_violation FROM audit_records WHERE seq = 2; UPDATE audit_records SET seq = seq + 100000 WHERE seq >= 3 AND id <> 'forged-id'; UPDATE audit_records SET seq = seq - 99999 WHERE seq >= 100000; UPDATE audit_records SET seq = 3 WHERE id = 'forged-id'",
        "3",
    ),
    (
        "truncated tail",
        "DELETE FROM audit_records WHERE seq > 2",
        "truncat",
    ),
    (
        "forged checkpoint",
        "UPDATE audit_checkpoints SET signature = 'AAAA' || substr(signature, 5)",
        "checkpoint",
    ),
];

#[tokio::test]
async fn verify_names_every_kind_of_tampering() {
    let mock = Mock::start().await;
    let mut gw = GatewayBuilder::new(&mock).config(AUDIT).start().await;
    for _ in 0..2 {
        mixed_traffic(&gw).await;
    }
    gw.terminate();
    gw.wait(Duration::from_secs(15)).await;
    let pristine = db_path(&gw);
    let (ok, report) = verify(&["--data-dir"], &[gw.dir().join("data").as_os_str()]).await;
    assert!(ok, "{report}");

    for (name, sql, must_mention) in TAMPERINGS {
        let copy = tempfile::tempdir().expect("tempdir");
        let data = copy.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        std::fs::copy(&pristine, data.join("lgsp.db")).expect("copy db");
        let keys = gw.dir().join("data").join("keys");
        copy_dir(&keys, &data.join("keys"));
        let pool = sqlite(&data.join("lgsp.db")).await;
        for statement in sql.split("; ") {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .unwrap_or_else(|e| panic!("{name}: {statement}: {e}"));
        }
        pool.close().await;
        let (ok, report) = verify(&["--data-dir"], &[data.as_os_str()]).await;
        assert!(!ok, "verify must fail after {name}: {report}");
        assert!(
            report.to_lowercase().contains(&must_mention.to_lowercase()),
            "{name}: report does not name the spot ({must_mention}): {report}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_record() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let url = gw.url("/api/echo/v1/inspect");
    let mut workers = Vec::new();
    for _ in 0..6 {
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            let client = http();
            let mut acknowledged = Vec::new();
            for _ in 0..100_000 {
                match client.get(&url).send().await {
                    Ok(r) => {
                        if let Some(id) = r
                            .headers()
                            .get("x-lgsp-audit-id")
                            .and_then(|v| v.to_str().ok())
                        {
                            acknowledged.push(id.to_string());
                        }
                    }
                    Err(_) => break, // the gateway is gone
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &gw.pid().to_string()])
        .status()
        .expect("kill -9");
    assert!(killed.success());
    let mut acknowledged = Vec::new();
    for w in workers {
        acknowledged.extend(w.await.expect("join"));
    }
    assert!(
        acknowledged.len() > 50,
        "the load ran: {} acknowledged",
        acknowledged.len()
    );

    let pool = sqlite(&db_path(&gw)).await;
    let stored: HashSet<String> = sqlx::query("SELECT id FROM audit_records")
        .fetch_all(&pool)
        .await
        .expect("ids")
        .iter()
        .map(|r| r.get("id"))
        .collect();
    pool.close().await;
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged records lost after kill -9, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    let (ok, report) = verify(&["--config"], &[gw.config_path.as_os_str()]).await;
    assert!(ok, "the chain verifies after a crash: {report}");
}

#[tokio::test]
async fn auditors_search_report_export_and_verify() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).config(AUDIT).start().await;
    mixed_traffic(&gw).await;

    let created = lgsp()
        .args([
            "admin",
            "create-user",
            "--role",
            "auditor",
            "--username",
            "thanhtra",
            "--password",
            "mat-khau-kiem-tra-dai",
        ])
        .arg("--config")
        .arg(&gw.config_path)
        .output()
        .await
        .expect("create-user");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let login: Value = anonymous()
        .post(gw.admin_url("/admin/v1/login"))
        .json(&serde_json::json!({ "username": "thanhtra", "password": "mat-khau-kiem-tra-dai" }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    let auditor = |path: &str| anonymous().get(gw.admin_url(path)).bearer_auth(&token);

    // Who read this citizen's data, when and why.
    let id = Mock::known_personal_id();
    let report: Value = auditor(&format!("/audit/v1/subjects/report?subject={id}"))
        .send()
        .await
        .expect("report")
        .json()
        .await
        .expect("json");
    let entries = report
        .as_object()
        .and_then(|o| o.values().find_map(Value::as_array))
        .expect("report entries");
    assert!(!entries.is_empty(), "{report}");
    assert!(
        !report.to_string().contains(&id),
        "the report never echoes the ID in clear"
    );

    let search: Value = auditor("/audit/v1/records?system=sys-a&limit=2")
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    assert_eq!(search["records"].as_array().map(Vec::len), Some(2));
    assert!(search["next_cursor"].is_string(), "{search}");

    // A full export verifies offline.
    let export = auditor("/audit/v1/export?format=jsonl")
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("text");
    let file = gw.dir().join("export.jsonl");
    std::fs::write(&file, &export).expect("write export");
    let (ok, out) = verify(&["--file"], &[file.as_os_str()]).await;
    assert!(ok, "{out}");
    let tampered = export.replacen("sys-a", "sys-x", 1);
    std::fs::write(&file, tampered).expect("write");
    let (ok, _) = verify(&["--file"], &[file.as_os_str()]).await;
    assert!(!ok, "a tampered export fails verification");

    // Separation of planes and roles.
    let r = anonymous()
        .get(gw.admin_url("/admin/v1/registry"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403, "an auditor cannot use admin endpoints");
    let consumer = harness::token(&gw).await;
    let r = anonymous()
        .get(gw.admin_url("/audit/v1/records"))
        .bearer_auth(&consumer)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401, "a consumer token cannot read audit data");
    let digest: String = Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        !export.contains(&digest),
        "subjects are keyed hashes, not plain SHA-256 of the ID"
    );
}
