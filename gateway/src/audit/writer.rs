//! The audit writer: group commit of records into this node's hash chain.
//!
//! Callers [`AuditWriter::append`] into a bounded queue; one task takes the
//! first waiting record, collects more until the batch is full or `max_wait`
//! has passed, gives each its place in the chain (seq, prev_hash, hash) and
//! commits the whole batch in one transaction. With the default `max_wait`
//! of zero the batch is whatever was queued: records that arrive while a
//! batch commits form the next one, so batches grow with the load by
//! themselves and a lone request never waits for companions. Only after the commit does any
//! caller of that batch hear that its record is durable; if the commit fails,
//! every caller of the batch hears so, the chain head is re-read from the
//! store and the writer carries on. A full queue is refused at once
//! ([`AuditError::Backpressure`]) so the gateway answers 503 rather than drop
//! a record or wait without bound.
//!
//! Every `checkpoint_every` records or `checkpoint_interval`, whichever comes
//! first, and at shutdown, the chain head is signed into a checkpoint.
//!
//! With a SIEM feed ([`AuditWriter::start_with_feed`]), each committed
//! record is then offered to the feed, which never waits: a lagging feed
//! drops records for itself only.
//!
//! In `async` mode (`durable: false`) `append` returns once the record is
//! queued: faster, but records still queued or in a failed batch when the
//! process dies are lost, and their seq and hash are not known to the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::checkpoint::AuditSigner;
use super::record::{AuditRecord, NewRecord};
use super::siem::SiemPublisher;
use super::{AuditError, GENESIS_HASH, now_millis};
use crate::store::{Store, StoreError};

/// Longest chain id; ids go into every row and checkpoint message.
const MAX_CHAIN_ID_LEN: usize = 64;

/// How often a sustained backpressure is logged at most.
const BACKPRESSURE_LOG_EVERY: Duration = Duration::from_secs(1);

/// How the writer batches, how long callers wait and when it checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterSettings {
    /// This node's chain id: letters, digits, `.`, `_` and `-`, at most 64.
    pub chain_id: String,
    /// Records committed in one transaction at most (256).
    pub batch_size: usize,
    /// How long the writer waits for more once the queue is empty (0: commit at once).
    pub max_wait: Duration,
    /// Records waiting before `append` refuses with backpressure (8192).
    pub queue_capacity: usize,
    /// `true`: `append` returns after the commit; `false` ("async"): after enqueueing.
    pub durable: bool,
    /// Sign a checkpoint after this many records (1000)…
    pub checkpoint_every: u64,
    /// …or after this long with new records (10 s), whichever comes first.
    pub checkpoint_interval: Duration,
    /// Told of every committed batch (the node's metrics); `None` by default.
    pub on_commit: Option<CommitObserver>,
}

/// Called after each committed batch with its record count and commit time.
#[derive(Clone)]
pub struct CommitObserver(Arc<dyn Fn(usize, Duration) + Send + Sync>);

impl CommitObserver {
    /// An observer calling `f(records, commit_time)`; it must not block.
    pub fn new(f: impl Fn(usize, Duration) + Send + Sync + 'static) -> CommitObserver {
        CommitObserver(Arc::new(f))
    }
}

impl std::fmt::Debug for CommitObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitObserver")
    }
}

/// Two settings are alike when they share the same observer.
impl PartialEq for CommitObserver {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CommitObserver {}

impl WriterSettings {
    /// The defaults for a chain.
    pub fn new(chain_id: impl Into<String>) -> WriterSettings {
        WriterSettings {
            chain_id: chain_id.into(),
            batch_size: 256,
            max_wait: Duration::ZERO,
            queue_capacity: 8192,
            durable: true,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            on_commit: None,
        }
    }

