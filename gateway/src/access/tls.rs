//! TLS for the data listener (rustls with the ring provider, TLS 1.2 and 1.3),
//! with optional client certificates for mTLS-authenticated systems.
//!
//! Client certificates are optional even when a client CA is configured:
//! bearer tokens and API keys still work over TLS, and a presented
//! certificate is verified against the CA during the handshake, so the
//! pipeline only ever sees fingerprints of certificates the CA issued.

use crate::access::AccessError;
use crate::access::secrets::certificate_fingerprint;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// A client that has not finished its handshake by then is dropped, so idle
/// half-open connections cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after an accept error that is not about one connection (e.g. out of
/// file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Where the data listener's certificate, key and optional client CA live (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server certificate chain, leaf first.
    pub cert: PathBuf,
    /// The server private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates that issue consumer client certificates; mTLS is off when absent.
    pub client_ca: Option<PathBuf>,
}

/// The client certificate a connection presented, inserted into every request's extensions.
#[derive(Clone, Debug)]
pub struct ClientCertificate {
    /// SHA-256 of the end-entity certificate's DER, lowercase hex.
    pub fingerprint: String,
}

/// Builds the rustls server configuration for the data listener.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, AccessError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&settings.cert, "server certificate")?;
    let key = PrivateKeyDer::from_pem_file(&settings.key).map_err(|e| {
        AccessError::Tls(format!(
            "server key {}: {}",
            settings.key.display(),
            pem_error(e)
        ))
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| AccessError::Tls(e.to_string()))?;
    let builder = match &settings.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "client CA")? {
                roots
                    .add(cert)
                    .map_err(|e| AccessError::Tls(format!("client CA {}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| AccessError::Tls(format!("client CA {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| AccessError::Tls(format!("server certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Reads every certificate of a PEM file; an empty file is an error.
fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, AccessError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| AccessError::Tls(format!("{what} {}: {}", path.display(), pem_error(e))))?;
    if certs.is_empty() {
        return Err(AccessError::Tls(format!(
            "{what} {}: no certificate in file",
            path.display()
        )));
    }
    Ok(certs)
}

/// A PEM error in words that never quote file content (the key file is secret).
fn pem_error(error: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "no PEM item of the expected kind".into(),
        _ => "malformed PEM".into(),
    }
}

/// Serves `router` over TLS on `listener` until `stop` turns true, then drains live connections.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    {
        // A dropped sender also ends serving: nobody could stop us otherwise.
        // The guard `wait_for` returns is not `Send`; drop it inside the future.
        let stopping = async {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        tokio::pin!(stopping);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut stopping => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) if is_per_connection(&error) => continue,
                    Err(error) => {
                        tracing::warn!(event = "tls_accept_failed", error = %error);
                        tokio::select! {
                            _ = &mut stopping => break,
                            () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                        }
                    }
                },
            };
            // Taken before the task starts, so a shutdown signalled while the
            // handshake is still running reaches the connection too.
            let watcher = graceful.watcher();
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(error)) => {
                        tracing::debug!(event = "tls_handshake_failed", peer = %peer, error = %error);
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(event = "tls_handshake_timeout", peer = %peer);
                        return;
                    }
                };
                let client_certificate = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|leaf| ClientCertificate {
                        fingerprint: certificate_fingerprint(leaf),
                    });
                let service = tower::util::MapRequest::new(
                    router,
                    move |mut request: http::Request<Incoming>| {
                        let extensions = request.extensions_mut();
                        extensions.insert(ConnectInfo(peer));
                        if let Some(cert) = &client_certificate {
                            extensions.insert(cert.clone());
                        }
                        request
                    },
                );
                let mut builder = auto::Builder::new(TokioExecutor::new());
                // With a timer, hyper enforces its HTTP/1 header-read timeout,
                // which keeps slow-header clients from holding connections.
                builder.http1().timer(TokioTimer::new());
                builder.http2().timer(TokioTimer::new());
                let connection = builder
                    .serve_connection_with_upgrades(
                        TokioIo::new(tls),
                        TowerToHyperService::new(service),
                    )
                    .into_owned();
                if let Err(error) = watcher.watch(connection).await {
                    tracing::debug!(event = "tls_connection_error", peer = %peer, error = %error);
                }
            });
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Accept errors that concern only the connection being accepted.
fn is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Request;
    use axum::routing::get;
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    use rustls::ClientConfig;
    use rustls::pki_types::ServerName;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_rustls::TlsConnector;

    struct Ca {
        issuer: CertifiedIssuer<'static, KeyPair>,
    }

    impl Ca {
        fn new(name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate().expect("key");
            Ca {
                issuer: CertifiedIssuer::self_signed(params, key).expect("ca"),
            }
        }

        /// A leaf certificate and its key, for a server or a client.
        fn leaf(&self, name: &str, server: bool) -> (CertificateDer<'static>, KeyPair) {
            let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
            params.distinguished_name.push(DnType::CommonName, name);
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![if server {
                ExtendedKeyUsagePurpose::ServerAuth
            } else {
                ExtendedKeyUsagePurpose::ClientAuth
            }];
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &self.issuer).expect("sign");
            (cert.der().clone(), key)
        }
    }

    fn pem(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    struct Server {
        addr: SocketAddr,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
        ca: Ca,
        _dir: tempfile::TempDir,
    }

    async fn start(with_client_ca: bool) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::new("LGSP test CA");
        let (cert, key) = ca.leaf("localhost", true);
        let settings = TlsSettings {
            cert: dir.path().join("server.crt"),
            key: dir.path().join("server.key"),
            client_ca: with_client_ca.then(|| dir.path().join("ca.crt")),
        };
        std::fs::write(&settings.cert, pem("CERTIFICATE", &cert)).expect("write");
        std::fs::write(&settings.key, key.serialize_pem()).expect("write");
        std::fs::write(dir.path().join("ca.crt"), ca.issuer.pem()).expect("write");
        let config = server_config(&settings).expect("server config");

        let router = Router::new().route(
            "/",
            get(|request: Request| async move {
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| addr.ip().to_string())
                    .unwrap_or_else(|| "no-peer".into());
                match request.extensions().get::<ClientCertificate>() {
                    Some(cert) => format!("cert={} peer={peer}", cert.fingerprint),
                    None => format!("no-cert peer={peer}"),
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve_tls(listener, config, router, stopped));
        Server {
            addr,
            stop,
            task,
            ca,
            _dir: dir,
        }
    }

    fn client_config(ca: &Ca, client: Option<(CertificateDer<'static>, &KeyPair)>) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(ca.issuer.der().clone()).expect("root");
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots);
        match client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let key = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
                builder
                    .with_client_auth_cert(vec![cert], key)
                    .expect("client auth")
            }
        }
    }

    /// One HTTP/1.1 GET over TLS; the response text, or the error that ended it.
    async fn get_over_tls(addr: SocketAddr, config: ClientConfig) -> Result<String, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let connector = TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from("localhost").expect("name");
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&response).to_string();
        if text.starts_with("HTTP/1.1 200") {
            Ok(text)
        } else {
            Err(format!("no 200 response: {text:?}"))
        }
    }

    async fn stop(server: Server) {
        server.stop.send(true).expect("send stop");
        tokio::time::timeout(Duration::from_secs(5), server.task)
            .await
            .expect("serve_tls returns after stop")
            .expect("join")
            .expect("serve_tls ok");
    }

    #[tokio::test]
    async fn mtls_with_and_without_client_certificate() {
        let server = start(true).await;
        let (client_cert, client_key) = server.ca.leaf("commune-01", false);
        let fingerprint = certificate_fingerprint(&client_cert);

        let with_cert = get_over_tls(
            server.addr,
            client_config(&server.ca, Some((client_cert, &client_key))),
        )
        .await
        .expect("with cert");
        assert!(
            with_cert.contains(&format!("cert={fingerprint} peer=127.0.0.1")),
            "{with_cert}"
        );

        let without = get_over_tls(server.addr, client_config(&server.ca, None))
            .await
            .expect("without cert");
        assert!(without.contains("no-cert peer=127.0.0.1"), "{without}");

        let stranger = Ca::new("Some other CA");
        let (foreign_cert, foreign_key) = stranger.leaf("intruder", false);
        let refused = get_over_tls(
            server.addr,
            client_config(&server.ca, Some((foreign_cert, &foreign_key))),
        )
        .await;
        // Refused in the handshake by the server's alert, not by the handler.
        assert!(
            matches!(&refused, Err(e) if e.contains("UnknownCA")),
            "foreign certificate not refused at handshake: {refused:?}"
        );

        stop(server).await;
    }

    #[tokio::test]
    async fn tls_without_client_ca_ignores_client_auth() {
        let server = start(false).await;
        let body = get_over_tls(server.addr, client_config(&server.ca, None))
            .await
            .expect("plain TLS");
        assert!(body.contains("no-cert"), "{body}");
        stop(server).await;
    }

    #[tokio::test]
    async fn stop_closes_idle_keep_alive_connections() {
        let server = start(false).await;
        let tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let connector = TlsConnector::from(Arc::new(client_config(&server.ca, None)));
        let mut tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("handshake");
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = tls.read(&mut buf).await.expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        // The connection is now idle but open; stopping must still return.
        stop(server).await;
    }

    #[tokio::test]
    async fn stalled_handshake_does_not_block_other_clients() {
        let server = start(false).await;
        let _silent = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let body = get_over_tls(server.addr, client_config(&server.ca, None))
            .await
            .expect("served");
        assert!(body.contains("no-cert"));
        server.stop.send(true).expect("stop");
    }

    #[test]
    fn bad_settings_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        for (cert, key, ca) in [
            (dir.path().join("missing.crt"), garbage.clone(), None),
            (garbage.clone(), garbage.clone(), None),
            (empty.clone(), empty.clone(), None),
            (empty.clone(), empty.clone(), Some(empty.clone())),
        ] {
            let settings = TlsSettings {
                cert,
                key,
                client_ca: ca,
            };
            assert!(matches!(server_config(&settings), Err(AccessError::Tls(_))));
        }
        let ca = Ca::new("x");
        let (cert, key) = ca.leaf("localhost", true);
        let good = TlsSettings {
            cert: dir.path().join("s.crt"),
            key: dir.path().join("s.key"),
            client_ca: Some(empty),
        };
        std::fs::write(&good.cert, pem("CERTIFICATE", &cert)).expect("write");
        std::fs::write(&good.key, key.serialize_pem()).expect("write");
        assert!(matches!(server_config(&good), Err(AccessError::Tls(_))));
        let good = TlsSettings {
            client_ca: None,
            ..good
        };
        assert!(server_config(&good).is_ok());
    }
}
