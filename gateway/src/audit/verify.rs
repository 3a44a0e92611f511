//! Offline verification of the audit log, from the store or from an export.
//!
//! Each chain is walked by seq: every record's hash is recomputed from its
//! canonical encoding, its `prev_hash` must be the previous record's hash and
//! seqs must run 1, 2, 3… without a gap. Every checkpoint must carry a valid
//! signature by a trusted key (the pinned key when one is given, otherwise
//! the key of the chain's first checkpoint, so a chain cannot mix keys) and
//! name a record that exists with that hash. The first break of each chain is
//! reported with its seq and record id; after it the chain is only counted.
//!
//! A chain whose oldest records retention archived starts from its anchor
//! (seq N, hash H) instead of seq 0 and the genesis hash: a checkpoint must
//! sign H at seq N, and the first remaining record must be seq N + 1 and link
//! to H. An anchor that is unsigned or not linked to is a break; so is an
//! anchor in the middle of a walk (archive files read one after another)
//! that does not name the head reached so far.
//!
//! Records are streamed page by page (store) or line by line (export); only
//! checkpoints ahead of the walk are held in memory.
//!
//! What a chain alone cannot show: records appended after the last
//! checkpoint by someone who recomputes their hashes, and a tail cut together
//! with the checkpoints that covered it. Exported checkpoints (SIEM, archives)
//! and the pinned key close those gaps.

use std::collections::{BTreeMap, btree_map};
use std::io::BufRead;

use serde::Serialize;

use super::admin_changes::verify_admin_changes;
use super::checkpoint::{Checkpoint, verify_checkpoint};
use super::export::{ExportLine, StoreChainReader};
use super::record::AuditRecord;
use super::retention::Anchor;
use super::{AuditError, GENESIS_HASH};
use crate::store::Store;

/// The outcome of verifying every chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// One report per chain, sorted by chain id; from the store, the
    /// admin-change chain follows the exchange chains.
    pub chains: Vec<ChainReport>,
    /// Whether no chain has a break.
    pub ok: bool,
}

/// The outcome of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// The chain id.
    pub chain: String,
    /// Records read.
    pub records: u64,
    /// Checkpoints read.
    pub checkpoints: u64,
    /// The highest seq read (0 for none; the anchor's seq when only it was read).
    pub head_seq: i64,
    /// The seq of the anchor the chain resumes from: records up to it are archived.
    pub anchor_seq: Option<i64>,
    /// The first break found, by seq.
    pub first_break: Option<Break>,
}

/// Where and how a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The seq at which the chain stops being trustworthy: the edited,
    /// mislinked or missing record, or the checkpoint's seq.
    pub seq: i64,
    /// The record found there (for a gap: the record after it), if any.
    pub record_id: Option<String>,
    /// What kind of break.
    pub kind: BreakKind,
    /// A sentence for the operator.
    pub detail: String,
}

/// The kinds of break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The record's content does not match its hash: it was edited.
    EditedRecord,
    /// `prev_hash` is not the previous record's hash: a record was deleted, inserted or reordered.
    BrokenLink,
    /// A seq is missing: a record was deleted.
    MissingRecord,
    /// A seq appears again or goes backwards (exports only; the store's unique index prevents it).
    OutOfOrder,
    /// A checkpoint's signature is bad or its key is not trusted.
    ForgedCheckpoint,
    /// A checkpoint names a hash the record at its seq does not have.
    CheckpointMismatch,
    /// A checkpoint signs a record beyond the last one: the tail was cut.
    TruncatedTail,
    /// The anchor the chain resumes from is unsigned, not linked to by the
    /// first remaining record, or does not follow the records before it.
    AnchorMismatch,
}

impl VerifyReport {
    /// A report over finished chains.
    fn new(chains: Vec<ChainReport>) -> VerifyReport {
        let ok = chains.iter().all(|chain| chain.first_break.is_none());
        VerifyReport { chains, ok }
    }
}

