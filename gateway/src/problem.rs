//! The gateway's errors, and the one place where they become RFC 9457
//! problem responses. Stages return [`GatewayError`]; nothing else in the
//! gateway builds an error response.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use lgsp_adapters::AdapterError;
use lgsp_contracts::ErrorCode;
use serde::Serialize;
use std::time::Duration;

/// Why the gateway refused or failed an exchange.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Nothing is registered at the path.
    #[error("no service is registered at {0}")]
    ServiceNotFound(String),
    /// The service version is retired.
    #[error("service {0} has been retired")]
    ServiceRetired(String),
    /// The province has blocked all traffic to the service.
    #[error("service {0} is blocked by the province")]
    ServiceBlocked(String),
    /// The reuse store holds no fresh item of the kind asked for; the text is safe to show.
    #[error("{0}")]
    DataNotFound(String),
    /// The request is malformed; the text is safe to show.
    #[error("{0}")]
    InvalidRequest(String),
    /// A member of the request body breaks the service's request contract.
    #[error("request member {} {reason}", if pointer.is_empty() { "/" } else { pointer })]
    InvalidMember {
        /// JSON pointer (RFC 6901) of the offending member; `""` is the whole body.
        pointer: String,
        /// What is wrong, without quoting the value.
        reason: String,
    },
    /// The request body is larger than allowed.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The caller could not be authenticated; the reason is logged, never shown,
    /// so that a caller cannot learn which client ids or keys exist.
    #[error("authentication failed: {0}")]
    Unauthenticated(String),
    /// An authenticated admin-plane caller whose role may not do this; the text is safe to show.
    #[error("{0}")]
    Forbidden(String),
    /// The caller's address is outside its system's allow-list.
    #[error("calls from this address are not allowed for this system")]
    IpDisallowed,
    /// The policy engine refused the call.
    #[error("{detail}")]
    Denied {
        /// The code of the determining policy.
        code: ErrorCode,
        /// Why, safe to show.
        detail: String,
    },
    /// Over the rate of the subscription's plan, or the priority class is full.
    #[error("over the allowed rate; retry after {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// When a retry may pass.
        retry_after: Duration,
    },
    /// Over the daily quota.
    #[error("daily quota exhausted; it resets in {} s", retry_after.as_secs().max(1))]
    QuotaExceeded {
        /// Until the quota resets.
        retry_after: Duration,
    },
    /// The shared rate-limit state is unreachable and the policy is to fail closed.
    #[error("rate-limit state is unavailable; calls are refused until it is back")]
    LimiterUnavailable,
    /// The upstream answered outside its contract; the detail is logged only.
    #[error("upstream answer outside its contract: {0}")]
    ContractViolation(String),
    /// The exchange's audit record could not be made durable.
    #[error("the audit record could not be written; no answer is given without evidence")]
    AuditUnavailable,
    /// The upstream call failed.
    #[error(transparent)]
    Upstream(#[from] AdapterError),
    /// The whole exchange took longer than the gateway allows.
    #[error("the exchange exceeded the gateway's bound of {0:?}")]
    Deadline(Duration),
    /// A fault inside the gateway; the text is logged, never shown.
    #[error("internal fault: {0}")]
    Internal(String),
    /// The consumer system's onboarding does not admit this call; the text is safe to show.
    #[error("{0}")]
    OnboardingIncomplete(String),
    /// An admin-plane entity that does not exist; the text is safe to show.
    #[error("{0}")]
    NotFound(String),
    /// The entity's state does not allow the change; the text is safe to show.
    #[error("{0}")]
    Conflict(String),
    /// A specification breaks the V-APEX conventions.
    #[error("the specification breaks {} V-APEX convention(s)", .0.len())]
    ConformanceFailed(Vec<Finding>),
    /// The node is in maintenance mode; the operator's reason is shown.
    #[error("the gateway node is under maintenance{}", .0.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Maintenance(Option<String>),
}

impl From<lgsp_contracts::InvalidRequest> for GatewayError {
    /// A request body outside its contract: the first offending member.
    fn from(refusal: lgsp_contracts::InvalidRequest) -> Self {
        GatewayError::InvalidMember {
            pointer: refusal.pointer().to_string(),
            reason: refusal
                .violations
                .first()
                .map(|v| v.message.clone())
                .unwrap_or_default(),
        }
    }
}

