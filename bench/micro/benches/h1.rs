//! Micro-benchmarks of peregrine's sans-I/O HTTP/1.1 core: the per-request work that
//! the engine does on top of the kernel's, measured without sockets.
//!
//! Run with `cd bench/micro && cargo bench` (add a filter, e.g. `cargo bench -- parse`).
//! Each benchmark reuses its storage the way a connection does (one `RequestHead`,
//! one output `Vec`), so the figures are steady-state costs, not first-use costs.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use peregrine::proto::h1::{
    encode_head, BodyDecoder, BodyKind, DateCache, HeadLimits, HeadParser, ParseStatus,
    RequestHead, ResponseFraming, ResponseHeadInfo, ResponseHeaders, ServerHeaders, Version,
};

/// What wrk sends for `wrk http://127.0.0.1:8080/plaintext`.
const WRK_REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// What curl 8 sends for `curl http://127.0.0.1:8080/plaintext`.
const CURL_REQUEST: &[u8] =
    b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n\r\n";

/// A browser-like request with 30 header lines (about 1.9 KB of head).
fn large_request() -> Vec<u8> {
    let mut req = b"GET /api/v1/items?page=2&sort=name&filter=active HTTP/1.1\r\n\
Host: app.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\n\
Referer: https://app.example.com/api/v1/items?page=1\r\n\
Cookie: session=4f0c2b9e8d7a6f5e4d3c2b1a09f8e7d6; theme=dark; lang=en; consent=yes\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-User: ?1\r\n\
Priority: u=0, i\r\n\
Cache-Control: max-age=0\r\n\
If-None-Match: \"33a64df551425fcc55e4d42a148795d9f25f89d4\"\r\n\
If-Modified-Since: Wed, 21 Oct 2025 07:28:00 GMT\r\n\
DNT: 1\r\n\
X-Request-Id: 7b4e9c1d-2f3a-4b5c-8d6e-9f0a1b2c3d4e\r\n\
X-Forwarded-For: 203.0.113.7, 198.51.100.23\r\n\
X-Forwarded-Proto: https\r\n\
X-Forwarded-Host: app.example.com\r\n\
X-Real-IP: 203.0.113.7\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\r\n\
Origin: https://app.example.com\r\n\
Pragma: no-cache\r\n\
TE: trailers\r\n\
Via: 1.1 proxy.example.net\r\n\
Forwarded: for=203.0.113.7;proto=https;host=app.example.com\r\n\
Sec-CH-UA-Platform: \"Linux\"\r\n"
        .to_vec();
    req.extend_from_slice(b"\r\n");
    req
}

fn bench_parse(c: &mut Criterion) {
    let parser = HeadParser::new(HeadLimits::default());
    let mut head = RequestHead::new(parser.limits());
    let large = large_request();
    let mut group = c.benchmark_group("parse_head");
    for (name, req) in [
        ("wrk", WRK_REQUEST),
        ("curl", CURL_REQUEST),
        ("large_30_headers", &large[..]),
    ] {
        // Sanity: the request must parse completely, or the benchmark measures an error path.
        assert_eq!(
            parser.parse(req, &mut head),
            Ok(ParseStatus::Complete(req.len())),
            "{name}"
        );
        group.throughput(Throughput::Bytes(req.len() as u64));
        group.bench_function(name, |b| b.iter(|| parser.parse(black_box(req), &mut head)));
    }
    assert_eq!(head.header_count(), 30);
    group.finish();
}

/// A 64 KiB body, chunked as 16 chunks of 4 KiB, plus the last chunk.
fn chunked_body() -> Vec<u8> {
    let mut body = Vec::new();
    for i in 0..16u8 {
        body.extend_from_slice(b"1000\r\n");
        body.extend(std::iter::repeat_n(b'a' + i, 4096));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

fn bench_chunked(c: &mut Criterion) {
    let wire = chunked_body();
    let mut group = c.benchmark_group("body");
    group.throughput(Throughput::Bytes(64 * 1024));
    group.bench_function("chunked_64k_in_4k_chunks", |b| {
        b.iter(|| {
            let mut decoder = BodyDecoder::new(BodyKind::Chunked);
            let mut input = black_box(&wire[..]);
            let mut total = 0usize;
            loop {
                let d = decoder.decode(input).expect("valid chunked body");
                total += d.data.len();
                input = &input[d.consumed..];
                if d.done {
                    break;
                }
            }
            assert_eq!(total, 64 * 1024);
            total
        })
    });
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let server_headers = ServerHeaders::new(Some(b"peregrine"));
    let mut headers = ResponseHeaders::default();
    headers.set("content-type", b"text/plain").unwrap();
    let mut out = Vec::with_capacity(512);
    let mut group = c.benchmark_group("encode");
    group.bench_function("plaintext_head", |b| {
        b.iter(|| {
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
            out.len()
        })
    });
    group.finish();
}

fn bench_date(c: &mut Criterion) {
    let mut group = c.benchmark_group("date");
    let mut cache = DateCache::new();
    let now = SystemTime::now();
    cache.update(now);
    // The common case: called on every heartbeat, same second, nothing to do.
    group.bench_function("update_same_second", |b| {
        b.iter(|| cache.update(black_box(now)))
    });
    // Once a second: the value is reformatted.
    let mut t = now;
    group.bench_function("update_new_second", |b| {
        b.iter(|| {
            t += Duration::from_secs(1);
            cache.update(black_box(t))
        })
    });
    group.finish();
}

fn bench_serve(c: &mut Criterion) {
    let one = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
    let batch: Vec<u8> = one.repeat(16);
    let limits = peregrine::Limits::default();
    let out = peregrine::testing::serve_bytes(&peregrine::demo::DemoApp, limits.clone(), &[&batch]);
    let responses = out.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count();
    assert_eq!(responses, 16, "{}", String::from_utf8_lossy(&out));
    let mut group = c.benchmark_group("serve_bytes");
    // Per request: divide the time by 16 (criterion shows elements/s).
    group.throughput(Throughput::Elements(16));
    group.bench_function("plaintext_16_pipelined", |b| {
        b.iter_batched(
            || limits.clone(),
            |limits| {
                peregrine::testing::serve_bytes(
                    &peregrine::demo::DemoApp,
                    limits,
                    &[black_box(&batch)],
                )
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_chunked,
    bench_encode,
    bench_date,
    bench_serve
);
criterion_main!(benches);
