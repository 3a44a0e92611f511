//! The registry's entities as the province declares them: agencies, consumer
//! systems and services with their upstream settings.
//!
//! The same types are read from `lgsp apply` files, stored, and loaded into the
//! in-memory snapshot, so a file and the store can never disagree on shape.

use lgsp_contracts::{AgencyCode, Slug};
use lgsp_policies::{DataClass, SecurityLevel};
use serde::{Deserialize, Serialize};

/// An agency (cơ quan) identified by its electronic identifier code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    /// Electronic identifier code, e.g. `000.00.00.H29`.
    pub code: AgencyCode,
    /// Official name, with diacritics.
    pub name: String,
    /// The parent agency, for communes under a province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<AgencyCode>,
}

/// A consumer system (one-stop desk software, sector software) owned by an agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct System {
    /// Stable slug of the system.
    pub slug: Slug,
    /// The owning agency.
    pub agency: AgencyCode,
    /// Human-readable name.
    pub name: String,
    /// Certified security level of the system.
    #[serde(default)]
    pub security_level: SecurityLevel,
}

/// Where a service is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Registered, not yet callable.
    Draft,
    /// Callable.
    #[default]
    Published,
    /// Callable by existing subscribers, with a sunset date.
    Deprecated,
    /// No longer callable: `SERVICE_RETIRED`.
    Retired,
    /// All traffic stopped at once.
    Blocked,
}

/// How the gateway reaches a service's upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSettings {
    /// Base URL; the request's `{rest}` is appended to its path.
    pub url: String,
    /// Connect timeout in milliseconds; the gateway default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// Time allowed for the upstream's response head, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retries for idempotent methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Largest request body accepted for this service, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u64>,
    /// Largest response body passed back, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
}

/// One operation a service offers; path parameters named after canonical
/// identifiers (`{soDinhDanh}`) are validated before any upstream call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template below the version, e.g. `/citizens/{soDinhDanh}`.
    pub path: String,
}

/// A service version registered at `/api/{slug}/{version}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Stable slug, the first path segment after `/api/`.
    pub slug: Slug,
    /// Version segment, e.g. `v1`.
    pub version: String,
    /// Human-readable name.
    pub name: String,
    /// The agency that owns the data.
    pub owner: AgencyCode,
    /// Lifecycle state.
    #[serde(default)]
    pub state: ServiceState,
    /// Data class of what the service returns.
    #[serde(default)]
    pub data_class: DataClass,
    /// Minimum certified security level of callers.
    #[serde(default)]
    pub security_level: SecurityLevel,
    /// Whether the service returns personal data (purpose binding applies).
    #[serde(default)]
    pub personal_data: bool,
    /// The upstream.
    pub upstream: UpstreamSettings,
    /// Declared operations; when empty, any path below the version is passed through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
}

/// Everything the registry holds: what `lgsp apply` reads and the snapshot is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryData {
    /// Agencies.
    #[serde(default)]
    pub agencies: Vec<Agency>,
    /// Consumer systems.
    #[serde(default)]
    pub systems: Vec<System>,
    /// Services.
    #[serde(default)]
    pub services: Vec<Service>,
}
