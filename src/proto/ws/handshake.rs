//! The opening handshake (RFC 6455 4.2, RFC 7692 5 and 7.1): validate an
//! upgrade request, choose a subprotocol, negotiate permessage-deflate, and
//! compute `Sec-WebSocket-Accept`; or reject it with a named reason and its
//! status.

use base64::Engine as _;

use super::deflate::DeflateParams;

/// The GUID RFC 6455 appends to the client's key.
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// What the handshake needs from the request: its method, its HTTP version,
/// and its header fields in order (names in any case; a field that repeats
/// is read as one comma-separated list, RFC 9110 5.3).
#[derive(Debug, Clone, Copy)]
pub struct HandshakeRequest<'a> {
    /// The request method.
    pub method: &'a [u8],
    /// The minor version of HTTP/1.x (1 for HTTP/1.1).
    pub http_minor_version: u8,
    /// The header fields.
    pub headers: &'a [(&'a [u8], &'a [u8])],
}

/// The server's side of the negotiation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// Subprotocols the server speaks, in its order of preference; the
    /// first one the client also offers is chosen. Empty: none is chosen
    /// (and a client offering some gets no `Sec-WebSocket-Protocol`, as RFC
    /// 6455 allows; the client decides whether to go on).
    pub protocols: Vec<String>,
    /// Origins allowed, compared case-insensitively with the `Origin`
    /// field (`scheme://host[:port]`); `None` allows any. As Kestrel's
    /// `WebSocketOptions.AllowedOrigins`, a request without `Origin` (not
    /// a browser) is not refused by the list.
    pub allowed_origins: Option<Vec<String>>,
    /// Accept permessage-deflate when the client offers it.
    pub permessage_deflate: bool,
    /// Ask the client not to keep its compression context between messages
    /// (`client_no_context_takeover`): saves the 32 KiB inflate window
    /// between messages at some cost in ratio.
    pub request_client_no_context_takeover: bool,
}

/// A valid upgrade: what the `101 Switching Protocols` response carries and
/// what the connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)); empty over HTTP/2
    /// ([`accept_extended_connect`]), which has no key (RFC 8441 5).
    pub accept_key: String,
    /// The chosen subprotocol (`Sec-WebSocket-Protocol`), if any.
    pub protocol: Option<String>,
    /// The negotiated permessage-deflate parameters, if any.
    pub deflate: Option<DeflateParams>,
}

impl Accepted {
    /// The response's header fields after the status line: `Upgrade`,
    /// `Connection`, `Sec-WebSocket-Accept`, and, when negotiated,
    /// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions`.
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("Upgrade", "websocket".to_string()),
            ("Connection", "Upgrade".to_string()),
            ("Sec-WebSocket-Accept", self.accept_key.clone()),
        ];
        h.extend(self.negotiated_headers());
        h
    }

    /// What was negotiated, as header fields: `Sec-WebSocket-Protocol` and
    /// `Sec-WebSocket-Extensions` when chosen. The whole of the `200` answer
    /// to an extended CONNECT (RFC 8441 5: no `Upgrade`, `Connection` or
    /// `Sec-WebSocket-Accept`).
    pub fn negotiated_headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let Some(p) = &self.protocol {
            h.push(("Sec-WebSocket-Protocol", p.clone()));
        }
        if let Some(d) = &self.deflate {
            h.push(("Sec-WebSocket-Extensions", d.response_value()));
        }
        h
    }
}

/// Why an upgrade request was refused, each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The method is not GET (RFC 6455 4.1).
    MethodNotGet,
    /// Below HTTP/1.1.
    HttpVersion,
    /// No `Upgrade: websocket` token: the client did not ask for a
    /// WebSocket (426, with `Upgrade: websocket`).
    NotWebSocketUpgrade,
    /// `Connection` lacks the `upgrade` token.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, or not 16 bytes in base64.
    BadKey,
    /// `Sec-WebSocket-Version` is missing or not 13 (426, with
    /// `Sec-WebSocket-Version: 13`, RFC 6455 4.4).
    UnsupportedVersion,
    /// `Origin` is not in the allow list.
    OriginNotAllowed,
}

impl Rejection {
    /// The response status.
    pub fn status(self) -> u16 {
        match self {
            Rejection::NotWebSocketUpgrade | Rejection::UnsupportedVersion => 426,
            Rejection::OriginNotAllowed => 403,
            Rejection::MethodNotGet
            | Rejection::HttpVersion
            | Rejection::MissingConnectionUpgrade
            | Rejection::BadKey => 400,
        }
    }

