//! What an HTTPS endpoint is configured with: [`TlsOptions`] (certificate files, an SNI map, a
//! certificate selector, client certificates). The TLS engine itself is `crate::tls`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

pub use rustls::sign::CertifiedKey;

/// A certificate chain and its private key in PEM files (Kestrel's
/// `Certificate: { Path, KeyPath }`). The chain file holds the leaf first, then intermediates;
/// the key file one PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFiles {
    /// The PEM certificate chain.
    pub path: PathBuf,
    /// The PEM private key.
    pub key_path: PathBuf,
}

impl CertificateFiles {
    /// The chain in `path` with the key in `key_path`.
    pub fn new(path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> CertificateFiles {
        CertificateFiles {
            path: path.into(),
            key_path: key_path.into(),
        }
    }
}

/// Whether clients are asked for a certificate (Kestrel's `ClientCertificateMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientCertificateMode {
    /// Clients are not asked for one (the default).
    #[default]
    NoCertificate,
    /// Clients are asked; one that sends a certificate must send one that verifies against the
    /// CA bundle, one that sends none is served without.
    AllowCertificate,
    /// Clients must send a certificate that verifies against the CA bundle, or the handshake
    /// fails.
    RequireCertificate,
}

impl ClientCertificateMode {
    /// The configuration file's name: `NoCertificate`, `AllowCertificate`,
    /// `RequireCertificate`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientCertificateMode::NoCertificate => "NoCertificate",
            ClientCertificateMode::AllowCertificate => "AllowCertificate",
            ClientCertificateMode::RequireCertificate => "RequireCertificate",
        }
    }
}

impl fmt::Display for ClientCertificateMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientCertificateMode {
    type Err = String;

    /// Kestrel's names (any case), or `off` / `optional` / `required`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "nocertificate" | "off" | "none" => Ok(ClientCertificateMode::NoCertificate),
            "allowcertificate" | "optional" | "allow" => {
                Ok(ClientCertificateMode::AllowCertificate)
            }
            "requirecertificate" | "required" | "require" => {
                Ok(ClientCertificateMode::RequireCertificate)
            }
            _ => Err(format!(
                "unknown client certificate mode {s:?} (expected NoCertificate, \
                 AllowCertificate or RequireCertificate)"
            )),
        }
    }
}

/// Picks the certificate for a handshake from the server name the client asked for (SNI;
/// `None` when it sent none), like Kestrel's `ServerCertificateSelector`. It runs on the worker
/// thread during the handshake, so it should be quick (a map lookup). Returning `None` falls
/// back to the SNI map, then the default certificate.
#[derive(Clone)]
pub struct CertificateSelector(
    #[allow(clippy::type_complexity)]
    pub  Arc<dyn Fn(Option<&str>) -> Option<Arc<CertifiedKey>> + Send + Sync>,
);

impl CertificateSelector {
    /// A selector calling `f`.
    pub fn new(
        f: impl Fn(Option<&str>) -> Option<Arc<CertifiedKey>> + Send + Sync + 'static,
    ) -> CertificateSelector {
        CertificateSelector(Arc::new(f))
    }
}

impl fmt::Debug for CertificateSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateSelector(..)")
    }
}

impl PartialEq for CertificateSelector {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CertificateSelector {}

/// The TLS settings of an HTTPS endpoint: its certificate(s) and what it asks of clients.
///
/// The certificate for a handshake is, in order: the [`selector`](Self::selector)'s answer, the
/// [`sni`](Self::sni) entry for the exact name, the `*.domain` entry for the name's parent, the
/// default [`certificate`](Self::certificate). A handshake that finds none fails with an
/// `access_denied` alert. Certificate files are watched: when one changes (or on SIGHUP,
/// or [`crate::tls::reload_certificates`]) the pair is loaded again and, if valid, used for new
/// handshakes.
///
/// ```
/// use peregrine::server::{CertificateFiles, ClientCertificateMode, TlsOptions};
///
/// let tls = TlsOptions::new(CertificateFiles::new("chain.pem", "key.pem"))
///     .sni("api.example.com", CertificateFiles::new("api.pem", "api-key.pem"))
///     .sni("*.example.com", CertificateFiles::new("wild.pem", "wild-key.pem"))
///     .client_certificates(ClientCertificateMode::AllowCertificate, "ca.pem");
/// assert!(tls.validate().is_ok());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// The default certificate (for clients without SNI, or whose name has no entry).
    pub certificate: Option<CertificateFiles>,
    /// Certificates by server name: an exact name (`api.example.com`) or a wildcard for one
    /// label (`*.example.com`), matched case-insensitively.
    pub sni: Vec<(String, CertificateFiles)>,
    /// Called first for every handshake; see [`CertificateSelector`].
    pub selector: Option<CertificateSelector>,
    /// Whether clients are asked for a certificate. Default
    /// [`ClientCertificateMode::NoCertificate`].
    pub client_certificate_mode: ClientCertificateMode,
    /// The PEM bundle of CA certificates client certificates must chain to (required when
    /// clients are asked for certificates).
    pub client_ca: Option<PathBuf>,
}

impl TlsOptions {
    /// TLS with `certificate` as the default certificate.
    pub fn new(certificate: CertificateFiles) -> TlsOptions {
        TlsOptions {
            certificate: Some(certificate),
            ..TlsOptions::default()
        }
    }

    /// Adds an SNI entry: `name` (exact, or `*.domain`) is served `certificate`.
    pub fn sni(mut self, name: impl Into<String>, certificate: CertificateFiles) -> TlsOptions {
        self.sni.push((name.into(), certificate));
        self
    }

    /// Sets the certificate selector.
    pub fn selector(mut self, selector: CertificateSelector) -> TlsOptions {
        self.selector = Some(selector);
        self
    }

    /// Asks clients for certificates (`mode`) that must chain to the CAs in `ca`.
    pub fn client_certificates(
        mut self,
        mode: ClientCertificateMode,
        ca: impl Into<PathBuf>,
    ) -> TlsOptions {
        self.client_certificate_mode = mode;
        self.client_ca = Some(ca.into());
        self
    }

    /// Whether these options can serve a handshake at all: some certificate source is set, and
    /// client certificates come with a CA bundle. (Files are read when the server starts.)
    pub fn validate(&self) -> Result<(), String> {
        if self.certificate.is_none() && self.sni.is_empty() && self.selector.is_none() {
            return Err("an https URL needs a certificate (--cert and --key, or a \
                        [endpoints.NAME.certificate] with path and key_path)"
                .into());
        }
        for files in self
            .certificate
            .iter()
            .chain(self.sni.iter().map(|(_, f)| f))
        {
            if files.key_path.as_os_str().is_empty() {
                return Err(format!(
                    "certificate {} has no key (--key FILE, or key_path)",
                    files.path.display()
                ));
            }
        }
        for (name, _) in &self.sni {
            let bare = name.strip_prefix("*.").unwrap_or(name);
            if bare.is_empty()
                || bare.contains('*')
                || !bare
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                return Err(format!(
                    "SNI name {name:?} is not a host name or *.domain wildcard"
                ));
            }
        }
        match (self.client_certificate_mode, &self.client_ca) {
            (ClientCertificateMode::NoCertificate, _) | (_, Some(_)) => Ok(()),
            (mode, None) => Err(format!(
                "client certificate mode {mode} needs a CA bundle (client_ca / --client-ca)"
            )),
        }
    }
}
