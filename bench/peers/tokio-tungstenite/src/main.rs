//! tokio-tungstenite peer: the WebSocket echo baseline for peregrine's `peregrine-load --ws`
//! comparison (docs/performance.md).
//!
//! tokio-tungstenite on a tokio `current_thread` runtime, so it uses exactly one core (the
//! benchmark pins it to CPU 0), one task per connection: every text or binary message is sent
//! back, Pings are answered by tungstenite. It has no permessage-deflate (tungstenite does not
//! implement it), so the compressed rows have no peer.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

/// Parses `--addr HOST:PORT` (default 127.0.0.1:8081); the only flag we take.
fn parse_addr() -> String {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8081");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("unknown argument {other:?}; usage: tokio-tungstenite-peer [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr
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
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    return;
                }
            }
        });
    }
}
