//! `examples/embed.rs`, the key-value service that embeds peregrine through the host, run as a
//! real process: this test binary runs itself again in service mode (the example's `serve`),
//! with the stop signals blocked from the start as in any process whose `main` builds a host
//! first, then talks to it over sockets and stops it with SIGTERM.

mod common;

#[path = "../examples/embed.rs"]
#[allow(dead_code)]
mod embed;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{get, roundtrip};
use peregrine::hosting::HostBuilder;

const SERVICE: &str = "PEREGRINE_TEST_EMBED_SERVICE";

fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> common::Response {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    roundtrip(addr, req.as_bytes())
}

#[test]
fn the_embedded_key_value_service_gets_configuration_signals_and_metrics() {
    if std::env::var_os(SERVICE).is_some() {
        // The service process: no flags of its own (these are the test harness's), so the
        // environment configures it.
        embed::serve(HostBuilder::new("kv").args(Vec::<String>::new()));
        std::process::exit(0);
    }
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "the_embedded_key_value_service_gets_configuration_signals_and_metrics",
    ])
    .args(["--nocapture", "--test-threads=1"])
    .env(SERVICE, "1")
    .env("PEREGRINE_URLS", "http://127.0.0.1:0")
    .env("PEREGRINE_WORKERS", "1")
    .env("PEREGRINE_ADMIN_URLS", "http://127.0.0.1:0")
    .env("PEREGRINE_MAX_REQUEST_BODY_SIZE", "16")
    .stdout(Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls: sigemptyset, sigaddset and
    // sigprocmask on a local set. The blocked mask survives exec, as a host's own would.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(&mut set, sig);
            }
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut wait_for = |want: &str| -> String {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "no {want:?} line");
            if line.contains(want) {
                return line.trim().to_owned();
            }
        }
    };
    let addr_of =
        |line: String| -> SocketAddr { line.rsplit("http://").next().unwrap().parse().unwrap() };
    let addr = addr_of(wait_for("kv: listening on http://"));
    let admin = addr_of(wait_for("kv: admin endpoints"));
    wait_for("kv: press Ctrl+C");

    // Its own routes.
    assert_eq!(request(addr, "PUT", "/kv/a", "one").status, 204);
    assert_eq!(get(addr, "/kv/a").text(), "one");
    assert_eq!(request(addr, "PUT", "/kv/t?ttl=0.2", "brief").status, 204);
    assert_eq!(get(addr, "/kv/t").status, 200);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        get(addr, "/kv/t").status,
        404,
        "the background task expired it"
    );
    assert_eq!(request(addr, "DELETE", "/kv/a", "").status, 204);
    assert_eq!(get(addr, "/kv/a").status, 404);
    // Configuration from the environment: the body limit.
    assert_eq!(request(addr, "PUT", "/kv/big", &"x".repeat(17)).status, 413);

    // Metrics and health it did not write.
    assert_eq!(get(admin, "/livez").status, 200);
    assert_eq!(get(admin, "/healthz").status, 200);
    let metrics = get(admin, "/metrics").text();
    assert!(metrics.contains("peregrine_requests_total"), "{metrics}");

    // The console lifetime: SIGTERM drains and prints the report.
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_for("kv: received SIGTERM, stopping");
    let report = wait_for("kv: stopped in");
    assert!(report.contains("request(s) served"), "{report}");
    assert!(child.wait().unwrap().success());
    let _ = std::io::stdout().flush();
}
