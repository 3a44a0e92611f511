//! National exchange end to end: each adapter (NDXP JSON and XML inside
//! JSON, NDOP, SOAP) against its simulator through the real gateway, with
//! contract validation and every fault of issue 5's table.

mod harness;

use harness::{Gateway, GatewayBuilder, Mock, PURPOSE, SYS_A_KEY, http, problem_code};
use lgsp_contracts::Contract;
use serde_json::{Value, json};
use std::time::Duration;

/// The NDXP account of the province, as the simulator knows it.
fn ndxp_config(mock: &Mock) -> String {
    format!(
        "[ndxp]\ntoken_url = \"{}/ndxp/oauth2/token\"\nclient_id = \"lgsp-tinh\"\nclient_secret = \"ndxp-sim-secret\"\nagency_code = \"000.00.00.H29\"\n",
        mock.url()
    )
}

/// slug, upstream URL, adapter, operations, contract, request contract.
type NationalService = (
    &'static str,
    String,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
);

/// National services behind each adapter, and `sys-a` subscribed to all of them.
fn national_registry(mock: &Mock) -> String {
    let m = mock.url();
    let ndop = mock.ndop_url();
    let services: [NationalService; 9] = [
        (
            "dan-cu",
            format!("{m}/ndxp/v1/population"),
            r#"{ kind = "ndxp", service_code = "NDXP.DC.01" }"#,
            r#"[{ method = "GET", path = "/citizens/{soDinhDanh}" }]"#,
            "citizen",
            None,
        ),
        (
            "khai-sinh",
            format!("{m}/ndxp/v1/civil-status/records"),
            r#"{ kind = "ndxp", mapping = "civil-status-birth" }"#,
            r#"[{ method = "GET", path = "/records/{soDinhDanh}" }]"#,
            "birth-record",
            None,
        ),
        (
            "khai-tu",
            format!("{m}/ndxp/v1/civil-status/records"),
            r#"{ kind = "ndxp", mapping = "civil-status-death" }"#,
            r#"[{ method = "GET", path = "/records/{soDinhDanh}" }]"#,
            "death-record",
            None,
        ),
        (
            "bhxh",
            format!("{m}/ndxp/v1/social-insurance"),
            r#"{ kind = "ndxp" }"#,
            r#"[{ method = "GET", path = "/households/{soDinhDanh}" }]"#,
            "social-insurance-household",
            None,
        ),
        (
            "ly-lich-tu-phap",
            format!("{m}/ndxp/v1/criminal-record"),
            r#"{ kind = "ndxp" }"#,
            r#"[{ method = "POST", path = "/requests" }]"#,
            "criminal-record-status",
            Some("criminal-record-request"),
        ),
        (
            "doanh-nghiep",
            format!("{m}/enterprise/v1/soap"),
            r#"{ kind = "soap", mapping = "enterprise-lookup" }"#,
            r#"[{ method = "GET", path = "/enterprises/{maDoanhNghiep}" }]"#,
            "enterprise",
            None,
        ),
        (
            "dat-dai",
            format!("{ndop}/ndop/v1/land"),
            r#"{ kind = "ndop" }"#,
            r#"[{ method = "GET", path = "/parcels/{maThuaDat}" }]"#,
            "land-parcel",
            None,
        ),
        (
            "cong-dan",
            format!("{ndop}/ndop/v1"),
            r#"{ kind = "ndop" }"#,
            r#"[{ method = "GET", path = "/citizens/{soDinhDanh}" }]"#,
            "citizen",
            None,
        ),
        (
            // The population answer declared as an enterprise: every answer breaks it.
            "sai-hop-dong",
            format!("{m}/population/v1"),
            r#"{ kind = "rest" }"#,
            r#"[{ method = "GET", path = "/citizens/{soDinhDanh}" }]"#,
            "enterprise",
            None,
        ),
    ];
    let mut toml = String::new();
    for (slug, url, adapter, operations, contract, request_contract) in services {
        toml.push_str(&format!(
            "[[services]]\nslug = \"{slug}\"\nversion = \"v1\"\nname = \"{slug}\"\nowner = \"000.00.00.G01\"\n\
             personal_data = true\ndata_class = \"confidential\"\nsecurity_level = 3\n\
             upstream = {{ url = \"{url}\", timeout_ms = 5000 }}\nadapter = {adapter}\n\
             operations = {operations}\ncontract = \"{contract}\"\n"
        ));
        if let Some(rc) = request_contract {
            toml.push_str(&format!("request_contract = \"{rc}\"\n"));
        }
        toml.push_str(&format!(
            "\n[[subscriptions]]\nsystem = \"sys-a\"\nservice = \"{slug}\"\nstate = \"approved\"\n\
             purposes = [\"{PURPOSE}\"]\nplan = {{ rate_per_second = 1000.0, burst = 1000 }}\n\n"
        ));
    }
    toml
}

