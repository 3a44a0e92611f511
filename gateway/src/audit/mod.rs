//! The tamper-evident audit log (DESIGN.md, "Audit and evidence").
//!
//! Every exchange that reaches the route stage leaves one [`AuditRecord`]. The
//! [`AuditWriter`] group-commits records: it batches them, gives each its place
//! in this node's hash chain (`seq`, `prev_hash`, `hash` over the canonical
//! encoding) and commits the batch in one transaction before any caller hears
//! that its record is durable. Every N records or T seconds an
//! [`AuditSigner`] signs the chain head into a [`Checkpoint`]. The data
//! subject is stored only as a keyed HMAC ([`SubjectKey`]) under a key that
//! lives outside the database.
//!
//! [`verify_store`] and [`verify_export`] walk each chain offline and report
//! the first edited, deleted, inserted or reordered record and any forged or
//! dangling checkpoint; [`export`] writes the JSONL format they read.
//!
//! Committed records can be streamed to a SIEM ([`siem`]) without ever
//! holding up the writer, and expired records are archived to verified,
//! chained export files before they leave the store ([`retention`]), which
//! leaves an [`Anchor`] the remaining chain verifies from.
//!
//! Changes to the registry and the admin accounts go to a chain of their own,
//! the admin-change log ([`admin_changes`]), written by the store in the same
//! transaction as each change and verified by [`verify_store`] with the rest.

pub mod admin_changes;
pub mod checkpoint;
pub mod export;
pub mod record;
pub mod retention;
pub mod siem;
pub mod subject;
pub mod verify;
pub mod writer;

pub use admin_changes::{AdminAction, AdminChange, NewAdminChange, verify_admin_changes};
pub use checkpoint::{AuditSigner, Checkpoint, VerifyError, verify_checkpoint};
pub use export::{
    ExportLine, ExportSummary, export_store, write_anchor_line, write_checkpoint_line,
    write_record_line,
};
pub use record::{AuditRecord, NewRecord, Outcome, Subject, SubjectKind};
pub use retention::{
    Anchor, Archived, RetentionHandle, RetentionSettings, archive_chain, archive_expired,
    start_retention,
};
pub use siem::{SiemHandle, SiemPublisher, SiemSettings, SiemSink, start_siem};
pub use subject::SubjectKey;
pub use verify::{Break, BreakKind, ChainReport, VerifyReport, verify_export, verify_store};
pub use writer::{Appended, AuditWriter, WriterHandle, WriterSettings};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::StoreError;

/// What can go wrong writing, sealing, exporting or verifying the audit log.
///
/// Messages never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The writer's queue is full; the caller must refuse the exchange (503) rather than drop its record.
    #[error("the audit queue is full")]
    Backpressure,
    /// The writer has shut down or its task is gone; nothing more can be recorded.
    #[error("the audit writer is closed")]
    Closed,
    /// The batch holding the record failed to commit, so the record is not durable.
    #[error("the audit batch failed to commit: {0}")]
    Commit(#[source] Arc<StoreError>),
    /// A store query outside the writer's batches failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key file is missing, unreadable or not a usable key.
    #[error("audit key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// Reading or writing an export failed.
    #[error("audit export I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A line of an export file is not a record or checkpoint of the export format.
    #[error("export line {line}: {detail}")]
    Export {
        /// The 1-based line number.
        line: u64,
        /// What is wrong with it.
        detail: String,
    },
    /// An archive file cannot be trusted or placed, so retention keeps the records.
    #[error("audit archive {path}: {detail}")]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The crypto provider failed, e.g. could not sign a checkpoint.
    #[error("audit crypto: {0}")]
    Crypto(String),
    /// The writer's settings cannot work, e.g. a batch size of zero.
    #[error("audit settings: {0}")]
    Settings(String),
}

/// The `prev_hash` of the first record of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Lowercase hex of bytes, the encoding of every hash in the log.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Unix milliseconds now; 0 for a clock before 1970, which a record can survive.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Writes `contents` to a new file at `path`, mode 0600, without ever
/// replacing an existing one: it goes to a temporary file first and is then
/// hard-linked into place, so a crash never leaves half a key and two
/// processes creating the same key at once end up sharing one. Returns
/// `false` when another process won the race and `path` already exists.
pub(crate) fn write_key_file(path: &std::path::Path, contents: &[u8]) -> std::io::Result<bool> {
    use std::io::Write as _;

    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(
        ".{file_name}.{}.tmp",
        uuid::Uuid::new_v4().simple()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(error),
    }
}

/// A key file others can read is a leaked key in waiting; say so at load.
pub(crate) fn warn_if_readable_by_others(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                event = "audit_key_permissions",
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "audit key file is accessible to group or others; expected 0600"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(GENESIS_HASH.len(), 64);
    }

    #[test]
    fn key_files_are_owner_only_and_never_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("nested").join("key");
        assert!(write_key_file(&path, b"first").expect("write"));
        assert!(!write_key_file(&path, b"second").expect("second write"));
        assert_eq!(std::fs::read(&path).expect("read"), b"first");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .count();
        assert_eq!(leftovers, 1, "the temporary file is removed");
    }
}
