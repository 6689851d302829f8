//! The forwarded-headers middleware over real sockets: a client on 127.0.0.1 (trusted by
//! default, like a local reverse proxy) sends `X-Forwarded-*` / `Forwarded`, and the application
//! sees the address, scheme and host they carry, for that request only.

mod common;

use std::io::{BufReader, Write};

use common::*;
use peregrine::middleware::{
    ForwardedHeaderSet, ForwardedHeaders, ForwardedHeadersOptions, ForwardedOriginal,
};
use peregrine::EngineChoice;
use peregrine::{AppResult, Handler, HttpContext, Server};

/// Answers `remote scheme host original-remote`.
struct Report;

impl Handler for Report {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let original = http
            .features()
            .get::<ForwardedOriginal>()
            .and_then(|o| o.remote_addr)
            .map_or("-".to_owned(), |a| a.ip().to_string());
        let text = format!(
            "{} {} {} {}",
            http.remote_addr().map_or("-".to_owned(), |a| a.to_string()),
            http.scheme(),
            http.host().unwrap_or("-"),
            original,
        );
        http.write(text.as_bytes());
        Ok(())
    }
}

fn request(extra: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: backend:8080\r\n{extra}\r\n")
}

fn a_trusted_proxy_sets_the_client_address_and_scheme(engine: EngineChoice) {
    let app = ForwardedHeaders::new(Report, ForwardedHeadersOptions::default());
    let (mut server, addr) = start(engine, app, 1);
    let r = roundtrip(
        addr,
        request("X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\nX-Forwarded-Proto: https\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200);
    // Forward limit 1: only the last proxy's entry is taken.
    assert_eq!(r.text(), "203.0.113.7:0 https backend:8080 127.0.0.1");
    server.stop(std::time::Duration::from_secs(5));
}

fn forwarded_host_and_the_rfc_7239_header(engine: EngineChoice) {
    let options = ForwardedHeadersOptions {
        headers: ForwardedHeaderSet::FORWARDED | ForwardedHeaderSet::X_FORWARDED_ALL,
        ..Default::default()
    };
    let (mut server, addr) = start(engine, ForwardedHeaders::new(Report, options), 1);
    let r = roundtrip(
        addr,
        request("Forwarded: for=\"[2001:db8::1]:4711\";proto=https;host=example.com\r\n")
            .as_bytes(),
    );
    assert_eq!(r.text(), "[2001:db8::1]:4711 https example.com 127.0.0.1");
    let r = roundtrip(
        addr,
        request("X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: example.com:8443\r\n")
            .as_bytes(),
    );
    assert_eq!(r.text(), "203.0.113.7:0 http example.com:8443 127.0.0.1");
    // Obfuscated or malformed: nothing applied.
    let r = roundtrip(
        addr,
        request("Forwarded: for=_hidden;proto=https\r\n").as_bytes(),
    );
    assert!(r.text().starts_with("127.0.0.1:"), "{}", r.text());
    assert!(r.text().ends_with(" http backend:8080 -"), "{}", r.text());
    let r = roundtrip(
        addr,
        request("Forwarded: for=1.2.3.4;;for=5.6.7.8\r\n").as_bytes(),
    );
    assert!(r.text().ends_with(" http backend:8080 -"), "{}", r.text());
    server.stop(std::time::Duration::from_secs(5));
}

fn an_untrusted_proxy_is_ignored(engine: EngineChoice) {
    let options = ForwardedHeadersOptions::trusting_none(ForwardedHeaderSet::X_FORWARDED_ALL)
        .known_proxy("10.9.9.9".parse().unwrap());
    let (mut server, addr) = start(engine, ForwardedHeaders::new(Report, options), 1);
    let r = roundtrip(
        addr,
        request("X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n").as_bytes(),
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(text.starts_with("127.0.0.1:"), "{text}");
    assert!(text.ends_with(" http backend:8080 -"), "{text}");
    server.stop(std::time::Duration::from_secs(5));
}

fn the_override_lasts_one_request(engine: EngineChoice) {
    let (mut server, addr) = start(
        engine,
        ForwardedHeaders::new(Report, ForwardedHeadersOptions::default()),
        1,
    );
    let mut s = connect(addr);
    let local = s.local_addr().unwrap();
    s.write_all(request("X-Forwarded-For: 203.0.113.7\r\n").as_bytes())
        .unwrap();
    s.write_all(request("").as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let first = read_response(&mut r, false).unwrap();
    let second = read_response(&mut r, false).unwrap();
    assert_eq!(first.text(), "203.0.113.7:0 http backend:8080 127.0.0.1");
    assert_eq!(second.text(), format!("{local} http backend:8080 -"));
    server.stop(std::time::Duration::from_secs(5));
}

engine_tests!(
    a_trusted_proxy_sets_the_client_address_and_scheme,
    forwarded_host_and_the_rfc_7239_header,
    an_untrusted_proxy_is_ignored,
    the_override_lasts_one_request,
);