impl GatewayError {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            GatewayError::ServiceNotFound(_) => ErrorCode::ServiceNotFound,
            GatewayError::DataNotFound(_) => ErrorCode::DataNotFound,
            GatewayError::ServiceRetired(_) => ErrorCode::ServiceRetired,
            GatewayError::ServiceBlocked(_) => ErrorCode::UpstreamUnavailable,
            GatewayError::InvalidRequest(_) | GatewayError::InvalidMember { .. } => {
                ErrorCode::InvalidRequest
            }
            GatewayError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            GatewayError::Unauthenticated(_) => ErrorCode::AuthenError,
            GatewayError::Forbidden(_) => ErrorCode::Forbidden,
            GatewayError::IpDisallowed => ErrorCode::IpDisallowed,
            GatewayError::Denied { code, .. } => *code,
            GatewayError::RateLimited { .. } | GatewayError::LimiterUnavailable => {
                ErrorCode::RateLimited
            }
            GatewayError::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            GatewayError::AuditUnavailable => ErrorCode::AuditUnavailable,
            GatewayError::ContractViolation(_) => ErrorCode::ContractViolation,
            GatewayError::Upstream(e) => match e {
                AdapterError::Timeout(_) => ErrorCode::UpstreamTimeout,
                AdapterError::CircuitOpen { .. } => ErrorCode::UpstreamUnavailable,
                AdapterError::RequestTooLarge { .. } => ErrorCode::PayloadTooLarge,
                AdapterError::TokenUnavailable(_) => ErrorCode::UpstreamUnavailable,
                AdapterError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
                AdapterError::ResponseTooLarge { .. }
                | AdapterError::Transport(_)
                | AdapterError::Status { .. }
                | AdapterError::InvalidUrl(_)
                | AdapterError::Rejected { .. }
                | AdapterError::BadSignature(_)
                | AdapterError::Fault { .. }
                | AdapterError::Malformed(_) => ErrorCode::UpstreamError,
            },
            GatewayError::Deadline(_) => ErrorCode::UpstreamTimeout,
            GatewayError::Internal(_) => ErrorCode::InternalError,
            GatewayError::Maintenance(_) => ErrorCode::Maintenance,
            GatewayError::OnboardingIncomplete(_) => ErrorCode::OnboardingIncomplete,
            GatewayError::NotFound(_) => ErrorCode::NotFound,
            GatewayError::Conflict(_) => ErrorCode::Conflict,
            GatewayError::ConformanceFailed(_) => ErrorCode::ConformanceFailed,
        }
    }

    /// What the caller is told. Upstream internals (addresses, library
    /// messages) stay in the log.
    fn detail(&self) -> String {
        match self {
            GatewayError::Upstream(e) => match e {
                AdapterError::Timeout(d) => {
                    format!("the upstream did not answer within {} ms", d.as_millis())
                }
                AdapterError::CircuitOpen { .. } => {
                    "the upstream is failing; calls are paused to let it recover, try again shortly"
                        .into()
                }
                AdapterError::RequestTooLarge { limit } => {
                    format!("request body exceeds the limit of {limit} bytes")
                }
                AdapterError::ResponseTooLarge { limit } => {
                    format!("the upstream's answer exceeds the limit of {limit} bytes")
                }
                AdapterError::Transport(_) => {
                    "the upstream could not be reached or closed the connection".into()
                }
                AdapterError::Status { status } => {
                    format!("the upstream answered with status {status}")
                }
                AdapterError::InvalidUrl(_) => "the service's upstream is misconfigured".into(),
                AdapterError::TokenUnavailable(_) => {
                    "the national platform's token service is unavailable; try again shortly".into()
                }
                AdapterError::Rejected { .. } => {
                    "the upstream platform refused the province's credentials; operators have been told in the log".into()
                }
                AdapterError::BadSignature(_) => {
                    "the upstream's answer failed signature verification and was discarded".into()
                }
                AdapterError::Fault { code, reason } => {
                    format!("the upstream answered with fault {code}: {reason}")
                }
                AdapterError::Malformed(_) => "the upstream's answer could not be read".into(),
                AdapterError::InvalidRequest { pointer, reason } => format!(
                    "request member {} {reason}",
                    if pointer.is_empty() { "/" } else { pointer }
                ),
            },
            GatewayError::Internal(_) => {
                "the gateway failed to handle the request; it has been logged".into()
            }
            GatewayError::Unauthenticated(_) => {
                "missing, invalid or expired credentials (data plane: a token from /oauth2/token or a valid X-API-Key; admin plane: a session from /admin/v1/login)".into()
            }
            GatewayError::ContractViolation(_) => "the upstream's answer did not match its contract".into(),
            other => other.to_string(),
        }
    }
}

/// The body of a problem response (RFC 9457 with the gateway's extensions).
#[derive(Debug, Serialize)]
pub struct Problem {
    /// URI naming the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Vietnamese title of the code.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What happened, safe to show.
    pub detail: String,
    /// Stable code.
    pub code: ErrorCode,
    /// The exchange's request id.
    pub request_id: String,
    /// The upstream's status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_status: Option<u16>,
    /// JSON pointer (RFC 6901) of the request member at fault, for `INVALID_REQUEST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Every breach, for `CONFORMANCE_FAILED` (RFC 9457's `errors` extension).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<Finding>,
}

