//! hyper with tokio-rustls: the "mainstream async Rust" HTTPS baseline for peregrine's TLS
//! comparisons (bench/tls-compare.sh).
//!
//! hyper 1.x, HTTP/1.1 only, on a tokio `current_thread` runtime so it uses one core (the
//! benchmark pins it to CPU 0); TLS by tokio-rustls over rustls 0.23 with the *ring*
//! provider, the same library and provider peregrine uses, with rustls's defaults (TLS 1.3
//! and 1.2, its session cache and tickets), ALPN `http/1.1`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const PLAINTEXT: &[u8] = b"Hello, World!";

struct Args {
    addr: SocketAddr,
    cert: String,
    key: String,
}

/// `--addr HOST:PORT --cert CHAIN.pem --key KEY.pem`.
fn parse_args() -> Args {
    let usage = "usage: hyper-rustls-peer [--addr HOST:PORT] --cert CHAIN.pem --key KEY.pem";
    let mut args = std::env::args().skip(1);
    let (mut addr, mut cert, mut key) = (String::from("127.0.0.1:8444"), None, None);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("{arg} needs a value; {usage}");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--addr" => addr = value(),
            "--cert" => cert = Some(value()),
            "--key" => key = Some(value()),
            other => {
                eprintln!("unknown argument {other:?}; {usage}");
                std::process::exit(2);
            }
        }
    }
    let (Some(cert), Some(key)) = (cert, key) else {
        eprintln!("--cert and --key are required; {usage}");
        std::process::exit(2);
    };
    Args {
        addr: addr.parse().unwrap_or_else(|_| {
            eprintln!("--addr must be HOST:PORT");
            std::process::exit(2)
        }),
        cert,
        key,
    }
}

fn tls_config(cert: &str, key: &str) -> Result<rustls::ServerConfig, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
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
    let args = parse_args();
    let config = tls_config(&args.cert, &args.key).unwrap_or_else(|e| {
        eprintln!("hyper-rustls-peer: {e}");
        std::process::exit(1)
    });
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(args.addr).await?;
    eprintln!("hyper-rustls-peer listening on https://{}", args.addr);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::task::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = http1::Builder::new()
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(tls), service_fn(handle))
                .await;
        });
    }
}
