//! The JSONL export format that [`super::verify_export`] reads: one JSON
//! object per line, `{"type":"record", …every AuditRecord column…}`,
//! `{"type":"checkpoint", …every Checkpoint field…}` or
//! `{"type":"anchor", …every Anchor field…}`.
//!
//! Within a chain, records come in seq order and each checkpoint comes
//! before the records after the one it signs (right after its record, in
//! what [`export_store`] writes). A chain whose oldest records retention has
//! archived starts with its anchor (the last archived seq and hash) and the
//! checkpoint that signs it. Chains may follow one another or interleave.
//! Anything that writes an export (the auditor API, archives, the SIEM feed)
//! goes through [`write_record_line`], [`write_checkpoint_line`] and
//! [`write_anchor_line`], so every export verifies with the same code.

use std::collections::VecDeque;
use std::io::Write;

use serde::{Deserialize, Serialize};

use super::AuditError;
use super::checkpoint::Checkpoint;
use super::record::AuditRecord;
use super::retention::Anchor;
use crate::store::Store;

/// Records or checkpoints read from the store per query.
const PAGE: u32 = 1000;

/// One line of an export.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    /// A record, with every column (boxed: it is ten times a checkpoint's size).
    Record(Box<AuditRecord>),
    /// A checkpoint.
    Checkpoint(Checkpoint),
    /// Where a chain resumes after its archived prefix.
    Anchor(Anchor),
}

