//! From [`TlsOptions`] to a rustls `ServerConfig`: PEM files read and checked, the certificate
//! resolver (selector, SNI map, default), the client certificate verifier, ALPN.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::server::{
    CertificateFiles, CertificateSelector, ClientCertificateMode, HttpProtocols, TlsOptions,
};

/// The ALPN protocol ids an endpoint offers, most preferred first (RFC 9113 3.2: `h2`, then
/// `http/1.1`).
pub(crate) fn alpn_protocols(protocols: HttpProtocols) -> Vec<Vec<u8>> {
    match protocols {
        HttpProtocols::Http1 => vec![b"http/1.1".to_vec()],
        HttpProtocols::Http2 => vec![b"h2".to_vec()],
        HttpProtocols::Http1AndHttp2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    }
}

/// The crypto provider: *ring* (docs/https.md, "Provider", says why).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM certificate chain and private key and checks that they belong together.
pub(crate) fn load_certified_key(
    files: &CertificateFiles,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let cert = files.path.display();
    let chain = CertificateDer::pem_file_iter(&files.path)
        .map_err(|e| format!("certificate {cert}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate {cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("certificate {cert}: no CERTIFICATE in the file"));
    }
    let key_file = files.key_path.display();
    let key = PrivateKeyDer::from_pem_file(&files.key_path)
        .map_err(|e| format!("key {key_file}: {e}"))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("key {key_file}: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("key {key_file} does not belong to certificate {cert}: {e}"))?;
    Ok(Arc::new(certified))
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let mut roots = RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(path).map_err(|e| format!("client_ca {shown}: {e}"))?
    {
        let cert = cert.map_err(|e| format!("client_ca {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("client_ca {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("client_ca {shown}: no CERTIFICATE in the file"));
    }
    Ok(roots)
}

/// Builds the rustls configuration of one HTTPS listener, reading every file it names.
pub(crate) fn build(
    options: &TlsOptions,
    protocols: HttpProtocols,
) -> Result<Arc<ServerConfig>, String> {
    let provider = provider();
    let mut resolver = Resolver {
        selector: options.selector.clone(),
        exact: HashMap::new(),
        wildcard: HashMap::new(),
        default: None,
    };
    if let Some(files) = &options.certificate {
        resolver.default = Some(load_certified_key(files, &provider)?);
    }
    for (name, files) in &options.sni {
        let key = load_certified_key(files, &provider)?;
        let name = name.to_ascii_lowercase();
        match name.strip_prefix("*.") {
            Some(parent) => resolver.wildcard.insert(parent.to_owned(), key),
            None => resolver.exact.insert(name, key),
        };
    }
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let builder = match (options.client_certificate_mode, &options.client_ca) {
        (ClientCertificateMode::NoCertificate, _) | (_, None) => builder.with_no_client_auth(),
        (mode, Some(ca)) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(load_roots(ca)?), provider);
            let verifier = if mode == ClientCertificateMode::AllowCertificate {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("client_ca {}: {e}", ca.display()))?,
            )
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = alpn_protocols(protocols);
    // The server's cipher suite order wins (rustls's default follows the client's; testssl.sh
    // flags that).
    config.ignore_client_order = true;
    // No 0-RTT data (replayable requests); rustls never renegotiates.
    config.max_early_data_size = 0;
    Ok(Arc::new(config))
}

thread_local! {
    /// The server name of the ClientHello the resolver last saw on this thread. The unbuffered
    /// server connection does not expose SNI, but the resolver runs inside
    /// `process_tls_records` on the worker thread, so the transport takes it from here right
    /// after the call that read the ClientHello.
    static SEEN_SNI: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The SNI name the resolver saw on this thread since the last call, if any.
pub(crate) fn take_seen_sni() -> Option<String> {
    SEEN_SNI.with(|s| s.borrow_mut().take())
}

/// Picks a handshake's certificate: selector, exact name, `*.parent`, default.
struct Resolver {
    selector: Option<CertificateSelector>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("exact", &self.exact.keys().collect::<Vec<_>>())
            .field("wildcard", &self.wildcard.keys().collect::<Vec<_>>())
            .field("default", &self.default.is_some())
            .finish()
    }
}

impl Resolver {
    fn pick(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        if let Some(selector) = &self.selector {
            if let Some(key) = (selector.0)(name) {
                return Some(key);
            }
        }
        if let Some(name) = name {
            if let Some(key) = self.exact.get(name) {
                return Some(key.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(key) = self.wildcard.get(parent) {
                    return Some(key.clone());
                }
            }
        }
        self.default.clone()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name().map(str::to_ascii_lowercase);
        let key = self.pick(name.as_deref());
        SEEN_SNI.with(|s| *s.borrow_mut() = name);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<CertifiedKey> {
        let cert = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let der = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let signing = provider().key_provider.load_private_key(der).unwrap();
        Arc::new(CertifiedKey::new(vec![cert.cert.der().clone()], signing))
    }

    #[test]
    fn the_resolver_tries_selector_exact_wildcard_then_default() {
        let (a, b, c, d) = (key(), key(), key(), key());
        let chosen = a.clone();
        let mut r = Resolver {
            selector: Some(CertificateSelector::new(move |name| {
                (name == Some("picked.test")).then(|| chosen.clone())
            })),
            exact: HashMap::from([("api.example.com".to_owned(), b.clone())]),
            wildcard: HashMap::from([("example.com".to_owned(), c.clone())]),
            default: Some(d.clone()),
        };
        let is = |got: Option<Arc<CertifiedKey>>, want: &Arc<CertifiedKey>| {
            Arc::ptr_eq(&got.unwrap(), want)
        };
        assert!(is(r.pick(Some("picked.test")), &a));
        assert!(is(r.pick(Some("api.example.com")), &b));
        assert!(is(r.pick(Some("www.example.com")), &c));
        // A wildcard covers one label only.
        assert!(is(r.pick(Some("a.b.example.com")), &d));
        assert!(is(r.pick(Some("example.com")), &d));
        assert!(is(r.pick(None), &d));
        r.default = None;
        assert!(r.pick(Some("other.test")).is_none());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("peregrine-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let p = provider();
        let e = load_certified_key(&CertificateFiles::new(dir.join("missing.pem"), &empty), &p)
            .unwrap_err();
        assert!(
            e.starts_with("certificate ") && e.contains("missing.pem"),
            "{e}"
        );
        let e = load_certified_key(&CertificateFiles::new(&empty, &empty), &p).unwrap_err();
        assert!(e.contains("no CERTIFICATE in the file"), "{e}");
        let one = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["y".into()]).unwrap();
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        std::fs::write(&cert, one.cert.pem()).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let e = load_certified_key(&CertificateFiles::new(&cert, &key), &p).unwrap_err();
        assert!(e.contains("does not belong to certificate"), "{e}");
        std::fs::write(&key, one.signing_key.serialize_pem()).unwrap();
        assert!(load_certified_key(&CertificateFiles::new(&cert, &key), &p).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
