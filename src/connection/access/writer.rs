//! The access log writer thread: it takes whole buffers of lines from the workers, writes each
//! with one `write_all`, and gives the buffers back to be reused.

use std::io::Write;
use std::sync::OnceLock;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

/// Batches in flight to the writer thread before workers wait (about 1 MiB): lines are never
/// dropped, as the `tracing` writer's `lossy(false)`.
const QUEUED_BATCHES: usize = 64;

/// A message to the writer thread.
pub(super) enum Msg {
    /// Whole lines to write: the buffer's first `n` bytes (the rest is room the worker keeps
    /// initialised, and gets back with the buffer).
    Lines(Vec<u8>, usize),
    /// Write nothing more and exit.
    Stop,
}

/// The process's access log writer, set once by the host.
pub(super) static WRITER: OnceLock<Channels> = OnceLock::new();

/// Batches to the writer thread, and emptied buffers back from it.
pub(super) struct Channels {
    pub(super) lines: Sender<Msg>,
    pub(super) spare: Receiver<Vec<u8>>,
}

/// The access log writer thread; dropping this writes what is queued and ends it.
pub(crate) struct AccessLogWriter {
    lines: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for AccessLogWriter {
    fn drop(&mut self) {
        let _ = self.lines.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the thread that writes every worker's access log lines to `out` (a batch of whole
/// lines per `write_all`), unless one was started already. Lines are written while the returned
/// guard lives.
pub(crate) fn start_access_log_writer(
    mut out: impl Write + Send + 'static,
) -> Option<AccessLogWriter> {
    let (lines, to_write) = crossbeam_channel::bounded::<Msg>(QUEUED_BATCHES);
    let (give_back, spare) = crossbeam_channel::bounded::<Vec<u8>>(QUEUED_BATCHES);
    WRITER
        .set(Channels {
            lines: lines.clone(),
            spare,
        })
        .ok()?;
    let thread = std::thread::Builder::new()
        .name("peregrine-access".into())
        .spawn(move || {
            for msg in to_write {
                let Msg::Lines(batch, n) = msg else { break };
                let _ = out.write_all(&batch[..n]);
                let _ = out.flush();
                let _ = give_back.try_send(batch);
            }
        })
        .ok()?;
    Some(AccessLogWriter {
        lines,
        thread: Some(thread),
    })
}