/// One place a document breaks a rule: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// JSON pointer (RFC 6901) into the document.
    pub pointer: String,
    /// The rule and what to fix.
    pub detail: String,
}

/// Turns an error into its problem response. This is the only place that does.
pub fn problem_response(error: &GatewayError, request_id: &str) -> Response {
    let code = error.code();
    let upstream_status = match error {
        GatewayError::Upstream(e) => e.upstream_status(),
        _ => None,
    };
    let problem = Problem {
        type_uri: code.type_uri(),
        title: code.title(),
        status: code.status(),
        detail: error.detail(),
        code,
        request_id: request_id.to_string(),
        upstream_status,
        pointer: match error {
            GatewayError::InvalidMember { pointer, .. }
            | GatewayError::Upstream(AdapterError::InvalidRequest { pointer, .. }) => {
                Some(pointer.clone())
            }
            _ => None,
        },
        errors: match error {
            GatewayError::ConformanceFailed(findings) => findings.clone(),
            _ => Vec::new(),
        },
    };
    let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    let retry_after = match error {
        GatewayError::RateLimited { retry_after } | GatewayError::QuotaExceeded { retry_after } => {
            Some(*retry_after)
        }
        GatewayError::LimiterUnavailable | GatewayError::AuditUnavailable => {
            Some(Duration::from_secs(1))
        }
        // Long enough for a load balancer to move the caller to another node.
        GatewayError::Maintenance(_) => Some(Duration::from_secs(30)),
        _ if code == ErrorCode::UpstreamUnavailable => Some(Duration::from_secs(5)),
        _ => None,
    };
    if let Some(after) = retry_after {
        // Whole seconds, rounded up, never 0: a client must not retry at once.
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    if code == ErrorCode::AuthenError {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"lgsp\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(error: GatewayError) -> (u16, serde_json::Value) {
        let response = problem_response(&error, "req-1");
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn problem_has_rfc9457_members_and_code() {
        let (status, body) = body_of(GatewayError::ServiceNotFound("/api/x/v1".into())).await;
        assert_eq!(status, 404);
        assert_eq!(body["code"], "SERVICE_NOT_FOUND");
        assert_eq!(body["status"], 404);
        assert_eq!(body["request_id"], "req-1");
        assert_eq!(body["title"], "Không tìm thấy dịch vụ");
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("service-not-found"))
        );
    }

    #[tokio::test]
    async fn authentication_failures_do_not_say_why() {
        let response = problem_response(
            &GatewayError::Unauthenticated("unknown client id motcua-x".into()),
            "r",
        );
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let (status, body) = body_of(GatewayError::Unauthenticated(
            "unknown client id motcua-x".into(),
        ))
        .await;
        assert_eq!((status, body["code"].as_str()), (401, Some("AUTHEN_ERROR")));
        assert!(!body.to_string().contains("motcua-x"));
    }

    #[tokio::test]
    async fn forbidden_is_403_with_its_code() {
        let (status, body) = body_of(GatewayError::Forbidden(
            "the auditor role is required".into(),
        ))
        .await;
        assert_eq!((status, body["code"].as_str()), (403, Some("FORBIDDEN")));
        assert_eq!(body["title"], "Không có quyền thực hiện thao tác này");
        assert_eq!(body["detail"], "the auditor role is required");
    }

    #[tokio::test]
    async fn rate_refusals_carry_retry_after_rounded_up() {
        let response = problem_response(
            &GatewayError::RateLimited {
                retry_after: Duration::from_millis(1200),
            },
            "r",
        );
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = problem_response(
            &GatewayError::QuotaExceeded {
                retry_after: Duration::from_secs(3600),
            },
            "r",
        );
        assert_eq!(response.headers()[header::RETRY_AFTER], "3600");
    }

    #[tokio::test]
    async fn upstream_internals_are_not_leaked() {
        let error = GatewayError::Upstream(AdapterError::Transport(
            "tcp connect error 10.9.8.7:443".into(),
        ));
        let (status, body) = body_of(error).await;
        assert_eq!(status, 502);
        assert_eq!(body["code"], "UPSTREAM_ERROR");
        assert!(!body.to_string().contains("10.9.8.7"));
    }

    #[tokio::test]
    async fn each_adapter_error_has_its_code() {
        let cases = [
            (
                AdapterError::Timeout(Duration::from_millis(5)),
                504,
                "UPSTREAM_TIMEOUT",
            ),
            (
                AdapterError::CircuitOpen {
                    upstream: "u".into(),
                },
                503,
                "UPSTREAM_UNAVAILABLE",
            ),
            (
                AdapterError::RequestTooLarge { limit: 1 },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (AdapterError::Status { status: 500 }, 502, "UPSTREAM_ERROR"),
        ];
        for (error, status, code) in cases {
            let (s, body) = body_of(GatewayError::Upstream(error)).await;
            assert_eq!((s, body["code"].as_str()), (status, Some(code)));
        }
    }
}
