//! hyper peer: the "mainstream async Rust" baseline for peregrine's comparisons.
//!
//! hyper 1.x on a tokio `current_thread` runtime so it uses exactly one core (the
//! benchmark pins it to CPU 0): HTTP/1.1, or HTTP/2 with prior knowledge (`--h2`, hyper's
//! `h2` crate; for bench/h2load.sh). hyper already writes a `Date` header that it caches
//! once per second, so we add none of our own.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

const PLAINTEXT: &[u8] = b"Hello, World!";
const JSON: &[u8] = br#"{"message":"Hello, World!"}"#;

/// Parses `--addr HOST:PORT` (default 127.0.0.1:8081) and `--h2`.
fn parse_args() -> (SocketAddr, bool) {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8081");
    let mut h2 = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--h2" => h2 = true,
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: hyper-peer [--addr HOST:PORT] [--h2]"
                );
                std::process::exit(2);
            }
        }
    }
    (addr.parse().expect("--addr must be HOST:PORT"), h2)
}

fn respond(body: &'static [u8], content_type: &'static str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body)));
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    res
}

async fn handle(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let res = match (req.method(), req.uri().path()) {
        (&Method::GET, "/plaintext") => respond(PLAINTEXT, "text/plain"),
        (&Method::GET, "/json") => respond(JSON, "application/json"),
        _ => {
            let mut res = Response::new(Full::new(Bytes::new()));
            *res.status_mut() = StatusCode::NOT_FOUND;
            res
        }
    };
    Ok(res)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let (addr, h2) = parse_args();
    let listener = TcpListener::bind(addr).await?;
    eprintln!("hyper-peer listening on {addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            // EMFILE and friends: keep serving the connections we have, and back off
            // briefly instead of spinning on a listener that stays readable.
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        // Small responses: do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        tokio::task::spawn(async move {
            let io = TokioIo::new(stream);
            if h2 {
                let _ = http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service_fn(handle))
                    .await;
                return;
            }
            // pipeline_flush: answers to pipelined requests are gathered and flushed together.
            let _ = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(io, service_fn(handle))
                .await;
        });
    }
}