async fn national_gateway(mock: &Mock) -> Gateway {
    GatewayBuilder::new(mock)
        .config(&format!("{}\n{}", ndxp_config(mock), mock.ndop_config()))
        .registry(&national_registry(mock))
        .start()
        .await
}

async fn get_json(gw: &Gateway, path: &str) -> (u16, Value) {
    let r = http()
        .get(gw.url(path))
        .header("x-lgsp-dossier", "000.01.00.H29-261124-0001")
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn assert_contract(name: &str, value: &Value) {
    let contract = Contract::by_name(name).expect("contract");
    if let Err(violations) = contract.validate(value) {
        panic!("{name} answer breaks its contract: {violations:?}\n{value}");
    }
}

fn sim() -> lgsp_adapters::simulators::Simulator {
    lgsp_adapters::simulators::Simulator::new(lgsp_adapters::simulators::SimulatorOptions::default())
}

async fn ndxp_token_fetches(mock: &Mock) -> u64 {
    mock.hits("ndxp_token").await
}

#[tokio::test]
async fn every_national_lookup_works_through_its_adapter() {
    let mock = Mock::start_with_ndop().await;
    let gw = national_gateway(&mock).await;
    let simulator = sim();
    let id = Mock::known_personal_id();

    // Population over NDXP (JSON), with the consumer's identity in NDXP headers.
    let (status, citizen) = get_json(&gw, &format!("/api/dan-cu/v1/citizens/{id}")).await;
    assert_eq!(status, 200, "{citizen}");
    assert_contract("citizen", &citizen);
    let name = citizen["hoTen"].as_str().expect("hoTen").to_string();
    assert!(
        !name.is_ascii(),
        "Vietnamese names carry diacritics: {name}"
    );
    let seen: Value = http()
        .get(format!("{}/__sim/ndxp/last-headers", mock.url()))
        .send()
        .await
        .expect("last headers")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["x-ndxp-consumer"], "000.00.00.H29", "{seen}");
    assert_eq!(seen["x-ndxp-origin-system"], "sys-a");
    assert_eq!(seen["x-ndxp-origin-agency"], "000.01.00.H29");
    assert_eq!(seen["x-ndxp-officer"], "canbo.test");
    assert_eq!(seen["x-ndxp-purpose"], PURPOSE);
    assert_eq!(seen["x-ndxp-dossier"], "000.01.00.H29-261124-0001");
    assert_eq!(seen["x-ndxp-service"], "NDXP.DC.01");
    assert!(seen["x-ndxp-request-id"].is_string());

    // Civil status: XML inside JSON both ways; diacritics survive the round trip.
    let (status, birth) = get_json(&gw, &format!("/api/khai-sinh/v1/records/{id}")).await;
    assert_eq!(status, 200, "{birth}");
    assert_contract("birth-record", &birth);
    assert_eq!(
        birth["hoTen"],
        name.as_str(),
        "the birth record names the citizen"
    );
    let deceased = simulator.sample_deceased_ids(1).remove(0);
    let (status, death) = get_json(&gw, &format!("/api/khai-tu/v1/records/{deceased}")).await;
    assert_eq!(status, 200, "{death}");
    assert_contract("death-record", &death);

    // Social insurance over NDXP (JSON).
    let (status, household) = get_json(&gw, &format!("/api/bhxh/v1/households/{id}")).await;
    assert_eq!(status, 200, "{household}");
    assert_contract("social-insurance-household", &household);

    // Enterprise over SOAP 1.1.
    let code = simulator.sample_enterprise_codes(1).remove(0);
    let (status, enterprise) =
        get_json(&gw, &format!("/api/doanh-nghiep/v1/enterprises/{code}")).await;
    assert_eq!(status, 200, "{enterprise}");
    assert_contract("enterprise", &enterprise);
    assert_eq!(enterprise["maDoanhNghiep"], code.as_str());

    // Land and population over NDOP: mTLS, signed both ways.
    let parcel = simulator.sample_parcel_codes(1).remove(0);
    let (status, land) = get_json(&gw, &format!("/api/dat-dai/v1/parcels/{parcel}")).await;
    assert_eq!(status, 200, "{land}");
    assert_contract("land-parcel", &land);
    let (status, same) = get_json(&gw, &format!("/api/cong-dan/v1/citizens/{id}")).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["hoTen"], name.as_str());

    // Criminal record: the request is checked against its contract first.
    let request = json!({
        "maHoSo": "000.01.00.H29-261124-0002",
        "loaiPhieu": 1,
        "mucDichSuDung": "Bổ sung hồ sơ xin việc",
        "soLuongPhieu": 1,
        "coQuanTiepNhan": "000.01.00.H29",
        "ngayYeuCau": "2026-11-24",
        "nguoiYeuCau": {
            "soDinhDanh": id,
            "hoTen": citizen["hoTen"],
            "gioiTinh": citizen["gioiTinh"],
            "ngaySinh": citizen["ngaySinh"],
            "noiSinh": citizen["noiSinh"],
            "quocTich": citizen["quocTich"],
        }
    });
    let r = http()
        .post(gw.url("/api/ly-lich-tu-phap/v1/requests"))
        .json(&request)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.expect("json");
    assert_contract("criminal-record-status", &status);
    assert_eq!(status["maHoSo"], "000.01.00.H29-261124-0002");

    let mut broken = request.clone();
    broken["nguoiYeuCau"]
        .as_object_mut()
        .expect("object")
        .remove("hoTen");
    let r = http()
        .post(gw.url("/api/ly-lich-tu-phap/v1/requests"))
        .json(&broken)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.expect("problem");
    assert_eq!(problem["code"], "INVALID_REQUEST");
    assert_eq!(problem["pointer"], "/nguoiYeuCau/hoTen", "{problem}");
}

