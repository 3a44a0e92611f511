//! `lgsp demo`: the simulators, a gateway on an embedded store, a demo
//! province with three communes and one commune system, the national services
//! registered behind the simulators, a manifest for scripts, and a curl tour.

use crate::access::AccessError;
use crate::access::secrets::{generate_api_key, generate_secret, hash_api_key, hash_secret};
use crate::registry::model::{
    AdapterSettings, Agency, OnboardingStage, Operation, Priority, RegistryData, ReuseSettings,
    Service, ServiceState, System, UpstreamSettings,
};
use crate::registry::model::{Credential, CredentialKind, Plan, Subscription, SubscriptionState};
use lgsp_contracts::{AgencyCode, Slug};
use lgsp_policies::{DataClass, SecurityLevel};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;

/// The demo province's agency code.
pub const PROVINCE: &str = "000.00.00.H29";

fn agency(code: &str, name: &str, parent: Option<&str>) -> Option<Agency> {
    Some(Agency {
        code: AgencyCode::parse(code).ok()?,
        name: name.into(),
        parent: parent.and_then(|p| AgencyCode::parse(p).ok()),
    })
}

/// Where a demo service's upstream is: the plain simulators or the NDOP one (mTLS).
#[derive(Clone, Copy)]
enum Origin {
    Mock,
    Ndop,
}

