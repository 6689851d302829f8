//! Ring construction with the best setup flags this kernel accepts, and the start-up probe.

use std::io;

use io_uring::{opcode, IoUring, Probe};

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
    ] {
        if !p.is_supported(code) {
            return Err(format!(
                "io_uring lacks the {name} operation (kernel too old)"
            ));
        }
    }
    // Multishot accept and provided-buffer rings both arrived in 5.19.
    super::bufring::BufRing::new(&ring, 1, 512)
        .map(|mut b| b.unregister(&ring))
        .map_err(|e| format!("provided buffer rings unsupported: {e} (kernel older than 5.19?)"))?;
    Ok(setup)
}
