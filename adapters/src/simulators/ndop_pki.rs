//! The certificates and keys of the NDOP simulator and of the province that
//! calls it, generated with rcgen: a CA, NDOP's server certificate, the
//! province's client certificate (whose key also signs requests), and NDOP's
//! response-signing certificate. All keys are ECDSA P-256 in PKCS#8 PEM.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

use crate::ndop::NdopSettings;

/// The CA certificate.
const CA_FILE: &str = "ca.pem";
/// NDOP's TLS server certificate.
const SERVER_CERT_FILE: &str = "ndop-server.pem";
/// NDOP's TLS server key.
const SERVER_KEY_FILE: &str = "ndop-server-key.pem";
/// The province's TLS client certificate.
const CLIENT_CERT_FILE: &str = "province-client.pem";
/// The province's TLS client key, also its request-signing key.
const CLIENT_KEY_FILE: &str = "province-client-key.pem";
/// NDOP's response-signing certificate.
const SIGNING_CERT_FILE: &str = "ndop-signing.pem";
/// NDOP's response-signing key.
const SIGNING_KEY_FILE: &str = "ndop-signing-key.pem";

/// The PEMs of the simulated NDOP exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct NdopPki {
    /// The CA that issues every certificate below.
    pub ca_pem: String,
    /// NDOP's server certificate, for `127.0.0.1` and `localhost`.
    pub server_cert_pem: String,
    /// NDOP's server key.
    pub server_key_pem: String,
    /// The province's client certificate (client auth).
    pub client_cert_pem: String,
    /// The province's client key, also its request-signing key.
    pub client_key_pem: String,
    /// NDOP's response-signing certificate.
    pub signing_cert_pem: String,
    /// NDOP's response-signing key.
    pub signing_key_pem: String,
}

impl std::fmt::Debug for NdopPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdopPki").finish_non_exhaustive()
    }
}

/// Where [`NdopPki::write_to`] put each PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NdopPkiFiles {
    /// `ca.pem`.
    pub ca: PathBuf,
    /// `ndop-server.pem`.
    pub server_cert: PathBuf,
    /// `ndop-server-key.pem`.
    pub server_key: PathBuf,
    /// `province-client.pem`.
    pub client_cert: PathBuf,
    /// `province-client-key.pem`.
    pub client_key: PathBuf,
    /// `ndop-signing.pem`.
    pub signing_cert: PathBuf,
    /// `ndop-signing-key.pem`.
    pub signing_key: PathBuf,
}

impl NdopPkiFiles {
    /// The fixed file names inside `dir`.
    pub fn in_dir(dir: &Path) -> NdopPkiFiles {
        NdopPkiFiles {
            ca: dir.join(CA_FILE),
            server_cert: dir.join(SERVER_CERT_FILE),
            server_key: dir.join(SERVER_KEY_FILE),
            client_cert: dir.join(CLIENT_CERT_FILE),
            client_key: dir.join(CLIENT_KEY_FILE),
            signing_cert: dir.join(SIGNING_CERT_FILE),
            signing_key: dir.join(SIGNING_KEY_FILE),
        }
    }

    fn all(&self) -> [&Path; 7] {
        [
            &self.ca,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
            &self.signing_cert,
            &self.signing_key,
        ]
    }
}

fn pki_error(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("generating the NDOP simulator PKI failed: {e}"))
}

fn named(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CountryName, "VN");
    name.push(DnType::OrganizationName, "LGSP simulator");
    name.push(DnType::CommonName, common_name);
    name
}

