//! Retention: expired audit records leave the store only after they are
//! safe in a verified, signed, chained archive file.
//!
//! With `[audit] retention_days` above zero, a task (at start, then every
//! `retention_check_interval_ms`) looks at each chain for records older than
//! the retention. It archives them up to the last checkpoint among them,
//! never past it, so that every archive ends on a signed record:
//!
//! 1. the records (and the checkpoints signing them) go to
//!    `<archive_dir>/<chain>-<first_seq>-<last_seq>.jsonl` in the export
//!    format, preceded by the previous archive's anchor and the checkpoint
//!    that signs it, so the file verifies on its own and the files form a
//!    chain of their own (each names the one before, with its SHA-256);
//! 2. the file is fsynced, read back and checked with [`verify_export`]
//!    against the node's audit key;
//! 3. only then, in one transaction, an [`Anchor`] (last archived seq and
//!    hash, file and its SHA-256) is inserted and the archived records and
//!    their checkpoints are deleted, except the checkpoint at the anchor's
//!    seq, which keeps the anchor signed.
//!
//! The records left then verify from the anchor (see [`super::verify`]). A
//! crash before step 3 leaves an archive file that no anchor names; the next
//! run writes the same bytes again and reuses it.
//!
//! Every chain in the store is archived, whichever node wrote it: in a
//! cluster on one PostgreSQL, nodes racing on a chain are kept apart by the
//! transaction (the loser deletes nothing), and `archive_dir` is best a
//! shared directory so that every file lands in one place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::export::{write_anchor_line, write_checkpoint_line, write_record_line};
use super::verify::verify_export;
use super::{AuditError, GENESIS_HASH, hex, now_millis};
use crate::store::Store;

/// Records read from the store per query while writing an archive.
const PAGE: u32 = 1000;

/// Where a chain resumes after retention archived its oldest records: the
/// last archived record and the archive file holding it, as stored in
/// `audit_anchors` and exported as `{"type":"anchor", …}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The chain.
    pub chain: String,
    /// The seq of the last archived record.
    pub seq: i64,
    /// Its hash: the `prev_hash` of the first record left.
    pub hash: String,
    /// When the archive was committed, unix ms.
    pub archived_at: i64,
    /// The archive file, as written.
    pub file: String,
    /// Lowercase hex SHA-256 of the archive file's bytes.
    pub file_sha256: String,
}

/// How retention runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Records recorded longer ago than this are archived; zero keeps them forever.
    pub retention: Duration,
    /// Where archive files are written.
    pub archive_dir: PathBuf,
    /// How often the task looks for expired records.
    pub check_interval: Duration,
    /// The audit public key (base64url) every archive must verify against;
    /// `None` trusts the key of the archive's first checkpoint.
    pub public_key: Option<String>,
    /// Records per archive file at most, unless no checkpoint comes sooner.
    pub max_file_records: i64,
}

impl RetentionSettings {
    /// The defaults: keep forever, check hourly, 100 000 records per file.
    pub fn new(archive_dir: impl Into<PathBuf>) -> RetentionSettings {
        RetentionSettings {
            retention: Duration::ZERO,
            archive_dir: archive_dir.into(),
            check_interval: Duration::from_secs(3600),
            public_key: None,
            max_file_records: 100_000,
        }
    }
}

/// One archive written and committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Archived {
    /// The anchor that now stands for the archived records.
    pub anchor: Anchor,
    /// The first archived seq.
    pub first_seq: i64,
    /// Records archived and deleted.
    pub records: u64,
    /// Checkpoint lines in the file.
    pub checkpoints: u64,
}

/// Archives every chain's expired records, file by file, and returns what
/// was archived; `now_ms` is the time retention counts back from.
///
/// A chain that fails (its store rows, its file) is logged and skipped so
/// that the other chains are still archived; the first error is returned
/// after every chain was tried.
pub async fn archive_expired(
    store: &Store,
    settings: &RetentionSettings,
    now_ms: i64,
) -> Result<Vec<Archived>, AuditError> {
    archive_until_stopped(store, settings, now_ms, &watch::channel(false).1).await
}

