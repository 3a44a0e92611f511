//! The `lgsp` command: serve the gateway, apply a registry file, run the
//! simulators of the national services, or run the whole demo.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lgsp_adapters::simulators::{NdopPki, NdopPkiFiles, Simulator, SimulatorOptions};
use lgsp_gateway::access::keys::SigningKeys;
use lgsp_gateway::access::secrets;
use lgsp_gateway::admin::{self, Role};
use lgsp_gateway::audit::{AuditSigner, verify};
use lgsp_gateway::config::{Config, LogFormat, NdopConfig, NdxpConfig, VapexConfig};
use lgsp_gateway::reuse::{ReuseKeys, ReuseStore};
use lgsp_gateway::server::Node;
use lgsp_gateway::store::{Store, StoreOptions};
use lgsp_gateway::traces::TraceExport;
use lgsp_gateway::{apply, demo, telemetry};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(
    name = "lgsp",
    version,
    about = "Provincial integration gateway (LGSP)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a gateway node.
    Serve {
        /// Configuration file (TOML); `LGSP_*` variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Apply a registry file (agencies, systems, services) to the store.
    Apply {
        /// The registry file (TOML).
        file: PathBuf,
        /// Configuration file naming the store.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data directory of an embedded store (as `lgsp demo` uses it).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Print what would change, entity by entity and member by member, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write the whole registry to stdout as a file `lgsp apply` takes back (GitOps).
    Export {
        /// Configuration file naming the store.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data directory of an embedded store.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// `toml` (the default) or `json`.
        #[arg(long, default_value = "toml")]
        format: String,
    },
    /// Manage the token-signing keys.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        /// Configuration file naming the data directory or keys directory.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Data directory (keys live in `<data-dir>/keys` unless configured).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// The once-only reuse store.
    Reuse {
        #[command(subcommand)]
        action: ReuseAction,
        /// Configuration file naming the data directory, store and reuse key directory.
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        /// Data directory (reuse keys live in `<data-dir>/reuse-keys` unless configured).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Admin-plane accounts.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Make credentials for a system: prints the secret once and the hash to put in a registry file.
    Credential {
        /// `client-secret` or `api-key`.
        #[arg(value_enum)]
        kind: CredentialKindArg,
    },
    /// Run the simulators of the national services.
    Mock {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// Seed of the synthetic dataset.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Number of synthetic citizens.
        #[arg(long, default_value_t = 10_000)]
        citizens: usize,
        /// Also serve the NDOP simulator (mTLS, signed exchanges) on this address.
        #[arg(long, requires = "ndop_pki")]
        ndop_listen: Option<SocketAddr>,
        /// Where the NDOP simulator's throwaway PKI is kept (generated when absent):
        /// the gateway's `[ndop]` settings point at the files in it.
        #[arg(long)]
        ndop_pki: Option<PathBuf>,
    },
    /// Run the simulators and a gateway with a demo province, and print a curl tour.
    Demo {
        /// Where the embedded store and the manifest go.
        #[arg(long, default_value = "./lgsp-data")]
        data_dir: PathBuf,
        /// Data-plane address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        data_addr: SocketAddr,
        /// Admin-plane address.
        #[arg(long, default_value = "127.0.0.1:8081")]
        admin_addr: SocketAddr,
        /// Simulators' address.
        #[arg(long, default_value = "127.0.0.1:0")]
        mock_addr: SocketAddr,
    },
}

#[derive(Subcommand)]
enum ReuseAction {
    /// Add a new encryption key and re-seal every stored item under it; the
    /// old key file can be deleted afterwards.
    RotateKey,
}

#[derive(Subcommand)]
enum KeysAction {
    /// Add a new signing key; it signs new tokens, older keys still verify theirs.
    Rotate,
    /// Print the JWKS of the current keys.
    Show,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check every hash chain and checkpoint signature offline; exits non-zero on any break.
    Verify {
        /// Configuration file naming the store.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data directory of an embedded store (as `lgsp demo` uses it).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// An export (JSONL from `/audit/v1/export`) instead of the store.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The expected checkpoint public key (base64url); by default the key in the keys directory.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Create an admin-plane account (argon2id password).
    CreateUser {
        /// `province_admin`, `operator`, `auditor` or `commune_officer`.
        #[arg(long)]
        role: String,
        /// Login name.
        #[arg(long)]
        username: String,
        /// Password (12+ characters); read from stdin when absent.
        #[arg(long)]
        password: Option<String>,
        /// Agency code, for commune officers.
        #[arg(long)]
        agency: Option<String>,
        /// Configuration file naming the store.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Data directory of an embedded store.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CredentialKindArg {
    ClientSecret,
    ApiKey,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lgsp: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve { config } => serve(config).await,
        Command::Keys {
            action,
            config,
            data_dir,
        } => keys(action, config, data_dir),
        Command::Credential { kind } => credential(kind),
        Command::Reuse {
            action: ReuseAction::RotateKey,
            config,
            data_dir,
        } => rotate_reuse_key(config, data_dir).await,
        Command::Audit {
            action:
                AuditAction::Verify {
                    config,
                    data_dir,
                    file,
                    public_key,
                },
        } => audit_verify(config, data_dir, file, public_key).await,
        Command::Admin {
            action:
                AdminAction::CreateUser {
                    role,
                    username,
                    password,
                    agency,
                    config,
                    data_dir,
                },
        } => create_user(role, username, password, agency, config, data_dir).await,
        Command::Apply {
            file,
            config,
            data_dir,
            dry_run,
        } => apply_file(file, config, data_dir, dry_run).await,
        Command::Export {
            config,
            data_dir,
            format,
        } => export(config, data_dir, &format).await,
        Command::Mock {
            listen,
            seed,
            citizens,
            ndop_listen,
            ndop_pki,
        } => mock(listen, seed, citizens, ndop_listen.zip(ndop_pki)).await,
        Command::Demo {
            data_dir,
            data_addr,
            admin_addr,
            mock_addr,
        } => run_demo(data_dir, data_addr, admin_addr, mock_addr).await,
    }
}

async fn serve(config_file: Option<PathBuf>) -> Result<()> {
    let config = Config::load(config_file.as_deref())?;
    let traces = TraceExport::from_env()?;
    telemetry::init_logging(config.log.format, traces.as_ref());
    let node = Node::start(config).await?;
    // One line on stdout for supervisors and tests that started us on port 0.
    println!(
        "{}",
        serde_json::json!({ "event": "listening", "data": node.data_addr, "admin": node.admin_addr })
    );
    shutdown_signal().await;
    node.shutdown().await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    Ok(())
}

async fn apply_file(
    file: PathBuf,
    config_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    dry_run: bool,
) -> Result<()> {
    let mut config = Config::load(config_file.as_deref())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    let desired = apply::read_registry_file(&file)?;
    let url = config.store_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    let store = Store::open(&url, &StoreOptions { max_connections: 2 }).await?;
    if dry_run {
        let (_, stored) = store.load_registry().await?;
        store.close().await;
        print!("{}", apply::render_plan(&apply::plan(&stored, &desired)));
        return Ok(());
    }
    // The endpoint descriptors advertise: the configured data listener.
    let describer =
        lgsp_gateway::catalogue::descriptor::Describer::for_node(&config, config.listen.data);
    let applied = store
        .apply_publishing(
            &desired,
            &cli_actor(),
            config.vapex.as_ref().map(|_| &describer),
        )
        .await;
    store.close().await;
    let report = match applied {
        Err(lgsp_gateway::store::StoreError::Nonconforming { what, findings }) => {
            let lines: Vec<String> = findings
                .iter()
                .map(|f| format!("  {} at {}", f.detail, f.pointer))
                .collect();
            anyhow::bail!(
                "{what} breaks the V-APEX conventions (contracts/vapex/README.md); nothing was applied:\n{}",
                lines.join("\n")
            );
        }
        other => other?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn export(
    config_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    format: &str,
) -> Result<()> {
    let config = config_with(config_file, data_dir)?;
    let store = open_store(&config).await?;
    let (_, data) = store.load_registry().await?;
    store.close().await;
    let text = match format {
        "json" => serde_json::to_string_pretty(&data)? + "\n",
        "toml" => toml::to_string(&data).context(
            "the registry cannot be written as TOML (a spec holds a null?); use --format json",
        )?,
        other => anyhow::bail!("unknown format {other:?}: use toml or json"),
    };
    print!("{text}");
    Ok(())
}

/// Who the admin-change log names for a change made from the command line:
/// `cli:` and the login name from `USER` or `LOGNAME`. The variables are the
/// caller's word, not proof; the log's value is the record of what changed.
fn cli_actor() -> String {
    let user = ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    format!("cli:{user}")
}

/// Who the admin-change log names for what `lgsp demo` sets up.
const DEMO_ACTOR: &str = "demo";

fn keys(action: KeysAction, config_file: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<()> {
    let mut config = Config::load(config_file.as_deref())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    let dir = config.keys_dir();
    match action {
        KeysAction::Rotate => {
            let kid = SigningKeys::rotate(&dir)?;
            println!(
                "{}",
                serde_json::json!({ "event": "key_rotated", "kid": kid, "dir": dir })
            );
            eprintln!(
                "Running nodes sign with the new key after a restart; tokens signed by older keys stay valid until they expire or their key file is removed."
            );
        }
        KeysAction::Show => println!(
            "{}",
            serde_json::to_string_pretty(&SigningKeys::load_or_create(&dir)?.jwks())?
        ),
    }
    Ok(())
}

/// The configuration, with `--data-dir` taking precedence over the file's.
fn config_with(config_file: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<Config> {
    let mut config = Config::load(config_file.as_deref())?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    Ok(config)
}

async fn open_store(config: &Config) -> Result<Store> {
    let url = config.store_url();
    if url.starts_with("sqlite:")
        && !config.data_dir.join("lgsp.db").exists()
        && config.store.url.is_empty()
    {
        anyhow::bail!("no store at {}", config.data_dir.join("lgsp.db").display());
    }
    Ok(Store::open(&url, &StoreOptions { max_connections: 2 }).await?)
}

async fn audit_verify(
    config_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    file: Option<PathBuf>,
    public_key: Option<String>,
) -> Result<()> {
    let config = config_with(config_file, data_dir)?;
    // Pin the key this gateway signs with, unless one was given; a forger who
    // re-signs with a key of their own is caught.
    let expected = match public_key {
        Some(key) => Some(key),
        None => AuditSigner::load(&config.audit_keys_dir())
            .ok()
            .map(|s| s.public_key_b64().to_string()),
    };
    let report = match file {
        Some(path) => {
            let reader = std::io::BufReader::new(
                std::fs::File::open(&path)
                    .with_context(|| format!("opening {}", path.display()))?,
            );
            verify::verify_export(reader, expected.as_deref())?
        }
        None => {
            let store = open_store(&config).await?;
            let report = verify::verify_store(&store, expected.as_deref()).await?;
            store.close().await;
            report
        }
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !report.ok {
        anyhow::bail!("the audit log does not verify: see the first break of each chain above");
    }
    if expected.is_none() {
        eprintln!(
            "warning: no checkpoint key was pinned (no --public-key and no key in {}); signatures were checked against the keys in the log itself",
            config.audit_keys_dir().display()
        );
    }
    Ok(())
}

async fn create_user(
    role: String,
    username: String,
    password: Option<String>,
    agency: Option<String>,
    config_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
) -> Result<()> {
    let config = config_with(config_file, data_dir)?;
    let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if config.store_url().starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let store = Store::open(&config.store_url(), &StoreOptions { max_connections: 2 }).await?;
    let created = admin::create_user(
        &store,
        &username,
        role,
        agency.as_deref(),
        &password,
        &cli_actor(),
    )
    .await;
    store.close().await;
    created?;
    println!(
        "{}",
        serde_json::json!({ "event": "account_created", "username": username, "role": role.to_string() })
    );
    Ok(())
}

fn credential(kind: CredentialKindArg) -> Result<()> {
    let out = match kind {
        CredentialKindArg::ClientSecret => {
            let secret = secrets::generate_secret();
            serde_json::json!({ "client_secret": secret, "secret_hash": secrets::hash_secret(&secret)? })
        }
        CredentialKindArg::ApiKey => {
            let key = secrets::generate_api_key();
            serde_json::json!({ "api_key": key, "key_hash": secrets::hash_api_key(&key) })
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn mock(
    listen: SocketAddr,
    seed: u64,
    citizens: usize,
    ndop: Option<(SocketAddr, PathBuf)>,
) -> Result<()> {
    telemetry::init_logging(LogFormat::Text, None);
    let simulator = Simulator::new(SimulatorOptions {
        seed,
        citizens,
        ..SimulatorOptions::default()
    });
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ndop_server = match ndop {
        Some((ndop_listen, pki_dir)) => {
            std::fs::create_dir_all(&pki_dir)
                .with_context(|| format!("creating {}", pki_dir.display()))?;
            let pki = NdopPki::load_or_generate(&pki_dir)
                .with_context(|| format!("NDOP PKI in {}", pki_dir.display()))?;
            let ndop_listener = TcpListener::bind(ndop_listen)
                .await
                .with_context(|| format!("cannot listen on {ndop_listen}"))?;
            let ndop_addr = ndop_listener.local_addr()?;
            let mut stopped = stopped.clone();
            let serving = simulator
                .clone()
                .serve_ndop(ndop_listener, &pki, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                });
            Some((ndop_addr, tokio::spawn(serving)))
        }
        None => None,
    };
    println!(
        "{}",
        serde_json::json!({
            "event": "listening",
            "mock": addr,
            "ndop": ndop_server.as_ref().map(|(a, _)| a.to_string()),
        })
    );
    simulator
        .serve(listener, async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        })
        .await?;
    if let Some((_, task)) = ndop_server {
        task.await??;
    }
    Ok(())
}

async fn run_demo(
    data_dir: PathBuf,
    data_addr: SocketAddr,
    admin_addr: SocketAddr,
    mock_addr: SocketAddr,
) -> Result<()> {
    let mut config = Config {
        data_dir: data_dir.clone(),
        ..Config::default()
    };
    config.listen.data = data_addr;
    config.listen.admin = admin_addr;
    config.log.format = LogFormat::Text;
    config.validate()?;
    let traces = TraceExport::from_env()?;
    telemetry::init_logging(config.log.format, traces.as_ref());
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;

    let simulator = Simulator::new(SimulatorOptions::default());
    let samples = demo::Samples {
        personal_ids: simulator.sample_personal_ids(5),
        enterprise_codes: simulator.sample_enterprise_codes(3),
        parcel_codes: simulator.sample_parcel_codes(3),
    };
    let listener = TcpListener::bind(mock_addr)
        .await
        .with_context(|| format!("cannot listen on {mock_addr}"))?;
    let mock = listener.local_addr()?;
    // NDOP's simulator speaks mTLS with a throwaway PKI kept in the data directory.
    let pki_dir = data_dir.join("ndop-pki");
    std::fs::create_dir_all(&pki_dir).with_context(|| format!("creating {}", pki_dir.display()))?;
    let pki = NdopPki::load_or_generate(&pki_dir)
        .with_context(|| format!("NDOP PKI in {}", pki_dir.display()))?;
    let ndop_listener = TcpListener::bind((mock_addr.ip(), 0))
        .await
        .context("cannot listen for the NDOP simulator")?;
    let ndop = ndop_listener.local_addr()?;
    let (stop_mock, mock_stopped) = tokio::sync::watch::channel(false);
    let mut ndop_stopped = mock_stopped.clone();
    let ndop_task = tokio::spawn(
        simulator
            .clone()
            .serve_ndop(ndop_listener, &pki, async move {
                let _ = ndop_stopped.wait_for(|s| *s).await;
            }),
    );
    let mut mock_stopped = mock_stopped;
    let mock_task = tokio::spawn(simulator.serve(listener, async move {
        let _ = mock_stopped.wait_for(|s| *s).await;
    }));
    let token_settings = lgsp_adapters::simulators::NdxpTokenSettings::default();
    config.ndxp = Some(NdxpConfig {
        token_url: format!("http://{mock}/ndxp/oauth2/token"),
        client_id: token_settings.client_id.clone(),
        client_secret: token_settings.client_secret.clone(),
        agency_code: demo::PROVINCE.to_string(),
        scope: None,
    });
    let files = NdopPkiFiles::in_dir(&pki_dir);
    // Channel monitoring checks NDOP's certificate against the same private CA.
    config.monitoring.upstream_ca = Some(files.ca.clone());
    config.ndop = Some(NdopConfig {
        client_cert: files.client_cert,
        client_key: files.client_key,
        server_ca: files.ca,
        signing_key: None,
        key_id: "lgsp-h29".into(),
        response_cert: files.signing_cert,
        max_skew_secs: 300,
    });

    // Services the admin publishes are delivered to the simulator's V-APEX catalogue.
    config.vapex = Some(VapexConfig {
        url: format!("http://{mock}/vapex/v1"),
        token: lgsp_adapters::simulators::VapexCatalogueSettings::default().token,
        gateway_endpoint: None,
        poll_interval_ms: 500,
        timeout_ms: 5_000,
    });

    let secrets = demo::DemoSecrets::load_or_create(&data_dir)?;
    let store = Store::open(&config.store_url(), &StoreOptions { max_connections: 2 }).await?;
    store
        .apply(&demo::registry(mock, ndop, &secrets), DEMO_ACTOR)
        .await?;
    for account in &secrets.accounts {
        if store.account(&account.username).await?.is_none() {
            let role: Role = account
                .role
                .parse()
                .map_err(|e| anyhow::anyhow!("demo account role: {e}"))?;
            admin::create_user(
                &store,
                &account.username,
                role,
                None,
                &account.password,
                DEMO_ACTOR,
            )
            .await?;
        }
    }
    store.close().await;

    let node = Node::start(config).await?;
    let manifest = demo::manifest(
        node.data_addr,
        node.admin_addr,
        mock,
        ndop,
        &samples,
        &secrets,
    );
    let manifest_path = data_dir.join("demo.json");
    // Written last, once everything answers, so scripts can wait for the file.
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    println!(
        "{}",
        demo::tour(node.data_addr, node.admin_addr, &samples, &secrets)
    );

    shutdown_signal().await;
    node.shutdown().await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    let _ = stop_mock.send(true);
    let _ = mock_task.await;
    let _ = ndop_task.await;
    Ok(())
}

/// Adds a reuse key and re-seals every item under it.
async fn rotate_reuse_key(config_file: Option<PathBuf>, data_dir: Option<PathBuf>) -> Result<()> {
    let config = config_with(config_file, data_dir)?;
    let dir = config.reuse_key_dir();
    let added = ReuseKeys::add_key(&dir)?;
    let keys = ReuseKeys::load(&dir)?;
    let store = open_store(&config).await?;
    let report = ReuseStore::new(store.clone(), std::sync::Arc::new(keys))
        .rotate()
        .await?;
    store.close().await;
    println!(
        "{}",
        serde_json::json!({
            "event": "reuse_key_rotated",
            "added_key": added,
            "active_key": report.active_key_id,
            "examined": report.examined,
            "resealed": report.resealed,
        })
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
