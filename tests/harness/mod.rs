//! The one small harness every end-to-end test shares: builders that start the
//! real `lgsp` binary (gateway, simulators, demo) on free loopback ports and
//! stop them when dropped.
#![allow(dead_code)] // each test binary uses its own subset

pub mod pki;

use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary under test.
pub fn lgsp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lgsp"));
    cmd.kill_on_drop(true).env("RUST_LOG", "info");
    cmd
}

/// Reads the first stdout line of a child (its `listening` announcement).
async fn announcement(child: &mut Child) -> Value {
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("child announced itself within 60 s")
        .expect("stdout readable")
        .expect("child printed a line before exiting");
    // Keep draining so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("announcement {line:?} is not JSON: {e}"))
}

fn addr(v: &Value, key: &str) -> SocketAddr {
    v[key]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no address {key} in {v}"))
}

/// The API key of `sys-a`, the fully subscribed test system of [`base_registry`].
pub const SYS_A_KEY: &str = "lgsp_test_key_for_sys_a_0123456789abcdef";
/// The API key of `sys-b`, subscribed to nothing personal.
pub const SYS_B_KEY: &str = "lgsp_test_key_for_sys_b_0123456789abcdef";
/// The API key of `sys-c`: level 2, approved for population, calls only from 10.0.0.0/8.
pub const SYS_C_KEY: &str = "lgsp_test_key_for_sys_c_0123456789abcdef";
/// OAuth2 client of `sys-a`.
pub const SYS_A_CLIENT: (&str, &str) = ("sys-a", "sys-a-secret-for-tests");
/// A purpose `sys-a` may use for the population service.
pub const PURPOSE: &str = "1.001612";

