//! The SIEM feed: committed audit records streamed to a security operations
//! collector, as JSON lines to a file or as syslog (RFC 5424) over TCP.
//!
//! The feed never slows or blocks the data path. After a batch commits, the
//! audit writer offers each record to a bounded queue with `try_send`
//! ([`SiemPublisher::offer`]); when the queue is full the record is skipped
//! for the feed only (it is safe in the store, and an auditor's export has
//! it), [`SiemPublisher::dropped`] counts it and `siem_feed_lagging` is logged
//! at most once per [`LAG_LOG_EVERY`]. One task drains the queue to the sink.
//!
//! - `file`: one export-format record line per record
//!   (`{"type":"record", …every column…}`), appended.
//! - `syslog`: RFC 5424 messages framed by octet counting (RFC 6587 §3.4.1):
//!   `LEN <PRI>1 TIMESTAMP HOSTNAME lgsp - audit [lgsp@32473 …] JSON`, with
//!   facility local0 and severity informational (allowed), notice (refused)
//!   or warning (failed). The message is the same record line, UTF-8 without
//!   a byte order mark (RFC 5424 MSG-ANY), so JSON parsers read it as is.
//!   32473 is the private enterprise number RFC 5612 reserves for examples.
//!
//! A sink that fails (collector down, disk full, a write stuck for
//! [`WRITE_TIMEOUT`]) is retried with exponential backoff up to
//! [`MAX_BACKOFF`], holding the batch in hand; meanwhile the queue fills and
//! further records are dropped for the feed. A failed write closes the file
//! or connection, and the batch in hand is sent again whole on the next one,
//! so a collector may see a record twice (same `id`); a line a failed file
//! write cut short is ended before appending, so the lines after it parse.
//! At shutdown, queued records get [`SHUTDOWN_GRACE`] to go out.
//!
//! Records carry the data subject only as the keyed hash the store holds,
//! never a personal ID.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::export::write_record_line;
use super::record::AuditRecord;
use super::{AuditError, now_millis};
use crate::admin::timestamps::format_rfc3339;

/// How often a lagging feed is logged at most.
pub const LAG_LOG_EVERY: Duration = Duration::from_secs(10);
/// A write to the sink taking longer than this counts as a failed sink.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two attempts on a failed sink.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The first wait after a sink fails.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// How long a TCP connection to the collector may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for queued records to reach the sink.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Records written to the sink in one go at most.
const SINK_BATCH: usize = 256;
/// Syslog facility local0.
const FACILITY_LOCAL0: u8 = 16;
/// The SD-ID of the structured data element (RFC 5612 example enterprise number).
const SD_ID: &str = "lgsp@32473";

/// Where the feed goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiemSink {
    /// JSON lines appended to this file.
    File(PathBuf),
    /// RFC 5424 syslog over TCP to this `host:port`.
    Syslog(String),
}

/// How the feed runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiemSettings {
    /// The sink.
    pub sink: SiemSink,
    /// Records waiting for the sink before further ones are dropped for the feed.
    pub queue_capacity: usize,
}

/// Counters shared by the publisher, the task and the handle.
#[derive(Debug, Default)]
struct FeedStats {
    /// Records skipped because the queue was full or the task gone.
    dropped: AtomicU64,
    /// Drops not yet logged.
    unlogged: AtomicU64,
    /// Unix ms of the last lagging log line.
    last_logged: AtomicU64,
    /// Records written to the sink.
    delivered: AtomicU64,
}

impl FeedStats {
    /// Counts one dropped record and logs if the last line is old enough.
    fn drop_one(&self, capacity: usize) {
        let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        let unlogged = self.unlogged.fetch_add(1, Ordering::Relaxed) + 1;
        let now = u64::try_from(now_millis()).unwrap_or(0);
        let last = self.last_logged.load(Ordering::Relaxed);
        let every = u64::try_from(LAG_LOG_EVERY.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(last) >= every
            && self
                .last_logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.unlogged.fetch_sub(unlogged, Ordering::Relaxed);
            tracing::warn!(
                event = "siem_feed_lagging",
                dropped = unlogged,
                dropped_total = total,
                queue_capacity = capacity,
                "the SIEM sink is behind; records are skipped for the feed (they are safe in the store)"
            );
        }
    }
}

/// Offers committed records to the feed; clones share one queue.
#[derive(Debug, Clone)]
pub struct SiemPublisher {
    /// The queue to the feed task.
    queue: mpsc::Sender<AuditRecord>,
    /// The counters.
    stats: Arc<FeedStats>,
}

