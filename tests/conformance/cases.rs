//! The conformance cases: one rule each, with the statuses RFC 9110 / RFC 9112 allow.
//!
//! Where the RFC lets a server choose (MAY reject or repair, SHOULD), the expected set lists
//! every conforming answer and `.peregrine(..)` records the one peregrine chose. Targets are
//! `/` for GET and HEAD and `/echo` for POST, so that any server with those two locations can
//! run the suite. [`NO_RESPONSE`] in a set means closing without an answer is conforming.

use super::{Case, NO_RESPONSE};

const HOST: &str = "Host: localhost\r\n";
const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

fn get_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\n{headers}\r\n").into_bytes()
}

fn post_with(headers: &str, body: &str) -> Vec<u8> {
    format!("POST /echo HTTP/1.1\r\n{headers}\r\n{body}").into_bytes()
}

/// Every case, in the order of the tables in `docs/conformance.md`.
pub fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    valid(&mut v);
    syntax(&mut v);
    host(&mut v);
    framing(&mut v);
    chunked(&mut v);
    versions_and_targets(&mut v);
    limits(&mut v);
    line_terminators(&mut v);
    chunk_extensions_and_trailers(&mut v);
    body_limit(&mut v);
    v
}

fn valid(v: &mut Vec<Case>) {
    v.push(
        Case::new(
            "get",
            "a plain GET is answered and kept alive (RFC 9112 9.3)",
        )
        .send(GET)
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new("head", "HEAD: no body after the head (RFC 9110 9.3.2)")
            .send(format!("HEAD / HTTP/1.1\r\n{HOST}\r\n"))
            .expect(&[200])
            .head()
            .stays_open(),
    );
    v.push(
        Case::new(
            "post_content_length",
            "body framed by Content-Length (RFC 9112 6.2)",
        )
        .send(post_with(&format!("{HOST}Content-Length: 5\r\n"), "hello"))
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "post_chunked",
            "chunked body with extensions and trailer (RFC 9112 7.1)",
        )
        .send(post_with(
            &format!("{HOST}Transfer-Encoding: chunked\r\n"),
            "5;ext=1\r\nhello\r\n6;q=\"a b\"\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        ))
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "post_chunked_split",
            "chunked body split inside the size, data and CRLFs (RFC 9112 7.1)",
        )
        .send(post_with(
            &format!("{HOST}Transfer-Encoding: chunked\r\n"),
            "",
        ))
        .send("1")
        .send("0\r")
        .send("\n0123456789abc")
        .send("def\r")
        .send("\n0\r\n")
        .send("\r\n")
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "head_split",
            "a head split across many reads (RFC 9112 2.1)",
        )
        .send("GE")
        .send("T / HT")
        .send("TP/1.1\r")
        .send("\nHo")
        .send("st: localhost\r\n")
        .send("\r")
        .send("\n")
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "pipelined",
            "pipelined requests answered in order (RFC 9112 9.3.2)",
        )
        .send([GET, GET, GET].concat())
        .expect(&[200])
        .expect(&[200])
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "pipelined_after_body",
            "a request right after a Content-Length body (RFC 9112 9.3.2)",
        )
        .send(
            [
                post_with(&format!("{HOST}Content-Length: 5\r\n"), "hello").as_slice(),
                GET,
            ]
            .concat(),
        )
        .expect(&[200])
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "get_with_body",
            "a GET with a Content-Length body is framed like any other (RFC 9112 6.3)",
        )
        .send(
            [
                get_with(&format!("{HOST}Content-Length: 3\r\n")).as_slice(),
                b"abc",
                GET,
            ]
            .concat(),
        )
        .expect(&[200])
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "connection_close",
            "Connection: close ends the exchange (RFC 9112 9.6)",
        )
        .send(
            [
                get_with(&format!("{HOST}Connection: close\r\n")).as_slice(),
                GET,
            ]
            .concat(),
        )
        .expect(&[200])
        .closes(),
    );
    v.push(
        Case::new(
            "http10",
            "HTTP/1.0 without keep-alive closes (RFC 9112 9.3)",
        )
        .send("GET / HTTP/1.0\r\n\r\n")
        .expect(&[200])
        .closes(),
    );
    v.push(
        Case::new(
            "http10_keep_alive",
            "HTTP/1.0 with Connection: keep-alive may persist (RFC 9112 C.2.2)",
        )
        .send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .expect(&[200]),
    );
    v.push(
        Case::new(
            "expect_continue",
            "Expect: 100-continue, body after a pause (RFC 9110 10.1.1)",
        )
        .send(post_with(
            &format!("{HOST}Expect: 100-continue\r\nContent-Length: 5\r\n"),
            "",
        ))
        .send("hello")
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "expect_unread_body",
            "Expect: 100-continue answered without reading the body: the response says whether the connection closes (RFC 9110 10.1.1 SHOULD)",
        )
        .send(get_with(&format!(
            "{HOST}Expect: 100-continue\r\nContent-Length: 5\r\n"
        )))
        .send("hello")
        .expect(&[200]),
    );
    v.push(
        Case::new(
            "large_unread_body",
            "a large body the server does not read: it says if it closes (RFC 9112 9.6 SHOULD)",
        )
        .send(get_with(&format!("{HOST}Content-Length: 1000000\r\n")))
        .send("hello")
        .expect(&[200, 413])
        .peregrine(&[200]),
    );
    v.push(
        Case::new(
            "expect_http10_ignored",
            "Expect: 100-continue in HTTP/1.0 is ignored (RFC 9110 10.1.1)",
        )
        .send("POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
        .expect(&[200])
        .closes(),
    );
    v.push(
        Case::new(
            "leading_empty_line",
            "an empty line before the request line is ignored (RFC 9112 2.2 SHOULD)",
        )
        .send([&b"\r\n"[..], GET].concat())
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "bare_lf_head",
            "bare LF line endings in the head (RFC 9112 2.2 MAY accept)",
        )
        .send("GET / HTTP/1.1\nHost: localhost\n\n")
        .expect(&[200, 400])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "duplicate_same_content_length",
            "two identical Content-Length lines (RFC 9110 8.6 MAY accept)",
        )
        .send(post_with(
            &format!("{HOST}Content-Length: 5\r\nContent-Length: 5\r\n"),
            "hello",
        ))
        .expect(&[200, 400])
        .closes_on_error()
        .peregrine(&[200]),
    );
}

