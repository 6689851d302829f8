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
);
