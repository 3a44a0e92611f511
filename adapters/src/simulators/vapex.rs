//! V-APEX, the national API catalogue, as the province's publisher sees it
//! (`contracts/vapex/publication-api.md`): descriptors are put into the
//! catalogue under an idempotency key, each accepted put is a publication
//! whose status can be read, and the catalogue itself is public.
//!
//! A replayed key with the same request answers the first publication and
//! counts a duplicate, so a test can check that an outbox delivered exactly
//! once; a replayed key with another request is a conflict. The fault gate
//! answers before the handlers, so a faulted request leaves no publication.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Simulator, replies};
use crate::rest::lock;

/// Most publications remembered; beyond it new ones are refused (503), not old ones forgotten.
const MAX_PUBLICATIONS: usize = 10_000;

/// Longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Where the `type` URIs of the simulator's problems point.
const PROBLEM_BASE: &str = "https://vapex.gov.vn/problems/";

/// The content type of refusals (RFC 9457).
const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The token the simulated V-APEX accepts and how long it takes to publish.
#[derive(Clone, PartialEq, Eq)]
pub struct VapexCatalogueSettings {
    /// The bearer token the province publishes with; never shown.
    pub token: String,
    /// How long an accepted publication stays `pending` before it is `published`.
    pub processing_delay: Duration,
}

impl Default for VapexCatalogueSettings {
    fn default() -> Self {
        VapexCatalogueSettings {
            token: "vapex-sim-token".to_owned(),
            processing_delay: Duration::ZERO,
        }
    }
}

impl fmt::Debug for VapexCatalogueSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapexCatalogueSettings")
            .field("token", &"<redacted>")
            .field("processing_delay", &self.processing_delay)
            .finish()
    }
}

/// What the simulated V-APEX remembers between requests.
#[derive(Debug, Default)]
pub(crate) struct VapexState {
    pub(crate) settings: VapexCatalogueSettings,
    catalogue: Mutex<Catalogue>,
    /// Requests to `/vapex/v1`, faulted ones included.
    requests: AtomicU64,
    /// Publications accepted (distinct idempotency keys).
    publications: AtomicU64,
    /// Replays of an accepted key with the same request.
    duplicates: AtomicU64,
}

impl VapexState {
    pub(crate) fn new(settings: VapexCatalogueSettings) -> VapexState {
        VapexState {
            settings,
            ..VapexState::default()
        }
    }
}

/// Agency, service and version: what a catalogue entry is known by.
type EntryKey = (String, String, String);

/// An accepted idempotency key.
#[derive(Debug)]
struct Accepted {
    /// Fingerprint of the request it came with, to tell a replay from a conflict.
    fingerprint: [u8; 32],
    publication_id: String,
}

/// One service version in the catalogue.
#[derive(Debug)]
struct Entry {
    lifecycle: &'static str,
    publication_id: String,
    updated_at_ms: u64,
    descriptor: Value,
}

#[derive(Debug, Default)]
struct Catalogue {
    by_key: HashMap<String, Accepted>,
    /// When each publication was accepted, by id.
    accepted_at: HashMap<String, Instant>,
    /// Ordered so the listing is stable.
    entries: BTreeMap<EntryKey, Entry>,
}

/// What a publication asks of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Publish,
    Deprecate,
    Retire,
    Block,
}

impl Event {
    fn parse(name: &str) -> Option<Event> {
        match name {
            "publish" => Some(Event::Publish),
            "deprecate" => Some(Event::Deprecate),
            "retire" => Some(Event::Retire),
            "block" => Some(Event::Block),
            _ => None,
        }
    }

    /// The lifecycle state the descriptor must declare for this event.
    fn lifecycle(self) -> &'static str {
        match self {
            Event::Publish => "published",
            Event::Deprecate => "deprecated",
            Event::Retire => "retired",
            Event::Block => "blocked",
        }
    }
}

/// An RFC 9457 problem answer.
fn problem(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response {
    let mut response = replies::json(
        status,
        &json!({
            "type": format!("{PROBLEM_BASE}{kind}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        }),
    );
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
    );
    response
}

fn unauthorized() -> Response {
    let mut response = problem(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Unauthorized",
        "a valid bearer token is required",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"vapex\""),
    );
    response
}

fn bad_request(detail: &str) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        "bad-request",
        "Bad request",
        detail,
    )
}

fn not_found(detail: &str) -> Response {
    problem(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
}

/// Whether the request carries the configured bearer token.
fn authorized(state: &VapexState, headers: &HeaderMap) -> bool {
    let Some((scheme, token)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
    else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && token.trim() == state.settings.token
}

/// The `Idempotency-Key` header, if it is 1..=200 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<&str, &'static str> {
    let value = headers
        .get("idempotency-key")
        .ok_or("the Idempotency-Key header is required")?;
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_IDEMPOTENCY_KEY
        || !bytes.iter().all(u8::is_ascii_graphic)
    {
        return Err("the Idempotency-Key header must be 1 to 200 visible ASCII characters");
    }
    value
        .to_str()
        .map_err(|_| "the Idempotency-Key header must be 1 to 200 visible ASCII characters")
}

/// A string member of the `x-vapex` block, or why it is missing.
fn member<'a>(block: &'a serde_json::Map<String, Value>, name: &str) -> Result<&'a str, String> {
    block
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("descriptor.x-vapex.{name} must be a string"))
}