    /// Refuses settings the writer cannot work with.
    fn check(&self) -> Result<(), AuditError> {
        let chain = &self.chain_id;
        let valid_chain = !chain.is_empty()
            && chain.len() <= MAX_CHAIN_ID_LEN
            && chain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_chain {
            return Err(AuditError::Settings(format!(
                "chain id {chain:?} must be 1 to {MAX_CHAIN_ID_LEN} letters, digits, '.', '_' or '-'"
            )));
        }
        let positive = [
            ("batch_size", self.batch_size == 0),
            ("queue_capacity", self.queue_capacity == 0),
            ("checkpoint_every", self.checkpoint_every == 0),
            ("checkpoint_interval", self.checkpoint_interval.is_zero()),
        ];
        match positive.iter().find(|(_, zero)| *zero) {
            Some((name, _)) => Err(AuditError::Settings(format!("{name} must be above zero"))),
            None => Ok(()),
        }
    }
}

/// Where a record went in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The record id (UUIDv7), for `X-LGSP-Audit-Id`; known in both modes.
    pub id: String,
    /// The record's hash; `None` in async mode, where the record is not yet chained.
    pub hash: Option<String>,
    /// The record's seq; `None` in async mode.
    pub seq: Option<i64>,
}

/// A record waiting in the queue.
struct Pending {
    /// Its id, chosen at enqueue so the caller always has it.
    id: String,
    /// What the pipeline recorded.
    record: NewRecord,
    /// The durable-mode caller waiting for the commit.
    reply: Option<Reply>,
}

/// Where a durable-mode caller waits for its answer.
type Reply = oneshot::Sender<Result<Appended, AuditError>>;

/// Appends records to the audit log; clones share one writer task.
#[derive(Debug, Clone)]
pub struct AuditWriter {
    /// The queue to the writer task.
    queue: mpsc::Sender<Pending>,
    /// Whether `append` waits for the commit.
    durable: bool,
    /// Rate-limits the backpressure log line.
    backpressure: Arc<BackpressureLog>,
}

/// Stops the writer task.
#[derive(Debug)]
pub struct WriterHandle {
    /// Asks the task to drain and stop.
    stop: oneshot::Sender<()>,
    /// The task.
    task: JoinHandle<()>,
}

impl AuditWriter {
    /// Starts the writer task for `settings.chain_id`, continuing the chain from its last record in the store.
    pub async fn start(
        store: Store,
        signer: Arc<AuditSigner>,
        settings: WriterSettings,
    ) -> Result<(AuditWriter, WriterHandle), AuditError> {
        AuditWriter::start_with_feed(store, signer, settings, None).await
    }

    /// [`AuditWriter::start`], also offering every committed record to `feed`.
    pub async fn start_with_feed(
        store: Store,
        signer: Arc<AuditSigner>,
        settings: WriterSettings,
        feed: Option<SiemPublisher>,
    ) -> Result<(AuditWriter, WriterHandle), AuditError> {
        settings.check()?;
        let head = store
            .audit_chain_head(&settings.chain_id)
            .await?
            .unwrap_or((0, GENESIS_HASH.to_string()));
        let last_checkpoint = store
            .audit_last_checkpoint_seq(&settings.chain_id)
            .await?
            .unwrap_or(0);
        tracing::info!(
            event = "audit_writer_started",
            chain = %settings.chain_id,
            head_seq = head.0,
            durable = settings.durable,
            key_id = %signer.key_id(),
        );
        let (queue, receiver) = mpsc::channel(settings.queue_capacity);
        let (stop, stopped) = oneshot::channel();
        let writer = AuditWriter {
            queue,
            durable: settings.durable,
            backpressure: Arc::new(BackpressureLog::default()),
        };
        let task = ChainTask {
            next_checkpoint: Instant::now() + settings.checkpoint_interval,
            store,
            signer,
            settings,
            head: Some(head),
            last_checkpoint,
            feed,
        };
        let task = tokio::spawn(task.run(receiver, stopped));
        Ok((writer, WriterHandle { stop, task }))
    }