/// Archives the expired records of one chain, file by file, and returns
/// what was archived; `now_ms` is the time retention counts back from.
pub async fn archive_chain(
    store: &Store,
    settings: &RetentionSettings,
    chain: &str,
    now_ms: i64,
) -> Result<Vec<Archived>, AuditError> {
    let mut archived = Vec::new();
    archive_chain_until_stopped(
        store,
        settings,
        chain,
        now_ms,
        &watch::channel(false).1,
        &mut archived,
    )
    .await?;
    Ok(archived)
}

/// [`archive_expired`], checking `stop` between files.
async fn archive_until_stopped(
    store: &Store,
    settings: &RetentionSettings,
    now_ms: i64,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<Archived>, AuditError> {
    let mut archived = Vec::new();
    if settings.retention.is_zero() {
        return Ok(archived);
    }
    let chains = match store.audit_chains().await {
        Ok(chains) => chains,
        Err(error) => {
            let error = AuditError::from(error);
            retention_failed("*", &error);
            return Err(error);
        }
    };
    let mut first_error = None;
    for chain in chains {
        let result =
            archive_chain_until_stopped(store, settings, &chain, now_ms, stop, &mut archived).await;
        if let Err(error) = result {
            retention_failed(&chain, &error);
            first_error.get_or_insert(error);
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(archived),
    }
}

/// Logs that retention could not archive `chain` (`*`: could not list the chains).
fn retention_failed(chain: &str, error: &AuditError) {
    tracing::error!(
        event = "audit_retention_failed",
        chain = %chain,
        error = %error,
        "expired records stay in the store until the next run"
    );
}

/// Archives `chain` file by file into `archived` until nothing expired is
/// left that ends on a checkpoint, or `stop` is set.
async fn archive_chain_until_stopped(
    store: &Store,
    settings: &RetentionSettings,
    chain: &str,
    now_ms: i64,
    stop: &watch::Receiver<bool>,
    archived: &mut Vec<Archived>,
) -> Result<(), AuditError> {
    if settings.retention.is_zero() {
        return Ok(());
    }
    if !is_chain_id(chain) {
        // A chain id outside the writer's alphabet was not written by a
        // writer; it never becomes part of a file name.
        return Err(AuditError::Settings(format!(
            "chain id {chain:?} is not archivable"
        )));
    }
    let retention_ms = i64::try_from(settings.retention.as_millis()).unwrap_or(i64::MAX);
    let threshold = now_ms.saturating_sub(retention_ms);
    while !*stop.borrow() {
        match archive_next(store, settings, chain, threshold).await? {
            Some(file) => archived.push(file),
            None => break,
        }
    }
    Ok(())
}

/// Whether a chain id uses only the writer's alphabet, so it is safe in a file name.
fn is_chain_id(chain: &str) -> bool {
    !chain.is_empty()
        && chain.len() <= 64
        && chain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Archives the next expired span of `chain`, if there is one that ends on
/// a checkpoint: writes and verifies its file, then swaps the records for an anchor.
async fn archive_next(
    store: &Store,
    settings: &RetentionSettings,
    chain: &str,
    threshold: i64,
) -> Result<Option<Archived>, AuditError> {
    let previous = store.audit_last_anchor(chain).await?;
    let after = previous.as_ref().map_or(0, |anchor| anchor.seq);
    let Some((head, _)) = store.audit_chain_head(chain).await? else {
        return Ok(None);
    };
    // Everything from the first record still within the retention is kept,
    // even older records after it (a clock stepped back): archives are a prefix.
    let limit = match store.audit_first_seq_since(chain, threshold).await? {
        Some(seq) => seq - 1,
        None => head,
    };
    if limit <= after {
        return Ok(None);
    }
    let capped = limit.min(after.saturating_add(settings.max_file_records.max(1)));
    let last_seq = match store.audit_checkpoint_span(chain, after, capped).await? {
        Some((_, last)) => last,
        // No checkpoint within the cap: the file runs to the first one after it.
        None => match store.audit_checkpoint_span(chain, after, limit).await? {
            Some((first, _)) => first,
            None => return Ok(None),
        },
    };
    let first_seq = after + 1;
    let written = write_archive(
        store,
        settings,
        chain,
        previous.as_ref(),
        first_seq,
        last_seq,
    )
    .await?;
    let anchor = Anchor {
        chain: chain.to_string(),
        seq: last_seq,
        hash: written.last_hash,
        archived_at: now_millis(),
        file: written.path.display().to_string(),
        file_sha256: written.sha256,
    };
    let deleted = store.audit_replace_with_anchor(&anchor, first_seq).await?;
    tracing::info!(
        event = "audit_records_archived",
        chain = %chain,
        first_seq,
        last_seq,
        records = deleted,
        file = %anchor.file,
        file_sha256 = %anchor.file_sha256,
    );
    Ok(Some(Archived {
        anchor,
        first_seq,
        records: deleted,
        checkpoints: written.checkpoints,
    }))
}

/// An archive file on disk, verified.
struct Written {
    /// Its final path.
    path: PathBuf,
    /// Hex SHA-256 of its bytes.
    sha256: String,
    /// The hash of its last record.
    last_hash: String,
    /// Checkpoint lines in it.
    checkpoints: u64,
}

/// Writes records `first_seq..=last_seq` of `chain` (with the previous
/// anchor and its checkpoint ahead of them) to a temporary file, fsyncs it,
/// verifies it as read back from disk and moves it into place.
async fn write_archive(
    store: &Store,
    settings: &RetentionSettings,
    chain: &str,
    previous: Option<&Anchor>,
    first_seq: i64,
    last_seq: i64,
) -> Result<Written, AuditError> {
    tokio::fs::create_dir_all(&settings.archive_dir).await?;
    let name = format!("{chain}-{first_seq}-{last_seq}.jsonl");
    let path = settings.archive_dir.join(&name);
    let tmp = settings
        .archive_dir
        .join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result =
        match write_and_check(store, settings, chain, previous, first_seq, last_seq, &tmp).await {
            Ok(written) => {
                let (from, to, sha256) = (tmp.clone(), path.clone(), written.sha256.clone());
                tokio::task::spawn_blocking(move || place(&from, &to, &sha256))
                    .await
                    .map_err(|error| archive_error(&path, format!("placing task failed: {error}")))
                    .and_then(|placed| placed)
                    .map(|()| Written { path, ..written })
            }
            Err(error) => Err(error),
        };
    // Gone once placed (hard-linked) or failed; never left half-written.
    let _ = tokio::fs::remove_file(&tmp).await;
    result
}

/// Writes the archive to `tmp`, fsyncs and verifies it; the returned path is `tmp`.
async fn write_and_check(
    store: &Store,
    settings: &RetentionSettings,
    chain: &str,
    previous: Option<&Anchor>,
    first_seq: i64,
    last_seq: i64,
    tmp: &Path,
) -> Result<Written, AuditError> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await?;
    let mut digest = Sha256::new();
    let mut buffer = Vec::new();
    let mut checkpoints = 0u64;
    if let Some(anchor) = previous {
        write_anchor_line(&mut buffer, anchor)?;
        for cp in store
            .audit_checkpoints_between(chain, anchor.seq, anchor.seq)
            .await?
        {
            write_checkpoint_line(&mut buffer, &cp)?;
            checkpoints += 1;
        }
    }
    let mut last_hash = previous.map_or(GENESIS_HASH.to_string(), |a| a.hash.clone());
    let mut signed_last = false;
    let mut cursor = first_seq - 1;
    while cursor < last_seq {
        let page: Vec<_> = store
            .audit_records_after(chain, cursor, PAGE)
            .await?
            .into_iter()
            .filter(|record| record.seq <= last_seq)
            .collect();
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            break;
        };
        let page_checkpoints = store
            .audit_checkpoints_between(chain, first.seq, last.seq)
            .await?;
        let mut signing = page_checkpoints.iter().peekable();
        for record in &page {
            write_record_line(&mut buffer, record)?;
            while let Some(cp) = signing.next_if(|cp| cp.seq <= record.seq) {
                write_checkpoint_line(&mut buffer, cp)?;
                checkpoints += 1;
                signed_last |= cp.seq == last_seq;
            }
        }
        cursor = last.seq;
        last_hash.clone_from(&last.hash);
        digest.update(&buffer);
        file.write_all(&buffer).await?;
        buffer.clear();
    }
    digest.update(&buffer);
    file.write_all(&buffer).await?;
    file.sync_all().await?;
    drop(file);
    let sha256 = hex(&digest.finalize());
    if !signed_last {
        return Err(archive_error(
            tmp,
            format!("no checkpoint signs seq {last_seq}, where the archive ends"),
        ));
    }
    check_archive(
        tmp.to_path_buf(),
        settings.public_key.clone(),
        chain,
        previous.map(|a| a.seq),
        first_seq,
        last_seq,
        &sha256,
    )
    .await?;
    Ok(Written {
        path: tmp.to_path_buf(),
        sha256,
        last_hash,
        checkpoints,
    })
}

/// Reads the file back from disk and checks that it holds exactly what was
/// meant: the bytes hashed while writing, and one unbroken chain from the
/// previous anchor (or the genesis) through `last_seq`.
async fn check_archive(
    path: PathBuf,
    public_key: Option<String>,
    chain: &str,
    anchor_seq: Option<i64>,
    first_seq: i64,
    last_seq: i64,
    sha256: &str,
) -> Result<(), AuditError> {
    let read_path = path.clone();
    let (report, on_disk) = tokio::task::spawn_blocking(move || {
        // Hashed while verified, in one streaming pass: archives can be large.
        let mut reader = HashingReader {
            inner: std::fs::File::open(&read_path)?,
            digest: Sha256::new(),
        };
        let report = verify_export(std::io::BufReader::new(&mut reader), public_key.as_deref())?;
        Ok::<_, AuditError>((report, hex(&reader.digest.finalize())))
    })
    .await
    .map_err(|error| archive_error(&path, format!("verification task failed: {error}")))??;
    let problem = if on_disk != sha256 {
        Some(format!(
            "reads back as SHA-256 {on_disk}, written as {sha256}"
        ))
    } else if !report.ok {
        Some(format!("does not verify: {:?}", report.chains))
    } else {
        match report.chains.as_slice() {
            [walked]
                if walked.chain == chain
                    && walked.anchor_seq == anchor_seq
                    && walked.head_seq == last_seq
                    && i64::try_from(walked.records).ok() == Some(last_seq - first_seq + 1) =>
            {
                None
            }
            chains => Some(format!(
                "holds {chains:?}, not chain {chain} seq {first_seq} to {last_seq}"
            )),
        }
    };
    match problem {
        Some(problem) => Err(archive_error(&path, problem)),
        None => Ok(()),
    }
}

/// A reader that hashes every byte read through it.
struct HashingReader<R> {
    /// Where the bytes come from.
    inner: R,
    /// The SHA-256 of the bytes read so far.
    digest: Sha256,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.digest.update(&buf[..read]);
        Ok(read)
    }
}

