//! Issue 6 end to end: the admin API (`/admin/v1`) imports specs, moves
//! services through their lifecycle, onboards a commune system to live,
//! grants by role, lints and publishes to the V-APEX simulator through the
//! outbox, round-trips the registry through `lgsp export`/`apply`, and two
//! gateway processes on one PostgreSQL see each other's changes in under a
//! second. Everything runs as real processes: `lgsp serve`, `lgsp mock`,
//! `lgsp apply`/`export`.

mod harness;

use harness::{GatewayBuilder, Mock, anonymous, client_token, http, lgsp, problem_code};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const MINISTRY: &str = "000.00.00.G01";
const COMMUNE: &str = "000.01.00.H29";
const OTHER_COMMUNE: &str = "000.02.00.H29";

/// The province, two communes and the ministry that owns population data.
const AGENCIES: &str = r#"
[[agencies]]
code = "000.00.00.H29"
name = "UBND tỉnh thử nghiệm"

[[agencies]]
code = "000.01.00.H29"
name = "UBND xã Mỹ Hiệp"
parent = "000.00.00.H29"

[[agencies]]
code = "000.02.00.H29"
name = "UBND xã Tân Phú Đông"
parent = "000.00.00.H29"

[[agencies]]
code = "000.00.00.G01"
name = "Bộ Công an"
"#;

/// A gateway publishing to the simulator's V-APEX.
async fn publishing_gateway(mock: &Mock) -> harness::Gateway {
    GatewayBuilder::empty()
        .registry(AGENCIES)
        .config(&format!(
            "[vapex]\nurl = \"{}/vapex/v1\"\ntoken = \"vapex-sim-token\"\npoll_interval_ms = 50\n",
            mock.url()
        ))
        .start()
        .await
}

/// A real-shaped OpenAPI 3.1 document of the population lookup, served by `mock`.
fn population_spec(mock: &str) -> Value {
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tra cứu thông tin công dân",
            "version": "1.2.0",
            "description": "Tra cứu thông tin công dân từ Cơ sở dữ liệu quốc gia về dân cư"
        },
        "servers": [{ "url": format!("{mock}/population/v1") }],
        "paths": {
            "/citizens/{soDinhDanh}": {
                "get": {
                    "operationId": "traCuuCongDan",
                    "parameters": [{
                        "name": "soDinhDanh", "in": "path", "required": true,
                        "schema": { "type": "string", "pattern": "^[0-9]{12}$" }
                    }],
                    "responses": {
                        "200": {
                            "description": "Thông tin công dân",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CongDan" } } }
                        },
                        "404": { "description": "Không tìm thấy", "content": problem },
                        "default": { "description": "Lỗi", "content": problem }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "CongDan": {
                    "type": "object",
                    "properties": {
                        "soDinhDanh": { "type": "string" },
                        "hoTen": { "type": "string" },
                        "ngaySinh": { "type": "string", "format": "date" },
                        "gioiTinh": { "type": "string" }
                    }
                },
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": { "type": "string" }, "title": { "type": "string" },
                        "status": { "type": "integer" }, "detail": { "type": "string" },
                        "code": { "type": "string" }
                    }
                }
            },
            "securitySchemes": {
                "lgspOAuth2": {
                    "type": "oauth2",
                    "flows": { "clientCredentials": { "tokenUrl": "https://lgsp.example.gov.vn/oauth2/token", "scopes": {} } }
                }
            }
        },
        "security": [{ "lgspOAuth2": [] }]
    })
}

fn catalogue_metadata() -> Value {
    json!({
        "description": "Tra cứu thông tin công dân phục vụ giải quyết thủ tục hành chính",
        "sla": { "availability_percent": 99.5, "response_time_ms": 800 },
        "rate_plan": "tieu-chuan",
        "personal_data_fields": ["soDinhDanh", "hoTen", "ngaySinh", "gioiTinh"],
        "allowed_purposes": ["1.001612"],
        "contacts": [{ "name": "Nguyễn Văn An", "email": "an@bca.gov.vn", "role": "technical" }]
    })
}

/// A small client of the admin API for one signed-in account.
struct Admin {
    base: String,
    token: String,
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = anonymous()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("admin body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// A call that must succeed; its body.
    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }
}

async fn admin(gw: &harness::Gateway, role: &str, username: &str, agency: Option<&str>) -> Admin {
    Admin {
        base: format!("http://{}", gw.admin),
        token: gw.admin_token(role, username, agency).await,
    }
}

async fn lookup(gw: &harness::Gateway, token: &str, version: &str) -> reqwest::Response {
    anonymous()
        .get(gw.url(&format!(
            "/api/population/{version}/citizens/{}",
            Mock::known_personal_id()
        )))
        .bearer_auth(token)
        .header("x-lgsp-purpose", "1.001612")
        .header("x-lgsp-user", "canbo.motcua@myhiep")
        .send()
        .await
        .expect("data-plane call")
}

