//! `lgsp demo`: the simulators, a gateway on an embedded store, a demo
//! province with three communes and one commune system, the national services
//! registered behind the simulators, a manifest for scripts, and a curl tour.

use crate::registry::model::{
    Agency, Operation, Priority, RegistryData, Service, ServiceState, System, UpstreamSettings,
};
use lgsp_contracts::{AgencyCode, Slug};
use lgsp_policies::{DataClass, SecurityLevel};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// The demo province's agency code.
pub const PROVINCE: &str = "000.00.00.H29";

fn agency(code: &str, name: &str, parent: Option<&str>) -> Option<Agency> {
    Some(Agency {
        code: AgencyCode::parse(code).ok()?,
        name: name.into(),
        parent: parent.and_then(|p| AgencyCode::parse(p).ok()),
    })
}

struct NationalService {
    slug: &'static str,
    name: &'static str,
    owner: &'static str,
    upstream_path: &'static str,
    method: &'static str,
    operation: &'static str,
    personal_data: bool,
    data_class: DataClass,
    level: u8,
}

const NATIONAL_SERVICES: [NationalService; 4] = [
    NationalService {
        slug: "population",
        name: "Tra cứu thông tin công dân (CSDL quốc gia về dân cư)",
        owner: "000.00.00.G01",
        upstream_path: "/population/v1",
        method: "GET",
        operation: "/citizens/{soDinhDanh}",
        personal_data: true,
        data_class: DataClass::Confidential,
        level: 3,
    },
    NationalService {
        slug: "civil-status",
        name: "Tra cứu dữ liệu hộ tịch điện tử",
        owner: "000.00.00.G12",
        upstream_path: "/civil-status/v1",
        method: "POST",
        operation: "/records",
        personal_data: true,
        data_class: DataClass::Confidential,
        level: 3,
    },
    NationalService {
        slug: "enterprise",
        name: "Tra cứu thông tin đăng ký doanh nghiệp",
        owner: "000.00.00.G09",
        upstream_path: "/enterprise/v1",
        method: "GET",
        operation: "/enterprises/{maDoanhNghiep}",
        personal_data: false,
        data_class: DataClass::Public,
        level: 1,
    },
    NationalService {
        slug: "social-insurance",
        name: "Tra cứu thông tin hộ gia đình tham gia BHXH, BHYT",
        owner: "000.00.00.G22",
        upstream_path: "/social-insurance/v1",
        method: "GET",
        operation: "/households/{soDinhDanh}",
        personal_data: true,
        data_class: DataClass::Confidential,
        level: 2,
    },
];

/// The demo registry, with the national services behind the simulators at `mock`.
pub fn registry(mock: SocketAddr) -> RegistryData {
    let agencies = [
        agency(PROVINCE, "UBND tỉnh (tỉnh mẫu H29)", None),
        agency("000.01.00.H29", "UBND xã Mỹ Hiệp", Some(PROVINCE)),
        agency("000.02.00.H29", "UBND xã Tân Phú Đông", Some(PROVINCE)),
        agency("000.03.00.H29", "UBND phường Cao Lãnh", Some(PROVINCE)),
        agency("000.00.00.G01", "Bộ Công an", None),
        agency("000.00.00.G12", "Bộ Tư pháp", None),
        agency("000.00.00.G09", "Bộ Tài chính", None),
        agency("000.00.00.G22", "Bảo hiểm xã hội Việt Nam", None),
    ];
    let systems = [(
        "motcua-xa-my-hiep",
        "000.01.00.H29",
        "Phần mềm một cửa xã Mỹ Hiệp",
        3,
    )]
    .into_iter()
    .filter_map(|(slug, agency, name, level)| {
        Some(System {
            slug: Slug::parse(slug).ok()?,
            agency: AgencyCode::parse(agency).ok()?,
            name: name.into(),
            security_level: SecurityLevel::new(level).ok()?,
            ip_allow: Vec::new(),
        })
    });
    let services = NATIONAL_SERVICES.iter().filter_map(|s| {
        Some(Service {
            slug: Slug::parse(s.slug).ok()?,
            version: "v1".into(),
            name: s.name.into(),
            owner: AgencyCode::parse(s.owner).ok()?,
            state: ServiceState::Published,
            data_class: s.data_class,
            security_level: SecurityLevel::new(s.level).unwrap_or_default(),
            personal_data: s.personal_data,
            upstream: UpstreamSettings {
                url: format!("http://{mock}{}", s.upstream_path),
                connect_timeout_ms: None,
                timeout_ms: Some(5_000),
                retries: None,
                max_request_bytes: None,
                max_response_bytes: None,
            },
            operations: vec![Operation {
                method: s.method.into(),
                path: s.operation.into(),
            }],
            priority: Priority::Essential,
        })
    });
    RegistryData {
        agencies: agencies.into_iter().flatten().collect(),
        systems: systems.collect(),
        services: services.collect(),
        ..RegistryData::default()
    }
}

