//! `https://` targets: a rustls client configuration (TLS 1.3 and 1.2, the *ring* provider,
//! ALPN `http/1.1`) trusting `--cacert`, the system's CA bundle, or, with `--insecure`,
//! any certificate. Session resumption is off, so that every connection (and with
//! `Connection: close`, every request) makes a full handshake, as wrk and h2load do.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where the CAs come from without `--cacert` (Debian's `ca-certificates`).
pub const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The client configuration for every `https://` target of a run; an error names the file
/// and what is wrong with it.
pub(crate) fn client_config(
    ca_file: Option<&Path>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let (path, given) = match ca_file {
            Some(p) => (p, true),
            None => (Path::new(SYSTEM_CA_FILE), false),
        };
        let roots = load_roots(path).map_err(|e| {
            if given {
                format!("--cacert {}: {e}", path.display())
            } else {
                format!(
                    "no CA bundle to verify https:// servers with ({}: {e}); \
                     give --cacert FILE or --insecure",
                    path.display()
                )
            }
        })?;
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("not a PEM certificate file ({e})"))?;
        roots
            .add(cert)
            .map_err(|e| format!("a certificate in it is not usable as a CA ({e})"))?;
    }
    if roots.is_empty() {
        return Err("no PEM certificate in it".to_string());
    }
    Ok(roots)
}

/// The server name of an `https://` URL's host: a DNS name or an IP address.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("'{host}' is not a valid TLS server name ({e})"))
}

/// `--insecure`: any certificate is accepted; the handshake's signatures are still checked
/// (they prove the server holds the key of the certificate it sent, trusted or not).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_files_are_named() {
        let e = client_config(Some(Path::new("/nonexistent/ca.pem")), false).unwrap_err();
        assert!(e.starts_with("--cacert /nonexistent/ca.pem: "), "{e}");
        let dir = std::env::temp_dir().join(format!("peregrine-load-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let e = client_config(Some(&empty), false).unwrap_err();
        assert!(e.contains("no PEM certificate in it"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(client_config(None, true).is_ok());
    }

    #[test]
    fn server_names() {
        assert!(server_name("localhost").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("::1").is_ok());
        assert!(server_name("bad name").is_err());
    }
}
