//! [`TlsTransport`]: TLS over any [`Transport`], with rustls's unbuffered (sans-io) connection:
//! ciphertext comes in through the inner transport into `incoming`, rustls decrypts it, and the
//! plaintext is appended straight to the connection's own input buffer; responses are encrypted
//! from the connection's output buffer into `outgoing`, all the responses of a pipelined batch
//! into one send.

use std::io;
use std::task::{ready, Context, Poll};

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, InsufficientSizeError, UnbufferedStatus,
};
use rustls::ServerConfig;

use super::config::take_seen_sni;
use crate::connection::Transport;
use crate::http::TlsConnectionFeature;

/// Where the record layer stands after processing what it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// It needs more ciphertext (handshaking, or no complete record buffered).
    NeedInput,
    /// The handshake is done and nothing is pending: records may be encrypted.
    Open,
    /// The peer sent `close_notify`: no more input.
    PeerClosed,
}

/// Why a handshake did not complete.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The TLS layer refused the peer (the alert, if any, was sent): a protocol error, no
    /// shared version or cipher, an unknown name, a bad client certificate, plaintext HTTP.
    Tls(rustls::Error),
    /// The peer sent more than `max_tls_handshake_size` before the handshake completed.
    TooLarge,
    /// The socket failed or the peer closed it mid-handshake.
    Io(io::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Tls(e) => write!(f, "{e}"),
            HandshakeError::TooLarge => f.write_str("handshake larger than the limit"),
            HandshakeError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// One TLS connection over the transport `T`.
pub(crate) struct TlsTransport<T> {
    inner: T,
    conn: UnbufferedServerConnection,
    /// Ciphertext received and not yet consumed by rustls.
    incoming: Vec<u8>,
    /// Ciphertext to send (handshake flights, encrypted responses, alerts), in order.
    outgoing: Vec<u8>,
    /// Whether the inner transport has a send in flight (it may have taken `outgoing`).
    send_pending: bool,
    /// Whether a send was handed to the inner transport without waiting
    /// ([`Transport::poll_submit`]); a flush waits for it.
    detached: bool,
    /// Plaintext decrypted while encrypting (a record that arrived meanwhile), for the next
    /// receive. Rarely used.
    stash: Vec<u8>,
    peer_closed: bool,
    close_notify_sent: bool,
    /// Ciphertext bytes received during the handshake, against `max_handshake`.
    handshake_bytes: usize,
    max_handshake: usize,
    /// What the handshake negotiated (set once it completes).
    info: Option<TlsConnectionFeature>,
}

/// Room for `data` once encrypted: a TLS record (at most 16 KiB of plaintext) adds a 5-byte
/// header, a content type byte and a 16-byte tag (more for TLS 1.2 CBC, which rustls lacks).
fn sealed_len(data: usize) -> usize {
    data + (data / 16384 + 1) * 32
}

/// Runs `write` on `room` bytes of spare space at the end of `out` and keeps what it wrote;
/// retries once with the size it asks for.
fn write_into<E>(
    out: &mut Vec<u8>,
    room: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    too_small: impl Fn(&E) -> Option<usize>,
) -> Result<(), E> {
    let start = out.len();
    out.resize(start + room, 0);
    let result = match write(&mut out[start..]) {
        Err(e) => match too_small(&e) {
            Some(required) => {
                out.resize(start + required, 0);
                write(&mut out[start..])
            }
            None => Err(e),
        },
        ok => ok,
    };
    match result {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<T: Transport> TlsTransport<T> {
    /// A server-side TLS connection over `inner`, not yet handshaken.
    pub(crate) fn new(
        inner: T,
        config: std::sync::Arc<ServerConfig>,
        max_handshake: usize,
    ) -> Result<Self, rustls::Error> {
        Ok(TlsTransport {
            inner,
            conn: UnbufferedServerConnection::new(config)?,
            incoming: Vec::with_capacity(8 * 1024),
            outgoing: Vec::with_capacity(8 * 1024),
            send_pending: false,
            detached: false,
            stash: Vec::new(),
            peer_closed: false,
            close_notify_sent: false,
            handshake_bytes: 0,
            max_handshake,
            info: None,
        })
    }

    /// Runs the record layer over `incoming` until it needs input or may encrypt: decrypted
    /// application data is appended to `plain`, records to send to `outgoing`. With `app_data`,
    /// encrypts it as soon as writing is allowed (and takes it).
    fn drive(
        &mut self,
        plain: &mut Vec<u8>,
        mut app_data: Option<&[u8]>,
        mut close_notify: bool,
    ) -> Result<Step, rustls::Error> {
        loop {
            let UnbufferedStatus { mut discard, state } =
                self.conn.process_tls_records(&mut self.incoming);
            let step = match state {
                Err(e) => {
                    self.incoming.drain(..discard);
                    self.queue_alert();
                    return Err(e);
                }
                Ok(ConnectionState::ReadTraffic(mut records)) => {
                    while let Some(record) = records.next_record() {
                        let record = record?;
                        discard += record.discard;
                        plain.extend_from_slice(record.payload);
                    }
                    None
                }
                Ok(ConnectionState::ReadEarlyData(mut records)) => {
                    // Early data is off (max_early_data_size 0); read it as data all the same.
                    while let Some(record) = records.next_record() {
                        let record = record?;
                        discard += record.discard;
                        plain.extend_from_slice(record.payload);
                    }
                    None
                }
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let room = 4096;
                    let too_small = |e: &EncodeError| match e {
                        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
                            Some(*required_size)
                        }
                        _ => None,
                    };
                    // `AlreadyEncoded` cannot happen: each state is encoded once.
                    let _ = write_into(&mut self.outgoing, room, |b| encode.encode(b), too_small);
                    None
                }
                // Handshake records are in `outgoing`, ahead of anything queued later, and go
                // out with the next send: for rustls they are transmitted now.
                Ok(ConnectionState::TransmitTlsData(done)) => {
                    done.done();
                    None
                }
                Ok(ConnectionState::BlockedHandshake) => Some(Step::NeedInput),
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    None
                }
                Ok(ConnectionState::Closed) => Some(Step::PeerClosed),
                Ok(ConnectionState::WriteTraffic(mut write)) => {
                    let too_small = |e: &EncryptError| match e {
                        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
                            Some(*required_size)
                        }
                        _ => None,
                    };
                    if let Some(data) = app_data.take() {
                        let r = write_into(
                            &mut self.outgoing,
                            sealed_len(data.len()),
                            |b| write.encrypt(data, b),
                            too_small,
                        );
                        if let Err(e) = r {
                            return Err(rustls::Error::General(e.to_string()));
                        }
                    }
                    if close_notify && !self.close_notify_sent {
                        close_notify = false;
                        self.close_notify_sent = true;
                        let _ = write_into(
                            &mut self.outgoing,
                            64,
                            |b| write.queue_close_notify(b),
                            too_small,
                        );
                    }
                    Some(if self.peer_closed {
                        Step::PeerClosed
                    } else {
                        Step::Open
                    })
                }
                Ok(_) => Some(Step::NeedInput),
            };
            if discard > 0 {
                self.incoming.drain(..discard);
            }
            if let Some(step) = step {
                return Ok(step);
            }
        }
    }

    /// After a failure, encodes the alert rustls queued (if any) into `outgoing`.
    fn queue_alert(&mut self) {
        for _ in 0..4 {
            let UnbufferedStatus { discard, state } = self.conn.process_tls_records(&mut []);
            debug_assert_eq!(discard, 0);
            match state {
                Ok(ConnectionState::EncodeTlsData(mut encode)) => {
                    let too_small = |e: &EncodeError| match e {
                        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
                            Some(*required_size)
                        }
                        _ => None,
                    };
                    let _ = write_into(&mut self.outgoing, 64, |b| encode.encode(b), too_small);
                }
                Ok(ConnectionState::TransmitTlsData(done)) => done.done(),
                _ => return,
            }
        }
    }

    /// Moves `outgoing` to the inner transport; `Ready` once all of it is sent, and whatever
    /// was handed over before with [`Transport::poll_submit`].
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.outgoing.is_empty() && !self.send_pending && !self.detached {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_send(cx, &mut self.outgoing) {
            Poll::Pending => {
                self.send_pending = true;
                Poll::Pending
            }
            Poll::Ready(r) => {
                self.send_pending = false;
                self.detached = false;
                Poll::Ready(r)
            }
        }
    }

    /// Encrypts `buf` (all of it, in as few records as rustls allows) onto `outgoing`.
    fn seal(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let mut stash = std::mem::take(&mut self.stash);
        let r = self.drive(&mut stash, Some(buf), false);
        self.stash = stash;
        buf.clear();
        r.map(|_| ()).map_err(tls_error)
    }

    /// Drives the handshake to completion: `Ready(Ok)` once it is done and the server's last
    /// flight is sent. Failures send the alert rustls chose, if it chose one.
    pub(crate) fn poll_handshake(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), HandshakeError>> {
        loop {
            // Application data that arrives with the client's Finished (a request in the same
            // packet) waits in `stash` for the first receive.
            let mut stash = std::mem::take(&mut self.stash);
            let step = self.drive(&mut stash, None, false);
            self.stash = stash;
            if let Some(name) = take_seen_sni() {
                self.info.get_or_insert_with(Default::default).server_name = Some(name);
            }
            let step = match step {
                Ok(step) => step,
                Err(e) => {
                    // Best effort: the alert goes out if the socket takes it at once.
                    let _ = self.poll_flush(cx);
                    return Poll::Ready(Err(HandshakeError::Tls(e)));
                }
            };
            if !self.conn.is_handshaking() {
                ready!(self.poll_flush(cx)).map_err(HandshakeError::Io)?;
                self.record_session();
                return Poll::Ready(Ok(()));
            }
            if step == Step::PeerClosed {
                return Poll::Ready(Err(HandshakeError::Io(io::ErrorKind::UnexpectedEof.into())));
            }
            if let Poll::Ready(Err(e)) = self.poll_flush(cx) {
                return Poll::Ready(Err(HandshakeError::Io(e)));
            }
            if self.incoming.capacity() - self.incoming.len() < 2048 {
                self.incoming.reserve(8 * 1024);
            }
            let n = match ready!(self.inner.poll_recv(cx, &mut self.incoming)) {
                Ok(0) => {
                    return Poll::Ready(Err(HandshakeError::Io(
                        io::ErrorKind::UnexpectedEof.into(),
                    )))
                }
                Ok(n) => n,
                Err(e) => return Poll::Ready(Err(HandshakeError::Io(e))),
            };
            self.handshake_bytes += n;
            if self.handshake_bytes > self.max_handshake {
                return Poll::Ready(Err(HandshakeError::TooLarge));
            }
        }
    }

    /// Notes what the handshake negotiated, for [`Transport::tls`].
    fn record_session(&mut self) {
        let info = self.info.get_or_insert_with(Default::default);
        info.protocol_version = self
            .conn
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("");
        info.cipher_suite = self
            .conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("");
        info.alpn_protocol = self.conn.alpn_protocol().map(<[u8]>::to_vec);
        info.peer_certificates = self
            .conn
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
            .unwrap_or_default();
    }

    /// Queues `close_notify` and sends what is pending; `Ready` once sent (or failed).
    pub(crate) fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.close_notify_sent && self.info.is_some() {
            let mut stash = std::mem::take(&mut self.stash);
            let r = self.drive(&mut stash, None, true);
            self.stash = stash;
            r.map_err(tls_error)?;
        }
        self.poll_flush(cx)
    }

    /// The inner transport.
    pub(crate) fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: Transport> Transport for TlsTransport<T> {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        if !self.stash.is_empty() {
            let n = self.stash.len();
            buf.append(&mut self.stash);
            return Poll::Ready(Ok(n));
        }
        // Every `drive` runs until rustls needs input, so with no ciphertext buffered there is
        // nothing to process: go straight to the socket (one pass of rustls's state machine
        // fewer per request).
        let mut process = !self.incoming.is_empty();
        loop {
            if process {
                let before = buf.len();
                let step = self.drive(buf, None, false).map_err(tls_error);
                // Records rustls answers on its own (a key update) go out with the next send.
                if !self.outgoing.is_empty() && !self.send_pending {
                    let _ = self.poll_flush(cx);
                }
                let step = step?;
                if buf.len() > before {
                    return Poll::Ready(Ok(buf.len() - before));
                }
                if step == Step::PeerClosed {
                    return Poll::Ready(Ok(0));
                }
            }
            if self.peer_closed {
                return Poll::Ready(Ok(0));
            }
            process = true;
            if self.incoming.capacity() - self.incoming.len() < 2048 {
                self.incoming.reserve(8 * 1024);
            }
            // End of stream without close_notify is an end of stream all the same: a request
            // cut short is rejected by its framing, as on cleartext.
            if ready!(self.inner.poll_recv(cx, &mut self.incoming))? == 0 {
                return Poll::Ready(Ok(0));
            }
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        self.seal(buf)?;
        loop {
            ready!(self.poll_flush(cx))?;
            if self.outgoing.is_empty() {
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// Encrypts `buf` and hands the records to the inner transport's own `poll_submit`
    /// (io_uring: a send the connection does not wait for, so it goes on to receive the next
    /// request at once); the next flush waits for it.
    fn poll_submit(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        self.seal(buf)?;
        if self.send_pending {
            // A send this transport waits for (a flush that returned Pending) comes first.
            ready!(self.poll_flush(cx))?;
        }
        if self.outgoing.is_empty() {
            return Poll::Ready(Ok(()));
        }
        ready!(self.inner.poll_submit(cx, &mut self.outgoing))?;
        self.detached = true;
        Poll::Ready(Ok(()))
    }

    fn prefetch_recv(&mut self) {
        self.inner.prefetch_recv();
    }

    fn shutdown_write(&mut self) {
        self.inner.shutdown_write();
    }

    fn close(&mut self) {
        self.inner.close();
    }

    fn tls(&self) -> Option<&TlsConnectionFeature> {
        self.info.as_ref()
    }
}

/// A connection's transport on a listener that may be HTTPS: the engine's own, or TLS over it.
/// The TLS state is boxed, so a cleartext connection stays as small as before.
pub(crate) enum MaybeTls<T> {
    /// Cleartext.
    Plain(T),
    /// TLS, handshake done.
    Tls(Box<TlsTransport<T>>),
}

impl<T: Transport> MaybeTls<T> {
    /// Sends `close_notify` on a TLS connection (nothing on cleartext); `Ready` once sent.
    pub(crate) fn poll_close_notify(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            MaybeTls::Plain(_) => Poll::Ready(Ok(())),
            MaybeTls::Tls(t) => t.poll_close_notify(cx),
        }
    }
}

impl<T: Transport> Transport for MaybeTls<T> {
    #[inline]
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        match self {
            MaybeTls::Plain(t) => t.poll_recv(cx, buf),
            MaybeTls::Tls(t) => t.poll_recv(cx, buf),
        }
    }

    #[inline]
    fn poll_send(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        match self {
            MaybeTls::Plain(t) => t.poll_send(cx, buf),
            MaybeTls::Tls(t) => t.poll_send(cx, buf),
        }
    }

    #[inline]
    fn poll_submit(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        match self {
            MaybeTls::Plain(t) => t.poll_submit(cx, buf),
            // Encrypted, then sent and waited for (TLS hands nothing over detached yet).
            MaybeTls::Tls(t) => t.poll_submit(cx, buf),
        }
    }

    #[inline]
    fn prefetch_recv(&mut self) {
        match self {
            MaybeTls::Plain(t) => t.prefetch_recv(),
            MaybeTls::Tls(t) => t.prefetch_recv(),
        }
    }

    fn shutdown_write(&mut self) {
        match self {
            MaybeTls::Plain(t) => t.shutdown_write(),
            MaybeTls::Tls(t) => t.shutdown_write(),
        }
    }

    fn close(&mut self) {
        match self {
            MaybeTls::Plain(t) => t.close(),
            MaybeTls::Tls(t) => t.close(),
        }
    }

    fn tls(&self) -> Option<&TlsConnectionFeature> {
        match self {
            MaybeTls::Plain(_) => None,
            MaybeTls::Tls(t) => t.tls(),
        }
    }
}