fn syntax(v: &mut Vec<Case>) {
    v.push(
        Case::new(
            "obs_fold",
            "obs-fold: reject or replace with SP (RFC 9112 5.2 MUST)",
        )
        .send(get_with(&format!("{HOST}X-Folded: a\r\n b\r\n")))
        .expect(&[400, 200])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "space_before_colon",
            "whitespace between field name and colon (RFC 9112 5.1 MUST 400)",
        )
        .send("GET / HTTP/1.1\r\nHost : localhost\r\n\r\n")
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "invalid_name_char",
            "a field name that is not a token (RFC 9110 5.1; RFC 9112 2.2 SHOULD 400)",
        )
        .send(get_with(&format!("{HOST}X(Bad): 1\r\n")))
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "empty_name",
            "an empty field name (RFC 9112 2.2 SHOULD 400)",
        )
        .send(get_with(&format!("{HOST}: empty\r\n")))
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "no_colon",
            "a field line without a colon (RFC 9112 2.2 SHOULD 400)",
        )
        .send(get_with(&format!("{HOST}NoColon\r\n")))
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "whitespace_before_first_field",
            "whitespace-preceded line after the request line (RFC 9112 2.2 MUST reject or ignore)",
        )
        .send(format!("GET / HTTP/1.1\r\n X: y\r\n{HOST}\r\n"))
        .expect(&[400, 200])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "bare_cr_in_value",
            "bare CR in a field value: invalid or replaced by SP (RFC 9112 2.2 MUST)",
        )
        .send(get_with(&format!("{HOST}X: a\rb\r\n")))
        .expect(&[400, 200])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "bare_cr_line_ending",
            "bare CR as a line terminator (RFC 9112 2.2 MUST invalid)",
        )
        .send("GET / HTTP/1.1\rHost: localhost\r\r\n")
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "nul_in_value",
            "NUL in a field value: reject or replace by SP (RFC 9110 5.5 MUST)",
        )
        .send(get_with(&format!("{HOST}X: a\0b\r\n")))
        .expect(&[400, 200])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "invalid_method",
            "a method that is not a token (RFC 9112 3; 2.2 SHOULD 400)",
        )
        .send(format!("G(T / HTTP/1.1\r\n{HOST}\r\n"))
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "double_space_request_line",
            "two spaces between method and target (RFC 9112 3 MAY parse on whitespace)",
        )
        .send(format!("GET  / HTTP/1.1\r\n{HOST}\r\n"))
        .expect(&[400, 200])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "rejected_then_pipelined",
            "nothing after a rejected head is answered: one 400, then close (RFC 9112 2.2)",
        )
        .send([&b"GET / HTTP/1.1\r\nHost : localhost\r\n\r\n"[..], GET].concat())
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "control_in_target",
            "a control byte in the request-target (RFC 9112 3.2)",
        )
        .send(format!("GET /a\x01b HTTP/1.1\r\n{HOST}\r\n"))
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "incomplete_head_eof",
            "the client ends the stream inside a head (RFC 9112 8: no answer needed)",
        )
        .send("GET / HTTP/1.1\r\nHost: loc")
        .eof()
        .expect(&[NO_RESPONSE, 400])
        .closes()
        .peregrine(&[NO_RESPONSE]),
    );
}

