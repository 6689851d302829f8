//! Behind a reverse proxy, end to end: real nginx and real Apache httpd (`mod_proxy_http`) in
//! front of the `peregrine` binary, everything on loopback. The proxy configurations written here
//! are the ones docs/deploy.md shows; keep the two in step.
//!
//! nginx and apache2 must be installed (`.ci/run` installs them); without them these tests fail,
//! naming the package, rather than pass having tested nothing.
//!
//! Checked through each proxy: connections to peregrine are kept alive and reused, the client's
//! address and the proxy's `X-Forwarded-Proto` reach the application with `--forwarded-headers`
//! (and not without), a large upload and a large download go through intact, and (nginx) a
//! restart of peregrine behind it loses no request.

mod common;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{read_response, Response};
use peregrine::demo::{fnv1a64, FNV_OFFSET};
use peregrine::EngineChoice;

/// How long any one wait (a process to start or stop, a response) may take.
const WAIT: Duration = Duration::from_secs(20);

// ---- processes and files ------------------------------------------------------------------------

/// The path of an installed program, or a failure that says which package to install.
fn installed(program: &str, package: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"]);
    for dir in dirs.filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{program} is not installed: tests/proxies.rs runs it in front of peregrine. \
         Install it (Debian/Ubuntu: apt-get install {package}; .ci/run does)"
    );
}

