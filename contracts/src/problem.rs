//! The stable error codes of RFC 9457 problem responses (DESIGN.md, "Errors").
//!
//! The codes are part of the public contract: clients branch on them, so they
//! never change spelling. Titles are Vietnamese, as the consumers are.

use serde::{Deserialize, Serialize};

/// A stable, UPPER_SNAKE error code carried in every problem response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// Missing or invalid credentials.
    AuthenError,
    /// Caller's address is outside its allow-list.
    IpDisallowed,
    /// No approved subscription for this service.
    SubscriptionRequired,
    /// The system's certified security level is below the service's.
    SecurityLevelInsufficient,
    /// Personal data was requested without a purpose.
    PurposeRequired,
    /// The stated purpose is not allowed for this service.
    PurposeNotAllowed,
    /// No service is registered at this path.
    ServiceNotFound,
    /// The service existed but has been retired.
    ServiceRetired,
    /// Over the rate limit.
    RateLimited,
    /// Over the daily quota.
    QuotaExceeded,
    /// Request body larger than allowed.
    PayloadTooLarge,
    /// Malformed request (for example a malformed personal ID).
    InvalidRequest,
    /// The upstream answered outside its contract.
    ContractViolation,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream is unavailable (circuit open).
    UpstreamUnavailable,
    /// The upstream failed.
    UpstreamError,
    /// The gateway is in maintenance mode.
    Maintenance,
    /// The gateway itself failed; never expected, always logged.
    InternalError,
    /// An authenticated admin-plane caller whose role may not do this.
    Forbidden,
    /// The audit record could not be made durable, so no answer is given.
    AuditUnavailable,
    /// The reuse store holds no fresh item of that kind about the subject.
    DataNotFound,
    /// The consumer system has not reached the onboarding stage the call needs.
    OnboardingIncomplete,
    /// An admin-plane entity that does not exist.
    NotFound,
    /// The entity's current state does not allow the change (lifecycle, onboarding).
    Conflict,
    /// A specification breaks the V-APEX conventions; the findings say where.
    ConformanceFailed,
}