/// The V-APEX simulator's catalogue entry for the population service, once
/// its lifecycle reads `lifecycle` (waits up to 10 s).
async fn vapex_entry(mock: &Mock, lifecycle: &str) -> Value {
    let url = format!("{}/vapex/v1/catalogue/{MINISTRY}/population/v1", mock.url());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = anonymous().get(&url).send().await.expect("vapex catalogue");
        if r.status() == 200 {
            let entry: Value = r.json().await.expect("entry json");
            if entry["lifecycle"] == lifecycle {
                return entry;
            }
        }
        assert!(
            Instant::now() < deadline,
            "V-APEX never listed population/v1 as {lifecycle}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every publication of `service` is published; returns them.
async fn all_published(admin: &Admin, service: &str, expected: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, rows) = admin
            .get(&format!("/admin/v1/publications?service={service}"))
            .await;
        let rows = rows.as_array().cloned().unwrap_or_default();
        if rows.len() == expected && rows.iter().all(|r| r["state"] == "published") {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "publications of {service} not all published: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_admin_imports_publishes_onboards_deprecates_and_retires() {
    use reqwest::Method;
    let mock = Mock::start().await;
    let gw = publishing_gateway(&mock).await;
    let admin = admin(&gw, "province_admin", "quantri.tinh", None).await;
    let officer = admin_for_officer(&gw).await;

    // 1. Import the spec: a draft with its operation, upstream and personal fields.
    let service = admin
        .ok(
            Method::POST,
            "/admin/v1/services/import",
            Some(json!({
                "slug": "population",
                "owner": MINISTRY,
                "spec": population_spec(&mock.url()).to_string(),
                "sandbox_url": format!("{}/echo/v1/inspect", mock.url()),
                "data_class": "confidential",
                "security_level": 2,
                "metadata": catalogue_metadata(),
            })),
        )
        .await;
    assert_eq!(service["state"], "draft");
    assert_eq!(service["version"], "v1", "v<MAJOR> of info.version 1.2.0");
    assert_eq!(
        service["operations"],
        json!([{ "method": "GET", "path": "/citizens/{soDinhDanh}" }])
    );
    assert_eq!(service["spec"]["format"], "openapi");
    assert_eq!(service["spec"]["version"], "1.2.0");
    let (status, found) = admin
        .get("/admin/v1/services?q=cong%20dan&state=draft")
        .await;
    assert_eq!(
        (status, found[0]["slug"].clone()),
        (200, json!("population")),
        "search folds diacritics"
    );
    let (_, none) = admin.get("/admin/v1/services?q=doanh%20nghiep").await;
    assert_eq!(none, json!([]));
    // A draft is not routable.
    let (status, code) = problem_code(
        anonymous()
            .get(gw.url("/api/population/v1/citizens/001099000001"))
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "SERVICE_NOT_FOUND"));
    // Only published services accept subscriptions: no one can ask yet.
    let system = admin
        .ok(Method::POST, "/admin/v1/systems", Some(json!({
            "slug": "motcua-xa-my-hiep", "agency": COMMUNE, "name": "Một cửa xã Mỹ Hiệp", "security_level": 3
        })))
        .await;
    assert_eq!(system["onboarding"], "registered");
    let (status, body) = officer
        .post(
            "/admin/v1/subscriptions",
            json!({
                "system": "motcua-xa-my-hiep", "service": "population", "purposes": ["1.001612"]
            }),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("CONFLICT")),
        "{body}"
    );

    // 2. Publish: linted, committed with its outbox row, delivered to V-APEX.
    let published = admin
        .ok(
            Method::POST,
            "/admin/v1/services/population/v1/lifecycle",
            Some(json!({ "state": "published" })),
        )
        .await;
    assert_eq!(published["state"], "published");
    // 3. V-APEX lists it with the descriptor the gateway built.
    let entry = vapex_entry(&mock, "published").await;
    let descriptor = &entry["descriptor"];
    assert_eq!(descriptor["openapi"], "3.1.0");
    assert_eq!(descriptor["x-vapex"]["agencyCode"], MINISTRY);
    assert_eq!(descriptor["x-vapex"]["serviceCode"], "population");
    assert_eq!(descriptor["x-vapex"]["dataClass"], "confidential");
    assert_eq!(descriptor["x-vapex"]["sla"]["availabilityPercent"], 99.5);
    assert_eq!(descriptor["x-vapex"]["ownerAgencyName"], "Bộ Công an");
    let endpoint = format!("http://{}/api/population/v1", gw.data);
    assert_eq!(descriptor["x-vapex"]["gatewayEndpoint"], endpoint.as_str());
    assert_eq!(descriptor["servers"][0]["url"], endpoint.as_str());

    // 4. Onboard the commune system: each gate, each transition recorded.
    let advance = |stage: &str, note: Option<&str>| json!({ "stage": stage, "note": note });
    let (status, body) = admin
        .post(
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            advance("credentials_issued", None),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("CONFLICT")),
        "no credential yet: {body}"
    );
    let (status, body) = admin
        .post(
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            advance("trial", None),
        )
        .await;
    assert_eq!(status, 409, "stages cannot be skipped: {body}");
    let issued = admin
        .ok(
            Method::POST,
            "/admin/v1/systems/motcua-xa-my-hiep/credentials",
            Some(json!({ "kind": "client_secret" })),
        )
        .await;
    let client_id = issued["client_id"].as_str().expect("client id").to_string();
    let secret = issued["secret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    let (_, shown) = admin.get("/admin/v1/systems/motcua-xa-my-hiep").await;
    assert!(
        !shown.to_string().contains(&secret),
        "the secret is never shown again"
    );
    assert!(!shown.to_string().contains("secret_hash"), "{shown}");
    admin
        .ok(
            Method::POST,
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            Some(advance("credentials_issued", None)),
        )
        .await;

    // The commune officer asks for the right; the province approves it.
    let requested = officer
        .ok(
            Method::POST,
            "/admin/v1/subscriptions",
            Some(json!({
                "system": "motcua-xa-my-hiep", "service": "population", "purposes": ["1.001612"]
            })),
        )
        .await;
    assert_eq!(requested["state"], "requested");
    let (status, _) = officer
        .post(
            "/admin/v1/subscriptions/motcua-xa-my-hiep/population/approve",
            json!({}),
        )
        .await;
    assert_eq!(status, 403, "a commune officer cannot approve");
    admin
        .ok(
            Method::POST,
            "/admin/v1/subscriptions/motcua-xa-my-hiep/population/approve",
            Some(json!({
                "plan": { "rate_per_second": 50.0, "burst": 50 }
            })),
        )
        .await;
    admin
        .ok(
            Method::POST,
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            Some(advance("rights_granted", None)),
        )
        .await;

    // Rights granted is not yet trial: no call passes.
    let token = client_token(&gw, &client_id, &secret).await;
    let (status, code) = problem_code(lookup(&gw, &token, "v1").await).await;
    assert_eq!((status, code.as_str()), (403, "ONBOARDING_INCOMPLETE"));
    // Acceptance needs a successful trial call first.
    admin
        .ok(
            Method::POST,
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            Some(advance("trial", None)),
        )
        .await;
    let (status, body) = admin
        .post(
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            advance("accepted", Some("ATTT-2026-118")),
        )
        .await;
    assert_eq!(status, 409, "no trial call yet: {body}");
    // In trial, the call reaches the sandbox, never the production upstream.
    mock.reset_stats().await;
    let trial = lookup(&gw, &token, "v1").await;
    assert_eq!(trial.status(), 200);
    assert_eq!(trial.headers()["x-lgsp-sandbox"], "true");
    // The answer is minimized for the purpose, so the simulator's counts tell where it went.
    assert_eq!(mock.hits("echo").await, 1, "the sandbox answered");
    assert_eq!(
        mock.hits("population").await,
        0,
        "production was not called in trial"
    );
    let (status, _) = admin
        .post(
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            advance("accepted", None),
        )
        .await;
    assert_eq!(status, 409, "acceptance names the security check");
    admin
        .ok(
            Method::POST,
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            Some(advance("accepted", Some("ATTT-2026-118"))),
        )
        .await;
    let live = admin
        .ok(
            Method::POST,
            "/admin/v1/systems/motcua-xa-my-hiep/onboarding",
            Some(advance("live", None)),
        )
        .await;
    let log: Vec<(String, String)> = live["onboarding_log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|step| {
            (
                step["stage"].as_str().unwrap_or("").into(),
                step["by"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let stages: Vec<&str> = log.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        stages,
        [
            "registered",
            "credentials_issued",
            "rights_granted",
            "trial",
            "accepted",
            "live"
        ]
    );
    assert!(
        log.iter().all(|(_, by)| by == "admin:quantri.tinh"),
        "{log:?}"
    );
    // Live: production answers.
    let production = lookup(&gw, &token, "v1").await;
    assert_eq!(production.status(), 200);
    assert!(production.headers().get("x-lgsp-sandbox").is_none());
    let citizen: Value = production.json().await.expect("citizen");
    assert!(citizen["hoTen"].is_string(), "{citizen}");

    // Versions coexist: v2 registered and published beside v1.
    let mut v2 = service.clone();
    v2["version"] = json!("v2");
    v2.as_object_mut().expect("object").remove("state");
    v2.as_object_mut().expect("object").remove("spec");
    admin.ok(Method::POST, "/admin/v1/services", Some(v2)).await;
    let (status, code) = problem_code(lookup(&gw, &token, "v2").await).await;
    assert_eq!(
        (status, code.as_str()),
        (404, "SERVICE_NOT_FOUND"),
        "v2 is a draft"
    );
    admin
        .ok(
            Method::POST,
            "/admin/v1/services/population/v2/lifecycle",
            Some(json!({ "state": "published" })),
        )
        .await;
    assert_eq!(lookup(&gw, &token, "v2").await.status(), 200);
    assert_eq!(lookup(&gw, &token, "v1").await.status(), 200);

    // 5. Deprecate v1: existing subscribers keep calling, with the headers.
    let (status, body) = admin
        .post(
            "/admin/v1/services/population/v1/lifecycle",
            json!({ "state": "deprecated" }),
        )
        .await;
    assert_eq!(status, 400, "deprecation announces a sunset: {body}");
    let (status, body) = admin
        .post(
            "/admin/v1/services/population/v1/lifecycle",
            json!({ "state": "retired" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (409, json!("CONFLICT")),
        "retire only after deprecation: {body}"
    );
    admin
        .ok(
            Method::POST,
            "/admin/v1/services/population/v1/lifecycle",
            Some(json!({ "state": "deprecated", "sunset_on": "2027-06-30" })),
        )
        .await;
    let deprecated = lookup(&gw, &token, "v1").await;
    assert_eq!(deprecated.status(), 200);
    assert!(deprecated.headers().get("deprecation").is_some());
    assert_eq!(
        deprecated.headers()["sunset"],
        "Tue, 29 Jun 2027 17:00:00 GMT"
    );
    let entry = vapex_entry(&mock, "deprecated").await;
    assert_eq!(entry["descriptor"]["x-vapex"]["sunsetOn"], "2027-06-30");
    // Retire: SERVICE_RETIRED, and V-APEX says so too.
    admin
        .ok(
            Method::POST,
            "/admin/v1/services/population/v1/lifecycle",
            Some(json!({ "state": "retired" })),
        )
        .await;
    let (status, code) = problem_code(lookup(&gw, &token, "v1").await).await;
    assert_eq!((status, code.as_str()), (410, "SERVICE_RETIRED"));
    vapex_entry(&mock, "retired").await;
    let rows = all_published(&admin, "population", 4).await;
    let mut events: Vec<&str> = rows
        .iter()
        .filter(|r| r["version"] == "v1")
        .filter_map(|r| r["event"].as_str())
        .collect();
    events.reverse();
    assert_eq!(events, ["publish", "deprecate", "retire"]);

    // Every change is in the admin-change log, by who made it.
    let changes = admin
        .ok(Method::GET, "/admin/v1/changes?limit=1000", None)
        .await;
    let by_admin = changes
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["actor"] == "admin:quantri.tinh")
        .count();
    assert!(by_admin >= 12, "{by_admin} changes by the province admin");
    assert!(!changes.to_string().contains(&secret));
}

async fn admin_for_officer(gw: &harness::Gateway) -> Admin {
    admin(gw, "commune_officer", "canbo.myhiep", Some(COMMUNE)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_is_refused_what_it_may_not_do() {
    use reqwest::Method;
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .registry(&format!(
            "[[agencies]]\ncode = \"{OTHER_COMMUNE}\"\nname = \"UBND xã Tân Phú Đông\"\nparent = \"000.00.00.H29\"\n\n\
             [[systems]]\nslug = \"motcua-tan-phu-dong\"\nagency = \"{OTHER_COMMUNE}\"\nname = \"Một cửa xã Tân Phú Đông\"\n"
        ))
        .start()
        .await;
    let province = admin(&gw, "province_admin", "quantri", None).await;
    let operator = admin(&gw, "operator", "vanhanh", None).await;
    let auditor = admin(&gw, "auditor", "kiemtoan", None).await;
    let officer = admin(&gw, "commune_officer", "canbo", Some(COMMUNE)).await;

    // The operator reads the registry and changes nothing.
    assert_eq!(operator.get("/admin/v1/services").await.0, 200);
    assert_eq!(operator.get("/admin/v1/publications").await.0, 200);
    for (method, path, body) in [
        (
            Method::POST,
            "/admin/v1/agencies",
            json!({ "code": "000.03.00.H29", "name": "X" }),
        ),
        (
            Method::POST,
            "/admin/v1/services/echo/v1/lifecycle",
            json!({ "state": "blocked" }),
        ),
        (
            Method::POST,
            "/admin/v1/systems/sys-a/credentials",
            json!({ "kind": "api_key" }),
        ),
        (
            Method::POST,
            "/admin/v1/accounts",
            json!({ "username": "x", "role": "operator", "password": "mat-khau-dai-du-12" }),
        ),
    ] {
        let (status, answer) = operator.call(method, path, Some(body)).await;
        assert_eq!(
            (status, answer["code"].clone()),
            (403, json!("FORBIDDEN")),
            "operator {path}"
        );
    }
    // The auditor sees the change log and none of the registry.
    assert_eq!(auditor.get("/admin/v1/changes").await.0, 200);
    for path in [
        "/admin/v1/services",
        "/admin/v1/systems",
        "/admin/v1/subscriptions",
        "/admin/v1/policy",
    ] {
        assert_eq!(auditor.get(path).await.0, 403, "auditor {path}");
    }
    assert_eq!(
        operator.get("/admin/v1/changes").await.0,
        403,
        "the change log is for admins and auditors"
    );
    // The commune officer sees its own agency's systems only.
    let (_, systems) = officer.get("/admin/v1/systems").await;
    let slugs: Vec<&str> = systems
        .as_array()
        .expect("systems")
        .iter()
        .filter_map(|s| s["slug"].as_str())
        .collect();
    assert_eq!(
        slugs,
        ["sys-a", "sys-b", "sys-c"],
        "the base systems are the commune's"
    );
    assert_eq!(
        officer.get("/admin/v1/systems/motcua-tan-phu-dong").await.0,
        403
    );
    assert_eq!(officer.get("/admin/v1/systems/sys-a/usage").await.0, 200);
    assert_eq!(
        officer
            .get("/admin/v1/systems/motcua-tan-phu-dong/usage")
            .await
            .0,
        403
    );
    let (status, _) = officer
        .post(
            "/admin/v1/subscriptions",
            json!({ "system": "motcua-tan-phu-dong", "service": "echo" }),
        )
        .await;
    assert_eq!(status, 403, "not its system");
    let (status, body) = officer
        .post(
            "/admin/v1/subscriptions",
            json!({ "system": "sys-b", "service": "echo" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (method, path) in [
        (Method::POST, "/admin/v1/subscriptions/sys-b/echo/approve"),
        (Method::POST, "/admin/v1/services/import"),
        (Method::POST, "/admin/v1/credentials/sys-a-key/revoke"),
        (Method::GET, "/admin/v1/accounts"),
    ] {
        let (status, _) = officer.call(method, path, Some(json!({}))).await;
        assert_eq!(status, 403, "commune officer {path}");
    }
    // No session at all: 401 with a problem.
    let (status, code) = problem_code(
        anonymous()
            .get(gw.admin_url("/admin/v1/services"))
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "AUTHEN_ERROR"));

    // The province admin: rotate and revoke take effect at once on the data plane.
    let key = province
        .ok(
            Method::POST,
            "/admin/v1/systems/sys-b/credentials",
            Some(json!({ "kind": "api_key" })),
        )
        .await;
    let key_value = key["secret"].as_str().expect("key").to_string();
    let call = |key: String| {
        let url = gw.url("/api/echo/v1/bytes/16");
        async move {
            anonymous()
                .get(url)
                .header("x-api-key", key)
                .send()
                .await
                .expect("call")
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(key_value.clone()).await, 200);
    let rotated = province
        .ok(
            Method::POST,
            &format!(
                "/admin/v1/credentials/{}/rotate",
                key["id"].as_str().expect("id")
            ),
            None,
        )
        .await;
    assert_eq!(call(key_value).await, 401, "the old key stops at once");
    let new_key = rotated["secret"].as_str().expect("new key").to_string();
    assert_eq!(call(new_key.clone()).await, 200);
    let (status, _) = province
        .post(
            &format!(
                "/admin/v1/credentials/{}/revoke",
                key["id"].as_str().expect("id")
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(call(new_key).await, 401);
    // Blocked stops all traffic at once; the OpenAPI document describes the API.
    assert_eq!(
        http()
            .get(gw.url("/api/echo/v1/bytes/16"))
            .send()
            .await
            .expect("call")
            .status(),
        200
    );
    province
        .ok(
            Method::POST,
            "/admin/v1/services/echo/v1/lifecycle",
            Some(json!({ "state": "blocked" })),
        )
        .await;
    assert_eq!(
        http()
            .get(gw.url("/api/echo/v1/bytes/16"))
            .send()
            .await
            .expect("call")
            .status(),
        503
    );
    let doc: Value = anonymous()
        .get(gw.admin_url("/admin/v1/openapi.json"))
        .send()
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/admin/v1/services/import",
        "/admin/v1/systems/{slug}/onboarding",
        "/admin/v1/subscriptions/{system}/{service}/approve",
        "/admin/v1/credentials/{id}/rotate",
        "/admin/v1/policy",
        "/admin/v1/accounts",
        "/admin/v1/login",
        "/audit/v1/records",
        "/audit/v1/subjects/report",
        "/audit/v1/export",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "openapi.json lacks {path}"
        );
    }
    assert!(doc["components"]["schemas"].get("Service").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lint_refuses_nonconforming_specs_and_the_outbox_delivers_exactly_once() {
    use reqwest::Method;
    let mock = Mock::start().await;
    let gw = publishing_gateway(&mock).await;
    let admin = admin(&gw, "province_admin", "quantri", None).await;
    let mut spec = population_spec(&mock.url());
    spec["components"]
        .as_object_mut()
        .expect("components")
        .remove("securitySchemes");
    spec.as_object_mut().expect("spec").remove("security");
    spec["components"]["schemas"]["CongDan"]["properties"]["so_the_bhyt"] =
        json!({ "type": "string" });
    admin
        .ok(Method::POST, "/admin/v1/services/import", Some(json!({
            "slug": "population", "owner": MINISTRY, "spec": spec.to_string(),
            "metadata": { "sla": { "availability_percent": 99.0, "response_time_ms": 500 }, "contacts": [{ "name": "Trần Thị Bình" }] }
        })))
        .await;
    let (status, lint) = admin
        .get("/admin/v1/services/population/v1/descriptor")
        .await;
    assert_eq!(status, 200);
    let (status, refused) = admin
        .post(
            "/admin/v1/services/population/v1/lifecycle",
            json!({ "state": "published" }),
        )
        .await;
    assert_eq!(
        (status, refused["code"].clone()),
        (422, json!("CONFORMANCE_FAILED")),
        "{refused}"
    );
    assert_eq!(
        refused["errors"], lint["findings"],
        "the preview shows what publishing refuses"
    );
    let details: Vec<String> = refused["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["pointer"].as_str().unwrap_or(""),
                e["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    for rule in ["VAPEX-SECURITY", "VAPEX-CAMELCASE", "VAPEX-PERSONAL-DATA"] {
        assert!(
            details.iter().any(|d| d.contains(rule)),
            "{rule} missing from {details:#?}"
        );
    }
    assert!(
        details
            .iter()
            .any(|d| d.contains("/components/schemas/CongDan/properties/so_the_bhyt")),
        "{details:#?}"
    );
    let (_, service) = admin.get("/admin/v1/services/population/v1").await;
    assert_eq!(service["state"], "draft", "nothing was written");
    assert_eq!(admin.get("/admin/v1/publications").await.1, json!([]));

    // Fixed: security declared, the field renamed and declared.
    let mut fixed = population_spec(&mock.url());
    fixed["components"]["schemas"]["CongDan"]["properties"]["soTheBhyt"] =
        json!({ "type": "string", "x-personal-data": true });
    let mut service = service.clone();
    service["spec"]["openapi"] = fixed;
    service["metadata"]["personal_data_fields"] =
        json!(["soDinhDanh", "hoTen", "ngaySinh", "gioiTinh", "soTheBhyt"]);
    let (status, body) = admin.put("/admin/v1/services/population/v1", service).await;
    assert_eq!(status, 200, "{body}");
    let (_, lint) = admin
        .get("/admin/v1/services/population/v1/descriptor")
        .await;
    assert_eq!(lint["findings"], json!([]), "{}", lint["findings"]);

    // V-APEX fails three times, then recovers: one publication, no duplicate.
    let stats_url = format!("{}/__sim/vapex/stats", mock.url());
    anonymous()
        .delete(&stats_url)
        .send()
        .await
        .expect("reset stats");
    mock.fault("vapex", json!({ "fail_next": 3, "error_status": 503 }))
        .await;
    admin
        .ok(
            Method::POST,
            "/admin/v1/services/population/v1/lifecycle",
            Some(json!({ "state": "published" })),
        )
        .await;
    let rows = all_published(&admin, "population", 1).await;
    assert!(
        rows[0]["attempts"].as_i64().unwrap_or(0) >= 2,
        "retried: {rows:?}"
    );
    let stats: Value = anonymous()
        .get(&stats_url)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["publications"], 1, "{stats}");
    assert!(
        stats["requests"].as_u64().unwrap_or(0) >= 4,
        "three failures then success: {stats}"
    );
    vapex_entry(&mock, "published").await;
    // A retry of the same row is the same publication (the Idempotency-Key is the row id).
    let replay = anonymous()
        .put(format!("{}/vapex/v1/catalogue/{MINISTRY}/population/v1", mock.url()))
        .bearer_auth("vapex-sim-token")
        .header("idempotency-key", rows[0]["id"].as_str().expect("id"))
        .json(&json!({ "event": "publish", "descriptor": vapex_entry(&mock, "published").await["descriptor"] }))
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), 200);
    let stats: Value = anonymous()
        .get(&stats_url)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (stats["publications"].clone(), stats["duplicates"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsdl_becomes_a_soap_service() {
    use reqwest::Method;
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let admin = admin(&gw, "province_admin", "quantri", None).await;
    let wsdl = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions name="TraCuuDoanhNghiep" targetNamespace="urn:dkkd:doanhnghiep"
    xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:tns="urn:dkkd:doanhnghiep" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <documentation>Tra cứu thông tin đăng ký doanh nghiệp</documentation>
  <types><xsd:schema targetNamespace="urn:dkkd:doanhnghiep">
    <xsd:element name="TraCuuDoanhNghiep"><xsd:complexType><xsd:sequence><xsd:element name="maDoanhNghiep" type="xsd:string"/></xsd:sequence></xsd:complexType></xsd:element>
    <xsd:element name="TraCuuDoanhNghiepResponse"><xsd:complexType><xsd:sequence><xsd:element name="tenDoanhNghiep" type="xsd:string"/></xsd:sequence></xsd:complexType></xsd:element>
  </xsd:schema></types>
  <message name="TraCuuIn"><part name="parameters" element="tns:TraCuuDoanhNghiep"/></message>
  <message name="TraCuuOut"><part name="parameters" element="tns:TraCuuDoanhNghiepResponse"/></message>
  <portType name="DoanhNghiepPort">
    <operation name="TraCuuDoanhNghiep"><input message="tns:TraCuuIn"/><output message="tns:TraCuuOut"/></operation>
  </portType>
  <binding name="DoanhNghiepBinding" type="tns:DoanhNghiepPort">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <operation name="TraCuuDoanhNghiep"><soap:operation soapAction="urn:dkkd:TraCuuDoanhNghiep"/>
      <input><soap:body use="literal"/></input><output><soap:body use="literal"/></output></operation>
  </binding>
  <service name="DoanhNghiepService">
    <port name="DoanhNghiepPort" binding="tns:DoanhNghiepBinding"><soap:address location="{}/enterprise/v1/soap"/></port>
  </service>
</definitions>"#,
        mock.url()
    );
    let service = admin
        .ok(
            Method::POST,
            "/admin/v1/services/import",
            Some(json!({ "slug": "enterprise-soap", "owner": "000.00.00.H29", "spec": wsdl })),
        )
        .await;
    assert_eq!(service["spec"]["format"], "wsdl");
    assert_eq!(
        service["operations"],
        json!([{ "method": "POST", "path": "/" }])
    );
    assert_eq!(
        service["upstream"]["url"],
        format!("{}/enterprise/v1/soap", mock.url())
    );
    assert_eq!(
        service["metadata"]["description"],
        "Tra cứu thông tin đăng ký doanh nghiệp"
    );
    let ops = &service["spec"]["openapi"]["paths"]["/"]["post"]["x-soap-operations"];
    assert_eq!(ops[0]["soapAction"], "urn:dkkd:TraCuuDoanhNghiep", "{ops}");
    // Garbage and DTDs are refused with a reason, and nothing is registered.
    for (bad, why) in [
        ("<definitions", "truncated"),
        (
            "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><x>&e;</x>",
            "dtd",
        ),
    ] {
        let (status, body) = admin
            .post(
                "/admin/v1/services/import",
                json!({ "slug": "bad", "owner": "000.00.00.H29", "spec": bad }),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (400, json!("INVALID_REQUEST")),
            "{why}: {body}"
        );
    }
    assert_eq!(admin.get("/admin/v1/services/bad/v1").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_round_trips_through_export_and_apply() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let export = |format: &'static str| {
        let config = gw.config_path.clone();
        async move {
            let out = lgsp()
                .args(["export", "--format", format, "--config"])
                .arg(config)
                .output()
                .await
                .expect("export");
            assert!(
                out.status.success(),
                "export: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("utf-8")
        }
    };
    let exported = export("toml").await;
    assert!(exported.contains("slug = \"population\""), "{exported}");
    // Applying the export changes nothing.
    let applied = gw.apply(&exported).await;
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let report: Value = serde_json::from_slice(&applied.stdout).expect("report");
    assert_eq!(
        (report["created"].clone(), report["updated"].clone()),
        (json!([]), json!([])),
        "{report}"
    );
    // A dry run shows the change, member by member, and writes nothing.
    let changed = exported.replacen(
        "name = \"Tra cứu dân cư\"",
        "name = \"Tra cứu dân cư (v1)\"",
        1,
    );
    assert_ne!(changed, exported);
    let path = gw.dir().join("changed.toml");
    std::fs::write(&path, &changed).expect("write");
    let dry = lgsp()
        .arg("apply")
        .arg(&path)
        .arg("--dry-run")
        .arg("--config")
        .arg(&gw.config_path)
        .output()
        .await
        .expect("dry run");
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let shown = String::from_utf8(dry.stdout).expect("utf-8");
    assert!(
        shown.contains(
            "~ service population/v1\n    name: \"Tra cứu dân cư\" → \"Tra cứu dân cư (v1)\""
        ),
        "{shown}"
    );
    assert!(shown.contains("= service echo/v1"), "{shown}");
    assert!(shown.contains("0 to create, 1 to update"), "{shown}");
    assert_eq!(export("toml").await, exported, "the dry run wrote nothing");
    // The real apply does it; export and JSON agree.
    assert!(gw.apply(&changed).await.status.success());
    assert_eq!(export("toml").await, changed);
    let json: Value = serde_json::from_str(&export("json").await).expect("json export");
    assert!(
        json["services"]
            .as_array()
            .expect("services")
            .iter()
            .any(|s| s["name"] == "Tra cứu dân cư (v1)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_see_a_change_within_a_second() {
    use sqlx::{Connection, Executor, PgConnection};
    if std::env::var("LGSP_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        println!("skipped: LGSP_SKIP_POSTGRES=1");
        return;
    }
    let base = std::env::var("LGSP_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut pg = PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {base}: {e}; set LGSP_SKIP_POSTGRES=1 to skip"));
    let schema = format!("lgsp_registry_{}", uuid::Uuid::new_v4().simple());
    pg.execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .expect("schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    let mock = Mock::start().await;
    // Polling is slowed to a minute: only the notification can be this fast.
    let config = format!("[store]\nurl = \"{url}\"\n[registry]\nreload_interval_ms = 60000\n");
    let a = GatewayBuilder::new(&mock).config(&config).start().await;
    let b = GatewayBuilder::new(&mock).config(&config).start().await;
    let admin_a = admin(&a, "province_admin", "quantri", None).await;
    assert_eq!(
        http()
            .get(b.url("/api/echo/v1/bytes/16"))
            .send()
            .await
            .expect("b")
            .status(),
        200
    );

    let changed = Instant::now();
    let (status, body) = admin_a
        .post(
            "/admin/v1/services/echo/v1/lifecycle",
            json!({ "state": "blocked" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = loop {
        let status = http()
            .get(b.url("/api/echo/v1/bytes/16"))
            .send()
            .await
            .expect("b")
            .status();
        if status == 503 {
            break changed.elapsed();
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "node B still serves a blocked service"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("node B enforced node A's change after {seen:?}");
    assert!(seen < Duration::from_secs(1), "took {seen:?}");
    // And back, through B this time, seen by A.
    let admin_b = admin(&b, "province_admin", "quantri.b", None).await;
    let changed = Instant::now();
    admin_b
        .post(
            "/admin/v1/services/echo/v1/lifecycle",
            json!({ "state": "published" }),
        )
        .await;
    loop {
        if http()
            .get(a.url("/api/echo/v1/bytes/16"))
            .send()
            .await
            .expect("a")
            .status()
            == 200
        {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "node A did not follow node B within a second"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop((a, b));
    pg.execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await
        .expect("drop schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_flow_works_through_lgsp_apply() {
    let mock = Mock::start().await;
    let gw = publishing_gateway(&mock).await;
    let service = |state: &str, extra: &str| {
        format!(
            r#"
[[services]]
slug = "population"
version = "v1"
name = "Tra cứu công dân"
owner = "{MINISTRY}"
state = "{state}"
{extra}
data_class = "confidential"
personal_data = true
upstream = {{ url = "{mock}/population/v1" }}
operations = [{{ method = "GET", path = "/citizens/{{soDinhDanh}}" }}]
[services.metadata]
sla = {{ availability_percent = 99.0, response_time_ms = 900 }}
contacts = [{{ name = "Lê Văn Cường", role = "business" }}]
personal_data_fields = ["soDinhDanh"]
"#,
            mock = mock.url()
        )
    };
    // A file that breaks the conventions is refused whole, with the findings.
    let bad = service("published", "").replace(
        "contacts = [{ name = \"Lê Văn Cường\", role = \"business\" }]\n",
        "",
    );
    let refused = gw.apply(&bad).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("VAPEX-BLOCK") && stderr.contains("/x-vapex"),
        "{stderr}"
    );
    let out = lgsp()
        .args(["export", "--format", "json", "--config"])
        .arg(&gw.config_path)
        .output()
        .await
        .expect("export");
    let exported: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(exported["services"], json!([]), "nothing was applied");

    // Published, then deprecated, then retired, each by a file: V-APEX follows.
    let days = "deprecated_on = \"2026-11-24\"\nsunset_on = \"2027-06-30\"";
    for (state, extra) in [("published", ""), ("deprecated", days), ("retired", days)] {
        let applied = gw.apply(&service(state, extra)).await;
        assert!(
            applied.status.success(),
            "{state}: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
        vapex_entry(&mock, state).await;
    }
    // The running node enforced it without a restart.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = anonymous()
            .get(gw.url(&format!(
                "/api/population/v1/citizens/{}",
                Mock::known_personal_id()
            )))
            .send()
            .await
            .expect("call");
        if r.status() == 410 {
            break;
        }
        assert!(Instant::now() < deadline, "still {}", r.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Applying the same file again publishes nothing new.
    let admin = admin(&gw, "province_admin", "quantri", None).await;
    let before = all_published(&admin, "population", 3).await;
    assert!(gw.apply(&service("retired", days)).await.status.success());
    assert_eq!(all_published(&admin, "population", 3).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commune_openapi_yaml_is_imported() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let admin = admin(&gw, "province_admin", "quantri", None).await;
    let yaml = include_str!("../adapters/src/specs/fixtures/motcua-hoso.openapi.yaml");
    let (status, service) = admin
        .post(
            "/admin/v1/services/import",
            json!({ "slug": "ho-so-mot-cua", "owner": "000.01.00.H29", "spec": yaml }),
        )
        .await;
    assert_eq!(status, 201, "{service}");
    assert_eq!(service["version"], "v1");
    assert_eq!(
        service["upstream"]["url"],
        "https://motcua.myhiep.dongthap.gov.vn/api/v1"
    );
    assert_eq!(
        service["spec"]["openapi"]["openapi"], "3.1.0",
        "converted from 3.0.3"
    );
    let paths: Vec<&str> = service["operations"]
        .as_array()
        .expect("ops")
        .iter()
        .filter_map(|o| o["path"].as_str())
        .collect();
    assert!(paths.contains(&"/hoSo/{maHoSo}"), "{paths:?}");
    let (_, found) = admin
        .get("/admin/v1/services?q=ho%20so%20mot%20cua&agency=000.01.00.H29")
        .await;
    assert_eq!(found[0]["slug"], "ho-so-mot-cua");
    let (_, none) = admin
        .get("/admin/v1/services?q=ho%20so&agency=000.00.00.G01")
        .await;
    assert_eq!(none, json!([]));
}
