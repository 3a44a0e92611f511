//! The decision engine: turns an access request into Cedar entities and
//! context, asks Cedar, maps the answer to an error code, and caches it.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request,
    RestrictedExpression,
};
use lgsp_contracts::ErrorCode;

use crate::DataClass;
use crate::bundle::{DEFAULT_DENY_ID, ENGINE_ERROR_ID, PolicySet};
use crate::fields::FieldFilter;

/// Most decisions kept; the purpose is caller-chosen text, so without a bound
/// one authenticated caller could grow the cache without end.
const MAX_CACHED_DECISIONS: usize = 65_536;

/// Everything a decision depends on; all of it comes from the gateway's in-memory snapshot plus two request headers, so decisions need no I/O.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// Slug of the calling system.
    pub system: &'a str,
    /// Electronic identifier code of the calling system's agency.
    pub agency: &'a str,
    /// Certified security level of the calling system (1-5).
    pub system_level: u8,
    /// Slug of the service called.
    pub service: &'a str,
    /// Security level the service requires (1-5).
    pub service_level: u8,
    /// Data class of the service.
    pub data_class: DataClass,
    /// Whether the service returns personal data.
    pub personal_data: bool,
    /// The system's subscription to the service; None when it has none.
    pub subscription: Option<SubscriptionView<'a>>,
    /// `X-LGSP-Purpose`; blank counts as absent.
    pub purpose: Option<&'a str>,
    /// Whether `X-LGSP-User` is present and non-empty.
    pub user_present: bool,
}

/// The parts of a subscription a decision reads.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionView<'a> {
    /// Whether the subscription is approved (not requested, rejected or revoked).
    pub approved: bool,
    /// The purpose codes the subscription may invoke.
    pub purposes: &'a [String],
}

/// The outcome of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The call may proceed; the answer is minimized to `fields`.
    Allow {
        /// The fields the caller may see.
        fields: FieldFilter,
    },
    /// The call is refused.
    Deny {
        /// The error code the caller receives.
        code: ErrorCode,
        /// The id of the determining policy (`default-deny` when nothing permits).
        policy: String,
        /// Why, in words safe to show the caller.
        reason: String,
    },
}

impl Decision {
    /// Whether the call may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// The engine: a PolicySet plus a decision cache.
#[derive(Debug)]
pub struct PolicyEngine {
    set: PolicySet,
    authorizer: Authorizer,
    cache: RwLock<HashMap<CacheKey, Decision>>,
    #[cfg(test)]
    evaluations: std::sync::atomic::AtomicUsize,
}

impl PolicyEngine {
    /// The policy set it decides with.
    pub fn policies(&self) -> &PolicySet {
        &self.set
    }

