//! Connection-level decisions that span request and response.
//!
//! [`decide_response`] is the one place where a server decides how a
//! response is framed on the wire and whether the connection stays open
//! after it: the protocol object gathers what it knows into
//! [`ResponseParts`] when it commits a response head, and encodes the head
//! with the [`ResponseDecision`] it gets back.

use super::{status_allows_body, Method, RequestHead, ResponseFraming, Version};

/// What the server knows about a response when it commits the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseParts {
    /// The final status (or `101` for a protocol switch).
    pub status: u16,
    /// The `Content-Length` the application set, if it set a valid one.
    pub declared_length: Option<u64>,
    /// `Some(n)`: the whole body is known when the head is written (`n`
    /// bytes; for HEAD, the bytes a GET would have had). `None`: the head
    /// goes out before the body is complete (the application flushed).
    pub complete_body: Option<u64>,
    /// The application asked to close (its own `Connection: close`).
    pub close_requested: bool,
    /// The server is draining: no new request is taken on this connection.
    pub draining: bool,
    /// The request body will not be read to its end (it broke its framing
    /// or limit, is too large to read and discard, or its client waits for
    /// a `100 Continue` that was never sent): the next request's start
    /// cannot be found.
    pub request_body_lost: bool,
}

/// How a response is framed and whether the connection persists after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseDecision {
    /// The framing to encode the head and body with.
    pub framing: ResponseFraming,
    /// Whether the connection stays open for another request (the head
    /// says `Connection: close` when not).
    pub keep_alive: bool,
}

impl ResponseDecision {
    /// The answer to a request that was rejected before a head could be
    /// trusted (a malformed head, a timeout): an empty body, then close.
    pub const REJECTION: ResponseDecision = ResponseDecision {
        framing: ResponseFraming::Length(0),
        keep_alive: false,
    };
}

/// Decides the framing of the response to `request` and whether the
/// connection stays open after it.
///
/// Framing (RFC 9112 6.3, RFC 9110 6.4.1):
///
/// * 1xx, 204 and 304 responses have no body, whatever was declared or
///   written (6.3 item 1; a 304 keeps no length here either);
/// * a `Content-Length` the application declared frames the body (for HEAD
///   it is the length a GET would have had, RFC 9110 9.3.2);
/// * a complete body is framed by its length (for HEAD, the length that was
///   counted and not sent);
/// * a streamed response to HEAD has no body to frame (6.3 item 1);
/// * a streamed response to HTTP/1.1 is chunked (6.3 item 4); an HTTP/1.0
///   client cannot decode chunked (RFC 9112 6.1), so the body is delimited
///   by closing the connection (6.3 item 8).
///
/// Persistence (RFC 9112 9.3): the connection stays open only if the
/// client asked for it ([`RequestHead::keep_alive`]: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`), and
/// neither the application (its `Connection: close`) nor the server
/// (draining) asked to close, the request body will be consumed so the
/// next request can be found, the body is not delimited by the close, and
/// the response does not switch protocols (`101`: the connection stops
/// being HTTP/1.1).
pub fn decide_response(request: &RequestHead, response: &ResponseParts) -> ResponseDecision {
    let framing = if !status_allows_body(response.status) {
        ResponseFraming::NoBody
    } else if let Some(n) = response.declared_length {
        ResponseFraming::Length(n)
    } else if let Some(n) = response.complete_body {
        ResponseFraming::Length(n)
    } else if request.method == Method::Head {
        ResponseFraming::NoBody
    } else if request.version == Version::Http11 {
        ResponseFraming::Chunked
    } else {
        ResponseFraming::NoBody
    };
    let close_delimited = framing == ResponseFraming::NoBody
        && status_allows_body(response.status)
        && request.method != Method::Head;
    let keep_alive = request.keep_alive
        && !response.close_requested
        && !response.draining
        && !response.request_body_lost
        && !close_delimited
        && response.status != 101;
    ResponseDecision {
        framing,
        keep_alive,
    }
}