#[tokio::test]
async fn ndxp_token_is_fetched_once_and_refreshed_once_when_it_expires() {
    let mock = Mock::start_with_ndop().await;
    let gw = national_gateway(&mock).await;
    let id = Mock::known_personal_id();
    mock.reset_stats().await;

    // 200 concurrent calls on a cold cache: one token fetch.
    let calls = (0..200).map(|_| {
        let url = gw.url(&format!("/api/dan-cu/v1/citizens/{id}"));
        async move { http().get(url).send().await.expect("send").status() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(ndxp_token_fetches(&mock).await, 1);

    // NDXP expires the token mid-flight: one transparent refresh and retry.
    http()
        .post(format!("{}/__sim/ndxp/expire-tokens", mock.url()))
        .send()
        .await
        .expect("expire");
    let (status, _) = get_json(&gw, &format!("/api/dan-cu/v1/citizens/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(ndxp_token_fetches(&mock).await, 2);
    let (status, _) = get_json(&gw, &format!("/api/dan-cu/v1/citizens/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        ndxp_token_fetches(&mock).await,
        2,
        "the new token is cached"
    );

    // The token endpoint goes down while the token is expired: UPSTREAM_UNAVAILABLE.
    http()
        .post(format!("{}/__sim/ndxp/expire-tokens", mock.url()))
        .send()
        .await
        .expect("expire");
    mock.fault(
        "ndxp_token",
        json!({ "fail_next": 1000, "error_status": 503 }),
    )
    .await;
    let r = http()
        .get(gw.url(&format!("/api/dan-cu/v1/citizens/{id}")))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap_or("")),
        Some("5")
    );
    assert_eq!(problem_code(r).await, (503, "UPSTREAM_UNAVAILABLE".into()));
    mock.clear_faults().await;
    let (status, _) = get_json(&gw, &format!("/api/dan-cu/v1/citizens/{id}")).await;
    assert_eq!(status, 200, "recovers once the token endpoint is back");
}

#[tokio::test]
async fn faults_become_problems_and_contract_violations_are_recorded() {
    let mock = Mock::start_with_ndop().await;
    let gw = national_gateway(&mock).await;
    let simulator = sim();
    let id = Mock::known_personal_id();

    // An answer outside its contract: 502, with the path kept out of the answer.
    let r = http()
        .get(gw.url(&format!("/api/sai-hop-dong/v1/citizens/{id}")))
        .send()
        .await
        .expect("send");
    let audit_id = r
        .headers()
        .get("x-lgsp-audit-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("audit id");
    let text = r.text().await.expect("body");
    let problem: Value = serde_json::from_str(&text).expect("problem");
    assert_eq!(problem["code"], "CONTRACT_VIOLATION");
    assert!(
        !text.contains("maDoanhNghiep"),
        "no path reaches the caller: {text}"
    );
    assert!(!text.contains(&id), "{text}");
    // …but it is in the audit record and the log.
    let auditor = gw.admin_token("auditor", "kiemtoan", None).await;
    let record: Value = reqwest::Client::new()
        .get(gw.admin_url(&format!("/audit/v1/records/{audit_id}")))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("audit record")
        .json()
        .await
        .expect("json");
    let violation = record["contract_violation"].as_str().unwrap_or_default();
    assert!(
        violation.starts_with("contract enterprise:") && violation.contains("(required)"),
        "{record}"
    );
    assert!(!violation.contains(&id));
    assert!(gw.log().contains("contract enterprise:"));

    // A SOAP fault: UPSTREAM_ERROR, with the upstream's reason.
    let (status, problem) = get_json(&gw, "/api/doanh-nghiep/v1/enterprises/0000000001").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (502, Some("UPSTREAM_ERROR")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("fault"),
        "{problem}"
    );

    // Malformed XML from the SOAP service: a clear error, and the gateway carries on.
    let code = simulator.sample_enterprise_codes(1).remove(0);
    mock.fault("enterprise_soap", json!({ "malformed_rate": 1.0 }))
        .await;
    let (status, problem) =
        get_json(&gw, &format!("/api/doanh-nghiep/v1/enterprises/{code}")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (502, Some("UPSTREAM_ERROR")),
        "{problem}"
    );
    mock.clear_faults().await;
    let (status, _) = get_json(&gw, &format!("/api/doanh-nghiep/v1/enterprises/{code}")).await;
    assert_eq!(status, 200);

    // A bad NDOP answer signature: UPSTREAM_ERROR, recorded.
    let pki = mock.pki.as_ref().expect("pki").path();
    let read = |f: &str| std::fs::read(pki.join(f)).expect("pki file");
    let mut identity = read("province-client.pem");
    identity.extend(read("province-client-key.pem"));
    let ndop_control = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&read("ca.pem")).expect("ca"))
        .identity(reqwest::Identity::from_pem(&identity).expect("identity"))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("mTLS client");
    let r = ndop_control
        .put(format!("{}/__sim/faults/ndop", mock.ndop_url()))
        .json(&json!({ "bad_signature_next": 1 }))
        .send()
        .await
        .expect("set ndop fault");
    assert!(r.status().is_success(), "{}", r.status());
    let parcel = simulator.sample_parcel_codes(1).remove(0);
    let r = http()
        .get(gw.url(&format!("/api/dat-dai/v1/parcels/{parcel}")))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (502, "UPSTREAM_ERROR".into()));
    assert!(gw.log().contains("signature"), "the refusal is logged");
    let (status, _) = get_json(&gw, &format!("/api/dat-dai/v1/parcels/{parcel}")).await;
    assert_eq!(status, 200, "the next signed answer passes");
}

#[tokio::test]
async fn a_service_naming_an_unconfigured_adapter_fails_clearly() {
    let mock = Mock::start().await;
    // No [ndxp] section: the service is registered but cannot be called.
    let gw = GatewayBuilder::new(&mock)
        .registry(&format!(
            "[[services]]\nslug = \"dan-cu\"\nversion = \"v1\"\nname = \"x\"\nowner = \"000.00.00.G01\"\n\
             upstream = {{ url = \"{}/ndxp/v1/population\" }}\nadapter = {{ kind = \"ndxp\" }}\n\
             [[subscriptions]]\nsystem = \"sys-a\"\nservice = \"dan-cu\"\nstate = \"approved\"\npurposes = [\"{PURPOSE}\"]\n",
            mock.url()
        ))
        .start()
        .await;
    let r = reqwest::Client::new()
        .get(gw.url("/api/dan-cu/v1/anything"))
        .header("x-api-key", SYS_A_KEY)
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (502, "UPSTREAM_ERROR".into()));
    assert!(
        gw.log().contains("[ndxp]"),
        "the operator learns what to configure"
    );

    // `lgsp apply` refuses unknown mappings and contracts with the service named.
    let out = gw
        .apply(
            "[[services]]\nslug = \"x\"\nversion = \"v1\"\nname = \"x\"\nowner = \"000.00.00.G01\"\n\
             upstream = { url = \"http://127.0.0.1:1\" }\nadapter = { kind = \"soap\", mapping = \"civil-status-birth\" }\n",
        )
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("service x/v1") && stderr.contains("ndxp"),
        "{stderr}"
    );
    let out = gw
        .apply(
            "[[services]]\nslug = \"x\"\nversion = \"v1\"\nname = \"x\"\nowner = \"000.00.00.G01\"\n\
             upstream = { url = \"http://127.0.0.1:1\" }\ncontract = \"no-such-contract\"\n",
        )
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-contract"));
}
