//! The registry's entities as the province declares them: agencies, consumer
//! systems and services with their upstream settings.
//!
//! The same types are read from `lgsp apply` files, stored, and loaded into the
//! in-memory snapshot, so a file and the store can never disagree on shape.

use lgsp_contracts::{AgencyCode, Slug};
use lgsp_policies::{DataClass, SecurityLevel};
use serde::{Deserialize, Serialize};

/// An agency (cơ quan) identified by its electronic identifier code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    /// Electronic identifier code, e.g. `000.00.00.H29`.
    #[schema(value_type = String)]
    pub code: AgencyCode,
    /// Official name, with diacritics.
    pub name: String,
    /// The parent agency, for communes under a province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<AgencyCode>,
}

/// A consumer system (one-stop desk software, sector software) owned by an agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct System {
    /// Stable slug of the system.
    #[schema(value_type = String)]
    pub slug: Slug,
    /// The owning agency.
    #[schema(value_type = String)]
    pub agency: AgencyCode,
    /// Human-readable name.
    pub name: String,
    /// Certified security level of the system.
    #[serde(default)]
    #[schema(value_type = u8)]
    pub security_level: SecurityLevel,
    /// Addresses or CIDR blocks the system may call from; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_allow: Vec<String>,
    /// Where the system stands in its connection onboarding; only live
    /// systems reach production upstreams. A file that omits it declares a
    /// live system (systems connected before onboarding was tracked).
    #[serde(default)]
    pub onboarding: OnboardingStage,
    /// Every onboarding transition, with who approved it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub onboarding_log: Vec<OnboardingStep>,
}

/// The connection onboarding of a consumer system, in the order of the
/// source documents: register, account, rights, trial, acceptance, go-live.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnboardingStage {
    /// Registered by the province; nothing callable yet.
    Registered,
    /// Holds at least one credential.
    CredentialsIssued,
    /// Holds at least one approved subscription.
    RightsGranted,
    /// Calls reach sandbox upstreams (simulators) only.
    Trial,
    /// Trial and security check passed; still sandbox only until go-live.
    Accepted,
    /// Calls reach production upstreams.
    #[default]
    Live,
}

impl OnboardingStage {
    /// Every stage, in order.
    pub const ALL: [OnboardingStage; 6] = [
        OnboardingStage::Registered,
        OnboardingStage::CredentialsIssued,
        OnboardingStage::RightsGranted,
        OnboardingStage::Trial,
        OnboardingStage::Accepted,
        OnboardingStage::Live,
    ];

    /// The stage as written in files and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            OnboardingStage::Registered => "registered",
            OnboardingStage::CredentialsIssued => "credentials_issued",
            OnboardingStage::RightsGranted => "rights_granted",
            OnboardingStage::Trial => "trial",
            OnboardingStage::Accepted => "accepted",
            OnboardingStage::Live => "live",
        }
    }

    /// The stage after this one, if any.
    pub fn next(self) -> Option<OnboardingStage> {
        let at = OnboardingStage::ALL.iter().position(|s| *s == self)?;
        OnboardingStage::ALL.get(at + 1).copied()
    }

    /// Whether calls are served (by sandbox upstreams) at this stage.
    pub fn may_call(self) -> bool {
        self >= OnboardingStage::Trial
    }
}

/// One onboarding transition of a system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnboardingStep {
    /// The stage entered.
    pub stage: OnboardingStage,
    /// Who approved it (`admin:username`, `cli:user`).
    pub by: String,
    /// When, unix milliseconds.
    pub at_ms: i64,
    /// What was checked (the trial's result, the security review's reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where a service is in its lifecycle.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
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

impl ServiceState {
    /// The state as files, the store's `state` column and the wire write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Draft => "draft",
            ServiceState::Published => "published",
            ServiceState::Deprecated => "deprecated",
            ServiceState::Retired => "retired",
            ServiceState::Blocked => "blocked",
        }
    }
}

/// How the gateway reaches a service's upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Path on the upstream's origin (e.g. `/healthz`) that channel monitoring
    /// GETs; without it the probe only connects (and shakes hands for https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
    /// Base URL of the sandbox (a simulator) that systems in trial call
    /// instead of the production upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_url: Option<String>,
}

/// One operation a service offers; path parameters named after canonical
/// identifiers (`{soDinhDanh}`) are validated before any upstream call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template below the version, e.g. `/citizens/{soDinhDanh}`.
    pub path: String,
}

