//! The "ceiling" server: the least work an io_uring HTTP/1.1 server can do.
//!
//! It bounds from above what peregrine could reach on this machine. There is no
//! parsing and no routing: every complete request head (each `\r\n\r\n`) is answered
//! with the same canned `200 Hello, World!` (fixed `Date`), whatever it asked for.
//!
//! Kernel-side it uses everything that saves work per request:
//! - one multishot accept, installing connections straight into the ring's fixed
//!   file table (direct descriptors: no fd table, no fget/fput per operation);
//! - one multishot recv per connection, fed from a provided buffer ring, so a read
//!   costs no SQE and idle connections hold no buffer;
//! - all answers owed after a read go out in one send, straight from a static
//!   buffer of repeated responses (no copy, no per-connection output buffer);
//! - a single-issuer ring with deferred task work, drained once per `io_uring_enter`.

use std::alloc::{alloc_zeroed, Layout};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{cqueue, opcode, squeue, types, IoUring, SubmissionQueue, Submitter};
use socket2::{Domain, Socket, Type};

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nServer: ceiling\r\nContent-Type: text/plain\r\n\
Content-Length: 13\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\nHello, World!";
/// The send buffer holds this many copies of `RESPONSE`; more owed answers take
/// more than one send.
const RESPONSES_PER_SEND: usize = 256;

/// Provided-buffer ring: number of buffers (a power of two) and size of each.
const BUF_COUNT: u16 = 4096;
const BUF_SIZE: usize = 4096;
const BUF_GROUP: u16 = 0;

/// Connections (fixed file slots); shrunk to what the kernel allows.
const MAX_CONNS: u32 = 16384;

// user_data: operation kind in the high 32 bits, fixed-file slot in the low 32.
const OP_ACCEPT: u64 = 1 << 32;
const OP_RECV: u64 = 2 << 32;
const OP_SEND: u64 = 3 << 32;
const OP_CLOSE: u64 = 4 << 32;
const OP_CANCEL: u64 = 5 << 32;
const OP_MASK: u64 = !0xffff_ffff;

/// Whether the multishot accept is running.
#[derive(PartialEq, Eq)]
enum Accept {
    Armed,
    /// Ended (or never started): arm it at the top of the event loop.
    Idle,
    /// Ended because every fixed-file slot is taken: re-arm after a close.
    Full,
}

/// Per-connection state, indexed by fixed-file slot.
#[derive(Default, Clone, Copy)]
struct Conn {
    open: bool,
    /// The multishot recv is still armed (its last CQE had `IORING_CQE_F_MORE`).
    recv_live: bool,
    /// A send is in flight (at most one, so answers stay in order).
    sending: bool,
    /// No more reading: the peer closed, or a send failed.
    closing: bool,
    /// Response bytes owed and not yet handed to a send.
    owed: usize,
    /// How much of `\r\n\r\n` the previous read ended with (0..=3).
    crlf: u8,
}

/// Counts complete `\r\n\r\n` sequences in `data`, carrying a partial match in
/// `state` across reads (a head may be split anywhere).
fn count_heads(state: &mut u8, data: &[u8]) -> usize {
    let mut s = *state;
    let mut n = 0;
    for &b in data {
        s = match (s, b) {
            (0 | 2, b'\r') => s + 1,
            (1, b'\n') => 2,
            (3, b'\n') => {
                n += 1;
                0
            }
            (_, b'\r') => 1,
            _ => 0,
        };
    }
    *state = s;
    n
}

/// The provided-buffer ring (kernel-shared descriptors) and the buffers it hands out.
struct BufRing {
    ring: *mut types::BufRingEntry,
    bufs: *mut u8,
    tail: u16,
}

impl BufRing {
    fn new(submitter: &Submitter<'_>) -> io::Result<Self> {
        let ring_layout = Layout::from_size_align(
            usize::from(BUF_COUNT) * size_of::<types::BufRingEntry>(),
            4096,
        )
        .expect("ring layout");
        let bufs_layout = Layout::from_size_align(usize::from(BUF_COUNT) * BUF_SIZE, 4096)
            .expect("buffer layout");
        // SAFETY: both layouts have a non-zero size. The memory is never freed: it
        // lives as long as the process, so the kernel can never see it dangle.
        let (ring, bufs) = unsafe {
            (
                alloc_zeroed(ring_layout).cast::<types::BufRingEntry>(),
                alloc_zeroed(bufs_layout),
            )
        };
        assert!(!ring.is_null() && !bufs.is_null(), "out of memory");
        let mut br = BufRing {
            ring,
            bufs,
            tail: 0,
        };
        for bid in 0..BUF_COUNT {
            br.push(bid);
        }
        br.publish();
        // SAFETY: `ring` is page-aligned, zeroed, holds BUF_COUNT entries and is
        // never freed (see above), as registration requires.
        unsafe {
            submitter.register_buf_ring_with_flags(ring as u64, BUF_COUNT, BUF_GROUP, 0)?;
        }
        Ok(br)
    }