struct NationalService {
    slug: &'static str,
    name: &'static str,
    owner: &'static str,
    origin: Origin,
    upstream_path: &'static str,
    adapter: fn() -> AdapterSettings,
    method: &'static str,
    operation: &'static str,
    contract: &'static str,
    /// Once-only: the data type answers are kept as, and for how many seconds they stay fresh.
    reuse: Option<(&'static str, u64)>,
    personal_data: bool,
    data_class: DataClass,
    level: u8,
}

/// The national services, each behind the adapter its real upstream needs.
const NATIONAL_SERVICES: [NationalService; 5] = [
    NationalService {
        slug: "population",
        name: "Tra cứu thông tin công dân (CSDL quốc gia về dân cư)",
        owner: "000.00.00.G01",
        origin: Origin::Mock,
        upstream_path: "/ndxp/v1/population",
        adapter: || AdapterSettings::Ndxp {
            service_code: Some("NDXP.DANCU.TRACUU".into()),
            mapping: None,
        },
        method: "GET",
        operation: "/citizens/{soDinhDanh}",
        contract: "citizen",
        reuse: Some(("citizen", 24 * 3600)),
        personal_data: true,
        data_class: DataClass::Confidential,
        level: 3,
    },
    NationalService {
        slug: "civil-status",
        name: "Tra cứu dữ liệu hộ tịch điện tử (khai sinh)",
        owner: "000.00.00.G12",
        origin: Origin::Mock,
        upstream_path: "/ndxp/v1/civil-status/records",
        adapter: || AdapterSettings::Ndxp {
            service_code: Some("NDXP.HOTICH.KHAISINH".into()),
            mapping: Some("civil-status-birth".into()),
        },
        method: "GET",
        operation: "/births/{soDinhDanh}",
        contract: "birth-record",
        reuse: Some(("birth-record", 30 * 24 * 3600)),
        personal_data: true,
        data_class: DataClass::Confidential,
        level: 3,
    },
    NationalService {
        slug: "enterprise",
        name: "Tra cứu thông tin đăng ký doanh nghiệp",
        owner: "000.00.00.G09",
        origin: Origin::Mock,
        upstream_path: "/enterprise/v1/soap",
        adapter: || AdapterSettings::Soap {
            mapping: "enterprise-lookup".into(),
        },
        method: "GET",
        operation: "/enterprises/{maDoanhNghiep}",
        contract: "enterprise",
        reuse: Some(("enterprise", 24 * 3600)),
        personal_data: false,
        data_class: DataClass::Public,
        level: 1,
    },
    NationalService {
        slug: "social-insurance",
        name: "Tra cứu thông tin hộ gia đình tham gia BHXH, BHYT",
        owner: "000.00.00.G22",
        origin: Origin::Mock,
        upstream_path: "/ndxp/v1/social-insurance",
        adapter: || AdapterSettings::Ndxp {
            service_code: Some("NDXP.BHXH.HOGIADINH".into()),
            mapping: None,
        },
        method: "GET",
        operation: "/households/{soDinhDanh}",
        contract: "social-insurance-household",
        reuse: Some(("social-insurance-household", 24 * 3600)),
        personal_data: true,
        data_class: DataClass::Confidential,
        level: 2,
    },
    NationalService {
        slug: "land",
        name: "Tra cứu thông tin thửa đất (CSDL đất đai)",
        owner: "000.00.00.G15",
        origin: Origin::Ndop,
        upstream_path: "/ndop/v1/land",
        adapter: || AdapterSettings::Ndop,
        method: "GET",
        operation: "/parcels/{maThuaDat}",
        contract: "land-parcel",
        reuse: Some(("land-parcel", 7 * 24 * 3600)),
        personal_data: true,
        data_class: DataClass::Confidential,
        level: 2,
    },
];

/// The demo registry, with the national services behind the simulators at
/// `mock` and the NDOP simulator at `ndop`.
pub fn registry(mock: SocketAddr, ndop: SocketAddr, secrets: &DemoSecrets) -> RegistryData {
    let agencies = [
        agency(PROVINCE, "UBND tỉnh (tỉnh mẫu H29)", None),
        agency("000.01.00.H29", "UBND xã Mỹ Hiệp", Some(PROVINCE)),
        agency("000.02.00.H29", "UBND xã Tân Phú Đông", Some(PROVINCE)),
        agency("000.03.00.H29", "UBND phường Cao Lãnh", Some(PROVINCE)),
        agency("000.00.00.G01", "Bộ Công an", None),
        agency("000.00.00.G12", "Bộ Tư pháp", None),
        agency("000.00.00.G09", "Bộ Tài chính", None),
        agency("000.00.00.G22", "Bảo hiểm xã hội Việt Nam", None),
        agency("000.00.00.G15", "Bộ Nông nghiệp và Môi trường", None),
    ];
    let systems = DEMO_SYSTEMS.iter().filter_map(|d| {
        Some(System {
            slug: Slug::parse(d.slug).ok()?,
            agency: AgencyCode::parse(d.agency).ok()?,
            name: d.name.into(),
            security_level: SecurityLevel::new(d.level).ok()?,
            ip_allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
            onboarding: OnboardingStage::Live,
            onboarding_log: Vec::new(),
        })
    });
    let services = NATIONAL_SERVICES.iter().filter_map(|s| {
        Some(Service {
            slug: Slug::parse(s.slug).ok()?,
            version: "v1".into(),
            name: s.name.into(),
            owner: AgencyCode::parse(s.owner).ok()?,
            state: ServiceState::Published,
            deprecated_on: None,
            sunset_on: None,
            data_class: s.data_class,
            security_level: SecurityLevel::new(s.level).unwrap_or_default(),
            personal_data: s.personal_data,
            upstream: UpstreamSettings {
                url: match s.origin {
                    Origin::Mock => format!("http://{mock}{}", s.upstream_path),
                    Origin::Ndop => format!("https://{ndop}{}", s.upstream_path),
                },
                connect_timeout_ms: None,
                timeout_ms: Some(5_000),
                retries: None,
                max_request_bytes: None,
                max_response_bytes: None,
                health_path: None,
                sandbox_url: None,
            },
            operations: vec![Operation {
                method: s.method.into(),
                path: s.operation.into(),
            }],
            priority: Priority::Essential,
            adapter: (s.adapter)(),
            contract: Some(s.contract.into()),
            request_contract: None,
            reuse: s.reuse.map(|(data_type, secs)| ReuseSettings {
                data_type: data_type.into(),
                fresh_for_secs: secs,
            }),
            metadata: Default::default(),
            spec: None,
        })
    });
    let services = services.chain(reuse_service());
    let credentials = DEMO_SYSTEMS
        .iter()
        .zip(&secrets.systems)
        .flat_map(|(d, s)| {
            let system = Slug::parse(d.slug).ok();
            [
                (
                    format!("{}-oauth", d.slug),
                    CredentialKind::ClientSecret {
                        client_id: s.client_id.clone(),
                        secret_hash: s.secret_hash.clone(),
                    },
                ),
                (
                    format!("{}-key", d.slug),
                    CredentialKind::ApiKey {
                        key_hash: hash_api_key(&s.api_key),
                    },
                ),
            ]
            .into_iter()
            .filter_map(move |(id, kind)| {
                Some(Credential {
                    id: Slug::parse(&id).ok()?,
                    system: system.clone()?,
                    kind,
                    revoked: false,
                })
            })
        });
    let subscriptions = DEMO_SYSTEMS.iter().flat_map(|d| {
        d.subscriptions.iter().filter_map(move |service| {
            Some(Subscription {
                system: Slug::parse(d.slug).ok()?,
                service: Slug::parse(service).ok()?,
                state: SubscriptionState::Approved,
                plan: Plan {
                    rate_per_second: 20.0,
                    burst: 40,
                    daily_quota: Some(10_000),
                },
                purposes: d.purposes.iter().map(|p| p.to_string()).collect(),
                write_back: *service == "reuse" && d.writes_back,
            })
        })
    });
    RegistryData {
        agencies: agencies.into_iter().flatten().collect(),
        systems: systems.collect(),
        services: services.collect(),
        credentials: credentials.collect(),
        subscriptions: subscriptions.collect(),
        policy: None,
    }
}

/// The operations of the reuse service, for citizens and for enterprises.
const REUSE_OPERATIONS: [(&str, &str); 9] = [
    ("GET", "/subjects/{soDinhDanh}/items"),
    ("GET", "/subjects/{soDinhDanh}/items/{loaiDuLieu}"),
    ("DELETE", "/subjects/{soDinhDanh}/items/{loaiDuLieu}"),
    ("POST", "/subjects/{soDinhDanh}/results"),
    ("GET", "/enterprises/{maDoanhNghiep}/items"),
    ("GET", "/enterprises/{maDoanhNghiep}/items/{loaiDuLieu}"),
    ("DELETE", "/enterprises/{maDoanhNghiep}/items/{loaiDuLieu}"),
    ("POST", "/enterprises/{maDoanhNghiep}/results"),
    ("POST", "/dossiers/{maHoSo}/asked"),
];

/// The province's reuse service (`/api/reuse/v1`), served from the reuse store.
fn reuse_service() -> Option<Service> {
    Some(Service {
        slug: Slug::parse("reuse").ok()?,
        version: "v1".into(),
        name: "Dịch vụ tái sử dụng dữ liệu (không yêu cầu công dân cung cấp lại)".into(),
        owner: AgencyCode::parse(PROVINCE).ok()?,
        state: ServiceState::Published,
        deprecated_on: None,
        sunset_on: None,
        data_class: DataClass::Confidential,
        security_level: SecurityLevel::new(2).unwrap_or_default(),
        personal_data: true,
        upstream: UpstreamSettings {
            url: "reuse:store".into(),
            connect_timeout_ms: None,
            timeout_ms: None,
            retries: None,
            max_request_bytes: None,
            max_response_bytes: None,
            health_path: None,
            sandbox_url: None,
        },
        operations: REUSE_OPERATIONS
            .iter()
            .map(|(method, path)| Operation {
                method: method.to_string(),
                path: path.to_string(),
            })
            .collect(),
        priority: Priority::Essential,
        adapter: AdapterSettings::Reuse,
        contract: None,
        request_contract: None,
        reuse: None,
        metadata: Default::default(),
        spec: None,
    })
}

/// A demo consumer system and what it is granted.
struct DemoSystem {
    slug: &'static str,
    agency: &'static str,
    name: &'static str,
    level: u8,
    subscriptions: &'static [&'static str],
    purposes: &'static [&'static str],
    /// Whether its reuse subscription may write back procedure results.
    writes_back: bool,
}