    /// An engine deciding with `set`, its cache empty.
    pub fn new(set: PolicySet) -> PolicyEngine {
        PolicyEngine {
            set,
            authorizer: Authorizer::new(),
            cache: RwLock::new(HashMap::new()),
            #[cfg(test)]
            evaluations: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The version of the bundle this engine decides with.
    pub fn version(&self) -> &str {
        self.set.version()
    }

    /// Decides whether the request may proceed, and with which fields.
    ///
    /// Decisions are cached per (system, service, purpose, officer present).
    /// That key leaves out the system's agency and level, the service's level,
    /// data class and personal-data flag, and the subscription: within one
    /// registry snapshot they are functions of (system, service). The gateway
    /// builds a new engine, with an empty cache, whenever the snapshot or the
    /// bundle changes; that rebuild is what makes this cache sound.
    pub fn decide(&self, request: &AccessRequest<'_>) -> Decision {
        let purpose = request.purpose.map(str::trim).filter(|p| !p.is_empty());
        let key = KeyRef {
            system: request.system,
            service: request.service,
            purpose,
            user_present: request.user_present,
        };
        if let Some(decision) = self.read_cache().get(&key as &dyn CacheKeyView) {
            return decision.clone();
        }
        let decision = self.evaluate(request, purpose);
        let mut cache = self.write_cache();
        if cache.len() >= MAX_CACHED_DECISIONS {
            cache.clear();
        }
        cache.insert(key.to_owned(), decision.clone());
        decision
    }

    /// How many decisions were evaluated rather than served from the cache.
    #[cfg(test)]
    pub(crate) fn evaluations(&self) -> usize {
        self.evaluations.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn evaluate(&self, request: &AccessRequest<'_>, purpose: Option<&str>) -> Decision {
        #[cfg(test)]
        self.evaluations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.authorize(request, purpose) {
            Ok(decision) => decision,
            Err(_) => Decision::Deny {
                code: ErrorCode::InternalError,
                policy: ENGINE_ERROR_ID.to_string(),
                reason: ErrorCode::InternalError.title().to_string(),
            },
        }
    }

    fn authorize(
        &self,
        request: &AccessRequest<'_>,
        purpose: Option<&str>,
    ) -> Result<Decision, EngineFailure> {
        let (cedar_request, entities) = cedar_inputs(request, purpose)?;
        let response = self
            .authorizer
            .is_authorized(&cedar_request, &self.set.policies, &entities);
        let diagnostics = response.diagnostics();

        // A forbid that fails to evaluate counts as applying: a broken deny
        // rule must not open the door. Permits that fail simply do not permit.
        let erroring = diagnostics.errors().map(|e| match e {
            cedar_policy::AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
        });
        let determining = match response.decision() {
            cedar_policy::Decision::Allow => None,
            cedar_policy::Decision::Deny => Some(diagnostics.reason()),
        };
        let fired = determining
            .into_iter()
            .flatten()
            .chain(erroring)
            .filter_map(|id| self.set.forbids.get_key_value(AsRef::<str>::as_ref(id)));
        let decisive = fired.min_by_key(|(_, rule)| (precedence(rule.code), rule.order));

        Ok(match (decisive, response.decision()) {
            (Some((id, rule)), _) => Decision::Deny {
                code: rule.code,
                policy: id.clone(),
                reason: rule.reason.clone(),
            },
            (None, cedar_policy::Decision::Allow) => Decision::Allow {
                fields: self.set.fields.filter_for(request.service, purpose),
            },
            (None, cedar_policy::Decision::Deny) => Decision::Deny {
                code: ErrorCode::SubscriptionRequired,
                policy: DEFAULT_DENY_ID.to_string(),
                reason: "Không có chính sách nào cho phép hệ thống gọi dịch vụ này; cần đăng ký sử dụng được phê duyệt \
                         (no policy permits this call; an approved subscription is required)."
                    .to_string(),
            },
        })
    }

    fn read_cache(&self) -> RwLockReadGuard<'_, HashMap<CacheKey, Decision>> {
        // A panic while holding the lock cannot leave a half-written entry, so
        // a poisoned cache is still a valid cache.
        self.cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, HashMap<CacheKey, Decision>> {
        self.cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The rank of a denial code: the lower, the more fundamental the problem,
/// and the earlier the caller should hear about it. Without a subscription
/// nothing else matters; a level too low cannot be fixed by any header; a
/// missing purpose or officer is fixed before a wrong purpose is worth
/// discussing. Codes a custom bundle may add come after these four.
fn precedence(code: ErrorCode) -> usize {
    const ORDER: [ErrorCode; 4] = [
        ErrorCode::SubscriptionRequired,
        ErrorCode::SecurityLevelInsufficient,
        ErrorCode::PurposeRequired,
        ErrorCode::PurposeNotAllowed,
    ];
    ORDER
        .iter()
        .position(|&c| c == code)
        .or_else(|| {
            ErrorCode::ALL
                .iter()
                .position(|&c| c == code)
                .map(|p| p + ORDER.len())
        })
        .unwrap_or(usize::MAX)
}

/// Why Cedar could not be asked; never expected, since the inputs are built
/// from typed values.
#[derive(Debug)]
struct EngineFailure;

impl<E: std::error::Error> From<E> for EngineFailure {
    fn from(_: E) -> Self {
        EngineFailure
    }
}

/// The Cedar request and entities for an access request: principal
/// `System::"<slug>"`, action `Action::"invoke"`, resource `Service::"<slug>"`.
fn cedar_inputs(
    request: &AccessRequest<'_>,
    purpose: Option<&str>,
) -> Result<(Request, Entities), EngineFailure> {
    let system = EntityUid::from_type_name_and_id(
        EntityTypeName::from_str("System")?,
        EntityId::new(request.system),
    );
    let service = EntityUid::from_type_name_and_id(
        EntityTypeName::from_str("Service")?,
        EntityId::new(request.service),
    );
    let invoke = EntityUid::from_type_name_and_id(
        EntityTypeName::from_str("Action")?,
        EntityId::new("invoke"),
    );

    let system_entity = Entity::new(
        system.clone(),
        HashMap::from([
            (
                "level".to_string(),
                RestrictedExpression::new_long(i64::from(request.system_level)),
            ),
            (
                "agency".to_string(),
                RestrictedExpression::new_string(request.agency.to_string()),
            ),
        ]),
        HashSet::new(),
    )?;
    let service_entity = Entity::new(
        service.clone(),
        HashMap::from([
            (
                "level".to_string(),
                RestrictedExpression::new_long(i64::from(request.service_level)),
            ),
            (
                "data_class".to_string(),
                RestrictedExpression::new_string(request.data_class.as_str().to_string()),
            ),
            (
                "personal_data".to_string(),
                RestrictedExpression::new_bool(request.personal_data),
            ),
        ]),
        HashSet::new(),
    )?;
    let entities = Entities::from_entities([system_entity, service_entity], None)?;

    let purpose_allowed = match (purpose, request.subscription) {
        (Some(purpose), Some(subscription)) => {
            subscription.purposes.iter().any(|p| p.trim() == purpose)
        }
        _ => false,
    };
    let context = Context::from_pairs([
        (
            "subscribed".to_string(),
            RestrictedExpression::new_bool(request.subscription.is_some()),
        ),
        (
            "approved".to_string(),
            RestrictedExpression::new_bool(request.subscription.is_some_and(|s| s.approved)),
        ),
        (
            "purpose".to_string(),
            RestrictedExpression::new_string(purpose.unwrap_or_default().to_string()),
        ),
        (
            "purpose_present".to_string(),
            RestrictedExpression::new_bool(purpose.is_some()),
        ),
        (
            "purpose_allowed".to_string(),
            RestrictedExpression::new_bool(purpose_allowed),
        ),
        (
            "user_present".to_string(),
            RestrictedExpression::new_bool(request.user_present),
        ),
    ])?;
    // No schema check per request: the inputs are built here from typed
    // values, and the bundle was validated against the schema when loaded.
    let request = Request::new(system, invoke, service, context, None)?;
    Ok((request, entities))
}

/// An owned cache key.
#[derive(Debug)]
struct CacheKey {
    system: Box<str>,
    service: Box<str>,
    purpose: Option<Box<str>>,
    user_present: bool,
}

/// A borrowed cache key, so that a cache hit allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct KeyRef<'a> {
    system: &'a str,
    service: &'a str,
    purpose: Option<&'a str>,
    user_present: bool,
}

impl KeyRef<'_> {
    fn to_owned(self) -> CacheKey {
        CacheKey {
            system: self.system.into(),
            service: self.service.into(),
            purpose: self.purpose.map(Into::into),
            user_present: self.user_present,
        }
    }
}

/// The common view of owned and borrowed keys that lets the map look up an
/// owned key by a borrowed one (`HashMap::get` needs `CacheKey: Borrow<Q>`).
trait CacheKeyView {
    fn view(&self) -> KeyRef<'_>;
}

impl CacheKeyView for CacheKey {
    fn view(&self) -> KeyRef<'_> {
        KeyRef {
            system: &self.system,
            service: &self.service,
            purpose: self.purpose.as_deref(),
            user_present: self.user_present,
        }
    }
}

impl CacheKeyView for KeyRef<'_> {
    fn view(&self) -> KeyRef<'_> {
        *self
    }
}

impl<'a> Borrow<dyn CacheKeyView + 'a> for CacheKey {
    fn borrow(&self) -> &(dyn CacheKeyView + 'a) {
        self
    }
}

// Owned and borrowed keys must hash and compare alike, so both go through the view.
impl Hash for dyn CacheKeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.view().hash(state);
    }
}

impl PartialEq for dyn CacheKeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl Eq for dyn CacheKeyView + '_ {}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.view().hash(state);
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.view() == other.view()
    }
}

impl Eq for CacheKey {}