    /// Queues a record; in durable mode resolves once its batch is committed.
    ///
    /// Fails at once with [`AuditError::Backpressure`] when the queue is
    /// full, with [`AuditError::Closed`] when the writer is gone, and with
    /// [`AuditError::Commit`] when the batch holding the record did not commit.
    pub async fn append(&self, record: NewRecord) -> Result<Appended, AuditError> {
        let id = uuid::Uuid::now_v7().to_string();
        let (reply, committed) = if self.durable {
            let (sender, receiver) = oneshot::channel();
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        let pending = Pending {
            id: id.clone(),
            record,
            reply,
        };
        match self.queue.try_send(pending) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.backpressure.refused(self.queue.max_capacity());
                return Err(AuditError::Backpressure);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(AuditError::Closed),
        }
        match committed {
            Some(receiver) => receiver.await.map_err(|_| AuditError::Closed)?,
            None => Ok(Appended {
                id,
                hash: None,
                seq: None,
            }),
        }
    }

    /// Records waiting in the queue, not counting the batch being committed.
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Records the queue holds at most.
    pub fn queue_capacity(&self) -> usize {
        self.queue.max_capacity()
    }

    /// Whether the writer task is gone (stopped or crashed): appends would fail.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

impl WriterHandle {
    /// Refuses new records, commits every queued one, writes a final checkpoint and waits for the task to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(event = "audit_writer_crashed", error = %error);
        }
    }
}

/// The writer task's state.
struct ChainTask {
    /// Where batches are committed.
    store: Store,
    /// Signs checkpoints.
    signer: Arc<AuditSigner>,
    /// The settings.
    settings: WriterSettings,
    /// The last committed seq and hash; `None` after a failed commit, until
    /// re-read, because a commit that reported failure may still have landed.
    head: Option<(i64, String)>,
    /// The seq of the last checkpoint written.
    last_checkpoint: i64,
    /// When the interval checkpoint is due.
    next_checkpoint: Instant,
    /// Where committed records are published, if anywhere.
    feed: Option<SiemPublisher>,
}

impl ChainTask {
    /// Batches and commits until stopped or until every `AuditWriter` is dropped.
    async fn run(mut self, mut queue: mpsc::Receiver<Pending>, mut stop: oneshot::Receiver<()>) {
        // A dropped handle is not a request to stop: the writer then lives
        // as long as its `AuditWriter`s.
        let mut stop_armed = true;
        loop {
            let first = tokio::select! {
                biased;
                signal = &mut stop, if stop_armed => match signal {
                    Ok(()) => break,
                    Err(_) => {
                        stop_armed = false;
                        continue;
                    }
                },
                pending = queue.recv() => match pending {
                    Some(pending) => pending,
                    None => break,
                },
                () = tokio::time::sleep_until(self.next_checkpoint) => {
                    self.checkpoint().await;
                    continue;
                }
            };
            let batch = self.collect(first, &mut queue).await;
            self.commit(batch).await;
            // The interval is checked here too: under steady load the queue
            // is always ready and the timer branch above never wins.
            if self.due_by_count() || Instant::now() >= self.next_checkpoint {
                self.checkpoint().await;
            }
        }
        // Refuse new records, then commit what is already queued.
        queue.close();
        let mut batch = Vec::with_capacity(self.settings.batch_size);
        while let Some(pending) = queue.recv().await {
            batch.push(pending);
            if batch.len() >= self.settings.batch_size {
                self.commit(std::mem::take(&mut batch)).await;
            }
        }
        if !batch.is_empty() {
            self.commit(batch).await;
        }
        self.checkpoint().await;
        tracing::info!(
            event = "audit_writer_stopped",
            chain = %self.settings.chain_id,
            head_seq = self.head.as_ref().map(|(seq, _)| *seq),
        );
    }