/// Walks of a chain retried when retention archived part of it meanwhile.
const STORE_WALK_ATTEMPTS: u32 = 3;

/// Verifies every chain in the store, the admin-change log included once it
/// has entries; `expected_public_key` (base64url) pins the checkpoint key.
///
/// An empty admin-change log is left out of the report rather than reported
/// with no records, so that a store and its export (which carries exchange
/// chains only) give the same report until the first admin change.
pub async fn verify_store(
    store: &Store,
    expected_public_key: Option<&str>,
) -> Result<VerifyReport, AuditError> {
    let mut reports = Vec::new();
    for chain in store.audit_chains().await? {
        let mut attempt = 1;
        let report = loop {
            let mut walk = ChainWalk::new(&chain, expected_public_key);
            let mut reader = StoreChainReader::open(store, &chain).await?;
            while let Some(line) = reader.next().await? {
                walk.line(line);
            }
            let report = walk.finish();
            // Records archived while the walk ran look deleted to it; a new
            // anchor says so, and the walk starts again from that anchor.
            let anchor_now = store.audit_last_anchor(&chain).await?;
            let moved = anchor_now.map_or(0, |anchor| anchor.seq) != reader.anchor_seq();
            if report.first_break.is_none() || !moved || attempt >= STORE_WALK_ATTEMPTS {
                break report;
            }
            attempt += 1;
        };
        reports.push(report);
    }
    let admin_changes = verify_admin_changes(store).await?;
    if admin_changes.records > 0 {
        reports.push(admin_changes);
    }
    Ok(VerifyReport::new(reports))
}

/// Verifies an export in the JSONL format of [`super::export`]; a line that is not part of the format is an error.
pub fn verify_export(
    reader: impl BufRead,
    expected_public_key: Option<&str>,
) -> Result<VerifyReport, AuditError> {
    let mut walks: BTreeMap<String, ChainWalk> = BTreeMap::new();
    for (index, line) in reader.lines().enumerate() {
        let number = u64::try_from(index).unwrap_or(u64::MAX).saturating_add(1);
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ExportLine =
            serde_json::from_str(&line).map_err(|error| AuditError::Export {
                line: number,
                detail: error.to_string(),
            })?;
        let chain = match &parsed {
            ExportLine::Record(record) => &record.chain,
            ExportLine::Checkpoint(cp) => &cp.chain,
            ExportLine::Anchor(anchor) => &anchor.chain,
        };
        let walk = match walks.entry(chain.clone()) {
            btree_map::Entry::Occupied(entry) => entry.into_mut(),
            btree_map::Entry::Vacant(entry) => {
                let walk = ChainWalk::new(entry.key(), expected_public_key);
                entry.insert(walk)
            }
        };
        walk.line(parsed);
    }
    Ok(VerifyReport::new(
        walks.into_values().map(ChainWalk::finish).collect(),
    ))
}

/// What a chain walk needs of a row: its place, its links and its content hash.
pub(crate) trait Chained {
    /// The row's seq in its chain.
    fn seq(&self) -> i64;
    /// The row's id, as breaks name it.
    fn id(&self) -> String;
    /// The hash the row says precedes it.
    fn prev_hash(&self) -> &str;
    /// The hash the row carries.
    fn hash(&self) -> &str;
    /// The hash of the row's canonical encoding, recomputed.
    fn compute_hash(&self) -> String;
}

impl Chained for AuditRecord {
    fn seq(&self) -> i64 {
        self.seq
    }

    fn id(&self) -> String {
        self.id.clone()
    }

    fn prev_hash(&self) -> &str {
        &self.prev_hash
    }

    fn hash(&self) -> &str {
        &self.hash
    }

    fn compute_hash(&self) -> String {
        AuditRecord::compute_hash(self)
    }
}