/// The same lines, borrowed, so writing never clones a record.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ExportLineRef<'a> {
    /// A record.
    Record(&'a AuditRecord),
    /// A checkpoint.
    Checkpoint(&'a Checkpoint),
    /// An anchor.
    Anchor(&'a Anchor),
}

/// Writes a record as one export line, newline included.
pub fn write_record_line(out: &mut impl Write, record: &AuditRecord) -> std::io::Result<()> {
    write_line(out, &ExportLineRef::Record(record))
}

/// Writes a checkpoint as one export line, newline included.
pub fn write_checkpoint_line(out: &mut impl Write, cp: &Checkpoint) -> std::io::Result<()> {
    write_line(out, &ExportLineRef::Checkpoint(cp))
}

/// Writes an anchor as one export line, newline included.
pub fn write_anchor_line(out: &mut impl Write, anchor: &Anchor) -> std::io::Result<()> {
    write_line(out, &ExportLineRef::Anchor(anchor))
}

/// One compact JSON object and a newline.
fn write_line(out: &mut impl Write, line: &ExportLineRef<'_>) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// Chains written.
    pub chains: u64,
    /// Record lines written.
    pub records: u64,
    /// Checkpoint lines written.
    pub checkpoints: u64,
    /// Anchor lines written: chains that start after an archived prefix.
    pub anchors: u64,
}

/// Writes every chain in the store to `out` in the export format, chain after chain.
pub async fn export_store(
    store: &Store,
    out: &mut (impl Write + Send),
) -> Result<ExportSummary, AuditError> {
    let mut summary = ExportSummary::default();
    for chain in store.audit_chains().await? {
        summary.chains += 1;
        let mut reader = StoreChainReader::open(store, &chain).await?;
        while let Some(line) = reader.next().await? {
            match &line {
                ExportLine::Record(record) => {
                    write_record_line(out, record)?;
                    summary.records += 1;
                }
                ExportLine::Checkpoint(cp) => {
                    write_checkpoint_line(out, cp)?;
                    summary.checkpoints += 1;
                }
                ExportLine::Anchor(anchor) => {
                    write_anchor_line(out, anchor)?;
                    summary.anchors += 1;
                }
            }
        }
    }
    out.flush()?;
    Ok(summary)
}

/// Reads one chain from the store in export order, page by page: its last
/// anchor if retention archived a prefix, then records by seq, each
/// checkpoint before the first record above its seq.
///
/// The chain's bounds are read when it is opened, the last checkpoint first:
/// the writer commits a record before checkpointing it, so every checkpoint
/// up to that bound names a record at or below the head read next, unless
/// the tail was cut. What is appended while the reader runs is left for the
/// next run rather than chased forever.
pub(super) struct StoreChainReader<'s> {
    /// Where the chain is read from.
    store: &'s Store,
    /// The chain.
    chain: &'s str,
    /// The chain's last anchor when opened, until handed out.
    anchor: Option<Anchor>,
    /// The seq of that anchor, 0 for none: kept after it is handed out.
    anchor_seq: i64,
    /// The head seq when opened; later records are left out.
    head: i64,
    /// The last checkpoint's seq when opened; later checkpoints are left out.
    checkpoint_bound: i64,
    /// The last record seq fetched.
    records_after: i64,
    /// Fetched records not yet handed out.
    records: VecDeque<AuditRecord>,
    /// Whether every record up to `head` has been fetched.
    records_done: bool,
    /// The last checkpoint seq fetched.
    checkpoints_after: i64,
    /// Fetched checkpoints not yet handed out.
    checkpoints: VecDeque<Checkpoint>,
    /// Whether every checkpoint up to `checkpoint_bound` has been fetched.
    checkpoints_done: bool,
}

impl<'s> StoreChainReader<'s> {
    /// Reads the chain's bounds.
    pub(super) async fn open(
        store: &'s Store,
        chain: &'s str,
    ) -> Result<StoreChainReader<'s>, AuditError> {
        // The anchor first: retention inserts it in the transaction that
        // deletes the records it replaces, so the records read next begin
        // after it, unless retention ran again in between (see `anchor_seq`).
        let anchor = store.audit_last_anchor(chain).await?;
        let checkpoint_bound = store.audit_last_checkpoint_seq(chain).await?.unwrap_or(0);
        let head = store
            .audit_chain_head(chain)
            .await?
            .map_or(0, |(seq, _)| seq);
        Ok(StoreChainReader {
            store,
            chain,
            anchor_seq: anchor.as_ref().map_or(0, |anchor| anchor.seq),
            anchor,
            head,
            checkpoint_bound,
            records_after: 0,
            records: VecDeque::new(),
            records_done: head == 0,
            checkpoints_after: 0,
            checkpoints: VecDeque::new(),
            checkpoints_done: checkpoint_bound == 0,
        })
    }

    /// The seq of the anchor the chain was read from, 0 for none.
    pub(super) fn anchor_seq(&self) -> i64 {
        self.anchor_seq
    }

    /// The next line of the chain, `None` at its end.
    pub(super) async fn next(&mut self) -> Result<Option<ExportLine>, AuditError> {
        if let Some(anchor) = self.anchor.take() {
            return Ok(Some(ExportLine::Anchor(anchor)));
        }
        if self.records.is_empty() && !self.records_done {
            let page = self
                .store
                .audit_records_after(self.chain, self.records_after, PAGE)
                .await?;
            self.records_after = page.last().map_or(self.records_after, |r| r.seq);
            self.records_done = page.is_empty() || self.records_after >= self.head;
            let head = self.head;
            self.records
                .extend(page.into_iter().filter(|r| r.seq <= head));
        }
        if self.checkpoints.is_empty() && !self.checkpoints_done {
            let page = self
                .store
                .audit_checkpoints_after(self.chain, self.checkpoints_after, PAGE)
                .await?;
            self.checkpoints_after = page.last().map_or(self.checkpoints_after, |cp| cp.seq);
            self.checkpoints_done =
                page.is_empty() || self.checkpoints_after >= self.checkpoint_bound;
            let bound = self.checkpoint_bound;
            self.checkpoints
                .extend(page.into_iter().filter(|cp| cp.seq <= bound));
        }
        let next_record = self.records.front().map_or(i64::MAX, |r| r.seq);
        if self
            .checkpoints
            .front()
            .is_some_and(|cp| cp.seq < next_record)
        {
            return Ok(self.checkpoints.pop_front().map(ExportLine::Checkpoint));
        }
        Ok(self
            .records
            .pop_front()
            .map(|record| ExportLine::Record(Box::new(record))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::GENESIS_HASH;
    use crate::audit::record::tests::sample;

    #[test]
    fn lines_are_tagged_and_round_trip() {
        let record = sample();
        let mut out = Vec::new();
        write_record_line(&mut out, &record).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.starts_with(r#"{"type":"record","id":"#), "{text}");
        assert!(text.ends_with("}\n") && text.matches('\n').count() == 1);
        let parsed: ExportLine = serde_json::from_str(text.trim_end()).expect("parse");
        assert_eq!(parsed, ExportLine::Record(Box::new(record)));

        let cp = Checkpoint {
            chain: "node-a".into(),
            seq: 1,
            hash: GENESIS_HASH.into(),
            signed_at: 2,
            key_id: "k".into(),
            public_key: "p".into(),
            signature: "s".into(),
        };
        let mut out = Vec::new();
        write_checkpoint_line(&mut out, &cp).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with(r#"{"type":"checkpoint","chain":"node-a""#),
            "{text}"
        );
        let parsed: ExportLine = serde_json::from_str(text.trim_end()).expect("parse");
        assert_eq!(parsed, ExportLine::Checkpoint(cp));
    }
}
