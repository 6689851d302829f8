//! Connection-level decisions that span request and response.

use super::RequestHead;

/// Whether the connection stays open after the response to `request`
/// (RFC 9112 9.3): only if the client asked for persistence (see
/// [`RequestHead::keep_alive`]) and the server side did not ask to close
/// (the application set `Connection: close`, the server is draining, or the
/// request body was not fully read).
pub fn response_keep_alive(request: &RequestHead, response_close_requested: bool) -> bool {
    request.keep_alive && !response_close_requested
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::h1::{HeadLimits, HeadParser, ParseStatus};

    #[test]
    fn keep_alive_needs_both_sides() {
        let parser = HeadParser::default();
        let mut head = RequestHead::new(&HeadLimits::default());
        for (buf, close, expected) in [
            (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..], false, true),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true, false),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                false,
                false,
            ),
            (b"GET / HTTP/1.0\r\n\r\n", false, false),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                false,
                true,
            ),
        ] {
            assert!(matches!(
                parser.parse(buf, &mut head),
                Ok(ParseStatus::Complete(_))
            ));
            assert_eq!(response_keep_alive(&head, close), expected);
        }
    }
}
