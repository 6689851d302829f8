//! HTTPS on both engines, checked with clients no one here wrote: curl, `openssl s_client` and
//! Python's `ssl` module. Certificates are made per test with rcgen (a CA, server and client
//! certificates) in a temporary directory.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use peregrine::http::{HttpContext, TlsConnectionFeature};
use peregrine::metrics::ServerMetrics;
use peregrine::server::{
    CertificateFiles, CertificateSelector, CertifiedKey, ClientCertificateMode, Endpoint,
    TlsOptions,
};
use peregrine::{AppResult, EngineChoice, Handler, HttpServer, Server, ServerOptions};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls::pki_types::pem::PemObject;

/// Reports what the application sees of the TLS session; `/big` is 200 000 bytes.
struct TlsInfo;

impl Handler for TlsInfo {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        if http.request().path() == "/big" {
            http.write(&vec![b'x'; 200_000]);
            return Ok(());
        }
        let text = match http.features().get::<TlsConnectionFeature>() {
            Some(t) => format!(
                "scheme={} version={} cipher={} sni={} alpn={} peer={}\n",
                http.scheme(),
                t.protocol_version,
                t.cipher_suite,
                t.server_name.as_deref().unwrap_or("-"),
                t.alpn_protocol
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default(),
                t.peer_certificate().map_or(0, <[u8]>::len),
            ),
            None => format!("scheme={} no tls\n", http.scheme()),
        };
        http.write(text.as_bytes());
        Ok(())
    }
}