/// An HTTP client that calls as `sys-a` (API key) for purpose [`PURPOSE`], by a named officer.
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-api-key",
        reqwest::header::HeaderValue::from_static(SYS_A_KEY),
    );
    headers.insert(
        "x-lgsp-purpose",
        reqwest::header::HeaderValue::from_static(PURPOSE),
    );
    headers.insert(
        "x-lgsp-user",
        reqwest::header::HeaderValue::from_static("canbo.test"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// An HTTP client with no credentials and no purpose.
pub fn anonymous() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// The simulators of national services, as a separate process.
pub struct Mock {
    child: Child,
    /// Where they listen.
    pub addr: SocketAddr,
    /// Where the NDOP simulator listens (mTLS), when started with it.
    pub ndop: Option<SocketAddr>,
    /// The NDOP simulator's throwaway PKI, when started with it.
    pub pki: Option<tempfile::TempDir>,
}

impl Mock {
    /// Starts `lgsp mock` on a free port.
    pub async fn start() -> Mock {
        Mock::spawn(None).await
    }

    /// Starts `lgsp mock` with the NDOP simulator on a second free port.
    pub async fn start_with_ndop() -> Mock {
        Mock::spawn(Some(tempfile::tempdir().expect("tempdir"))).await
    }

    async fn spawn(pki: Option<tempfile::TempDir>) -> Mock {
        let mut command = lgsp();
        command.args(["mock", "--listen", "127.0.0.1:0", "--citizens", "10000"]);
        if let Some(dir) = &pki {
            command
                .args(["--ndop-listen", "127.0.0.1:0", "--ndop-pki"])
                .arg(dir.path());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lgsp mock");
        let a = announcement(&mut child).await;
        Mock {
            addr: addr(&a, "mock"),
            ndop: pki.as_ref().map(|_| addr(&a, "ndop")),
            pki,
            child,
        }
    }

    /// The `[ndop]` section of a gateway configuration trusting this mock's NDOP PKI.
    pub fn ndop_config(&self) -> String {
        let dir = self.pki.as_ref().expect("mock started with NDOP").path();
        let file = |name: &str| dir.join(name).display().to_string();
        format!(
            "[ndop]\nclient_cert = {:?}\nclient_key = {:?}\nserver_ca = {:?}\nkey_id = \"lgsp-tinh-h29\"\nresponse_cert = {:?}\n",
            file("province-client.pem"),
            file("province-client-key.pem"),
            file("ca.pem"),
            file("ndop-signing.pem"),
        )
    }

    /// Base URL of the NDOP simulator.
    pub fn ndop_url(&self) -> String {
        format!("https://{}", self.ndop.expect("mock started with NDOP"))
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets a route's fault knobs.
    pub async fn fault(&self, route: &str, knobs: Value) {
        let r = http()
            .put(format!("{}/__sim/faults/{route}", self.url()))
            .json(&knobs)
            .send()
            .await
            .expect("set fault");
        assert!(
            r.status().is_success(),
            "setting fault on {route}: {}",
            r.status()
        );
    }

    /// Clears every fault.
    pub async fn clear_faults(&self) {
        http()
            .delete(format!("{}/__sim/faults", self.url()))
            .send()
            .await
            .expect("clear faults");
    }

    /// Requests seen per route key.
    pub async fn hits(&self, route: &str) -> u64 {
        let stats: Value = http()
            .get(format!("{}/__sim/stats", self.url()))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        stats[route].as_u64().unwrap_or(0)
    }

    /// Resets the counters.
    pub async fn reset_stats(&self) {
        http()
            .delete(format!("{}/__sim/stats", self.url()))
            .send()
            .await
            .expect("reset stats");
    }

    /// A valid personal ID that exists in the simulator's dataset (seed 2026).
    pub fn known_personal_id() -> String {
        lgsp_adapters::simulators::Simulator::new(
            lgsp_adapters::simulators::SimulatorOptions::default(),
        )
        .sample_personal_ids(1)
        .remove(0)
    }
}

/// Builds a gateway process: configuration, registry file, then `lgsp serve`.
pub struct GatewayBuilder {
    dir: tempfile::TempDir,
    config: String,
    registry: String,
    overlays: Vec<String>,
    env: Vec<(String, String)>,
}

/// The registry every test starts from: the province, a ministry, the
/// national services behind `mock`, and three consumer systems:
/// `sys-a` (level 3, subscribed to population for [`PURPOSE`]), `sys-b`
/// (level 3, no subscriptions) and `sys-c` (level 2, subscribed, only from 10.0.0.0/8).
pub fn base_registry(mock: &str) -> String {
    let secret_hash = lgsp_gateway::access::secrets::hash_secret(SYS_A_CLIENT.1).expect("hash");
    let key = lgsp_gateway::access::secrets::hash_api_key;
    format!(
        r#"
[[agencies]]
code = "000.01.00.H29"
name = "UBND xã thử nghiệm A"
parent = "000.00.00.H29"

[[systems]]
slug = "sys-a"
agency = "000.01.00.H29"
name = "Một cửa xã A"
security_level = 3

[[systems]]
slug = "sys-b"
agency = "000.01.00.H29"
name = "Một cửa xã B"
security_level = 3

[[systems]]
slug = "sys-c"
agency = "000.01.00.H29"
name = "Phần mềm chuyên ngành C"
security_level = 2
ip_allow = ["10.0.0.0/8"]

[[credentials]]
id = "sys-a-oauth"
system = "sys-a"
kind = "client_secret"
client_id = "{client_id}"
secret_hash = "{secret_hash}"

[[credentials]]
id = "sys-a-key"
system = "sys-a"
kind = "api_key"
key_hash = "{key_a}"

[[credentials]]
id = "sys-b-key"
system = "sys-b"
kind = "api_key"
key_hash = "{key_b}"

[[credentials]]
id = "sys-c-key"
system = "sys-c"
kind = "api_key"
key_hash = "{key_c}"

[[subscriptions]]
system = "sys-a"
service = "population"
state = "approved"
purposes = ["{purpose}"]
plan = {{ rate_per_second = 1000.0, burst = 1000 }}

[[subscriptions]]
system = "sys-c"
service = "population"
state = "approved"
purposes = ["{purpose}"]
"#,
        client_id = SYS_A_CLIENT.0,
        key_a = key(SYS_A_KEY),
        key_b = key(SYS_B_KEY),
        key_c = key(SYS_C_KEY),
        purpose = PURPOSE,
    ) + &format!(
        r#"
[[agencies]]
code = "000.00.00.H29"
name = "UBND tỉnh thử nghiệm"

[[agencies]]
code = "000.00.00.G01"
name = "Bộ Công an"

[[services]]
slug = "population"
version = "v1"
name = "Tra cứu dân cư"
owner = "000.00.00.G01"
personal_data = true
data_class = "confidential"
security_level = 3
priority = "essential"
upstream = {{ url = "{mock}/population/v1", timeout_ms = 3000 }}
operations = [{{ method = "GET", path = "/citizens/{{soDinhDanh}}" }}]

[[services]]
slug = "echo"
version = "v1"
name = "Dịch vụ kiểm thử"
owner = "000.00.00.H29"
upstream = {{ url = "{mock}/echo/v1", timeout_ms = 3000, max_request_bytes = 134217728, max_response_bytes = 134217728 }}
"#
    )
}

impl GatewayBuilder {
    /// A gateway whose registry is [`base_registry`] for `mock`.
    pub fn new(mock: &Mock) -> GatewayBuilder {
        GatewayBuilder::empty().registry(&base_registry(&mock.url()))
    }

    /// A gateway with an empty registry.
    pub fn empty() -> GatewayBuilder {
        GatewayBuilder {
            dir: tempfile::tempdir().expect("tempdir"),
            config: String::new(),
            registry: String::new(),
            overlays: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds TOML to the configuration file (sections other than `data_dir` and `[listen]`).
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push_str(toml);
        self.config.push('\n');
        self
    }

    /// Adds TOML to the registry file.
    pub fn registry(mut self, toml: &str) -> Self {
        self.registry.push_str(toml);
        self.registry.push('\n');
        self
    }

    /// A second registry file, applied after the first: it may redeclare entities.
    pub fn overlay(mut self, toml: &str) -> Self {
        self.overlays.push(toml.to_string());
        self
    }

    /// Sets an environment variable of the gateway process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Writes the files, applies the registry with `lgsp apply`, starts `lgsp serve`.
    pub async fn start(self) -> Gateway {
        let dir = self.dir;
        let config_path = dir.path().join("lgsp.toml");
        // Tests outside the rate-limit suite must never trip the public plan.
        let rate_limits = if self.config.contains("[rate_limits]") {
            String::new()
        } else {
            "[rate_limits]\npublic_rate_per_second = 10000.0\npublic_burst = 10000\n".to_string()
        };
        let config = format!(
            "data_dir = {:?}\n\n[listen]\ndata = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\n\n{}\n{}",
            dir.path().join("data").display().to_string(),
            self.config,
            rate_limits
        );
        std::fs::write(&config_path, config).expect("write config");
        let registry_path = dir.path().join("registry.toml");
        std::fs::write(&registry_path, &self.registry).expect("write registry");

        let applied = lgsp()
            .arg("apply")
            .arg(&registry_path)
            .arg("--config")
            .arg(&config_path)
            .envs(self.env.iter().cloned())
            .output()
            .await
            .expect("run lgsp apply");
        assert!(
            applied.status.success(),
            "lgsp apply failed: {}",
            String::from_utf8_lossy(&applied.stderr)
        );

        for (i, overlay) in self.overlays.iter().enumerate() {
            let path = dir.path().join(format!("overlay-{i}.toml"));
            std::fs::write(&path, overlay).expect("write overlay");
            let applied = lgsp()
                .arg("apply")
                .arg(&path)
                .arg("--config")
                .arg(&config_path)
                .output()
                .await
                .expect("apply");
            assert!(
                applied.status.success(),
                "overlay {i}: {}",
                String::from_utf8_lossy(&applied.stderr)
            );
        }
        Gateway::serve(dir, config_path, self.env).await
    }
}

/// A running `lgsp serve` process.
pub struct Gateway {
    child: Child,
    /// Data-plane address.
    pub data: SocketAddr,
    /// Admin-plane address.
    pub admin: SocketAddr,
    dir: tempfile::TempDir,
    log_path: PathBuf,
    /// The configuration file it runs with.
    pub config_path: PathBuf,
    env: Vec<(String, String)>,
}

impl Gateway {
    async fn serve(
        dir: tempfile::TempDir,
        config_path: PathBuf,
        env: Vec<(String, String)>,
    ) -> Gateway {
        let log_path = dir.path().join("gateway.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let mut child = lgsp()
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn lgsp serve");
        let a = announcement(&mut child).await;
        Gateway {
            data: addr(&a, "data"),
            admin: addr(&a, "admin"),
            child,
            dir,
            log_path,
            config_path,
            env,
        }
    }

    /// Starts the node again with the same configuration and data (after it stopped).
    pub async fn restart(self) -> Gateway {
        let Gateway {
            mut child,
            dir,
            config_path,
            env,
            ..
        } = self;
        let _ = child.kill().await;
        Gateway::serve(dir, config_path, env).await
    }

    /// A data-plane URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.data)
    }

    /// An admin-plane URL.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(within, self.child.wait())
            .await
            .expect("exited in time")
            .expect("wait")
    }

    /// Peak resident memory of the process, in KiB (Linux `VmHWM`).
    pub fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// Everything the gateway logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The working directory (config, registry, data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Applies more registry TOML to the running gateway's store.
    pub async fn apply(&self, toml: &str) -> std::process::Output {
        let path = self
            .dir
            .path()
            .join(format!("extra-{}.toml", rand_suffix()));
        std::fs::write(&path, toml).expect("write");
        lgsp()
            .arg("apply")
            .arg(&path)
            .arg("--config")
            .arg(&self.config_path)
            .output()
            .await
            .expect("apply")
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// A problem response's `code`, after checking it is RFC 9457 shaped.
pub async fn problem_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let ctype = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(ctype, "application/problem+json", "{body}");
    for member in ["type", "title", "status", "detail", "code", "request_id"] {
        assert!(body.get(member).is_some(), "problem lacks {member}: {body}");
    }
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{body}");
    (
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    )
}

/// Obtains a bearer token for `sys-a` at the gateway's token endpoint.
pub async fn token(gw: &Gateway) -> String {
    client_token(gw, SYS_A_CLIENT.0, SYS_A_CLIENT.1).await
}

/// Obtains a bearer token with OAuth2 client credentials.
pub async fn client_token(gw: &Gateway, client_id: &str, secret: &str) -> String {
    let r = anonymous()
        .post(gw.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200, "token endpoint refused {client_id}");
    let body: Value = r.json().await.expect("token json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// The password of every admin-plane account made by [`Gateway::admin_token`].
pub const ADMIN_PASSWORD: &str = "mat-khau-kiem-tra-dai";

impl Gateway {
    /// Creates an admin-plane account with `lgsp admin create-user` (a commune
    /// officer needs `agency`), signs it in and returns its bearer token.
    pub async fn admin_token(&self, role: &str, username: &str, agency: Option<&str>) -> String {
        let mut create = lgsp();
        create
            .args([
                "admin",
                "create-user",
                "--role",
                role,
                "--username",
                username,
            ])
            .args(["--password", ADMIN_PASSWORD])
            .arg("--config")
            .arg(&self.config_path);
        if let Some(agency) = agency {
            create.args(["--agency", agency]);
        }
        let created = create.output().await.expect("run lgsp admin create-user");
        assert!(
            created.status.success(),
            "create-user {username}: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let r = anonymous()
            .post(self.admin_url("/admin/v1/login"))
            .json(&serde_json::json!({ "username": username, "password": ADMIN_PASSWORD }))
            .send()
            .await
            .expect("login request");
        assert_eq!(r.status(), 200, "login of {username}");
        let body: Value = r.json().await.expect("login json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }
}