/// Checks a publication body against its path; the event and descriptor when it holds.
fn check_submission<'a>(path: &EntryKey, body: &'a Value) -> Result<(Event, &'a Value), String> {
    let event = body
        .get("event")
        .and_then(Value::as_str)
        .ok_or("event must be one of publish, deprecate, retire, block")?;
    let event = Event::parse(event).ok_or_else(|| {
        format!("unknown event {event:?}: use publish, deprecate, retire or block")
    })?;
    let descriptor = body
        .get("descriptor")
        .filter(|d| d.is_object())
        .ok_or("descriptor must be a JSON object")?;
    if !descriptor
        .get("openapi")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("3.1"))
    {
        return Err("descriptor.openapi must be a 3.1 version string".to_owned());
    }
    let block = descriptor
        .get("x-vapex")
        .and_then(Value::as_object)
        .ok_or("descriptor.x-vapex must be an object")?;
    let (agency, service, version) = path;
    for (name, expected) in [
        ("agencyCode", agency),
        ("serviceCode", service),
        ("version", version),
    ] {
        let declared = member(block, name)?;
        if declared != expected {
            return Err(format!(
                "descriptor.x-vapex.{name} {declared:?} does not match the path's {expected:?}"
            ));
        }
    }
    let lifecycle = member(block, "lifecycle")?;
    if lifecycle != event.lifecycle() {
        return Err(format!(
            "descriptor.x-vapex.lifecycle {lifecycle:?} does not agree with event {:?}: it must be {:?}",
            body["event"].as_str().unwrap_or_default(),
            event.lifecycle()
        ));
    }
    Ok((event, descriptor))
}

/// Feeds a JSON value to a hash with object keys sorted, so key order does not matter.
fn hash_value(value: &Value, hasher: &mut Sha256) {
    let mut text = |tag: u8, s: &str| {
        hasher.update([tag]);
        hasher.update((s.len() as u64).to_be_bytes());
        hasher.update(s.as_bytes());
    };
    match value {
        Value::Null => text(b'n', ""),
        Value::Bool(b) => text(b'b', if *b { "1" } else { "0" }),
        Value::Number(n) => text(b'#', &n.to_string()),
        Value::String(s) => text(b's', s),
        Value::Array(items) => {
            text(b'[', &items.len().to_string());
            for item in items {
                hash_value(item, hasher);
            }
        }
        Value::Object(members) => {
            text(b'{', &members.len().to_string());
            let mut sorted: Vec<_> = members.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (name, member) in sorted {
                hasher.update([b'k']);
                hasher.update((name.len() as u64).to_be_bytes());
                hasher.update(name.as_bytes());
                hash_value(member, hasher);
            }
        }
    }
}

/// What a replay must repeat exactly: the path and the body.
fn fingerprint(path: &EntryKey, body: &Value) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for segment in [&path.0, &path.1, &path.2] {
        hasher.update((segment.len() as u64).to_be_bytes());
        hasher.update(segment.as_bytes());
    }
    hash_value(body, &mut hasher);
    hasher.finalize().into()
}