/// A CA and certificates it issued, as PEM files in a directory of their own.
struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(test: &str) -> Pki {
        let dir =
            std::env::temp_dir().join(format!("peregrine-https-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "peregrine test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Issues a certificate for `names` (CN `cn`) into `NAME.pem` / `NAME-key.pem`.
    fn issue(
        &self,
        file: &str,
        cn: &str,
        names: &[&str],
        client: bool,
        expired: bool,
    ) -> CertificateFiles {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if client {
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let files = CertificateFiles::new(
            self.path(&format!("{file}.pem")),
            self.path(&format!("{file}-key.pem")),
        );
        std::fs::write(&files.path, cert.pem()).unwrap();
        std::fs::write(&files.key_path, key.serialize_pem()).unwrap();
        files
    }

    /// The default server certificate: `localhost` and 127.0.0.1.
    fn server(&self) -> CertificateFiles {
        self.issue(
            "server",
            "localhost",
            &["localhost", "127.0.0.1"],
            false,
            false,
        )
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_tls(
    engine: EngineChoice,
    tls: TlsOptions,
    tweak: impl FnOnce(&mut ServerOptions),
) -> (HttpServer, SocketAddr) {
    let mut options = ServerOptions::with_urls(["https://127.0.0.1:0"]).workers(1);
    options.tls = Some(tls);
    tweak(&mut options);
    start_with(engine, TlsInfo, options)
}

fn metrics_of(server: &HttpServer) -> Arc<ServerMetrics> {
    server
        .features()
        .get::<Arc<ServerMetrics>>()
        .unwrap()
        .clone()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} ({e}): apt-get install curl openssl python3")
    });
    out
}

fn curl(pki: &Pki, addr: SocketAddr, host: &str, args: &[&str], paths: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--cacert"])
        .arg(pki.path("ca.pem"))
        .args(["--resolve", &format!("{host}:{}:127.0.0.1", addr.port())])
        .args(args);
    for p in paths {
        cmd.arg(format!("https://{host}:{}{p}", addr.port()));
    }
    run(&mut cmd)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Python's ssl module as the client: prints the response's first line and body, or
/// `ERROR <exception>`. `cert` is a client certificate to present.
fn python(
    pki: &Pki,
    addr: SocketAddr,
    sni: &str,
    verify: bool,
    cert: Option<&CertificateFiles>,
) -> String {
    let script = r#"
import socket, ssl, sys
ca, port, sni, verify, cert, key = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
if verify != "1":
    ctx.check_hostname = False
if cert:
    ctx.load_cert_chain(cert, key)
try:
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            peer = s.getpeercert()
            cn = dict(x[0] for x in peer["subject"])["commonName"] if peer else "-"
            s.sendall(b"GET /info HTTP/1.1\r\nHost: " + sni.encode() + b"\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            body = data.split(b"\r\n\r\n", 1)[1].decode()
            print("cn=" + cn + " " + s.version() + " " + body.strip())
except Exception as e:
    print("ERROR " + type(e).__name__ + " " + str(e))
"#;
    let (c, k) = match cert {
        Some(f) => (
            f.path.display().to_string(),
            f.key_path.display().to_string(),
        ),
        None => (String::new(), String::new()),
    };
    let out = run(Command::new("python3").args([
        "-c",
        script,
        &pki.path("ca.pem").display().to_string(),
        &addr.port().to_string(),
        sni,
        if verify { "1" } else { "0" },
        &c,
        &k,
    ]));
    text(&out).trim().to_owned()
}

fn curl_serves_https_keep_alive_and_large_bodies(engine: EngineChoice) {
    let pki = Pki::new(&format!("curl-{engine:?}"));
    let (mut server, addr) = start_tls(engine, TlsOptions::new(pki.server()), |_| {});
    // Two requests on one connection (curl reuses it), and a body of many records.
    let out = curl(
        &pki,
        addr,
        "localhost",
        &["-w", "%{num_connects}\n"],
        &["/a", "/b"],
    );
    let t = text(&out);
    assert!(
        out.status.success(),
        "{t} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(
        lines[0].starts_with("scheme=https version=TLSv1_3 cipher=TLS13_"),
        "{t}"
    );
    assert!(
        // The endpoint offers h2 and http/1.1 (Http1AndHttp2, the default): curl takes h2.
        lines[0].ends_with("sni=localhost alpn=h2 peer=0"),
        "{t}"
    );
    assert_eq!(lines[1], "1");
    assert_eq!(
        lines[3], "0",
        "the second request reused the connection: {t}"
    );
    let out = curl(
        &pki,
        addr,
        "localhost",
        &["-o", "/dev/null", "-w", "%{size_download}"],
        &["/big"],
    );
    assert_eq!(
        text(&out),
        "200000",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // TLS 1.2 too.
    let out = curl(&pki, addr, "localhost", &["--tls-max", "1.2"], &["/info"]);
    let t = text(&out);
    assert!(
        t.starts_with("scheme=https version=TLSv1_2 cipher=TLS_ECDHE_"),
        "{t}"
    );
    let m = metrics_of(&server);
    assert!(m.tls().handshakes() >= 3);
    server.stop(Duration::from_secs(5));
}

fn openssl_s_client_pipelines_requests(engine: EngineChoice) {
    let pki = Pki::new(&format!("sclient-{engine:?}"));
    let (mut server, addr) = start_tls(engine, TlsOptions::new(pki.server()), |_| {});
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-verify_return_error",
            "-servername",
            "localhost",
            "-CAfile",
        ])
        .arg(pki.path("ca.pem"))
        .args(["-connect", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client runs (apt-get install openssl)");
    // Three pipelined requests in one write; the answers come back in one send.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n\
              GET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert_eq!(t.matches("HTTP/1.1 200 OK").count(), 3, "{t}");
    assert_eq!(t.matches("scheme=https version=TLSv1_3").count(), 3, "{t}");
    server.stop(Duration::from_secs(5));
}

fn the_server_picks_the_cipher_suite(engine: EngineChoice) {
    let pki = Pki::new(&format!("order-{engine:?}"));
    let (mut server, addr) = start_tls(engine, TlsOptions::new(pki.server()), |_| {});
    for (version, flag, ciphers, want) in [
        (
            "-tls1_3",
            "-ciphersuites",
            "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
            "TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384",
        ),
        (
            "-tls1_2",
            "-cipher",
            "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLSv1.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384",
        ),
    ] {
        let out = run(Command::new("openssl").args([
            "s_client",
            "-connect",
            &addr.to_string(),
            version,
            flag,
            ciphers,
        ]));
        let t = text(&out);
        assert!(
            t.contains(want),
            "the client preferred AES-128, the server AES-256: {t}"
        );
    }
    server.stop(Duration::from_secs(5));
}

fn python_ssl_sees_sni_map_and_wildcards(engine: EngineChoice) {
    let pki = Pki::new(&format!("sni-{engine:?}"));
    let tls = TlsOptions::new(pki.server())
        .sni(
            "api.example.test",
            pki.issue("api", "api", &["api.example.test"], false, false),
        )
        .sni(
            "*.example.test",
            pki.issue("wild", "wild", &["*.example.test"], false, false),
        );
    let (mut server, addr) = start_tls(engine, tls, |_| {});
    let r = python(&pki, addr, "api.example.test", true, None);
    assert!(r.starts_with("cn=api TLSv1.3 scheme=https"), "{r}");
    assert!(r.contains("sni=api.example.test"), "{r}");
    let r = python(&pki, addr, "www.example.test", true, None);
    assert!(r.starts_with("cn=wild "), "{r}");
    let r = python(&pki, addr, "localhost", true, None);
    assert!(r.starts_with("cn=localhost "), "{r}");
    // A name with no entry gets the default, which the client then refuses.
    let r = python(&pki, addr, "other.test", true, None);
    assert!(r.starts_with("ERROR SSLCertVerificationError"), "{r}");
    server.stop(Duration::from_secs(5));
}

fn no_certificate_for_the_name_is_a_handshake_alert(engine: EngineChoice) {
    let pki = Pki::new(&format!("nodefault-{engine:?}"));
    let tls = TlsOptions {
        sni: vec![(
            "api.example.test".into(),
            pki.issue("api", "api", &["api.example.test"], false, false),
        )],
        ..TlsOptions::default()
    };
    let (mut server, addr) = start_tls(engine, tls, |_| {});
    let r = python(&pki, addr, "other.test", false, None);
    assert!(r.starts_with("ERROR SSL"), "{r}");
    let r = python(&pki, addr, "api.example.test", true, None);
    assert!(r.starts_with("cn=api "), "{r}");
    assert_eq!(metrics_of(&server).tls().handshake_failures(), 1);
    server.stop(Duration::from_secs(5));
}

fn client_certificates_required_and_optional(engine: EngineChoice) {
    let pki = Pki::new(&format!("mtls-{engine:?}"));
    let good = pki.issue("client", "client", &["client"], true, false);
    let expired = pki.issue("expired", "expired", &["client"], true, true);
    let other = Pki::new(&format!("mtls-other-{engine:?}"));
    let untrusted = other.issue("client", "stranger", &["client"], true, false);
    let ca = pki.path("ca.pem");
    let required = TlsOptions::new(pki.server())
        .client_certificates(ClientCertificateMode::RequireCertificate, &ca);
    let (mut server, addr) = start_tls(engine, required, |_| {});
    let r = python(&pki, addr, "localhost", true, Some(&good));
    assert!(r.starts_with("cn=localhost TLSv1.3 scheme=https"), "{r}");
    assert!(
        !r.ends_with("peer=0"),
        "the application sees the client certificate: {r}"
    );
    for (what, cert) in [
        ("none", None),
        ("expired", Some(&expired)),
        ("untrusted", Some(&untrusted)),
    ] {
        let r = python(&pki, addr, "localhost", true, cert);
        assert!(r.starts_with("ERROR"), "{what}: {r}");
    }
    server.stop(Duration::from_secs(5));

    let optional = TlsOptions::new(pki.server())
        .client_certificates(ClientCertificateMode::AllowCertificate, &ca);
    let (mut server, addr) = start_tls(engine, optional, |_| {});
    let r = python(&pki, addr, "localhost", true, None);
    assert!(r.ends_with("peer=0"), "{r}");
    let r = python(&pki, addr, "localhost", true, Some(&good));
    assert!(
        r.starts_with("cn=localhost") && !r.ends_with("peer=0"),
        "{r}"
    );
    let r = python(&pki, addr, "localhost", true, Some(&untrusted));
    assert!(r.starts_with("ERROR"), "{r}");
    server.stop(Duration::from_secs(5));
}

/// Reads until end of stream or error; returns what came, and whether it ended (not timed out).
fn read_to_close(mut s: TcpStream, within: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return (got, false)
            }
            Err(_) => return (got, true),
        }
    }
}

fn plaintext_http_to_a_tls_port_gets_an_alert(engine: EngineChoice) {
    let pki = Pki::new(&format!("plain-{engine:?}"));
    let (mut server, addr) = start_tls(engine, TlsOptions::new(pki.server()), |_| {});
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let (got, closed) = read_to_close(s, Duration::from_secs(5));
    assert!(closed, "closed, not left hanging");
    // A TLS alert record (content type 21), not an HTTP response.
    assert_eq!(got.first(), Some(&21), "{got:?}");
    // The server still serves.
    let out = curl(&pki, addr, "localhost", &[], &["/ok"]);
    assert!(text(&out).starts_with("scheme=https"));
    server.stop(Duration::from_secs(5));
}

fn a_stalled_handshake_times_out(engine: EngineChoice) {
    let pki = Pki::new(&format!("stall-{engine:?}"));
    let (mut server, addr) = start_tls(engine, TlsOptions::new(pki.server()), |o| {
        o.tls_handshake_timeout = Duration::from_secs(1);
    });
    // Half a ClientHello record header, then nothing.
    let mut s = connect(addr);
    s.write_all(&[22, 3, 1]).unwrap();
    let began = Instant::now();
    let (_, closed) = read_to_close(s, Duration::from_secs(8));
    assert!(closed, "the server closed the stalled handshake");
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(metrics_of(&server).tls().handshake_timeouts(), 1);
    server.stop(Duration::from_secs(5));
}

fn a_huge_client_hello_is_refused(engine: EngineChoice) {
    let pki = Pki::new(&format!("huge-{engine:?}"));
    let (mut server, addr) = start_tls(engine, TlsOptions::new(pki.server()), |o| {
        o.max_tls_handshake_size = 8 * 1024;
    });
    let mut s = connect(addr);
    // A ClientHello that claims 60 000 bytes, sent in 16 KiB handshake records.
    let mut hello = vec![1u8, 0, 0xea, 0x60];
    hello.resize(60_004, 0);
    let mut wire = Vec::new();
    for chunk in hello.chunks(16 * 1024) {
        wire.extend_from_slice(&[22, 3, 1]);
        wire.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        wire.extend_from_slice(chunk);
    }
    // The server may close before all of it is written.
    let _ = s.write_all(&wire);
    let (_, closed) = read_to_close(s, Duration::from_secs(5));
    assert!(closed, "closed, not left hanging");
    assert_eq!(metrics_of(&server).tls().handshake_failures(), 1);
    let out = curl(&pki, addr, "localhost", &[], &["/ok"]);
    assert!(text(&out).starts_with("scheme=https"));
    server.stop(Duration::from_secs(5));
}

/// The CN of the certificate served to a new connection.
fn served_cn(pki: &Pki, addr: SocketAddr) -> String {
    let r = python(pki, addr, "localhost", false, None);
    r.split_whitespace().next().unwrap_or("").to_owned()
}

fn certificates_reload_when_files_change(engine: EngineChoice) {
    let pki = Pki::new(&format!("reload-{engine:?}"));
    let files = pki.issue("live", "first", &["localhost"], false, false);
    let (mut server, addr) = start_tls(engine, TlsOptions::new(files.clone()), |_| {});
    let metrics = metrics_of(&server);
    assert_eq!(served_cn(&pki, addr), "cn=first");
    // A connection open across the reload keeps working.
    let mut open = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-servername",
            "localhost",
            "-connect",
            &addr.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = open.stdin.take().unwrap();
    stdin
        .write_all(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // New files, written elsewhere and renamed over the old ones (what certbot does).
    let next = pki.issue("next", "second", &["localhost"], false, false);
    std::fs::rename(&next.key_path, &files.key_path).unwrap();
    std::fs::rename(&next.path, &files.path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_cn(&pki, addr) != "cn=second" {
        assert!(Instant::now() < deadline, "the new certificate is served");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(metrics.tls().reloads() >= 1);

    stdin
        .write_all(b"GET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    drop(stdin);
    let out = open.wait_with_output().unwrap();
    assert_eq!(
        text(&out).matches("HTTP/1.1 200 OK").count(),
        2,
        "{}",
        text(&out)
    );

    // A bad file: logged and counted, the old certificate stays.
    std::fs::write(&files.path, "garbage\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.tls().reload_failures() == 0 {
        assert!(Instant::now() < deadline, "the bad file is noticed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(served_cn(&pki, addr), "cn=second");

    // And an explicit reload (what SIGHUP does) with good files again.
    let third = pki.issue("third", "third", &["localhost"], false, false);
    std::fs::copy(&third.key_path, &files.key_path).unwrap();
    std::fs::copy(&third.path, &files.path).unwrap();
    let _ = peregrine::tls::reload_certificates();
    assert_eq!(served_cn(&pki, addr), "cn=third");
    server.stop(Duration::from_secs(5));
}

fn the_certificate_selector_comes_first(engine: EngineChoice) {
    let pki = Pki::new(&format!("selector-{engine:?}"));
    let picked = pki.issue("picked", "picked", &["tenant.test"], false, false);
    let chain = vec![rustls::pki_types::CertificateDer::from_pem_file(&picked.path).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&picked.key_path).unwrap();
    let signing = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
    let certified = Arc::new(CertifiedKey::new(chain, signing));
    let tls = TlsOptions::new(pki.server()).selector(CertificateSelector::new(move |name| {
        (name == Some("tenant.test")).then(|| certified.clone())
    }));
    let (mut server, addr) = start_tls(engine, tls, |_| {});
    let r = python(&pki, addr, "tenant.test", true, None);
    assert!(r.starts_with("cn=picked "), "{r}");
    let r = python(&pki, addr, "localhost", true, None);
    assert!(r.starts_with("cn=localhost "), "{r}");
    server.stop(Duration::from_secs(5));
}

fn endpoints_have_their_own_certificates(engine: EngineChoice) {
    let pki = Pki::new(&format!("endpoints-{engine:?}"));
    let a = pki.issue("a", "endpoint-a", &["localhost"], false, false);
    let b = pki.issue("b", "endpoint-b", &["localhost"], false, false);
    let mut options = ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1);
    options
        .endpoints
        .push(Endpoint::new("a", "https://127.0.0.1:0").tls(TlsOptions::new(a)));
    options
        .endpoints
        .push(Endpoint::new("b", "https://127.0.0.1:0").tls(TlsOptions::new(b)));
    let (mut server, plain) = start_with(engine, TlsInfo, options);
    let addrs = server.features().addresses().to_vec();
    assert_eq!(addrs.len(), 3);
    assert_eq!(get(plain, "/x").text(), "scheme=http no tls\n");
    assert_eq!(served_cn(&pki, addrs[1]), "cn=endpoint-a");
    assert_eq!(served_cn(&pki, addrs[2]), "cn=endpoint-b");
    server.stop(Duration::from_secs(5));
}

#[test]
fn a_bad_certificate_fails_start_naming_the_file() {
    let pki = Pki::new("badstart");
    let missing = CertificateFiles::new(pki.path("nope.pem"), pki.path("nope-key.pem"));
    let mut options = ServerOptions::with_urls(["https://127.0.0.1:0"]);
    options.tls = Some(TlsOptions::new(missing));
    let e = HttpServer::new(options)
        .start(TlsInfo)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("urls: certificate ") && e.contains("nope.pem"),
        "{e}"
    );
    let e = HttpServer::new(ServerOptions::with_urls(["https://127.0.0.1:0"]))
        .start(TlsInfo)
        .unwrap_err()
        .to_string();
    assert!(e.contains("an https URL needs a certificate"), "{e}");
}

/// The binary: `--urls https://... --cert --key`, and SIGHUP reloads the files.
#[test]
fn the_binary_serves_https_and_reloads_on_sighup() {
    let pki = Pki::new("binary");
    let files = pki.issue("live", "first", &["localhost"], false, false);
    let (mut child, addr, mut out) = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .args(["--urls", "https://127.0.0.1:0", "--workers", "1", "--cert"])
            .arg(&files.path)
            .arg("--key")
            .arg(&files.key_path)
            .stderr(Stdio::piped()),
    );
    let r = curl(&pki, addr, "localhost", &[], &["/plaintext"]);
    assert_eq!(text(&r), "Hello, World!");
    let r = curl(&pki, addr, "localhost", &[], &["/whoami"]);
    assert!(text(&r).contains("scheme: https"), "{}", text(&r));
    assert_eq!(served_cn(&pki, addr), "cn=first");

    // New contents in place (the watcher may see them too; either way they are served).
    let next = pki.issue("next", "second", &["localhost"], false, false);
    std::fs::copy(&next.key_path, &files.key_path).unwrap();
    std::fs::copy(&next.path, &files.path).unwrap();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while served_cn(&pki, addr) != "cn=second" {
        assert!(Instant::now() < deadline, "the new certificate is served");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A bad file on SIGHUP: one line on stderr, the old certificate stays.
    std::fs::write(&files.key_path, "garbage\n").unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(served_cn(&pki, addr), "cn=second");

    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    assert!(
        stdout.contains("received SIGHUP: TLS certificates reloaded"),
        "{stdout}"
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("received SIGHUP: certificate reload failed, keeping the previous certificates: urls: key "),
        "{stderr}"
    );
}

// ---- nginx as a TLS client in front -----------------------------------------------------------

/// A program's path, or a failure naming the package (.ci/run installs it).
fn installed(program: &str, package: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"])
        .filter(|d| !d.is_empty())
    {
        let candidate = std::path::Path::new(dir).join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{program} is not installed (Debian: apt-get install {package}; .ci/run does)");
}

/// nginx in the foreground, in a process group of its own; stopped (then killed) when dropped.
struct Nginx {
    child: std::process::Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    /// nginx on a free port proxying `https://upstream` with the configuration docs/deploy.md
    /// shows ("peregrine serving HTTPS behind nginx"), from `pki`'s directory.
    fn start(pki: &Pki, upstream: SocketAddr) -> Nginx {
        use std::os::unix::process::CommandExt;
        let nginx = installed("nginx", "nginx-light (or nginx)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = pki.path("nginx");
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("nginx.conf");
        let ca = pki.path("ca.pem");
        // For the test only: a location that expects a name the certificate lacks. Not
        // through the upstream block, whose kept-alive connections were verified for
        // api.example.test and would be reused.
        let wrong_name = format!(
            "        location /wrong-name {{
            proxy_pass https://{upstream};
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {};
            proxy_ssl_server_name on;
            proxy_ssl_name other.example.test;
        }}

",
            ca.display()
        );
        let text = nginx_tls_conf(&dir, port, upstream, &ca).replacen(
            "        location / {\n",
            &format!("{wrong_name}        location / {{\n"),
            1,
        );
        assert!(text.contains("/wrong-name"));
        std::fs::write(&conf, text).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(nginx.addr).is_err() {
            if let Some(status) = nginx.child.try_wait().unwrap() {
                panic!("nginx exited ({status}):\n{}", nginx.log());
            }
            assert!(Instant::now() < deadline, "nginx listens\n{}", nginx.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: signalling our own child (not yet reaped: we hold its Child).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                // SAFETY: the group this child leads (process_group(0)).
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// nginx proxying to peregrine over HTTPS: the upstream's certificate is verified against `ca`
/// for the name `api.example.test`, which nginx also sends as SNI; connections to peregrine are
/// kept alive. docs/deploy.md shows the same.
fn nginx_tls_conf(
    dir: &std::path::Path,
    port: u16,
    upstream: SocketAddr,
    ca: &std::path::Path,
) -> String {
    let dir = dir.display();
    let ca = ca.display();
    format!(
        r#"# nginx in front of peregrine over HTTPS (tests/https.rs; docs/deploy.md)
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream peregrine_tls {{
        server {upstream};
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port};

        location / {{
            proxy_pass https://peregrine_tls;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # Verify peregrine's certificate against the CA, for this name, sent as SNI.
            proxy_ssl_verify on;
            proxy_ssl_verify_depth 2;
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_server_name on;
            proxy_ssl_name api.example.test;
            proxy_ssl_protocols TLSv1.2 TLSv1.3;
            proxy_ssl_session_reuse on;
        }}
    }}
}}
"#
    )
}

/// nginx (`proxy_pass https://`, `proxy_ssl_verify on` against the test CA, SNI) in front of
/// peregrine: requests go through on one kept-alive TLS connection, the application sees the
/// name nginx sent; a name the certificate lacks fails verification in nginx (502).
fn nginx_proxies_to_https_with_verification_and_keep_alive(engine: EngineChoice) {
    let pki = Pki::new(&format!("nginx-{engine:?}"));
    let tls = TlsOptions::new(pki.server()).sni(
        "api.example.test",
        pki.issue("api", "api", &["api.example.test"], false, false),
    );
    let (mut server, addr) = start_tls(engine, tls, |_| {});
    let nginx = Nginx::start(&pki, addr);
    let metrics = metrics_of(&server);
    // A keep-alive client connection to nginx, 20 requests, then a large response.
    let s = connect(nginx.addr);
    let mut w = s.try_clone().unwrap();
    let mut r = std::io::BufReader::new(s);
    for i in 0..20 {
        w.write_all(format!("GET /r{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .unwrap();
        let resp = read_response(&mut r, false).unwrap();
        let t = resp.text();
        assert_eq!(resp.status, 200, "{t}\n{}", nginx.log());
        assert!(
            t.starts_with("scheme=https version=TLSv1_3 cipher=TLS13_")
                && t.ends_with("sni=api.example.test alpn= peer=0\n"),
            "nginx sends SNI, no ALPN, no client certificate: {t}"
        );
    }
    w.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 200_000);
    assert_eq!(
        metrics.tls().handshakes(),
        1,
        "nginx kept its one TLS connection to peregrine alive across 21 requests"
    );
    // The certificate does not name other.example.test: nginx refuses it (502).
    w.write_all(b"GET /wrong-name HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 502, "{}", resp.text());
    let log = nginx.log();
    assert!(
        log.contains("upstream SSL certificate does not match \"other.example.test\""),
        "{log}"
    );
    drop(nginx);
    server.stop(Duration::from_secs(5));
}

// ---- reload under load ---------------------------------------------------------------------------

/// A rustls client trusting `pki`'s CA, without session resumption (so every connection is a
/// full handshake that shows the certificate being served).
fn rustls_client(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_file(pki.path("ca.pem")).unwrap())
        .unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

type TlsStream = std::io::BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>;

/// A TLS connection to `addr` for `localhost`, handshake done.
fn tls_connect(config: &Arc<rustls::ClientConfig>, addr: SocketAddr) -> std::io::Result<TlsStream> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn =
        rustls::ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(std::io::BufReader::new(stream))
}

/// The common name of the certificate the server presented on `stream`, as one of `names`.
fn presented<'a>(stream: &TlsStream, names: &[&'a str]) -> &'a str {
    let leaf = stream.get_ref().conn.peer_certificates().unwrap()[0].as_ref();
    names
        .iter()
        .find(|n| leaf.windows(n.len()).any(|w| w == n.as_bytes()))
        .copied()
        .unwrap_or("?")
}

/// One keep-alive request on `stream`; an error unless it is a complete `200`.
fn request_ok(stream: &mut TlsStream) -> Result<(), String> {
    stream
        .get_mut()
        .write_all(b"GET /load HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let resp = read_response(stream, false).map_err(|e| e.to_string())?;
    if resp.status == 200 && resp.text().starts_with("scheme=https") {
        Ok(())
    } else {
        Err(format!("{} {}", resp.status, resp.text()))
    }
}

/// The certificate files are replaced (renamed over, as certbot does) while four client
/// threads open new TLS connections and send keep-alive requests on them, on two workers, and
/// one connection stays open throughout: no request fails, the open connection is not
/// disturbed, and every handshake begun after the reload was seen presents the new certificate.
fn reload_under_load_loses_no_request(engine: EngineChoice) {
    let pki = Pki::new(&format!("reload-load-{engine:?}"));
    let files = pki.issue("live", "cert-number-one", &["localhost"], false, false);
    let (mut server, addr) = start_tls(engine, TlsOptions::new(files.clone()), |o| {
        o.workers = Some(2);
    });
    let metrics = metrics_of(&server);
    let names = ["cert-number-one", "cert-number-two"];
    let client = rustls_client(&pki);
    let mut kept = tls_connect(&client, addr).unwrap();
    assert_eq!(presented(&kept, &names), names[0]);
    request_ok(&mut kept).unwrap();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Set (to milliseconds since `began`) once the main thread saw the reload counted.
    let reloaded_at = Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let began = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, reloaded_at, client) = (stop.clone(), reloaded_at.clone(), client.clone());
            std::thread::spawn(move || {
                let (mut requests, mut failures, mut old_after_reload) = (0u64, Vec::new(), 0u64);
                let mut seen = [0u64; 2];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let reload_seen = began.elapsed().as_millis() as u64
                        > reloaded_at.load(std::sync::atomic::Ordering::Acquire);
                    let mut stream = match tls_connect(&client, addr) {
                        Ok(s) => s,
                        Err(e) => {
                            failures.push(format!("connect: {e}"));
                            continue;
                        }
                    };
                    match presented(&stream, &names) {
                        "cert-number-one" => {
                            seen[0] += 1;
                            old_after_reload += u64::from(reload_seen);
                        }
                        "cert-number-two" => seen[1] += 1,
                        other => failures.push(format!("certificate {other}")),
                    }
                    for _ in 0..5 {
                        requests += 1;
                        if let Err(e) = request_ok(&mut stream) {
                            failures.push(e);
                        }
                    }
                }
                (requests, failures, old_after_reload, seen)
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(800));
    request_ok(&mut kept).unwrap();
    let next = pki.issue("next", "cert-number-two", &["localhost"], false, false);
    std::fs::rename(&next.key_path, &files.key_path).unwrap();
    std::fs::rename(&next.path, &files.path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.tls().reloads() == 0 {
        assert!(Instant::now() < deadline, "the watcher reloads the files");
        std::thread::sleep(Duration::from_millis(10));
    }
    reloaded_at.store(
        began.elapsed().as_millis() as u64,
        std::sync::atomic::Ordering::Release,
    );
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let (mut requests, mut failures, mut old_after_reload, mut seen) = (0, Vec::new(), 0, [0, 0]);
    for c in clients {
        let (r, f, o, s) = c.join().unwrap();
        requests += r;
        failures.extend(f);
        old_after_reload += o;
        seen[0] += s[0];
        seen[1] += s[1];
    }
    // The connection opened before the reload still works, with the certificate it began with.
    request_ok(&mut kept).unwrap();
    assert_eq!(presented(&kept, &names), names[0]);
    assert!(
        failures.is_empty(),
        "{} of {requests} requests failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(
        old_after_reload, 0,
        "handshakes after the reload got the old certificate"
    );
    assert!(
        seen[0] > 0 && seen[1] > 0 && requests >= 50,
        "load on both sides of the reload: {seen:?} handshakes, {requests} requests"
    );
    eprintln!(
        "reload under load ({engine:?}): {requests} requests, {} handshakes before and {} after, 0 failed",
        seen[0], seen[1]
    );
    server.stop(Duration::from_secs(5));
}

/// docs/deploy.md shows the nginx configuration the test above runs, rendered with the
/// example paths and ports it names; this keeps the two in step.
#[test]
fn deploy_docs_show_the_tested_nginx_https_configuration() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md"))
        .expect("docs/deploy.md");
    let text = nginx_tls_conf(
        std::path::Path::new("/var/lib/peregrine-nginx"),
        80,
        SocketAddr::from(([127, 0, 0, 1], 8443)),
        std::path::Path::new("/etc/peregrine/tls/ca.pem"),
    );
    assert!(
        docs.contains(&text),
        "docs/deploy.md does not show the tested nginx configuration; it is:\n{text}"
    );
}

engine_tests!(
    curl_serves_https_keep_alive_and_large_bodies,
    openssl_s_client_pipelines_requests,
    python_ssl_sees_sni_map_and_wildcards,
    no_certificate_for_the_name_is_a_handshake_alert,
    client_certificates_required_and_optional,
    plaintext_http_to_a_tls_port_gets_an_alert,
    a_stalled_handshake_times_out,
    a_huge_client_hello_is_refused,
    certificates_reload_when_files_change,
    endpoints_have_their_own_certificates,
    the_certificate_selector_comes_first,
    the_server_picks_the_cipher_suite,
    nginx_proxies_to_https_with_verification_and_keep_alive,
    reload_under_load_loses_no_request,
);