/// The commune system with every subscription, a second one without the
/// population subscription (and at level 2) so refusals can be seen, and a
/// third commune that reads what the first one already fetched (once-only).
const DEMO_SYSTEMS: [DemoSystem; 3] = [
    DemoSystem {
        slug: "motcua-xa-my-hiep",
        agency: "000.01.00.H29",
        name: "Phần mềm một cửa xã Mỹ Hiệp",
        level: 3,
        subscriptions: &[
            "population",
            "civil-status",
            "social-insurance",
            "enterprise",
            "land",
            "reuse",
        ],
        purposes: &["1.001612", "1.000894"],
        writes_back: true,
    },
    DemoSystem {
        slug: "motcua-xa-tan-phu-dong",
        agency: "000.02.00.H29",
        name: "Phần mềm một cửa xã Tân Phú Đông",
        level: 2,
        subscriptions: &["civil-status", "enterprise"],
        purposes: &["1.001612"],
        writes_back: false,
    },
    DemoSystem {
        slug: "motcua-phuong-cao-lanh",
        agency: "000.03.00.H29",
        name: "Phần mềm một cửa phường Cao Lãnh",
        level: 3,
        subscriptions: &["population", "civil-status", "reuse"],
        purposes: &["1.001612"],
        writes_back: false,
    },
];

