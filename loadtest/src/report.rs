//! The end-of-run summary (table or JSON) and the live progress line.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::cli::Config;
use crate::runner::Tick;
use crate::stats::{ErrorCounts, ThreadStats};

/// Latency percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// Largest.
    pub max: u64,
}

impl LatencySummary {
    /// Summarizes `h` (all zeros if it is empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            stdev: h.stdev(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// The end-of-run summary; `--json` prints it as is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Target URLs.
    pub urls: Vec<String>,
    /// `"closed-loop"` or `"open-loop"`.
    pub mode: &'static str,
    /// Worker threads.
    pub threads: usize,
    /// Connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Measured duration, seconds.
    pub duration_secs: f64,
    /// Warmup (not counted), seconds.
    pub warmup_secs: f64,
    /// Open loop: the requested rate, requests/s.
    pub target_rate: Option<f64>,
    /// Successful responses (2xx and 3xx).
    pub requests: u64,
    /// Successful responses per second. Errors are never included.
    pub requests_per_sec: f64,
    /// All errors.
    pub errors_total: u64,
    /// Errors per second.
    pub errors_per_sec: f64,
    /// Errors by kind, and non-2xx/3xx responses by status code.
    pub errors: ErrorCounts,
    /// Bytes received.
    pub bytes_read: u64,
    /// Bytes received per second.
    pub bytes_per_sec: f64,
    /// Connections closed cleanly by the server and reopened (not errors).
    pub reconnects: u64,
    /// Latency of successful responses, µs; in open loop measured from each request's
    /// intended send time (coordinated-omission corrected).
    pub latency_us: LatencySummary,
    /// Open loop only: latency measured from the actual send time (uncorrected), µs.
    pub uncorrected_latency_us: Option<LatencySummary>,
    /// `https://`: the first TLS error met, if any (why connects failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_error: Option<String>,
}

impl Summary {
    /// Builds the summary of a run of `config` that counted `stats`.
    pub fn new(config: &Config, stats: &ThreadStats) -> Self {
        let secs = config.duration.as_secs_f64();
        let errors_total = stats.errors.total();
        Summary {
            urls: config.urls.iter().map(|u| u.original.clone()).collect(),
            mode: if config.rate.is_some() {
                "open-loop"
            } else {
                "closed-loop"
            },
            threads: config.threads,
            connections: config.connections,
            pipeline: config.pipeline,
            duration_secs: secs,
            warmup_secs: config.warmup.as_secs_f64(),
            target_rate: config.rate,
            requests: stats.ok,
            requests_per_sec: stats.ok as f64 / secs,
            errors_total,
            errors_per_sec: errors_total as f64 / secs,
            errors: stats.errors.clone(),
            bytes_read: stats.bytes_read,
            bytes_per_sec: stats.bytes_read as f64 / secs,
            reconnects: stats.reconnects,
            latency_us: LatencySummary::of(&stats.latency.corrected),
            uncorrected_latency_us: stats.latency.uncorrected.as_ref().map(LatencySummary::of),
            tls_error: stats.tls_error.clone(),
        }
    }
}