    /// The batch started by `first`: whatever is already queued, then more
    /// as it arrives, until the batch is full or `max_wait` has passed.
    async fn collect(&self, first: Pending, queue: &mut mpsc::Receiver<Pending>) -> Vec<Pending> {
        let limit = self.settings.batch_size;
        let mut batch = Vec::with_capacity(limit.min(queue.len() + 1));
        batch.push(first);
        let deadline = Instant::now() + self.settings.max_wait;
        while batch.len() < limit {
            match queue.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, queue.recv()).await {
                        Ok(Some(pending)) => batch.push(pending),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        batch
    }

    /// Chains and commits a batch, then answers its durable callers.
    async fn commit(&mut self, batch: Vec<Pending>) {
        let (mut seq, mut prev_hash) = match self.head.take() {
            Some(head) => head,
            None => match self.store.audit_chain_head(&self.settings.chain_id).await {
                Ok(head) => head.unwrap_or((0, GENESIS_HASH.to_string())),
                Err(error) => {
                    let replies = batch.into_iter().map(|pending| pending.reply);
                    return self.fail(replies.collect(), error);
                }
            },
        };
        let recorded_at = now_millis();
        let mut records = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for pending in batch {
            seq += 1;
            let record = AuditRecord::seal(
                pending.record,
                pending.id,
                &self.settings.chain_id,
                seq,
                recorded_at,
                prev_hash,
            );
            prev_hash = record.hash.clone();
            replies.push(pending.reply);
            records.push(record);
        }
        let started = Instant::now();
        match self.store.append_audit_batch(&records).await {
            Ok(()) => {
                tracing::debug!(
                    event = "audit_batch_committed",
                    chain = %self.settings.chain_id,
                    records = records.len(),
                    head_seq = seq,
                    commit_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                );
                if let Some(observer) = &self.settings.on_commit {
                    (observer.0)(records.len(), started.elapsed());
                }
                self.head = Some((seq, prev_hash));
                for (record, reply) in records.into_iter().zip(replies) {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(Appended {
                            id: record.id.clone(),
                            hash: Some(record.hash.clone()),
                            seq: Some(record.seq),
                        }));
                    }
                    // After the reply, and without waiting: the caller's
                    // response never depends on the feed.
                    if let Some(feed) = &self.feed {
                        feed.offer(record);
                    }
                }
            }
            Err(error) => self.fail(replies, error),
        }
    }

    /// Tells every durable caller of a batch that did not commit (or could
    /// not even be chained, the head being unreadable) that its record is not durable.
    fn fail(&self, replies: Vec<Option<Reply>>, error: StoreError) {
        let error = Arc::new(error);
        tracing::error!(
            event = "audit_commit_failed",
            chain = %self.settings.chain_id,
            records = replies.len(),
            durable = self.settings.durable,
            error = %error,
        );
        for reply in replies.into_iter().flatten() {
            let _ = reply.send(Err(AuditError::Commit(Arc::clone(&error))));
        }
    }

    /// Whether enough records have been committed since the last checkpoint.
    fn due_by_count(&self) -> bool {
        let head = self.head.as_ref().map_or(0, |(seq, _)| *seq);
        u64::try_from(head - self.last_checkpoint).unwrap_or(0) >= self.settings.checkpoint_every
    }

    /// Signs and stores the chain head, if it moved since the last checkpoint.
    async fn checkpoint(&mut self) {
        self.next_checkpoint = Instant::now() + self.settings.checkpoint_interval;
        let Some((seq, hash)) = self.head.clone() else {
            return;
        };
        if seq <= self.last_checkpoint {
            return;
        }
        let chain = &self.settings.chain_id;
        let stored = match self.signer.sign(chain, seq, &hash, now_millis()) {
            Ok(cp) => self
                .store
                .insert_checkpoint(&cp)
                .await
                .map_err(AuditError::from),
            Err(error) => Err(error),
        };
        match stored {
            Ok(()) => {
                tracing::info!(event = "audit_checkpoint_written", chain = %chain, seq);
                self.last_checkpoint = seq;
            }
            // Retried at the next batch or interval; the chain itself is intact.
            Err(error) => {
                tracing::error!(event = "audit_checkpoint_failed", chain = %chain, seq, error = %error);
            }
        }
    }
}

