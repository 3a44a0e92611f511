//! The demo, end to end: `lgsp demo` starts simulators and a gateway, writes
//! its manifest, and every national service answers through the one endpoint.

mod harness;

use harness::{anonymous, lgsp, problem_code};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn demo_serves_every_national_service_through_the_gateway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().join("lgsp-data");
    let mut demo = lgsp()
        .arg("demo")
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--data-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");

    let manifest_path = data_dir.join("demo.json");
    let mut waited = Duration::ZERO;
    while !manifest_path.exists() {
        assert!(waited < Duration::from_secs(60), "demo.json never appeared");
        if let Some(status) = demo.try_wait().expect("try_wait") {
            panic!("lgsp demo exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("read")).expect("json");
    let data_url = manifest["data_url"].as_str().expect("data_url").to_string();
    let admin_url = manifest["admin_url"]
        .as_str()
        .expect("admin_url")
        .to_string();
    let ids: Vec<String> =
        serde_json::from_value(manifest["sample_personal_ids"].clone()).expect("ids");
    assert!(!ids.is_empty());
    // The commune system with every subscription obtains a token.
    let systems = manifest["systems"].as_array().expect("systems");
    assert_eq!(systems.len(), 3);
    let first = &systems[0];
    for field in ["name", "client_id", "client_secret", "api_key", "purposes"] {
        assert!(
            !first[field].is_null(),
            "systems[0].{field} missing: {first}"
        );
    }
    let token_response: Value = anonymous()
        .post(manifest["token_url"].as_str().expect("token_url"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", first["client_id"].as_str().expect("id")),
            (
                "client_secret",
                first["client_secret"].as_str().expect("secret"),
            ),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token_response["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    assert_eq!(token_response["token_type"], "Bearer");
    let purpose = first["purposes"][0].as_str().expect("purpose").to_string();
    let as_commune = |builder: reqwest::RequestBuilder| {
        builder
            .bearer_auth(&token)
            .header("x-lgsp-purpose", &purpose)
            .header("x-lgsp-user", "canbo.tuphap.myhiep")
    };
    let http = anonymous;
    let path = |service: &str, id: &str| {
        format!(
            "{data_url}{}",
            manifest["services"][service]
                .as_str()
                .expect("service path")
                .replace("{id}", id)
        )
    };

    // Population: the citizen record with its fields, diacritics intact.
    let r = as_commune(http().get(path("population", &ids[0])))
        .send()
        .await
        .expect("population");
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    let citizen: Value = r.json().await.expect("json");
    assert_eq!(citizen["soDinhDanh"], ids[0].as_str());
    for field in ["hoTen", "ngaySinh", "gioiTinh", "noiThuongTru", "quocTich"] {
        assert!(
            citizen[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing: {citizen}"
        );
    }
    assert!(
        !citizen["hoTen"].as_str().unwrap_or_default().is_ascii()
            || citizen["noiThuongTru"]
                .as_str()
                .is_some_and(|s| !s.is_ascii())
    );

    // Civil status: NDXP carries the birth record as XML inside JSON; the
    // caller gets the canonical JSON, checked against its contract.
    let r = as_commune(http().get(path("civil_status", &ids[0])))
        .send()
        .await
        .expect("civil status");
    assert_eq!(r.status(), 200);
    let record: Value = r.json().await.expect("json");
    assert_eq!(record["soDinhDanh"], ids[0].as_str(), "{record}");
    assert_eq!(
        record["hoTen"], citizen["hoTen"],
        "diacritics survive the XML round trip"
    );
    assert_valid("birth-record", &record);

    // Enterprise and social insurance.
    let codes: Vec<String> =
        serde_json::from_value(manifest["sample_enterprise_codes"].clone()).expect("codes");
    let r = as_commune(http().get(path("enterprise", &codes[0])))
        .send()
        .await
        .expect("enterprise");
    assert_eq!(r.status(), 200);
    let enterprise: Value = r.json().await.expect("json");
    assert_eq!(enterprise["maDoanhNghiep"], codes[0].as_str());
    assert_valid("enterprise", &enterprise);
    let r = as_commune(http().get(path("social_insurance", &ids[0])))
        .send()
        .await
        .expect("insurance");
    assert_eq!(r.status(), 200);
    let household: Value = r.json().await.expect("json");
    assert!(
        household["thanhVien"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{household}"
    );
    // Checked against its contract upstream of minimization, which drops
    // what purpose 1.000894 may not see (the household head's record).
    assert!(household.get("chuHo").is_none(), "{household}");

    // Land, through NDOP: mTLS and signatures both ways.
    let parcels: Vec<String> =
        serde_json::from_value(manifest["sample_parcel_codes"].clone()).expect("parcels");
    let r = as_commune(http().get(path("land", &parcels[0])))
        .send()
        .await
        .expect("land");
    assert_eq!(r.status(), 200);
    let parcel: Value = r.json().await.expect("json");
    assert_valid("land-parcel", &parcel);
    assert_eq!(manifest["adapters"]["land"], "ndop");

    // Refusals from the tour.
    let r = as_commune(http().get(path("population", "12345")))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (400, "INVALID_REQUEST".into()));
    let r = http()
        .get(path("population", &ids[0]))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (401, "AUTHEN_ERROR".into()));
    let r = http()
        .get(path("population", &ids[0]))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (400, "PURPOSE_REQUIRED".into()));
    let r = http()
        .get(path("population", &ids[0]))
        .bearer_auth(&token)
        .header("x-lgsp-purpose", "2.000986")
        .header("x-lgsp-user", "canbo")
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (403, "PURPOSE_NOT_ALLOWED".into()));
    let second = &systems[1];
    let r = http()
        .get(path("population", &ids[0]))
        .header("x-api-key", second["api_key"].as_str().expect("key"))
        .header(
            "x-lgsp-purpose",
            second["purposes"][0].as_str().expect("purpose"),
        )
        .header("x-lgsp-user", "canbo")
        .send()
        .await
        .expect("send");
    assert_eq!(
        problem_code(r).await,
        (403, "SUBSCRIPTION_REQUIRED".into()),
        "the second system has no population subscription"
    );
    let r = http()
        .get(format!("{data_url}/api/cadastre/v1/parcels/1"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (404, "SERVICE_NOT_FOUND".into()));
    let r = as_commune(http().get(path("population", "001099000001")))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        404,
        "an unknown citizen is the upstream's RECORD_NOT_FOUND, passed through"
    );

    // Once-only, the dossier story of the tour: xã Mỹ Hiệp's read is kept,
    // phường Cao Lãnh is served from the store, the result written back by
    // Mỹ Hiệp is listed for Cao Lãnh, and the KPI has a reuse rate.
    let third = &systems[2];
    let story_id = &ids[1];
    let as_desk = |key: &Value, dossier: &str, builder: reqwest::RequestBuilder| {
        builder
            .header("x-api-key", key.as_str().expect("key"))
            .header("x-lgsp-purpose", "1.001612")
            .header("x-lgsp-user", "canbo")
            .header("x-lgsp-dossier", dossier)
    };
    let r = as_desk(
        &first["api_key"],
        "H29.01-2026-000777",
        http().get(path("population", story_id)),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(r.headers()["x-lgsp-reuse"], "miss");
    let r = as_desk(
        &third["api_key"],
        "H29.03-2026-000031",
        http().get(path("population", story_id)),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-lgsp-reuse"], "hit");
    let r = as_desk(
        &first["api_key"],
        "H29.01-2026-000777",
        http().post(format!(
            "{data_url}/api/reuse/v1/subjects/{story_id}/results"
        )),
    )
    .json(&serde_json::json!({
        "maHoSo": "H29.01-2026-000777",
        "maThuTucHanhChinh": "1.001612",
        "coQuanCap": { "maDinhDanh": "000.01.00.H29" },
        "ketQua": { "loaiGiayTo": "Giấy khai sinh", "soKyHieu": "123/2026" },
        "ngayCap": "2026-11-24"
    }))
    .send()
    .await
    .expect("send");
    assert_eq!(r.status(), 201);
    let listing: Value = as_desk(
        &third["api_key"],
        "H29.03-2026-000031",
        http().get(format!("{data_url}/api/reuse/v1/subjects/{story_id}/items")),
    )
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert!(
        listing["duLieu"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["loaiDuLieu"] == "ket-qua-1.001612")),
        "{listing}"
    );
    let r = as_desk(
        &third["api_key"],
        "H29.03-2026-000031",
        http().post(format!(
            "{data_url}/api/reuse/v1/dossiers/H29.03-2026-000031/asked"
        )),
    )
    .json(&serde_json::json!({ "soMuc": 1 }))
    .send()
    .await
    .expect("send");
    assert_eq!(r.status(), 201);

    // Health and the admin plane.
    let ready: Value = http()
        .get(format!("{data_url}/readyz"))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["status"], "ready");
    let accounts = manifest["accounts"].as_array().expect("accounts");
    let admin = accounts
        .iter()
        .find(|a| a["role"] == "province_admin")
        .expect("a province admin");
    let login: Value = http()
        .post(manifest["login_url"].as_str().expect("login_url"))
        .json(&serde_json::json!({ "username": admin["username"], "password": admin["password"] }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let admin_token = login["access_token"]
        .as_str()
        .expect("admin token")
        .to_string();
    let kpi: Value = http()
        .get(format!("{admin_url}/admin/v1/kpi"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("kpi")
        .json()
        .await
        .expect("json");
    assert!(
        kpi["totals"]["reuseRate"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r < 1.0),
        "{kpi}"
    );
    let r = http()
        .get(format!("{admin_url}/admin/v1/registry"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401, "the admin plane needs an admin login");
    let registry: Value = http()
        .get(format!("{admin_url}/admin/v1/registry"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .expect("registry")
        .json()
        .await
        .expect("json");
    assert_eq!(registry["routes"], 6);
    let jwks: Value = http()
        .get(format!("{data_url}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
    assert_eq!(
        registry["registry"]["agencies"].as_array().map(Vec::len),
        Some(9)
    );
    let data_side_admin = http()
        .get(format!("{data_url}/admin/v1/registry"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        data_side_admin.status(),
        404,
        "the admin API is not on the data listener"
    );

    let ok = std::process::Command::new("kill")
        .args(["-INT", &demo.id().expect("pid").to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let status = tokio::time::timeout(Duration::from_secs(15), demo.wait())
        .await
        .expect("demo stops")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

/// Fails the test with the violations when `value` breaks contract `name`.
fn assert_valid(name: &str, value: &Value) {
    let contract = lgsp_contracts::Contract::by_name(name).expect("contract");
    if let Err(violations) = contract.validate(value) {
        panic!("{name} breaks its contract: {violations:?}\n{value}");
    }
}
