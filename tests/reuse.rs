//! Once-only end to end: the reuse stage (hit, miss, freshness, no-cache),
//! the reuse service (list, fetch, write-back with a signed receipt,
//! invalidate, asked items), encryption at rest, and the KPI figures of a
//! scripted dossier run.

mod harness;

use harness::{Gateway, GatewayBuilder, Mock, PURPOSE, SYS_A_KEY, SYS_B_KEY, problem_code};
use serde_json::{Value, json};
use std::time::Duration;

/// The API key of `sys-d`, a second commune's desk, subscribed to population and reuse.
const SYS_D_KEY: &str = "lgsp_test_key_for_sys_d_0123456789abcdef";

/// Population with reuse (fresh for `fresh_secs`), the reuse service, and
/// a second commune; `sys-a` may write back, `sys-b` may only read.
fn reuse_overlay(mock: &Mock, fresh_secs: u64) -> String {
    let key_d = lgsp_gateway::access::secrets::hash_api_key(SYS_D_KEY);
    let operations = [
        ("GET", "/subjects/{soDinhDanh}/items"),
        ("GET", "/subjects/{soDinhDanh}/items/{loaiDuLieu}"),
        ("DELETE", "/subjects/{soDinhDanh}/items/{loaiDuLieu}"),
        ("POST", "/subjects/{soDinhDanh}/results"),
        ("POST", "/dossiers/{maHoSo}/asked"),
    ]
    .iter()
    .map(|(m, p)| format!("{{ method = \"{m}\", path = \"{p}\" }}"))
    .collect::<Vec<_>>()
    .join(", ");
    format!(
        r#"
[[agencies]]
code = "000.02.00.H29"
name = "UBND xã thử nghiệm D"
parent = "000.00.00.H29"

[[systems]]
slug = "sys-d"
agency = "000.02.00.H29"
name = "Một cửa xã D"
security_level = 3

[[credentials]]
id = "sys-d-key"
system = "sys-d"
kind = "api_key"
key_hash = "{key_d}"

[[services]]
slug = "population"
version = "v1"
name = "Tra cứu dân cư"
owner = "000.00.00.G01"
personal_data = true
data_class = "confidential"
security_level = 3
upstream = {{ url = "{mock}/population/v1", timeout_ms = 3000 }}
operations = [{{ method = "GET", path = "/citizens/{{soDinhDanh}}" }}]
contract = "citizen"
reuse = {{ data_type = "citizen", fresh_for_secs = {fresh_secs} }}

[[services]]
slug = "reuse"
version = "v1"
name = "Tái sử dụng dữ liệu"
owner = "000.00.00.H29"
personal_data = true
data_class = "confidential"
security_level = 2
upstream = {{ url = "reuse:store" }}
adapter = {{ kind = "reuse" }}
operations = [{operations}]

[[subscriptions]]
system = "sys-d"
service = "population"
state = "approved"
purposes = ["{PURPOSE}"]

[[subscriptions]]
system = "sys-d"
service = "reuse"
state = "approved"
purposes = ["{PURPOSE}"]

[[subscriptions]]
system = "sys-a"
service = "reuse"
state = "approved"
purposes = ["{PURPOSE}", "1.000894"]
write_back = true

[[subscriptions]]
system = "sys-b"
service = "reuse"
state = "approved"
purposes = ["{PURPOSE}"]
"#,
        mock = mock.url(),
    )
}

async fn reuse_gateway(mock: &Mock, fresh_secs: u64) -> Gateway {
    GatewayBuilder::new(mock)
        .overlay(&reuse_overlay(mock, fresh_secs))
        .start()
        .await
}