fn host(v: &mut Vec<Case>) {
    v.push(
        Case::new(
            "missing_host",
            "HTTP/1.1 without Host (RFC 9112 3.2 MUST 400)",
        )
        .send("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new("duplicate_host", "two Host lines (RFC 9112 3.2 MUST 400)")
            .send(get_with(&format!("{HOST}Host: other\r\n")))
            .expect(&[400])
            .closes_on_error(),
    );
    v.push(
        Case::new(
            "invalid_host",
            "a Host that is not uri-host[:port] (RFC 9112 3.2 MUST 400)",
        )
        .send("GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n")
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new("http10_no_host", "HTTP/1.0 needs no Host (RFC 9112 3.2)")
            .send("GET / HTTP/1.0\r\n\r\n")
            .expect(&[200])
            .closes(),
    );
}

fn framing(v: &mut Vec<Case>) {
    v.push(
        Case::new(
            "cl_invalid",
            "a non-numeric Content-Length (RFC 9112 6.3 item 5 MUST 400 and close)",
        )
        .send(post_with(&format!("{HOST}Content-Length: abc\r\n"), ""))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "cl_signed",
            "a signed Content-Length (RFC 9112 6.3 item 5 MUST 400 and close)",
        )
        .send(post_with(&format!("{HOST}Content-Length: +5\r\n"), "hello"))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "cl_negative",
            "a negative Content-Length (RFC 9112 6.3 item 5 MUST 400 and close)",
        )
        .send(post_with(&format!("{HOST}Content-Length: -1\r\n"), ""))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "cl_overflow",
            "a Content-Length beyond 2^64 (RFC 9112 6.3 item 5 MUST 400 and close)",
        )
        .send(post_with(
            &format!("{HOST}Content-Length: 99999999999999999999\r\n"),
            "",
        ))
        .expect(&[400, 413])
        .closes()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "cl_list",
            "Content-Length: 5, 5 (RFC 9110 8.6 MAY reject or collapse)",
        )
        .send(post_with(
            &format!("{HOST}Content-Length: 5, 5\r\n"),
            "hello",
        ))
        .expect(&[400, 200])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "cl_differing",
            "two different Content-Length values (RFC 9112 6.3 item 5 MUST 400 and close)",
        )
        .send(post_with(
            &format!("{HOST}Content-Length: 5\r\nContent-Length: 6\r\n"),
            "hello!",
        ))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "cl_te_smuggle",
            "CL + TE with a request hidden in the body: no second response, close (RFC 9112 6.1 MUST close)",
        )
        .send(post_with(
            &format!("{HOST}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
            "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ))
        .expect(&[400, 200])
        .closes()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "te_cl_smuggle",
            "TE + CL, CL covering a hidden request: no second response, close (RFC 9112 6.1 MUST close)",
        )
        .send(post_with(
            &format!("{HOST}Transfer-Encoding: chunked\r\nContent-Length: 48\r\n"),
            "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ))
        .expect(&[400, 200])
        .closes()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "te_unknown_coding",
            "Transfer-Encoding: gzip, chunked, gzip not implemented (RFC 9112 6.1 SHOULD 501)",
        )
        .send(post_with(
            &format!("{HOST}Transfer-Encoding: gzip, chunked\r\n"),
            "0\r\n\r\n",
        ))
        .expect(&[501])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "te_chunked_not_last",
            "Transfer-Encoding: chunked, gzip (RFC 9112 6.3 item 4 MUST 400 and close)",
        )
        .send(post_with(
            &format!("{HOST}Transfer-Encoding: chunked, gzip\r\n"),
            "0\r\n\r\n",
        ))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "te_unknown_only",
            "Transfer-Encoding: identity, no chunked (RFC 9112 6.3 item 4 MUST 400 and close)",
        )
        .send(post_with(
            &format!("{HOST}Transfer-Encoding: identity\r\n"),
            "",
        ))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "te_chunked_twice",
            "Transfer-Encoding: chunked, chunked (RFC 9112 6.1 chunked at most once)",
        )
        .send(post_with(
            &format!("{HOST}Transfer-Encoding: chunked, chunked\r\n"),
            "0\r\n\r\n",
        ))
        .expect(&[400, 501])
        .closes()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "te_in_http10",
            "Transfer-Encoding in HTTP/1.0: faulty framing, close (RFC 9112 6.1 MUST)",
        )
        .send("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "truncated_body_eof",
            "the client ends the stream inside a Content-Length body (RFC 9112 8); 200 if answered before reading it",
        )
        .send(post_with(&format!("{HOST}Content-Length: 10\r\n"), "hello"))
        .eof()
        .expect(&[400, NO_RESPONSE, 200])
        .closes()
        .peregrine(&[400]),
    );
}

