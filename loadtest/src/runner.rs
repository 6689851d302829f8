//! Sets a run up (resolve, encode, spread connections), starts the worker threads, reports
//! progress while they run, and merges what they counted.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::cli::Config;
use crate::report::Summary;
use crate::request;
use crate::stats::ThreadStats;
use crate::tls;
use crate::worker::Worker;

/// How long after the planned end the workers may take to report before the run fails.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// One address and the pre-encoded requests of the URLs that point at it.
pub(crate) struct Target {
    pub addr: SocketAddr,
    /// `https://`: the client configuration and the server name (the URL's host).
    pub tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
    pub requests: Vec<Vec<u8>>,
}

/// Everything the workers share, read-only.
pub(crate) struct Plan {
    pub targets: Vec<Target>,
    pub head_request: bool,
    pub pipeline: usize,
    pub timeout_ns: u64,
    pub measure_start_ns: u64,
    pub end_ns: u64,
    pub rate: Option<f64>,
    pub threads: usize,
}

/// A worker's progress counters, on a cache line of their own.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Slot {
    pub ok: AtomicU64,
    pub errors: AtomicU64,
}

/// Progress counters, one slot per worker, published every few milliseconds.
pub(crate) struct Progress {
    pub slots: Vec<Slot>,
}

/// A progress snapshot, passed about once a second to [`run`]'s callback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// Time since the start (warmup included).
    pub elapsed: Duration,
    /// The warmup.
    pub warmup: Duration,
    /// The measured duration.
    pub duration: Duration,
    /// Successful responses so far (measurement window only).
    pub ok: u64,
    /// Errors so far (measurement window only).
    pub errors: u64,
    /// Successful responses per second over the last interval.
    pub ok_per_sec: f64,
}

/// Why a run could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The configuration cannot work (unresolvable host, no such CPU, ...).
    Config(String),
    /// Something failed while running (thread spawn, a worker's event loop).
    Runtime(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Config(m) | RunError::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// The result of a run: the summary, plus the merged counters and histograms.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What gets printed.
    pub summary: Summary,
    /// Everything the workers counted, merged.
    pub stats: ThreadStats,
}

fn build_plan(config: &Config) -> Result<Plan, RunError> {
    let tls_config = if config.urls.iter().any(|u| u.tls) {
        Some(
            tls::client_config(config.ca_file.as_deref(), config.insecure)
                .map_err(RunError::Config)?,
        )
    } else {
        None
    };
    let mut targets: Vec<Target> = Vec::new();
    for url in &config.urls {
        let addr = url
            .resolve()
            .map_err(|e| RunError::Config(format!("cannot resolve '{}': {e}", url.host)))?;
        let tls = match (&tls_config, url.tls) {
            (Some(c), true) => Some((
                c.clone(),
                tls::server_name(&url.host).map_err(RunError::Config)?,
            )),
            _ => None,
        };
        let bytes = request::encode(&config.method, url, &config.headers, config.body.as_deref());
        // URLs share connections when they go to the same address the same way (and, over
        // TLS, for the same server name).
        let same = |t: &Target| {
            t.addr == addr && t.tls.as_ref().map(|(_, n)| n) == tls.as_ref().map(|(_, n)| n)
        };
        match targets.iter_mut().find(|t| same(t)) {
            Some(t) => t.requests.push(bytes),
            None => targets.push(Target {
                addr,
                tls,
                requests: vec![bytes],
            }),
        }
    }
    let measure_start_ns = config.warmup.as_nanos() as u64;
    Ok(Plan {
        targets,
        head_request: config.method.eq_ignore_ascii_case("HEAD"),
        pipeline: config.pipeline,
        timeout_ns: config.timeout.as_nanos() as u64,
        measure_start_ns,
        end_ns: measure_start_ns + config.duration.as_nanos() as u64,
        rate: config.rate,
        threads: config.threads,
    })
}

