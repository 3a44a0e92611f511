//! The gateway's durable store: one interface over SQLite (the embedded
//! default) and PostgreSQL (for clusters), chosen by URL (DESIGN.md, "Storage").
//!
//! Queries are written once against `sqlx::Any` with `$N` placeholders, which
//! both drivers accept, and bind only types Any carries (i64, text, optional
//! text). Each backend has its own versioned migrations, embedded in the
//! binary and applied on open.

mod access;
mod accounts;
mod admin_changes;
mod audit;
mod audit_search;
pub mod kpi;
pub mod publications;
mod registry;
pub mod reuse;

pub use audit_search::{
    AUDIT_RECORD_COLUMNS, AuditFilter, ChainPosition, RecordPosition, SubjectAccessRow,
};
pub use registry::{ApplyReport, publication_event};

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

/// Migrations of the SQLite backend, embedded at build time.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
/// Migrations of the PostgreSQL backend, embedded at build time.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long an SQLite connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long opening or borrowing a connection may take; connection refusals are
/// retried within it, so a database that is still starting up is waited for.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pragmas that SQLite keeps per connection, so every pooled connection sets
/// them again; the Any driver builds its SQLite options from the URL alone and
/// would otherwise leave them to compile-time defaults.
const SQLITE_CONNECTION_PRAGMAS: [&str; 3] = [
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 5000",
    "PRAGMA foreign_keys = ON",
];

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An SQLite file, the embedded default (`sqlite://path/to/lgsp.db`).
    Sqlite,
    /// A PostgreSQL server, for clusters (`postgres://…`).
    Postgres,
}

impl Backend {
    /// The backend a store URL names, from its scheme.
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            // Only the scheme is echoed: the rest of a URL may carry a password.
            _ => Err(StoreError::UnsupportedUrl(
                scheme.chars().take(32).collect(),
            )),
        }
    }

    /// The backend's short name, as used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the store: the gateway maps them to problem responses elsewhere.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported backend; holds the scheme that was given.
    #[error(
        "unsupported store URL scheme {0:?}: use sqlite://path/to/lgsp.db (the default) \
         or postgres://user@host:5432/database"
    )]
    UnsupportedUrl(String),
    /// The directory for the SQLite file could not be created.
    #[error("cannot create the directory {path:?} for the SQLite store: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be reached or opened.
    #[error("cannot open the {backend} store: {source}")]
    Open {
        /// The backend being opened.
        backend: Backend,
        /// Why it failed.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed or the database holds migrations this binary does not know.
    #[error("cannot migrate the store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// Stored data that does not parse; names the entity, e.g. `agency 000.00.00.H29`.
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// The entity or row.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Data refused before writing, e.g. a reference to an agency that does not exist.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The entity, e.g. `system motcua-xa-a`.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The entity's current state does not allow the change.
    #[error("{what}: {detail}")]
    Conflict {
        /// The entity, e.g. `subscription motcua-xa-a/population`.
        what: String,
        /// Why not, and what would allow it.
        detail: String,
    },
    /// A service to be published breaks the V-APEX conventions; nothing was written.
    #[error("{what} cannot be published: {} finding(s), first: {}", findings.len(), findings.first().map(|f| f.detail.as_str()).unwrap_or(""))]
    Nonconforming {
        /// The service, e.g. `service population/v1`.
        what: String,
        /// Where its descriptor breaks which rule.
        findings: Vec<crate::problem::Finding>,
    },
}

/// Options for opening a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Largest number of pooled connections (at least one is used).
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { max_connections: 8 }
    }
}

/// A handle on the store; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to the database the URL names and applies pending migrations.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let backend = Backend::from_url(url)?;
        sqlx::any::install_default_drivers();
        let pool = match backend {
            Backend::Sqlite => open_sqlite(url, options).await?,
            Backend::Postgres => pool_options(options)
                .connect(url)
                .await
                .map_err(|source| StoreError::Open { backend, source })?,
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        if let Err(error) = migrator.run(&pool).await {
            pool.close().await;
            return Err(error.into());
        }
        Ok(Store { pool, backend })
    }

    /// Which database this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers, for readiness probes.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    /// Waits for borrowed connections to come back and closes the pool, for a
    /// graceful shutdown; SQLite checkpoints its WAL when the last one closes.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Pool settings shared by both backends.
