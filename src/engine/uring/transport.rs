//! A TCP connection as the io_uring engine moves its bytes: one multishot `recv` from the
//! provided-buffer ring, armed once and posting a completion each time data arrives, and sends of
//! buffers the op slab holds until they complete.

use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use io_uring::{opcode, types};

use super::bufring::BUF_GROUP;
use super::driver::{with_driver, Driver, Hold};
use crate::connection::Transport;

/// One accepted socket, owned by the connection task that serves it.
pub(crate) struct UringTransport {
    fd: RawFd,
    /// The multishot receive, while it is armed or has completions to take.
    recv_op: Option<usize>,
    send_op: Option<usize>,
    /// The in-flight send was handed over without waiting ([`Transport::poll_submit`]).
    detached: bool,
    /// Bytes of the in-flight send buffer already sent.
    send_off: usize,
}

impl UringTransport {
    /// Takes ownership of the accepted socket `fd`.
    pub(crate) fn new(fd: RawFd) -> Self {
        UringTransport {
            fd,
            recv_op: None,
            send_op: None,
            detached: false,
            send_off: 0,
        }
    }

    fn start_recv(&mut self, d: &mut Driver) -> usize {
        let entry = opcode::RecvMulti::new(types::Fd(self.fd), BUF_GROUP).build();
        // SAFETY: the receive names no memory of ours: the kernel picks a provided buffer for
        // each completion, and the ring owns them for the worker's lifetime.
        let id = unsafe { d.push_multishot(entry) };
        self.recv_op = Some(id);
        id
    }

    /// Sends `buf[send_off..]`; returns the op and how many bytes it sends.
    fn start_send(&mut self, d: &mut Driver, buf: Vec<u8>) -> (usize, u32) {
        let remaining = &buf[self.send_off..];
        let len = remaining.len().min(u32::MAX as usize) as u32;
        let entry = opcode::Send::new(types::Fd(self.fd), remaining.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        // SAFETY: the entry points into `buf`'s heap storage, which moves into the op slab
        // (moving a Vec does not move its storage) and stays there until the completion.
        let id = unsafe { d.push(entry, Hold::Buf(buf)) };
        self.send_op = Some(id);
        self.detached = false;
        (id, len)
    }

    /// Drives the sends: waits for the one in flight (when `wait`, or when `out` has more to
    /// follow it) and starts the next. Without `wait`, a send is handed over and not waited
    /// for: `out` gets a spare buffer and the task is not woken by a full completion.
    fn poll_send_inner(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        wait: bool,
    ) -> Poll<io::Result<()>> {
        with_driver(|d| loop {
            let Some(id) = self.send_op else {
                if out.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                self.send_off = 0;
                if wait {
                    self.start_send(d, std::mem::take(out));
                    continue;
                }
                let spare = d.spare_buf();
                let (id, len) = self.start_send(d, std::mem::replace(out, spare));
                d.detach(id, cx.waker(), len);
                self.detached = true;
                return Poll::Ready(Ok(()));
            };
            let completion = if self.detached && !wait && out.is_empty() {
                // Handed over earlier and nothing new to send: look, but do not wait.
                match d.try_take(id) {
                    Some(c) => c,
                    None => return Poll::Ready(Ok(())),
                }
            } else {
                match d.poll_op(id, cx) {
                    Poll::Ready(c) => c,
                    Poll::Pending => return Poll::Pending,
                }
            };
            self.send_op = None;
            if completion.res < 0 && !matches!(-completion.res, libc::EINTR | libc::EAGAIN) {
                out.clear();
                return Poll::Ready(Err(io::Error::from_raw_os_error(-completion.res)));
            }
            let Hold::Buf(mut sent) = completion.hold else {
                // A detached send that went out whole: the driver kept its buffer as a spare.
                continue;
            };
            self.send_off += completion.res.max(0) as usize;
            if self.send_off < sent.len() {
                // A short send: keep going from where it stopped, with anything appended since.
                sent.extend_from_slice(out);
                out.clear();
                let (id, len) = self.start_send(d, sent);
                if !wait {
                    d.detach(id, cx.waker(), len);
                    self.detached = true;
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            if out.capacity() == 0 {
                sent.clear();
                *out = sent;
            } else {
                // `out` is a spare from the driver already: this one is the next spare.
                d.give_spare(sent);
            }
            if wait && out.is_empty() {
                return Poll::Ready(Ok(()));
            }
        })
    }

    /// Cancels what is in flight (a handed-over send excepted) and closes the socket.
    fn close_now(&mut self) {
        if self.fd < 0 {
            return;
        }
        with_driver(|d| {
            if let Some(id) = self.recv_op.take() {
                d.drop_op(id);
            }
            if let Some(id) = self.send_op.take() {
                if self.detached {
                    // Handed over: it goes out (or fails) on its own.
                    d.orphan(id);
                } else {
                    d.drop_op(id);
                }
            }
            // Through the ring, behind a send this task queued and the worker has not submitted
            // yet (the client's end of stream can be read in the same turn).
            d.close(self.fd);
        });
        self.fd = -1;
    }
}

impl Drop for UringTransport {
    fn drop(&mut self) {
        self.close_now();
    }
}

impl Transport for UringTransport {
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        with_driver(|d| loop {
            let id = match self.recv_op {
                Some(id) => id,
                None => self.start_recv(d),
            };
            let Poll::Ready((res, armed)) = d.poll_recv_multishot(id, cx, buf) else {
                return Poll::Pending;
            };
            if !armed {
                // Its last completion: the next read arms it again.
                self.recv_op = None;
            }
            if res > 0 {
                return Poll::Ready(Ok(res as usize));
            }
            match -res {
                0 => return Poll::Ready(Ok(0)),
                // Every provided buffer was in use for a moment (they come back as tasks read),
                // or the driver stopped the receive because this task fell behind: arm it again.
                libc::ENOBUFS | libc::ECANCELED | libc::EINTR | libc::EAGAIN => continue,
                errno => return Poll::Ready(Err(io::Error::from_raw_os_error(errno))),
            }
        })
    }

    fn poll_send(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Poll<io::Result<()>> {
        self.poll_send_inner(cx, out, true)
    }

    fn poll_submit(&mut self, cx: &mut Context<'_>, out: &mut Vec<u8>) -> Poll<io::Result<()>> {
        self.poll_send_inner(cx, out, false)
    }

    fn shutdown_write(&mut self) {
        if self.fd >= 0 {
            // SAFETY: shutdown on a socket we own; no memory is involved.
            unsafe { libc::shutdown(self.fd, libc::SHUT_WR) };
        }
    }

    fn close(&mut self) {
        self.close_now();
    }

    fn prefetch_recv(&mut self) {
        if self.recv_op.is_none() && self.fd >= 0 {
            with_driver(|d| {
                self.start_recv(d);
            });
        }
    }
}