fn chunked(v: &mut Vec<Case>) {
    let te = format!("{HOST}Transfer-Encoding: chunked\r\n");
    v.push(
        Case::new(
            "chunk_size_overflow",
            "a chunk size beyond 64 bits (RFC 9112 7.1)",
        )
        .send(post_with(&te, "1ffffffffffffffff\r\nx\r\n0\r\n\r\n"))
        .expect(&[400, 413])
        .closes()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "chunk_size_invalid",
            "a chunk size that is not hex (RFC 9112 7.1)",
        )
        .send(post_with(&te, "xyz\r\nhello\r\n0\r\n\r\n"))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "chunk_size_negative",
            "a negative chunk size (RFC 9112 7.1)",
        )
        .send(post_with(&te, "-5\r\nhello\r\n0\r\n\r\n"))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "chunk_data_overrun",
            "chunk data longer than its size (RFC 9112 7.1)",
        )
        .send(post_with(&te, "5\r\nhelloXX\r\n0\r\n\r\n"))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "chunk_bare_lf",
            "a chunk-size line ending in bare LF (RFC 9112 7.1 requires CRLF)",
        )
        .send(post_with(&te, "5\nhello\r\n0\r\n\r\n"))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "chunk_data_bare_lf",
            "chunk data followed by bare LF (RFC 9112 7.1 requires CRLF)",
        )
        .send(post_with(&te, "5\r\nhello\n0\r\n\r\n"))
        .expect(&[400])
        .closes(),
    );
    v.push(
        Case::new(
            "chunk_space_in_size",
            "whitespace after a chunk size, no extension (RFC 9112 7.1)",
        )
        .send(post_with(&te, "5 \r\nhello\r\n0\r\n\r\n"))
        .expect(&[400, 200])
        .closes_on_error()
        .peregrine(&[400]),
    );
    v.push(
        Case::new(
            "chunked_truncated_eof",
            "the client ends the stream inside a chunked body (RFC 9112 8); 200 if answered before reading it",
        )
        .send(post_with(&te, "5\r\nhel"))
        .eof()
        .expect(&[400, NO_RESPONSE, 200])
        .closes()
        .peregrine(&[400]),
    );
}

