//! soketto peer: a second WebSocket echo baseline for peregrine's `peregrine-load --ws`
//! comparison (docs/performance.md), and the one with permessage-deflate.
//!
//! soketto 0.8 on a tokio `current_thread` runtime, so it uses exactly one core (the benchmark
//! pins it to CPU 0), one task per connection: every text or binary message is sent back
//! (soketto answers Pings itself). permessage-deflate is `soketto::extension::deflate::Deflate`
//! in server mode: it accepts the client's offer as made, and compresses every outgoing message
//! with a fresh zlib stream at `Compression::fast()` (level 1) and inflates each incoming one
//! with a fresh decoder: no context takeover either way, whatever was negotiated. That is not
//! configurable, so the benchmark offers `server_no_context_takeover;
//! client_no_context_takeover` and runs peregrine at level 1 too. flate2 is pinned to 1.0.35
//! (Cargo.toml says why); its backend is the system's C zlib.
//!
//! `SOKETTO_PEER_DEBUG=1` prints why each connection ended.

use soketto::handshake::{server::Response, Server};
use soketto::Data;
use tokio::net::TcpListener;
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Parses `--addr HOST:PORT` (default 127.0.0.1:8082); the only flag we take.
fn parse_addr() -> String {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8082");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("unknown argument {other:?}; usage: soketto-peer [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr
}

/// One connection: the handshake (with permessage-deflate offered to the client), then echo.
async fn serve(stream: tokio::net::TcpStream) -> Result<(), soketto::handshake::Error> {
    let mut server = Server::new(stream.compat());
    server.add_extension(Box::new(soketto::extension::deflate::Deflate::new(
        soketto::Mode::Server,
    )));
    let key = server.receive_request().await?.key();
    server
        .send_response(&Response::Accept {
            key,
            protocol: None,
        })
        .await?;
    let (mut sender, mut receiver) = server.into_builder().finish();
    let mut message = Vec::new();
    loop {
        message.clear();
        let data = match receiver.receive_data(&mut message).await {
            Ok(data) => data,
            Err(e) => {
                if std::env::var_os("SOKETTO_PEER_DEBUG").is_some() {
                    eprintln!("soketto-peer: {e}");
                }
                return Ok(());
            }
        };
        let sent = match data {
            Data::Text(_) => match std::str::from_utf8(&message) {
                Ok(text) => sender.send_text(text).await,
                Err(_) => return Ok(()),
            },
            Data::Binary(_) => sender.send_binary(&message).await,
        };
        if sent.is_err() || sender.flush().await.is_err() {
            return Ok(());
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listener = TcpListener::bind(parse_addr()).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = serve(stream).await;
        });
    }
}
