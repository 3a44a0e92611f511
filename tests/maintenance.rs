//! Maintenance mode drains a node: an operator switches it on the admin
//! plane, the data plane answers `503 MAINTENANCE` with `Retry-After` before
//! routing (no audit record), `/readyz` fails on both listeners while
//! `/healthz` stays up, and the switch is in the admin-change log.

mod harness;

use harness::{Gateway, GatewayBuilder, Mock, SYS_A_KEY, anonymous, http, problem_code};
use serde_json::{Value, json};

async fn readyz(url: String) -> (u16, Value) {
    let r = anonymous().get(url).send().await.expect("readyz");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

async fn healthz(url: String) -> u16 {
    anonymous()
        .get(url)
        .send()
        .await
        .expect("healthz")
        .status()
        .as_u16()
}

async fn switch(gw: &Gateway, token: &str, body: Value) -> reqwest::Response {
    anonymous()
        .put(gw.admin_url("/admin/v1/maintenance"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("maintenance")
}

/// The admin-change log, as an auditor reads it.
async fn admin_changes(gw: &Gateway, auditor: &str) -> Value {
    anonymous()
        .get(gw.admin_url("/audit/v1/admin-changes?limit=1000"))
        .bearer_auth(auditor)
        .send()
        .await
        .expect("admin changes")
        .json()
        .await
        .expect("json")
}

/// A counter's value in the admin listener's `/metrics`.
async fn counter(gw: &Gateway, series: &str) -> f64 {
    let scrape = anonymous()
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{scrape}"))
}

#[tokio::test]
async fn maintenance_mode_drains_the_data_plane() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let citizen = gw.url(&format!(
        "/api/population/v1/citizens/{}",
        Mock::known_personal_id()
    ));
    let operator = gw.admin_token("operator", "vanhanh", None).await;
    let auditor = gw.admin_token("auditor", "thanhtra", None).await;

    assert_eq!(
        http().get(&citizen).send().await.expect("send").status(),
        200
    );
    for url in [gw.url("/readyz"), gw.admin_url("/readyz")] {
        let (status, body) = readyz(url).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["checks"]["maintenance"], "off");
        assert_eq!(body["checks"]["audit"], "ok");
    }
    let status: Value = anonymous()
        .get(gw.admin_url("/admin/v1/maintenance"))
        .bearer_auth(&operator)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(status["enabled"], false, "{status}");

    // Only operators and province admins switch it; consumers cannot reach it at all.
    let r = switch(&gw, &auditor, json!({ "enabled": true })).await;
    assert_eq!(problem_code(r).await, (403, "FORBIDDEN".into()));
    let r = anonymous()
        .put(gw.admin_url("/admin/v1/maintenance"))
        .header("x-api-key", SYS_A_KEY)
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (401, "AUTHEN_ERROR".into()));
    let r = http()
        .put(gw.url("/admin/v1/maintenance"))
        .json(&json!({ "enabled": true }))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (404, "SERVICE_NOT_FOUND".into()));
    let r = switch(&gw, &operator, json!({ "enabled": "yes" })).await;
    assert_eq!(problem_code(r).await, (400, "INVALID_REQUEST".into()));

    let committed = counter(&gw, "lgsp_audit_records_committed_total").await;
    let r = switch(
        &gw,
        &operator,
        json!({ "enabled": true, "reason": "Nâng cấp phiên bản" }),
    )
    .await;
    assert_eq!(r.status(), 200);
    let on: Value = r.json().await.expect("json");
    assert_eq!(
        (&on["enabled"], &on["reason"], &on["by"]),
        (
            &json!(true),
            &json!("Nâng cấp phiên bản"),
            &json!("vanhanh")
        ),
        "{on}"
    );

    // Every data-plane request, routable or not, is refused before routing.
    for url in [citizen.clone(), gw.url("/api/land/v1/parcels/1")] {
        let r = http().get(&url).send().await.expect("send");
        let retry_after: u64 = r
            .headers()
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!(retry_after >= 1);
        let body: Value = r.json().await.expect("problem");
        assert_eq!(
            (&body["status"], &body["code"]),
            (&json!(503), &json!("MAINTENANCE")),
            "{body}"
        );
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Nâng cấp phiên bản")),
            "{body}"
        );
    }
    for url in [gw.url("/readyz"), gw.admin_url("/readyz")] {
        let (status, body) = readyz(url).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "not_ready");
        assert_eq!(body["checks"]["maintenance"], "on");
    }
    for url in [gw.url("/healthz"), gw.admin_url("/healthz")] {
        assert_eq!(healthz(url).await, 200, "the process is alive");
    }
    assert_eq!(counter(&gw, "lgsp_maintenance_enabled").await, 1.0);
    assert_eq!(
        counter(
            &gw,
            "lgsp_requests_total{service=\"-\",system=\"-\",status=\"503\",code=\"MAINTENANCE\"}"
        )
        .await,
        2.0
    );
    assert_eq!(
        counter(&gw, "lgsp_audit_records_committed_total").await,
        committed,
        "refused before the route stage: no audit record"
    );

    let r = switch(&gw, &operator, json!({ "enabled": false })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        http().get(&citizen).send().await.expect("send").status(),
        200,
        "traffic flows again"
    );
    for url in [gw.url("/readyz"), gw.admin_url("/readyz")] {
        let (status, body) = readyz(url).await;
        assert_eq!(status, 200, "{body}");
    }

    // Both switches are in the admin-change log, by whom and from what to what.
    let log = admin_changes(&gw, &auditor).await;
    let switches: Vec<&Value> = log["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["action"] == "set_maintenance")
        .collect();
    assert_eq!(switches.len(), 2, "{log}");
    assert_eq!(switches[0]["actor"], "admin:vanhanh");
    assert!(
        switches[0]["entity"]
            .as_str()
            .is_some_and(|e| e.starts_with("node ")),
        "{log}"
    );
    let after: Value =
        serde_json::from_str(switches[0]["after"].as_str().expect("after")).expect("json");
    assert_eq!(
        after,
        json!({ "enabled": true, "reason": "Nâng cấp phiên bản" })
    );
    let after: Value =
        serde_json::from_str(switches[1]["after"].as_str().expect("after")).expect("json");
    assert_eq!(after, json!({ "enabled": false, "reason": null }));

    // Switching to the state it is already in changes and logs nothing.
    let r = switch(&gw, &operator, json!({ "enabled": false })).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        admin_changes(&gw, &auditor).await["changes"],
        log["changes"]
    );
}