fn versions_and_targets(v: &mut Vec<Case>) {
    v.push(
        Case::new(
            "http2_version",
            "HTTP/2.0 on an HTTP/1 connection (RFC 9110 15.6.6 505)",
        )
        .send(format!("GET / HTTP/2.0\r\n{HOST}\r\n"))
        .expect(&[505, 400])
        .closes_on_error()
        .peregrine(&[505]),
    );
    v.push(
        Case::new(
            "http12_version",
            "HTTP/1.2: SHOULD be processed as HTTP/1.1 (RFC 9110 2.5), or 505",
        )
        .send(format!("GET / HTTP/1.2\r\n{HOST}\r\n"))
        .expect(&[200, 505])
        .closes_on_error()
        .peregrine(&[505]),
    );
    v.push(
        Case::new(
            "garbage_version",
            "a version that is not HTTP/d.d (RFC 9112 2.3)",
        )
        .send(format!("GET / HTTP/1.1x\r\n{HOST}\r\n"))
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "unknown_expectation",
            "Expect other than 100-continue (RFC 9110 10.1.1 MAY 417)",
        )
        .send(post_with(
            &format!("{HOST}Expect: 200-ok\r\nContent-Length: 2\r\n"),
            "hi",
        ))
        .expect(&[417, 200])
        .closes_on_error()
        .peregrine(&[417]),
    );
    v.push(
        Case::new(
            "absolute_form",
            "absolute-form target, MUST be accepted; Host ignored (RFC 9112 3.2.2)",
        )
        .send("GET http://localhost/ HTTP/1.1\r\nHost: other.example\r\n\r\n")
        .expect(&[200])
        .stays_open(),
    );
    v.push(
        Case::new(
            "asterisk_form",
            "OPTIONS * is a valid request, not a 400 (RFC 9112 3.2.4)",
        )
        .send(format!("OPTIONS * HTTP/1.1\r\n{HOST}\r\n"))
        .expect(&[200, 204, 404, 405, 501])
        .peregrine(&[404]),
    );
    v.push(
        Case::new(
            "asterisk_with_get",
            "asterisk-form is only for OPTIONS (RFC 9112 3.2.4)",
        )
        .send(format!("GET * HTTP/1.1\r\n{HOST}\r\n"))
        .expect(&[400])
        .closes_on_error(),
    );
    v.push(
        Case::new(
            "authority_form_without_connect",
            "authority-form is only for CONNECT (RFC 9112 3.2.3)",
        )
        .send(format!("GET localhost:80 HTTP/1.1\r\n{HOST}\r\n"))
        .expect(&[400])
        .closes_on_error(),
    );
}

fn limits(v: &mut Vec<Case>) {
    // 8,300 bytes of path: over peregrine's 8 KiB and nginx's default 8 KiB buffer.
    let long_target = format!("GET /{} HTTP/1.1\r\n{HOST}\r\n", "a".repeat(8_300));
    v.push(
        Case::new(
            "request_line_too_long",
            "request line over the limit (RFC 9112 3 MUST 414)",
        )
        .send(long_target)
        .expect(&[414])
        .closes_on_error(),
    );
    let mut many = format!("GET / HTTP/1.1\r\n{HOST}");
    for i in 0..120 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    v.push(
        Case::new(
            "too_many_headers",
            "120 header lines: over a count limit (RFC 6585 431)",
        )
        .send(many)
        .expect(&[431, 200])
        .closes_on_error()
        .peregrine(&[431]),
    );
    let big = get_with(&format!("{HOST}X-Big: {}\r\n", "v".repeat(40 * 1024)));
    v.push(
        Case::new("header_too_large", "one 40 KiB header line (RFC 6585 431)")
            .send(big)
            .expect(&[431, 400])
            .closes_on_error()
            .peregrine(&[431]),
    );
    let mut total = format!("GET / HTTP/1.1\r\n{HOST}");
    for i in 0..5 {
        total.push_str(&format!("X-H{i}: {}\r\n", "v".repeat(7 * 1024)));
    }
    total.push_str("\r\n");
    v.push(
        Case::new(
            "headers_total_too_large",
            "5 x 7 KiB headers, 35 KiB in all (RFC 6585 431)",
        )
        .send(total)
        .expect(&[431, 400])
        .closes_on_error()
        .peregrine(&[431]),
    );
    v.push(
        Case::new(
            "body_too_large",
            "Content-Length over the body limit, no body sent (RFC 9110 15.5.14 413)",
        )
        .send(post_with(
            &format!("{HOST}Content-Length: 30000001\r\n"),
            "",
        ))
        .expect(&[413])
        .closes_on_error(),
    );
}