impl ErrorCode {
    /// Every code, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 25] = [
        ErrorCode::AuthenError,
        ErrorCode::IpDisallowed,
        ErrorCode::SubscriptionRequired,
        ErrorCode::SecurityLevelInsufficient,
        ErrorCode::PurposeRequired,
        ErrorCode::PurposeNotAllowed,
        ErrorCode::ServiceNotFound,
        ErrorCode::ServiceRetired,
        ErrorCode::RateLimited,
        ErrorCode::QuotaExceeded,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidRequest,
        ErrorCode::ContractViolation,
        ErrorCode::UpstreamTimeout,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::UpstreamError,
        ErrorCode::Maintenance,
        ErrorCode::InternalError,
        ErrorCode::Forbidden,
        ErrorCode::AuditUnavailable,
        ErrorCode::DataNotFound,
        ErrorCode::OnboardingIncomplete,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::ConformanceFailed,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AuthenError => "AUTHEN_ERROR",
            ErrorCode::IpDisallowed => "IP_DISALLOWED",
            ErrorCode::SubscriptionRequired => "SUBSCRIPTION_REQUIRED",
            ErrorCode::SecurityLevelInsufficient => "SECURITY_LEVEL_INSUFFICIENT",
            ErrorCode::PurposeRequired => "PURPOSE_REQUIRED",
            ErrorCode::PurposeNotAllowed => "PURPOSE_NOT_ALLOWED",
            ErrorCode::ServiceNotFound => "SERVICE_NOT_FOUND",
            ErrorCode::ServiceRetired => "SERVICE_RETIRED",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::QuotaExceeded => "QUOTA_EXCEEDED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::ContractViolation => "CONTRACT_VIOLATION",
            ErrorCode::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorCode::UpstreamError => "UPSTREAM_ERROR",
            ErrorCode::Maintenance => "MAINTENANCE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::AuditUnavailable => "AUDIT_UNAVAILABLE",
            ErrorCode::DataNotFound => "DATA_NOT_FOUND",
            ErrorCode::OnboardingIncomplete => "ONBOARDING_INCOMPLETE",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::ConformanceFailed => "CONFORMANCE_FAILED",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::AuthenError => 401,
            ErrorCode::IpDisallowed
            | ErrorCode::SubscriptionRequired
            | ErrorCode::SecurityLevelInsufficient
            | ErrorCode::PurposeNotAllowed
            | ErrorCode::Forbidden
            | ErrorCode::OnboardingIncomplete => 403,
            ErrorCode::PurposeRequired | ErrorCode::InvalidRequest => 400,
            ErrorCode::ServiceNotFound | ErrorCode::DataNotFound | ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::ConformanceFailed => 422,
            ErrorCode::ServiceRetired => 410,
            ErrorCode::RateLimited | ErrorCode::QuotaExceeded => 429,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::ContractViolation | ErrorCode::UpstreamError => 502,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::UpstreamUnavailable
            | ErrorCode::Maintenance
            | ErrorCode::AuditUnavailable => 503,
            ErrorCode::InternalError => 500,
        }
    }

    /// The Vietnamese title shown to consumers.
    pub fn title(self) -> &'static str {
        match self {
            ErrorCode::AuthenError => "Xác thực không thành công",
            ErrorCode::IpDisallowed => "Địa chỉ IP không được phép truy cập",
            ErrorCode::SubscriptionRequired => "Hệ thống chưa được cấp quyền sử dụng dịch vụ",
            ErrorCode::SecurityLevelInsufficient => "Cấp độ an toàn thông tin không đủ",
            ErrorCode::PurposeRequired => "Thiếu mục đích sử dụng dữ liệu",
            ErrorCode::PurposeNotAllowed => "Mục đích sử dụng dữ liệu không được phép",
            ErrorCode::ServiceNotFound => "Không tìm thấy dịch vụ",
            ErrorCode::DataNotFound => "Không có dữ liệu còn hiệu lực để tái sử dụng",
            ErrorCode::OnboardingIncomplete => "Hệ thống chưa hoàn tất quy trình kết nối",
            ErrorCode::NotFound => "Không tìm thấy đối tượng",
            ErrorCode::Conflict => "Trạng thái hiện tại không cho phép thao tác này",
            ErrorCode::ConformanceFailed => "Đặc tả chưa đạt quy ước V-APEX",
            ErrorCode::ServiceRetired => "Dịch vụ đã ngừng cung cấp",
            ErrorCode::RateLimited => "Vượt quá tần suất gọi cho phép",
            ErrorCode::QuotaExceeded => "Vượt quá hạn mức sử dụng trong ngày",
            ErrorCode::PayloadTooLarge => "Dữ liệu gửi lên vượt quá kích thước cho phép",
            ErrorCode::InvalidRequest => "Yêu cầu không hợp lệ",
            ErrorCode::ContractViolation => "Dữ liệu trả về từ hệ thống nguồn không đúng chuẩn",
            ErrorCode::UpstreamTimeout => "Hệ thống nguồn không phản hồi kịp thời",
            ErrorCode::UpstreamUnavailable => "Hệ thống nguồn tạm thời không khả dụng",
            ErrorCode::UpstreamError => "Hệ thống nguồn gặp lỗi",
            ErrorCode::Maintenance => "Hệ thống đang bảo trì",
            ErrorCode::InternalError => "Lỗi nội bộ của nền tảng",
            ErrorCode::Forbidden => "Không có quyền thực hiện thao tác này",
            ErrorCode::AuditUnavailable => {
                "Không ghi được nhật ký truy cập; yêu cầu chưa được thực hiện"
            }
        }
    }

    /// The `type` URI of the problem, stable per code.
    pub fn type_uri(self) -> String {
        format!(
            "https://lgsp.gov.vn/problems/{}",
            self.as_str().to_ascii_lowercase().replace('_', "-")
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).expect("serialize");
            assert_eq!(json, serde_json::Value::String(code.as_str().to_string()));
        }
    }

    #[test]
    fn statuses_follow_design() {
        assert_eq!(ErrorCode::RateLimited.status(), 429);
        assert_eq!(ErrorCode::ServiceRetired.status(), 410);
        assert_eq!(ErrorCode::UpstreamUnavailable.status(), 503);
        assert_eq!(ErrorCode::ContractViolation.status(), 502);
        assert_eq!(ErrorCode::Forbidden.status(), 403);
        assert_eq!(ErrorCode::Forbidden.as_str(), "FORBIDDEN");
        assert!(
            ErrorCode::ALL
                .iter()
                .all(|c| (400..600).contains(&c.status()))
        );
    }
}
