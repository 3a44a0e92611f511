//! The values the reuse store takes and gives: a new item with its
//! provenance, an item's metadata, an item with its content, a report of
//! items still asked of a citizen, and a key rotation's report.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::audit::record::Subject;

/// A verified data item to keep, with its provenance.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Whom it is about (kind and keyed hash, never the identifier).
    pub subject: Subject,
    /// The kind of data, e.g. `cong-dan` or `ket-qua-tthc`.
    pub data_type: String,
    /// The authoritative source: a service slug and version, or `write-back`.
    pub source: String,
    /// The agency that issued the data.
    pub source_agency: String,
    /// When the data was fetched from the source or issued.
    pub fetched_at: SystemTime,
    /// How long it may be served without asking the source again (policy, per data type).
    pub valid_for: Duration,
    /// How long it is kept; it is purged after the longer of this and `valid_for`.
    pub retain_for: Duration,
    /// The data itself; stored sealed.
    pub content: Value,
    /// The dossier a written-back result belongs to.
    pub dossier: Option<String>,
    /// The procedure code of a written-back result.
    pub procedure_code: Option<String>,
    /// The purposes allowed to see the item; `None` leaves it to policy.
    pub allowed_purposes: Option<Vec<String>>,
    /// The gateway's signature given on receipt of a write-back.
    pub receipt_signature: Option<String>,
}

/// What the store holds about an item, without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemMeta {
    /// The item's id (UUIDv7).
    pub id: String,
    /// Whom it is about.
    pub subject: Subject,
    /// The kind of data.
    pub data_type: String,
    /// The authoritative source: a service slug and version, or `write-back`.
    pub source: String,
    /// The agency that issued the data.
    pub source_agency: String,
    /// When it was fetched or issued (millisecond precision).
    pub fetched_at: SystemTime,
    /// Until when it may be served (exclusive).
    pub valid_until: SystemTime,
    /// When it will be purged.
    pub purge_after: SystemTime,
    /// Lowercase hex SHA-256 of the content's JSON serialization as stored.
    pub content_sha256: String,
    /// The dossier a written-back result belongs to.
    pub dossier: Option<String>,
    /// The procedure code of a written-back result.
    pub procedure_code: Option<String>,
    /// The purposes allowed to see the item; `None` leaves it to policy.
    pub allowed_purposes: Option<Vec<String>>,
    /// The gateway's signature given on receipt of a write-back.
    pub receipt_signature: Option<String>,
}

impl ItemMeta {
    /// Whether the item may still be served at `now` without asking its source.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        now < self.valid_until
    }

    /// Unix milliseconds of [`ItemMeta::fetched_at`], as APIs report it.
    pub fn fetched_at_ms(&self) -> i64 {
        unix_ms(self.fetched_at)
    }

    /// Unix milliseconds of [`ItemMeta::valid_until`], as APIs report it.
    pub fn valid_until_ms(&self) -> i64 {
        unix_ms(self.valid_until)
    }
}

/// An item with its decrypted content.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Its metadata and provenance.
    pub meta: ItemMeta,
    /// The content, verified against its seal and hash.
    pub content: Value,
}

/// Data items a one-stop desk still had to ask a citizen for (the data reuse
/// rate's denominator), as reported by the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedItems {
    /// When it was reported.
    pub recorded_at: SystemTime,
    /// The reporting commune's agency code.
    pub agency: Option<String>,
    /// The reporting system.
    pub system: Option<String>,
    /// The dossier.
    pub dossier: String,
    /// The service the items would have come from, when known.
    pub service: Option<String>,
    /// How many items the citizen had to supply.
    pub items: u32,
    /// The data types asked for, when reported.
    pub data_types: Vec<String>,
}

/// What a key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The key every readable item is now sealed under.
    pub active_key_id: String,
    /// Items looked at.
    pub examined: u64,
    /// Items re-sealed under the active key.
    pub resealed: u64,
    /// Items already under the active key.
    pub already_current: u64,
    /// Ids of items that could not be opened (unknown key or failed
    /// authentication); while any remain, no old key may be deleted.
    pub unreadable: Vec<String>,
}

/// Unix milliseconds of `time`, 0 before 1970 and saturating far ahead.
pub(crate) fn unix_ms(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// The time `ms` unix milliseconds name; negative values are 1970.
pub(crate) fn from_unix_ms(ms: i64) -> SystemTime {
    let ms = u64::try_from(ms).unwrap_or(0);
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `duration` in milliseconds, saturating.
pub(crate) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_to_unix_ms_and_back() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        assert_eq!(unix_ms(time), 1_795_000_000_123);
        assert_eq!(from_unix_ms(1_795_000_000_123), time);
        assert_eq!(from_unix_ms(-5), SystemTime::UNIX_EPOCH);
        assert_eq!(unix_ms(SystemTime::UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
    }
}