/// A directory for one test's configuration and logs, removed afterwards (kept, and named, when
/// the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "peregrine-proxies-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The file's text, or a note that it cannot be read.
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_else(|e| format!("({name}: {e})"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {} for inspection", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process in a process group of its own (so proxies' worker processes go with it),
/// killed when dropped unless it already exited.
struct Process {
    child: Child,
    name: String,
}

impl Process {
    fn spawn(name: &str, cmd: &mut Command) -> Process {
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            child,
            name: name.to_owned(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the process (not its group).
    fn signal(&self, signal: i32) {
        // SAFETY: signalling our own child, which has not been reaped (we hold its Child).
        unsafe { libc::kill(self.pid(), signal) };
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits for the process to exit, up to `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        // Politely first (nginx and Apache stop their workers on SIGTERM), then the whole group.
        self.signal(libc::SIGTERM);
        if self.wait(Duration::from_secs(5)).is_none() {
            eprintln!("{} did not stop on SIGTERM: killing its group", self.name);
            // SAFETY: the group is the one this child leads (process_group(0)).
            unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `addr`; fails if `process` exits first.
fn wait_listening(process: &mut Process, addr: SocketAddr, log: impl Fn() -> String) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = process.exited() {
            panic!(
                "{} exited ({status}) before listening:\n{}",
                process.name,
                log()
            );
        }
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} does not listen on {addr}:\n{}",
            process.name,
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- peregrine ----------------------------------------------------------------------------------

/// A running `peregrine` binary with its admin endpoints.
struct Peregrine {
    process: Process,
    admin: SocketAddr,
    /// Every line it printed so far (read by a thread, so its stdout never fills up).
    lines: Arc<Mutex<Vec<String>>>,
}

impl Peregrine {
    /// Starts the binary on `127.0.0.1:port` with two workers, admin endpoints on a free port,
    /// and `flags`; returns once it listens. Its stderr goes to `log`.
    fn start(engine: EngineChoice, port: u16, flags: &[&str], log: &Path) -> Peregrine {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
        cmd.args(["--urls", &format!("http://127.0.0.1:{port}")])
            .args(["--engine", engine.as_str(), "--workers", "2"])
            .args(["--admin-urls", "http://127.0.0.1:0"])
            .args(["--shutdown-timeout", "10"])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(File::create(log).unwrap());
        let mut process = Process::spawn("peregrine", &mut cmd);
        let stdout = process.child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let all = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                all.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + WAIT;
        let mut listening = false;
        let admin = loop {
            let line = match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => line,
                Err(_) => panic!(
                    "peregrine did not report its admin endpoints (exited: {:?}); stderr:\n{}",
                    process.exited(),
                    std::fs::read_to_string(log).unwrap_or_default()
                ),
            };
            listening |= line.contains("listening on http://");
            if line.contains("admin endpoints") {
                let url = line.rsplit_once(" on http://").expect("an admin URL").1;
                break url.parse().unwrap();
            }
        };
        assert!(listening, "peregrine reported no listening address");
        Peregrine {
            process,
            admin,
            lines,
        }
    }

    /// A counter from `/metrics`, summed over the workers.
    fn metric(&self, name: &str) -> u64 {
        let scrape = common::get(self.admin, "/metrics").text();
        let prefix = format!("{name}{{");
        scrape
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum()
    }

    /// SIGTERM, then waits for a graceful exit (code 0).
    fn stop(mut self) -> Vec<String> {
        self.process.signal(libc::SIGTERM);
        let status = self
            .process
            .wait(WAIT)
            .expect("peregrine exits within 20 s of SIGTERM");
        assert!(status.success(), "peregrine exited with {status}");
        // The reader thread sees end of file once the process is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && !self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("served"))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

// ---- the proxies --------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProxyKind {
    Nginx,
    /// nginx without upstream keep-alive: a new connection to peregrine for every request.
    NginxWithoutKeepAlive,
    Apache,
}

/// A running proxy in front of `127.0.0.1:upstream`.
struct Proxy {
    /// Runs as long as this value lives.
    _process: Process,
    addr: SocketAddr,
    dir: TempDir,
}

/// The nginx configuration docs/deploy.md shows, with this test's paths and ports. `DIR` holds
/// the pid file, the log and the temporary files.
fn nginx_conf(dir: &Path, port: u16, upstream: u16) -> String {
    let dir = dir.display();
    format!(
        r#"# peregrine behind nginx (tests/proxies.rs; docs/deploy.md)
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream peregrine {{
        server 127.0.0.1:{upstream};
        # Idle connections to peregrine kept open per nginx worker, reused by later requests.
        keepalive 16;
    }}

    server {{
        listen 127.0.0.1:{port};
        # peregrine's own limit (--max-request-body-size) is 30,000,000 bytes by default.
        client_max_body_size 30m;

        location / {{
            proxy_pass http://peregrine;
            # Keep-alive to the upstream needs HTTP/1.1 and no "Connection: close".
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # The scheme the client used; where nginx terminates TLS, "https" (or $scheme when it
            # also serves plain http). Here a constant, so the test can tell it was applied.
            proxy_set_header X-Forwarded-Proto https;
            # nginx's default proxy_next_upstream (error timeout) sends an idempotent request
            # again when a kept-alive connection to peregrine fails under it (closed while
            # peregrine drains for a restart); with one server, only those are tried again.
        }}
    }}
}}
"#
    )
}

/// The Apache httpd configuration docs/deploy.md shows, with this test's paths and ports.
fn apache_conf(dir: &Path, port: u16, upstream: u16) -> String {
    let dir = dir.display();
    let modules = "/usr/lib/apache2/modules";
    format!(
        r#"# peregrine behind Apache httpd (tests/proxies.rs; docs/deploy.md)
ServerRoot "{dir}"
DefaultRuntimeDir "{dir}"
PidFile "{dir}/httpd.pid"
ErrorLog "{dir}/error.log"
LogLevel warn
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
# Only used when started as root.
User #65534
Group #65534

LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule headers_module {modules}/mod_headers.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so

# One process of 16 threads; each thread reuses its own connection to peregrine.
StartServers 1
ServerLimit 1
ThreadLimit 16
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16

# mod_proxy_http keeps backend connections open and reuses them by default.
ProxyPass "/" "http://127.0.0.1:{upstream}/"
ProxyPassReverse "/" "http://127.0.0.1:{upstream}/"
# Pass the client's Host (for the application, and for --allowed-hosts).
ProxyPreserveHost On
# mod_proxy_http adds X-Forwarded-For (and -Host, -Server) itself; the scheme is ours to say.
RequestHeader set X-Forwarded-Proto "https"
"#
    )
}

impl Proxy {
    fn start(kind: ProxyKind, upstream: u16) -> Proxy {
        let port = free_port();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let (dir, mut process) = match kind {
            ProxyKind::Nginx | ProxyKind::NginxWithoutKeepAlive => {
                let nginx = installed("nginx", "nginx-light (or nginx)");
                let dir = TempDir::new("nginx");
                let conf = dir.path().join("nginx.conf");
                let mut text = nginx_conf(dir.path(), port, upstream);
                if kind == ProxyKind::NginxWithoutKeepAlive {
                    text = text
                        .lines()
                        .filter(|l| !l.contains("keepalive 16;") && !l.contains("Connection \"\""))
                        .collect::<Vec<_>>()
                        .join("\n");
                }
                std::fs::write(&conf, text).unwrap();
                let mut cmd = Command::new(nginx);
                cmd.arg("-p")
                    .arg(dir.path())
                    .arg("-c")
                    .arg(&conf)
                    .args(["-g", "daemon off;"])
                    .stdout(File::create(dir.path().join("stdout.log")).unwrap())
                    .stderr(File::create(dir.path().join("stderr.log")).unwrap());
                (dir, Process::spawn("nginx", &mut cmd))
            }
            ProxyKind::Apache => {
                let apache = installed("apache2", "apache2 (or apache2-bin)");
                let dir = TempDir::new("apache");
                let conf = dir.path().join("httpd.conf");
                std::fs::write(&conf, apache_conf(dir.path(), port, upstream)).unwrap();
                let mut cmd = Command::new(apache);
                cmd.arg("-d")
                    .arg(dir.path())
                    .arg("-f")
                    .arg(&conf)
                    .arg("-DFOREGROUND")
                    .stdout(File::create(dir.path().join("stdout.log")).unwrap())
                    .stderr(File::create(dir.path().join("stderr.log")).unwrap());
                (dir, Process::spawn("apache2", &mut cmd))
            }
        };
        wait_listening(&mut process, addr, || {
            format!("{}\n{}", dir.read("stderr.log"), dir.read("error.log"))
        });
        Proxy {
            _process: process,
            addr,
            dir,
        }
    }

    /// The proxy's error log, for failure messages.
    fn log(&self) -> String {
        format!(
            "{}\n{}",
            self.dir.read("stderr.log"),
            self.dir.read("error.log")
        )
    }
}

/// peregrine with `flags` behind a proxy of `kind`.
struct Stack {
    // Dropped in this order: the proxy first, then peregrine, then the logs.
    proxy: Proxy,
    peregrine: Peregrine,
    logs: TempDir,
}

impl Stack {
    fn start(kind: ProxyKind, engine: EngineChoice, flags: &[&str]) -> Stack {
        let logs = TempDir::new("peregrine");
        let port = free_port();
        let peregrine = Peregrine::start(engine, port, flags, &logs.path().join("stderr.log"));
        let proxy = Proxy::start(kind, port);
        Stack {
            proxy,
            peregrine,
            logs,
        }
    }

    fn logs(&self) -> String {
        format!(
            "proxy:\n{}\nperegrine:\n{}",
            self.proxy.log(),
            self.logs.read("stderr.log")
        )
    }
}

// ---- a client -----------------------------------------------------------------------------------

/// A connection to `to` from `source` (any loopback address: the proxy then sees that one).
fn connect_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .unwrap_or_else(|e| panic!("cannot bind {source}: {e}"));
    socket
        .connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

/// `GET path` with `Host: host` on a new connection from `source`.
fn get_from(source: IpAddr, to: SocketAddr, path: &str, host: &str) -> Response {
    let mut s = connect_from(source, to);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(&mut BufReader::new(s), false).expect("a response")
}

/// The `name: value` lines of a `/whoami` answer.
fn whoami_field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no {name} in {text:?}"))
}

/// Reads a response head: the status and the headers.
fn read_head(r: &mut impl BufRead) -> io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let h = line.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            return Ok((status, headers));
        }
        let (n, v) = h
            .split_once(':')
            .ok_or_else(|| io::Error::other(format!("bad header {h:?}")))?;
        headers.push((n.to_ascii_lowercase(), v.trim().to_owned()));
    }
}

/// Streams a response body (Content-Length or chunked) through `sink`, piece by piece, without
/// keeping it; returns its length.
fn stream_body(
    r: &mut impl BufRead,
    headers: &[(String, String)],
    mut sink: impl FnMut(&[u8]),
) -> io::Result<u64> {
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let mut buf = vec![0u8; 64 * 1024];
    let mut copy = |r: &mut dyn BufRead, mut n: u64| -> io::Result<u64> {
        let total = n;
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = r.read(&mut buf[..want])?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            sink(&buf[..got]);
            n -= got as u64;
        }
        Ok(total)
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut total = 0;
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let size = size.trim_end();
            let n = u64::from_str_radix(size.split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {size:?}")))?;
            total += copy(r, n)?;
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
            if n == 0 {
                // Trailers, if any, end with an empty line (just read when there are none).
                while !crlf.trim_end().is_empty() {
                    crlf.clear();
                    r.read_line(&mut crlf)?;
                }
                return Ok(total);
            }
        }
    }
    let length: u64 = header("content-length")
        .ok_or_else(|| io::Error::other("no content-length"))?
        .parse()
        .map_err(|_| io::Error::other("bad content-length"))?;
    copy(r, length)
}

/// The `/bytes/N` pattern (byte `i` is `i % 256`) from offset 0, 64 KiB and 256 more, so any
/// piece of up to 64 KiB can be compared with one slice.
fn pattern() -> Vec<u8> {
    (0..64 * 1024 + 256).map(|i| i as u8).collect()
}

// ---- the tests ----------------------------------------------------------------------------------

/// 200 requests through the proxy, each on a new client connection: peregrine sees only the
/// proxy's few reused connections.
fn keeps_upstream_connections_alive(kind: ProxyKind, engine: EngineChoice) {
    let stack = Stack::start(kind, engine, &[]);
    for i in 0..200 {
        let r = common::get(stack.proxy.addr, "/plaintext");
        assert_eq!(r.status, 200, "request {i}: {}", stack.logs());
        assert_eq!(r.text(), "Hello, World!");
    }
    let accepted = stack
        .peregrine
        .metric("peregrine_connections_accepted_total");
    let requests = stack.peregrine.metric("peregrine_requests_total");
    println!("{kind:?}/{engine:?}: 200 requests through the proxy, {requests} served by peregrine on {accepted} connection(s)");
    assert_eq!(requests, 200);
    assert!(
        (1..=20).contains(&accepted),
        "{accepted} connections for 200 requests: the proxy does not reuse them\n{}",
        stack.logs()
    );
}

/// With `--forwarded-headers`, `/whoami` through the proxy shows the client's address and the
/// proxy's `X-Forwarded-Proto`; without, the proxy's address and plain http. The client connects
/// from 127.0.0.2, the proxy to peregrine from 127.0.0.1, so the two cannot be confused.
fn forwards_the_client_address(kind: ProxyKind, engine: EngineChoice) {
    let client = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    for forwarded in [true, false] {
        let flags: &[&str] = if forwarded {
            &["--forwarded-headers", "--allowed-hosts", "example.test"]
        } else {
            &[]
        };
        let stack = Stack::start(kind, engine, flags);
        let r = get_from(client, stack.proxy.addr, "/whoami", "example.test");
        assert_eq!(r.status, 200, "{}", stack.logs());
        let text = r.text();
        let remote: SocketAddr = whoami_field(&text, "remote_addr").parse().unwrap();
        println!("{kind:?}/{engine:?} forwarded={forwarded}: {text:?}");
        assert_eq!(whoami_field(&text, "host"), "example.test", "{text}");
        if forwarded {
            assert_eq!(remote, SocketAddr::new(client, 0), "{text}");
            assert_eq!(whoami_field(&text, "scheme"), "https", "{text}");
            // Host filtering sits behind the proxy too.
            let r = get_from(client, stack.proxy.addr, "/whoami", "other.test");
            assert_eq!(r.status, 400, "{}", r.text());
        } else {
            assert_eq!(remote.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST), "{text}");
            assert_ne!(remote.port(), 0, "{text}");
            assert_eq!(whoami_field(&text, "scheme"), "http", "{text}");
        }
    }
}

/// A 20 MB upload counted and hashed by peregrine (`/upload`), and a 256 MiB download counted
/// and checked as it streams (neither proxy nor test holds it whole in memory).
///
/// The upload goes to `/upload`, not `/echo`: `/echo` answers while the body still arrives, and
/// neither nginx nor Apache reads a response before it has sent the whole request body, so an
/// echo larger than the socket buffers stalls behind them (seen with both; see src/demo.rs).
fn large_upload_and_download(kind: ProxyKind, engine: EngineChoice) {
    let stack = Stack::start(kind, engine, &[]);

    // Upload: xorshift bytes, so a shifted or repeated piece changes the hash.
    const UPLOAD: usize = 20_000_000;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let body: Vec<u8> = (0..UPLOAD)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let started = Instant::now();
    let mut s = common::connect(stack.proxy.addr);
    s.set_write_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "POST /upload HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {UPLOAD}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let r = read_response(&mut BufReader::new(s), false).expect("a response");
    assert_eq!(r.status, 200, "{}\n{}", r.text(), stack.logs());
    let want = format!(
        "length: {UPLOAD}\nfnv1a64: {:016x}\n",
        fnv1a64(FNV_OFFSET, &body)
    );
    assert_eq!(r.text(), want);
    println!(
        "{kind:?}/{engine:?}: 20 MB uploaded in {:.2}s",
        started.elapsed().as_secs_f64()
    );

    // Download.
    const DOWNLOAD: u64 = 256 << 20;
    let started = Instant::now();
    let mut s = common::connect(stack.proxy.addr);
    write!(
        s,
        "GET /bytes/{DOWNLOAD} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let (status, headers) = read_head(&mut r).unwrap();
    assert_eq!(status, 200, "{}", stack.logs());
    let pattern = pattern();
    let mut at = 0u64;
    let received = stream_body(&mut r, &headers, |piece| {
        let offset = (at % 256) as usize;
        assert!(
            pattern[offset..offset + piece.len()] == *piece,
            "download differs at or after byte {at}"
        );
        at += piece.len() as u64;
    })
    .unwrap();
    assert_eq!(received, DOWNLOAD);
    println!(
        "{kind:?}/{engine:?}: 256 MiB downloaded in {:.2}s",
        started.elapsed().as_secs_f64()
    );
}

/// Restart behind nginx: peregrine A serves on port P; B starts on the same port (SO_REUSEPORT),
/// then A gets SIGTERM and drains. Clients going through nginx the whole time see only `200`s.
fn restart_behind_nginx_loses_no_request(engine: EngineChoice) {
    restart_behind(ProxyKind::Nginx, engine);
}

/// The same restart with nginx opening a new connection to peregrine for every request. nginx
/// retries only requests that failed on a cached (kept-alive) connection, so this needs the
/// draining peregrine A to serve, not close, connections it has just accepted (an earlier build
/// closed them unread: nginx answered `502`, "upstream prematurely closed connection", for 1 or
/// 2 requests of about 30,000 in half the runs).
#[test]
fn restart_behind_nginx_without_upstream_keepalive_loses_no_request() {
    for engine in [EngineChoice::Uring, EngineChoice::Portable] {
        restart_behind(ProxyKind::NginxWithoutKeepAlive, engine);
    }
}

fn restart_behind(kind: ProxyKind, engine: EngineChoice) {
    let logs = TempDir::new("restart");
    let port = free_port();
    let a = Peregrine::start(engine, port, &[], &logs.path().join("a.log"));
    let proxy = Proxy::start(kind, port);
    let log = || {
        format!(
            "nginx:\n{}\nA:\n{}\nB:\n{}",
            proxy.log(),
            logs.read("a.log"),
            logs.read("b.log")
        )
    };

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failures) = (stop.clone(), ok.clone(), failures.clone());
            let addr = proxy.addr;
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                // One keep-alive connection to nginx per client, opened again if nginx closes it.
                let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let (w, r) = conn.get_or_insert_with(|| {
                        let s = common::connect(addr);
                        (s.try_clone().unwrap(), BufReader::new(s))
                    });
                    let result = w
                        .write_all(b"GET /plaintext HTTP/1.1\r\nHost: test\r\n\r\n")
                        .and_then(|()| read_response(r, false));
                    match result {
                        Ok(resp) if resp.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if resp
                                .header("connection")
                                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
                            {
                                conn = None;
                            }
                        }
                        Ok(resp) => {
                            failures.lock().unwrap().push(format!(
                                "status {}: {}",
                                resp.status,
                                resp.text()
                            ));
                            conn = None;
                        }
                        Err(e) => {
                            failures.lock().unwrap().push(format!("error: {e}"));
                            conn = None;
                        }
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(1500));
    let before_b = ok.load(Ordering::Relaxed);
    let b = Peregrine::start(engine, port, &[], &logs.path().join("b.log"));
    std::thread::sleep(Duration::from_millis(500));
    let before_stop = ok.load(Ordering::Relaxed);
    let a_lines = a.stop();
    let after_stop = ok.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let total = ok.load(Ordering::Relaxed);
    let b_requests = b.metric("peregrine_requests_total");
    let a_report = a_lines
        .iter()
        .find(|l| l.contains("served"))
        .cloned()
        .unwrap_or_default();
    let failures = failures.lock().unwrap().clone();
    println!(
        "restart/{kind:?}/{engine:?}: {total} requests through nginx ({before_b} before B started, \
         {before_stop} before SIGTERM to A, {after_stop} when A had exited), {} failed; \
         A: {a_report:?}; B served {b_requests}",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}\n{}",
        failures.len(),
        total + failures.len() as u64,
        &failures[..failures.len().min(10)],
        log()
    );
    assert!(before_b > 0, "no request went through before the restart");
    assert!(b_requests > 0, "B served nothing\n{}", log());
    assert!(
        total > after_stop,
        "no request went through after A stopped"
    );
    drop(b);
}

fn nginx_keeps_upstream_connections_alive(engine: EngineChoice) {
    keeps_upstream_connections_alive(ProxyKind::Nginx, engine);
}

fn apache_keeps_upstream_connections_alive(engine: EngineChoice) {
    keeps_upstream_connections_alive(ProxyKind::Apache, engine);
}

fn nginx_forwards_the_client_address(engine: EngineChoice) {
    forwards_the_client_address(ProxyKind::Nginx, engine);
}

fn apache_forwards_the_client_address(engine: EngineChoice) {
    forwards_the_client_address(ProxyKind::Apache, engine);
}

fn nginx_large_upload_and_download(engine: EngineChoice) {
    large_upload_and_download(ProxyKind::Nginx, engine);
}

fn apache_large_upload_and_download(engine: EngineChoice) {
    large_upload_and_download(ProxyKind::Apache, engine);
}

engine_tests!(
    nginx_keeps_upstream_connections_alive,
    apache_keeps_upstream_connections_alive,
    nginx_forwards_the_client_address,
    apache_forwards_the_client_address,
    nginx_large_upload_and_download,
    apache_large_upload_and_download,
    restart_behind_nginx_loses_no_request,
);

/// docs/deploy.md shows the configurations these tests run, rendered with the example paths and
/// ports it names; this keeps the two in step.
#[test]
fn deploy_docs_show_the_tested_proxy_configurations() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/deploy.md"))
        .expect("docs/deploy.md");
    for (name, text) in [
        (
            "nginx",
            nginx_conf(Path::new("/var/lib/peregrine-nginx"), 80, 8080),
        ),
        (
            "apache",
            apache_conf(Path::new("/var/lib/peregrine-apache"), 80, 8080),
        ),
    ] {
        assert!(
            docs.contains(&text),
            "docs/deploy.md does not show the tested {name} configuration; it is:\n{text}"
        );
    }
}
