//! HTTP/2 on both engines, checked with clients no one here wrote: curl (prior knowledge in
//! cleartext, ALPN over TLS), nghttp, h2load, Python's grpcio, and frame-level probes written
//! with Python's `hpack` (tests/http2/probe.py) for each flood defense over a real socket.
//! Needs Debian's `nghttp2-client` and `curl`, and Python's `h2` and `grpcio` (.ci/run
//! installs them).

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use peregrine::http::{HttpContext, HttpProtocol, MaxRequestBodySize};
use peregrine::metrics::ServerMetrics;
use peregrine::server::{Endpoint, HttpProtocols, TlsOptions};
use peregrine::{AppResult, EngineChoice, Handler, HttpServer, Server, ServerOptions};

/// Handlers of `/slow` dropped before they finished (cancelled by RST_STREAM), per test path
/// prefix (tests run in parallel, so each counts under its own query string).
static CANCELLED: AtomicUsize = AtomicUsize::new(0);

struct CountDrop(bool);

impl Drop for CountDrop {
    fn drop(&mut self) {
        if !self.0 {
            CANCELLED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A gRPC message: compressed flag, 4-byte length, bytes.
fn grpc_message(msg: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(msg);
    out
}

struct App;

impl Handler for App {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let protocol = http.protocol().map_or("?", HttpProtocol::as_str);
        match http.request().path() {
            "/hello" => http.write(format!("hello over {protocol}").as_bytes()),
            // What conformance suites (httpwg, h2spec) ask for: 200 with a body, for GET or
            // POST (the body is read and dropped).
            "/" => {
                let mut body = Vec::new();
                http.read_body_to_end(&mut body, 1 << 20).await?;
                http.write(b"conformance");
            }
            "/info" => {
                let r = http.request();
                let text = format!(
                    "method={} path={} query={} host={} scheme={} protocol={protocol} ua={}",
                    r.method_str(),
                    r.path(),
                    r.query(),
                    r.host().unwrap_or("-"),
                    r.scheme(),
                    String::from_utf8_lossy(r.header("user-agent").unwrap_or(b"-")),
                );
                http.write(text.as_bytes());
            }
            "/echo" => {
                let mut body = Vec::new();
                http.read_body_to_end(&mut body, 64 << 20).await?;
                http.write_all(&body).await?;
            }
            "/limit" => {
                if let Some(l) = http.features_mut().get_mut::<MaxRequestBodySize>() {
                    l.set(Some(10)).unwrap();
                }
                let mut body = Vec::new();
                http.read_body_to_end(&mut body, 1 << 20).await?;
                http.write(b"read it all");
            }
            "/trailers" => {
                http.write(b"body then trailers");
                http.set_trailer("x-checksum", "abc123")?;
            }
            "/chunked-trailers" => {
                http.write(b"part one;");
                http.flush().await?;
                http.write(b"part two;");
                match http.set_trailer("x-checksum", "abc123") {
                    Ok(()) => http.write(b"trailers set"),
                    Err(e) => http.write(format!("trailers refused: {e}").as_bytes()),
                }
            }
            "/big" => http.write_all(&vec![b'x'; 1 << 20]).await?,
            "/slow" => {
                let mut guard = CountDrop(false);
                peregrine::rt::sleep(Duration::from_secs(30)).await;
                guard.0 = true;
            }
            "/finish" => {
                peregrine::rt::sleep(Duration::from_millis(1500)).await;
                http.write(b"finished");
            }
            "/test.Echo/Unary" => {
                let mut body = Vec::new();
                http.read_body_to_end(&mut body, 1 << 20).await?;
                let mut msg = body.get(5..).unwrap_or_default().to_vec();
                msg.reverse();
                http.set_header("content-type", "application/grpc")?;
                http.write(&grpc_message(&msg));
                http.set_trailer("grpc-status", "0")?;
            }
            "/test.Echo/Count" => {
                let mut body = Vec::new();
                http.read_body_to_end(&mut body, 1 << 20).await?;
                let n: usize = std::str::from_utf8(body.get(5..).unwrap_or_default())?.parse()?;
                http.set_header("content-type", "application/grpc")?;
                for i in 0..n {
                    http.write(&grpc_message(i.to_string().as_bytes()));
                    http.flush().await?;
                }
                http.set_trailer("grpc-status", "0")?;
            }
            "/test.Echo/Fail" => {
                http.set_header("content-type", "application/grpc")?;
                http.set_trailer("grpc-status", "5")?;
                http.set_trailer("grpc-message", "no such thing")?;
            }
            "/test.Echo/Slow" => {
                let mut guard = CountDrop(false);
                peregrine::rt::sleep(Duration::from_secs(5)).await;
                guard.0 = true;
                http.set_header("content-type", "application/grpc")?;
                http.set_trailer("grpc-status", "0")?;
            }
            _ => {
                http.set_status(404)?;
            }
        }
        Ok(())
    }
}

fn options() -> ServerOptions {
    let mut o = ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1);
    o.limits.http2.response_stall_timeout = Duration::from_secs(2);
    o
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} runs (is it installed? .ci/run installs it): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn curl(args: &[&str]) -> String {
    text(run(Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)))
}

