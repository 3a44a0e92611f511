//! The audit record: what the pipeline knows about one exchange
//! ([`NewRecord`]) and the record as stored, chained and verified
//! ([`AuditRecord`]), with its canonical encoding.
//!
//! The canonical encoding is the compact serde_json serialization of every
//! column except `hash`, in the schema's column order, `null` for NULL and
//! integers as JSON numbers; `hash` is the lowercase hex SHA-256 of it.
//! serde_json writes strings as UTF-8 and escapes only `"`, `\` and control
//! characters (`\b \f \n \r \t`, otherwise `\u00xx`), which is what an
//! independent verifier must reproduce. Because `seq` and `prev_hash` are
//! inside, editing, deleting, reordering or inserting a row breaks the chain.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::hex;

/// Everything the pipeline knows about one exchange (no id, seq, hashes yet).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// The gateway's request id.
    pub request_id: String,
    /// The W3C trace id.
    pub trace_id: String,
    /// The client's IP address.
    pub client_ip: String,
    /// The consumer system's slug; `None` when not authenticated.
    pub system: Option<String>,
    /// The consumer system's agency code.
    pub agency: Option<String>,
    /// How the consumer authenticated: `bearer`, `api_key` or `certificate`.
    pub auth_method: Option<String>,
    /// The officer acting (`X-LGSP-User`).
    pub officer: Option<String>,
    /// The stated purpose (`X-LGSP-Purpose`).
    pub purpose: Option<String>,
    /// The administrative dossier (`X-LGSP-Dossier`).
    pub dossier: Option<String>,
    /// The service slug.
    pub service: String,
    /// The service version.
    pub version: String,
    /// The operation template, e.g. `/citizens/{soDinhDanh}`.
    pub operation: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// The data subject, already keyed-hashed.
    pub subject: Option<Subject>,
    /// Whether the exchange was allowed, refused or failed.
    pub outcome: Outcome,
    /// The HTTP status sent to the consumer.
    pub status: u16,
    /// The problem code; `None` on success.
    pub error_code: Option<String>,
    /// The upstream's HTTP status, when it was called.
    pub upstream_status: Option<u16>,
    /// Time from accepting the request to the response.
    pub latency: Duration,
    /// Bytes of the request body as received.
    pub request_bytes: u64,
    /// Bytes of the response body as sent.
    pub response_bytes: u64,
    /// Hex SHA-256 of the request body (of the empty string when none).
    pub request_sha256: String,
    /// Hex SHA-256 of the response body as sent.
    pub response_sha256: String,
    /// `hit`, `miss` or `bypass` when the reuse stage took part.
    pub reuse: Option<String>,
    /// For `CONTRACT_VIOLATION`: the contract and the JSON pointers (with the
    /// failed keyword) of the upstream answer's offending members.
    pub contract_violation: Option<String>,
}

/// The data subject of an exchange, as a keyed hash, never in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// What kind of identifier was hashed.
    pub kind: SubjectKind,
    /// Lowercase hex HMAC-SHA256 of the identifier under the subject key.
    pub hash: String,
}

/// The kinds of data subject identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A citizen's personal identification number (số định danh cá nhân).
    PersonalId,
    /// An enterprise code (mã số doanh nghiệp).
    Enterprise,
}

impl SubjectKind {
    /// The `subject_kind` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::PersonalId => "personal_id",
            SubjectKind::Enterprise => "enterprise",
        }
    }

    /// The kind a `subject_kind` column value names.
    pub fn parse(value: &str) -> Option<SubjectKind> {
        match value {
            "personal_id" => Some(SubjectKind::PersonalId),
            "enterprise" => Some(SubjectKind::Enterprise),
            _ => None,
        }
    }
}

/// How an exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The gateway let it through (whatever the upstream answered).
    Allowed,
    /// The gateway refused it: authentication, policy, limits.
    Refused,
    /// The gateway could not complete it: upstream down, timeout, internal error.
    Failed,
}

