//! Command-line parsing: flags, durations, CPU lists.
//!
//! Short options take their value attached or separate (`-c64`, `-c 64`), long ones with `=`
//! or separate (`--rate=1000`, `--rate 1000`). Every problem is reported as one line naming
//! it; the binary exits with code 2.

use std::fmt;
use std::time::Duration;

use crate::url::Url;

/// `--help` text.
pub const USAGE: &str = "\
peregrine-load: HTTP/1.1 load generator (closed loop like wrk, or open loop with --rate)

Usage: peregrine-load [OPTIONS] URL...

URLs are http://host[:port][/path] or https://... (TLS 1.3 or 1.2 with rustls; the URL's
host is the server name, sent as SNI and checked against the certificate). Several URLs are
requested round-robin.

Options:
  -c, --connections N   open connections, spread over the threads [default: 64]
  -t, --threads N       worker threads [default: 1]
  -d, --duration D      measured duration, e.g. 10s, 500ms, 1m [default: 10s]
      --warmup D        load before the measurement, not counted [default: 0s]
      --rate R          open loop: R requests/s in total, on a fixed schedule; latency is
                        measured from each request's intended send time (coordinated-
                        omission correction) [default: closed loop]
      --pipeline N      requests in flight per connection, written back to back [default: 1]
  -m, --method M        request method [default: GET]
  -H, --header 'N: V'   extra request header (repeatable)
      --body S          request body
      --body-file PATH  request body from a file
      --timeout D       per-request timeout (and connect timeout) [default: 2s]
      --cpus LIST       pin worker threads to these CPUs, round-robin, e.g. 1 or 0,2-3
                        [default: no pinning]
      --cacert FILE     https: trust the CAs in this PEM file [default: the system's,
                        /etc/ssl/certs/ca-certificates.crt]
  -k, --insecure        https: accept any server certificate (no verification)
      --ws              WebSocket mode: each connection upgrades at the URL's path and sends
                        binary messages that the server echoes (a message in flight per
                        --pipeline slot; --rate paces messages); latency is send to echo
      --message-size N  WebSocket message size in bytes [default: 64]
      --compress        offer permessage-deflate (client_no_context_takeover) and send
                        compressed messages (text that compresses about 4:1)
      --json            print the summary as JSON on stdout
      --allow-errors    exit 0 even if errors occurred
  -h, --help            print this help
  -V, --version         print the version

Exit status: 0 on success, 1 if any request failed (unless --allow-errors) or the run
could not be carried out, 2 on bad arguments.
";

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Target URLs, requested round-robin.
    pub urls: Vec<Url>,
    /// Total connections, spread over the threads.
    pub connections: usize,
    /// Worker threads.
    pub threads: usize,
    /// Measured duration (after the warmup).
    pub duration: Duration,
    /// Load before the measurement starts; its responses and errors are not counted.
    pub warmup: Duration,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Request method.
    pub method: String,
    /// Extra request headers, in order.
    pub headers: Vec<(String, String)>,
    /// Request body, if any.
    pub body: Option<Vec<u8>>,
    /// Per-request (and per-connect) timeout.
    pub timeout: Duration,
    /// Open-loop rate in requests per second (all threads together); `None` is closed loop.
    pub rate: Option<f64>,
    /// CPUs to pin worker threads to, round-robin; `None`: no pinning.
    pub cpus: Option<Vec<usize>>,
    /// Print the summary as JSON.
    pub json: bool,
    /// Exit 0 even if errors occurred.
    pub allow_errors: bool,
    /// `https://` URLs: the PEM file of trusted CAs; `None`: the system's bundle.
    pub ca_file: Option<std::path::PathBuf>,
    /// `https://` URLs: accept any certificate.
    pub insecure: bool,
    /// WebSocket mode ([`crate::ws`]).
    pub ws: bool,
    /// WebSocket message size in bytes.
    pub message_size: usize,
    /// WebSocket mode: offer permessage-deflate and send compressed messages.
    pub compress: bool,
}

impl Config {
    /// The defaults for `urls`: closed loop, 64 connections, 1 thread, 10 s, GET.
    pub fn new(urls: Vec<Url>) -> Self {
        Config {
            urls,
            connections: 64,
            threads: 1,
            duration: Duration::from_secs(10),
            warmup: Duration::ZERO,
            pipeline: 1,
            method: "GET".to_string(),
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(2),
            rate: None,
            cpus: None,
            json: false,
            allow_errors: false,
            ca_file: None,
            insecure: false,
            ws: false,
            message_size: 64,
            compress: false,
        }
    }

