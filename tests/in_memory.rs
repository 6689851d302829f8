//! The protocol object over in-memory bytes (`testing::serve_bytes`): byte-exact behaviour
//! without sockets, and independence from how the input is split into reads.

use peregrine::demo::DemoApp;
use peregrine::testing::serve_bytes;
use peregrine::Limits;
use proptest::prelude::*;

/// The output with every `Date` value blanked, so runs compare equal.
fn without_dates(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: *"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const PIPELINE: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n\
POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n\
HEAD /json HTTP/1.1\r\nHost: a\r\n\r\n\
GET /missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn byte_exact_responses() {
    let out = serve_bytes(&DemoApp, Limits::default(), &[PIPELINE]);
    let text = without_dates(&out);
    let expected = "HTTP/1.1 200 OK\nServer: peregrine\nDate: *\ncontent-type: text/plain\n\
Content-Length: 13\n\nHello, World!HTTP/1.1 200 OK\nServer: peregrine\nDate: *\n\
content-type: application/octet-stream\nContent-Length: 5\n\nhelloHTTP/1.1 200 OK\n\
Server: peregrine\nDate: *\ncontent-type: application/octet-stream\nContent-Length: 3\n\n\
abcHTTP/1.1 200 OK\nServer: peregrine\nDate: *\ncontent-type: application/json\n\
Content-Length: 27\n\nHTTP/1.1 404 Not Found\nServer: peregrine\nDate: *\n\
content-type: text/plain\nContent-Length: 9\nConnection: close\n\nNot Found";
    assert_eq!(
        text, expected,
        "the request after Connection: close is not served"
    );
}

#[test]
fn a_malformed_request_ends_the_pipeline_with_its_status() {
    let out = serve_bytes(
        &DemoApp,
        Limits::default(),
        &[b"GET /json HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n"],
    );
    let text = without_dates(&out);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 1);
    assert!(
        text.ends_with("HTTP/1.1 400 Bad Request\nServer: peregrine\nDate: *\nContent-Length: 0\nConnection: close\n"),
        "{text}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_of_the_input_gives_the_same_output(cuts in proptest::collection::vec(0..PIPELINE.len(), 0..40)) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        cuts.dedup();
        let mut chunks = Vec::new();
        let mut at = 0;
        for c in cuts {
            chunks.push(&PIPELINE[at..c]);
            at = c;
        }
        chunks.push(&PIPELINE[at..]);
        let whole = without_dates(&serve_bytes(&DemoApp, Limits::default(), &[PIPELINE]));
        let split = without_dates(&serve_bytes(&DemoApp, Limits::default(), &chunks));
        prop_assert_eq!(whole, split);
    }
}