impl Outcome {
    /// The `outcome` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    /// The outcome an `outcome` column value names.
    pub fn parse(value: &str) -> Option<Outcome> {
        match value {
            "allowed" => Some(Outcome::Allowed),
            "refused" => Some(Outcome::Refused),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// A record as stored and verified: every column of `audit_records`, in
/// schema order, with the column's SQL type.
///
/// `subject_kind` and `outcome` stay text (see [`SubjectKind::parse`],
/// [`Outcome::parse`]) and integers stay `i64`, so that whatever a row holds,
/// even a value tampered into something no enum names, is read, hashed and
/// reported as an edited record rather than refused as unreadable.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// UUIDv7, returned to consumers as `X-LGSP-Audit-Id`.
    pub id: String,
    /// The writing node's chain id.
    pub chain: String,
    /// 1, 2, 3… contiguous within the chain.
    pub seq: i64,
    /// Unix milliseconds.
    pub recorded_at: i64,
    /// The gateway's request id.
    pub request_id: String,
    /// The W3C trace id.
    pub trace_id: String,
    /// The client's IP address.
    pub client_ip: String,
    /// The consumer system's slug; `None` when not authenticated.
    pub system: Option<String>,
    /// The consumer system's agency code.
    pub agency: Option<String>,
    /// `bearer`, `api_key` or `certificate`.
    pub auth_method: Option<String>,
    /// The officer (`X-LGSP-User`).
    pub officer: Option<String>,
    /// The purpose (`X-LGSP-Purpose`).
    pub purpose: Option<String>,
    /// The dossier (`X-LGSP-Dossier`).
    pub dossier: Option<String>,
    /// The service slug.
    pub service: String,
    /// The service version.
    pub version: String,
    /// The operation template.
    pub operation: Option<String>,
    /// The HTTP method.
    pub method: String,
    /// `personal_id` or `enterprise`.
    pub subject_kind: Option<String>,
    /// Lowercase hex HMAC-SHA256 of the subject's identifier.
    pub subject_hash: Option<String>,
    /// `allowed`, `refused` or `failed`.
    pub outcome: String,
    /// The HTTP status sent to the consumer.
    pub status: i64,
    /// The problem code; `None` on success.
    pub error_code: Option<String>,
    /// The upstream's HTTP status.
    pub upstream_status: Option<i64>,
    /// Latency in microseconds.
    pub latency_us: i64,
    /// Bytes of the request body.
    pub request_bytes: i64,
    /// Bytes of the response body.
    pub response_bytes: i64,
    /// Hex SHA-256 of the request body.
    pub request_sha256: String,
    /// Hex SHA-256 of the response body.
    pub response_sha256: String,
    /// `hit`, `miss`, `bypass` or `None`.
    pub reuse: Option<String>,
    /// The contract and offending pointers of a `CONTRACT_VIOLATION`.
    #[serde(default)]
    pub contract_violation: Option<String>,
    /// The previous record's hash in this chain; 64 zeros for seq 1.
    pub prev_hash: String,
    /// Hex SHA-256 of the canonical encoding.
    pub hash: String,
}

/// The canonical encoding's fields: the columns minus `hash`, in schema
/// order. A struct of its own so that reordering [`AuditRecord`]'s fields
/// can never change what is hashed.
#[derive(Serialize)]
struct Canonical<'a> {
    id: &'a str,
    chain: &'a str,
    seq: i64,
    recorded_at: i64,
    request_id: &'a str,
    trace_id: &'a str,
    client_ip: &'a str,
    system: Option<&'a str>,
    agency: Option<&'a str>,
    auth_method: Option<&'a str>,
    officer: Option<&'a str>,
    purpose: Option<&'a str>,
    dossier: Option<&'a str>,
    service: &'a str,
    version: &'a str,
    operation: Option<&'a str>,
    method: &'a str,
    subject_kind: Option<&'a str>,
    subject_hash: Option<&'a str>,
    outcome: &'a str,
    status: i64,
    error_code: Option<&'a str>,
    upstream_status: Option<i64>,
    latency_us: i64,
    request_bytes: i64,
    response_bytes: i64,
    request_sha256: &'a str,
    response_sha256: &'a str,
    reuse: Option<&'a str>,
    // Added after records existed: absent when empty, so older records hash as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    contract_violation: Option<&'a str>,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// The canonical encoding that `hash` covers.
    pub fn canonical(&self) -> Vec<u8> {
        let canonical = Canonical {
            id: &self.id,
            chain: &self.chain,
            seq: self.seq,
            recorded_at: self.recorded_at,
            request_id: &self.request_id,
            trace_id: &self.trace_id,
            client_ip: &self.client_ip,
            system: self.system.as_deref(),
            agency: self.agency.as_deref(),
            auth_method: self.auth_method.as_deref(),
            officer: self.officer.as_deref(),
            purpose: self.purpose.as_deref(),
            dossier: self.dossier.as_deref(),
            service: &self.service,
            version: &self.version,
            operation: self.operation.as_deref(),
            method: &self.method,
            subject_kind: self.subject_kind.as_deref(),
            subject_hash: self.subject_hash.as_deref(),
            outcome: &self.outcome,
            status: self.status,
            error_code: self.error_code.as_deref(),
            upstream_status: self.upstream_status,
            latency_us: self.latency_us,
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            request_sha256: &self.request_sha256,
            response_sha256: &self.response_sha256,
            reuse: self.reuse.as_deref(),
            contract_violation: self.contract_violation.as_deref(),
            prev_hash: &self.prev_hash,
        };
        // Serializing strings and integers into a Vec cannot fail; an empty
        // encoding would only ever produce a hash no record carries.
        serde_json::to_vec(&canonical).unwrap_or_default()
    }

    /// Lowercase hex SHA-256 of [`AuditRecord::canonical`]: what `hash` must hold.
    pub fn compute_hash(&self) -> String {
        hex(&Sha256::digest(self.canonical()))
    }

    /// The outcome, if the column holds one of the known values.
    pub fn outcome(&self) -> Option<Outcome> {
        Outcome::parse(&self.outcome)
    }

    /// The subject kind, if the column holds one of the known values.
    pub fn subject_kind(&self) -> Option<SubjectKind> {
        self.subject_kind.as_deref().and_then(SubjectKind::parse)
    }

    /// Gives a new record its place in a chain and seals it with its hash.
    pub fn seal(
        record: NewRecord,
        id: String,
        chain: &str,
        seq: i64,
        recorded_at: i64,
        prev_hash: String,
    ) -> AuditRecord {
        let (subject_kind, subject_hash) = match record.subject {
            Some(subject) => (Some(subject.kind.as_str().to_string()), Some(subject.hash)),
            None => (None, None),
        };
        let mut sealed = AuditRecord {
            id,
            chain: chain.to_string(),
            seq,
            recorded_at,
            request_id: record.request_id,
            trace_id: record.trace_id,
            client_ip: record.client_ip,
            system: record.system,
            agency: record.agency,
            auth_method: record.auth_method,
            officer: record.officer,
            purpose: record.purpose,
            dossier: record.dossier,
            service: record.service,
            version: record.version,
            operation: record.operation,
            method: record.method,
            subject_kind,
            subject_hash,
            outcome: record.outcome.as_str().to_string(),
            status: i64::from(record.status),
            error_code: record.error_code,
            upstream_status: record.upstream_status.map(i64::from),
            latency_us: saturating_i64(record.latency.as_micros()),
            request_bytes: saturating_i64(record.request_bytes),
            response_bytes: saturating_i64(record.response_bytes),
            request_sha256: record.request_sha256,
            response_sha256: record.response_sha256,
            reuse: record.reuse,
            contract_violation: record.contract_violation,
            prev_hash,
            hash: String::new(),
        };
        sealed.hash = sealed.compute_hash();
        sealed
    }
}

/// An unsigned count as a BIGINT column value; no real count reaches the cap.
fn saturating_i64(value: impl TryInto<i64>) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::audit::GENESIS_HASH;