    /// Checks the relations between settings that single flags cannot.
    pub fn validate(&self) -> Result<(), CliError> {
        if self.urls.is_empty() {
            return Err(CliError::new("no URL given (see --help)"));
        }
        if self.threads == 0 || self.connections == 0 || self.pipeline == 0 {
            return Err(CliError::new(
                "--threads, --connections and --pipeline must be at least 1",
            ));
        }
        if self.connections < self.threads {
            return Err(CliError(format!(
                "--connections ({}) must be at least --threads ({}): every thread needs a connection",
                self.connections, self.threads
            )));
        }
        if self.duration.is_zero() {
            return Err(CliError::new("--duration must be more than 0"));
        }
        if self.timeout.is_zero() {
            return Err(CliError::new("--timeout must be more than 0"));
        }
        if (self.compress || self.message_size != 64) && !self.ws {
            return Err(CliError::new("--message-size and --compress need --ws"));
        }
        if self.message_size > 64 << 20 {
            return Err(CliError::new("--message-size must be at most 64 MiB"));
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(CliError::new("--rate must be a positive number"));
            }
        }
        if self.ca_file.is_some() && self.insecure {
            return Err(CliError::new(
                "--cacert and --insecure contradict each other: give one",
            ));
        }
        if (self.ca_file.is_some() || self.insecure) && !self.urls.iter().any(|u| u.tls) {
            return Err(CliError::new(
                "--cacert and --insecure are for https:// URLs, and none is given",
            ));
        }
        Ok(())
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run a load test.
    Run(Box<Config>),
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
}

/// A bad command line, as a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl CliError {
    fn new(msg: &str) -> Self {
        CliError(msg.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

/// Option names: (short, long, takes a value).
const OPTIONS: &[(Option<char>, &str, bool)] = &[
    (Some('c'), "connections", true),
    (Some('t'), "threads", true),
    (Some('d'), "duration", true),
    (None, "warmup", true),
    (None, "rate", true),
    (None, "pipeline", true),
    (Some('m'), "method", true),
    (Some('H'), "header", true),
    (None, "body", true),
    (None, "body-file", true),
    (None, "timeout", true),
    (None, "cpus", true),
    (None, "ws", false),
    (None, "message-size", true),
    (None, "compress", false),
    (None, "json", false),
    (None, "allow-errors", false),
    (None, "cacert", true),
    (Some('k'), "insecure", false),
    (Some('h'), "help", false),
    (Some('V'), "version", false),
];

/// Parses the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let mut config = Config::new(Vec::new());
    let mut body_file: Option<String> = None;
    let mut only_positional = false;

    while let Some(arg) = args.next() {
        if only_positional || arg == "-" || !arg.starts_with('-') {
            config.urls.push(Url::parse(&arg).map_err(CliError)?);
            continue;
        }
        if arg == "--" {
            only_positional = true;
            continue;
        }
        // Find the option and any value attached to it.
        let (spec, shown, attached) = if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = OPTIONS
                .iter()
                .find(|(_, l, _)| *l == name)
                .ok_or_else(|| CliError(format!("unknown option '--{name}' (see --help)")))?;
            (spec, format!("--{name}"), value)
        } else {
            let mut chars = arg[1..].chars();
            let c = chars.next().unwrap_or('-');
            let rest: String = chars.collect();
            let spec = OPTIONS
                .iter()
                .find(|(s, _, _)| *s == Some(c))
                .ok_or_else(|| CliError(format!("unknown option '-{c}' (see --help)")))?;
            (spec, format!("-{c}"), (!rest.is_empty()).then_some(rest))
        };
        let (_, long, takes_value) = *spec;
        let value = if takes_value {
            match attached {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| CliError(format!("option '{shown}' needs a value")))?,
            }
        } else {
            if attached.is_some() {
                return Err(CliError(format!("option '{shown}' takes no value")));
            }
            String::new()
        };
        let bad = |why: &str| CliError(format!("invalid value '{value}' for '{shown}': {why}"));
        match long {
            "connections" => config.connections = positive(&value).map_err(|e| bad(&e))?,
            "threads" => config.threads = positive(&value).map_err(|e| bad(&e))?,
            "pipeline" => config.pipeline = positive(&value).map_err(|e| bad(&e))?,
            "duration" => config.duration = parse_duration(&value).map_err(|e| bad(&e))?,
            "warmup" => config.warmup = parse_duration(&value).map_err(|e| bad(&e))?,
            "timeout" => config.timeout = parse_duration(&value).map_err(|e| bad(&e))?,
            "rate" => config.rate = Some(parse_rate(&value).map_err(|e| bad(&e))?),
            "method" => {
                if !is_token(&value) {
                    return Err(bad("not a valid HTTP method token"));
                }
                config.method = value;
            }
            "header" => {
                let header = parse_header(&value).map_err(|e| bad(&e))?;
                config.headers.push(header);
            }
            "body" => {
                if config.body.is_some() {
                    return Err(CliError::new("give --body or --body-file once"));
                }
                config.body = Some(value.into_bytes());
            }
            "body-file" => {
                if config.body.is_some() || body_file.is_some() {
                    return Err(CliError::new("give --body or --body-file once"));
                }
                let bytes = std::fs::read(&value)
                    .map_err(|e| CliError(format!("cannot read --body-file '{value}': {e}")))?;
                config.body = Some(bytes);
                body_file = Some(value);
            }
            "cpus" => config.cpus = Some(parse_cpu_list(&value).map_err(|e| bad(&e))?),
            "ws" => config.ws = true,
            "message-size" => {
                config.message_size = value.parse().map_err(|_| bad("not a number of bytes"))?
            }
            "compress" => config.compress = true,
            "json" => config.json = true,
            "allow-errors" => config.allow_errors = true,
            "cacert" => config.ca_file = Some(value.into()),
            "insecure" => config.insecure = true,
            "help" => return Ok(Command::Help),
            "version" => return Ok(Command::Version),
            _ => unreachable!("every option in OPTIONS is handled"),
        }
    }
    config.validate()?;
    Ok(Command::Run(Box::new(config)))
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) if n <= 1_000_000 => Ok(n),
        Ok(_) => Err("too large".to_string()),
        Err(_) => Err("not a positive integer".to_string()),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1e9 => Ok(r),
        _ => Err("not a positive number of requests per second".to_string()),
    }
}