    /// The bytes the kernel put into buffer `bid`.
    fn data(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < BUF_COUNT && len <= BUF_SIZE);
        // SAFETY: in bounds (checked above); the kernel wrote `len` bytes there and
        // handed the buffer to us with the CQE, so it won't write it again until we
        // give it back with `push` + `publish`, which needs `&mut self`.
        unsafe { std::slice::from_raw_parts(self.bufs.add(usize::from(bid) * BUF_SIZE), len) }
    }

    /// Queues buffer `bid` for the kernel again (visible after `publish`).
    fn push(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (BUF_COUNT - 1));
        // SAFETY: `slot` < BUF_COUNT entries. The kernel only reads entries between
        // its head and the published tail, and this one is past the published tail.
        // The setters leave `resv` alone, which in entry 0 is the shared tail.
        unsafe {
            let entry = &mut *self.ring.add(slot);
            entry.set_addr(self.bufs.add(usize::from(bid) * BUF_SIZE) as u64);
            entry.set_len(BUF_SIZE as u32);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail is a u16 inside the live ring memory, suitably aligned,
        // and the kernel only reads it: an atomic release store orders the entry
        // writes before it, as the io_uring ABI requires.
        unsafe {
            let tail = types::BufRingEntry::tail(self.ring).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

/// Queues `entry`, submitting first if the submission queue is full.
fn push(sq: &mut SubmissionQueue<'_>, submitter: &Submitter<'_>, entry: &squeue::Entry) {
    loop {
        // SAFETY: every entry we build points only at memory that outlives the
        // operation: the static response buffer, or nothing (accept/recv/close).
        if unsafe { sq.push(entry) }.is_ok() {
            return;
        }
        sq.sync();
        if let Err(e) = submitter.submit() {
            if e.raw_os_error() != Some(libc::EBUSY) {
                panic!("io_uring submit: {e}");
            }
        }
        sq.sync();
    }
}

/// Parses `--addr HOST:PORT` (default 127.0.0.1:8081); the only flag we take.
fn parse_addr() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8081");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("unknown argument {other:?}; usage: ceiling-peer [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr.parse().expect("--addr must be HOST:PORT")
}

fn listen(addr: SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    // Accepted sockets inherit TCP_NODELAY on Linux, and direct descriptors cannot
    // take a setsockopt(2) anyway.
    sock.set_tcp_nodelay(true)?;
    sock.bind(&addr.into())?;
    sock.listen(4096)?;
    Ok(sock)
}

fn main() -> io::Result<()> {
    let addr = parse_addr();
    let listener = listen(addr)?;
    let lfd = types::Fd(listener.as_raw_fd());

    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(16384)
        .build(4096)?;

    // The fixed file table can't exceed RLIMIT_NOFILE; halve until it fits.
    let mut max_conns = MAX_CONNS;
    while let Err(e) = ring.submitter().register_files_sparse(max_conns) {
        if max_conns <= 64 {
            return Err(e);
        }
        max_conns /= 2;
    }
    let mut bufs = BufRing::new(&ring.submitter())?;
    let mut conns = vec![Conn::default(); max_conns as usize];

    // RESPONSES_PER_SEND copies back to back: any `owed` byte count is a suffix of
    // it, starting at phase `(len - owed % len) % len`, so even short sends resume
    // from the same static buffer.
    let responses: &'static [u8] = RESPONSE.repeat(RESPONSES_PER_SEND).leak();
    let send_entry = |slot: u32, owed: usize| {
        let phase = (RESPONSE.len() - owed % RESPONSE.len()) % RESPONSE.len();
        let len = owed.min(responses.len() - phase);
        let ptr = responses[phase..].as_ptr();
        opcode::Send::new(types::Fixed(slot), ptr, len as u32)
            .build()
            .user_data(OP_SEND | u64::from(slot))
    };
    let recv_entry = |slot: u32| {
        opcode::RecvMulti::new(types::Fixed(slot), BUF_GROUP)
            .build()
            .user_data(OP_RECV | u64::from(slot))
    };
    let accept_entry = opcode::AcceptMulti::new(lfd)
        .allocate_file_index(true)
        .build()
        .user_data(OP_ACCEPT);

    let mut accept = Accept::Idle;
    eprintln!("ceiling-peer listening on {addr} ({max_conns} connection slots)");

    loop {
        let (submitter, mut sq, mut cq) = ring.split();
        if accept == Accept::Idle {
            push(&mut sq, &submitter, &accept_entry);
            accept = Accept::Armed;
        }
        sq.sync();
        match submitter.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        cq.sync();
        let mut returned = false;
        for cqe in &mut cq {
            let res = cqe.result();
            let flags = cqe.flags();
            let more = cqueue::more(flags);
            let slot = (cqe.user_data() & 0xffff_ffff) as u32;
            let s = slot as usize;
            match cqe.user_data() & OP_MASK {
                OP_ACCEPT => {
                    if !more {
                        // Re-armed at the top of the loop, unless the slot table is
                        // full: then only once a close frees a slot.
                        accept = if res == -libc::ENFILE {
                            Accept::Full
                        } else {
                            Accept::Idle
                        };
                    }
                    if res >= 0 {
                        let slot = res as u32;
                        conns[slot as usize] = Conn {
                            open: true,
                            recv_live: true,
                            ..Conn::default()
                        };
                        push(&mut sq, &submitter, &recv_entry(slot));
                    } else if res != -libc::ENFILE {
                        eprintln!("accept: {}", io::Error::from_raw_os_error(-res));
                    }
                    continue; // user_data carries no slot: skip the per-slot steps below
                }
                OP_RECV => {
                    let c = &mut conns[s];
                    if !more {
                        c.recv_live = false;
                    }
                    if res > 0 {
                        let bid = cqueue::buffer_select(flags).expect("recv without a buffer");
                        if !c.closing {
                            let heads = count_heads(&mut c.crlf, bufs.data(bid, res as usize));
                            c.owed += heads * RESPONSE.len();
                        }
                        bufs.push(bid);
                        returned = true;
                        if !more && !c.closing {
                            c.recv_live = true;
                            push(&mut sq, &submitter, &recv_entry(slot));
                        }
                    } else if res == -libc::ENOBUFS && !c.closing {
                        // Buffer ring ran dry; buffers come back below, so re-arm.
                        if !more {
                            c.recv_live = true;
                            push(&mut sq, &submitter, &recv_entry(slot));
                        }
                    } else {
                        // EOF or error: answer what was asked, then close.
                        c.closing = true;
                    }
                }
                OP_SEND => {
                    let c = &mut conns[s];
                    c.sending = false;
                    if res < 0 {
                        c.owed = 0;
                        if !c.closing {
                            c.closing = true;
                            if c.recv_live {
                                let cancel = opcode::AsyncCancel::new(OP_RECV | u64::from(slot))
                                    .build()
                                    .user_data(OP_CANCEL);
                                push(&mut sq, &submitter, &cancel);
                            }
                        }
                    } else {
                        c.owed -= res as usize;
                    }
                }
                // Nothing to do: the slot was already released when Close was queued.
                OP_CLOSE | OP_CANCEL => continue,
                other => unreachable!("unknown user_data kind {other:#x}"),
            }
            // One send per connection at a time, covering everything owed so far.
            let c = &mut conns[s];
            if c.open && c.owed > 0 && !c.sending {
                c.sending = true;
                push(&mut sq, &submitter, &send_entry(slot, c.owed));
            }
            // Close once nothing is in flight on this slot, so a late CQE can never
            // be mistaken for the next connection that gets the same slot.
            if c.open && c.closing && !c.recv_live && !c.sending {
                *c = Conn::default();
                let close = opcode::Close::new(types::Fixed(slot))
                    .build()
                    .user_data(OP_CLOSE);
                push(&mut sq, &submitter, &close);
                if accept == Accept::Full {
                    accept = Accept::Idle;
                }
            }
        }
        if returned {
            bufs.publish();
        }
    }
}