    /// A record with every optional field set, the same on every call.
    pub(crate) fn sample_new() -> NewRecord {
        NewRecord {
            request_id: "req-1".into(),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            client_ip: "10.0.0.7".into(),
            system: Some("motcua-xa-a".into()),
            agency: Some("000.00.00.H29".into()),
            auth_method: Some("bearer".into()),
            officer: Some("Nguyễn Văn \"A\"".into()),
            purpose: Some("HS-01".into()),
            dossier: Some("000.00.01.H29-240101-0001".into()),
            service: "dan-cu".into(),
            version: "v1".into(),
            operation: Some("/citizens/{soDinhDanh}".into()),
            method: "GET".into(),
            subject: Some(Subject {
                kind: SubjectKind::PersonalId,
                hash: "ab".repeat(32),
            }),
            outcome: Outcome::Allowed,
            status: 200,
            error_code: None,
            upstream_status: Some(200),
            latency: Duration::from_micros(1234),
            request_bytes: 0,
            response_bytes: 512,
            request_sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .into(),
            response_sha256: "cd".repeat(32),
            reuse: None,
            contract_violation: None,
        }
    }

    /// The sample, sealed as the first record of chain `node-a`.
    pub(crate) fn sample() -> AuditRecord {
        AuditRecord::seal(
            sample_new(),
            "0190f5c2-7a4b-7000-8000-000000000001".into(),
            "node-a",
            1,
            1_720_000_000_000,
            GENESIS_HASH.into(),
        )
    }

    #[test]
    fn canonical_encoding_is_pinned() {
        let record = sample();
        let golden = concat!(
            r#"{"id":"0190f5c2-7a4b-7000-8000-000000000001","chain":"node-a","seq":1,"#,
            r#""recorded_at":1720000000000,"request_id":"req-1","#,
            r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","client_ip":"10.0.0.7","#,
            r#""system":"motcua-xa-a","agency":"000.00.00.H29","auth_method":"bearer","#,
            r#""officer":"Nguyễn Văn \"A\"","purpose":"HS-01","#,
            r#""dossier":"000.00.01.H29-240101-0001","service":"dan-cu","version":"v1","#,
            r#""operation":"/citizens/{soDinhDanh}","method":"GET","#,
            r#""subject_kind":"personal_id","#,
            r#""subject_hash":"abababababababababababababababababababababababababababababababab","#,
            r#""outcome":"allowed","status":200,"error_code":null,"upstream_status":200,"#,
            r#""latency_us":1234,"request_bytes":0,"response_bytes":512,"#,
            r#""request_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
            r#""response_sha256":"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd","#,
            r#""reuse":null,"#,
            r#""prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
        );
        assert_eq!(
            String::from_utf8(record.canonical()).expect("utf-8"),
            golden
        );
        assert_eq!(record.hash, hex(&Sha256::digest(golden.as_bytes())));
        assert_eq!(record.hash, GOLDEN_HASH);
    }

