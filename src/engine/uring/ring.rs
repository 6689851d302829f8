//! Ring construction with the best setup flags this kernel accepts, and the start-up probe.

use std::io::{self, Write};
use std::os::fd::AsRawFd;

use io_uring::{cqueue, opcode, types, IoUring, Probe};

/// Which optional setup flags a worker's ring got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingSetup {
    /// `IORING_SETUP_SINGLE_ISSUER` (6.0): only the worker thread submits, so the kernel skips
    /// synchronisation.
    pub single_issuer: bool,
    /// `IORING_SETUP_DEFER_TASKRUN` (6.1): completion work runs when the worker asks for
    /// completions, not by interrupting it.
    pub defer_taskrun: bool,
    /// `IORING_SETUP_COOP_TASKRUN` (5.19): no inter-processor interrupt to run completion work.
    pub coop_taskrun: bool,
    /// `IORING_SETUP_SUBMIT_ALL` (5.18): a failing SQE does not stop the rest of the batch.
    pub submit_all: bool,
}

/// Builds a ring with `entries` submission slots, trying the most efficient flag set first and
/// falling back when the kernel refuses one (`EINVAL` on older kernels).
pub(crate) fn build_ring(entries: u32) -> io::Result<(IoUring, RingSetup)> {
    let attempts = [
        RingSetup {
            single_issuer: true,
            defer_taskrun: true,
            coop_taskrun: false,
            submit_all: true,
        },
        RingSetup {
            single_issuer: false,
            defer_taskrun: false,
            coop_taskrun: true,
            submit_all: true,
        },
        RingSetup::default(),
    ];
    let mut last = None;
    for setup in attempts {
        let mut b = IoUring::builder();
        b.setup_cqsize(entries.saturating_mul(4)).setup_clamp();
        if setup.single_issuer {
            b.setup_single_issuer();
        }
        if setup.defer_taskrun {
            b.setup_defer_taskrun();
        }
        if setup.coop_taskrun {
            b.setup_coop_taskrun();
        }
        if setup.submit_all {
            b.setup_submit_all();
        }
        match b.build(entries) {
            Ok(ring) => return Ok((ring, setup)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no ring setup worked")))
}

/// Checks, before any thread starts, that this kernel runs what the engine needs; the error
/// says why not (seccomp, `kernel.io_uring_disabled`, an old kernel).
pub(crate) fn probe() -> Result<RingSetup, String> {
    let (ring, setup) = build_ring(8).map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) => format!(
            "io_uring_setup: {e} (disabled by kernel.io_uring_disabled, or blocked by seccomp?)"
        ),
        Some(libc::ENOSYS) => format!("io_uring_setup: {e} (kernel without io_uring, or gVisor?)"),
        _ => format!("io_uring_setup: {e}"),
    })?;
    let mut p = Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| format!("io_uring probe: {e} (kernel older than 5.6?)"))?;
    for (code, name) in [
        (opcode::AcceptMulti::CODE, "accept"),
        (opcode::Recv::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::Read::CODE, "read"),
        (opcode::Timeout::CODE, "timeout"),
        (opcode::AsyncCancel::CODE, "async cancel"),
        (opcode::Close::CODE, "close"),
    ] {
        if !p.is_supported(code) {
            return Err(format!(
                "io_uring lacks the {name} operation (kernel too old)"
            ));
        }
    }
    // Multishot accept and provided-buffer rings both arrived in 5.19.
    let mut bufs = super::bufring::BufRing::new(&ring, 1, 512)
        .map_err(|e| format!("provided buffer rings unsupported: {e} (kernel older than 5.19?)"))?;
    let multishot = probe_multishot_recv(&ring);
    bufs.unregister(&ring);
    multishot
        .map_err(|e| format!("multishot receive unsupported: {e} (kernel older than 6.0?)"))?;
    Ok(setup)
}

/// Runs one multishot receive on a socket pair: older kernels refuse the flag (`EINVAL`) or
/// end the receive after one completion.
fn probe_multishot_recv(ring: &IoUring) -> io::Result<()> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let entry = opcode::RecvMulti::new(types::Fd(ours.as_raw_fd()), super::bufring::BUF_GROUP)
        .build()
        .user_data(1);
    // SAFETY: the receive names only the provided buffer registered on `ring`, which the caller
    // keeps registered until the completion has been reaped below (or the ring is dropped).
    unsafe { ring.submission_shared().push(&entry) }
        .map_err(|_| io::Error::other("submission queue full"))?;
    (&theirs).write_all(b"x")?;
    ring.submit_and_wait(1)?;
    // SAFETY: only this thread uses the probe ring.
    let cqe = unsafe { ring.completion_shared() }
        .next()
        .ok_or_else(|| io::Error::other("no completion"))?;
    if cqe.result() < 0 {
        return Err(io::Error::from_raw_os_error(-cqe.result()));
    }
    if !cqueue::more(cqe.flags()) {
        return Err(io::Error::other("the receive ended after one completion"));
    }
    // Still armed: cancel it and wait for its last completion, so the caller may unregister
    // the buffer it could otherwise still pick.
    let cancel = opcode::AsyncCancel::new(1).build().user_data(2);
    // SAFETY: a cancellation carries no pointers; only this thread uses the probe ring.
    unsafe { ring.submission_shared().push(&cancel) }
        .map_err(|_| io::Error::other("submission queue full"))?;
    loop {
        ring.submit_and_wait(1)?;
        // SAFETY: only this thread uses the probe ring.
        for cqe in unsafe { ring.completion_shared() } {
            if cqe.user_data() == 1 && !cqueue::more(cqe.flags()) {
                return Ok(());
            }
        }
    }
}