/// Whether a `Connection` header value (a comma-separated list of
/// case-insensitive tokens, RFC 9110 7.6.1) contains `close`.
pub fn connection_has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::h1::{HeadLimits, HeadParser, ParseStatus};
    use ResponseFraming::{Chunked, Length, NoBody};

    const GET11: &str = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const HEAD11: &str = "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
    const CLOSE11: &str = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const GET10: &str = "GET / HTTP/1.0\r\n\r\n";
    const KA10: &str = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    const HEAD10KA: &str = "HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";

    /// A complete 200 response of `n` bytes, nothing asking to close.
    fn complete(n: u64) -> ResponseParts {
        ResponseParts {
            status: 200,
            declared_length: None,
            complete_body: Some(n),
            close_requested: false,
            draining: false,
            request_body_lost: false,
        }
    }

    /// A 200 response whose head goes out before its body is complete.
    fn streamed() -> ResponseParts {
        ResponseParts {
            complete_body: None,
            ..complete(0)
        }
    }

    fn with_status(status: u16, r: ResponseParts) -> ResponseParts {
        ResponseParts { status, ..r }
    }

    fn decide(request: &str, response: &ResponseParts) -> ResponseDecision {
        let parser = HeadParser::default();
        let mut head = RequestHead::new(&HeadLimits::default());
        let parsed = parser.parse(request.as_bytes(), &mut head);
        assert!(matches!(parsed, Ok(ParseStatus::Complete(_))), "{request}");
        decide_response(&head, response)
    }

    #[test]
    fn decision_table() {
        let declared = |n, r: ResponseParts| ResponseParts {
            declared_length: Some(n),
            ..r
        };
        let close = ResponseParts {
            close_requested: true,
            ..complete(5)
        };
        let draining = ResponseParts {
            draining: true,
            ..complete(5)
        };
        let lost = ResponseParts {
            request_body_lost: true,
            ..complete(5)
        };
        #[rustfmt::skip]
        let table: &[(&str, &str, ResponseParts, ResponseFraming, bool)] = &[
            // RFC 9112 6.3 item 6 / RFC 9110 8.6: a known body is framed by its length.
            ("complete body", GET11, complete(5), Length(5), true),
            ("empty body keeps a length", GET11, complete(0), Length(0), true),
            // RFC 9110 8.6: the application's Content-Length frames the body.
            ("declared length", GET11, declared(9, streamed()), Length(9), true),
            ("declared length wins", GET11, declared(9, complete(9)), Length(9), true),
            // RFC 9112 6.3 item 4 with 7.1: streamed to HTTP/1.1 is chunked.
            ("streamed, 1.1", GET11, streamed(), Chunked, true),
            // RFC 9112 6.1 / 6.3 item 8: HTTP/1.0 has no chunked; the close ends the body.
            ("streamed, 1.0 keep-alive", KA10, streamed(), NoBody, false),
            ("streamed, 1.0", GET10, streamed(), NoBody, false),
            ("declared length, 1.0 keep-alive", KA10, declared(3, streamed()), Length(3), true),
            // RFC 9112 6.3 item 1, RFC 9110 9.3.2: HEAD has no body but may carry the length.
            ("HEAD, complete", HEAD11, complete(13), Length(13), true),
            ("HEAD, declared", HEAD11, declared(99, complete(0)), Length(99), true),
            ("HEAD, streamed", HEAD11, streamed(), NoBody, true),
            ("HEAD, streamed, 1.0 keep-alive", HEAD10KA, streamed(), NoBody, true),
            // RFC 9112 6.3 item 1 / RFC 9110 6.4.1: 1xx, 204 and 304 have no body.
            ("204", GET11, with_status(204, complete(5)), NoBody, true),
            ("304", GET11, with_status(304, declared(5, complete(0))), NoBody, true),
            ("204 streamed, 1.0 keep-alive", KA10, with_status(204, streamed()), NoBody, true),
            ("103", GET11, with_status(103, complete(0)), NoBody, true),
            // RFC 9110 7.8 / 15.2.2: after 101 the connection is no longer HTTP/1.1.
            ("101 upgrade", GET11, with_status(101, complete(0)), NoBody, false),
            // RFC 9112 9.3: persistence is what the client asked for...
            ("1.1 default", GET11, complete(5), Length(5), true),
            ("1.1 close", CLOSE11, complete(5), Length(5), false),
            ("1.0 default", GET10, complete(5), Length(5), false),
            ("1.0 keep-alive", KA10, complete(5), Length(5), true),
            // ...unless the server side closes: the application, a drain, a lost body.
            ("application close", GET11, close, Length(5), false),
            ("application close, 1.0 keep-alive", KA10, close, Length(5), false),
            ("draining", GET11, draining, Length(5), false),
            ("draining, 1.0 keep-alive", KA10, draining, Length(5), false),
            ("request body lost", GET11, lost, Length(5), false),
            ("request body lost, streamed", GET11, ResponseParts { request_body_lost: true, ..streamed() }, Chunked, false),
            ("error status keeps alive", GET11, with_status(500, complete(0)), Length(0), true),
        ];
        for (name, request, response, framing, keep_alive) in table {
            let got = decide(request, response);
            assert_eq!(
                got,
                ResponseDecision {
                    framing: *framing,
                    keep_alive: *keep_alive
                },
                "{name}"
            );
        }
    }

    #[test]
    fn no_body_framing_never_keeps_a_close_delimited_body_alive() {
        // Whatever the inputs, a response whose body is delimited by the close
        // (NoBody on a status and method that have a body) never persists.
        for request in [GET11, HEAD11, CLOSE11, GET10, KA10, HEAD10KA] {
            for status in [100, 101, 200, 204, 206, 304, 404, 500] {
                for declared_length in [None, Some(0), Some(7)] {
                    for complete_body in [None, Some(0), Some(7)] {
                        for flags in 0..8u8 {
                            let parts = ResponseParts {
                                status,
                                declared_length,
                                complete_body,
                                close_requested: flags & 1 != 0,
                                draining: flags & 2 != 0,
                                request_body_lost: flags & 4 != 0,
                            };
                            let d = decide(request, &parts);
                            let delimited_by_close = d.framing == NoBody
                                && status_allows_body(status)
                                && !request.starts_with("HEAD");
                            assert!(!(delimited_by_close && d.keep_alive), "{request} {parts:?}");
                            if flags != 0 {
                                assert!(!d.keep_alive, "{request} {parts:?}");
                            }
                            if d.framing == Chunked {
                                assert!(!request.contains("HTTP/1.0"), "{request} {parts:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn connection_close_tokens() {
        assert!(connection_has_close(b"close"));
        assert!(connection_has_close(b"Close"));
        assert!(connection_has_close(b"upgrade, close"));
        assert!(connection_has_close(b" keep-alive ,CLOSE "));
        assert!(!connection_has_close(b"keep-alive"));
        assert!(!connection_has_close(b"closed"));
        assert!(!connection_has_close(b""));
    }
}