/// A client calling as the system with `key`, for `purpose`, within `dossier`.
fn desk(key: &str, purpose: &str, dossier: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in [
        ("x-api-key", key),
        ("x-lgsp-purpose", purpose),
        ("x-lgsp-user", "canbo.test"),
        ("x-lgsp-dossier", dossier),
    ] {
        headers.insert(name, value.parse().expect("header"));
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn audit_reuse(gw: &Gateway, auditor: &str, audit_id: &str) -> Value {
    let record: Value = reqwest::Client::new()
        .get(gw.admin_url(&format!("/audit/v1/records/{audit_id}")))
        .bearer_auth(auditor)
        .send()
        .await
        .expect("audit record")
        .json()
        .await
        .expect("json");
    record["reuse"].clone()
}

fn result_body(dossier: &str) -> Value {
    json!({
        "maHoSo": dossier,
        "maThuTucHanhChinh": "1.001612",
        "tenThuTucHanhChinh": "Đăng ký khai sinh",
        "coQuanCap": { "maDinhDanh": "000.01.00.H29", "ten": "UBND xã thử nghiệm A" },
        "ketQua": { "loaiGiayTo": "Giấy khai sinh", "soKyHieu": "123/2026/KS" },
        "ngayCap": "2026-11-24"
    })
}

#[tokio::test]
async fn a_second_commune_is_served_from_the_store_while_fresh() {
    let mock = Mock::start().await;
    let gw = reuse_gateway(&mock, 2).await;
    let auditor = gw.admin_token("auditor", "kiemtoan", None).await;
    let id = Mock::known_personal_id();
    let path = gw.url(&format!("/api/population/v1/citizens/{id}"));
    mock.reset_stats().await;

    // Commune A: nothing held yet, so the source answers and the item is kept.
    let r = desk(SYS_A_KEY, PURPOSE, "H29.01-2026-000001")
        .get(&path)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-lgsp-reuse"), "miss");
    assert!(header(&r, "x-lgsp-source").starts_with("population/v1; fetched="));
    let miss_audit = header(&r, "x-lgsp-audit-id");
    let from_source: Value = r.json().await.expect("json");
    assert_eq!(mock.hits("population").await, 1);

    // Commune D, same citizen, allowed purpose: served from the store.
    let r = desk(SYS_D_KEY, PURPOSE, "H29.02-2026-000009")
        .get(&path)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-lgsp-reuse"), "hit");
    let source = header(&r, "x-lgsp-source");
    assert!(
        source.starts_with("population/v1; fetched=") && source.contains("agency=000.00.00.G01"),
        "{source}"
    );
    let hit_audit = header(&r, "x-lgsp-audit-id");
    let from_store: Value = r.json().await.expect("json");
    assert_eq!(
        from_store, from_source,
        "the same data, diacritics included"
    );
    assert_eq!(
        mock.hits("population").await,
        1,
        "the source was not asked again"
    );

    // no-cache reaches the authoritative source, and the record says so.
    let r = desk(SYS_D_KEY, PURPOSE, "H29.02-2026-000009")
        .get(&path)
        .header("cache-control", "no-cache")
        .send()
        .await
        .expect("send");
    assert_eq!(header(&r, "x-lgsp-reuse"), "bypass");
    let bypass_audit = header(&r, "x-lgsp-audit-id");
    assert_eq!(mock.hits("population").await, 2);

    // An expired item is never served: it is fetched again.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let r = desk(SYS_D_KEY, PURPOSE, "H29.02-2026-000009")
        .get(&path)
        .send()
        .await
        .expect("send");
    assert_eq!(header(&r, "x-lgsp-reuse"), "miss");
    assert_eq!(mock.hits("population").await, 3);

    assert_eq!(audit_reuse(&gw, &auditor, &miss_audit).await, "miss");
    assert_eq!(audit_reuse(&gw, &auditor, &hit_audit).await, "hit");
    assert_eq!(audit_reuse(&gw, &auditor, &bypass_audit).await, "bypass");

    // A purpose the subscription does not allow gets nothing, from the store or not.
    let r = desk(SYS_D_KEY, "2.000986", "H29.02-2026-000009")
        .get(&path)
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (403, "PURPOSE_NOT_ALLOWED".into()));

    // Encryption at rest: neither the name nor the ID is in the database files.
    let name = from_source["hoTen"].as_str().expect("name").to_string();
    let data = gw.dir().join("data");
    let mut scanned = 0;
    for entry in std::fs::read_dir(&data).expect("data dir").flatten() {
        let file = entry.path();
        let is_db = file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("lgsp.db"));
        if !is_db {
            continue;
        }
        let bytes = std::fs::read(&file).expect("read db file");
        scanned += bytes.len();
        for needle in [name.as_bytes(), id.as_bytes()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds a personal field in clear",
                file.display()
            );
        }
    }
    assert!(scanned > 0, "the database files were scanned");
}