/// Formats an integer with thousands separators: `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats a rate with thousands separators and one decimal: `1234.56` → `1,234.6`.
pub fn group_rate(r: f64) -> String {
    let tenths = (r.max(0.0) * 10.0).round() as u64;
    format!("{}.{}", group(tenths / 10), tenths % 10)
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn latency_row(out: &mut String, label: &str, l: &LatencySummary) {
    let _ = writeln!(
        out,
        "  {label:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9.0}{:>9.0}",
        l.p50, l.p90, l.p99, l.p99_9, l.max, l.mean, l.stdev
    );
}

/// The human-readable summary table.
pub fn render_table(s: &Summary) -> String {
    let mut out = String::new();
    let mode = match s.target_rate {
        Some(rate) => format!("open loop at {} req/s", group(rate.round() as u64)),
        None => "closed loop".to_string(),
    };
    let _ = writeln!(
        out,
        "peregrine-load: {:.2} s measured{}, {mode}, {} thread{}, {} connection{}, pipeline {}",
        s.duration_secs,
        if s.warmup_secs > 0.0 {
            format!(" after {:.2} s warmup", s.warmup_secs)
        } else {
            String::new()
        },
        s.threads,
        if s.threads == 1 { "" } else { "s" },
        s.connections,
        if s.connections == 1 { "" } else { "s" },
        s.pipeline
    );
    for url in &s.urls {
        let _ = writeln!(out, "  {url}");
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "  {:<14}{:>14}  {:>14}/s   (2xx/3xx only)",
        "successful",
        group(s.requests),
        group_rate(s.requests_per_sec)
    );
    let e = &s.errors;
    let _ = writeln!(
        out,
        "  {:<14}{:>14}  {:>14}/s   connect {}, read {}, write {}, timeout {}, protocol {}, status {}",
        "errors",
        group(s.errors_total),
        group_rate(s.errors_per_sec),
        e.connect,
        e.read,
        e.write,
        e.timeout,
        e.protocol,
        e.status_total()
    );
    if let Some(tls) = &s.tls_error {
        let _ = writeln!(out, "  {:<14}{tls}", "TLS error");
    }
    if !e.status.is_empty() {
        let codes: Vec<String> = e
            .status
            .iter()
            .map(|(code, n)| format!("{code}: {}", group(*n)))
            .collect();
        let _ = writeln!(out, "  {:<14}{}", "status codes", codes.join(", "));
    }
    let _ = writeln!(
        out,
        "  {:<14}{:>14}  {:>14}/s",
        "received",
        bytes(s.bytes_read as f64),
        bytes(s.bytes_per_sec)
    );
    if s.reconnects > 0 {
        let _ = writeln!(
            out,
            "  {:<14}{:>14}   (server closed the connection; not errors)",
            "reconnects",
            group(s.reconnects)
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "  {:<14}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}{:>9}",
        "latency (µs)", "p50", "p90", "p99", "p99.9", "max", "mean", "stdev"
    );
    match &s.uncorrected_latency_us {
        Some(unc) => {
            latency_row(&mut out, "corrected", &s.latency_us);
            latency_row(&mut out, "uncorrected", unc);
            out.push_str(
                "  (corrected: from each request's intended send time; uncorrected: from when it was sent)\n",
            );
        }
        None => latency_row(&mut out, "", &s.latency_us),
    }
    out
}

/// The live progress line (no newline).
pub fn progress_line(t: &Tick) -> String {
    let elapsed = t.elapsed.as_secs_f64();
    let warmup = t.warmup.as_secs_f64();
    if elapsed < warmup {
        return format!("warming up {elapsed:.0}/{warmup:.0} s");
    }
    format!(
        "{:>4.0}/{:.0} s  {} ok  {} req/s  {} errors",
        elapsed - warmup,
        t.duration.as_secs_f64(),
        group(t.ok),
        group(t.ok_per_sec.round() as u64),
        group(t.errors)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::Url;
    use std::time::Duration;

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(group_rate(1234.56), "1,234.6");
        assert_eq!(group_rate(0.04), "0.0");
    }

    #[test]
    fn summary_keeps_errors_beside_the_rate() {
        let config = Config::new(vec![Url::parse("http://127.0.0.1:1/").unwrap()]);
        let mut stats = ThreadStats::new(false);
        stats.response(200, 0, 0, 1_000_000);
        stats.response(503, 0, 0, 1_000_000);
        stats.errors.count(crate::stats::ErrorKind::Timeout);
        let s = Summary::new(&config, &stats);
        assert_eq!(s.requests, 1);
        assert_eq!(s.errors_total, 2);
        assert!((s.requests_per_sec - 0.1).abs() < 1e-9);
        let table = render_table(&s);
        assert!(table.contains("successful"), "{table}");
        assert!(table.contains("timeout 1"), "{table}");
        assert!(table.contains("503: 1"), "{table}");
        let json: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(json["errors"]["status"]["503"], 1);
        assert_eq!(json["latency_us"]["count"], 1);
    }

    #[test]
    fn progress() {
        let t = Tick {
            elapsed: Duration::from_millis(3200),
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            ok: 12345,
            errors: 0,
            ok_per_sec: 4000.0,
        };
        assert_eq!(
            progress_line(&t),
            "   2/10 s  12,345 ok  4,000 req/s  0 errors"
        );
    }
}
