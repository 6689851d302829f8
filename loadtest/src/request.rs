//! Request encoding: the bytes of each URL's request are built once, before the run.

use crate::url::Url;

/// Encodes one complete HTTP/1.1 request.
///
/// Adds `Host` (from the URL's authority) unless `headers` has one, and `Content-Length`
/// when there is a body and `headers` has none. Header names are compared ASCII
/// case-insensitively.
pub fn encode(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = Vec::with_capacity(64 + url.path.len() + body.map_or(0, <[u8]>::len));
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(url.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if !has("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(url.authority.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(body) = body {
        if !has("content-length") {
            out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_get() {
        let url = Url::parse("http://127.0.0.1:8099/x?y").unwrap();
        assert_eq!(
            encode("GET", &url, &[], None),
            b"GET /x?y HTTP/1.1\r\nHost: 127.0.0.1:8099\r\n\r\n"
        );
    }

    #[test]
    fn headers_and_body() {
        let url = Url::parse("http://h/").unwrap();
        let headers = vec![("X-A".to_string(), "1".to_string())];
        assert_eq!(
            encode("POST", &url, &headers, Some(b"hello")),
            b"POST / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello".to_vec()
        );
    }

    #[test]
    fn user_host_and_length_win() {
        let url = Url::parse("http://h/").unwrap();
        let headers = vec![
            ("host".to_string(), "other".to_string()),
            ("content-length".to_string(), "2".to_string()),
        ];
        assert_eq!(
            encode("PUT", &url, &headers, Some(b"ab")),
            b"PUT / HTTP/1.1\r\nhost: other\r\ncontent-length: 2\r\n\r\nab".to_vec()
        );
    }
}
