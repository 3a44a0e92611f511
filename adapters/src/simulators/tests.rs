//! Tests of the simulators over real HTTP on loopback: the dataset, every
//! route, the fault knobs (including real TCP resets), statistics and
//! graceful shutdown.

use std::collections::HashSet;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lgsp_contracts::{EnterpriseCode, PersonalId};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::civil_status::read_leaves;
use super::vocabulary::PROVINCES;
use super::{Simulator, SimulatorOptions};
use crate::soap::{CodecError, EncodedMessage, Mapping, SoapFault, XmlError, XmlLimits};

type TestBody = BoxBody<Bytes, Infallible>;

/// A simulator served on an ephemeral loopback port.
struct Running {
    addr: SocketAddr,
    simulator: Simulator,
    client: Client<HttpConnector, TestBody>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

/// An answer read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

fn empty() -> TestBody {
    Empty::new().boxed()
}

fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

async fn start() -> Running {
    let simulator = Simulator::new(SimulatorOptions::default());
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(simulator.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    let client = Client::builder(TokioExecutor::new()).build_http();
    Running {
        addr,
        simulator,
        client,
        stop,
        task,
    }
}

impl Running {
    async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: TestBody,
    ) -> Result<Answer, hyper_util::client::legacy::Error> {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .body(body)
            .expect("valid request");
        let response = self.client.request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("whole body").to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    async fn send(&self, method: Method, path: &str, body: TestBody) -> Answer {
        self.try_send(method, path, body).await.expect("an answer")
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, empty()).await
    }

    async fn set_faults(&self, route: &str, faults: Value) -> Answer {
        self.send(
            Method::PUT,
            &format!("/__sim/faults/{route}"),
            full(faults.to_string()),
        )
        .await
    }

    async fn civil_status(&self, kind: &str, xml: &str) -> Answer {
        let body = json!({"loaiBanGhi": kind, "duLieu": xml}).to_string();
        self.send(Method::POST, "/civil-status/v1/records", full(body))
            .await
    }

    async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task not panicked")
    }
}

fn lookup_request(so_dinh_danh: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><YeuCauTraCuu><soDinhDanh>{so_dinh_danh}</soDinhDanh></YeuCauTraCuu>"#
    )
}

/// A valid personal ID that the dataset does not hold.
fn unknown_personal_id(simulator: &Simulator) -> String {
    (0..1_000_000)
        .map(|n| format!("001099{n:06}"))
        .find(|id| simulator.dataset.citizen(id).is_none())
        .expect("the dataset cannot hold a million IDs of one prefix")
}