/// A service version registered at `/api/{slug}/{version}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Stable slug, the first path segment after `/api/`.
    #[schema(value_type = String)]
    pub slug: Slug,
    /// Version segment, e.g. `v1`.
    pub version: String,
    /// Human-readable name.
    pub name: String,
    /// The agency that owns the data.
    #[schema(value_type = String)]
    pub owner: AgencyCode,
    /// Lifecycle state.
    #[serde(default)]
    pub state: ServiceState,
    /// The day the service was deprecated (`YYYY-MM-DD`, Asia/Ho_Chi_Minh),
    /// announced in the `Deprecation` header (RFC 9745).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_on: Option<String>,
    /// The day the service will be retired (`YYYY-MM-DD`), announced in the
    /// `Sunset` header (RFC 8594); required once it is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset_on: Option<String>,
    /// Data class of what the service returns.
    #[serde(default)]
    #[schema(value_type = String)]
    pub data_class: DataClass,
    /// Minimum certified security level of callers.
    #[serde(default)]
    #[schema(value_type = u8)]
    pub security_level: SecurityLevel,
    /// Whether the service returns personal data (purpose binding applies).
    #[serde(default)]
    pub personal_data: bool,
    /// The upstream.
    pub upstream: UpstreamSettings,
    /// Declared operations; when empty, any path below the version is passed through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    /// Scheduling class: essential services keep capacity when bulk traffic surges.
    #[serde(default)]
    pub priority: Priority,
    /// The adapter that speaks the upstream's conventions; plain REST when absent.
    #[serde(default, skip_serializing_if = "AdapterSettings::is_rest")]
    pub adapter: AdapterSettings,
    /// The contract (`citizen`, `enterprise`…) every successful answer must
    /// satisfy; an answer outside it is `CONTRACT_VIOLATION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// The contract a consumer's request body must satisfy; a body outside
    /// it is `INVALID_REQUEST` with a JSON pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_contract: Option<String>,
    /// Once-only: answers of this service are kept in the reuse store and
    /// served again while fresh, instead of asking the source (or the citizen) again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<ReuseSettings>,
    /// What the catalogue and V-APEX show about the service.
    #[serde(default, skip_serializing_if = "ServiceMetadata::is_empty")]
    pub metadata: ServiceMetadata,
    /// The imported specification the service was registered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<ServiceSpec>,
}

/// The registry metadata the source documents list for a service, beyond
/// what routing needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceMetadata {
    /// What the service does, for the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Design data: the data model, the standards followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<String>,
    /// Deployment data: where the provider runs it, its environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Promised quality of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
    /// Name of the rate plan offered to subscribers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_plan: Option<String>,
    /// Fields of the answer that are personal data (`soDinhDanh`, `hoTen`…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub personal_data_fields: Vec<String>,
    /// Purpose codes the service may be called for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_purposes: Vec<String>,
    /// Who to call about the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Contact>,
}

impl ServiceMetadata {
    /// Whether nothing is set (omitted when written out).
    pub fn is_empty(&self) -> bool {
        *self == ServiceMetadata::default()
    }
}

/// A service's promised quality of service.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    /// Monthly availability, in percent.
    pub availability_percent: f64,
    /// Answer time promised for 95% of calls, in milliseconds.
    pub response_time_ms: u64,
}

impl Eq for Sla {}

/// A contact person for a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Full name.
    pub name: String,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Telephone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// What they answer for (technical, business).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// An imported specification, kept with the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// `openapi` or `wsdl`.
    pub format: String,
    /// The document's own version (`info.version`), if it states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// SHA-256 of the document as imported, lowercase hex.
    pub sha256: String,
    /// The document as OpenAPI 3.1 (WSDL imports are described in it).
    #[schema(value_type = Object)]
    pub openapi: serde_json::Value,
}

/// How a service's answers are reused (`reuse = { data_type = "citizen", fresh_for_secs = 86400 }`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReuseSettings {
    /// The kind of data item the answer is (`citizen`, `birth-record`…), as listed to one-stop desks.
    pub data_type: String,
    /// How long an answer stays fresh enough to serve again, in seconds (the data type's validity period).
    pub fresh_for_secs: u64,
}