/// The demo systems' secrets, kept in `<data-dir>/demo-secrets.json` (mode
/// 0600) so that re-running the demo keeps the same credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoSecrets {
    /// One entry per demo system, in `DEMO_SYSTEMS` order.
    pub systems: Vec<SystemSecrets>,
    /// Admin-plane accounts: a province admin, an operator and an auditor.
    #[serde(default)]
    pub accounts: Vec<AccountSecrets>,
}

/// One demo admin-plane account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountSecrets {
    /// Login name.
    pub username: String,
    /// `province_admin`, `operator` or `auditor`.
    pub role: String,
    /// Password, in clear (demo only).
    pub password: String,
}

/// The demo's admin-plane accounts: (username, role).
const DEMO_ACCOUNTS: [(&str, &str); 3] = [
    ("quantri", "province_admin"),
    ("vanhanh", "operator"),
    ("thanhtra", "auditor"),
];

fn demo_accounts() -> Vec<AccountSecrets> {
    DEMO_ACCOUNTS
        .iter()
        .map(|(username, role)| AccountSecrets {
            username: username.to_string(),
            role: role.to_string(),
            password: generate_secret(),
        })
        .collect()
}

/// One demo system's credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SystemSecrets {
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret, in clear (demo only).
    pub client_secret: String,
    /// argon2id hash of the secret.
    pub secret_hash: String,
    /// API key, in clear (demo only).
    pub api_key: String,
}

impl DemoSecrets {
    /// Reads the demo secrets, or makes and saves new ones.
    pub fn load_or_create(data_dir: &Path) -> Result<DemoSecrets, AccessError> {
        let path = data_dir.join("demo-secrets.json");
        if let Some(existing) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<DemoSecrets>(&b).ok())
            .filter(|s| s.systems.len() == DEMO_SYSTEMS.len())
        {
            if existing.accounts.len() == DEMO_ACCOUNTS.len() {
                return Ok(existing);
            }
            let upgraded = DemoSecrets {
                accounts: demo_accounts(),
                ..existing
            };
            save(&path, &upgraded)?;
            return Ok(upgraded);
        }
        let systems = DEMO_SYSTEMS
            .iter()
            .map(|d| {
                let client_secret = generate_secret();
                Ok(SystemSecrets {
                    client_id: d.slug.to_string(),
                    secret_hash: hash_secret(&client_secret)?,
                    client_secret,
                    api_key: generate_api_key(),
                })
            })
            .collect::<Result<Vec<_>, AccessError>>()?;
        let secrets = DemoSecrets {
            systems,
            accounts: demo_accounts(),
        };
        save(&path, &secrets)?;
        Ok(secrets)
    }
}