fn pick_cores(config: &Config) -> Result<Option<Vec<core_affinity::CoreId>>, RunError> {
    let Some(cpus) = &config.cpus else {
        return Ok(None);
    };
    let available = core_affinity::get_core_ids()
        .ok_or_else(|| RunError::Config("cannot read this machine's CPU list".to_string()))?;
    for &cpu in cpus {
        if !available.iter().any(|c| c.id == cpu) {
            let ids: Vec<String> = available.iter().map(|c| c.id.to_string()).collect();
            return Err(RunError::Config(format!(
                "--cpus: no CPU {cpu} here (available: {})",
                ids.join(",")
            )));
        }
    }
    Ok(Some(
        cpus.iter()
            .map(|&id| core_affinity::CoreId { id })
            .collect(),
    ))
}

/// Runs a load test as `config` describes, calling `on_tick` about once a second with the
/// progress so far, and returns the merged result.
///
/// URLs that resolve to the same address share connections (each connection cycles through
/// them); URLs on different addresses get their own connections, assigned round-robin.
pub fn run(config: &Config, mut on_tick: impl FnMut(&Tick)) -> Result<Outcome, RunError> {
    config
        .validate()
        .map_err(|e| RunError::Config(e.to_string()))?;
    let plan = Arc::new(build_plan(config)?);
    let cores = pick_cores(config)?;
    let progress = Arc::new(Progress {
        slots: (0..config.threads).map(|_| Slot::default()).collect(),
    });
    let (tx, rx) = crossbeam_channel::bounded(config.threads);
    let start = Instant::now();

    let mut handles = Vec::with_capacity(config.threads);
    let mut first = 0;
    for lane in 0..config.threads {
        let count = config.connections / config.threads
            + usize::from(lane < config.connections % config.threads);
        let core = cores.as_ref().map(|c| c[lane % c.len()]);
        let (plan, progress, tx) = (plan.clone(), progress.clone(), tx.clone());
        let handle = thread::Builder::new()
            .name(format!("peregrine-load-{lane}"))
            .spawn(move || {
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core) {
                        let _ =
                            tx.send(Err(format!("cannot pin worker {lane} to CPU {}", core.id)));
                        return;
                    }
                }
                let result = Worker::new(plan, progress, lane, first, count, start)
                    .and_then(Worker::run)
                    .map_err(|e| format!("worker {lane}: {e}"));
                let _ = tx.send(result);
            })
            .map_err(|e| RunError::Runtime(format!("cannot start a worker thread: {e}")))?;
        handles.push(handle);
        first += count;
    }
    drop(tx);

    let planned = config.warmup + config.duration;
    let mut results = Vec::with_capacity(config.threads);
    let mut next_tick = start + Duration::from_secs(1);
    let mut last_ok = 0;
    while results.len() < config.threads {
        match rx.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
            Ok(result) => results.push(result),
            Err(RecvTimeoutError::Timeout) => {
                let (ok, errors) = progress.slots.iter().fold((0, 0), |(o, e), s| {
                    (
                        o + s.ok.load(Ordering::Relaxed),
                        e + s.errors.load(Ordering::Relaxed),
                    )
                });
                on_tick(&Tick {
                    elapsed: start.elapsed(),
                    warmup: config.warmup,
                    duration: config.duration,
                    ok,
                    errors,
                    ok_per_sec: (ok - last_ok.min(ok)) as f64,
                });
                last_ok = ok;
                next_tick += Duration::from_secs(1);
                if start.elapsed() > planned + STOP_GRACE {
                    return Err(RunError::Runtime("worker threads did not stop".to_string()));
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    for handle in handles {
        if handle.join().is_err() {
            return Err(RunError::Runtime("a worker thread panicked".to_string()));
        }
    }
    if results.len() < config.threads {
        return Err(RunError::Runtime(
            "a worker thread stopped without reporting".to_string(),
        ));
    }

    let mut merged = ThreadStats::new(config.rate.is_some());
    for result in results {
        merged.merge(&result.map_err(RunError::Runtime)?);
    }
    Ok(Outcome {
        summary: Summary::new(config, &merged),
        stats: merged,
    })
}