impl SiemPublisher {
    /// Queues a committed record without ever waiting; a full queue drops it for the feed.
    pub fn offer(&self, record: AuditRecord) {
        if self.queue.try_send(record).is_err() {
            self.stats.drop_one(self.queue.max_capacity());
        }
    }

    /// Records skipped for the feed so far.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the sink so far.
    pub fn delivered(&self) -> u64 {
        self.stats.delivered.load(Ordering::Relaxed)
    }
}

/// Stops the feed task.
#[derive(Debug)]
pub struct SiemHandle {
    /// Asks the task to drain and stop.
    stop: watch::Sender<bool>,
    /// The task.
    task: JoinHandle<()>,
    /// The counters.
    stats: Arc<FeedStats>,
}

impl SiemHandle {
    /// Records skipped for the feed so far.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Records written to the sink so far.
    pub fn delivered(&self) -> u64 {
        self.stats.delivered.load(Ordering::Relaxed)
    }

    /// Gives queued records up to a few seconds to reach the sink, then stops the task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(event = "siem_feed_crashed", error = %error);
        }
    }
}

/// Starts the feed task; the publisher goes to the audit writer.
pub fn start_siem(settings: SiemSettings) -> Result<(SiemPublisher, SiemHandle), AuditError> {
    if settings.queue_capacity == 0 {
        return Err(AuditError::Settings(
            "the SIEM queue capacity must be above zero".into(),
        ));
    }
    let sink = match &settings.sink {
        SiemSink::File(path) if path.as_os_str().is_empty() => {
            return Err(AuditError::Settings("the SIEM file path is empty".into()));
        }
        SiemSink::File(path) => Sink::File {
            path: path.clone(),
            file: None,
        },
        SiemSink::Syslog(address) => {
            check_address(address)?;
            Sink::Syslog {
                address: address.clone(),
                hostname: local_hostname(),
                stream: None,
            }
        }
    };
    let stats = Arc::new(FeedStats::default());
    let (queue, receiver) = mpsc::channel(settings.queue_capacity);
    let (stop, stopped) = watch::channel(false);
    tracing::info!(
        event = "siem_feed_started",
        sink = %sink.describe(),
        queue_capacity = settings.queue_capacity,
    );
    let task = tokio::spawn(run(receiver, sink, stopped, Arc::clone(&stats)));
    let publisher = SiemPublisher {
        queue,
        stats: Arc::clone(&stats),
    };
    Ok((publisher, SiemHandle { stop, task, stats }))
}

/// Refuses a syslog target that is not `host:port`.
fn check_address(address: &str) -> Result<(), AuditError> {
    let valid = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if valid {
        Ok(())
    } else {
        Err(AuditError::Settings(format!(
            "the SIEM syslog target {address:?} must be host:port"
        )))
    }
}