fn save(path: &Path, secrets: &DemoSecrets) -> Result<(), AccessError> {
    let bytes = serde_json::to_vec_pretty(secrets)
        .map_err(|e| AccessError::Io(std::io::Error::other(e)))?;
    write_private(path, &bytes).map_err(AccessError::Io)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// Identifiers that exist in the simulators' dataset, for the tour and the manifest.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Personal IDs of living citizens.
    pub personal_ids: Vec<String>,
    /// Enterprise codes.
    pub enterprise_codes: Vec<String>,
    /// Land-parcel codes.
    pub parcel_codes: Vec<String>,
}

/// The machine-readable manifest written to `<data-dir>/demo.json`.
pub fn manifest(
    data: SocketAddr,
    admin: SocketAddr,
    mock: SocketAddr,
    ndop: SocketAddr,
    samples: &Samples,
    secrets: &DemoSecrets,
) -> Value {
    let systems: Vec<Value> = DEMO_SYSTEMS
        .iter()
        .zip(&secrets.systems)
        .map(|(d, s)| {
            json!({
                "name": d.slug,
                "display_name": d.name,
                "client_id": s.client_id,
                "client_secret": s.client_secret,
                "api_key": s.api_key,
                "purposes": d.purposes,
                "subscriptions": d.subscriptions,
                "security_level": d.level,
            })
        })
        .collect();
    json!({
        "data_url": format!("http://{data}"),
        "admin_url": format!("http://{admin}"),
        "mock_url": format!("http://{mock}"),
        "ndop_url": format!("https://{ndop}"),
        "vapex_url": format!("http://{mock}/vapex/v1"),
        "province": PROVINCE,
        "services": {
            "population": "/api/population/v1/citizens/{id}",
            "civil_status": "/api/civil-status/v1/births/{id}",
            "enterprise": "/api/enterprise/v1/enterprises/{id}",
            "social_insurance": "/api/social-insurance/v1/households/{id}",
            "land": "/api/land/v1/parcels/{id}",
        },
        "adapters": {
            "population": "ndxp",
            "civil_status": "ndxp (XML inside JSON)",
            "enterprise": "soap",
            "social_insurance": "ndxp",
            "land": "ndop",
        },
        "sample_personal_ids": samples.personal_ids,
        "sample_enterprise_codes": samples.enterprise_codes,
        "sample_parcel_codes": samples.parcel_codes,
        "token_url": format!("http://{data}/oauth2/token"),
        "login_url": format!("http://{admin}/admin/v1/login"),
        "systems": systems,
        "accounts": secrets.accounts,
    })
}