    /// Header fields the rejection must carry.
    pub fn response_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Rejection::UnsupportedVersion => &[("Sec-WebSocket-Version", "13")],
            Rejection::NotWebSocketUpgrade => {
                &[("Upgrade", "websocket"), ("Connection", "Upgrade")]
            }
            _ => &[],
        }
    }

    /// The status over HTTP/2 (RFC 8441): as [`status`](Self::status), but
    /// `400` for `426`, which asks for an `Upgrade` that HTTP/2 does not have
    /// (RFC 9113 8.6).
    pub fn h2_status(self) -> u16 {
        match self.status() {
            426 => 400,
            s => s,
        }
    }

    /// Header fields the rejection carries over HTTP/2: `Sec-WebSocket-Version:
    /// 13` for a wrong version, no connection-specific fields.
    pub fn h2_response_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Rejection::UnsupportedVersion => &[("Sec-WebSocket-Version", "13")],
            _ => &[],
        }
    }
}

/// The comma-separated elements of every field named `name`, trimmed,
/// empty ones skipped.
fn list<'a>(req: &HandshakeRequest<'a>, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    let headers = req.headers;
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .flat_map(|(_, v)| v.split(|&b| b == b','))
        .map(|e| e.trim_ascii())
        .filter(|e| !e.is_empty())
}

fn single<'a>(req: &HandshakeRequest<'a>, name: &str) -> Result<Option<&'a [u8]>, ()> {
    let mut it = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()));
    let first = it.next().map(|(_, v)| v.trim_ascii());
    if it.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// `Sec-WebSocket-Accept` for a client key (RFC 6455 4.2.2 item 5.4).
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// Validates an upgrade request against `config` (RFC 6455 4.2.1), in the
/// order: method, version, Upgrade, Connection, key, WebSocket version,
/// Origin; then chooses the subprotocol and negotiates permessage-deflate
/// (which never refuse: an offer we cannot accept is declined).
pub fn accept(req: &HandshakeRequest<'_>, config: &HandshakeConfig) -> Result<Accepted, Rejection> {
    if req.method != b"GET" {
        return Err(Rejection::MethodNotGet);
    }
    if req.http_minor_version < 1 {
        return Err(Rejection::HttpVersion);
    }
    if !list(req, "upgrade").any(|t| t.eq_ignore_ascii_case(b"websocket")) {
        return Err(Rejection::NotWebSocketUpgrade);
    }
    if !list(req, "connection").any(|t| t.eq_ignore_ascii_case(b"upgrade")) {
        return Err(Rejection::MissingConnectionUpgrade);
    }
    let key = single(req, "sec-websocket-key")
        .ok()
        .flatten()
        .ok_or(Rejection::BadKey)?;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(k) if k.len() == 16 => {}
        _ => return Err(Rejection::BadKey),
    }
    negotiate(req, config, accept_key(key))
}

/// Validates a WebSocket over HTTP/2 (RFC 8441 4, 5): an extended CONNECT
/// whose `:protocol` is `protocol`. `req` carries the method and the regular
/// header fields (`http_minor_version` is not looked at). In the order:
/// method CONNECT (else [`Rejection::MethodNotGet`]), `:protocol`
/// `websocket` ([`Rejection::NotWebSocketUpgrade`]), WebSocket version,
/// Origin; then subprotocol and permessage-deflate as [`accept`]. There is no
/// key and no `Sec-WebSocket-Accept`; the answer is `200` with
/// [`Accepted::negotiated_headers`].
pub fn accept_extended_connect(
    req: &HandshakeRequest<'_>,
    protocol: &[u8],
    config: &HandshakeConfig,
) -> Result<Accepted, Rejection> {
    if req.method != b"CONNECT" {
        return Err(Rejection::MethodNotGet);
    }
    if !protocol.eq_ignore_ascii_case(b"websocket") {
        return Err(Rejection::NotWebSocketUpgrade);
    }
    negotiate(req, config, String::new())
}

