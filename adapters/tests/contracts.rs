//! Contract tests: every canonical answer of the simulators, for several
//! subjects, validates against its JSON Schema. The simulators run in
//! process on a loopback port and are called over HTTP; XML answers (SOAP,
//! and the civil-status XML inside JSON) are decoded to canonical JSON by
//! the built-in mappings first, exactly as the adapters will.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lgsp_adapters::simulators::{Simulator, SimulatorOptions};
use lgsp_adapters::soap::{EncodedMessage, Mapping, XmlLimits};
use lgsp_contracts::{Contract, ContractName};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

type Body = BoxBody<Bytes, Infallible>;

struct Simulators {
    addr: SocketAddr,
    simulator: Simulator,
    client: Client<HttpConnector, Body>,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Simulators {
    let simulator = Simulator::new(SimulatorOptions::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(simulator.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    Simulators {
        addr,
        simulator,
        client: Client::builder(TokioExecutor::new()).build_http(),
        _stop: stop,
    }
}

impl Simulators {
    async fn call(
        &self,
        method: Method,
        path: &str,
        message: Option<&EncodedMessage>,
    ) -> (StatusCode, Bytes) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        let body = match message {
            Some(message) => {
                request = request.header("content-type", &message.content_type);
                if let Some(action) = &message.soap_action {
                    request = request.header("soapaction", action);
                }
                Full::new(Bytes::from(message.body.clone())).boxed()
            }
            None => Empty::new().boxed(),
        };
        let response = self
            .client
            .request(request.body(body).expect("request"))
            .await
            .expect("an answer");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body)
    }

    /// A JSON answer, checked against `contract`.
    async fn json_answer(&self, path: &str, contract: ContractName) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        valid(contract, &body, path)
    }

    /// A mapped exchange (SOAP or XML inside JSON): the request encoded by
    /// the mapping, the answer decoded by it; `None` for a 404.
    async fn mapped_answer(&self, mapping: &Mapping, path: &str, request: Value) -> Option<Value> {
        let message = mapping.encode_request(&request).expect("encodes");
        let (status, body) = self.call(Method::POST, path, Some(&message)).await;
        if status == StatusCode::NOT_FOUND {
            return None;
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&body)
        );
        let canonical = mapping
            .decode_response(&body, &XmlLimits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", mapping.name));
        let contract = mapping
            .response
            .contract
            .expect("the mapping names its contract");
        let bytes = serde_json::to_vec(&canonical).expect("JSON");
        Some(valid(contract, &bytes, path))
    }
}

/// Validates an answer, failing with every violation.
fn valid(name: ContractName, body: &[u8], what: &str) -> Value {
    let contract = Contract::get(name).expect("compiled");
    contract.validate_slice(body).unwrap_or_else(|violations| {
        panic!(
            "{what} breaks `{name}`: {violations:#?}\n{}",
            String::from_utf8_lossy(body)
        )
    })
}

fn mapping(name: &str) -> Mapping {
    Mapping::builtin(name).expect("built in")
}

#[tokio::test]
async fn every_simulator_answer_keeps_its_contract() {
    let sims = start().await;
    let people = sims.simulator.sample_personal_ids(40);
    let birth = mapping("civil-status-birth");
    let marriage = mapping("civil-status-marriage");
    let mut marriages = 0;
    for id in &people {
        let citizen = sims
            .json_answer(
                &format!("/population/v1/citizens/{id}"),
                ContractName::Citizen,
            )
            .await;
        assert_eq!(citizen["soDinhDanh"], id.as_str());
        let household = sims
            .json_answer(
                &format!("/social-insurance/v1/households/{id}"),
                ContractName::SocialInsuranceHousehold,
            )
            .await;
        assert!(
            household["thanhVien"]
                .as_array()
                .is_some_and(|m| !m.is_empty())
        );
        let record = sims
            .mapped_answer(
                &birth,
                "/civil-status/v1/records",
                json!({ "soDinhDanh": id }),
            )
            .await
            .expect("every citizen has a birth record");
        assert_eq!(record["hoTen"], citizen["hoTen"]);
        assert_eq!(record["ngaySinh"], citizen["ngaySinh"]);
        if let Some(record) = sims
            .mapped_answer(
                &marriage,
                "/civil-status/v1/records",
                json!({ "soDinhDanh": id }),
            )
            .await
        {
            marriages += 1;
            let spouses = [&record["chong"]["soDinhDanh"], &record["vo"]["soDinhDanh"]];
            assert!(spouses.contains(&&json!(id)), "{record}");
        }
    }
    assert!(
        marriages >= 5,
        "only {marriages} of 40 sampled citizens are married"
    );

    let soap = mapping("enterprise-lookup");
    for code in sims.simulator.sample_enterprise_codes(15) {
        let json = sims
            .json_answer(
                &format!("/enterprise/v1/enterprises/{code}"),
                ContractName::Enterprise,
            )
            .await;
        let over_soap = sims
            .mapped_answer(
                &soap,
                "/enterprise/v1/soap",
                json!({ "maDoanhNghiep": code }),
            )
            .await
            .expect("known enterprise");
        assert_eq!(over_soap, json);
    }

    for code in sims.simulator.sample_parcel_codes(25) {
        let parcel = sims
            .json_answer(
                &format!("/land/v1/parcels/{code}"),
                ContractName::LandParcel,
            )
            .await;
        assert_eq!(parcel["maThuaDat"], code.as_str());
    }
}