/// Lowercase hex SHA-256 of a file, read in a streaming pass.
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut reader = HashingReader {
        inner: std::fs::File::open(path)?,
        digest: Sha256::new(),
    };
    std::io::copy(&mut reader, &mut std::io::sink())?;
    Ok(hex(&reader.digest.finalize()))
}

/// Puts the verified temporary file at `path` without ever replacing a file
/// there: an archive left by a run that crashed before its anchor holds the
/// same records and is kept if its bytes are the same, refused otherwise.
/// Blocking: run it off the async workers.
fn place(tmp: &Path, path: &Path, sha256: &str) -> Result<(), AuditError> {
    match std::fs::hard_link(tmp, path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let existing = file_sha256(path)?;
            if existing != sha256 {
                return Err(archive_error(
                    path,
                    format!("already exists with other content (SHA-256 {existing})"),
                ));
            }
        }
        Err(error) => return Err(error.into()),
    }
    // The new directory entry must be durable before the records go.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// An archive that cannot be trusted, named by its file.
fn archive_error(path: &Path, detail: String) -> AuditError {
    AuditError::Archive {
        path: path.to_path_buf(),
        detail,
    }
}

/// Stops the retention task.
#[derive(Debug)]
pub struct RetentionHandle {
    /// Tells the task to stop after the file it is writing.
    stop: watch::Sender<bool>,
    /// The task.
    task: JoinHandle<()>,
}