/// Bare LF, lone CR and control characters anywhere in the head (RFC 9112 2.2, 3, 5).
fn line_terminators(v: &mut Vec<Case>) {
    v.push(
        Case::new(
            "bare_lf_hidden_content_length",
            "a bare LF hides a Content-Length in a field line; accepting it would frame a body a front end does not see (RFC 9112 2.2 MAY accept, 11.2)",
        )
        .send(
            "GET / HTTP/1.1\r\nHost: localhost\r\nDummy: x\nContent-Length: 5\r\n\r\n\
             helloGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
        )
        .expect(&[400])
        .closes(),
    );
    for (name, rule, request) in [
        (
            "bare_lf_request_line",
            "a bare LF ending the request line (RFC 9112 2.2 MAY accept)",
            "GET / HTTP/1.1\nHost: localhost\r\n\r\n",
        ),
        (
            "bare_lf_last_line",
            "a bare LF as the blank line that ends the head (RFC 9112 2.2 MAY accept)",
            "GET / HTTP/1.1\r\nHost: localhost\r\n\n",
        ),
        (
            "bare_lf_empty_value",
            "a bare LF after an empty field value (RFC 9112 2.2 MAY accept)",
            "GET / HTTP/1.1\r\nHost: localhost\r\nX:\nY: 1\r\n\r\n",
        ),
        (
            "bare_lf_leading_empty_line",
            "a bare LF as the empty line before the request line (RFC 9112 2.2 MAY accept)",
            "\nGET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
    ] {
        v.push(
            Case::new(name, rule)
                .send(request)
                .expect(&[200, 400])
                .closes_on_error()
                .peregrine(&[400]),
        );
    }
    for (name, rule, request) in [
        (
            "bare_cr_request_line",
            "a lone CR ending the request line (RFC 9112 2.2 MUST invalid)",
            &b"GET / HTTP/1.1\rHost: localhost\r\n\r\n"[..],
        ),
        (
            "bare_cr_in_target",
            "a CR inside the request-target (RFC 9112 3.2)",
            b"GET /a\rb HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "bare_cr_before_request_line",
            "a lone CR before the request line (RFC 9112 2.2)",
            b"\rGET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "lf_in_target",
            "a LF inside the request line (RFC 9112 3)",
            b"GET /a\nb HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "nul_in_target",
            "NUL in the request-target (RFC 9112 3.2, RFC 3986)",
            b"GET /\0 HTTP/1.1\r\nHost: localhost\r\n\r\n",
        ),
        (
            "nul_in_name",
            "NUL in a field name (RFC 9110 5.1: a token)",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nX\0: 1\r\n\r\n",
        ),
        (
            "del_in_value",
            "DEL in a field value (RFC 9110 5.5: not a field-vchar)",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nX: 1\x7f\r\n\r\n",
        ),
        (
            "obs_fold_after_bare_lf",
            "obs-fold after a bare LF (RFC 9112 5.2)",
            b"GET / HTTP/1.1\r\nHost: localhost\r\nX: a\n\tb\r\n\r\n",
        ),
    ] {
        v.push(Case::new(name, rule).send(request).expect(&[400]).closes());
    }
}

/// The chunk extension grammar (RFC 9112 7.1.1) and trailer field lines (7.1.2).
fn chunk_extensions_and_trailers(v: &mut Vec<Case>) {
    let te = format!("{HOST}Transfer-Encoding: chunked\r\n");
    v.push(
        Case::new(
            "chunk_ext_full_grammar",
            "chunk extensions with BWS, token and quoted-string values, quoted-pairs (RFC 9112 7.1.1)",
        )
        .send(post_with(
            &te,
            "2 ; a = b;c=\"q \\\" x\";d\r\nhi\r\n0;e\r\nX-T: 1\r\n\r\n",
        ))
        .expect(&[200])
        .stays_open(),
    );
    for (name, rule, body) in [
        (
            "chunk_ext_empty",
            "`;` with no extension name (RFC 9112 7.1.1: chunk-ext-name = token)",
            "2;\r\naa\r\n0\r\n\r\n",
        ),
        (
            "chunk_ext_empty_value",
            "`=` with no value (RFC 9112 7.1.1)",
            "2;a=\r\naa\r\n0\r\n\r\n",
        ),
        (
            "chunk_ext_bad_char",
            "a byte outside a token in an extension name (RFC 9112 7.1.1)",
            "2;a(b)\r\naa\r\n0\r\n\r\n",
        ),
        (
            "chunk_ext_unterminated_quote",
            "a quoted-string value that never closes (RFC 9110 5.6.4)",
            "2;a=\"b\r\naa\r\n0\r\n\r\n",
        ),
        (
            "chunk_ext_trailing_space",
            "whitespace between an extension and CRLF (RFC 9112 7.1.1)",
            "2;a=b \r\naa\r\n0\r\n\r\n",
        ),
        (
            "chunk_ext_bare_lf",
            "a chunk line with an extension ending in a bare LF (RFC 9112 7.1)",
            "2;a\naa\r\n0\r\n\r\n",
        ),
        (
            "trailer_no_colon",
            "a trailer line without a colon (RFC 9112 7.1.2, 5)",
            "0\r\nX\r\n\r\n",
        ),
        (
            "trailer_space_before_colon",
            "whitespace between a trailer name and its colon (RFC 9112 5.1 MUST 400)",
            "0\r\nX : y\r\n\r\n",
        ),
        (
            "trailer_obs_fold",
            "obs-fold in the trailer section (RFC 9112 5.2)",
            "0\r\nX: y\r\n z\r\n\r\n",
        ),
        (
            "trailer_bare_cr",
            "a lone CR in a trailer value (RFC 9112 2.2 MUST invalid)",
            "0\r\nX: y\rz\r\n\r\n",
        ),
    ] {
        v.push(
            Case::new(name, rule)
                .send(post_with(&te, body))
                .expect(&[400])
                .closes(),
        );
    }
    v.push(
        Case::new(
            "trailer_bare_lf",
            "a trailer line ending in a bare LF (RFC 9112 2.2 MAY accept)",
        )
        .send(post_with(&te, "1\r\na\r\n0\r\nX: y\n\r\n"))
        .expect(&[200, 400])
        .closes_on_error()
        .peregrine(&[400]),
    );
}

/// A body over the limit is refused as soon as its framing announces it (RFC 9110 15.5.14).
fn body_limit(v: &mut Vec<Case>) {
    let te = format!("{HOST}Transfer-Encoding: chunked\r\n");
    v.push(
        Case::new(
            "chunk_size_over_body_limit",
            "a first chunk that declares 1 TB against a 30 MB body limit: 413 at once, not a timeout (RFC 9110 15.5.14)",
        )
        .send(post_with(&te, "E8D4A51000\r\naa"))
        .expect(&[413])
        .closes(),
    );
    v.push(
        Case::new(
            "chunk_size_over_remaining_allowance",
            "a chunk within the limit alone but over what the body may still add: 413 at once (RFC 9110 15.5.14)",
        )
        .send(post_with(&te, &format!("1\r\na\r\n{:X}\r\n", 30_000_000)))
        .expect(&[413])
        .closes(),
    );
    v.push(
        Case::new(
            "content_length_over_body_limit",
            "a Content-Length of 1 TB against a 30 MB body limit: 413 at once (RFC 9110 15.5.14)",
        )
        .send(post_with(
            &format!("{HOST}Content-Length: 1000000000000\r\n"),
            "",
        ))
        .expect(&[413])
        .closes(),
    );
}
