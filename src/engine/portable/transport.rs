//! A TCP connection as the portable engine moves its bytes: non-blocking `recv` and `send` on
//! the socket when the reactor says it may be ready, and a wait for the next edge when not.

use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::task::{ready, Context, Poll};

use mio::unix::SourceFd;
use socket2::Socket;

use super::reactor::{try_with_reactor, with_reactor, Direction};
use crate::connection::Transport;

/// One accepted socket (TCP or Unix), owned by the connection task that serves it.
pub(crate) struct PortableTransport {
    /// The non-blocking socket; `None` once closed.
    stream: Option<Socket>,
    /// Its key in the reactor.
    key: usize,
    /// Bytes at the front of the send buffer already sent.
    send_off: usize,
}

impl PortableTransport {
    /// Registers the non-blocking `stream` with this worker's reactor and takes ownership of it.
    pub(crate) fn new(stream: Socket) -> io::Result<Self> {
        let key = with_reactor(|r| r.register(&mut SourceFd(&stream.as_raw_fd())))?;
        Ok(PortableTransport {
            stream: Some(stream),
            key,
            send_off: 0,
        })
    }

    fn closed() -> io::Error {
        io::ErrorKind::NotConnected.into()
    }
}

impl Drop for PortableTransport {
    fn drop(&mut self) {
        self.close();
    }
}

impl Transport for PortableTransport {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        let Some(stream) = &self.stream else {
            return Poll::Ready(Err(Self::closed()));
        };
        let key = self.key;
        with_reactor(|r| loop {
            ready!(r.poll_ready(key, Direction::Read, cx));
            if buf.capacity() == buf.len() {
                buf.reserve(4096);
            }
            let spare = buf.spare_capacity_mut();
            let want = spare.len();
            match stream.recv(spare) {
                Ok(n) => {
                    // SAFETY: recv initialised the first `n` bytes of the spare capacity
                    // (n <= want, the length of the slice it was given).
                    unsafe { buf.set_len(buf.len() + n) };
                    if n < want {
                        // A short read drains a stream socket's queue: more bytes bring an edge.
                        r.clear_ready(key, Direction::Read);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => r.clear_ready(key, Direction::Read),
                    io::ErrorKind::Interrupted => {}
                    _ => return Poll::Ready(Err(e)),
                },
            }
        })
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Poll<io::Result<()>> {
        let Some(stream) = &self.stream else {
            out.clear();
            return Poll::Ready(Err(Self::closed()));
        };
        let key = self.key;
        with_reactor(|r| loop {
            if self.send_off >= out.len() {
                out.clear();
                self.send_off = 0;
                return Poll::Ready(Ok(()));
            }
            ready!(r.poll_ready(key, Direction::Write, cx));
            // MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE.
            match stream.send_with_flags(&out[self.send_off..], libc::MSG_NOSIGNAL) {
                Ok(n) => {
                    self.send_off += n;
                    continue;
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => r.clear_ready(key, Direction::Write),
                    io::ErrorKind::Interrupted => {}
                    _ => {
                        out.clear();
                        self.send_off = 0;
                        return Poll::Ready(Err(e));
                    }
                },
            }
        })
    }

    fn shutdown_write(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = stream.shutdown(Shutdown::Write);
        }
    }

    fn close(&mut self) {
        if self.stream.take().is_some() {
            // Closing the fd (the drop above) removes it from the epoll set.
            let key = self.key;
            try_with_reactor(|r| r.forget(key));
        }
    }
}
