//! TLS on the data listener and mTLS client certificates bound to systems by
//! fingerprint, against a real gateway process.

mod harness;

use harness::pki::{Leaf, TestCa as Ca};
use harness::{GatewayBuilder, Mock, SYS_A_KEY, problem_code};
use std::time::Duration;

fn client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("ca pem"))
        .timeout(Duration::from_secs(20));
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.cert_pem, leaf.key_pem);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).expect("identity"));
    }
    builder.build().expect("client")
}

#[tokio::test]
async fn client_certificates_authenticate_their_bound_system_only() {
    let mock = Mock::start().await;
    let ca = Ca::new("LGSP test CA");
    let server = ca.leaf("127.0.0.1", true);
    let bound = ca.leaf("motcua-xa-a", false);
    let unbound = ca.leaf("motcua-xa-khac", false);
    let stranger_ca = Ca::new("Some other CA");
    let stranger = stranger_ca.leaf("motcua-xa-a", false);

    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let tls = format!(
        "[tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
        write("server.pem", &server.cert_pem),
        write("server.key", &server.key_pem),
        write("ca.pem", &ca.pem())
    );
    let binding = format!(
        "[[credentials]]\nid = \"sys-a-cert\"\nsystem = \"sys-a\"\nkind = \"certificate\"\nfingerprint = \"{}\"\n",
        bound.fingerprint
    );
    let gw = GatewayBuilder::new(&mock)
        .config(&tls)
        .registry(&binding)
        .start()
        .await;
    let url = format!("https://{}/api/echo/v1/inspect", gw.data);

    let r = client(&ca, Some(&bound))
        .get(&url)
        .send()
        .await
        .expect("bound certificate connects");
    assert_eq!(r.status(), 200, "a bound certificate authenticates sys-a");
    let seen: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        seen["headers"]["x-forwarded-proto"], "https",
        "the upstream learns the consumer came over TLS"
    );

    let r = client(&ca, Some(&unbound))
        .get(&url)
        .send()
        .await
        .expect("unbound certificate still connects");
    assert_eq!(
        problem_code(r).await,
        (401, "AUTHEN_ERROR".into()),
        "a valid but unbound certificate is refused"
    );

    let r = client(&ca, None)
        .get(&url)
        .send()
        .await
        .expect("no certificate connects");
    assert_eq!(problem_code(r).await, (401, "AUTHEN_ERROR".into()));
    let r = client(&ca, None)
        .get(&url)
        .header("x-api-key", SYS_A_KEY)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "API keys and tokens still work over TLS");

    let refused = client(&ca, Some(&stranger)).get(&url).send().await;
    assert!(
        refused.is_err(),
        "a certificate from another CA fails the handshake"
    );

    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", gw.data))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "the data listener speaks only TLS"
    );
}
