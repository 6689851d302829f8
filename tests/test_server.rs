//! The same application under the in-memory TestServer: only the request and response features.

use peregrine::demo::DemoApp;
use peregrine::testing::{TestRequest, TestServer};
use peregrine::{AppResult, Handler, HttpContext, Server};

#[test]
fn demo_app_runs_unchanged_on_the_test_server() {
    let mut server = TestServer::new();
    server.start(DemoApp).unwrap();
    let r = server.send(TestRequest::get("/plaintext"));
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"));
    assert_eq!(r.header("content-type"), Some(&b"text/plain"[..]));
    let r = server.send(TestRequest::get("/json"));
    assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#);
    let r = server.send(TestRequest::post("/echo", "abc").header("content-type", "text/x"));
    assert_eq!((r.status, r.text().as_str()), (200, "abc"));
    assert_eq!(server.send(TestRequest::get("/missing")).status, 404);
    assert_eq!(server.send(TestRequest::new("HEAD", "/json")).body, b"");
    let r = server.send(TestRequest::new("PATCH", "/echo"));
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some(&b"POST, PUT"[..]))
    );
    assert_eq!(server.stop(std::time::Duration::ZERO).requests_served, 6);
}

struct Features;

impl Handler for Features {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        // Optional features are absent on a server that provides only the required two.
        assert!(http.connection().is_none());
        assert!(http.trace_identifier().is_none());
        assert!(!http.is_aborted());
        http.write(http.request().query().to_owned().as_bytes());
        if http.request().path() == "/fail" {
            return Err("failed".into());
        }
        Ok(())
    }
}

#[test]
fn optional_features_are_optional_and_failures_are_500() {
    let mut server = TestServer::new();
    server.start(Features).unwrap();
    assert_eq!(server.send(TestRequest::get("/q?a=1")).text(), "a=1");
    assert_eq!(server.send(TestRequest::get("/fail")).status, 500);
    assert!(server.start(Features).is_err(), "starting twice is refused");
}