impl RetentionHandle {
    /// Asks the task to stop after its current file and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(event = "audit_retention_crashed", error = %error);
        }
    }
}

/// Starts the periodic retention task (a first run at once); `None` when the
/// retention is zero, which keeps records forever. Dropping the handle stops
/// the task after its current run.
pub fn start_retention(store: Store, settings: RetentionSettings) -> Option<RetentionHandle> {
    if settings.retention.is_zero() {
        return None;
    }
    let (stop, mut stopped) = watch::channel(false);
    tracing::info!(
        event = "audit_retention_started",
        retention_ms = u64::try_from(settings.retention.as_millis()).unwrap_or(u64::MAX),
        check_interval_ms = u64::try_from(settings.check_interval.as_millis()).unwrap_or(u64::MAX),
        archive_dir = %settings.archive_dir.display(),
    );
    let task = tokio::spawn(async move {
        loop {
            // Failures are logged per chain inside; the next run retries.
            let _ = archive_until_stopped(&store, &settings, now_millis(), &stopped).await;
            tokio::select! {
                _ = stopped.wait_for(|stop| *stop) => break,
                () = tokio::time::sleep(settings.check_interval) => {}
            }
        }
    });
    Some(RetentionHandle { stop, task })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{AuditSigner, Checkpoint};
    use crate::audit::record::AuditRecord;
    use crate::audit::record::tests::sample_new;
    use crate::audit::verify::{BreakKind, VerifyReport};

    /// Records 1..=20 of chain `c`, checkpoints at 10 and 20, and the
    /// anchor an archive of 1..=10 leaves.
    fn archived(signer: &AuditSigner) -> (Vec<AuditRecord>, [Checkpoint; 2], Anchor) {
        let mut records: Vec<AuditRecord> = Vec::new();
        for seq in 1..=20 {
            let prev = records
                .last()
                .map_or(GENESIS_HASH.to_string(), |r| r.hash.clone());
            records.push(AuditRecord::seal(
                sample_new(),
                format!("id-{seq}"),
                "c",
                seq,
                seq,
                prev,
            ));
        }
        let sign = |seq: usize| signer.sign("c", 10 * seq as i64, &records[10 * seq - 1].hash, 1);
        let checkpoints = [sign(1).expect("sign"), sign(2).expect("sign")];
        let anchor = Anchor {
            chain: "c".into(),
            seq: 10,
            hash: records[9].hash.clone(),
            archived_at: 1,
            file: "c-1-10.jsonl".into(),
            file_sha256: "00".repeat(32),
        };
        (records, checkpoints, anchor)
    }

    /// Lines: an optional anchor and checkpoint, then records each followed by its checkpoint.
    fn file(
        anchor: Option<(&Anchor, Option<&Checkpoint>)>,
        records: &[AuditRecord],
        checkpoints: &[Checkpoint],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some((anchor, signing)) = anchor {
            write_anchor_line(&mut out, anchor).expect("write");
            if let Some(cp) = signing {
                write_checkpoint_line(&mut out, cp).expect("write");
            }
        }
        for record in records {
            write_record_line(&mut out, record).expect("write");
            for cp in checkpoints.iter().filter(|cp| cp.seq == record.seq) {
                write_checkpoint_line(&mut out, cp).expect("write");
            }
        }
        out
    }

    fn verify(bytes: &[u8], signer: &AuditSigner) -> VerifyReport {
        verify_export(bytes, Some(signer.public_key_b64())).expect("verify")
    }

    fn first_break(bytes: &[u8], signer: &AuditSigner) -> Option<(BreakKind, i64)> {
        verify(bytes, signer).chains[0]
            .first_break
            .as_ref()
            .map(|b| (b.kind, b.seq))
    }

    #[test]
    fn archives_verify_alone_and_one_after_another() {
        let dir = tempfile::tempdir().expect("temp dir");
        let signer = AuditSigner::load_or_create(dir.path()).expect("signer");
        let (records, [cp10, cp20], anchor) = archived(&signer);
        let first = file(None, &records[..10], std::slice::from_ref(&cp10));
        let second = file(
            Some((&anchor, Some(&cp10))),
            &records[10..],
            std::slice::from_ref(&cp20),
        );
        let report = verify(&second, &signer);
        assert!(report.ok, "{report:?}");
        let chain = &report.chains[0];
        assert_eq!(
            (chain.records, chain.head_seq, chain.anchor_seq),
            (10, 20, Some(10))
        );
        let both = verify(&[first.clone(), second.clone()].concat(), &signer);
        assert!(both.ok, "{both:?}");
        assert_eq!(
            (both.chains[0].records, both.chains[0].anchor_seq),
            (20, None)
        );

        // An anchor nothing signs.
        let unsigned = file(
            Some((&anchor, None)),
            &records[10..],
            std::slice::from_ref(&cp20),
        );
        assert_eq!(
            first_break(&unsigned, &signer),
            Some((BreakKind::AnchorMismatch, 10))
        );
        let only_anchor = file(Some((&anchor, None)), &[], &[]);
        assert_eq!(
            first_break(&only_anchor, &signer),
            Some((BreakKind::AnchorMismatch, 10))
        );

        // An anchor naming another hash than its checkpoint signs.
        let mut wrong = anchor.clone();
        wrong.hash = records[8].hash.clone();
        let mismatched = file(
            Some((&wrong, Some(&cp10))),
            &records[10..],
            std::slice::from_ref(&cp20),
        );
        assert_eq!(
            first_break(&mismatched, &signer),
            Some((BreakKind::AnchorMismatch, 10))
        );

        // The first record after the anchor linking elsewhere.
        let mut relinked = records[10..].to_vec();
        relinked[0].prev_hash = records[8].hash.clone();
        relinked[0].hash = relinked[0].compute_hash();
        let unlinked = file(Some((&anchor, Some(&cp10))), &relinked, &[]);
        assert_eq!(
            first_break(&unlinked, &signer),
            Some((BreakKind::AnchorMismatch, 11))
        );

        // In the middle of a walk, an anchor must name the head reached.
        let early = file(None, &records[..9], &[]);
        let after_gap = verify(&[early, second].concat(), &signer);
        assert_eq!(
            after_gap.chains[0]
                .first_break
                .as_ref()
                .map(|b| (b.kind, b.seq)),
            Some((BreakKind::AnchorMismatch, 10))
        );
    }

    #[test]
    fn chain_ids_outside_the_writer_alphabet_are_not_archived() {
        assert!(is_chain_id("node-a1.b_c"));
        for bad in ["", "../x", "a/b", "a b", &"x".repeat(65)] {
            assert!(!is_chain_id(bad), "{bad:?}");
        }
        assert!(
            RetentionSettings::new("archive").retention.is_zero(),
            "kept forever by default"
        );
    }
}