/// The state of one chain's walk, fed records in seq order and checkpoints
/// no later than just after the record they sign.
pub(crate) struct ChainWalk<'k> {
    /// What is reported.
    report: ChainReport,
    /// The last accepted record's hash.
    last_hash: String,
    /// The last accepted record's id.
    last_id: Option<String>,
    /// Checkpoints ahead of the walk, by seq.
    pending: BTreeMap<i64, Vec<Checkpoint>>,
    /// The pinned key, if any.
    expected_key: Option<&'k str>,
    /// Without a pinned key, the key of the first verified checkpoint.
    trusted_key: Option<String>,
    /// The anchor the chain resumes from, until a checkpoint has signed it.
    unsigned_anchor: Option<i64>,
}

impl<'k> ChainWalk<'k> {
    /// A walk of `chain` from its start.
    pub(crate) fn new(chain: &str, expected_key: Option<&'k str>) -> ChainWalk<'k> {
        ChainWalk {
            report: ChainReport {
                chain: chain.to_string(),
                records: 0,
                checkpoints: 0,
                head_seq: 0,
                anchor_seq: None,
                first_break: None,
            },
            last_hash: GENESIS_HASH.to_string(),
            last_id: None,
            pending: BTreeMap::new(),
            expected_key,
            trusted_key: None,
            unsigned_anchor: None,
        }
    }

    /// The next line of an export or store walk, whatever its kind.
    fn line(&mut self, line: ExportLine) {
        match line {
            ExportLine::Record(record) => self.record(record.as_ref()),
            ExportLine::Checkpoint(cp) => self.checkpoint(cp),
            ExportLine::Anchor(anchor) => self.anchor(&anchor),
        }
    }

    /// An anchor: at the start of the walk the chain resumes from it; later
    /// (the next archive file of a series) it must name the head reached.
    fn anchor(&mut self, anchor: &Anchor) {
        if self.report.first_break.is_some() {
            return;
        }
        let fresh = self.report.records == 0
            && self.report.head_seq == 0
            && self.report.anchor_seq.is_none();
        if fresh && anchor.seq > 0 {
            self.report.head_seq = anchor.seq;
            self.report.anchor_seq = Some(anchor.seq);
            self.last_hash = anchor.hash.clone();
            self.unsigned_anchor = Some(anchor.seq);
            return;
        }
        if anchor.seq == self.report.head_seq && anchor.hash == self.last_hash {
            return;
        }
        self.broke(
            anchor.seq,
            None,
            BreakKind::AnchorMismatch,
            format!(
                "the anchor of seq {} (hash {}) does not match the chain read so far, \
                 whose head is seq {} with hash {}",
                anchor.seq, anchor.hash, self.report.head_seq, self.last_hash
            ),
        );
    }

    /// Breaks the chain if the anchor it resumes from was never signed.
    fn check_anchor_signed(&mut self) {
        if let Some(seq) = self.unsigned_anchor.take() {
            self.broke(
                seq,
                None,
                BreakKind::AnchorMismatch,
                format!(
                    "no checkpoint signs the anchor of seq {seq} the chain resumes from: \
                     the anchor, or the archiving of the records before it, may be forged"
                ),
            );
        }
    }

    /// Records the first break; later ones are consequences or noise.
    fn broke(&mut self, seq: i64, record_id: Option<String>, kind: BreakKind, detail: String) {
        if self.report.first_break.is_none() {
            self.report.first_break = Some(Break {
                seq,
                record_id,
                kind,
                detail,
            });
        }
    }

    /// The next record of the chain.
    pub(crate) fn record(&mut self, record: &impl Chained) {
        self.report.records += 1;
        let previous_seq = self.report.head_seq;
        self.report.head_seq = self.report.head_seq.max(record.seq());
        if self.report.first_break.is_some() {
            return;
        }
        let record_id = record.id();
        let id = Some(record_id.clone());
        let seq = record.seq();
        let expected = previous_seq + 1;
        if seq >= expected {
            self.check_anchor_signed();
            if self.report.first_break.is_some() {
                return;
            }
        }
        if seq < expected {
            return self.broke(
                seq,
                id,
                BreakKind::OutOfOrder,
                format!("seq {seq} comes after seq {previous_seq}"),
            );
        }
        if seq > expected {
            let before = if previous_seq == 0 {
                "the chain starts".to_string()
            } else {
                format!("seq {previous_seq} is followed")
            };
            return self.broke(
                expected,
                id,
                BreakKind::MissingRecord,
                format!(
                    "seq {expected} is missing: {before} by seq {seq} (record {record_id}); \
                     a record was deleted"
                ),
            );
        }
        if let Some(anchor_seq) = self.report.anchor_seq
            && self.last_id.is_none()
            && record.prev_hash() != self.last_hash
        {
            return self.broke(
                seq,
                id,
                BreakKind::AnchorMismatch,
                format!(
                    "record {record_id} at seq {seq} does not link to the anchor of seq \
                     {anchor_seq} (hash {}) the chain resumes from",
                    self.last_hash
                ),
            );
        }
        if record.prev_hash() != self.last_hash {
            let after = match &self.last_id {
                Some(last_id) => format!("the hash of seq {previous_seq} (record {last_id})"),
                None => "the chain's genesis hash".to_string(),
            };
            return self.broke(
                seq,
                id,
                BreakKind::BrokenLink,
                format!(
                    "record {record_id} at seq {seq} does not link to {after}: a record was \
                     deleted, inserted or reordered before it"
                ),
            );
        }
        let computed = record.compute_hash();
        if computed != record.hash() {
            return self.broke(
                seq,
                id,
                BreakKind::EditedRecord,
                format!(
                    "record {record_id} at seq {seq} was edited: its content hashes to \
                     {computed}, not its stored hash {}",
                    record.hash()
                ),
            );
        }
        self.last_hash = record.hash().to_string();
        self.last_id = Some(record_id);
        // Checkpoints waiting for this record; any below it name seqs the
        // walk never saw, which only a gap (already reported) can cause.
        let ready: Vec<i64> = self.pending.range(..=seq).map(|(seq, _)| *seq).collect();
        for seq in ready {
            for cp in self.pending.remove(&seq).unwrap_or_default() {
                self.check_checkpoint(&cp);
            }
        }
    }

    /// A checkpoint of the chain: checked now if its record is the last one
    /// read, else kept until the record arrives.
    fn checkpoint(&mut self, cp: Checkpoint) {
        self.report.checkpoints += 1;
        if self.report.first_break.is_some() {
            return;
        }
        let head = self.report.head_seq;
        if cp.seq > head {
            self.pending.entry(cp.seq).or_default().push(cp);
        } else if cp.seq == head && head > 0 {
            self.check_checkpoint(&cp);
        } else {
            self.broke(
                cp.seq,
                None,
                BreakKind::OutOfOrder,
                format!(
                    "the checkpoint of seq {} comes after record {head}; checkpoints must \
                     come before or right after the record they sign",
                    cp.seq
                ),
            );
        }
    }

    /// Checks a checkpoint against the key trusted for the chain and the
    /// last accepted record, which is the one at its seq.
    fn check_checkpoint(&mut self, cp: &Checkpoint) {
        let trusted = self.expected_key.or(self.trusted_key.as_deref());
        if let Err(error) = verify_checkpoint(cp, trusted) {
            return self.broke(
                cp.seq,
                self.last_id.clone(),
                BreakKind::ForgedCheckpoint,
                format!("the checkpoint of seq {} is forged: {error}", cp.seq),
            );
        }
        if self.trusted_key.is_none() {
            self.trusted_key = Some(cp.public_key.clone());
        }
        if self.last_id.is_none() && self.report.anchor_seq == Some(cp.seq) {
            if cp.hash == self.last_hash {
                self.unsigned_anchor = None;
                return;
            }
            return self.broke(
                cp.seq,
                None,
                BreakKind::AnchorMismatch,
                format!(
                    "the anchor of seq {} names hash {}, but the checkpoint there signs {}",
                    cp.seq, self.last_hash, cp.hash
                ),
            );
        }
        if cp.hash != self.last_hash {
            self.broke(
                cp.seq,
                self.last_id.clone(),
                BreakKind::CheckpointMismatch,
                format!(
                    "the checkpoint of seq {} signs hash {}, but the record there has {}",
                    cp.seq, cp.hash, self.last_hash
                ),
            );
        }
    }

    /// The chain's report, after checking the checkpoints left beyond the last record.
    pub(crate) fn finish(mut self) -> ChainReport {
        if self.report.first_break.is_none() {
            self.check_anchor_signed();
        }
        let head = self.report.head_seq;
        let beyond = std::mem::take(&mut self.pending);
        for cp in beyond.into_values().flatten() {
            if self.report.first_break.is_some() {
                break;
            }
            let trusted = self.expected_key.or(self.trusted_key.as_deref());
            if let Err(error) = verify_checkpoint(&cp, trusted) {
                self.broke(
                    cp.seq,
                    None,
                    BreakKind::ForgedCheckpoint,
                    format!("the checkpoint of seq {} is forged: {error}", cp.seq),
                );
            } else {
                self.broke(
                    head + 1,
                    None,
                    BreakKind::TruncatedTail,
                    format!(
                        "the checkpoint of seq {} signs a record the chain no longer holds: \
                         records after seq {head} were removed",
                        cp.seq
                    ),
                );
            }
        }
        self.report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::AuditSigner;
    use crate::audit::export::{write_checkpoint_line, write_record_line};
    use crate::audit::record::tests::sample_new;

    /// A chain of `n` records with a checkpoint after every `every`th.
    fn chain(signer: &AuditSigner, n: i64, every: i64) -> (Vec<AuditRecord>, Vec<Checkpoint>) {
        let mut records: Vec<AuditRecord> = Vec::new();
        let mut checkpoints = Vec::new();
        for seq in 1..=n {
            let prev = records
                .last()
                .map_or(GENESIS_HASH.to_string(), |r| r.hash.clone());
            let record = AuditRecord::seal(sample_new(), format!("id-{seq}"), "c", seq, seq, prev);
            if seq % every == 0 {
                checkpoints.push(signer.sign("c", seq, &record.hash, seq).expect("sign"));
            }
            records.push(record);
        }
        (records, checkpoints)
    }

    /// The export of records and checkpoints, each checkpoint right after its record.
    fn export(records: &[AuditRecord], checkpoints: &[Checkpoint]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cps = checkpoints.iter().peekable();
        for record in records {
            while let Some(cp) = cps.next_if(|cp| cp.seq < record.seq) {
                write_checkpoint_line(&mut out, cp).expect("write");
            }
            write_record_line(&mut out, record).expect("write");
            while let Some(cp) = cps.next_if(|cp| cp.seq == record.seq) {
                write_checkpoint_line(&mut out, cp).expect("write");
            }
        }
        for cp in cps {
            write_checkpoint_line(&mut out, cp).expect("write");
        }
        out
    }

    fn first_break(
        records: &[AuditRecord],
        checkpoints: &[Checkpoint],
        key: Option<&str>,
    ) -> Option<Break> {
        let report = verify_export(export(records, checkpoints).as_slice(), key).expect("verify");
        assert_eq!(report.chains.len(), 1);
        assert_eq!(report.ok, report.chains[0].first_break.is_none());
        report.chains[0].first_break.clone()
    }

    fn new_signer() -> (tempfile::TempDir, AuditSigner) {
        let dir = tempfile::tempdir().expect("temp dir");
        let signer = AuditSigner::load_or_create(dir.path()).expect("signer");
        (dir, signer)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (_dir, signer) = new_signer();
        let (records, checkpoints) = chain(&signer, 25, 10);
        let report = verify_export(
            export(&records, &checkpoints).as_slice(),
            Some(signer.public_key_b64()),
        )
        .expect("verify");
        assert!(report.ok, "{report:?}");
        let chain = &report.chains[0];
        assert_eq!(
            (chain.records, chain.checkpoints, chain.head_seq),
            (25, 2, 25)
        );
        assert!(verify_export(&b""[..], None).expect("empty").ok);
    }

    #[test]
    fn each_tampering_is_named_at_its_seq() {
        let (_dir, signer) = new_signer();
        let (records, checkpoints) = chain(&signer, 30, 10);
        let key = Some(signer.public_key_b64());
        let at = |b: Option<Break>| b.map(|b| (b.kind, b.seq, b.record_id));

        let mut edited = records.clone();
        edited[6].officer = Some("mallory".into());
        assert_eq!(
            at(first_break(&edited, &checkpoints, key)),
            Some((BreakKind::EditedRecord, 7, Some("id-7".into())))
        );

        let mut deleted = records.clone();
        deleted.remove(11);
        assert_eq!(
            at(first_break(&deleted, &checkpoints, key)),
            Some((BreakKind::MissingRecord, 12, Some("id-13".into())))
        );

        let mut swapped = records.clone();
        swapped.swap(14, 15);
        swapped[14].seq = 15;
        swapped[15].seq = 16;
        assert_eq!(
            at(first_break(&swapped, &checkpoints, key)),
            Some((BreakKind::BrokenLink, 15, Some("id-16".into())))
        );

        // A record inserted with a correct hash and link: the next one no longer links.
        let mut inserted = records.clone();
        let forged = AuditRecord::seal(
            sample_new(),
            "forged".into(),
            "c",
            21,
            0,
            records[19].hash.clone(),
        );
        inserted.insert(20, forged);
        for (index, record) in inserted.iter_mut().enumerate().skip(21) {
            record.seq = i64::try_from(index).expect("seq") + 1;
        }
        assert_eq!(
            at(first_break(&inserted, &checkpoints, key)),
            Some((BreakKind::BrokenLink, 22, Some("id-21".into())))
        );

        assert_eq!(
            at(first_break(&records[..25], &checkpoints, key)),
            Some((BreakKind::TruncatedTail, 26, None))
        );

        let (_other_dir, other) = new_signer();
        let mut forged_cps = checkpoints.clone();
        forged_cps[1] = other.sign("c", 20, &records[19].hash, 20).expect("sign");
        assert_eq!(
            at(first_break(&records, &forged_cps, key)),
            Some((BreakKind::ForgedCheckpoint, 20, Some("id-20".into())))
        );
        // Unpinned, the chain's first checkpoint sets the key the rest must share.
        assert_eq!(
            at(first_break(&records, &forged_cps, None)),
            Some((BreakKind::ForgedCheckpoint, 20, Some("id-20".into())))
        );
        let mut bad_signature = checkpoints.clone();
        bad_signature[1].signature = checkpoints[0].signature.clone();
        assert_eq!(
            at(first_break(&records, &bad_signature, None)),
            Some((BreakKind::ForgedCheckpoint, 20, Some("id-20".into())))
        );

        // A validly signed checkpoint of a hash the record does not have.
        let mut mismatched = checkpoints.clone();
        mismatched[0] = signer.sign("c", 10, &records[8].hash, 10).expect("sign");
        assert_eq!(
            at(first_break(&records, &mismatched, key)),
            Some((BreakKind::CheckpointMismatch, 10, Some("id-10".into())))
        );

        let mut repeated = records.clone();
        repeated.insert(5, records[3].clone());
        assert_eq!(
            at(first_break(&repeated, &checkpoints, key)),
            Some((BreakKind::OutOfOrder, 4, Some("id-4".into())))
        );
    }

    #[test]
    fn malformed_lines_are_errors_with_their_number() {
        let text = "\n{\"type\":\"record\",\"id\":1}\n";
        match verify_export(text.as_bytes(), None) {
            Err(AuditError::Export { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected an export error, got {other:?}"),
        }
    }
}
