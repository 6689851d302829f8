//! actix-web peer: actix-web 4 with `workers(1)`, i.e. one single-threaded
//! actix-rt (tokio `current_thread`) worker, for one core.
//!
//! actix-web writes and caches the `Date` header itself, keeps connections alive and
//! answers pipelined requests in order; nothing here needs to do that by hand.
//! Handlers return static bodies so the request path allocates as little as actix
//! lets it.

use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::{web, App, HttpResponse, HttpServer};

const PLAINTEXT: &str = "Hello, World!";
const JSON: &str = r#"{"message":"Hello, World!"}"#;

async fn plaintext() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(PLAINTEXT)
}

async fn json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(JSON)
}

/// Parses `--addr HOST:PORT` (default 127.0.0.1:8081); the only flag we take.
fn parse_addr() -> String {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8081");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("unknown argument {other:?}; usage: actix-peer [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr
}

fn main() -> std::io::Result<()> {
    let addr = parse_addr();
    // The System's own thread only accepts and hands sockets to the one worker; both
    // run on the single core the script pins us to.
    actix_web::rt::System::new().block_on(async move {
        eprintln!("actix-peer listening on {addr}");
        HttpServer::new(|| {
            App::new()
                .route("/plaintext", web::get().to(plaintext))
                .route("/json", web::get().to(json))
        })
        .workers(1)
        // The default keep-alive timeout is 5 s; the idle-memory test holds 10,000
        // connections open for longer than that, like nginx's 75 s default.
        .keep_alive(Duration::from_secs(75))
        // c1000 opens 1000 connections at once; the default backlog (1024) and
        // per-worker connection cap (25k) are both enough, stated here for the record.
        .backlog(1024)
        .bind(addr)?
        .run()
        .await
    })
}
