//! Deployment: Unix domain sockets, systemd socket activation and notification, and the
//! binary's signals, with real sockets and processes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::{get, read_response, Response};
use peregrine::{
    AppResult, EngineChoice, Handler, HttpContext, HttpServer, Server, ServerOptions, StartError,
    UringServer,
};

/// A fresh, empty directory for one test's socket files.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peregrine-hosting-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `GET path` over a Unix socket.
fn get_unix(path: &Path, target: &str) -> Response {
    let mut s = UnixStream::connect(path).expect("connect to the Unix socket");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: uds\r\n\r\n").unwrap();
    read_response(&mut BufReader::new(s), false).expect("a response")
}

/// Answers with what the connection feature says about the addresses.
struct ConnInfo;

impl Handler for ConnInfo {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let c = *http
            .connection()
            .expect("the engine sets the connection feature");
        http.write(format!("local={:?} remote={:?}", c.local_addr, c.remote_addr).as_bytes());
        Ok(())
    }
}

fn serves_over_a_unix_socket_with_its_mode_and_removes_it_on_stop(engine: EngineChoice) {
    let dir = temp_dir(&format!("serve-{engine}"));
    let sock = dir.join("web.sock");
    let mut options = ServerOptions::with_urls([
        format!("unix:{}", sock.display()),
        "http://127.0.0.1:0".into(),
    ])
    .workers(2)
    .engine(engine);
    options.unix_socket_mode = Some(0o660);
    let mut server = HttpServer::new(options);
    server.start(ConnInfo).unwrap();

    let f = server.features();
    assert_eq!(f.unix_paths(), std::slice::from_ref(&sock));
    assert_eq!(f.addresses().len(), 1);
    assert_ne!(
        f.addresses()[0].port(),
        0,
        "port 0 still reports the real port"
    );
    let addresses = f.get::<peregrine::ServerAddresses>().unwrap();
    assert_eq!(
        addresses.urls(),
        [
            format!("http://{}", f.addresses()[0]),
            format!("unix:{}", sock.display())
        ]
    );
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    // Several connections, so both workers (each on a duplicate of the socket) may serve.
    for _ in 0..8 {
        let r = get_unix(&sock, "/");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.text(),
            "local=None remote=None",
            "a Unix socket has no IP addresses"
        );
    }
    let tcp = get(f.addresses()[0], "/");
    assert!(
        tcp.text().starts_with("local=Some(127.0.0.1:"),
        "{}",
        tcp.text()
    );

    let report = server.stop(Duration::from_secs(2));
    assert_eq!(report.requests_served, 9, "{report}");
    assert!(!sock.exists(), "the socket file is removed on stop");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn stale_socket_is_replaced_live_one_is_in_use_and_other_files_are_kept() {
    let dir = temp_dir("stale");
    let sock = dir.join("web.sock");
    // A stale socket file: its listener is gone, the file stays.
    drop(UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let url = format!("unix:{}", sock.display());
    let mut first = UringServer::new(ServerOptions::with_urls([url.clone()]).workers(1));
    first
        .start(peregrine::demo::DemoApp)
        .expect("the stale file is replaced");
    assert_eq!(get_unix(&sock, "/plaintext").text(), "Hello, World!");

    // A second server on the same path: in use, and the first keeps serving.
    let mut second = UringServer::new(ServerOptions::with_urls([url]).workers(1));
    match second.start(peregrine::demo::DemoApp) {
        Err(e @ StartError::BindUnix { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&format!("cannot bind unix:{}", sock.display())),
                "{text}"
            );
            assert!(text.contains("in use"), "{text}");
            match e {
                StartError::BindUnix { source, .. } => {
                    assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse)
                }
                _ => unreachable!(),
            }
        }
        other => panic!("expected a Unix bind error, got {other:?}"),
    }
    assert_eq!(get_unix(&sock, "/plaintext").status, 200);
    first.stop(Duration::from_secs(1));
    assert!(!sock.exists());

    // A path that holds a regular file is an error, and the file is left alone.
    let plain = dir.join("notes.txt");
    std::fs::write(&plain, b"keep me").unwrap();
    let mut third = UringServer::new(
        ServerOptions::with_urls([format!("unix:{}", plain.display())]).workers(1),
    );
    let e = third
        .start(peregrine::demo::DemoApp)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&plain).unwrap(), b"keep me");
    let _ = std::fs::remove_dir_all(dir);
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
}