impl NdopPki {
    /// Generates a fresh CA and the three certificates it issues.
    pub fn generate() -> io::Result<NdopPki> {
        let ca_key = KeyPair::generate().map_err(pki_error)?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = named("NDOP simulator CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(pki_error)?;
        let ca = Issuer::new(ca_params, ca_key);

        let issue = |sans: Vec<String>,
                     common_name: &str,
                     usage: Option<ExtendedKeyUsagePurpose>|
         -> io::Result<(String, String)> {
            let key = KeyPair::generate().map_err(pki_error)?;
            let mut params = CertificateParams::new(sans).map_err(pki_error)?;
            params.distinguished_name = named(common_name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = usage.into_iter().collect();
            let cert = params.signed_by(&key, &ca).map_err(pki_error)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert_pem, server_key_pem) = issue(
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            "ndop.simulator",
            Some(ExtendedKeyUsagePurpose::ServerAuth),
        )?;
        let (client_cert_pem, client_key_pem) = issue(
            Vec::new(),
            "lgsp-province",
            Some(ExtendedKeyUsagePurpose::ClientAuth),
        )?;
        let (signing_cert_pem, signing_key_pem) = issue(Vec::new(), "NDOP response signing", None)?;
        Ok(NdopPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
            signing_cert_pem,
            signing_key_pem,
        })
    }

    /// Writes the PEMs into `dir` (created if missing) under their fixed
    /// names; key files are readable by the owner only.
    pub fn write_to(&self, dir: &Path) -> io::Result<NdopPkiFiles> {
        fs::create_dir_all(dir)?;
        let files = NdopPkiFiles::in_dir(dir);
        write_file(&files.ca, &self.ca_pem, false)?;
        write_file(&files.server_cert, &self.server_cert_pem, false)?;
        write_file(&files.server_key, &self.server_key_pem, true)?;
        write_file(&files.client_cert, &self.client_cert_pem, false)?;
        write_file(&files.client_key, &self.client_key_pem, true)?;
        write_file(&files.signing_cert, &self.signing_cert_pem, false)?;
        write_file(&files.signing_key, &self.signing_key_pem, true)?;
        Ok(files)
    }

    /// Reads the PEMs from `dir` when all seven files are there; otherwise
    /// generates a fresh set and writes it, so a partial set is never mixed
    /// with new keys.
    pub fn load_or_generate(dir: &Path) -> io::Result<NdopPki> {
        let files = NdopPkiFiles::in_dir(dir);
        if files.all().iter().all(|p| p.is_file()) {
            return Ok(NdopPki {
                ca_pem: fs::read_to_string(&files.ca)?,
                server_cert_pem: fs::read_to_string(&files.server_cert)?,
                server_key_pem: fs::read_to_string(&files.server_key)?,
                client_cert_pem: fs::read_to_string(&files.client_cert)?,
                client_key_pem: fs::read_to_string(&files.client_key)?,
                signing_cert_pem: fs::read_to_string(&files.signing_cert)?,
                signing_key_pem: fs::read_to_string(&files.signing_key)?,
            });
        }
        let pki = NdopPki::generate()?;
        pki.write_to(dir)?;
        Ok(pki)
    }

    /// The province's adapter settings for calling this NDOP: its client
    /// certificate (whose key also signs), trusting this CA, verifying with
    /// NDOP's signing certificate, skew 300 s.
    pub fn province_settings(&self, key_id: &str) -> NdopSettings {
        NdopSettings {
            client_cert_pem: self.client_cert_pem.clone(),
            client_key_pem: self.client_key_pem.clone(),
            server_ca_pem: self.ca_pem.clone(),
            signing_key_pem: self.client_key_pem.clone(),
            key_id: key_id.to_owned(),
            response_verify_cert_pem: self.signing_cert_pem.clone(),
            max_skew: Duration::from_secs(300),
        }
    }
}

/// Writes `contents` to `path`, owner-only for secrets.
fn write_file(path: &Path, contents: &str, secret: bool) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(path)?;
    // `mode` only applies to new files; an old key file may be wider.
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_fixed_names_and_reuses_them() {
        let dir = std::env::temp_dir().join(format!("lgsp-ndop-pki-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let first = NdopPki::load_or_generate(&dir).expect("generate");
        let files = NdopPkiFiles::in_dir(&dir);
        for path in files.all() {
            assert!(path.is_file(), "{path:?}");
        }
        assert_eq!(
            fs::read_to_string(&files.client_key).expect("read"),
            first.client_key_pem
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for key in [&files.server_key, &files.client_key, &files.signing_key] {
                let mode = fs::metadata(key).expect("meta").permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{key:?}");
            }
        }
        let again = NdopPki::load_or_generate(&dir).expect("load");
        assert!(again == first, "existing files are reused");
        fs::remove_file(&files.ca).expect("remove");
        let fresh = NdopPki::load_or_generate(&dir).expect("regenerate");
        assert!(fresh.ca_pem != first.ca_pem, "a partial set is regenerated");
        let _ = fs::remove_dir_all(&dir);
    }
}
