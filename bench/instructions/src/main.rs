//! Fixed workloads over peregrine's shared request path, counted by callgrind
//! (`bench/instructions.sh`): `peregrine-instructions SCENARIO N` does the work of N requests.
//!
//! Instruction counts, unlike timings, do not depend on what else the machine is doing, so two
//! runs with different N, subtracted, give a repeatable cost per request with start-up
//! cancelled out. The scenarios drive the layers every engine shares (parser, protocol object,
//! features, application, response encoder) through `peregrine::testing::serve_bytes`, the
//! in-memory transport; the engines' own work (the ring, epoll, syscalls) is not in them.

use std::hint::black_box;
use std::process::ExitCode;

use peregrine::demo::DemoApp;
use peregrine::proto::h1::{
    encode_head, HeadLimits, HeadParser, ParseStatus, RequestHead, ResponseFraming,
    ResponseHeadInfo, ResponseHeaders, ServerHeaders, Version,
};
use peregrine::testing::{serve_bytes, serve_bytes_with_access_log};
use peregrine::Limits;

/// What wrk sends for `wrk http://127.0.0.1:8080/plaintext`.
const WRK_REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// What a browser sends for a page (Chrome 131's navigation request: 15 fields, 753 bytes).
const BROWSER_REQUEST: &[u8] = b"GET /api/items?page=2&sort=desc HTTP/1.1\r\n\
Host: app.example.com\r\n\
Connection: keep-alive\r\n\
sec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n\
Sec-Fetch-Site: none\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; consent=1\r\n\
\r\n";

const SCENARIOS: &str = "\
  pipelined   N plaintext requests through the protocol object, 16 per receive (wrk's pipelining)
  single      N plaintext requests through the protocol object, one per receive (keep-alive)
  json        N JSON requests, one per receive
  logged      as pipelined, with the access log on (lines written to a sink by its thread)
  parse       N parses of wrk's request head
  browser     N parses of a browser's request head (15 fields)
  encode      N encodings of the plaintext response head";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(scenario), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse().ok()))
    else {
        eprintln!("usage: peregrine-instructions SCENARIO N\n\nSCENARIOS:\n{SCENARIOS}");
        return ExitCode::from(2);
    };
    let n: usize = n;
    match scenario.as_str() {
        "pipelined" => serve(WRK_REQUEST, n, 16),
        "single" => serve(WRK_REQUEST, n, 1),
        "json" => serve(b"GET /json HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n", n, 1),
        "logged" => logged(n, 16),
        "parse" => parse(WRK_REQUEST, n),
        "browser" => parse(BROWSER_REQUEST, n),
        "encode" => encode(n),
        other => {
            eprintln!("unknown scenario {other:?}\n\nSCENARIOS:\n{SCENARIOS}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// `n` requests, `per` to a receive, on one connection; checks every one was answered.
fn serve(request: &[u8], n: usize, per: usize) {
    let batch = request.repeat(per);
    let chunks: Vec<&[u8]> = (0..n / per).map(|_| &batch[..]).collect();
    let out = serve_bytes(&DemoApp, Limits::default(), &chunks);
    // Every request answered 200, checked without scanning the output (which would count):
    // the responses are all alike, so the output is n times the length of one.
    let one = serve_bytes(&DemoApp, Limits::default(), &[request]);
    assert!(one.starts_with(b"HTTP/1.1 200 "), "{:?}", String::from_utf8_lossy(&one));
    assert_eq!(out.len(), one.len() * (n / per * per), "every request is answered");
}

/// `n` requests, `per` to a receive, with the access log on; checks every one was answered.
fn logged(n: usize, per: usize) {
    let batch = WRK_REQUEST.repeat(per);
    let chunks: Vec<&[u8]> = (0..n / per).map(|_| &batch[..]).collect();
    let out = serve_bytes_with_access_log(&DemoApp, Limits::default(), &chunks, std::io::sink());
    let one = serve_bytes(&DemoApp, Limits::default(), &[WRK_REQUEST]);
    assert_eq!(out.len(), one.len() * (n / per * per), "every request is answered");
}

fn parse(request: &[u8], n: usize) {
    let parser = HeadParser::new(HeadLimits::default());
    let mut head = RequestHead::new(parser.limits());
    for _ in 0..n {
        let r = parser.parse(black_box(request), &mut head);
        assert_eq!(r, Ok(ParseStatus::Complete(request.len())));
    }
}

fn encode(n: usize) {
    let server_headers = ServerHeaders::new(Some(b"peregrine"));
    let mut headers = ResponseHeaders::default();
    headers.set("content-type", b"text/plain").unwrap();
    let mut out = Vec::with_capacity(512);
    for _ in 0..n {
        out.clear();
        encode_head(
            &mut out,
            &ResponseHeadInfo {
                version: Version::Http11,
                status: 200,
                headers: black_box(&headers),
                framing: ResponseFraming::Length(13),
                keep_alive: true,
                server_headers: &server_headers,
            },
        );
        black_box(&out);
    }
}
