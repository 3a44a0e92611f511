//! Accounts of the admin listener and their bearer sessions.
//!
//! Only hashes are stored: argon2id for passwords, SHA-256 for session
//! tokens (256 random bits, so a fast hash is as strong and keeps the lookup
//! that every admin request makes cheap).
//!
//! Creating, disabling and enabling an account are changes of the admin
//! plane and are logged in the admin-change log in the same transaction,
//! without the password hash. Sessions are not: signing in changes nothing.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::admin_changes::ChangeLog;
use super::registry::{lock_registry, now_millis};
use super::{Store, StoreError};
use crate::admin::accounts::{Account, Role};
use crate::audit::AdminAction;
use crate::audit::admin_changes::account_definition;

/// The columns of `admin_accounts` in the order [`account_from_row`] reads them.
/// Aliased, because SQLite leaves the name of an unaliased `a.x` unspecified.
const ACCOUNT_COLUMNS: &str = "a.username AS username, a.role AS role, a.agency AS agency, \
     a.password_hash AS password_hash, a.disabled AS disabled, a.created_at AS created_at";

impl Store {
    /// Creates an admin account; refuses a username that is already taken.
    ///
    /// The creation is logged as `create_account` by `actor`, without the
    /// password hash, in the same transaction.
    pub async fn create_account(
        &self,
        username: &str,
        role: Role,
        agency: Option<&str>,
        password_hash: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let what = format!("account {username}");
        let mut tx = self.pool.begin().await?;
        // The registry lock orders this entry in the admin-change chain.
        lock_registry(&mut tx).await?;
        let now = now_millis();
        // ON CONFLICT keeps the refusal race-free between two nodes and
        // avoids matching on driver-specific unique-violation messages.
        let inserted = sqlx::query(
            "INSERT INTO admin_accounts (username, role, agency, password_hash, disabled, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(username.to_string())
        .bind(role.as_str().to_string())
        .bind(agency.map(str::to_string))
        .bind(password_hash.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(StoreError::Invalid {
                what,
                detail: "an account with this username already exists".into(),
            });
        }
        let after = account_definition(username, role.as_str(), agency, false, now);
        ChangeLog::start(&mut tx, actor, now)
            .await?
            .append(
                &mut tx,
                AdminAction::CreateAccount,
                what,
                None,
                Some(&after),
            )
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every account, by username.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a ORDER BY a.username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(account_from_row).collect()
    }

    /// The account named `username`, disabled or not.
    pub async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.username = $1");
        let row = sqlx::query(&sql)
            .bind(username.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Disables or re-enables an account; disabling ends its sessions at once.
    /// Says whether the account exists.
    ///
    /// A change of state is logged as `disable_account` or `enable_account`
    /// by `actor` in the same transaction; asking for the state the account
    /// already has changes and logs nothing.
    pub async fn set_account_disabled(
        &self,
        username: &str,
        disabled: bool,
        actor: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The registry lock orders the entry in the admin-change chain and,
        // taken first, makes the read below see the latest committed state.
        lock_registry(&mut tx).await?;
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM admin_accounts a WHERE a.username = $1");
        let row = sqlx::query(&sql)
            .bind(username.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(account) = row.as_ref().map(account_from_row).transpose()? else {
            tx.rollback().await?;
            return Ok(false);
        };
        if disabled {
            // Also when it was already disabled: sessions of a disabled
            // account are void anyway, and this clears any left behind.
            sqlx::query("DELETE FROM admin_sessions WHERE username = $1")
                .bind(username.to_string())
                .execute(&mut *tx)
                .await?;
        }
        if account.disabled != disabled {
            sqlx::query("UPDATE admin_accounts SET disabled = $1 WHERE username = $2")
                .bind(i64::from(disabled))
                .bind(username.to_string())
                .execute(&mut *tx)
                .await?;
            let view = |disabled: bool| {
                account_definition(
                    &account.username,
                    account.role.as_str(),
                    account.agency.as_deref(),
                    disabled,
                    account.created_at,
                )
            };
            let action = if disabled {
                AdminAction::DisableAccount
            } else {
                AdminAction::EnableAccount
            };
            ChangeLog::start(&mut tx, actor, now_millis())
                .await?
                .append(
                    &mut tx,
                    action,
                    format!("account {username}"),
                    Some(&view(account.disabled)),
                    Some(&view(disabled)),
                )
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Stores a session found by `token_hash` that lasts until `expires_at` (unix ms).
    pub async fn create_session(
        &self,
        token_hash: &str,
        username: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_sessions (token_hash, username, expires_at, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash.to_string())
        .bind(username.to_string())
        .bind(expires_at)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account of an unexpired session whose account is not disabled.
    pub async fn session(&self, token_hash: &str) -> Result<Option<Account>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM admin_sessions s \
             JOIN admin_accounts a ON a.username = s.username \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.disabled = 0"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash.to_string())
            .bind(now_millis())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Ends a session; says whether there was one.
    pub async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let deleted = sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
            .bind(token_hash.to_string())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Deletes the sessions that have expired; returns how many.
    pub async fn delete_expired_sessions(&self) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }
}

/// An account from a row selected with [`ACCOUNT_COLUMNS`].
fn account_from_row(row: &AnyRow) -> Result<Account, StoreError> {
    let username: String = row.try_get("username")?;
    let role_name: String = row.try_get("role")?;
    let role = role_name.parse::<Role>().map_err(|e| StoreError::Corrupt {
        what: format!("account {username}"),
        detail: e.to_string(),
    })?;
    let disabled: i64 = row.try_get("disabled")?;
    Ok(Account {
        role,
        agency: row.try_get("agency")?,
        password_hash: row.try_get("password_hash")?,
        disabled: disabled != 0,
        created_at: row.try_get("created_at")?,
        username,
    })
}
