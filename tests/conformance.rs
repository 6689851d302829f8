//! The HTTP/1.1 conformance suite (`tests/conformance/`) against peregrine: each engine in turn
//! with the demo application on 127.0.0.1, over real sockets.
//!
//! Every case must conform to the RFC, and where the RFC allows several answers peregrine must
//! give the one it documents (`.peregrine(..)` in `tests/conformance/cases.rs`), and close the
//! connection after every error it answers.

#[path = "conformance/mod.rs"]
mod suite;

use std::time::Duration;

use peregrine::demo::DemoApp;
use peregrine::{EngineChoice, HttpServer, Server, ServerOptions};
use suite::{cases::cases, run_all, table, Timeouts, NO_RESPONSE};

#[test]
fn peregrine_conforms_on_io_uring() {
    conforms(EngineChoice::Uring);
}

#[test]
fn peregrine_conforms_on_the_portable_engine() {
    conforms(EngineChoice::Portable);
}

fn conforms(engine: EngineChoice) {
    let mut server = HttpServer::new(
        ServerOptions::with_urls(["http://127.0.0.1:0"])
            .workers(1)
            .engine(engine),
    );
    server.start(DemoApp).expect("server starts");
    let addr = server.features().addresses()[0];

    let results = run_all(addr, cases(), Timeouts::default());
    let report = table(&results);
    println!("{report}");

    let mut failures = Vec::new();
    for r in &results {
        if let Some(issue) = r.case.peregrine_known_issue {
            // A known bug: the case must still fail, and fail for its reason.
            if r.verdict.is_ok() {
                failures.push(format!(
                    "{}: passes now; remove its .peregrine_known_issue({issue:?})",
                    r.case.name
                ));
            }
            continue;
        }
        if let Err(e) = &r.verdict {
            failures.push(format!("{}: {e} (got {})", r.case.name, r.outcome.text()));
            continue;
        }
        let got = &r.outcome.statuses;
        if let Some(ours) = &r.case.peregrine {
            if got != ours {
                failures.push(format!(
                    "{}: peregrine answers {ours:?}, got {got:?}",
                    r.case.name
                ));
            }
        } else if let Some(bad) = got
            .iter()
            .zip(&r.case.expect)
            .find(|(_, set)| set.len() != 1)
        {
            failures.push(format!(
                "{}: several statuses allowed ({:?}) but no .peregrine(..) choice",
                r.case.name, bad.1
            ));
        }
        // Peregrine's rejections (RejectReason statuses) always close the connection.
        let rejected = got
            .iter()
            .any(|s| matches!(s, 400 | 413 | 414 | 417 | 431 | 501 | 505 | &NO_RESPONSE));
        if rejected && r.outcome.closed != Some(true) {
            failures.push(format!(
                "{}: peregrine closes after every error, got {}",
                r.case.name,
                r.outcome.text()
            ));
        }
    }
    server.stop(Duration::from_secs(2));
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}\n\n{report}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
}

#[test]
fn the_suite_catches_a_smuggled_response() {
    // The runner itself: a "server" that answers a CL+TE request twice (as a server that
    // honoured both framings would) must fail `cl_te_smuggle`.
    use std::io::{Read, Write};
    use std::net::TcpListener;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        s.write_all(&[&ok[..], ok].concat()).unwrap();
        // Linger so that the client sees the extra response before the close.
        std::thread::sleep(Duration::from_millis(300));
    });
    let case = cases()
        .into_iter()
        .find(|c| c.name == "cl_te_smuggle")
        .unwrap();
    let outcome = suite::run_case(addr, &case, Timeouts::default());
    fake.join().unwrap();
    assert_eq!(outcome.statuses, [200]);
    assert!(outcome.extra.is_some(), "{outcome:?}");
    let verdict = suite::check(&case, &outcome);
    assert!(
        verdict.as_ref().is_err_and(|e| e.contains("too many")),
        "{verdict:?}"
    );
}