fn metrics_of(server: &HttpServer) -> Arc<ServerMetrics> {
    server
        .features()
        .get::<Arc<ServerMetrics>>()
        .expect("socket servers have metrics")
        .clone()
}

fn probe_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/http2/probe.py")
}

fn probe(attack: &str, port: u16) -> String {
    text(run(Command::new("python3")
        .arg(probe_script())
        .arg(attack)
        .arg(port.to_string())))
}

fn curl_cleartext_serves_either_protocol(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    let base = format!("http://{addr}");
    let h2 = curl(&[
        "--http2-prior-knowledge",
        "-A",
        "probe",
        &format!("{base}/info?a=1"),
    ]);
    assert_eq!(
        h2,
        format!("method=GET path=/info query=a=1 host={addr} scheme=http protocol=HTTP/2 ua=probe")
    );
    // The same endpoint answers HTTP/1.1 (the preface decides).
    let h1 = curl(&[&format!("{base}/hello")]);
    assert_eq!(h1, "hello over HTTP/1.1");
    // A request body streamed with flow control (4 MiB: several windows), echoed back.
    let dir = std::env::temp_dir().join(format!("peregrine-h2-{}-{engine:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body.bin");
    let body: Vec<u8> = (0..4u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2-prior-knowledge"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("{base}/echo")));
    assert!(out.stdout == body, "the 4 MiB body comes back intact");
    // A status and headers: HEAD, 404, and Content-Length of a response written whole.
    let head = curl(&["--http2-prior-knowledge", "-i", &format!("{base}/hello")]);
    assert!(head.starts_with("HTTP/2 200"), "{head}");
    assert!(head.contains("content-length: 17"), "{head}");
    assert!(head.contains("server: peregrine"), "{head}");
    let missing = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
        &format!("{base}/nothing"),
    ]);
    assert_eq!(missing, "404 2");
    let _ = std::fs::remove_dir_all(&dir);
    let m = metrics_of(&server).snapshot();
    assert!(m.http2_connections >= 3, "{m:?}");
    server.stop(Duration::from_secs(2));
}