/// Resolves once shutdown is asked. A dropped handle is no request to
/// stop: the feed then lives as long as its publishers.
async fn stop_asked(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Drains the queue to the sink until stopped or every publisher is gone,
/// then gives what is left [`SHUTDOWN_GRACE`] to go out. A write under way
/// when shutdown is asked is never cut short before that grace is over, so a
/// healthy sink never sees a batch twice because of a shutdown.
async fn run(
    mut queue: mpsc::Receiver<AuditRecord>,
    mut sink: Sink,
    mut stop: watch::Receiver<bool>,
    stats: Arc<FeedStats>,
) {
    let mut health = Health::default();
    loop {
        let first = tokio::select! {
            biased;
            () = stop_asked(&mut stop) => break,
            record = queue.recv() => match record {
                Some(record) => record,
                None => break,
            },
        };
        let batch = next_batch(first, &mut queue);
        let grace_over = async {
            stop_asked(&mut stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        if !deliver(&mut sink, &batch, &mut health, &stats, grace_over).await {
            return stopped(&sink, &stats, batch.len() + queue.len());
        }
    }
    queue.close();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let mut lost = 0;
    while let Some(first) = queue.recv().await {
        let batch = next_batch(first, &mut queue);
        let late = tokio::time::sleep_until(deadline);
        if !deliver(&mut sink, &batch, &mut health, &stats, late).await {
            lost = batch.len() + queue.len();
            break;
        }
    }
    stopped(&sink, &stats, lost);
}

/// `first` and whatever else is already queued, up to [`SINK_BATCH`] records.
fn next_batch(first: AuditRecord, queue: &mut mpsc::Receiver<AuditRecord>) -> Vec<AuditRecord> {
    let mut batch = Vec::with_capacity(queue.len().min(SINK_BATCH - 1) + 1);
    batch.push(first);
    while batch.len() < SINK_BATCH {
        match queue.try_recv() {
            Ok(record) => batch.push(record),
            Err(_) => break,
        }
    }
    batch
}

/// Logs the end of the feed.
fn stopped(sink: &Sink, stats: &FeedStats, lost: usize) {
    tracing::info!(
        event = "siem_feed_stopped",
        sink = %sink.describe(),
        delivered = stats.delivered.load(Ordering::Relaxed),
        dropped = stats.dropped.load(Ordering::Relaxed),
        undelivered_at_stop = lost,
    );
}

/// Whether the sink is failing, for logging each outage once and backing off.
#[derive(Debug, Default)]
struct Health {
    /// When the current outage began, `None` while healthy.
    failing_since: Option<Instant>,
    /// The next wait before retrying.
    backoff: Duration,
}

/// Writes a batch, retrying with backoff until it is written (`true`) or
/// `give_up` completes (`false`).
async fn deliver(
    sink: &mut Sink,
    batch: &[AuditRecord],
    health: &mut Health,
    stats: &FeedStats,
    give_up: impl std::future::Future<Output = ()>,
) -> bool {
    tokio::pin!(give_up);
    loop {
        let written = tokio::select! {
            // Past the shutdown grace, even a write under way is abandoned: a
            // collector that stopped reading must not hold up shutdown.
            () = &mut give_up => return false,
            written = sink.write(batch) => written,
        };
        match written {
            Ok(()) => {
                let count = u64::try_from(batch.len()).unwrap_or(u64::MAX);
                stats.delivered.fetch_add(count, Ordering::Relaxed);
                if let Some(since) = health.failing_since.take() {
                    tracing::info!(
                        event = "siem_sink_recovered",
                        sink = %sink.describe(),
                        down_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                    );
                }
                return true;
            }
            Err(error) => {
                if health.failing_since.is_none() {
                    health.failing_since = Some(Instant::now());
                    health.backoff = FIRST_BACKOFF;
                    tracing::warn!(
                        event = "siem_sink_failed",
                        sink = %sink.describe(),
                        error = %error,
                        "retrying with backoff; records are dropped for the feed while it is down"
                    );
                }
                let wait = health.backoff;
                health.backoff = (health.backoff * 2).min(MAX_BACKOFF);
                tokio::select! {
                    () = &mut give_up => return false,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// The sink and its open file or connection.
enum Sink {
    /// JSON lines appended to a file.
    File {
        /// The file.
        path: PathBuf,
        /// Open while healthy.
        file: Option<tokio::fs::File>,
    },
    /// Syslog over TCP.
    Syslog {
        /// `host:port` of the collector.
        address: String,
        /// This machine's name, as the HOSTNAME field.
        hostname: String,
        /// Connected while healthy.
        stream: Option<TcpStream>,
    },
}

impl Sink {
    /// The sink for logs.
    fn describe(&self) -> String {
        match self {
            Sink::File { path, .. } => format!("file:{}", path.display()),
            Sink::Syslog { address, .. } => format!("syslog:{address}"),
        }
    }

    /// Writes a batch. The file or connection is taken out while writing
    /// and put back only on success, so a failed or abandoned write (which
    /// may have written part of a line or frame) closes it, to be opened
    /// again at the next attempt.
    async fn write(&mut self, batch: &[AuditRecord]) -> std::io::Result<()> {
        let mut buffer = Vec::with_capacity(batch.len() * 1024);
        match self {
            Sink::File { path, file } => {
                for record in batch {
                    write_record_line(&mut buffer, record)?;
                }
                let mut open = match file.take() {
                    Some(open) => open,
                    None => open_file(path).await?,
                };
                within(WRITE_TIMEOUT, async {
                    open.write_all(&buffer).await?;
                    // Handed to the OS for the collector to tail; the store,
                    // not this file, is the durable copy, so no fsync.
                    open.flush().await
                })
                .await?;
                *file = Some(open);
                Ok(())
            }
            Sink::Syslog {
                address,
                hostname,
                stream,
            } => {
                for record in batch {
                    syslog_frame(record, hostname, &mut buffer)?;
                }
                let mut open = match stream.take() {
                    Some(open) => open,
                    None => {
                        let connected =
                            within(CONNECT_TIMEOUT, TcpStream::connect(address.as_str())).await?;
                        connected.set_nodelay(true)?;
                        connected
                    }
                };
                within(WRITE_TIMEOUT, open.write_all(&buffer)).await?;
                *stream = Some(open);
                Ok(())
            }
        }
    }
}

/// Opens (creates) the feed file for appending. A line cut short by an
/// earlier failed write is ended first, so that the lines after it parse.
async fn open_file(path: &PathBuf) -> std::io::Result<tokio::fs::File> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .await?;
    if file.metadata().await?.len() > 0 {
        file.seek(std::io::SeekFrom::End(-1)).await?;
        let mut last = [0u8; 1];
        file.read_exact(&mut last).await?;
        if last[0] != b'\n' {
            file.write_all(b"\n").await?;
        }
    }
    Ok(file)
}

/// Runs an I/O future, failing it with `TimedOut` after `limit`.
async fn within<T>(
    limit: Duration,
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(limit, io).await.unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no progress for {} ms", limit.as_millis()),
        ))
    })
}

/// The syslog severity of a record: informational when allowed, notice when
/// refused, warning when failed (and for anything else a row might hold).
pub fn severity(outcome: &str) -> u8 {
    match outcome {
        "allowed" => 6,
        "refused" => 5,
        _ => 4,
    }
}

/// Appends one octet-counted RFC 5424 message for `record` to `out`.
pub fn syslog_frame(
    record: &AuditRecord,
    hostname: &str,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    let pri = u16::from(FACILITY_LOCAL0) * 8 + u16::from(severity(&record.outcome));
    let timestamp = format_rfc3339(record.recorded_at, 0);
    let mut message = format!("<{pri}>1 {timestamp} {hostname} lgsp - audit [{SD_ID}").into_bytes();
    let status = record.status.to_string();
    let seq = record.seq.to_string();
    let params: [(&str, Option<&str>); 11] = [
        ("id", Some(&record.id)),
        ("chain", Some(&record.chain)),
        ("seq", Some(&seq)),
        ("outcome", Some(&record.outcome)),
        ("status", Some(&status)),
        ("service", Some(&record.service)),
        ("version", Some(&record.version)),
        ("method", Some(&record.method)),
        ("system", record.system.as_deref()),
        ("agency", record.agency.as_deref()),
        ("error_code", record.error_code.as_deref()),
    ];
    for (name, value) in params {
        if let Some(value) = value {
            message.push(b' ');
            message.extend_from_slice(name.as_bytes());
            message.extend_from_slice(b"=\"");
            push_param_value(&mut message, value);
            message.push(b'"');
        }
    }
    message.extend_from_slice(b"] ");
    write_record_line(&mut message, record)?;
    // The record line ends with a newline; octet counting needs no trailer.
    if message.last() == Some(&b'\n') {
        message.pop();
    }
    out.extend_from_slice(message.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(&message);
    Ok(())
}

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn push_param_value(out: &mut Vec<u8>, value: &str) {
    for byte in value.bytes() {
        if matches!(byte, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(byte);
    }
}

/// This machine's name for the HOSTNAME field: printable ASCII without
/// spaces, at most 255 characters, `-` (the nil value) when unknown.
fn local_hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = raw
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if name.is_empty() { "-".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::tests::sample;

    #[test]
    fn frames_are_octet_counted_rfc5424() {
        let mut record = sample();
        record.system = Some("a\"b]c\\d".into());
        let mut out = Vec::new();
        syslog_frame(&record, "gw-1", &mut out).expect("frame");
        let text = String::from_utf8(out).expect("utf-8");
        let (length, message) = text.split_once(' ').expect("length");
        assert_eq!(length.parse::<usize>().ok(), Some(message.len()));
        assert!(
            message
                .starts_with("<134>1 2024-07-03T09:46:40.000Z gw-1 lgsp - audit [lgsp@32473 id=\""),
            "{message}"
        );
        assert!(message.contains(r#" system="a\"b\]c\\d""#), "{message}");
        let json = message
            .split_once("] {")
            .map(|(_, rest)| format!("{{{rest}"));
        let parsed: serde_json::Value = serde_json::from_str(&json.expect("json")).expect("parse");
        assert_eq!(parsed["type"], "record");
        assert_eq!(parsed["hash"], record.hash);
    }

    #[test]
    fn severity_follows_the_outcome() {
        assert_eq!(
            [severity("allowed"), severity("refused"), severity("failed")],
            [6, 5, 4]
        );
        assert!(check_address("127.0.0.1:514").is_ok());
        for bad in ["", "host", ":514", "host:0", "host:x"] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
        let name = local_hostname();
        assert!(!name.is_empty() && !name.contains(' '));
    }
}