/// The checks and choices both handshakes share, after their own: version,
/// Origin, subprotocol, permessage-deflate.
fn negotiate(
    req: &HandshakeRequest<'_>,
    config: &HandshakeConfig,
    accept_key: String,
) -> Result<Accepted, Rejection> {
    if single(req, "sec-websocket-version") != Ok(Some(b"13")) {
        return Err(Rejection::UnsupportedVersion);
    }
    if let Some(allowed) = &config.allowed_origins {
        match single(req, "origin") {
            Ok(None) => {}
            Ok(Some(origin))
                if allowed
                    .iter()
                    .any(|a| a.as_bytes().eq_ignore_ascii_case(origin)) => {}
            _ => return Err(Rejection::OriginNotAllowed),
        }
    }
    let protocol = config
        .protocols
        .iter()
        .find(|p| list(req, "sec-websocket-protocol").any(|o| o == p.as_bytes()))
        .cloned();
    let deflate = if config.permessage_deflate {
        list_offers(req).into_iter().find_map(|offer| {
            DeflateParams::negotiate(&offer, config.request_client_no_context_takeover)
        })
    } else {
        None
    };
    Ok(Accepted {
        accept_key,
        protocol,
        deflate,
    })
}

/// One extension offer: its name and parameters (values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// `name[=value]` parameters, in order.
    pub params: Vec<(String, Option<String>)>,
}