/// The curl tour printed when the demo is up.
pub fn tour(
    data: SocketAddr,
    admin: SocketAddr,
    samples: &Samples,
    secrets: &DemoSecrets,
) -> String {
    let first_of = |v: &[String], fallback: &'static str| {
        v.first().cloned().unwrap_or_else(|| fallback.to_string())
    };
    let personal_id = first_of(&samples.personal_ids, "001203004567");
    let enterprise = first_of(&samples.enterprise_codes, "0312345678");
    let parcel = first_of(&samples.parcel_codes, "H29.01.000001");
    let (first, second, third) = match secrets.systems.as_slice() {
        [a, b, c, ..] => (a, b, c),
        _ => return String::from("demo secrets are missing"),
    };
    format!(
        r#"
LGSP demo is running. Data plane: http://{data}   Admin plane: http://{admin}
Manifest with every URL, sample ID and credential: see demo.json in the data directory.

# 1. The commune system of xã Mỹ Hiệp obtains a token (OAuth2 client credentials):
TOKEN=$(curl -s http://{data}/oauth2/token -d grant_type=client_credentials \
  -d client_id={cid} -d client_secret={csecret} | sed -E 's/.*"access_token":"([^"]+)".*/\1/')

# 2. A citizen from the national population database (simulated, reached through
#    NDXP with the province's token), for a birth registration (procedure 1.001612),
#    asked by a named officer:
curl -s http://{data}/api/population/v1/citizens/{personal_id} -H "Authorization: Bearer $TOKEN" \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.tuphap.myhiep' -H 'X-LGSP-Dossier: H29.01-2026-000123' -i

# 3. The birth record from civil status: NDXP carries it as XML inside JSON; the
#    gateway asks and answers in canonical JSON, checked against its contract:
curl -s http://{data}/api/civil-status/v1/births/{personal_id} -H "Authorization: Bearer $TOKEN" \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.tuphap.myhiep'

# 4. Business registration (public data, a SOAP service upstream) and a
#    social-insurance household (NDXP), with the API key:
curl -s http://{data}/api/enterprise/v1/enterprises/{enterprise} -H 'X-API-Key: {ckey}'
curl -s http://{data}/api/social-insurance/v1/households/{personal_id} -H 'X-API-Key: {ckey}' \
  -H 'X-LGSP-Purpose: 1.000894' -H 'X-LGSP-User: canbo.tuphap.myhiep'

# 5. A land parcel through NDOP (mTLS, signed request and signed answer):
curl -s http://{data}/api/land/v1/parcels/{parcel} -H 'X-API-Key: {ckey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.tuphap.myhiep'

# Refusals, each an RFC 9457 problem with a stable code:
curl -s http://{data}/api/population/v1/citizens/{personal_id}                                  # 401 AUTHEN_ERROR
curl -s http://{data}/api/population/v1/citizens/{personal_id} -H "Authorization: Bearer $TOKEN" # 400 PURPOSE_REQUIRED
curl -s http://{data}/api/population/v1/citizens/{personal_id} -H "Authorization: Bearer $TOKEN" \
  -H 'X-LGSP-Purpose: 2.000986' -H 'X-LGSP-User: canbo.tuphap.myhiep'                          # 403 PURPOSE_NOT_ALLOWED
curl -s http://{data}/api/population/v1/citizens/{personal_id} -H 'X-API-Key: {skey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.tanphudong'                              # 403 SUBSCRIPTION_REQUIRED (xã Tân Phú Đông)
curl -s http://{data}/api/population/v1/citizens/12345 -H "Authorization: Bearer $TOKEN"        # 400 INVALID_REQUEST
curl -s http://{data}/api/cadastre/v1/parcels/1                                                  # 404 SERVICE_NOT_FOUND

# Once-only: a dossier story. xã Mỹ Hiệp reads the citizen for dossier H29.01-2026-000777;
# the gateway fetches from the national source and remembers it (X-LGSP-Reuse: miss):
curl -si http://{data}/api/population/v1/citizens/{personal_id} -H 'X-API-Key: {ckey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.myhiep' -H 'X-LGSP-Dossier: H29.01-2026-000777' | grep -i '^x-lgsp'
# phường Cao Lãnh reads the same citizen for a birth registration: X-LGSP-Reuse: hit, with
# X-LGSP-Source naming the source and fetch time (Cache-Control: no-cache forces the source):
curl -si http://{data}/api/population/v1/citizens/{personal_id} -H 'X-API-Key: {tkey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.caolanh' -H 'X-LGSP-Dossier: H29.03-2026-000031' | grep -i '^x-lgsp'
# xã Mỹ Hiệp writes back the procedure result; the gateway answers with a signed receipt:
curl -s -X POST http://{data}/api/reuse/v1/subjects/{personal_id}/results -H 'X-API-Key: {ckey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.myhiep' -H 'content-type: application/json' \
  -d '{{"maHoSo":"H29.01-2026-000777","maThuTucHanhChinh":"1.001612","coQuanCap":{{"maDinhDanh":"000.01.00.H29"}},"ketQua":{{"loaiGiayTo":"Giấy khai sinh","soKyHieu":"123/2026"}},"ngayCap":"2026-11-24"}}'
# phường Cao Lãnh lists what the state already holds about the citizen, result included, and reads one item:
curl -s http://{data}/api/reuse/v1/subjects/{personal_id}/items -H 'X-API-Key: {tkey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.caolanh'
curl -s http://{data}/api/reuse/v1/subjects/{personal_id}/items/ket-qua-1.001612 -H 'X-API-Key: {tkey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.caolanh'
# The desk still had to ask the citizen for one paper; it says so, and the KPI counts it:
curl -s -X POST http://{data}/api/reuse/v1/dossiers/H29.03-2026-000031/asked -H 'X-API-Key: {tkey}' \
  -H 'X-LGSP-Purpose: 1.001612' -H 'X-LGSP-User: canbo.caolanh' -H 'content-type: application/json' -d '{{"soMuc":1}}'
OPS=$(curl -s http://{admin}/admin/v1/login -H 'content-type: application/json' \
  -d '{{"username":"vanhanh","password":"{operator_password}"}}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -s http://{admin}/admin/v1/kpi -H "Authorization: Bearer $OPS"

# Health and the token keys:
curl -s http://{data}/readyz
curl -s http://{data}/.well-known/jwks.json

# Every answer above carries X-LGSP-Audit-Id and X-LGSP-Request-Hash. The auditor (password in demo.json):
AUDIT=$(curl -s http://{admin}/admin/v1/login -H 'content-type: application/json' \
  -d '{{"username":"thanhtra","password":"{auditor_password}"}}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
curl -s "http://{admin}/audit/v1/subjects/report?subject={personal_id}" -H "Authorization: Bearer $AUDIT"
curl -s "http://{admin}/audit/v1/records?outcome=refused" -H "Authorization: Bearer $AUDIT"
curl -s "http://{admin}/audit/v1/export?format=jsonl" -H "Authorization: Bearer $AUDIT" > audit.jsonl
lgsp audit verify --file audit.jsonl --data-dir <data-dir>

Press Ctrl-C to stop.
"#,
        cid = first.client_id,
        csecret = first.client_secret,
        ckey = first.api_key,
        skey = second.api_key,
        tkey = third.api_key,
        operator_password = secrets
            .accounts
            .iter()
            .find(|a| a.role == "operator")
            .map(|a| a.password.as_str())
            .unwrap_or("<see demo.json>"),
        auditor_password = secrets
            .accounts
            .iter()
            .find(|a| a.role == "auditor")
            .map(|a| a.password.as_str())
            .unwrap_or("<see demo.json>"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_registry_is_complete() {
        let secrets = DemoSecrets {
            systems: (0..3)
                .map(|i| SystemSecrets {
                    client_id: format!("c{i}"),
                    client_secret: "s".into(),
                    secret_hash: "h".into(),
                    api_key: format!("k{i}"),
                })
                .collect(),
            accounts: Vec::new(),
        };
        let r = registry(
            "127.0.0.1:9".parse().expect("addr"),
            "127.0.0.1:10".parse().expect("addr"),
            &secrets,
        );
        assert_eq!(r.agencies.len(), 9, "every demo agency code is valid");
        assert_eq!(r.systems.len(), 3);
        assert_eq!(r.credentials.len(), 6);
        assert_eq!(r.subscriptions.len(), 11);
        assert!(
            !r.subscriptions
                .iter()
                .any(|s| s.system.as_str() == "motcua-xa-tan-phu-dong"
                    && s.service.as_str() == "population")
        );
        assert_eq!(r.services.len(), 6);
        for service in &r.services {
            crate::upstream::check_service(service).expect("adapter and contract names exist");
        }
        let communes = r
            .agencies
            .iter()
            .filter(|a| a.parent.as_ref().map(|p| p.as_str()) == Some(PROVINCE))
            .count();
        assert_eq!(communes, 3);
        assert!(r.services.iter().all(|s| match s.adapter {
            AdapterSettings::Ndop => s.upstream.url.starts_with("https://127.0.0.1:10/"),
            AdapterSettings::Reuse => true,
            _ => s.upstream.url.starts_with("http://127.0.0.1:9/"),
        }));
    }
}