/// Reads the child's stdout until a line containing `want`; panics at end of output.
/// The address of the first `listening on http://ADDR` line the binary prints.
fn wait_for_http_address(out: &mut BufReader<ChildStdout>) -> std::net::SocketAddr {
    let line = wait_for_line(out, "listening on http://");
    line.rsplit("http://").next().unwrap().parse().unwrap()
}

fn wait_for_line(out: &mut BufReader<ChildStdout>, want: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            panic!("the binary's output ended before {want:?}");
        }
        if line.contains(want) {
            return line.trim().to_owned();
        }
    }
}

/// Waits up to `limit` for the child to exit.
fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let began = Instant::now();
    while began.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
}

fn binary_serves_a_unix_socket_with_the_mode_flag(engine: EngineChoice) {
    let dir = temp_dir(&format!("bin-{engine}"));
    let sock = dir.join("bin.sock");
    let mut child = binary()
        .args(["--engine", engine.as_str()])
        .args(["--workers", "1", "--unix-socket-mode", "600", "--urls"])
        .arg(format!("unix:{}", sock.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_for_line(&mut out, "listening on");
    assert_eq!(
        line,
        format!("peregrine: listening on unix:{}", sock.display())
    );
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(get_unix(&sock, "/plaintext").text(), "Hello, World!");
    signal(&child, libc::SIGTERM);
    assert!(child.wait().unwrap().success());
    assert!(!sock.exists(), "removed on stop");
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts the binary as systemd would: `fd` as descriptor 3, `LISTEN_FDS=1`, `LISTEN_PID` the
/// binary's own pid (set by `sh`, which then `exec`s it, keeping its pid), and `NOTIFY_SOCKET`.
fn spawn_activated(fd: i32, notify: &Path, args: &[&str]) -> Child {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_peregrine"))
        .args(args)
        .env("LISTEN_FDS", "1")
        .env("NOTIFY_SOCKET", notify)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: dup2 and fcntl are async-signal-safe and touch only the child's descriptors.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // dup2(3, 3) would keep close-on-exec set: clear it instead.
                if libc::fcntl(3, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) != 3 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

fn recv_text(rx: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = rx.recv(&mut buf).expect("a notification within 10 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn systemd_socket_activation_and_notification() {
    let dir = temp_dir("systemd");
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();

    // --urls names an address that is not bound: the inherited socket is served instead.
    let mut child = spawn_activated(
        listener.as_raw_fd(),
        &notify_path,
        &["--workers", "2", "--urls", "http://127.0.0.1:1"],
    );
    let ready = recv_text(&notify);
    assert!(ready.starts_with("READY=1\n"), "{ready:?}");
    assert!(
        ready.contains(&format!("STATUS=listening on http://{addr}")),
        "{ready:?}"
    );
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_for_line(&mut out, "listening on");
    assert_eq!(line, format!("peregrine: listening on http://{addr}"));
    // The test keeps its own copy of the socket but never accepts: the server answers.
    for _ in 0..4 {
        assert_eq!(get(addr, "/plaintext").text(), "Hello, World!");
    }

    signal(&child, libc::SIGTERM);
    let stopping = recv_text(&notify);
    assert!(stopping.starts_with("STOPPING=1"), "{stopping:?}");
    let status = wait_timeout(&mut child, Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("4 request(s) served"), "{rest}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn socket_activation_of_a_unix_socket_leaves_its_file_to_systemd() {
    let dir = temp_dir("systemd-unix");
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let sock = dir.join("activated.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut child = spawn_activated(listener.as_raw_fd(), &notify_path, &["--workers", "2"]);
    assert!(recv_text(&notify).starts_with("READY=1"));
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let line = wait_for_line(&mut out, "listening on");
    assert_eq!(
        line,
        format!("peregrine: listening on unix:{}", sock.display())
    );
    assert_eq!(get_unix(&sock, "/plaintext").text(), "Hello, World!");
    signal(&child, libc::SIGTERM);
    assert!(recv_text(&notify).starts_with("STOPPING=1"));
    let status = wait_timeout(&mut child, Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status:?}");
    assert!(
        sock.exists(),
        "a socket the server did not create is not removed"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn socket_activation_with_a_socket_that_is_not_listening_is_an_error() {
    let dir = temp_dir("systemd-bad");
    let notify_path = dir.join("notify");
    let _notify = UnixDatagram::bind(&notify_path).unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let child = spawn_activated(udp.as_raw_fd(), &notify_path, &["--workers", "1"]);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("socket activation: inherited descriptor 3 is not a stream socket"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_second_signal_during_the_drain_exits_at_once() {
    let mut child = binary()
        .args([
            "--urls",
            "http://127.0.0.1:0",
            "--workers",
            "1",
            "--shutdown-timeout",
            "60",
            "--min-request-body-data-rate",
            "off",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let addr = wait_for_http_address(&mut out);
    // A request in flight: its body never finishes, so the drain waits for it.
    let mut busy = common::connect(addr);
    busy.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    signal(&child, libc::SIGTERM);
    wait_for_line(&mut out, "received SIGTERM, stopping");
    assert!(
        wait_timeout(&mut child, Duration::from_millis(500)).is_none(),
        "the drain waits for the request in flight"
    );
    let began = Instant::now();
    signal(&child, libc::SIGINT);
    let status = wait_timeout(&mut child, Duration::from_secs(10)).expect("exits at once");
    assert!(began.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(130), "{status:?}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("received a second SIGINT, exiting now"),
        "{err}"
    );
    drop(busy);
}

#[test]
fn endpoints_from_the_config_file_each_with_its_own_settings() {
    let dir = temp_dir("endpoints");
    let sock = dir.join("lb.sock");
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            "workers = 1\n[endpoints.public]\nurl = \"http://127.0.0.1:0\"\nprotocols = \"Http1\"\n\
             [endpoints.lb]\nurl = \"unix:{}\"\nunix_socket_mode = \"640\"\nproxy_protocol = true\n",
            sock.display()
        ),
    )
    .unwrap();
    let mut child = binary()
        .arg("--config")
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let addr = wait_for_http_address(&mut out);
    assert_ne!(addr.port(), 8080, "endpoints replace the default URL");
    wait_for_line(&mut out, &format!("listening on unix:{}", sock.display()));
    assert_eq!(get(addr, "/plaintext").text(), "Hello, World!");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the endpoint's own mode");
    // The Unix endpoint speaks PROXY protocol: the header's client address is the client's.
    let mut s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"PROXY TCP4 192.0.2.7 192.0.2.1 5555 80\r\nGET /whoami HTTP/1.1\r\nHost: lb\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert!(r.text().contains("192.0.2.7"), "{}", r.text());
    signal(&child, libc::SIGTERM);
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sighup_is_reserved_for_reloads_and_does_not_stop_the_server() {
    let mut child = binary()
        .args(["--urls", "http://127.0.0.1:0", "--workers", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let addr = wait_for_http_address(&mut out);
    wait_for_line(&mut out, "press Ctrl+C");
    signal(&child, libc::SIGHUP);
    wait_for_line(
        &mut out,
        "received SIGHUP: configuration reload is not supported yet",
    );
    assert_eq!(get(addr, "/plaintext").status, 200, "still serving");
    assert!(child.try_wait().unwrap().is_none());
    signal(&child, libc::SIGTERM);
    wait_for_line(&mut out, "received SIGTERM, stopping");
    assert!(child.wait().unwrap().success());
}

engine_tests!(
    serves_over_a_unix_socket_with_its_mode_and_removes_it_on_stop,
    binary_serves_a_unix_socket_with_the_mode_flag,
);