/// Logs refusals for a full queue at most once per [`BACKPRESSURE_LOG_EVERY`],
/// with how many there were, so an overload does not also flood the log.
#[derive(Debug, Default)]
struct BackpressureLog {
    /// Refusals since the last log line.
    refused: AtomicU64,
    /// Milliseconds since the epoch of the last log line.
    last_logged: AtomicU64,
}

impl BackpressureLog {
    /// Counts one refusal and logs if the last line is old enough.
    fn refused(&self, capacity: usize) {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = u64::try_from(now_millis()).unwrap_or(0);
        let last = self.last_logged.load(Ordering::Relaxed);
        let every = u64::try_from(BACKPRESSURE_LOG_EVERY.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) >= every
            && self
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.refused.fetch_sub(refused, Ordering::Relaxed);
            tracing::warn!(
                event = "audit_backpressure",
                refused,
                queue_capacity = capacity,
                "the audit queue is full; exchanges are refused with 503 until it drains"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::tests::sample_new;
    use crate::audit::verify_store;
    use crate::store::StoreOptions;

    async fn memory_store() -> Store {
        Store::open("sqlite::memory:", &StoreOptions::default())
            .await
            .expect("store")
    }

    fn signer() -> (tempfile::TempDir, Arc<AuditSigner>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let signer = AuditSigner::load_or_create(dir.path()).expect("signer");
        (dir, Arc::new(signer))
    }

    #[test]
    fn settings_are_checked() {
        assert!(WriterSettings::new("node-a").check().is_ok());
        for chain in ["", "a:b", "a b", &"x".repeat(65)] {
            assert!(WriterSettings::new(chain).check().is_err(), "{chain:?}");
        }
        let mut zero = WriterSettings::new("node-a");
        zero.batch_size = 0;
        assert!(matches!(zero.check(), Err(AuditError::Settings(m)) if m.contains("batch_size")));
    }

    #[tokio::test]
    async fn appends_chain_commit_and_checkpoint() {
        let store = memory_store().await;
        let (_dir, signer) = signer();
        let mut settings = WriterSettings::new("unit");
        settings.checkpoint_every = 3;
        let (writer, handle) = AuditWriter::start(store.clone(), signer.clone(), settings.clone())
            .await
            .expect("start");
        for expected in 1..=4 {
            let appended = writer.append(sample_new()).await.expect("append");
            assert_eq!(appended.seq, Some(expected));
            assert!(appended.hash.is_some());
            assert_eq!(appended.id.len(), 36);
        }
        handle.shutdown().await;
        assert!(matches!(
            writer.append(sample_new()).await,
            Err(AuditError::Closed)
        ));
        let seqs: Vec<i64> = store
            .audit_checkpoints_after("unit", 0, 100)
            .await
            .expect("checkpoints")
            .iter()
            .map(|cp| cp.seq)
            .collect();
        assert_eq!(seqs, [3, 4], "by count, then at shutdown");

        let (writer, handle) = AuditWriter::start(store.clone(), signer.clone(), settings)
            .await
            .expect("restart");
        assert_eq!(
            writer.append(sample_new()).await.expect("append").seq,
            Some(5)
        );
        handle.shutdown().await;
        let report = verify_store(&store, Some(signer.public_key_b64()))
            .await
            .expect("verify");
        assert!(report.ok, "{report:?}");
        assert_eq!(report.chains[0].records, 5);
    }

    #[tokio::test]
    async fn checkpoints_also_come_by_interval() {
        let store = memory_store().await;
        let (_dir, signer) = signer();
        let mut settings = WriterSettings::new("timed");
        settings.checkpoint_interval = Duration::from_millis(50);
        let (writer, handle) = AuditWriter::start(store.clone(), signer, settings)
            .await
            .expect("start");
        writer.append(sample_new()).await.expect("append");
        let mut checkpointed = None;
        for _ in 0..100 {
            checkpointed = store
                .audit_last_checkpoint_seq("timed")
                .await
                .expect("read");
            if checkpointed.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            checkpointed,
            Some(1),
            "the interval signs the head well before 1000 records"
        );
        handle.shutdown().await;
    }
}
