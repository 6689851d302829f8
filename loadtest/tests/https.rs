//! `https://` URLs against peregrine itself serving HTTPS (both engines), with a test CA and
//! certificate made by rcgen: keep-alive, pipelined and one request per connection (a full
//! handshake each), SNI from the URL's host, `--cacert` verification and `--insecure`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use peregrine::http::TlsConnectionFeature;
use peregrine::metrics::ServerMetrics;
use peregrine::server::{CertificateFiles, TlsOptions};
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, HttpServer, Server, ServerOptions};
use peregrine_load::url::Url;
use peregrine_load::{run, Config, Outcome};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// 200 when the request came over TLS with the SNI name `localhost`, else 421.
struct SniCheck;

impl Handler for SniCheck {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let sni = http
            .features()
            .get::<TlsConnectionFeature>()
            .and_then(|t| t.server_name.clone());
        if sni.as_deref() == Some("localhost") {
            http.write(b"Hello, World!");
        } else {
            http.set_status(421)?;
            http.write(format!("sni {sni:?}").as_bytes());
        }
        Ok(())
    }
}

/// A CA (`ca.pem`) and a `localhost` certificate it issued, in a directory removed on drop.
struct Pki(PathBuf);

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "peregrine-load-https-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        Pki(dir)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// peregrine serving HTTPS on `engine`, on the loopback address `localhost` resolves to first
/// (so that a URL naming `localhost` reaches it), and its URL.
fn serve(engine: EngineChoice, pki: &Pki) -> (HttpServer, Arc<ServerMetrics>, String) {
    let local: SocketAddr = ("localhost", 0).to_socket_addrs().unwrap().next().unwrap();
    let bind = match local {
        SocketAddr::V4(_) => "https://127.0.0.1:0",
        SocketAddr::V6(_) => "https://[::1]:0",
    };
    let mut options = ServerOptions::with_urls([bind]).workers(1).engine(engine);
    options.tls = Some(TlsOptions::new(CertificateFiles::new(
        pki.0.join("cert.pem"),
        pki.0.join("key.pem"),
    )));
    let mut server = HttpServer::new(options);
    server.start(SniCheck).expect("server starts");
    let port = server.features().addresses()[0].port();
    let metrics = server
        .features()
        .get::<Arc<ServerMetrics>>()
        .unwrap()
        .clone();
    (
        server,
        metrics,
        format!("https://localhost:{port}/plaintext"),
    )
}

fn config(url: &str, ca: Option<PathBuf>) -> Config {
    let mut c = Config::new(vec![Url::parse(url).unwrap()]);
    c.connections = 4;
    c.duration = Duration::from_millis(400);
    c.ca_file = ca;
    c
}

fn go(c: &Config) -> Outcome {
    run(c, |_| {}).expect("run")
}

fn https_keep_alive_pipelined_and_new_connections(engine: EngineChoice) {
    let pki = Pki::new(&format!("ok-{engine:?}"));
    let (mut server, metrics, url) = serve(engine, &pki);
    let ca = Some(pki.0.join("ca.pem"));

    let out = go(&config(&url, ca.clone()));
    let s = &out.summary;
    assert!(s.requests > 50, "only {} requests", s.requests);
    assert_eq!(s.errors_total, 0, "{:?}", s.errors);
    assert_eq!(
        metrics.tls().handshakes(),
        4,
        "one handshake per connection, kept alive"
    );

    let mut c = config(&url, ca.clone());
    c.pipeline = 8;
    let out = go(&c);
    assert!(out.summary.requests > 100, "{}", out.summary.requests);
    assert_eq!(out.summary.errors_total, 0, "{:?}", out.summary.errors);

    let before = metrics.tls().handshakes();
    let mut c = config(&url, ca);
    c.headers.push(("Connection".into(), "close".into()));
    let out = go(&c);
    let s = &out.summary;
    assert!(s.requests > 10, "only {} requests", s.requests);
    assert_eq!(s.errors_total, 0, "{:?}", s.errors);
    assert_eq!(s.reconnects, s.requests, "one request per connection");
    // Every request had a handshake of its own (no resumption), besides the connections
    // still open or being opened when the run ended.
    let handshakes = metrics.tls().handshakes() - before;
    assert!(
        handshakes >= s.requests && handshakes <= s.requests + 8,
        "{handshakes} handshakes for {} requests",
        s.requests
    );
    server.stop(Duration::from_secs(5));
}

fn https_verifies_the_certificate_unless_insecure(engine: EngineChoice) {
    let pki = Pki::new(&format!("verify-{engine:?}"));
    let other = Pki::new(&format!("other-{engine:?}"));
    let (mut server, metrics, url) = serve(engine, &pki);

    // A CA that did not issue the server's certificate: every connect fails, none is served.
    let out = go(&config(&url, Some(other.0.join("ca.pem"))));
    let s = &out.summary;
    assert_eq!(s.requests, 0);
    assert!(s.errors.connect >= 4, "{:?}", s.errors);
    assert_eq!(s.errors_total, s.errors.connect, "{:?}", s.errors);
    assert!(metrics.tls().handshake_failures() >= 4);
    let why = s.tls_error.as_deref().unwrap_or_default();
    assert!(
        why.contains("UnknownIssuer"),
        "the reason is reported: {why}"
    );

    // --insecure: the same server is loaded.
    let mut c = config(&url, None);
    c.insecure = true;
    let out = go(&c);
    assert!(out.summary.requests > 50, "{}", out.summary.requests);
    assert_eq!(out.summary.errors_total, 0, "{:?}", out.summary.errors);
    server.stop(Duration::from_secs(5));
}

macro_rules! both_engines {
    ($($name:ident),*) => {
        mod uring {
            $(#[test] fn $name() { super::$name(peregrine::EngineChoice::Uring); })*
        }
        mod portable {
            $(#[test] fn $name() { super::$name(peregrine::EngineChoice::Portable); })*
        }
    };
}

both_engines!(
    https_keep_alive_pipelined_and_new_connections,
    https_verifies_the_certificate_unless_insecure
);
