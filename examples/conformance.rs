//! Runs the HTTP/1.1 conformance suite (`tests/conformance/`) against any server and prints a
//! Markdown table: case, rule, expected, got, pass/fail.
//!
//! ```sh
//! cargo run --example conformance                    # an in-process peregrine (demo app)
//! cargo run --example conformance -- 127.0.0.1:8080  # any server
//! ```
//!
//! The server needs `GET /` and `HEAD /` answering 200 and `POST /echo` answering 200 (see
//! `docs/conformance.md` for an nginx configuration). Exits with status 1 if a case fails.

#[path = "../tests/conformance/mod.rs"]
mod suite;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use peregrine::demo::DemoApp;
use peregrine::{Server, ServerOptions, UringServer};

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    if matches!(arg.as_deref(), Some("-h" | "--help")) {
        eprintln!("usage: conformance [HOST:PORT]   (no address: an in-process peregrine)");
        return ExitCode::SUCCESS;
    }
    let mut server = None;
    let addr: SocketAddr = match arg {
        Some(a) => match a.to_socket_addrs().ok().and_then(|mut it| it.next()) {
            Some(addr) => addr,
            None => {
                eprintln!("conformance: cannot resolve {a:?} (expected HOST:PORT)");
                return ExitCode::from(2);
            }
        },
        None => {
            let mut s =
                UringServer::new(ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1));
            if let Err(e) = s.start(DemoApp) {
                eprintln!("conformance: cannot start peregrine: {e}");
                return ExitCode::from(2);
            }
            let addr = s.features().addresses()[0];
            server = Some(s);
            addr
        }
    };
    println!("conformance suite against {addr}\n");
    let results = suite::run_all(addr, suite::cases::cases(), suite::Timeouts::default());
    println!("{}", suite::table(&results));
    if let Some(mut s) = server {
        s.stop(Duration::from_secs(2));
    }
    if results.iter().all(|r| r.verdict.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