/// A random version-4 UUID.
fn publication_id() -> String {
    let bits: u128 = rand::rng().random();
    let bits = (((bits & !(0xF << 76)) | (0x4 << 76)) & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// The status of a publication accepted at `accepted_at`.
fn status_of(state: &VapexState, accepted_at: Instant) -> &'static str {
    if accepted_at.elapsed() >= state.settings.processing_delay {
        "published"
    } else {
        "pending"
    }
}

/// Middleware outside the fault gate: counts every V-APEX request, faulted ones too.
pub(crate) async fn count_request(
    State(simulator): State<Simulator>,
    request: Request,
    next: Next,
) -> Response {
    simulator.vapex.requests.fetch_add(1, Ordering::Relaxed);
    next.run(request).await
}

/// `PUT /vapex/v1/catalogue/{agencyCode}/{serviceCode}/{version}`: accepts a publication.
pub(crate) async fn submit(
    State(simulator): State<Simulator>,
    path: Result<Path<EntryKey>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = &simulator.vapex;
    if !authorized(state, &headers) {
        return unauthorized();
    }
    let key = match idempotency_key(&headers) {
        Ok(key) => key.to_owned(),
        Err(reason) => return bad_request(reason),
    };
    let Ok(Path(path)) = path else {
        return bad_request("the path segments must be UTF-8 once percent-decoded");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("the body must be JSON");
    };
    let (event, descriptor) = match check_submission(&path, &body) {
        Ok(checked) => checked,
        Err(detail) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-publication",
                "Invalid publication",
                &detail,
            );
        }
    };
    let fingerprint = fingerprint(&path, &body);
    let mut catalogue = lock(&state.catalogue);
    if let Some(accepted) = catalogue.by_key.get(&key) {
        if accepted.fingerprint != fingerprint {
            return problem(
                StatusCode::CONFLICT,
                "idempotency-conflict",
                "Idempotency key reused",
                "this Idempotency-Key was used for another request",
            );
        }
        state.duplicates.fetch_add(1, Ordering::Relaxed);
        let id = accepted.publication_id.clone();
        let status = catalogue
            .accepted_at
            .get(&id)
            .map_or("published", |at| status_of(state, *at));
        return replies::json(
            StatusCode::OK,
            &json!({ "publicationId": id, "status": status }),
        );
    }
    if catalogue.accepted_at.len() >= MAX_PUBLICATIONS {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Catalogue busy",
            "too many publications; try again later",
        );
    }
    let id = publication_id();
    catalogue.by_key.insert(
        key,
        Accepted {
            fingerprint,
            publication_id: id.clone(),
        },
    );
    catalogue.accepted_at.insert(id.clone(), Instant::now());
    catalogue.entries.insert(
        path,
        Entry {
            lifecycle: event.lifecycle(),
            publication_id: id.clone(),
            updated_at_ms: unix_ms_now(),
            descriptor: descriptor.clone(),
        },
    );
    state.publications.fetch_add(1, Ordering::Relaxed);
    replies::json(
        StatusCode::ACCEPTED,
        &json!({ "publicationId": id, "status": "pending" }),
    )
}

/// `GET /vapex/v1/publications/{publicationId}`: where a publication stands.
pub(crate) async fn publication(
    State(simulator): State<Simulator>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let state = &simulator.vapex;
    if !authorized(state, &headers) {
        return unauthorized();
    }
    let Ok(Path(id)) = id else {
        return bad_request("the publication id must be UTF-8 once percent-decoded");
    };
    let accepted_at = lock(&state.catalogue).accepted_at.get(&id).copied();
    match accepted_at {
        Some(at) => replies::json(
            StatusCode::OK,
            &json!({ "publicationId": id, "status": status_of(state, at) }),
        ),
        None => not_found("no publication has this id"),
    }
}

fn item(key: &EntryKey, entry: &Entry) -> Value {
    json!({
        "agencyCode": key.0,
        "serviceCode": key.1,
        "version": key.2,
        "lifecycle": entry.lifecycle,
        "publicationId": entry.publication_id,
        "updatedAt": entry.updated_at_ms,
        "descriptor": entry.descriptor,
    })
}

/// `GET /vapex/v1/catalogue[?agencyCode=&serviceCode=]`: the public catalogue.
pub(crate) async fn catalogue(
    State(simulator): State<Simulator>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request("the query string is malformed");
    };
    let agency = query.get("agencyCode");
    let service = query.get("serviceCode");
    let catalogue = lock(&simulator.vapex.catalogue);
    let items: Vec<Value> = catalogue
        .entries
        .iter()
        .filter(|(key, _)| agency.is_none_or(|a| *a == key.0))
        .filter(|(key, _)| service.is_none_or(|s| *s == key.1))
        .map(|(key, entry)| item(key, entry))
        .collect();
    replies::json(StatusCode::OK, &json!({ "items": items }))
}

/// `GET /vapex/v1/catalogue/{agencyCode}/{serviceCode}/{version}`: one catalogue entry.
pub(crate) async fn entry(
    State(simulator): State<Simulator>,
    path: Result<Path<EntryKey>, PathRejection>,
) -> Response {
    let Ok(Path(path)) = path else {
        return bad_request("the path segments must be UTF-8 once percent-decoded");
    };
    let catalogue = lock(&simulator.vapex.catalogue);
    match catalogue.entries.get(&path) {
        Some(entry) => replies::json(StatusCode::OK, &item(&path, entry)),
        None => not_found("the catalogue has no such service version"),
    }
}

fn stats_answer(state: &VapexState) -> Response {
    replies::json(
        StatusCode::OK,
        &json!({
            "requests": state.requests.load(Ordering::Relaxed),
            "publications": state.publications.load(Ordering::Relaxed),
            "duplicates": state.duplicates.load(Ordering::Relaxed),
        }),
    )
}

/// `GET /__sim/vapex/stats`.
pub(crate) async fn stats(State(simulator): State<Simulator>) -> Response {
    stats_answer(&simulator.vapex)
}

/// `DELETE /__sim/vapex/stats`: sets the counters back to zero (the catalogue stays).
pub(crate) async fn reset_stats(State(simulator): State<Simulator>) -> Response {
    let state = &simulator.vapex;
    state.requests.store(0, Ordering::Relaxed);
    state.publications.store(0, Ordering::Relaxed);
    state.duplicates.store(0, Ordering::Relaxed);
    stats_answer(state)
}

#[cfg(test)]
mod tests;
