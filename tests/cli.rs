//! The `peregrine` binary as a user runs it: flags, environment, bound addresses, signals.

mod common;

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};

use common::{get, spawn_server};
use peregrine::EngineChoice;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
}

/// Starts the binary with `args` and returns it with the first address it reports.
fn spawn(args: &[&str]) -> (Child, SocketAddr, BufReader<std::process::ChildStdout>) {
    spawn_server(binary().args(args).stderr(Stdio::piped()))
}

fn one_line_error(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let out = binary()
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn serves_and_stops_gracefully_on_sigterm() {
    let (mut child, addr, mut out) = spawn(&["--urls", "http://127.0.0.1:0", "--workers", "1"]);
    assert_ne!(addr.port(), 0);
    assert_eq!(get(addr, "/plaintext").text(), "Hello, World!");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(rest.contains("received SIGTERM"), "{rest}");
    assert!(rest.contains("1 request(s) served"), "{rest}");
}

#[test]
fn env_urls_is_used_when_no_flag_is_given() {
    let (mut child, addr, _out) =
        spawn_server(binary().env("PEREGRINE_URLS", "http://127.0.0.1:0").args([
            "--workers",
            "1",
            "--shutdown-timeout",
            "1",
        ]));
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_ne!(
        addr.port(),
        8080,
        "the environment's port 0 is used, not the default"
    );
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn bad_flags_and_busy_ports_are_one_line_errors() {
    let (code, err) = one_line_error(&["--frobnicate"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown argument \"--frobnicate\""), "{err}");

    let (code, err) = one_line_error(&["--workers", "many"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid worker count"), "{err}");

    let (code, err) = one_line_error(&["--urls", "https://127.0.0.1:1"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("https URL needs a certificate"), "{err}");

    let (code, err) = one_line_error(&[], &[("PEREGRINE_URLS", "http://nowhere:1")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid listen URL \"http://nowhere:1\""),
        "{err}"
    );

    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", busy.local_addr().unwrap());
    let (code, err) = one_line_error(&["--urls", &url], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot bind") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn help_and_version() {
    let out = binary().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--urls", "--workers", "PEREGRINE_URLS", "--help"] {
        assert!(help.contains(flag), "help mentions {flag}");
    }
    let out = binary().arg("-V").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("peregrine "));
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn running_out_of_descriptors_pauses_accepting_instead_of_spinning(engine: EngineChoice) {
    use std::os::unix::process::CommandExt;
    let mut cmd = binary();
    cmd.args(["--urls", "http://127.0.0.1:0", "--workers", "1"])
        .args(["--engine", engine.as_str()])
        .stderr(Stdio::null());
    // SAFETY: setrlimit is async-signal-safe and touches only the child's own limits.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 16,
                rlim_max: 16,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (mut child, addr, _out) = spawn_server(&mut cmd);
    // More connections than the server has descriptors for: accept fails with EMFILE.
    let clients: Vec<_> = (0..40)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let before = cpu_seconds(child.id());
    std::thread::sleep(std::time::Duration::from_secs(1));
    let spent = cpu_seconds(child.id()) - before;
    drop(clients);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let served = get(addr, "/plaintext").status;
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(
        spent < 0.3,
        "the server burnt {spent:.2}s of CPU in 1s while out of descriptors"
    );
    assert_eq!(
        served, 200,
        "the server accepts again once descriptors are free"
    );
}

engine_tests!(
    running_out_of_descriptors_pauses_accepting_instead_of_spinning,
    access_log_lines_are_timely_and_complete
);

#[test]
fn admin_urls_serve_metrics_and_health_apart_from_the_application() {
    use std::io::BufRead;
    let (mut child, addr, mut out) = spawn(&[
        "--urls",
        "http://127.0.0.1:0",
        "--workers",
        "1",
        "--admin-urls",
        "http://127.0.0.1:0",
    ]);
    let mut line = String::new();
    let admin: SocketAddr = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no admin line");
        if let Some(url) = line.trim().split_once(" on http://").map(|(_, u)| u) {
            if line.contains("admin endpoints") {
                break url.parse().unwrap();
            }
        }
    };
    assert_eq!(get(addr, "/plaintext").status, 200);
    assert_eq!(
        get(addr, "/metrics").status,
        404,
        "not on the public listener"
    );
    let scrape = get(admin, "/metrics").text();
    assert!(
        scrape.contains("peregrine_requests_total{worker=\"0\"} 2"),
        "{scrape}"
    );
    assert_eq!(get(admin, "/healthz").status, 200);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

/// Writes `text` to a fresh configuration file and returns its path.
fn config_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("peregrine-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("peregrine.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_file_is_served() {
    let path = config_file(
        "valid",
        "urls = [\"http://127.0.0.1:0\"]\nworkers = 1\nserver_header = \"from-file\"\n\
         [limits]\nmax-request-header-count = 50\n",
    );
    let (mut child, addr, _out) = spawn(&["--config", path.to_str().unwrap()]);
    let r = get(addr, "/plaintext");
    assert_eq!(r.text(), "Hello, World!");
    assert_eq!(r.header("server"), Some("from-file"));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn config_file_errors_exit_2_naming_the_key_and_file() {
    let path = config_file("unknown", "workers = 1\nlisten_backlog = 10\n");
    let file = path.to_str().unwrap();
    let (code, err) = one_line_error(&["--config", file], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!(
            "config file {file}: line 2: unknown key `listen_backlog`"
        )),
        "{err}"
    );
    let (code, err) = one_line_error(&[], &[("PEREGRINE_CONFIG", file)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown key `listen_backlog`"), "{err}");

    let path = config_file("unknown-limit", "[limits]\nmax-body = \"1M\"\n");
    let (code, err) = one_line_error(&["--config", path.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("[limits]: unknown key `max-body`"), "{err}");
}

#[test]
fn config_file_is_overridden_by_environment_and_flags() {
    // The file's URL would fail to bind (no such directory): the environment's replaces it.
    // The file allows 1 header, the environment 50 (a request with two is served), and the
    // flag 1 again (it is refused); the file's Server header stays throughout.
    let path = config_file(
        "precedence",
        "urls = \"unix:/nonexistent/dir/p.sock\"\nworkers = 1\nserver_header = \"from-file\"\n\
         [limits]\nmax-request-header-count = 1\n",
    );
    let two_headers = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Two: 2\r\n\r\n";
    for (flags, status) in [
        (&[][..], 200),
        (&["--max-request-header-count", "1"][..], 431),
    ] {
        let (mut child, addr, _out) = spawn_server(
            binary()
                .env("PEREGRINE_URLS", "http://127.0.0.1:0")
                .env("PEREGRINE_MAX_REQUEST_HEADER_COUNT", "50")
                .args(["--config", path.to_str().unwrap()])
                .args(flags),
        );
        let r = common::roundtrip(addr, two_headers);
        assert_eq!(r.status, status, "flags {flags:?}");
        assert_eq!(r.header("server"), Some("from-file"));
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn the_access_log_has_one_line_per_request() {
    let (mut child, addr, _out) = spawn(&[
        "--urls",
        "http://127.0.0.1:0",
        "--workers",
        "1",
        "--access-log",
    ]);
    assert_eq!(get(addr, "/plaintext").status, 200);
    assert_eq!(get(addr, "/missing?x=1").status, 404);
    // An HTTP/2 request (curl, prior knowledge) gets its line too.
    let h2 = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
        ])
        .arg(format!("http://{addr}/json?h2=1"))
        .status()
        .expect("curl runs (.ci/run installs it)");
    assert!(h2.success());
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("peregrine::access"))
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[2].contains("method=GET target=/json?h2=1 status=200 bytes=27"),
        "{}",
        lines[2]
    );
    assert!(
        lines[0].contains("remote=127.0.0.1:")
            && lines[0].contains("method=GET target=/plaintext status=200 bytes=13"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("target=/missing?x=1 status=404"),
        "{}",
        lines[1]
    );
    assert!(
        !log.contains('\u{1b}'),
        "no colour codes when not a terminal"
    );
}

/// The access log's lines reach its file within about a second while the server runs (a worker
/// hands over what it holds at its heartbeat, however little), and at shutdown every line is
/// written, whole and once, after the many batches a pipelined burst fills.
fn access_log_lines_are_timely_and_complete(engine: EngineChoice) {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let path = std::env::temp_dir().join(format!(
        "peregrine-access-log-{}-{}.log",
        engine.as_str(),
        std::process::id()
    ));
    let log = std::fs::File::create(&path).unwrap();
    let (mut child, addr, _out) = spawn_server(
        binary()
            .args([
                "--urls",
                "http://127.0.0.1:0",
                "--workers",
                "1",
                "--access-log",
            ])
            .args(["--engine", engine.as_str()])
            .stderr(log),
    );
    let read_log = || std::fs::read_to_string(&path).unwrap();
    assert_eq!(get(addr, "/plaintext?first").status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !read_log().contains("target=/plaintext?first status=200") {
        assert!(
            Instant::now() < deadline,
            "the line reached the log while the server runs: {}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Pipelined requests on two connections, far more lines than one batch holds.
    const PER_CONN: usize = 2_500;
    let clients: Vec<_> = (0..2)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut writer = s.try_clone().unwrap();
                let send = std::thread::spawn(move || {
                    for i in 0..PER_CONN {
                        let req = format!("GET /plaintext?c={c}&i={i} HTTP/1.1\r\nHost: t\r\n\r\n");
                        writer.write_all(req.as_bytes()).unwrap();
                    }
                });
                let (mut got, mut buf, mut seen) = (0, vec![0u8; 64 * 1024], Vec::new());
                while got < PER_CONN {
                    let n = s.read(&mut buf).expect("the answers come");
                    assert!(n > 0, "the server answered {got} of {PER_CONN}");
                    seen.extend_from_slice(&buf[..n]);
                    got = seen.windows(13).filter(|w| w == b"Hello, World!").count();
                }
                send.join().unwrap();
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let log = read_log();
    let _ = std::fs::remove_file(&path);
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("peregrine::access"))
        .collect();
    assert_eq!(lines.len(), 1 + 2 * PER_CONN, "one line per request");
    for c in 0..2 {
        let mut next = 0;
        for line in &lines {
            let key = format!("target=/plaintext?c={c}&i=");
            if let Some((_, rest)) = line.split_once(&key) {
                assert!(
                    rest.starts_with(&format!("{next} status=200 bytes=13 micros=")),
                    "line {next} of connection {c}, whole and in order: {line}"
                );
                next += 1;
            }
        }
        assert_eq!(next, PER_CONN);
    }
}

#[test]
fn no_access_log_by_default() {
    let (mut child, addr, _out) = spawn(&["--urls", "http://127.0.0.1:0", "--workers", "1"]);
    assert_eq!(get(addr, "/plaintext").status, 200);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(!log.contains("peregrine::access"), "{log}");
}

#[test]
fn proxy_flag_errors_are_one_line_errors() {
    for (args, envs, want) in [
        (
            &["--forwarded-headers=maybe"][..],
            &[][..],
            "--forwarded-headers: invalid value \"maybe\"",
        ),
        (
            &[],
            &[("PEREGRINE_FORWARDED_HEADERS", "maybe")],
            "PEREGRINE_FORWARDED_HEADERS: invalid value",
        ),
        (
            &["--known-proxies", "proxy.internal"],
            &[],
            "invalid --known-proxies entry \"proxy.internal\": expected an IP address",
        ),
        (
            &[],
            &[("PEREGRINE_KNOWN_PROXIES", "10.0.0.300")],
            "PEREGRINE_KNOWN_PROXIES: invalid --known-proxies entry",
        ),
        (
            &["--known-networks", "10.0.0.0/40"],
            &[],
            "invalid --known-networks entry \"10.0.0.0/40\"",
        ),
        (
            &[],
            &[("PEREGRINE_KNOWN_NETWORKS", "10/8")],
            "PEREGRINE_KNOWN_NETWORKS: invalid --known-networks entry",
        ),
        (
            &["--allowed-hosts", "bad host"],
            &[],
            "--allowed-hosts: invalid allowed host \"bad host\"",
        ),
        (
            &[],
            &[("PEREGRINE_ALLOWED_HOSTS", "")],
            "PEREGRINE_ALLOWED_HOSTS: no allowed hosts",
        ),
        (
            &["--bare-line-feed", "sometimes"],
            &[],
            "invalid bare-line-feed \"sometimes\": expected reject or accept",
        ),
        (
            &[],
            &[("PEREGRINE_BARE_LINE_FEED", "lenient")],
            "invalid bare-line-feed \"lenient\": expected reject or accept",
        ),
    ] {
        let (code, err) = one_line_error(args, envs);
        assert_eq!(code, 2, "{args:?} {envs:?}: {err}");
        assert!(err.contains(want), "{args:?} {envs:?}: {err}");
    }
}

#[test]
fn bare_line_feed_is_refused_unless_the_flag_or_environment_accepts_it() {
    let request = b"GET /plaintext HTTP/1.1\nHost: a\n\n";
    for (args, envs, status) in [
        (&[][..], &[][..], 400),
        (&["--bare-line-feed", "accept"][..], &[][..], 200),
        (&[][..], &[("PEREGRINE_BARE_LINE_FEED", "accept")][..], 200),
        (
            &["--bare-line-feed", "reject"][..],
            &[("PEREGRINE_BARE_LINE_FEED", "accept")][..],
            400,
        ),
    ] {
        let mut cmd = binary();
        cmd.args(["--urls", "http://127.0.0.1:0", "--workers", "1"])
            .args(args)
            .envs(envs.iter().copied())
            .stderr(Stdio::null());
        let (mut child, addr, _out) = spawn_server(&mut cmd);
        let resp = common::roundtrip(addr, request);
        assert_eq!(resp.status, status, "{args:?} {envs:?}");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// `GET /whoami` from 127.0.0.1 with forwarding headers a proxy would add.
fn whoami_forwarded(addr: SocketAddr, host: &str) -> common::Response {
    common::roundtrip(
        addr,
        format!(
            "GET /whoami HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-For: 203.0.113.7\r\n\
             X-Forwarded-Proto: https\r\n\r\n"
        )
        .as_bytes(),
    )
}

#[test]
fn proxy_flags_wrap_the_demo_application() {
    let run = |flags: &[&str], envs: &[(&str, &str)], host: &str| {
        let (mut child, addr, _out) = spawn_server(
            binary()
                .args(["--urls", "http://127.0.0.1:0", "--workers", "1"])
                .args(flags)
                .envs(envs.iter().copied())
                .stderr(Stdio::null()),
        );
        let r = whoami_forwarded(addr, host);
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        assert!(child.wait().unwrap().success());
        (r.status, r.text())
    };
    // Off by default: the headers are ignored, the peer is the client.
    let (status, text) = run(&[], &[], "test");
    assert_eq!(status, 200);
    assert!(
        text.starts_with("remote_addr: 127.0.0.1:") && text.contains("scheme: http\n"),
        "{text}"
    );
    // On (a loopback peer is trusted by default), by flag, variable or a trust list.
    for (flags, envs) in [
        (&["--forwarded-headers"][..], &[][..]),
        (&[], &[("PEREGRINE_FORWARDED_HEADERS", "1")]),
        (&["--known-networks", "10.0.0.0/8"], &[]),
    ] {
        let (status, text) = run(flags, envs, "test");
        assert_eq!(status, 200);
        assert_eq!(
            text, "remote_addr: 203.0.113.7:0\nscheme: https\nhost: test\n",
            "{flags:?} {envs:?}"
        );
    }
    // Host filtering, alone and inside forwarded headers.
    for flags in [&[][..], &["--forwarded-headers"]] {
        let flags: Vec<&str> = [&["--allowed-hosts", "example.com"][..], flags].concat();
        assert_eq!(run(&flags, &[], "test").0, 400, "{flags:?}");
        assert_eq!(run(&flags, &[], "example.com:8080").0, 200, "{flags:?}");
    }
}
