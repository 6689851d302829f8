//! Shared helpers for the integration tests: start a real server on 127.0.0.1:0, and a small
//! raw HTTP/1.1 client over std sockets that reads responses byte-exactly.
#![allow(dead_code)]

pub mod alloc;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use peregrine::{Application, EngineChoice, HttpServer, Server, ServerOptions};

/// Generates, for each named test body `fn name(engine: EngineChoice)`, one `#[test]` per
/// engine: `uring::name` and `portable::name`. Every engine must pass the same suite.
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $(
                #[test]
                fn $name() {
                    super::$name(peregrine::EngineChoice::Uring);
                }
            )*
        }
        mod portable {
            $(
                #[test]
                fn $name() {
                    super::$name(peregrine::EngineChoice::Portable);
                }
            )*
        }
    };
}

/// Starts `app` on `engine` with `workers` workers on an ephemeral port.
pub fn start<A: Application>(
    engine: EngineChoice,
    app: A,
    workers: usize,
) -> (HttpServer, SocketAddr) {
    start_with(
        engine,
        app,
        ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(workers),
    )
}

/// Starts `app` on `engine` with `options`; checks the engine that runs is the one asked for.
pub fn start_with<A: Application>(
    engine: EngineChoice,
    app: A,
    options: ServerOptions,
) -> (HttpServer, SocketAddr) {
    let mut server = HttpServer::new(options.engine(engine));
    server.start(app).expect("server starts");
    let info = server.features().get::<peregrine::EngineInfo>().unwrap();
    let expected = match engine {
        EngineChoice::Portable => peregrine::EngineKind::Portable,
        _ => peregrine::EngineKind::Uring,
    };
    assert_eq!(info.kind, expected, "the engine asked for runs");
    let addr = server.features().addresses()[0];
    (server, addr)
}

/// A connected client socket with a 10 s read timeout (a hang fails the test, not CI).
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response; `head_request` means no body follows whatever the headers say.
pub fn read_response<R: BufRead>(r: &mut R, head_request: bool) -> io::Result<Response> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    assert!(version.starts_with("HTTP/1."), "bad status line {line:?}");
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end_matches(['\r', '\n']);
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').expect("header line has a colon");
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_request || status < 200 || status == 204 || status == 304 {
        return Ok(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk)?;
            assert_eq!(&chunk[n..], b"\r\n", "chunk not followed by CRLF");
            if n == 0 {
                break;
            }
            resp.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = resp.header("content-length") {
        let n: usize = len.parse().expect("content-length");
        resp.body.resize(n, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// Sends `request` on a new connection and reads one response.
pub fn roundtrip(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let head = request.starts_with(b"HEAD ");
    read_response(&mut BufReader::new(s), head).expect("a response")
}

/// `GET path` on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    roundtrip(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes(),
    )
}

/// Whether the server closed the connection: the next read sees end of stream (or a reset).
pub fn is_closed<R: Read>(r: &mut R) -> bool {
    let mut b = [0u8; 1];
    matches!(r.read(&mut b), Ok(0) | Err(_))
}

/// Raises the open-file limit as far as allowed: to 65,536 where the process may raise its
/// hard limit (root), else to the hard limit. Returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid, initialised rlimit struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        let want = lim.rlim_max.max(65_536);
        let wide = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wide) != 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur as u64
    }
}

/// Starts a `peregrine` binary command with stdout piped and returns it, the first address it
/// reports listening on, and its stdout for reading the rest. Panics (after reaping it) if the
/// process exits first.
// The child is returned to the caller, which waits for it.
#[allow(clippy::zombie_processes)]
pub fn spawn_server(cmd: &mut Command) -> (Child, SocketAddr, BufReader<ChildStdout>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("the binary exited before listening: {status:?}");
        }
        let line = line.trim();
        if let Some(url) = line
            .strip_prefix("peregrine: listening on http://")
            .or_else(|| line.strip_prefix("peregrine: listening on https://"))
        {
            return (child, url.parse().unwrap(), out);
        }
    }
}

/// A fresh temporary directory `peregrine-NAME-PID` holding a self-signed certificate for
/// `localhost` (`cert.pem`, `key.pem`): the directory (remove it at the end) and the files as
/// an endpoint's certificate.
pub fn self_signed_certificate(
    name: &str,
) -> (std::path::PathBuf, peregrine::server::CertificateFiles) {
    let dir = std::env::temp_dir().join(format!("peregrine-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let files = peregrine::server::CertificateFiles::new(dir.join("cert.pem"), dir.join("key.pem"));
    (dir, files)
}