fn tls_negotiates_h2_by_alpn(engine: EngineChoice) {
    let (dir, files) = self_signed_certificate(&format!("h2-tls-{engine:?}"));
    let mut o = options();
    o.urls.clear();
    o.endpoints
        .push(Endpoint::new("secure", "https://127.0.0.1:0").tls(TlsOptions::new(files.clone())));
    o.endpoints.push(
        Endpoint::new("h1", "https://127.0.0.1:0")
            .tls(TlsOptions::new(files))
            .protocols(HttpProtocols::Http1),
    );
    let (mut server, addr) = start_with(engine, App, o);
    let h1_only = server.features().addresses()[1];
    let url = |a: std::net::SocketAddr, p: &str| format!("https://localhost:{}{p}", a.port());
    let resolve = format!("localhost:{}:127.0.0.1", addr.port());
    let resolve1 = format!("localhost:{}:127.0.0.1", h1_only.port());
    let h2 = curl(&["-k", "--resolve", &resolve, "--http2", &url(addr, "/info")]);
    assert!(h2.contains("scheme=https protocol=HTTP/2"), "{h2}");
    let h1 = curl(&[
        "-k",
        "--resolve",
        &resolve,
        "--http1.1",
        &url(addr, "/hello"),
    ]);
    assert_eq!(h1, "hello over HTTP/1.1");
    // An Http1 endpoint does not offer h2: curl falls back to HTTP/1.1.
    let h1 = curl(&[
        "-k",
        "--resolve",
        &resolve1,
        "--http2",
        &url(h1_only, "/hello"),
    ]);
    assert_eq!(h1, "hello over HTTP/1.1");
    server.stop(Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(&dir);
}

fn http1_only_endpoint_answers_the_preface_with_505(engine: EngineChoice) {
    let mut o = options();
    o.protocols = HttpProtocols::Http1;
    let (mut server, addr) = start_with(engine, App, o);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("http://{addr}/hello"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "no HTTP/2 on an Http1 endpoint");
    let mut s = connect(addr);
    use std::io::{Read, Write};
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let resp = String::from_utf8_lossy(&buf);
    // HTTP/1.1's parser names it: 505 HTTP Version Not Supported, closed.
    assert!(resp.starts_with("HTTP/1.1 505"), "{resp}");
    assert_eq!(
        curl(&[&format!("http://{addr}/hello")]),
        "hello over HTTP/1.1"
    );
    server.stop(Duration::from_secs(2));
}

fn http2_only_endpoint_sends_goaway_to_http1(engine: EngineChoice) {
    let mut o = options();
    o.protocols = HttpProtocols::Http2;
    let (mut server, addr) = start_with(engine, App, o);
    let out = probe("h1_on_h2_only", addr.port());
    // PROTOCOL_ERROR (1), no stream processed.
    assert!(out.contains("goaway=1 last=0"), "{out}");
    let h2 = curl(&["--http2-prior-knowledge", &format!("http://{addr}/hello")]);
    assert_eq!(h2, "hello over HTTP/2");
    server.stop(Duration::from_secs(2));
}

fn nghttp_and_h2load(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    // nghttp shows the response trailers it received.
    let out = text(run(Command::new("nghttp")
        .args(["-v", "-t", "10"])
        .arg(format!("http://{addr}/trailers"))));
    assert!(out.contains("x-checksum: abc123"), "{out}");
    assert!(out.contains("body then trailers"), "{out}");
    // h2load: 4 connections, 10 streams each at a time; every request succeeds.
    let out = text(run(Command::new("h2load")
        .args(["-n", "2000", "-c", "4", "-m", "10", "-T", "20"])
        .arg(format!("http://{addr}/hello"))));
    assert!(out.contains("2000 succeeded, 0 failed, 0 errored"), "{out}");
    assert!(out.contains("status codes: 2000 2xx"), "{out}");
    server.stop(Duration::from_secs(2));
}

fn http1_chunked_response_trailers_when_te_trailers(engine: EngineChoice) {
    use std::io::{Read, Write};
    let (mut server, addr) = start_with(engine, App, options());
    let get = |te: &str| {
        let mut s = connect(addr);
        write!(
            s,
            "GET /chunked-trailers HTTP/1.1\r\nHost: x\r\n{te}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    };
    let with = get("TE: trailers\r\n");
    assert!(
        with.contains("transfer-encoding: chunked") || with.contains("Transfer-Encoding: chunked"),
        "{with}"
    );
    assert!(with.contains("trailers set"), "{with}");
    assert!(
        with.ends_with("\r\n0\r\nx-checksum: abc123\r\n\r\n"),
        "{with:?}"
    );
    // Without `TE: trailers` the client never said it can take them: the feature is absent.
    let without = get("");
    assert!(without.contains("trailers refused"), "{without}");
    assert!(without.ends_with("\r\n0\r\n\r\n"), "{without:?}");
    // Over HTTP/2 trailers are always possible (nghttp shows them: nghttp_and_h2load).
    server.stop(Duration::from_secs(2));
}

fn host_filtering_reads_the_authority(engine: EngineChoice) {
    let app = peregrine::middleware::HostFiltering::new(App, ["allowed.example"]).unwrap();
    let (mut server, addr) = start_with(engine, app, options());
    let get = |host: &str| {
        curl(&[
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--connect-to",
            &format!("{host}:80:{addr}"),
            &format!("http://{host}/hello"),
        ])
    };
    // curl sends the host as :authority over HTTP/2.
    assert_eq!(get("allowed.example"), "200");
    assert_eq!(get("other.example"), "400");
    server.stop(Duration::from_secs(2));
}

fn idle_connection_closes_after_the_keep_alive_timeout(engine: EngineChoice) {
    let mut o = options();
    o.limits.keep_alive_timeout = Duration::from_secs(1);
    let (mut server, addr) = start_with(engine, App, o);
    let started = Instant::now();
    let out = probe("idle", addr.port());
    // GOAWAY(NO_ERROR) with no stream processed, then the close; within a few seconds.
    assert!(out.contains("goaway=0 last=0"), "{out}");
    assert!(out.contains("closed"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(8));
    server.stop(Duration::from_secs(2));
}

fn body_over_the_limit_is_413(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    let code = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-binary",
        "0123456789abcdef",
        &format!("http://{addr}/limit"),
    ]);
    assert_eq!(code, "413");
    let ok = curl(&[
        "--http2-prior-knowledge",
        "--data-binary",
        "0123456789",
        &format!("http://{addr}/limit"),
    ]);
    assert_eq!(ok, "read it all");
    server.stop(Duration::from_secs(2));
}

/// Runs `attack`, checks its lines and that a second connection was served.
fn flood(engine: EngineChoice, attack: &str, expect: &[&str], counter: &str) {
    let (mut server, addr) = start_with(engine, App, options());
    let out = probe(attack, addr.port());
    for e in expect {
        assert!(out.contains(e), "{attack}: expected {e:?} in\n{out}");
    }
    assert!(
        out.contains("second=200"),
        "{attack}: second connection\n{out}"
    );
    let metrics = metrics_of(&server);
    let deadline = Instant::now() + Duration::from_secs(5);
    while metrics.snapshot().http2_event(counter) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        metrics.snapshot().http2_event(counter) >= 1,
        "{attack}: {counter} counted"
    );
    let mut text = String::new();
    metrics.render_prometheus(&mut text);
    assert!(
        text.contains(&format!("event=\"{counter}\"}} ")),
        "{counter} on /metrics"
    );
    server.stop(Duration::from_millis(500));
}

fn rapid_reset(engine: EngineChoice) {
    // ENHANCE_YOUR_CALM (11) after the reset budget (200).
    flood(engine, "rapid_reset", &["goaway=11"], "rapid_reset_floods");
}

fn continuation_flood(engine: EngineChoice) {
    flood(
        engine,
        "continuation",
        &["goaway=11"],
        "continuation_floods",
    );
}

fn hpack_bomb(engine: EngineChoice) {
    flood(engine, "hpack_bomb", &["goaway=11"], "hpack_bombs");
}

fn settings_flood(engine: EngineChoice) {
    flood(engine, "settings_flood", &["goaway=11"], "control_floods");
}

fn ping_flood(engine: EngineChoice) {
    flood(engine, "ping_flood", &["goaway=11"], "control_floods");
}

fn too_many_streams(engine: EngineChoice) {
    // The 101st concurrent stream (id 201) is refused (REFUSED_STREAM = 7).
    flood(
        engine,
        "too_many_streams",
        &["rst=201:7"],
        "streams_refused",
    );
}

fn window_never_opened(engine: EngineChoice) {
    // Headers go out, no DATA can; after the stall timeout (2 s here) the stream is reset with
    // CANCEL (8) and its buffer freed.
    flood(
        engine,
        "window_never_opened",
        &["status=1:200", "rst=1:8"],
        "stalled_responses",
    );
}

fn reset_cancels_the_handler(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    let before = CANCELLED.load(Ordering::SeqCst);
    let out = probe("rapid_reset", addr.port());
    assert!(out.contains("goaway=11"), "{out}");
    // Handlers of streams reset by the client were dropped, not left to run 30 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    while CANCELLED.load(Ordering::SeqCst) - before < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(CANCELLED.load(Ordering::SeqCst) - before >= 100);
    server.stop(Duration::from_millis(500));
}

fn grpc_unary_streaming_trailers_and_deadline(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/http2/grpc_client.py");
    let out = text(run(Command::new("python3")
        .arg(script)
        .arg(addr.port().to_string())));
    assert!(out.contains("unary=cprg olleh code=OK"), "{out}");
    assert!(out.contains("stream=0,1,2,3,4"), "{out}");
    assert!(
        out.contains("fail=NOT_FOUND details=no such thing"),
        "{out}"
    );
    assert!(out.contains("slow=DEADLINE_EXCEEDED"), "{out}");
    server.stop(Duration::from_secs(2));
}

/// nginx in front with `grpc_pass` (HTTP/2 to the upstream over cleartext): the gRPC client
/// talks to nginx, nginx to peregrine.
fn grpc_through_nginx_grpc_pass(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    let dir = std::env::temp_dir().join(format!(
        "peregrine-h2-nginx-{}-{engine:?}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let conf = format!(
        r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{
            grpc_pass grpc://{addr};
        }}
    }}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nginx is installed (.ci/run installs it)");
    let mut child = Command::new(nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/http2/grpc_client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    // nginx runs in the foreground (one master, one worker in its group): SIGKILL ends the
    // master; its worker exits when it sees the master gone.
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.contains("unary=cprg olleh code=OK"), "{out}\n{log}");
    assert!(out.contains("stream=0,1,2,3,4"), "{out}\n{log}");
    assert!(
        out.contains("fail=NOT_FOUND details=no such thing"),
        "{out}\n{log}"
    );
    assert!(out.contains("slow=DEADLINE_EXCEEDED"), "{out}\n{log}");
    assert!(metrics_of(&server).snapshot().http2_connections >= 1);
    server.stop(Duration::from_secs(2));
}