fn pool_options(options: &StoreOptions) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// Opens an SQLite pool: creates the file and its directory, switches the file
/// to WAL once (the mode is stored in the file), then pools connections that
/// set the per-connection pragmas.
async fn open_sqlite(url: &str, options: &StoreOptions) -> Result<AnyPool, StoreError> {
    let open_error = |source| StoreError::Open {
        backend: Backend::Sqlite,
        source,
    };
    // The typed driver matches the scheme case-sensitively.
    let url = match url.split_once(':') {
        Some((_, rest)) => format!("sqlite:{rest}"),
        None => url.to_string(),
    };
    let pool_options = pool_options(options).after_connect(|conn, _meta| {
        Box::pin(async move {
            for pragma in SQLITE_CONNECTION_PRAGMAS {
                conn.execute(pragma).await?;
            }
            Ok(())
        })
    });

    if sqlite_is_memory(&url) {
        // The Any driver parses the URL again for every connection and each
        // parse names a new private in-memory database, so exactly one
        // connection that never expires holds the data.
        return pool_options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(&url)
            .await
            .map_err(open_error);
    }

    let typed = SqliteConnectOptions::from_str(&url).map_err(open_error)?;
    if let Some(dir) = typed.get_filename().parent()
        && !dir.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    let setup = typed
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true)
        .connect()
        .await
        .map_err(open_error)?;
    setup.close().await.map_err(open_error)?;

    pool_options.connect(&url).await.map_err(open_error)
}

/// Whether an SQLite URL names an in-memory database rather than a file.
fn sqlite_is_memory(url: &str) -> bool {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unsupported_urls_are_refused() {
        for url in ["mysql://root:secret@localhost/lgsp", "lgsp.db", ""] {
            let result = Store::open(url, &StoreOptions::default()).await;
            let Err(StoreError::UnsupportedUrl(scheme)) = result else {
                panic!("{url:?} should be refused as unsupported, got {result:?}");
            };
            assert!(
                !scheme.contains("secret"),
                "the message must not echo a password"
            );
            let message = StoreError::UnsupportedUrl(scheme).to_string();
            assert!(message.contains("sqlite://"), "{message}");
            assert!(message.contains("postgres://"), "{message}");
        }
    }

    #[test]
    fn backends_follow_the_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://a/b.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::from_url("SQLite:b.db").ok(), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgres://h/d").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::from_url("postgresql://h/d").ok(),
            Some(Backend::Postgres)
        );
        assert!(sqlite_is_memory("sqlite::memory:"));
        assert!(sqlite_is_memory("sqlite://x?mode=memory"));
        assert!(!sqlite_is_memory("sqlite://data/lgsp.db"));
    }

    #[tokio::test]
    async fn sqlite_file_is_created_in_wal_mode() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested").join("dir").join("lgsp.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("open creates the file and its directory");
        assert!(path.exists(), "{path:?} should exist");
        assert_eq!(store.backend(), Backend::Sqlite);

        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .expect("journal mode");
        assert_eq!(journal, "wal");
        // FULL is 2; checked through the pool, since it is per connection.
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.pool)
            .await
            .expect("synchronous");
        assert_eq!(synchronous, 2);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&store.pool)
            .await
            .expect("busy timeout");
        assert_eq!(busy, 5000);
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .expect("foreign keys");
        assert_eq!(foreign_keys, 1);
        store.close().await;

        let reopened = Store::open(&url, &StoreOptions::default())
            .await
            .expect("migrations already applied are skipped");
        reopened.ping().await.expect("ping");
        reopened.close().await;
    }

    #[tokio::test]
    async fn sqlite_in_memory_keeps_its_data() {
        let store = Store::open("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("open in memory");
        assert_eq!(store.registry_version().await.expect("version"), 0);
        store.ping().await.expect("ping");
        store.close().await;
    }
}
