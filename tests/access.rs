//! Access control end to end: who may call what, for which purpose, how often.
//! Every refusal is checked against a real gateway process and the simulators.

mod harness;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use harness::{
    GatewayBuilder, Mock, PURPOSE, SYS_A_CLIENT, SYS_A_KEY, SYS_B_KEY, SYS_C_KEY, anonymous, http,
    lgsp, problem_code, token,
};
use serde_json::{Value, json};
use std::time::Duration;

fn citizen_path(id: &str) -> String {
    format!("/api/population/v1/citizens/{id}")
}

async fn get_as(gw: &harness::Gateway, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut rb = anonymous().get(gw.url(path));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.expect("send")
}

#[tokio::test]
async fn token_issue_and_use() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let id = Mock::known_personal_id();

    // client_secret_post
    let r = anonymous()
        .post(gw.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", SYS_A_CLIENT.0),
            ("client_secret", SYS_A_CLIENT.1),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["expires_in"]
            .as_u64()
            .is_some_and(|s| s > 0 && s <= 300)
    );
    let token = body["access_token"].as_str().expect("token").to_string();
    let header: Value = serde_json::from_slice(
        &B64.decode(token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["alg"], "EdDSA");
    let jwks: Value = anonymous()
        .get(gw.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "the token's kid is in the JWKS"
    );

    // client_secret_basic
    let r = anonymous()
        .post(gw.url("/oauth2/token"))
        .basic_auth(SYS_A_CLIENT.0, Some(SYS_A_CLIENT.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);

    // The token reaches the population service; the upstream never sees it.
    for _ in 0..3 {
        let r = get_as(
            &gw,
            &citizen_path(&id),
            &[
                ("authorization", &format!("Bearer {token}")),
                ("x-lgsp-purpose", PURPOSE),
                ("x-lgsp-user", "canbo"),
            ],
        )
        .await;
        assert_eq!(r.status(), 200);
        assert!(
            r.headers().contains_key("ratelimit"),
            "rate-limit headers on an admitted call"
        );
    }
    let r = anonymous()
        .get(gw.url("/api/echo/v1/inspect"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    let seen: Value = r.json().await.expect("json");
    assert!(seen["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn bad_credentials_are_authen_error_without_revealing_client_ids() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let id = Mock::known_personal_id();
    let path = citizen_path(&id);
    let purpose = [("x-lgsp-purpose", PURPOSE), ("x-lgsp-user", "canbo")];

    // No credentials, garbage token, unknown API key.
    for headers in [
        vec![],
        vec![("authorization", "Bearer not.a.token")],
        vec![("authorization", "Basic abc")],
        vec![("x-api-key", "lgsp_unknown")],
    ] {
        let mut all = headers.clone();
        all.extend(purpose);
        let r = get_as(&gw, &path, &all).await;
        assert_eq!(
            problem_code(r).await,
            (401, "AUTHEN_ERROR".into()),
            "{headers:?}"
        );
    }

    // Forged tokens built from a real one.
    let real = token(&gw).await;
    let parts: Vec<&str> = real.split('.').collect();
    let claims: Value =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("claims");
    let none_header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let jwks: Value = anonymous()
        .get(gw.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let public_key = B64
        .decode(jwks["keys"][0]["x"].as_str().expect("x"))
        .expect("b64");
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&public_key),
    )
    .expect("hs256");
    let mut other = claims.clone();
    other["sub"] = json!("sys-b");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(serde_json::to_vec(&other).expect("json")),
        parts[2]
    );
    for (name, forged) in [
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("tampered payload", tampered),
    ] {
        let r = get_as(
            &gw,
            &path,
            &[
                ("authorization", &format!("Bearer {forged}")),
                purpose[0],
                purpose[1],
            ],
        )
        .await;
        assert_eq!(
            problem_code(r).await,
            (401, "AUTHEN_ERROR".into()),
            "{name}"
        );
    }

    // Wrong secret and unknown client id get the same answer.
    let ask = |id: &'static str, secret: &'static str| {
        anonymous()
            .post(gw.url("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
    };
    let wrong: Value = ask(SYS_A_CLIENT.0, "wrong")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let unknown: Value = ask("no-such-client", "wrong")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(wrong["code"], "AUTHEN_ERROR");
    for member in ["type", "title", "status", "detail", "code"] {
        assert_eq!(
            wrong[member], unknown[member],
            "{member} differs between a wrong secret and an unknown client"
        );
    }
    let r = anonymous()
        .post(gw.url("/oauth2/token"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (400, "INVALID_REQUEST".into()));
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[auth]\ntoken_ttl_secs = 1")
        .start()
        .await;
    let t = token(&gw).await;
    let ok = anonymous()
        .get(gw.url("/api/echo/v1/inspect"))
        .bearer_auth(&t)
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200, "fresh token works (and is now cached)");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let r = anonymous()
        .get(gw.url("/api/echo/v1/inspect"))
        .bearer_auth(&t)
        .send()
        .await
        .expect("send");
    assert_eq!(
        problem_code(r).await,
        (401, "AUTHEN_ERROR".into()),
        "the cache never outlives the token"
    );
}

/// A refusal case: name, request headers, expected status and code.
type Case = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    u16,
    &'static str,
);

#[tokio::test]
async fn authorization_refusals() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let id = Mock::known_personal_id();
    let path = citizen_path(&id);
    mock.reset_stats().await;

    let cases: [Case; 6] = [
        (
            "no subscription",
            vec![
                ("x-api-key", SYS_B_KEY),
                ("x-lgsp-purpose", PURPOSE),
                ("x-lgsp-user", "u"),
            ],
            403,
            "SUBSCRIPTION_REQUIRED",
        ),
        (
            "outside the allow-list",
            vec![
                ("x-api-key", SYS_C_KEY),
                ("x-lgsp-purpose", PURPOSE),
                ("x-lgsp-user", "u"),
            ],
            403,
            "IP_DISALLOWED",
        ),
        (
            "no purpose",
            vec![("x-api-key", SYS_A_KEY), ("x-lgsp-user", "u")],
            400,
            "PURPOSE_REQUIRED",
        ),
        (
            "no officer",
            vec![("x-api-key", SYS_A_KEY), ("x-lgsp-purpose", PURPOSE)],
            400,
            "PURPOSE_REQUIRED",
        ),
        (
            "purpose not allowed",
            vec![
                ("x-api-key", SYS_A_KEY),
                ("x-lgsp-purpose", "2.000986"),
                ("x-lgsp-user", "u"),
            ],
            403,
            "PURPOSE_NOT_ALLOWED",
        ),
        (
            "allowed",
            vec![
                ("x-api-key", SYS_A_KEY),
                ("x-lgsp-purpose", PURPOSE),
                ("x-lgsp-user", "u"),
            ],
            200,
            "",
        ),
    ];
    for (name, headers, status, code) in cases {
        let r = get_as(&gw, &path, &headers).await;
        if status == 200 {
            assert_eq!(r.status(), 200, "{name}");
        } else {
            assert_eq!(problem_code(r).await, (status, code.into()), "{name}");
        }
    }
    assert_eq!(
        mock.hits("population").await,
        1,
        "refused calls never reach the upstream"
    );
}

#[tokio::test]
async fn security_level_is_enforced() {
    let mock = Mock::start().await;
    // sys-c is level 2 and approved for population; let it call from loopback.
    let gw = GatewayBuilder::new(&mock)
        .overlay("[[systems]]\nslug = \"sys-c\"\nagency = \"000.01.00.H29\"\nname = \"Phần mềm chuyên ngành C\"\nsecurity_level = 2\nip_allow = [\"127.0.0.1\"]\n")
        .start()
        .await;
    let r = get_as(
        &gw,
        &citizen_path(&Mock::known_personal_id()),
        &[
            ("x-api-key", SYS_C_KEY),
            ("x-lgsp-purpose", PURPOSE),
            ("x-lgsp-user", "u"),
        ],
    )
    .await;
    assert_eq!(
        problem_code(r).await,
        (403, "SECURITY_LEVEL_INSUFFICIENT".into())
    );
}

#[tokio::test]
async fn minimization_hides_fields_the_purpose_may_not_see() {
    let mock = Mock::start().await;
    let cedar = include_str!("../policies/default/policy.cedar");
    let fields = "[population]\n\"*\" = [\"soDinhDanh\", \"hoTen\"]\n\"1.001612\" = [\"soDinhDanh\", \"hoTen\", \"ngaySinh\", \"noiThuongTru\"]\n";
    let policy = format!(
        "[policy]\nversion = \"test-1\"\ncedar = '''\n{cedar}\n'''\nfields = '''\n{fields}'''\n"
    );
    let gw = GatewayBuilder::new(&mock)
        .registry(&policy)
        .overlay(&format!(
            "[[subscriptions]]\nsystem = \"sys-a\"\nservice = \"population\"\nstate = \"approved\"\npurposes = [\"{PURPOSE}\", \"1.000894\"]\nplan = {{ rate_per_second = 1000.0, burst = 1000 }}\n"
        ))
        .start()
        .await;
    let path = citizen_path(&Mock::known_personal_id());
    let full: Value = get_as(
        &gw,
        &path,
        &[
            ("x-api-key", SYS_A_KEY),
            ("x-lgsp-purpose", PURPOSE),
            ("x-lgsp-user", "u"),
        ],
    )
    .await
    .json()
    .await
    .expect("json");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&full),
        ["hoTen", "ngaySinh", "noiThuongTru", "soDinhDanh"]
    );
    let other: Value = get_as(
        &gw,
        &path,
        &[
            ("x-api-key", SYS_A_KEY),
            ("x-lgsp-purpose", "1.000894"),
            ("x-lgsp-user", "u"),
        ],
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(
        keys(&other),
        ["hoTen", "soDinhDanh"],
        "a purpose without its own rule sees the default set"
    );
}

#[tokio::test]
async fn policy_hot_reload_without_restart() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[registry]\nreload_interval_ms = 200")
        .start()
        .await;
    let path = citizen_path(&Mock::known_personal_id());
    let ok = http().get(gw.url(&path)).send().await.expect("send");
    assert_eq!(ok.status(), 200);

    // A stricter bundle: the default rules plus a province-wide stop on personal data.
    let cedar = include_str!("../policies/default/policy.cedar");
    let stop = "@id(\"stop-personal-data\")\n@code(\"SUBSCRIPTION_REQUIRED\")\nforbid(principal, action, resource) when { resource.personal_data };\n";
    let bundle = format!("[policy]\nversion = \"stricter-1\"\ncedar = '''\n{cedar}\n{stop}'''\n");
    let applied = gw.apply(&bundle).await;
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let mut refused = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = http().get(gw.url(&path)).send().await.expect("send");
        if r.status() == 403 {
            refused = true;
            break;
        }
    }
    assert!(refused, "the new policy bundle was not enforced within 3 s");
    let echo = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(echo.status(), 200, "non-personal services still flow");
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid() {
    let mock = Mock::start().await;
    let mut gw = GatewayBuilder::new(&mock).start().await;
    let old = token(&gw).await;
    let old_kid = kid(&old);
    gw.terminate();
    gw.wait(Duration::from_secs(10)).await;

    let rotated = lgsp()
        .args(["keys", "rotate", "--config"])
        .arg(&gw.config_path)
        .output()
        .await
        .expect("rotate");
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let gw = gw.restart().await;

    let r = anonymous()
        .get(gw.url("/api/echo/v1/inspect"))
        .bearer_auth(&old)
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        200,
        "a token signed by the previous key still verifies"
    );
    let new = token(&gw).await;
    assert_ne!(kid(&new), old_kid, "new tokens are signed by the new key");
    let jwks: Value = anonymous()
        .get(gw.url("/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(2));
}

fn kid(token: &str) -> String {
    let header: Value = serde_json::from_slice(
        &B64.decode(token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    header["kid"].as_str().expect("kid").to_string()
}

#[tokio::test]
async fn token_endpoint_is_limited_per_source_address() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[auth]\ntoken_requests_per_minute = 3\ntoken_burst = 3")
        .start()
        .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = anonymous()
            .post(gw.url("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "guess"),
                ("client_secret", "guess"),
            ])
            .send()
            .await
            .expect("send");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(&statuses[..3], &[401, 401, 401]);
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
}
