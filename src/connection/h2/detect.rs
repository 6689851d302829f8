//! Choosing the protocol of a new connection: ALPN over TLS, the preface in cleartext.

use std::future::poll_fn;
use std::task::Poll;

use crate::connection::timeout::{ConnTimer, Expired};
use crate::connection::{Transport, WorkerContext, DRAIN_FIRST_REQUEST_GRACE};
use crate::proto::h2::frame::PREFACE;
use crate::server::HttpProtocols;

/// What a connection speaks, as [`detect`] found.
pub(crate) enum Detected {
    /// HTTP/1.x; the bytes already received (maybe none) are the start of its first request.
    Http1(Vec<u8>),
    /// HTTP/2; the bytes already received (the preface, maybe more) go to the core.
    Http2(Vec<u8>),
    /// The client closed (or failed) before anything could be decided.
    Closed,
}

/// Decides what a connection on an endpoint speaking `protocols` runs.
///
/// Over TLS the ALPN choice decides (`h2` is HTTP/2; `http/1.1` or none is HTTP/1.1, except
/// on an HTTP/2-only endpoint). In cleartext, an `Http1AndHttp2` endpoint reads the first bytes:
/// as soon as they differ from the HTTP/2 preface it is HTTP/1.1 (a request's first byte
/// already differs, so this usually costs no extra receive), and once the 24 bytes of the
/// preface are in it is HTTP/2. How long a client may wait before its first byte is bounded by
/// the caller (the keep-alive timeout, as for an idle HTTP/1.1 connection).
pub(crate) async fn detect<T: Transport>(
    transport: &mut T,
    worker: &WorkerContext,
    protocols: HttpProtocols,
) -> Detected {
    if let Some(tls) = transport.tls() {
        let h2 = match tls.alpn_protocol.as_deref() {
            Some(b"h2") => true,
            Some(_) => false,
            None => !protocols.http1(),
        };
        return if h2 {
            Detected::Http2(Vec::new())
        } else {
            Detected::Http1(Vec::new())
        };
    }
    match protocols {
        HttpProtocols::Http1 => return Detected::Http1(Vec::new()),
        HttpProtocols::Http2 => return Detected::Http2(Vec::new()),
        HttpProtocols::Http1AndHttp2 => {}
    }
    let mut buf = worker.take_buffer();
    // Armed when the server drains before the first byte came.
    let mut grace: Option<std::rc::Rc<ConnTimer>> = None;
    let result = poll_fn(|cx| loop {
        if buf.is_empty() && worker.draining.get() {
            // Nothing read yet and the server drains: a connection accepted just before the
            // drain has its first bytes on the way (an HTTP/2 client its preface and first
            // request); they get the grace HTTP/1.1 gives a first request, then the connection
            // closes. Answering the preface as HTTP/1.1 would fail that request.
            let timer = grace.get_or_insert_with(|| {
                let timer = worker.heartbeat.timer();
                timer.set_deadline(
                    worker.heartbeat.now() + DRAIN_FIRST_REQUEST_GRACE,
                    Expired::KeepAlive,
                );
                timer
            });
            timer.register(cx.waker());
            if timer.take_if(Expired::KeepAlive) {
                return Poll::Ready(None);
            }
        }
        let n = buf.len().min(PREFACE.len());
        if buf[..n] != PREFACE[..n] {
            return Poll::Ready(Some(false));
        }
        if n == PREFACE.len() {
            return Poll::Ready(Some(true));
        }
        match transport.poll_recv(cx, &mut buf) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(None),
            Poll::Ready(Ok(n)) => worker.metrics.received(n),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await;
    match result {
        Some(true) => Detected::Http2(buf),
        Some(false) => Detected::Http1(buf),
        None => {
            worker.give_buffer(buf);
            Detected::Closed
        }
    }
}