/// The httpwg binary (`cargo install httpwg-cli`; .ci/run installs it): on PATH, in
/// `$CARGO_HOME/bin` or `~/.cargo/bin`.
fn httpwg() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("httpwg"))
        .find(|p| p.is_file())
        .expect("httpwg is installed (`cargo install httpwg-cli --locked`; .ci/run does it)")
}

/// The httpwg RFC 9113 suite (h2spec's cases, in Rust): every case passes.
fn httpwg_conformance(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    let out = Command::new(httpwg())
        .args(["--frame-timeout", "3000", "--connect-timeout", "5000", "-a"])
        .arg(addr.to_string())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("httpwg runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let failed: Vec<&str> = err.lines().filter(|l| l.contains("Test failed")).collect();
    assert!(
        out.status.success() && failed.is_empty(),
        "httpwg: {} failed:\n{}\n{}",
        failed.len(),
        failed.join("\n"),
        err.lines()
            .filter(|l| l.contains("Passed") || l.contains("failed"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(err.contains("Passed"), "{err}");
    server.stop(Duration::from_secs(2));
}

fn graceful_stop_finishes_streams_in_flight(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, App, options());
    let mut child = Command::new("python3")
        .arg(probe_script())
        .arg("graceful")
        .arg(addr.port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Stop once the request is in flight (the handler takes 1.5 s).
    use std::io::{BufRead, Read};
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert_eq!(first.trim(), "sent");
    std::thread::sleep(Duration::from_millis(200));
    let report = server.stop(Duration::from_secs(5));
    let mut out = String::new();
    lines.read_to_string(&mut out).unwrap();
    child.wait().unwrap();
    // GOAWAY(NO_ERROR) naming stream 1, then its response in full.
    assert!(out.contains("goaway=0 last=1"), "{out}");
    assert!(out.contains("status=1:200"), "{out}");
    assert!(out.contains("data=1:8"), "{out}");
    assert_eq!(report.connections_aborted, 0, "{report:?}");
}

engine_tests!(
    curl_cleartext_serves_either_protocol,
    tls_negotiates_h2_by_alpn,
    http1_only_endpoint_answers_the_preface_with_505,
    http2_only_endpoint_sends_goaway_to_http1,
    nghttp_and_h2load,
    body_over_the_limit_is_413,
    host_filtering_reads_the_authority,
    idle_connection_closes_after_the_keep_alive_timeout,
    http1_chunked_response_trailers_when_te_trailers,
    rapid_reset,
    continuation_flood,
    hpack_bomb,
    settings_flood,
    ping_flood,
    too_many_streams,
    window_never_opened,
    reset_cancels_the_handler,
    grpc_unary_streaming_trailers_and_deadline,
    grpc_through_nginx_grpc_pass,
    httpwg_conformance,
    graceful_stop_finishes_streams_in_flight,
);