#[tokio::test]
async fn a_broken_answer_is_caught_by_its_contract() {
    let sims = start().await;
    let id = sims.simulator.sample_personal_ids(1).remove(0);
    let path = format!("/population/v1/citizens/{id}");
    let (_, body) = sims
        .call(
            Method::PUT,
            "/__sim/faults/population",
            Some(&EncodedMessage {
                body: br#"{"malformed_rate": 1.0}"#.to_vec(),
                content_type: "application/json".into(),
                soap_action: None,
            }),
        )
        .await;
    assert!(String::from_utf8_lossy(&body).contains("malformed_rate"));
    let (status, body) = sims.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    let violations = Contract::get(ContractName::Citizen)
        .expect("compiled")
        .validate_slice(&body)
        .expect_err("a truncated answer is outside the contract");
    assert_eq!(violations[0].pointer, "");

    // A well-formed answer of the wrong shape names the offending member.
    let (_, body) = sims
        .call(
            Method::GET,
            &format!("/social-insurance/v1/households/{id}"),
            None,
        )
        .await;
    let violations = Contract::get(ContractName::Citizen)
        .expect("compiled")
        .validate_slice(&body)
        .expect_err("a household is not a citizen");
    let pointers: Vec<_> = violations.iter().map(|v| v.pointer.as_str()).collect();
    assert!(pointers.contains(&"/soDinhDanh"), "{pointers:?}");
    assert!(pointers.contains(&"/maHoGiaDinh"), "{pointers:?}");
}

impl Simulators {
    /// A request with headers; answers status and JSON body.
    async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .client
            .request(
                request
                    .body(Full::new(Bytes::from(body)).boxed())
                    .expect("request"),
            )
            .await
            .expect("an answer");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    /// A token of the simulated NDXP for the default province client.
    async fn ndxp_token(&self) -> String {
        use base64::Engine as _;
        let settings = self.simulator.ndxp_token_settings().clone();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", settings.client_id, settings.client_secret));
        let (status, body) = self
            .send_with(
                Method::POST,
                "/ndxp/oauth2/token",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("authorization", &format!("Basic {basic}")),
                ],
                b"grant_type=client_credentials".to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }
}

#[tokio::test]
async fn death_records_keep_their_contract() {
    let sims = start().await;
    let death = mapping("civil-status-death");
    let deceased = sims.simulator.sample_deceased_ids(30);
    assert_eq!(deceased.len(), 30);
    for id in &deceased {
        let record = sims
            .mapped_answer(
                &death,
                "/civil-status/v1/records",
                json!({ "soDinhDanh": id }),
            )
            .await
            .expect("every sampled deceased citizen has a death record");
        assert_eq!(record["soDinhDanh"], id.as_str());
    }
}

#[tokio::test]
async fn criminal_record_answers_keep_their_contracts() {
    let sims = start().await;
    let token = sims.ndxp_token().await;
    let authorization = format!("Bearer {token}");
    let headers = [
        ("authorization", authorization.as_str()),
        (
            "x-ndxp-consumer",
            sims.simulator
                .ndxp_token_settings()
                .consumer_agency
                .as_str(),
        ),
        ("x-ndxp-origin-system", "motcua-myhiep"),
        ("content-type", "application/json"),
    ];
    let mut states = std::collections::BTreeSet::new();
    for (n, id) in sims.simulator.sample_personal_ids(10).iter().enumerate() {
        let citizen = sims
            .json_answer(
                &format!("/population/v1/citizens/{id}"),
                ContractName::Citizen,
            )
            .await;
        let ma_ho_so = format!("H29.01-2026-{n:06}");
        let mut request = json!({
            "maHoSo": ma_ho_so,
            "loaiPhieu": 2,
            "mucDichSuDung": "Xin việc",
            "soLuongPhieu": 2,
            "coQuanTiepNhan": "000.01.00.H29",
            "ngayYeuCau": "2026-11-20",
            "nguoiYeuCau": {
                "soDinhDanh": id,
                "hoTen": citizen["hoTen"],
                "gioiTinh": citizen["gioiTinh"],
                "ngaySinh": citizen["ngaySinh"],
                "noiSinh": citizen["noiSinh"],
                "quocTich": citizen["quocTich"],
            },
            "cha": { "hoTen": "Nguyễn Văn Bình" },
            "me": { "hoTen": "Trần Thị Lụa" },
        });
        if n % 3 == 0 {
            // Every third request names someone the population database does not know.
            request["nguoiYeuCau"]["ngaySinh"] = json!("1900-01-01");
        }
        let bytes = serde_json::to_vec(&request).expect("JSON");
        valid(
            ContractName::CriminalRecordRequest,
            &bytes,
            "the request sent",
        );
        let (status, filed) = sims
            .send_with(
                Method::POST,
                "/ndxp/v1/criminal-record/requests",
                &headers,
                bytes,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{filed}");
        let mut answers = vec![filed];
        let path = format!("/ndxp/v1/criminal-record/requests/{ma_ho_so}");
        for _ in 0..2 {
            let (status, answer) = sims
                .send_with(Method::GET, &path, &headers, Vec::new())
                .await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            answers.push(answer);
        }
        for answer in answers {
            let bytes = serde_json::to_vec(&answer).expect("JSON");
            let answer = valid(ContractName::CriminalRecordStatus, &bytes, &path);
            states.insert(answer["trangThai"].as_str().unwrap_or_default().to_owned());
        }
    }
    let seen: Vec<&str> = states.iter().map(String::as_str).collect();
    assert_eq!(seen, ["daCoKetQua", "dangXuLy", "tiepNhan", "tuChoi"]);
}