    /// SHA-256 of the golden encoding, cross-checked with `sha256sum`.
    const GOLDEN_HASH: &str = "3b4530ffc2711400f4eaddb97155731e7ff8b7255bbce82bf51407aa506c7262";

    #[test]
    fn every_field_changes_the_hash() {
        // Optional columns left out of the encoding when empty are set here, so they count.
        let mut base = sample();
        base.contract_violation = Some("contract citizen: /hoTen (type)".into());
        base.hash = base.compute_hash();
        type Edit = fn(&mut AuditRecord);
        let edits: &[(&str, Edit)] = &[
            ("id", |r| r.id.push('x')),
            ("chain", |r| r.chain.push('x')),
            ("seq", |r| r.seq += 1),
            ("recorded_at", |r| r.recorded_at += 1),
            ("request_id", |r| r.request_id.push('x')),
            ("trace_id", |r| r.trace_id.push('x')),
            ("client_ip", |r| r.client_ip.push('x')),
            ("system", |r| r.system = None),
            ("agency", |r| r.agency = Some(String::new())),
            ("auth_method", |r| r.auth_method = None),
            ("officer", |r| r.officer = Some("mallory".into())),
            ("purpose", |r| r.purpose = None),
            ("dossier", |r| r.dossier = None),
            ("service", |r| r.service.push('x')),
            ("version", |r| r.version.push('x')),
            ("operation", |r| r.operation = None),
            ("method", |r| r.method = "POST".into()),
            ("subject_kind", |r| {
                r.subject_kind = Some("enterprise".into())
            }),
            ("subject_hash", |r| r.subject_hash = None),
            ("outcome", |r| r.outcome = "refused".into()),
            ("status", |r| r.status = 403),
            ("error_code", |r| r.error_code = Some("forbidden".into())),
            ("upstream_status", |r| r.upstream_status = None),
            ("latency_us", |r| r.latency_us += 1),
            ("request_bytes", |r| r.request_bytes += 1),
            ("response_bytes", |r| r.response_bytes += 1),
            ("request_sha256", |r| r.request_sha256.push('x')),
            ("response_sha256", |r| r.response_sha256.push('x')),
            ("reuse", |r| r.reuse = Some("hit".into())),
            ("contract_violation", |r| r.contract_violation = None),
            ("prev_hash", |r| r.prev_hash = "1".repeat(64)),
        ];
        // Every column but `hash` is covered, so a new column cannot slip in unhashed.
        let columns = serde_json::to_value(&base).expect("json");
        assert_eq!(columns.as_object().map(|o| o.len()), Some(edits.len() + 1));
        for (field, edit) in edits {
            let mut edited = base.clone();
            edit(&mut edited);
            assert_ne!(edited.compute_hash(), base.hash, "{field} is not covered");
        }
        let mut hash_only = base.clone();
        hash_only.hash = "f".repeat(64);
        assert_eq!(hash_only.compute_hash(), base.hash, "hash covers itself");
    }

    #[test]
    fn seal_converts_the_pipeline_types() {
        let mut new = sample_new();
        new.subject = None;
        new.outcome = Outcome::Refused;
        new.latency = Duration::from_secs(u64::MAX);
        new.response_bytes = u64::MAX;
        let record = AuditRecord::seal(new, "id".into(), "c", 7, 1, "p".into());
        assert_eq!(record.outcome(), Some(Outcome::Refused));
        assert_eq!(
            (
                record.subject_kind.as_deref(),
                record.subject_hash.as_deref()
            ),
            (None, None)
        );
        assert_eq!(
            (record.latency_us, record.response_bytes),
            (i64::MAX, i64::MAX)
        );
        assert_eq!(record.hash, record.compute_hash());
        assert_eq!(sample().subject_kind(), Some(SubjectKind::PersonalId));
        for kind in [SubjectKind::PersonalId, SubjectKind::Enterprise] {
            assert_eq!(SubjectKind::parse(kind.as_str()), Some(kind));
        }
        for outcome in [Outcome::Allowed, Outcome::Refused, Outcome::Failed] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
    }
}