/// Which adapter calls a service's upstream, with its per-service settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdapterSettings {
    /// Plain HTTP: the request streams through unchanged.
    #[default]
    Rest,
    /// NDXP, the national integration platform: the province's token and
    /// the consumer's identity in headers (`[ndxp]` in the node config).
    Ndxp {
        /// NDXP's code of the service, sent as `X-NDXP-Service`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service_code: Option<String>,
        /// An XML-inside-JSON mapping from `contracts/xml/` for services whose
        /// payload is XML in a JSON member; JSON services have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mapping: Option<String>,
    },
    /// NDOP, the National Data Center's platform: mTLS and signed requests
    /// and answers (`[ndop]` in the node config).
    Ndop,
    /// SOAP 1.1 or 1.2 by a mapping from `contracts/soap/`.
    Soap {
        /// The mapping's name, e.g. `enterprise-lookup`.
        mapping: String,
    },
    /// Served by the gateway itself from its reuse store (`/api/reuse/v1`):
    /// no upstream is called; the service's URL is not used.
    Reuse,
}

impl AdapterSettings {
    /// Whether this is the default REST adapter (omitted when written out).
    pub fn is_rest(&self) -> bool {
        *self == AdapterSettings::Rest
    }

    /// The adapter's name, as metrics and errors show it.
    pub fn kind(&self) -> &'static str {
        match self {
            AdapterSettings::Rest => "rest",
            AdapterSettings::Ndxp { .. } => "ndxp",
            AdapterSettings::Ndop => "ndop",
            AdapterSettings::Soap { .. } => "soap",
            AdapterSettings::Reuse => "reuse",
        }
    }

    /// The XML or SOAP mapping the adapter translates with, if any.
    pub fn mapping(&self) -> Option<&str> {
        match self {
            AdapterSettings::Ndxp { mapping, .. } => mapping.as_deref(),
            AdapterSettings::Soap { mapping } => Some(mapping),
            AdapterSettings::Rest | AdapterSettings::Ndop | AdapterSettings::Reuse => None,
        }
    }
}

/// Scheduling class of a service (002:4261-4265 "priority policies", 000:439).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Essential services (population lookups for procedures): reserved capacity.
    Essential,
    /// Ordinary services.
    #[default]
    Standard,
    /// Bulk and batch traffic: first to be held back.
    Bulk,
}

/// A credential that authenticates a consumer system. Secrets are stored only as hashes.
///
/// Unknown keys are refused by [`CredentialKind`]: serde cannot refuse them on
/// a struct that flattens another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    /// Stable identifier of the credential, e.g. `motcua-xa-my-hiep-oauth`.
    #[schema(value_type = String)]
    pub id: Slug,
    /// The system it authenticates.
    #[schema(value_type = String)]
    pub system: Slug,
    /// What kind of credential, with its hashed material.
    #[serde(flatten)]
    pub kind: CredentialKind,
    /// A revoked credential no longer authenticates.
    #[serde(default)]
    pub revoked: bool,
}

/// The kinds of credential a system may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialKind {
    /// OAuth2 client credentials; the secret as an argon2id PHC string.
    ClientSecret {
        /// The public client id.
        client_id: String,
        /// argon2id hash of the client secret.
        secret_hash: String,
    },
    /// An API key sent as `X-API-Key`; stored as SHA-256 hex (keys are random and long).
    ApiKey {
        /// SHA-256 of the key, lowercase hex.
        key_hash: String,
    },
    /// A client certificate for mTLS, bound by the SHA-256 fingerprint of its DER encoding.
    Certificate {
        /// SHA-256 of the certificate's DER, lowercase hex.
        fingerprint: String,
    },
}

/// Where a subscription is in its approval flow.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Asked for, not yet decided.
    #[default]
    Requested,
    /// Approved: calls pass.
    Approved,
    /// Refused.
    Rejected,
    /// Withdrawn after approval.
    Revoked,
}

impl SubscriptionState {
    /// The state as files, the store's `state` column and the wire write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Requested => "requested",
            SubscriptionState::Approved => "approved",
            SubscriptionState::Rejected => "rejected",
            SubscriptionState::Revoked => "revoked",
        }
    }
}

/// The rate plan of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Sustained calls per second.
    pub rate_per_second: f64,
    /// Calls allowed in a burst above the sustained rate.
    pub burst: u32,
    /// Calls per calendar day (Asia/Ho_Chi_Minh), if capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_quota: Option<u64>,
}

impl Eq for Plan {}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            rate_per_second: 10.0,
            burst: 20,
            daily_quota: None,
        }
    }
}

