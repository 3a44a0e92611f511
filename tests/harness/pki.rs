//! A throwaway certificate authority for the TLS tests (rcgen): server and
//! client certificates as PEM, with their SHA-256 fingerprints.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// A certificate authority that signs the test's certificates.
pub struct TestCa(CertifiedIssuer<'static, KeyPair>);

/// A certificate with its key, as PEM, and the SHA-256 of its DER.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
    /// Lowercase hex SHA-256 of the certificate's DER, as systems are bound by.
    pub fingerprint: String,
}

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        TestCa(CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca"))
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// A server (`server`) or client certificate for `name`, valid now.
    pub fn leaf(&self, name: &str, server: bool) -> Leaf {
        self.issue(name, name, server, None)
    }

    /// A server certificate named `name` for 127.0.0.1, valid from `from` to `until` days from now.
    pub fn server(&self, name: &str, from: i64, until: i64) -> Leaf {
        self.issue(name, "127.0.0.1", true, Some((from, until)))
    }

    fn issue(&self, name: &str, san: &str, server: bool, days: Option<(i64, i64)>) -> Leaf {
        let mut params = CertificateParams::new(vec![san.to_string()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if let Some((from, until)) = days {
            let now = OffsetDateTime::now_utc();
            params.not_before = now + time::Duration::days(from);
            params.not_after = now + time::Duration::days(until);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.0).expect("sign");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            fingerprint: Sha256::digest(cert.der())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}