/// Parses every `Sec-WebSocket-Extensions` field into offers (RFC 6455
/// 9.1): `ext; param; param=value, ext2`; a value may be a quoted string.
/// An offer that does not parse is dropped.
pub fn list_offers(req: &HandshakeRequest<'_>) -> Vec<ExtensionOffer> {
    let mut offers = Vec::new();
    for (n, v) in req.headers {
        if !n.eq_ignore_ascii_case(b"sec-websocket-extensions") {
            continue;
        }
        let Ok(v) = std::str::from_utf8(v) else {
            continue;
        };
        for element in split_outside_quotes(v, ',') {
            let mut parts = split_outside_quotes(element, ';').into_iter();
            let name = parts.next().unwrap_or("").trim();
            if name.is_empty() || !name.bytes().all(is_tchar) {
                continue;
            }
            let mut params = Vec::new();
            let mut ok = true;
            for p in parts {
                let (k, val) = match p.split_once('=') {
                    Some((k, val)) => (k.trim(), Some(val.trim())),
                    None => (p.trim(), None),
                };
                let val = val.map(|v| {
                    v.strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v)
                });
                if k.is_empty()
                    || !k.bytes().all(is_tchar)
                    || val.is_some_and(|v| v.is_empty() || !v.bytes().all(is_tchar))
                {
                    ok = false;
                    break;
                }
                params.push((k.to_ascii_lowercase(), val.map(str::to_string)));
            }
            if ok {
                offers.push(ExtensionOffer {
                    name: name.to_ascii_lowercase(),
                    params,
                });
            }
        }
    }
    offers
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";

    type Headers = Vec<(&'static [u8], &'static [u8])>;

    fn base() -> Headers {
        vec![
            (b"Host", b"server.example.com"),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", KEY),
            (b"Origin", b"http://example.com"),
            (b"Sec-WebSocket-Protocol", b"chat, superchat"),
            (b"Sec-WebSocket-Version", b"13"),
        ]
    }

    fn run(headers: &[(&[u8], &[u8])], config: &HandshakeConfig) -> Result<Accepted, Rejection> {
        accept(
            &HandshakeRequest {
                method: b"GET",
                http_minor_version: 1,
                headers,
            },
            config,
        )
    }

    /// RFC 6455 1.3 and 4.2.2: the sample key's accept value.
    #[test]
    fn rfc_sample_key() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let config = HandshakeConfig {
            protocols: vec!["chat".into()],
            ..Default::default()
        };
        let a = run(&base(), &config).unwrap();
        assert_eq!(a.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(a.protocol.as_deref(), Some("chat"));
        assert_eq!(a.deflate, None);
        assert_eq!(
            a.response_headers(),
            vec![
                ("Upgrade", "websocket".to_string()),
                ("Connection", "Upgrade".to_string()),
                (
                    "Sec-WebSocket-Accept",
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_string()
                ),
                ("Sec-WebSocket-Protocol", "chat".to_string()),
            ]
        );
    }

    fn with(
        replace: &'static [u8],
        value: Option<&'static [u8]>,
    ) -> Vec<(&'static [u8], &'static [u8])> {
        let mut h: Vec<_> = base().into_iter().filter(|(n, _)| *n != replace).collect();
        if let Some(v) = value {
            h.push((replace, v));
        }
        h
    }

    /// Every rejection with its status and headers.
    #[test]
    fn rejections() {
        let cfg = HandshakeConfig::default();
        let cases: Vec<(&str, Headers, Rejection, u16)> = vec![
            (
                "no Upgrade",
                with(b"Upgrade", None),
                Rejection::NotWebSocketUpgrade,
                426,
            ),
            (
                "Upgrade: h2c",
                with(b"Upgrade", Some(b"h2c")),
                Rejection::NotWebSocketUpgrade,
                426,
            ),
            (
                "no Connection",
                with(b"Connection", None),
                Rejection::MissingConnectionUpgrade,
                400,
            ),
            (
                "Connection: close",
                with(b"Connection", Some(b"close")),
                Rejection::MissingConnectionUpgrade,
                400,
            ),
            (
                "no key",
                with(b"Sec-WebSocket-Key", None),
                Rejection::BadKey,
                400,
            ),
            (
                "short key",
                with(b"Sec-WebSocket-Key", Some(b"dGhlIHNhbXBsZQ==")),
                Rejection::BadKey,
                400,
            ),
            (
                "not base64",
                with(b"Sec-WebSocket-Key", Some(b"!!!!!!!!!!!!!!!!!!!!!!!!")),
                Rejection::BadKey,
                400,
            ),
            (
                "no version",
                with(b"Sec-WebSocket-Version", None),
                Rejection::UnsupportedVersion,
                426,
            ),
            (
                "version 8",
                with(b"Sec-WebSocket-Version", Some(b"8")),
                Rejection::UnsupportedVersion,
                426,
            ),
        ];
        for (name, h, want, status) in cases {
            assert_eq!(run(&h, &cfg), Err(want), "{name}");
            assert_eq!(want.status(), status, "{name}");
        }
        let mut two_keys = base();
        two_keys.push((b"Sec-WebSocket-Key", KEY));
        assert_eq!(run(&two_keys, &cfg), Err(Rejection::BadKey));
        assert_eq!(
            Rejection::UnsupportedVersion.response_headers(),
            &[("Sec-WebSocket-Version", "13")]
        );
        let post = HandshakeRequest {
            method: b"POST",
            http_minor_version: 1,
            headers: &base(),
        };
        assert_eq!(accept(&post, &cfg), Err(Rejection::MethodNotGet));
        let http10 = HandshakeRequest {
            method: b"GET",
            http_minor_version: 0,
            headers: &base(),
        };
        assert_eq!(accept(&http10, &cfg), Err(Rejection::HttpVersion));
    }

    #[test]
    fn tokens_are_case_insensitive_lists() {
        let h: Vec<(&[u8], &[u8])> = vec![
            (b"upgrade", b"WebSocket"),
            (b"CONNECTION", b"keep-alive, Upgrade"),
            (b"sec-websocket-key", KEY),
            (b"sec-websocket-version", b" 13 "),
        ];
        assert!(run(&h, &HandshakeConfig::default()).is_ok());
    }

    #[test]
    fn origin_allow_list() {
        let cfg = HandshakeConfig {
            allowed_origins: Some(vec![
                "https://app.example".into(),
                "http://EXAMPLE.com".into(),
            ]),
            ..Default::default()
        };
        assert!(run(&base(), &cfg).is_ok(), "case-insensitive match");
        let bad = with(b"Origin", Some(b"http://evil.example"));
        assert_eq!(run(&bad, &cfg), Err(Rejection::OriginNotAllowed));
        assert_eq!(Rejection::OriginNotAllowed.status(), 403);
        assert!(
            run(&with(b"Origin", None), &cfg).is_ok(),
            "no Origin: not a browser"
        );
        let mut two = base();
        two.push((b"Origin", b"http://example.com"));
        assert_eq!(run(&two, &cfg), Err(Rejection::OriginNotAllowed));
    }

    #[test]
    fn subprotocol_by_server_preference() {
        let cfg = |p: &[&str]| HandshakeConfig {
            protocols: p.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_eq!(
            run(&base(), &cfg(&["superchat", "chat"]))
                .unwrap()
                .protocol
                .as_deref(),
            Some("superchat")
        );
        assert_eq!(run(&base(), &cfg(&["mqtt"])).unwrap().protocol, None);
        assert_eq!(run(&base(), &cfg(&[])).unwrap().protocol, None);
        let mut split = with(b"Sec-WebSocket-Protocol", Some(b"a"));
        split.push((b"Sec-WebSocket-Protocol", b"b, chat"));
        assert_eq!(
            run(&split, &cfg(&["chat"])).unwrap().protocol.as_deref(),
            Some("chat")
        );
    }

    #[test]
    fn extension_offers() {
        let cfg = HandshakeConfig {
            permessage_deflate: true,
            ..Default::default()
        };
        let ext = |v: &'static [u8]| {
            let mut h = base();
            h.push((b"Sec-WebSocket-Extensions", v));
            run(&h, &cfg).unwrap().deflate.map(|d| d.response_value())
        };
        assert_eq!(
            ext(b"permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate")
        );
        // The first acceptable offer wins: a window of 10 bits is declined.
        assert_eq!(
            ext(b"permessage-deflate; server_max_window_bits=10, permessage-deflate; server_no_context_takeover").as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        assert_eq!(
            ext(b"permessage-deflate; server_max_window_bits=\"15\"").as_deref(),
            Some("permessage-deflate; server_max_window_bits=15")
        );
        assert_eq!(ext(b"x-webkit-deflate-frame"), None);
        assert_eq!(ext(b"permessage-deflate; bogus=1"), None);
        assert_eq!(ext(b"permessage-deflate;;"), None);
        // Not enabled: never negotiated.
        let mut h = base();
        h.push((b"Sec-WebSocket-Extensions", b"permessage-deflate"));
        assert_eq!(run(&h, &HandshakeConfig::default()).unwrap().deflate, None);
        // Parsing keeps names and values.
        let req = HandshakeRequest {
            method: b"GET",
            http_minor_version: 1,
            headers: &[(
                b"Sec-WebSocket-Extensions",
                b"foo; a=1; B=\"xy\", bar, bad name",
            )],
        };
        let offers = list_offers(&req);
        assert_eq!(
            offers,
            vec![
                ExtensionOffer {
                    name: "foo".into(),
                    params: vec![
                        ("a".into(), Some("1".into())),
                        ("b".into(), Some("xy".into()))
                    ],
                },
                ExtensionOffer {
                    name: "bar".into(),
                    params: vec![],
                },
            ]
        );
    }

    /// RFC 8441 4, 5: an extended CONNECT with `:protocol = websocket` needs
    /// no key, `Upgrade` or `Connection`; it is answered with what was
    /// negotiated only; version and Origin are checked as over HTTP/1.1, and
    /// a wrong version is `400` over HTTP/2.
    #[test]
    fn extended_connect() {
        let headers: Headers = vec![
            (b"sec-websocket-version", b"13"),
            (b"origin", b"http://example.com"),
            (b"sec-websocket-protocol", b"chat, superchat"),
            (b"sec-websocket-extensions", b"permessage-deflate"),
        ];
        let run = |method: &'static [u8], protocol: &[u8], h: &[(&[u8], &[u8])], c| {
            accept_extended_connect(
                &HandshakeRequest {
                    method,
                    http_minor_version: 1,
                    headers: h,
                },
                protocol,
                c,
            )
        };
        let config = HandshakeConfig {
            protocols: vec!["superchat".into()],
            allowed_origins: Some(vec!["http://example.com".into()]),
            permessage_deflate: true,
            request_client_no_context_takeover: false,
        };
        let a = run(b"CONNECT", b"websocket", &headers, &config).unwrap();
        assert_eq!(a.accept_key, "");
        assert_eq!(
            a.negotiated_headers(),
            vec![
                ("Sec-WebSocket-Protocol", "superchat".to_string()),
                ("Sec-WebSocket-Extensions", "permessage-deflate".to_string()),
            ]
        );
        assert_eq!(
            run(b"GET", b"websocket", &headers, &config),
            Err(Rejection::MethodNotGet)
        );
        assert_eq!(
            run(b"CONNECT", b"h2c-tunnel", &headers, &config),
            Err(Rejection::NotWebSocketUpgrade)
        );
        let v8: Headers = vec![(b"sec-websocket-version", b"8")];
        let r = run(b"CONNECT", b"websocket", &v8, &config).unwrap_err();
        assert_eq!(r, Rejection::UnsupportedVersion);
        assert_eq!((r.status(), r.h2_status()), (426, 400));
        assert_eq!(r.h2_response_headers(), &[("Sec-WebSocket-Version", "13")]);
        assert_eq!(Rejection::NotWebSocketUpgrade.h2_response_headers(), &[]);
        let elsewhere: Headers = vec![
            (b"sec-websocket-version", b"13"),
            (b"origin", b"http://evil.example"),
        ];
        assert_eq!(
            run(b"CONNECT", b"websocket", &elsewhere, &config),
            Err(Rejection::OriginNotAllowed)
        );
    }
}