/// A system's subscription to a service (all versions of its slug).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// The consumer system.
    #[schema(value_type = String)]
    pub system: Slug,
    /// The service slug.
    #[schema(value_type = String)]
    pub service: Slug,
    /// Approval state; only approved subscriptions pass.
    #[serde(default)]
    pub state: SubscriptionState,
    /// Rate plan.
    #[serde(default)]
    pub plan: Plan,
    /// Purpose codes the system may invoke the service for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purposes: Vec<String>,
    /// Whether the system may write back procedure results and invalidate
    /// items through the reuse service (`/api/reuse/v1`); reading needs no more.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub write_back: bool,
}

/// A versioned policy bundle: Cedar policies and per-purpose field rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBundle {
    /// Version label, e.g. `2026-11-24.1`.
    pub version: String,
    /// Cedar policy text.
    pub cedar: String,
    /// Field rules (TOML text, see `policies/README.md`).
    #[serde(default)]
    pub fields: String,
}

impl RegistryData {
    /// Sorts every list by its key. Done in Rust rather than by ORDER BY:
    /// PostgreSQL collations ignore punctuation, which would order slugs
    /// differently from SQLite.
    pub fn sort(&mut self) {
        self.agencies.sort_by(|a, b| a.code.cmp(&b.code));
        self.systems.sort_by(|a, b| a.slug.cmp(&b.slug));
        self.services
            .sort_by(|a, b| (&a.slug, &a.version).cmp(&(&b.slug, &b.version)));
        self.credentials.sort_by(|a, b| a.id.cmp(&b.id));
        self.subscriptions
            .sort_by(|a, b| (&a.system, &a.service).cmp(&(&b.system, &b.service)));
    }

    /// Replaces or adds every entity of `changes` (the policy too), keeping
    /// the lists sorted: what a node does with the rows written since its snapshot.
    pub fn merge(&mut self, changes: RegistryData) {
        // The held lists are sorted: each change is a binary search and at
        // most one insertion, not a re-sort of ten thousand entries.
        fn merge_by<T>(
            into: &mut Vec<T>,
            changed: Vec<T>,
            order: impl Fn(&T, &T) -> std::cmp::Ordering,
        ) {
            for item in changed {
                match into.binary_search_by(|held| order(held, &item)) {
                    Ok(at) => into[at] = item,
                    Err(at) => into.insert(at, item),
                }
            }
        }
        merge_by(&mut self.agencies, changes.agencies, |a, b| {
            a.code.cmp(&b.code)
        });
        merge_by(&mut self.systems, changes.systems, |a, b| {
            a.slug.cmp(&b.slug)
        });
        merge_by(&mut self.services, changes.services, |a, b| {
            (&a.slug, &a.version).cmp(&(&b.slug, &b.version))
        });
        merge_by(&mut self.credentials, changes.credentials, |a, b| {
            a.id.cmp(&b.id)
        });
        merge_by(&mut self.subscriptions, changes.subscriptions, |a, b| {
            (&a.system, &a.service).cmp(&(&b.system, &b.service))
        });
        self.policy = changes.policy;
    }
}

/// Everything the registry holds: what `lgsp apply` reads and the snapshot is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Credentials of systems.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// Subscriptions of systems to services.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// The policy bundle in force; the built-in default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyBundle>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(toml_text: &str) -> RegistryData {
        toml::from_str(toml_text).expect("registry")
    }

    #[test]
    fn merge_replaces_by_key_adds_new_and_keeps_order() {
        let mut held = data(
            "[[agencies]]\ncode='000.00.00.H29'\nname='Tỉnh'\n\
             [[services]]\nslug='b'\nversion='v1'\nname='B'\nowner='000.00.00.H29'\nupstream={url='http://x'}\n\
             [[services]]\nslug='d'\nversion='v1'\nname='D'\nowner='000.00.00.H29'\nupstream={url='http://x'}\n",
        );
        let changes = data(
            "[[services]]\nslug='d'\nversion='v1'\nname='D2'\nowner='000.00.00.H29'\nstate='retired'\nupstream={url='http://x'}\n\
             [[services]]\nslug='a'\nversion='v2'\nname='A'\nowner='000.00.00.H29'\nupstream={url='http://x'}\n",
        );
        held.merge(changes);
        let names: Vec<(&str, &str, &str)> = held
            .services
            .iter()
            .map(|s| (s.slug.as_str(), s.version.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [("a", "v2", "A"), ("b", "v1", "B"), ("d", "v1", "D2")]
        );
        assert_eq!(held.services[2].state, ServiceState::Retired);
        assert_eq!(held.agencies.len(), 1, "entities not in the changes stay");
    }
}