fn assert_lgsp_error(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(
        answer.status,
        status,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    let body = answer.json();
    assert_eq!(body["maLoi"], code, "{body}");
    assert!(
        body["moTa"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[test]
fn dataset_is_deterministic_unique_and_valid() {
    let started = Instant::now();
    let simulator = Simulator::new(SimulatorOptions::default());
    let elapsed = started.elapsed();
    // Debug builds of this crate are unoptimised; the bound applies to release.
    if !cfg!(debug_assertions) {
        assert!(
            elapsed < Duration::from_secs(1),
            "generation took {elapsed:?}"
        );
    }
    let again = Simulator::new(SimulatorOptions::default());
    assert_eq!(
        simulator.sample_personal_ids(50),
        again.sample_personal_ids(50)
    );
    assert_eq!(
        simulator.sample_enterprise_codes(50),
        again.sample_enterprise_codes(50)
    );
    let first =
        |s: &Simulator| serde_json::to_string(&s.dataset.citizens()[0].citizen).expect("json");
    assert_eq!(first(&simulator), first(&again));
    let other = Simulator::new(SimulatorOptions {
        seed: 7,
        ..SimulatorOptions::default()
    });
    assert_ne!(
        simulator.sample_personal_ids(50),
        other.sample_personal_ids(50)
    );

    let dataset = &simulator.dataset;
    let citizens = dataset.citizens();
    assert_eq!(citizens.len(), 10_000);
    let mut ids = HashSet::new();
    let mut insurance_numbers = HashSet::new();
    for record in citizens {
        let c = &record.citizen;
        assert!(
            PersonalId::parse(&c.so_dinh_danh).is_ok(),
            "{}",
            c.so_dinh_danh
        );
        assert!(
            ids.insert(c.so_dinh_danh.clone()),
            "duplicate {}",
            c.so_dinh_danh
        );
        let year: u32 = c.ngay_sinh[..4].parse().expect("year");
        let expected_digit = match (year >= 2000, c.gioi_tinh) {
            (false, "Nam") => b'0',
            (false, "Nữ") => b'1',
            (true, "Nam") => b'2',
            (true, "Nữ") => b'3',
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(c.so_dinh_danh.as_bytes()[3], expected_digit, "{c:?}");
        assert_eq!(&c.so_dinh_danh[4..6], &c.ngay_sinh[2..4], "{c:?}");
        assert_eq!(c.ngay_sinh.len(), 10);
        assert_eq!(c.quoc_tich, "Việt Nam");
        assert!(c.ho_ten.split(' ').count() >= 3, "{}", c.ho_ten);
        assert!(
            record.ma_so_bhxh.len() == 10 && record.ma_so_bhxh.bytes().all(|b| b.is_ascii_digit())
        );
        assert!(insurance_numbers.insert(record.ma_so_bhxh.clone()));
        let household = dataset.household_of(record).expect("household");
        assert!(household.members.iter().any(|&m| {
            dataset
                .citizen_at(m)
                .is_some_and(|r| r.citizen.so_dinh_danh == c.so_dinh_danh)
        }));
        if c.tinh_trang_hon_nhan == "Đã kết hôn" {
            let marriage = dataset
                .marriage_of(record)
                .expect("married citizens have a marriage record");
            let spouses = [marriage.husband, marriage.wife];
            assert!(spouses.iter().any(|&s| {
                dataset
                    .citizen_at(s)
                    .is_some_and(|r| r.citizen.so_dinh_danh == c.so_dinh_danh)
            }));
        } else {
            assert!(record.marriage.is_none());
        }
    }
    assert!(ids.len() >= 10_000);
    let names_with_diacritics = citizens
        .iter()
        .filter(|r| !r.citizen.ho_ten.is_ascii())
        .count();
    assert!(names_with_diacritics > 9_000, "{names_with_diacritics}");
    let married = citizens.iter().filter(|r| r.marriage.is_some()).count();
    assert!(married > 2_000, "{married}");
    assert!(
        dataset
            .households()
            .iter()
            .all(|h| (1..=5).contains(&h.members.len()))
    );
    let household_codes: HashSet<_> = dataset
        .households()
        .iter()
        .map(|h| &h.ma_ho_gia_dinh)
        .collect();
    assert_eq!(household_codes.len(), dataset.households().len());

    let enterprises = dataset.enterprises();
    assert_eq!(enterprises.len(), 2_000);
    let codes: HashSet<_> = enterprises
        .iter()
        .map(|e| e.ma_doanh_nghiep.clone())
        .collect();
    assert_eq!(codes.len(), enterprises.len());
    let names: HashSet<_> = enterprises
        .iter()
        .map(|e| e.ten_doanh_nghiep.clone())
        .collect();
    assert_eq!(names.len(), enterprises.len());
    for enterprise in enterprises {
        assert!(EnterpriseCode::parse(&enterprise.ma_doanh_nghiep).is_ok());
        assert!(PersonalId::parse(&enterprise.nguoi_dai_dien.so_dinh_danh).is_ok());
        assert!(enterprise.von_dieu_le > 0);
    }
    for id in simulator.sample_personal_ids(20_001) {
        assert!(dataset.citizen(&id).is_some());
    }
    let distinct: HashSet<_> = simulator.sample_personal_ids(10_000).into_iter().collect();
    assert_eq!(distinct.len(), 10_000);
}

#[test]
fn small_and_empty_datasets_do_not_panic() {
    let empty = Simulator::new(SimulatorOptions {
        seed: 1,
        citizens: 0,
        enterprises: 3,
    });
    assert!(empty.sample_personal_ids(5).is_empty());
    assert_eq!(empty.sample_enterprise_codes(5).len(), 5);
    let tiny = Simulator::new(SimulatorOptions {
        seed: 1,
        citizens: 7,
        enterprises: 0,
    });
    assert_eq!(tiny.dataset.citizens().len(), 7);
    assert!(tiny.sample_enterprise_codes(5).is_empty());
}

#[test]
fn province_table_matches_the_contracts() {
    let ours: Vec<_> = PROVINCES.iter().map(|p| p.code).collect();
    assert_eq!(ours, PersonalId::province_codes());
}

#[tokio::test]
async fn population_answers_known_unknown_and_malformed_ids() {
    let running = start().await;
    let record = &running.simulator.dataset.citizens()[42];
    let answer = running
        .get(&format!(
            "/population/v1/citizens/{}",
            record.citizen.so_dinh_danh
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    let citizen = answer.json();
    assert_eq!(citizen["hoTen"], record.citizen.ho_ten.as_str());
    let fields = [
        "soDinhDanh",
        "hoTen",
        "ngaySinh",
        "gioiTinh",
        "noiSinh",
        "queQuan",
        "danToc",
        "tonGiao",
        "quocTich",
        "tinhTrangHonNhan",
        "noiThuongTru",
        "noiOHienTai",
    ];
    let object = citizen.as_object().expect("object");
    assert_eq!(object.len(), fields.len(), "{citizen}");
    for field in fields {
        assert!(object[field].is_string(), "{field} in {citizen}");
    }

    let unknown = unknown_personal_id(&running.simulator);
    let answer = running
        .get(&format!("/population/v1/citizens/{unknown}"))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(
        answer.json(),
        json!({"maLoi": "RECORD_NOT_FOUND", "moTa": "Không tìm thấy dữ liệu"})
    );
    for malformed in ["12345", "003203004567", "00120300456a", "%FF%FE"] {
        let answer = running
            .get(&format!("/population/v1/citizens/{malformed}"))
            .await;
        assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    }
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn enterprise_answers_known_unknown_and_malformed_codes() {
    let running = start().await;
    let code = running.simulator.sample_enterprise_codes(1).remove(0);
    let answer = running
        .get(&format!("/enterprise/v1/enterprises/{code}"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    let enterprise = answer.json();
    assert_eq!(enterprise["maDoanhNghiep"], code.as_str());
    assert!(enterprise["vonDieuLe"].is_u64());
    assert!(enterprise["nguoiDaiDien"]["hoTen"].is_string());
    for field in [
        "tenDoanhNghiep",
        "tenTiengAnh",
        "loaiHinh",
        "ngayThanhLap",
        "diaChiTruSo",
        "trangThai",
        "nganhNgheChinh",
    ] {
        assert!(enterprise[field].is_string(), "{field} in {enterprise}");
    }
    let answer = running.get("/enterprise/v1/enterprises/0000000000").await;
    assert_lgsp_error(&answer, StatusCode::NOT_FOUND, "RECORD_NOT_FOUND");
    let answer = running.get("/enterprise/v1/enterprises/12ab").await;
    assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn social_insurance_answers_the_household() {
    let running = start().await;
    let dataset = &running.simulator.dataset;
    let household = dataset
        .households()
        .iter()
        .find(|h| h.members.len() >= 3)
        .expect("a family");
    let child = dataset.citizen_at(household.members[2]).expect("member");
    let answer = running
        .get(&format!(
            "/social-insurance/v1/households/{}",
            child.citizen.so_dinh_danh
        ))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["maHoGiaDinh"], household.ma_ho_gia_dinh.as_str());
    assert_eq!(body["diaChi"], household.dia_chi.as_str());
    let members = body["thanhVien"].as_array().expect("members");
    assert_eq!(members.len(), household.members.len());
    assert_eq!(body["chuHo"]["soDinhDanh"], members[0]["soDinhDanh"]);
    assert_eq!(members[0]["quanHeVoiChuHo"], "Chủ hộ");
    assert!(
        members
            .iter()
            .any(|m| m["soDinhDanh"] == child.citizen.so_dinh_danh.as_str()
                && m["maSoBhxh"] == child.ma_so_bhxh.as_str())
    );

    let unknown = unknown_personal_id(&running.simulator);
    let answer = running
        .get(&format!("/social-insurance/v1/households/{unknown}"))
        .await;
    assert_lgsp_error(&answer, StatusCode::NOT_FOUND, "RECORD_NOT_FOUND");
    let answer = running.get("/social-insurance/v1/households/abc").await;
    assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn civil_status_round_trips_xml_with_diacritics() {
    let running = start().await;
    let dataset = &running.simulator.dataset;
    let record = dataset
        .citizens()
        .iter()
        .find(|r| r.marriage.is_some() && !r.citizen.ho_ten.is_ascii())
        .expect("a married citizen with diacritics");
    let id = &record.citizen.so_dinh_danh;

    let answer = running.civil_status("khaiSinh", &lookup_request(id)).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    let envelope = answer.json();
    assert_eq!(envelope["maKetQua"], "00");
    assert_eq!(envelope["moTa"], "Thành công");
    let xml = envelope["duLieu"].as_str().expect("XML string");
    assert!(
        xml.starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><KhaiSinh>"#),
        "{xml}"
    );
    let birth = read_leaves(xml).expect("the answer parses");
    assert_eq!(birth.root, "KhaiSinh");
    assert_eq!(
        birth.single("KhaiSinh/hoTen"),
        Some(record.citizen.ho_ten.as_str())
    );
    assert_eq!(birth.single("KhaiSinh/soDinhDanh"), Some(id.as_str()));
    assert_eq!(
        birth.single("KhaiSinh/danToc"),
        Some(record.citizen.dan_toc)
    );
    assert_eq!(
        birth.single("KhaiSinh/noiSinh"),
        Some(record.citizen.noi_sinh.as_str())
    );
    assert!(birth.single("KhaiSinh/soDangKy").is_some());
    assert!(birth.single("KhaiSinh/meHoTen").is_some());

    let answer = running.civil_status("ketHon", &lookup_request(id)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let xml = answer.json()["duLieu"]
        .as_str()
        .expect("XML string")
        .to_owned();
    let marriage = read_leaves(&xml).expect("the answer parses");
    assert_eq!(marriage.root, "KetHon");
    let spouse_ids = [
        marriage.single("KetHon/chongSoDinhDanh"),
        marriage.single("KetHon/voSoDinhDanh"),
    ];
    assert!(spouse_ids.contains(&Some(id.as_str())), "{xml}");
    let names = [
        marriage.single("KetHon/chongHoTen"),
        marriage.single("KetHon/voHoTen"),
    ];
    assert!(
        names.contains(&Some(record.citizen.ho_ten.as_str())),
        "{xml}"
    );

    let single = dataset
        .citizens()
        .iter()
        .find(|r| r.marriage.is_none())
        .expect("an unmarried citizen");
    let answer = running
        .civil_status("ketHon", &lookup_request(&single.citizen.so_dinh_danh))
        .await;
    assert_lgsp_error(&answer, StatusCode::NOT_FOUND, "RECORD_NOT_FOUND");
    let unknown = unknown_personal_id(&running.simulator);
    let answer = running
        .civil_status("khaiSinh", &lookup_request(&unknown))
        .await;
    assert_lgsp_error(&answer, StatusCode::NOT_FOUND, "RECORD_NOT_FOUND");
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn civil_status_refuses_doctype_and_bad_requests() {
    let running = start().await;
    let id = running.simulator.sample_personal_ids(1).remove(0);
    let doctype = format!(
        r#"<?xml version="1.0"?><!DOCTYPE YeuCauTraCuu [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><YeuCauTraCuu><soDinhDanh>{id}</soDinhDanh><x>&xxe;</x></YeuCauTraCuu>"#
    );
    let answer = running.civil_status("khaiSinh", &doctype).await;
    assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    assert!(
        answer.json()["moTa"]
            .as_str()
            .is_some_and(|m| m.contains("DOCTYPE"))
    );

    let bad_cases = [
        ("giamHo", lookup_request(&id)),
        (
            "khaiSinh",
            "<YeuCauTraCuu><soDinhDanh>123</soDinhDanh></YeuCauTraCuu>".to_owned(),
        ),
        ("khaiSinh", "<YeuCauTraCuu><soDinhDanh>".to_owned()),
        (
            "khaiSinh",
            format!("<Khac><soDinhDanh>{id}</soDinhDanh></Khac>"),
        ),
        (
            "khaiSinh",
            format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)),
        ),
    ];
    for (kind, xml) in bad_cases {
        let answer = running.civil_status(kind, &xml).await;
        assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    }
    for body in ["not json", r#"{"loaiBanGhi":"khaiSinh"}"#, "[]"] {
        let answer = running
            .send(Method::POST, "/civil-status/v1/records", full(body))
            .await;
        assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    }
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn fixed_and_unknown_paths() {
    let running = start().await;
    let answer = running.get("/fixed").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    assert_eq!(answer.json()["maKetQua"], "00");
    let answer = running.get("/vehicles/v1/plates/1").await;
    assert_lgsp_error(&answer, StatusCode::NOT_FOUND, "SERVICE_NOT_FOUND");
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bytes_streams_exactly_n_bytes() {
    let running = start().await;
    let n = 3 * 64 * 1024 + 123;
    let answer = running.get(&format!("/echo/v1/bytes/{n}")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body.len(), n);
    assert_eq!(
        answer
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()),
        Some(n.to_string().as_str())
    );
    assert!(answer.body.starts_with(b"abcdefghijklmnopqrstuvwxyzab"));
    let answer = running.get("/echo/v1/bytes/0").await;
    assert_eq!((answer.status, answer.body.len()), (StatusCode::OK, 0));
    for bad in ["1073741825", "-1", "ten"] {
        let answer = running.get(&format!("/echo/v1/bytes/{bad}")).await;
        assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    }
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn upload_streams_and_hashes() {
    let running = start().await;
    let chunks: Vec<Bytes> = (0..80u32)
        .map(|i| {
            Bytes::from(
                (0..64 * 1024)
                    .map(|j| (i * 31 + j) as u8)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect();
    let mut hasher = Sha256::new();
    for chunk in &chunks {
        hasher.update(chunk);
    }
    let expected: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let frames = chunks
        .into_iter()
        .map(|c| Ok::<_, Infallible>(Frame::data(c)));
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed();
    let answer = running.send(Method::PUT, "/echo/v1/upload", body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json(), json!({"bytes": total, "sha256": expected}));
    let answer = running.send(Method::POST, "/echo/v1/upload", empty()).await;
    let empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_eq!(answer.json(), json!({"bytes": 0, "sha256": empty_sha}));
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn inspect_shows_the_request() {
    let running = start().await;
    let request = Request::builder()
        .method(Method::PATCH)
        .uri(format!(
            "http://{}/echo/v1/inspect/a/b?x=1&y=%C3%A2",
            running.addr
        ))
        .header("X-Multi", "one")
        .header("x-multi", "two")
        .header("X-LGSP-Purpose", "1.001612")
        .body(full("hello"))
        .expect("request");
    let response = running.client.request(request).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(
        &response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
    .expect("json");
    assert_eq!(body["method"], "PATCH");
    assert_eq!(body["path"], "/echo/v1/inspect/a/b");
    assert_eq!(body["query"], "x=1&y=%C3%A2");
    assert_eq!(body["headers"]["x-multi"], "one, two");
    assert_eq!(body["headers"]["x-lgsp-purpose"], "1.001612");
    assert_eq!(body["bodyBytes"], 5);
    let answer = running
        .send(Method::DELETE, "/echo/v1/inspect", empty())
        .await;
    let body = answer.json();
    assert_eq!(
        (
            body["method"].as_str(),
            body["query"].as_str(),
            body["bodyBytes"].as_u64()
        ),
        (Some("DELETE"), Some(""), Some(0))
    );
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn slow_sleeps_then_answers() {
    let running = start().await;
    let started = Instant::now();
    let answer = running.get("/echo/v1/slow/120").await;
    assert!(started.elapsed() >= Duration::from_millis(120));
    assert_eq!(answer.json(), json!({"sleptMs": 120}));
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn fail_next_fails_exactly_n_and_stats_count() {
    let running = start().await;
    let path = format!(
        "/population/v1/citizens/{}",
        running.simulator.sample_personal_ids(1)[0]
    );
    let set = running
        .set_faults("population", json!({"fail_next": 2, "error_status": 503}))
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(set.json()["fail_next"], 2);
    for expected in [
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::SERVICE_UNAVAILABLE,
        StatusCode::OK,
    ] {
        let answer = running.get(&path).await;
        assert_eq!(answer.status, expected);
        assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    }
    running.get("/fixed").await;
    let stats = running.get("/__sim/stats").await.json();
    assert_eq!(stats["population"], 3, "{stats}");
    assert_eq!(stats["fixed"], 1, "{stats}");
    assert_eq!(stats["enterprise"], 0, "{stats}");
    let cleared = running
        .send(Method::DELETE, "/__sim/stats", empty())
        .await
        .json();
    assert_eq!(cleared["population"], 0);
    assert_eq!(running.get("/__sim/stats").await.json()["population"], 0);
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn error_rate_and_fault_control_plane() {
    let running = start().await;
    let path = format!(
        "/social-insurance/v1/households/{}",
        running.simulator.sample_personal_ids(1)[0]
    );
    running
        .set_faults(
            "social_insurance",
            json!({"error_rate": 1.0, "error_status": 502}),
        )
        .await;
    let answer = running.get(&path).await;
    assert_lgsp_error(&answer, StatusCode::BAD_GATEWAY, "SYSTEM_ERROR");
    let shown = running.get("/__sim/faults").await.json();
    assert_eq!(shown["social_insurance"]["error_rate"], 1.0);
    assert_eq!(shown["population"]["error_rate"], 0.0);
    running.send(Method::DELETE, "/__sim/faults", empty()).await;
    assert_eq!(running.get(&path).await.status, StatusCode::OK);

    assert_lgsp_error(
        &running.set_faults("vehicles", json!({})).await,
        StatusCode::NOT_FOUND,
        "RECORD_NOT_FOUND",
    );
    for bad in [
        json!({"error_rate": 2}),
        json!({"latency": 5}),
        json!({"error_status": 200}),
        json!([]),
    ] {
        let answer = running.set_faults("echo", bad).await;
        assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    }
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn latency_delays_answers() {
    let running = start().await;
    running
        .set_faults("fixed", json!({"latency_ms": 200}))
        .await;
    let started = Instant::now();
    assert_eq!(running.get("/fixed").await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(200));
    running.send(Method::DELETE, "/__sim/faults", empty()).await;
    let started = Instant::now();
    running.get("/fixed").await;
    assert!(started.elapsed() < Duration::from_millis(200));
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn malformed_answers_broken_json() {
    let running = start().await;
    let code = running.simulator.sample_enterprise_codes(1).remove(0);
    running
        .set_faults("enterprise", json!({"malformed_rate": 1.0}))
        .await;
    let answer = running
        .get(&format!("/enterprise/v1/enterprises/{code}"))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    assert!(serde_json::from_slice::<Value>(&answer.body).is_err());
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn reset_closes_the_connection_with_rst() {
    let running = start().await;
    running.set_faults("fixed", json!({"reset_next": 1})).await;
    let mut stream = TcpStream::connect(running.addr).await.expect("connect");
    stream
        .write_all(b"GET /fixed HTTP/1.1\r\nhost: sim\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("the connection ends promptly");
    match read {
        Err(error) => assert_eq!(error.kind(), io::ErrorKind::ConnectionReset),
        Ok(n) => panic!(
            "expected a reset, read {n} bytes: {:?}",
            String::from_utf8_lossy(&buffer[..n])
        ),
    }
    assert_eq!(
        running.get("/fixed").await.status,
        StatusCode::OK,
        "reset_next ran out"
    );

    running
        .set_faults("fixed", json!({"reset_rate": 1.0}))
        .await;
    assert!(
        running
            .try_send(Method::GET, "/fixed", empty())
            .await
            .is_err()
    );
    assert_eq!(running.get("/__sim/stats").await.json()["fixed"], 3);
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_lets_requests_finish_and_stops_accepting() {
    let running = start().await;
    let client = running.client.clone();
    let uri = format!("http://{}/echo/v1/slow/300", running.addr);
    let in_flight = tokio::spawn(async move {
        let request = Request::builder().uri(uri).body(empty()).expect("request");
        client.request(request).await.map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = running.addr;
    let started = Instant::now();
    running.stop().await.expect("clean stop");
    assert!(started.elapsed() < Duration::from_secs(5));
    let status = in_flight
        .await
        .expect("task")
        .expect("the in-flight request completes");
    assert_eq!(status, StatusCode::OK);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

impl Running {
    async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(full(body)).expect("valid request");
        let response = self.client.request(request).await.expect("an answer");
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("whole body").to_bytes(),
        }
    }

    /// Posts a SOAP 1.1 envelope to the enterprise SOAP route.
    async fn soap(&self, message: &EncodedMessage) -> Answer {
        let action = message.soap_action.clone().unwrap_or_default();
        let headers = [
            ("content-type", message.content_type.as_str()),
            ("soapaction", action.as_str()),
        ];
        self.post_with("/enterprise/v1/soap", &headers, message.body.clone())
            .await
    }
}

fn enterprise_mapping() -> Mapping {
    Mapping::builtin("enterprise-lookup").expect("built in")
}

/// The SOAP 1.1 lookup of an enterprise code.
fn lookup_envelope(code: &str) -> EncodedMessage {
    enterprise_mapping()
        .encode_request(&json!({ "maDoanhNghiep": code }))
        .expect("encodes")
}

/// The fault of a SOAP answer, checking the SOAP 1.1 framing.
fn soap_fault_of(answer: &Answer, status: StatusCode) -> SoapFault {
    assert_eq!(
        answer.status,
        status,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type(), "text/xml; charset=utf-8");
    match enterprise_mapping().decode_response(&answer.body, &XmlLimits::default()) {
        Err(CodecError::Fault(fault)) => fault,
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[tokio::test]
async fn enterprise_soap_answers_like_the_json_route() {
    let running = start().await;
    let mapping = enterprise_mapping();
    for code in running.simulator.sample_enterprise_codes(5) {
        let answer = running.soap(&lookup_envelope(&code)).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.content_type(), "text/xml; charset=utf-8");
        let decoded = mapping
            .decode_response(&answer.body, &XmlLimits::default())
            .expect("decodes");
        let json = running
            .get(&format!("/enterprise/v1/enterprises/{code}"))
            .await
            .json();
        assert_eq!(decoded, json);
    }
    let fault = soap_fault_of(
        &running.soap(&lookup_envelope("0000000000")).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    assert_eq!(
        (fault.code.as_str(), fault.detail.as_deref()),
        ("Client", Some("RECORD_NOT_FOUND"))
    );
    let fault = soap_fault_of(
        &running.soap(&lookup_envelope("12ab")).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    assert_eq!(fault.detail.as_deref(), Some("DATA_INCORRECT"));
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn enterprise_soap_refuses_wrong_envelopes_and_headers() {
    let running = start().await;
    let code = running.simulator.sample_enterprise_codes(1).remove(0);
    let request = lookup_envelope(&code);
    let wrong_action = EncodedMessage {
        soap_action: Some("\"urn:other#Xoa\"".into()),
        ..request.clone()
    };
    let fault = soap_fault_of(
        &running.soap(&wrong_action).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    assert_eq!(fault.code, "Client");
    let json_body = EncodedMessage {
        content_type: "application/json".into(),
        ..request.clone()
    };
    soap_fault_of(
        &running.soap(&json_body).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    let soap12 = EncodedMessage {
        body: String::from_utf8(request.body.clone())
            .expect("UTF-8")
            .replace(
                "http://schemas.xmlsoap.org/soap/envelope/",
                "http://www.w3.org/2003/05/soap-envelope",
            )
            .into_bytes(),
        ..request.clone()
    };
    let fault = soap_fault_of(
        &running.soap(&soap12).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    assert_eq!(fault.code, "VersionMismatch");
    let xxe = EncodedMessage {
        body: format!(
            r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>{}"#,
            String::from_utf8_lossy(&request.body)
                .trim_start_matches(r#"<?xml version="1.0" encoding="utf-8"?>"#)
        )
        .into_bytes(),
        ..request.clone()
    };
    let fault = soap_fault_of(&running.soap(&xxe).await, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(fault.reason.contains("DOCTYPE"), "{fault:?}");
    let deep = EncodedMessage {
        body: format!("{}{}", "<a>".repeat(5_000), "</a>".repeat(5_000)).into_bytes(),
        ..request.clone()
    };
    let fault = soap_fault_of(
        &running.soap(&deep).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    );
    assert!(fault.reason.contains("deeper"), "{fault:?}");
    assert_eq!(running.soap(&request).await.status, StatusCode::OK);
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn enterprise_soap_fault_knobs_answer_in_soap() {
    let running = start().await;
    let code = running.simulator.sample_enterprise_codes(1).remove(0);
    let request = lookup_envelope(&code);
    running
        .set_faults(
            "enterprise_soap",
            json!({"fail_next": 1, "error_status": 503}),
        )
        .await;
    let fault = soap_fault_of(
        &running.soap(&request).await,
        StatusCode::SERVICE_UNAVAILABLE,
    );
    assert_eq!(
        (fault.code.as_str(), fault.detail.as_deref()),
        ("Server", Some("SYSTEM_ERROR"))
    );
    running
        .set_faults("enterprise_soap", json!({"malformed_rate": 1.0}))
        .await;
    let answer = running.soap(&request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "text/xml; charset=utf-8");
    assert!(matches!(
        enterprise_mapping().decode_response(&answer.body, &XmlLimits::default()),
        Err(CodecError::Xml(XmlError::Malformed(_)))
    ));
    // The JSON route keeps its own knobs.
    let json = running
        .get(&format!("/enterprise/v1/enterprises/{code}"))
        .await;
    assert_eq!(json.status, StatusCode::OK);
    let stats = running.get("/__sim/stats").await.json();
    assert_eq!(
        (
            stats["enterprise_soap"].as_u64(),
            stats["enterprise"].as_u64()
        ),
        (Some(2), Some(1))
    );
    running.stop().await.expect("clean stop");
}

#[test]
fn land_parcels_cover_households_and_are_deterministic() {
    let simulator = Simulator::new(SimulatorOptions::default());
    let dataset = &simulator.dataset;
    let parcels = dataset.land().parcels();
    assert!(
        parcels.len() >= dataset.households().len(),
        "{}",
        parcels.len()
    );
    let codes: HashSet<_> = parcels.iter().map(|p| p.ma_thua_dat.as_str()).collect();
    assert_eq!(codes.len(), parcels.len());
    let shared = parcels
        .iter()
        .filter(|p| p.nguoi_su_dung.len() == 2)
        .count();
    assert!(shared > 1_000, "{shared}");
    for parcel in parcels {
        let parts: u32 = parcel
            .muc_dich_su_dung
            .iter()
            .map(|u| (u.dien_tich * 10.0).round() as u32)
            .sum();
        assert_eq!(
            parts,
            (parcel.dien_tich * 10.0).round() as u32,
            "{parcel:?}"
        );
        for user in &parcel.nguoi_su_dung {
            let id = user.so_dinh_danh.as_deref().expect("a person");
            assert!(dataset.citizen(id).is_some());
        }
    }
    let again = Simulator::new(SimulatorOptions::default());
    assert_eq!(
        simulator.sample_parcel_codes(20),
        again.sample_parcel_codes(20)
    );
    assert_eq!(simulator.sample_parcel_codes(20).len(), 20);
}

#[tokio::test]
async fn land_answers_known_unknown_and_malformed_codes() {
    let running = start().await;
    let code = running.simulator.sample_parcel_codes(1).remove(0);
    let answer = running.get(&format!("/land/v1/parcels/{code}")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), "application/json; charset=utf-8");
    let parcel = answer.json();
    assert_eq!(parcel["maThuaDat"], code.as_str());
    assert!(parcel["nguoiSuDung"][0]["hoTen"].is_string(), "{parcel}");
    let answer = running.get("/land/v1/parcels/99999-1-1").await;
    assert_lgsp_error(&answer, StatusCode::NOT_FOUND, "RECORD_NOT_FOUND");
    for malformed in ["1", "8701-1-1", "87010-12345-1", "87010-1-x"] {
        let answer = running.get(&format!("/land/v1/parcels/{malformed}")).await;
        assert_lgsp_error(&answer, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    }
    running.stop().await.expect("clean stop");
}

#[tokio::test]
async fn ndxp_token_endpoint_checks_the_client_and_the_grant() {
    let running = start().await;
    let path = "/ndxp/oauth2/token";
    let form = ("content-type", "application/x-www-form-urlencoded");
    let settings = running.simulator.ndxp_token_settings().clone();
    let basic = |id: &str, secret: &str| {
        use base64::Engine as _;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        format!("Basic {encoded}")
    };
    let good = basic(&settings.client_id, &settings.client_secret);
    let grant = b"grant_type=client_credentials".to_vec();

    let issued = running
        .post_with(path, &[form, ("authorization", &good)], grant.clone())
        .await;
    assert_eq!(issued.status, StatusCode::OK);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let body = issued.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], settings.lifetime.as_secs());
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));

    let wrong = basic(&settings.client_id, "nope");
    for headers in [vec![form], vec![form, ("authorization", wrong.as_str())]] {
        let refused = running.post_with(path, &headers, grant.clone()).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.json()["error"], "invalid_client");
        assert!(refused.headers.contains_key("www-authenticate"));
    }
    let other_grant = running
        .post_with(
            path,
            &[form, ("authorization", &good)],
            b"grant_type=password".to_vec(),
        )
        .await;
    assert_eq!(other_grant.status, StatusCode::BAD_REQUEST);
    assert_eq!(other_grant.json()["error"], "unsupported_grant_type");
    let not_a_form = running
        .post_with(path, &[("authorization", &good)], grant)
        .await;
    assert_eq!(not_a_form.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_a_form.json()["error"], "invalid_request");

    assert_eq!(running.get("/__sim/stats").await.json()["ndxp_token"], 5);
    running.stop().await.expect("clean shutdown");
}

impl Running {
    /// Any request with headers.
    async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(full(body)).expect("valid request");
        let response = self.client.request(request).await.expect("an answer");
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("whole body").to_bytes(),
        }
    }

    /// A fresh NDXP token from the simulated token endpoint.
    async fn ndxp_token(&self) -> String {
        use base64::Engine as _;
        let settings = self.simulator.ndxp_token_settings().clone();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", settings.client_id, settings.client_secret));
        let answer = self
            .post_with(
                "/ndxp/oauth2/token",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("authorization", &format!("Basic {basic}")),
                ],
                b"grant_type=client_credentials".to_vec(),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        answer.json()["access_token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// A request through NDXP with a token and the province's headers.
    async fn ndxp(&self, method: Method, path: &str, token: &str, body: Vec<u8>) -> Answer {
        let authorization = format!("Bearer {token}");
        let headers = [
            ("authorization", authorization.as_str()),
            ("x-ndxp-consumer", "000.00.00.H29"),
            ("x-ndxp-origin-system", "motcua-myhiep"),
            ("content-type", "application/json"),
        ];
        self.send_with(method, path, &headers, body).await
    }
}

fn assert_invalid_token(answer: &Answer) {
    assert_lgsp_error(answer, StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
    let challenge = answer.headers["www-authenticate"].to_str().expect("ASCII");
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn ndxp_routes_check_token_consumer_and_origin() {
    let running = start().await;
    let id = running.simulator.sample_personal_ids(1).remove(0);
    let path = format!("/ndxp/v1/population/citizens/{id}");

    let bare = running.get(&path).await;
    assert_invalid_token(&bare);
    let forged = running
        .ndxp(Method::GET, &path, "ndxp-sim-1-0000", Vec::new())
        .await;
    assert_invalid_token(&forged);

    let token = running.ndxp_token().await;
    let authorization = format!("Bearer {token}");
    let wrong_consumer = running
        .send_with(
            Method::GET,
            &path,
            &[
                ("authorization", &authorization),
                ("x-ndxp-consumer", "000.00.00.H30"),
                ("x-ndxp-origin-system", "motcua-myhiep"),
            ],
            Vec::new(),
        )
        .await;
    assert_lgsp_error(
        &wrong_consumer,
        StatusCode::FORBIDDEN,
        "CONSUMER_NOT_ALLOWED",
    );
    let no_origin = running
        .send_with(
            Method::GET,
            &path,
            &[
                ("authorization", &authorization),
                ("x-ndxp-consumer", "000.00.00.H29"),
                ("x-ndxp-officer", "canbo.a"),
            ],
            Vec::new(),
        )
        .await;
    assert_lgsp_error(&no_origin, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    // The last request's NDXP headers are shown, the token never.
    let seen = running.get("/__sim/ndxp/last-headers").await.json();
    assert_eq!(
        seen,
        json!({ "x-ndxp-consumer": "000.00.00.H29", "x-ndxp-officer": "canbo.a" })
    );

    let citizen = running.ndxp(Method::GET, &path, &token, Vec::new()).await;
    assert_eq!(citizen.status, StatusCode::OK);
    assert_eq!(citizen.json()["soDinhDanh"], id.as_str());
    let household = running
        .ndxp(
            Method::GET,
            &format!("/ndxp/v1/social-insurance/households/{id}"),
            &token,
            Vec::new(),
        )
        .await;
    assert_eq!(household.status, StatusCode::OK);
    let birth = json!({ "loaiBanGhi": "khaiSinh", "duLieu": lookup_request(&id) });
    let record = running
        .ndxp(
            Method::POST,
            "/ndxp/v1/civil-status/records",
            &token,
            birth.to_string().into_bytes(),
        )
        .await;
    assert_eq!(record.status, StatusCode::OK);
    assert_eq!(record.json()["maKetQua"], "00");

    // Only the three requests the guard let in reach the fault gate and are counted.
    let stats = running.get("/__sim/stats").await.json();
    assert_eq!(stats["ndxp"], 3);
    assert_eq!(
        stats["population"], 0,
        "the plain route is a separate family"
    );

    // Expired tokens: refused until a new one is fetched.
    let expired = running
        .send(Method::POST, "/__sim/ndxp/expire-tokens", empty())
        .await;
    assert_eq!(expired.status, StatusCode::OK);
    assert_invalid_token(&running.ndxp(Method::GET, &path, &token, Vec::new()).await);
    let fresh = running.ndxp_token().await;
    assert_ne!(fresh, token);
    let again = running.ndxp(Method::GET, &path, &fresh, Vec::new()).await;
    assert_eq!(again.status, StatusCode::OK);

    // The fault knobs of the NDXP family apply behind the guard.
    running
        .set_faults("ndxp", json!({ "fail_next": 1, "error_status": 503 }))
        .await;
    let failed = running.ndxp(Method::GET, &path, &fresh, Vec::new()).await;
    assert_lgsp_error(&failed, StatusCode::SERVICE_UNAVAILABLE, "SYSTEM_ERROR");
    running.stop().await.expect("clean shutdown");
}

#[test]
fn deaths_are_deterministic_and_declared_by_a_household_member() {
    let a = Simulator::new(SimulatorOptions::default());
    let b = Simulator::new(SimulatorOptions::default());
    let deceased = a.sample_deceased_ids(10_000);
    assert_eq!(deceased, b.sample_deceased_ids(10_000));
    assert!(deceased.len() > 100, "only {} deaths", deceased.len());
    for id in &deceased {
        let dataset = &a.dataset;
        let record = dataset.citizen(id).expect("a citizen");
        let death = dataset.death_of(id).expect("a death");
        let declarant = dataset.citizen_at(death.declarant).expect("declarant");
        assert_ne!(&declarant.citizen.so_dinh_danh, id);
        assert_eq!(declarant.household, record.household);
        assert!(record.citizen.ngay_sinh < death.ngay_chet, "{id}");
        assert!(death.ngay_chet < death.ngay_dang_ky, "{id}");
    }
    let living = a.sample_personal_ids(50);
    assert!(living.iter().any(|id| a.dataset.death_of(id).is_none()));
}

#[tokio::test]
async fn civil_status_answers_death_records() {
    let running = start().await;
    let id = running.simulator.sample_deceased_ids(1).remove(0);
    let answer = running.civil_status("khaiTu", &lookup_request(&id)).await;
    assert_eq!(answer.status, StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["maKetQua"], "00");
    let message = read_leaves(body["duLieu"].as_str().expect("XML")).expect("well-formed");
    assert_eq!(message.root, "KhaiTu");
    assert_eq!(message.single("KhaiTu/soDinhDanh"), Some(id.as_str()));
    let record = running.simulator.dataset.citizen(&id).expect("citizen");
    assert_eq!(
        message.single("KhaiTu/hoTen"),
        Some(record.citizen.ho_ten.as_str())
    );
    let living = running
        .simulator
        .sample_personal_ids(200)
        .into_iter()
        .find(|id| running.simulator.dataset.death_of(id).is_none())
        .expect("a living citizen");
    let none = running
        .civil_status("khaiTu", &lookup_request(&living))
        .await;
    assert_lgsp_error(&none, StatusCode::NOT_FOUND, "RECORD_NOT_FOUND");
    let other = running.civil_status("khaiHon", &lookup_request(&id)).await;
    assert_lgsp_error(&other, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    assert!(
        other.json()["moTa"]
            .as_str()
            .is_some_and(|m| m.contains("khaiTu"))
    );
}

/// A criminal-record request for a citizen of the dataset.
fn criminal_record_request(simulator: &Simulator, id: &str, ma_ho_so: &str) -> Value {
    let citizen = &simulator.dataset.citizen(id).expect("citizen").citizen;
    json!({
        "maHoSo": ma_ho_so,
        "loaiPhieu": 1,
        "mucDichSuDung": "Bổ sung hồ sơ xin việc",
        "soLuongPhieu": 1,
        "coQuanTiepNhan": "000.01.00.H29",
        "ngayYeuCau": "2026-11-20",
        "nguoiYeuCau": {
            "soDinhDanh": id,
            "hoTen": citizen.ho_ten,
            "gioiTinh": citizen.gioi_tinh,
            "ngaySinh": citizen.ngay_sinh,
            "noiSinh": citizen.noi_sinh,
            "quocTich": citizen.quoc_tich,
        }
    })
}

#[tokio::test]
async fn criminal_record_requests_move_from_received_to_issued() {
    let running = start().await;
    let token = running.ndxp_token().await;
    let ids = running.simulator.sample_personal_ids(2);
    let request = criminal_record_request(&running.simulator, &ids[0], "H29.01-2026-000321");
    let post = |body: Value| {
        let token = token.clone();
        let running = &running;
        async move {
            running
                .ndxp(
                    Method::POST,
                    "/ndxp/v1/criminal-record/requests",
                    &token,
                    body.to_string().into_bytes(),
                )
                .await
        }
    };
    let filed = post(request.clone()).await;
    assert_eq!(filed.status, StatusCode::OK);
    let filed = filed.json();
    assert_eq!(filed["maHoSo"], "H29.01-2026-000321");
    assert_eq!(filed["trangThai"], "tiepNhan");
    assert_eq!(filed["coQuanXuLy"]["maDinhDanh"], "000.00.00.G12");
    // Filing again is not a second request.
    assert_eq!(post(request).await.json()["trangThai"], "tiepNhan");

    let path = "/ndxp/v1/criminal-record/requests/H29.01-2026-000321";
    let states: Vec<Value> = [
        running
            .ndxp(Method::GET, path, &token, Vec::new())
            .await
            .json(),
        running
            .ndxp(Method::GET, path, &token, Vec::new())
            .await
            .json(),
    ]
    .into();
    assert_eq!(states[0]["trangThai"], "dangXuLy");
    assert_eq!(states[1]["trangThai"], "daCoKetQua");
    assert!(
        states[1]["soPhieu"]
            .as_str()
            .is_some_and(|s| s.ends_with("/LLTP"))
    );

    // A person the population database does not know as written is refused.
    let mut mismatch = criminal_record_request(&running.simulator, &ids[1], "H29.01-2026-000322");
    mismatch["nguoiYeuCau"]["hoTen"] = json!("Tên Không Khớp");
    let refused = post(mismatch).await.json();
    assert_eq!(refused["trangThai"], "tuChoi");
    assert!(
        refused["lyDo"]
            .as_str()
            .is_some_and(|r| r.contains("không khớp"))
    );

    let broken = post(json!({ "maHoSo": "H29.01-2026-000323" })).await;
    assert_lgsp_error(&broken, StatusCode::BAD_REQUEST, "DATA_INCORRECT");
    let unknown = running
        .ndxp(
            Method::GET,
            "/ndxp/v1/criminal-record/requests/H29.01-2026-999999",
            &token,
            Vec::new(),
        )
        .await;
    assert_lgsp_error(&unknown, StatusCode::NOT_FOUND, "RECORD_NOT_FOUND");
    running.stop().await.expect("clean shutdown");
}
