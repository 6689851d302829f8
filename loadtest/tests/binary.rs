//! The `peregrine-load` binary: `--json`, exit codes, argument errors.

mod common;

use std::process::{Command, Output};

use common::{closed_port, Reply, Server};

fn load(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peregrine-load"))
        .args(args)
        .output()
        .expect("run peregrine-load")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn json_summary_parses() {
    let server = Server::start(|_, _| Reply::ok());
    let url = server.url("/");
    let out = load(&["--json", "-c2", "-d300ms", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v["mode"], "closed-loop");
    assert_eq!(v["urls"][0], url.as_str());
    assert_eq!(v["connections"], 2);
    assert!(v["requests"].as_u64().unwrap() > 10);
    assert!(v["requests_per_sec"].as_f64().unwrap() > 30.0);
    assert_eq!(v["errors_total"], 0);
    assert_eq!(v["errors"]["timeout"], 0);
    assert!(v["errors"]["status"].as_object().unwrap().is_empty());
    assert!(v["latency_us"]["p99"].as_u64().unwrap() > 0);
    assert!(v["uncorrected_latency_us"].is_null());
}

#[test]
fn open_loop_json_has_both_latencies() {
    let server = Server::start(|_, _| Reply::ok());
    let out = load(&[
        "--json",
        "-c2",
        "-d300ms",
        "--rate",
        "500",
        &server.url("/"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "open-loop");
    assert_eq!(v["target_rate"], 500.0);
    assert!(v["uncorrected_latency_us"]["count"].as_u64().unwrap() > 100);
}

#[test]
fn table_output_shows_rate_and_errors() {
    let server = Server::start(|n, _| {
        if n % 2 == 0 {
            Reply::status(500)
        } else {
            Reply::ok()
        }
    });
    let out = load(&["-c1", "-d200ms", "--allow-errors", &server.url("/")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("successful"), "{table}");
    assert!(table.contains("errors"), "{table}");
    assert!(table.contains("500: "), "{table}");
    assert!(table.contains("p99.9"), "{table}");
}

#[test]
fn errors_make_the_exit_status_nonzero() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let out = load(&["-c1", "-d100ms", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("error"), "{}", stderr(&out));
    let out = load(&["-c1", "-d100ms", "--allow-errors", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    for args in [
        &["--frobnicate", "http://127.0.0.1:1/"][..],
        &["-c", "lots", "http://127.0.0.1:1/"],
        &["-d", "10 parsecs", "http://127.0.0.1:1/"],
        &[],
        &["ftp://127.0.0.1:1/"],
        &["-k", "http://127.0.0.1:1/"],
        &[
            "--cacert",
            "/nonexistent/ca.pem",
            "-d1ms",
            "https://127.0.0.1:1/",
        ],
        &["--cpus", "9999", "-d1ms", "http://127.0.0.1:1/"],
    ] {
        let out = load(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("peregrine-load: "), "{err}");
        assert!(out.stdout.is_empty());
    }
    let err = stderr(&load(&["ftp://127.0.0.1:1/"]));
    assert!(err.contains("only http:// and https://"), "{err}");
    let err = stderr(&load(&[
        "--cacert",
        "/nonexistent/ca.pem",
        "https://127.0.0.1:1/",
    ]));
    assert!(
        err.contains("--cacert /nonexistent/ca.pem: No such file"),
        "{err}"
    );
}

#[test]
fn help_exits_0() {
    let out = load(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--rate"));
}