#[tokio::test]
async fn results_written_back_are_shared_signed_and_invalidated_by_their_issuer() {
    let mock = Mock::start().await;
    let gw = reuse_gateway(&mock, 3600).await;
    let id = Mock::known_personal_id();
    let a = desk(SYS_A_KEY, PURPOSE, "H29.01-2026-000042");
    let d = desk(SYS_D_KEY, PURPOSE, "H29.02-2026-000043");

    // A reads the citizen (kept), then writes back the result of the procedure.
    let r = a
        .get(gw.url(&format!("/api/population/v1/citizens/{id}")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = a
        .post(gw.url(&format!("/api/reuse/v1/subjects/{id}/results")))
        .json(&result_body("H29.01-2026-000042"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let receipt: Value = r.json().await.expect("receipt");
    assert_eq!(receipt["loaiDuLieu"], "ket-qua-1.001612");
    // The receipt verifies against the gateway's audit key.
    let auditor = gw.admin_token("auditor", "kiemtoan", None).await;
    let verification: Value = reqwest::Client::new()
        .get(gw.admin_url("/audit/v1/verification"))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("verification")
        .json()
        .await
        .expect("json");
    let public_key = base64_url(verification["public_key"].as_str().expect("public key"));
    let message = lgsp_gateway::audit::checkpoint::receipt_message(
        receipt["id"].as_str().expect("id"),
        receipt["maBam"].as_str().expect("hash"),
        receipt["thoiDiemNhanMs"].as_i64().expect("ms"),
    );
    let signature = base64_url(receipt["chuKy"].as_str().expect("signature"));
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public_key)
        .verify(&message, &signature)
        .expect("the receipt's signature verifies");

    // D sees the result at once, without asking the citizen.
    let r = d
        .get(gw.url(&format!("/api/reuse/v1/subjects/{id}/items")))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let listing: Value = r.json().await.expect("json");
    let types: Vec<&str> = listing["duLieu"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["loaiDuLieu"].as_str())
        .collect();
    assert!(
        types.contains(&"citizen") && types.contains(&"ket-qua-1.001612"),
        "{listing}"
    );
    let r = d
        .get(gw.url(&format!(
            "/api/reuse/v1/subjects/{id}/items/ket-qua-1.001612"
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-lgsp-reuse"), "hit");
    let result: Value = r.json().await.expect("json");
    assert_eq!(result["ketQua"]["soKyHieu"], "123/2026/KS");

    // Only for allowed purposes.
    let r = desk(SYS_D_KEY, "1.000894", "H29.02-2026-000043")
        .get(gw.url(&format!(
            "/api/reuse/v1/subjects/{id}/items/ket-qua-1.001612"
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (403, "PURPOSE_NOT_ALLOWED".into()));

    // A write-back that breaks its contract, and one without write rights.
    let mut broken = result_body("H29.01-2026-000044");
    broken["ketQua"]
        .as_object_mut()
        .expect("object")
        .remove("soKyHieu");
    let r = a
        .post(gw.url(&format!("/api/reuse/v1/subjects/{id}/results")))
        .json(&broken)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.expect("problem");
    assert_eq!(problem["code"], "INVALID_REQUEST");
    assert_eq!(problem["pointer"], "/ketQua/soKyHieu", "{problem}");
    let r = desk(SYS_B_KEY, PURPOSE, "H29.01-2026-000045")
        .post(gw.url(&format!("/api/reuse/v1/subjects/{id}/results")))
        .json(&result_body("H29.01-2026-000045"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (403, "SUBSCRIPTION_REQUIRED".into()));

    // Only the issuer may supersede its result; then it is no longer served.
    let r = d
        .delete(gw.url(&format!(
            "/api/reuse/v1/subjects/{id}/items/ket-qua-1.001612"
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (403, "SUBSCRIPTION_REQUIRED".into()));
    let r = a
        .delete(gw.url(&format!(
            "/api/reuse/v1/subjects/{id}/items/ket-qua-1.001612"
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let r = d
        .get(gw.url(&format!(
            "/api/reuse/v1/subjects/{id}/items/ket-qua-1.001612"
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (404, "DATA_NOT_FOUND".into()));
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .expect("base64url")
}

#[tokio::test]
async fn kpis_match_a_scripted_dossier_run() {
    let mock = Mock::start().await;
    let gw = reuse_gateway(&mock, 3600).await;
    let ids = lgsp_adapters::simulators::Simulator::new(
        lgsp_adapters::simulators::SimulatorOptions::default(),
    )
    .sample_personal_ids(2);
    let citizen = |id: &str| gw.url(&format!("/api/population/v1/citizens/{id}"));
    let a = desk(SYS_A_KEY, PURPOSE, "H29.01-2026-000100");
    let d = desk(SYS_D_KEY, PURPOSE, "H29.02-2026-000200");
    let status = |r: reqwest::Response| r.status().as_u16();

    // Commune A (000.01.00.H29), dossier 100: two citizens from the source.
    assert_eq!(
        status(a.get(citizen(&ids[0])).send().await.expect("send")),
        200
    );
    assert_eq!(
        status(a.get(citizen(&ids[1])).send().await.expect("send")),
        200
    );
    // Commune D (000.02.00.H29), dossier 200: the first citizen again, from the store.
    assert_eq!(
        status(d.get(citizen(&ids[0])).send().await.expect("send")),
        200
    );
    // Outside any dossier: a hit, but no dossier item.
    let r = reqwest::Client::new()
        .get(citizen(&ids[0]))
        .header("x-api-key", SYS_D_KEY)
        .header("x-lgsp-purpose", PURPOSE)
        .header("x-lgsp-user", "canbo.test")
        .send()
        .await
        .expect("send");
    assert_eq!(header(&r, "x-lgsp-reuse"), "hit");
    // A refusal.
    let r = desk(SYS_D_KEY, "2.000986", "H29.02-2026-000200")
        .get(citizen(&ids[0]))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);
    // What the desks still had to ask the citizens for.
    for (client, dossier, n) in [(&a, "H29.01-2026-000100", 1), (&d, "H29.02-2026-000200", 2)] {
        let r = client
            .post(gw.url(&format!("/api/reuse/v1/dossiers/{dossier}/asked")))
            .json(&json!({ "soMuc": n, "loaiDuLieu": ["giayXacNhanCuTru"] }))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201);
    }

    // Two results written back: one issued today (on time), one issued weeks ago (late).
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(7, 0, 0).expect("offset"))
        .date();
    let today = format!(
        "{:04}-{:02}-{:02}",
        today.year(),
        u8::from(today.month()),
        today.day()
    );
    for issued in [today.as_str(), "2026-10-01"] {
        let mut body = result_body("H29.01-2026-000100");
        body["ngayCap"] = json!(issued);
        let r = a
            .post(gw.url(&format!("/api/reuse/v1/subjects/{}/results", ids[1])))
            .json(&body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 201);
    }

    let operator = gw.admin_token("operator", "vanhanh", None).await;
    let kpi: Value = reqwest::Client::new()
        .get(gw.admin_url("/admin/v1/kpi"))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("kpi")
        .json()
        .await
        .expect("json");
    let totals = &kpi["totals"];
    assert_eq!(totals["itemsFromState"], 3, "{kpi}");
    assert_eq!(totals["itemsAsked"], 3, "{kpi}");
    assert_eq!(totals["reuseRate"], 0.5, "{kpi}");
    assert_eq!(totals["reuse"]["hits"], 2, "{kpi}");
    assert_eq!(totals["reuse"]["authoritative"], 2, "{kpi}");
    assert_eq!(totals["refused"], 1, "{kpi}");
    assert_eq!(totals["writeBacks"], 2, "{kpi}");
    assert_eq!(totals["writeBacksOnTime"], 1, "{kpi}");
    assert_eq!(totals["onTimeRate"], 0.5, "{kpi}");
    let rate_of = |agency: &str| -> f64 {
        let rows: Vec<&Value> = kpi["days"]
            .as_array()
            .expect("days")
            .iter()
            .filter(|r| r["agency"] == agency)
            .collect();
        let sum = |k: &str| rows.iter().map(|r| r[k].as_u64().unwrap_or(0)).sum::<u64>() as f64;
        sum("itemsFromState") / (sum("itemsFromState") + sum("itemsAsked"))
    };
    assert!((rate_of("000.01.00.H29") - 2.0 / 3.0).abs() < 1e-9, "{kpi}");
    assert!((rate_of("000.02.00.H29") - 1.0 / 3.0).abs() < 1e-9, "{kpi}");

    // A commune officer sees its own commune only.
    let officer = gw
        .admin_token("commune_officer", "canbo.xa.d", Some("000.02.00.H29"))
        .await;
    let own: Value = reqwest::Client::new()
        .get(gw.admin_url("/admin/v1/kpi"))
        .bearer_auth(&officer)
        .send()
        .await
        .expect("kpi")
        .json()
        .await
        .expect("json");
    assert_eq!(own["totals"]["itemsFromState"], 1, "{own}");
    assert_eq!(own["totals"]["itemsAsked"], 2, "{own}");

    // The same counts as Prometheus counters on the admin listener.
    let scrape = reqwest::Client::new()
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let line = |needle: &str| {
        scrape
            .lines()
            .find(|l| {
                l.starts_with("lgsp_dossier_items") && needle.split(',').all(|n| l.contains(n))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(
        line("lgsp_dossier_items_total{,agency=\"000.01.00.H29\",source=\"authoritative\""),
        Some(2.0),
        "{scrape}"
    );
    assert_eq!(
        line("lgsp_dossier_items_total{,agency=\"000.02.00.H29\",source=\"state_store\""),
        Some(1.0)
    );
    assert_eq!(
        line("lgsp_dossier_items_asked_total{,agency=\"000.02.00.H29\""),
        Some(2.0)
    );
}

#[tokio::test]
async fn the_reuse_key_rotates_without_losing_items() {
    let mock = Mock::start().await;
    let mut gw = reuse_gateway(&mock, 3600).await;
    let id = Mock::known_personal_id();
    let path = format!("/api/population/v1/citizens/{id}");
    let a = desk(SYS_A_KEY, PURPOSE, "H29.01-2026-000300");
    let r = a.get(gw.url(&path)).send().await.expect("send");
    assert_eq!(header(&r, "x-lgsp-reuse"), "miss");
    let kept: Value = r.json().await.expect("json");

    gw.terminate();
    assert!(gw.wait(Duration::from_secs(20)).await.success());
    let keys = gw.dir().join("data").join("reuse-keys");
    let before: Vec<_> = std::fs::read_dir(&keys)
        .expect("keys")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before.len(), 1, "one key to start with");
    let out = harness::lgsp()
        .args(["reuse", "rotate-key", "--config"])
        .arg(&gw.config_path)
        .output()
        .await
        .expect("rotate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(report["resealed"], 1, "{report}");
    // The old key is gone: only the new one can open the item now.
    std::fs::remove_file(&before[0]).expect("remove old key");

    let gw = gw.restart().await;
    let r = a.get(gw.url(&path)).send().await.expect("send");
    assert_eq!(header(&r, "x-lgsp-reuse"), "hit");
    assert_eq!(r.json::<Value>().await.expect("json"), kept);
}