/// The machine-readable manifest written to `<data-dir>/demo.json`.
pub fn manifest(
    data: SocketAddr,
    admin: SocketAddr,
    mock: SocketAddr,
    personal_ids: &[String],
    enterprise_codes: &[String],
) -> Value {
    json!({
        "data_url": format!("http://{data}"),
        "admin_url": format!("http://{admin}"),
        "mock_url": format!("http://{mock}"),
        "province": PROVINCE,
        "services": {
            "population": "/api/population/v1/citizens/{id}",
            "civil_status": "/api/civil-status/v1/records",
            "enterprise": "/api/enterprise/v1/enterprises/{id}",
            "social_insurance": "/api/social-insurance/v1/households/{id}",
        },
        "sample_personal_ids": personal_ids,
        "sample_enterprise_codes": enterprise_codes,
    })
}

/// The curl tour printed when the demo is up.
pub fn tour(data: SocketAddr, admin: SocketAddr, personal_id: &str, enterprise: &str) -> String {
    format!(
        r#"
LGSP demo is running. Data plane: http://{data}   Admin plane: http://{admin}

# A citizen from the national population database (simulated), through the gateway:
curl -s http://{data}/api/population/v1/citizens/{personal_id}

# Civil status: the request and the answer carry an XML message inside a JSON field:
curl -s -X POST http://{data}/api/civil-status/v1/records -H 'content-type: application/json' \
  -d '{{"loaiBanGhi":"khaiSinh","duLieu":"<?xml version=\"1.0\" encoding=\"UTF-8\"?><YeuCauTraCuu><soDinhDanh>{personal_id}</soDinhDanh></YeuCauTraCuu>"}}'

# Business registration and the social-insurance household:
curl -s http://{data}/api/enterprise/v1/enterprises/{enterprise}
curl -s http://{data}/api/social-insurance/v1/households/{personal_id}

# Refusals are RFC 9457 problems with a stable code:
curl -s http://{data}/api/population/v1/citizens/12345        # INVALID_REQUEST, no upstream call
curl -s http://{data}/api/land/v1/parcels/1                   # SERVICE_NOT_FOUND

# Health and what the node routes on:
curl -s http://{data}/readyz
curl -s http://{admin}/admin/v1/registry

Press Ctrl-C to stop.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_registry_is_complete() {
        let r = registry("127.0.0.1:9".parse().expect("addr"));
        assert_eq!(r.agencies.len(), 8, "every demo agency code is valid");
        assert_eq!(r.systems.len(), 1);
        assert_eq!(r.services.len(), 4);
        let communes = r
            .agencies
            .iter()
            .filter(|a| a.parent.as_ref().map(|p| p.as_str()) == Some(PROVINCE))
            .count();
        assert_eq!(communes, 3);
        assert!(
            r.services
                .iter()
                .all(|s| s.upstream.url.starts_with("http://127.0.0.1:9/"))
        );
    }
}
