//! may_minihttp peer: the may_minihttp server (stackful coroutines on the `may`
//! runtime) with may's worker count set to 1, for one core.
//!
//! may_minihttp caches and writes `Date` (and `Server: M`) itself, keeps connections
//! alive and batches the answers to pipelined requests into one write. Its request
//! type borrows the read buffer, so routing on `path()` allocates nothing.

use std::io;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

#[derive(Clone)]
struct Peer;

impl HttpService for Peer {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        match (req.method(), req.path()) {
            ("GET", "/plaintext") => rsp.header("Content-Type: text/plain").body("Hello, World!"),
            ("GET", "/json") => rsp
                .header("Content-Type: application/json")
                .body(r#"{"message":"Hello, World!"}"#),
            _ => {
                rsp.status_code(404, "Not Found");
            }
        }
        Ok(())
    }
}

struct PeerFactory;

impl HttpServiceFactory for PeerFactory {
    type Service = Peer;

    fn new_service(&self, _id: usize) -> Peer {
        Peer
    }
}

/// Parses `--addr HOST:PORT` (default 127.0.0.1:8081); the only flag we take.
fn parse_addr() -> String {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8081");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: may-minihttp-peer [--addr HOST:PORT]"
                );
                std::process::exit(2);
            }
        }
    }
    addr
}

fn main() {
    let addr = parse_addr();
    // One may worker thread (it also runs the I/O event loop): one core. The small
    // coroutine stack and pool are what may_minihttp's TechEmpower entry uses; 4 KiB
    // would be too small for a debug build but is fine for this handler in release.
    may::config()
        .set_workers(1)
        .set_pool_capacity(1000)
        .set_stack_size(0x1000);
    let server = PeerFactory.start(addr.as_str()).expect("bind");
    eprintln!("may-minihttp-peer listening on {addr}");
    server.wait();
}