/// Parses a duration: a number followed by `ns`, `us` (or `µs`), `ms`, `s`, `m` or `h`; a
/// bare number is seconds (as in wrk). Fractions are allowed: `1.5s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| "expected a duration such as 10s, 500ms or 1m".to_string())?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit '{unit}' (use ms, s, m, h)")),
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 1e7 {
        return Err("duration too long".to_string());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a CPU list such as `1`, `0,2` or `0-3,6`.
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let number = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{t}' is not a CPU number"))
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b || b - a > 4096 {
                    return Err(format!("bad CPU range '{part}'"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(number(part)?),
        }
    }
    Ok(cpus)
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or("expected 'Name: value'".to_string())?;
    let name = name.trim();
    if !is_token(name) {
        return Err("bad header name".to_string());
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err("header value contains CR, LF or NUL".to_string());
    }
    Ok((name.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Config {
        match parse_args(args.iter().copied()) {
            Ok(Command::Run(c)) => *c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse_args(args.iter().copied()) {
            Err(e) => e.0,
            Ok(c) => panic!("{args:?} should fail, got {c:?}"),
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "10x", "-1s", "1.2.3s", "ten", "1e9h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults() {
        let c = run(&["http://127.0.0.1:1/"]);
        assert_eq!(
            c,
            Config::new(vec![Url::parse("http://127.0.0.1:1/").unwrap()])
        );
        assert_eq!((c.connections, c.threads, c.pipeline), (64, 1, 1));
        assert_eq!(c.duration, Duration::from_secs(10));
        assert_eq!(c.rate, None);
    }

    #[test]
    fn wrk_style_attached_values() {
        let c = run(&["-t2", "-c64", "-d10s", "http://127.0.0.1:8099/"]);
        assert_eq!((c.threads, c.connections), (2, 64));
        assert_eq!(c.duration, Duration::from_secs(10));
    }

    #[test]
    fn all_options() {
        let c = run(&[
            "--connections=8",
            "--threads",
            "2",
            "-d",
            "500ms",
            "--warmup",
            "1s",
            "--rate",
            "2500.5",
            "--pipeline=16",
            "-m",
            "POST",
            "-H",
            "X-A: 1",
            "--header=X-B:two words ",
            "--body",
            "hi",
            "--timeout",
            "100ms",
            "--cpus",
            "0,2-3",
            "--json",
            "--allow-errors",
            "http://a/",
            "--",
            "http://b:81/x",
        ]);
        assert_eq!((c.connections, c.threads, c.pipeline), (8, 2, 16));
        assert_eq!(c.duration, Duration::from_millis(500));
        assert_eq!(c.warmup, Duration::from_secs(1));
        assert_eq!(c.rate, Some(2500.5));
        assert_eq!(c.method, "POST");
        assert_eq!(
            c.headers,
            vec![
                ("X-A".to_string(), "1".to_string()),
                ("X-B".to_string(), "two words".to_string())
            ]
        );
        assert_eq!(c.body.as_deref(), Some(&b"hi"[..]));
        assert_eq!(c.timeout, Duration::from_millis(100));
        assert_eq!(c.cpus, Some(vec![0, 2, 3]));
        assert!(c.json && c.allow_errors);
        assert_eq!(c.urls.len(), 2);
        assert_eq!(c.urls[1].port, 81);
    }

    #[test]
    fn body_file() {
        let path = std::env::temp_dir().join(format!("peregrine-load-body-{}", std::process::id()));
        std::fs::write(&path, b"file body").unwrap();
        let c = run(&["--body-file", path.to_str().unwrap(), "http://a/"]);
        assert_eq!(c.body.as_deref(), Some(&b"file body"[..]));
        std::fs::remove_file(&path).unwrap();
        assert!(err(&["--body-file", "/nonexistent/x", "http://a/"]).contains("cannot read"));
        assert!(err(&["--body", "a", "--body", "b", "http://a/"]).contains("once"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_args(["-h"]), Ok(Command::Help));
        assert_eq!(parse_args(["--version"]), Ok(Command::Version));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(err(&["--bogus", "http://a/"]).contains("unknown option '--bogus'"));
        assert!(err(&["-x", "http://a/"]).contains("unknown option '-x'"));
        assert!(err(&["http://a/", "-c"]).contains("'-c' needs a value"));
        assert!(err(&["-c", "zero", "http://a/"]).contains("'-c'"));
        assert!(err(&["-c0", "http://a/"]).contains("at least 1"));
        assert!(err(&["-d", "5x", "http://a/"]).contains("'-d'"));
        assert!(err(&["-d", "0s", "http://a/"]).contains("--duration"));
        assert!(err(&["--rate", "-5", "http://a/"]).contains("--rate"));
        assert!(err(&["--rate", "nan", "http://a/"]).contains("--rate"));
        assert!(err(&["-H", "NoColon", "http://a/"]).contains("Name: value"));
        assert!(err(&["-H", "Bad Name: v", "http://a/"]).contains("header name"));
        assert!(err(&["-m", "GE T", "http://a/"]).contains("method"));
        assert!(err(&["--json=yes", "http://a/"]).contains("takes no value"));
        assert!(err(&["--cpus", "1-x", "http://a/"]).contains("--cpus"));
        assert!(err(&["-t", "4", "-c", "2", "http://a/"]).contains("at least --threads"));
        assert!(err(&[]).contains("no URL"));
        assert!(err(&["ftp://a/"]).contains("only http:// and https://"));
        assert!(err(&["--cacert", "ca.pem", "-k", "https://a/"]).contains("contradict"));
        assert!(err(&["-k", "http://a/"]).contains("none is given"));
        assert!(err(&["--cacert", "ca.pem", "http://a/"]).contains("none is given"));
        let Ok(Command::Run(c)) = parse_args(["--cacert", "ca.pem", "https://a/"]) else {
            panic!("https with --cacert parses")
        };
        assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("ca.pem")));
        let Ok(Command::Run(c)) = parse_args(["-k", "https://a/", "http://b/"]) else {
            panic!("-k parses")
        };
        assert!(c.insecure && c.urls[0].tls && !c.urls[1].tls);
        for args in [&["--bogus"][..], &["-c"], &["ftp://x/"]] {
            assert!(!err(args).contains('\n'), "one line: {args:?}");
        }
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("1"), Ok(vec![1]));
        assert_eq!(parse_cpu_list("0-2,5"), Ok(vec![0, 1, 2, 5]));
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
