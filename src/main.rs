//! The `peregrine` server binary: the demo application (`src/demo.rs`) on the host
//! (`peregrine::hosting`), which gives it its flags, `PEREGRINE_*` variables, configuration
//! file, signals, systemd integration and admin endpoints. It runs on the io_uring engine, or on
//! the portable epoll engine where io_uring is unavailable.

use std::process::ExitCode;

use peregrine::demo::DemoApp;
use peregrine::hosting::HostBuilder;

/// The demo application's routes, for `--help`.
const ROUTES: &str = "\
GET /plaintext, GET /json, POST|PUT /echo, POST|PUT /upload (length and hash of the
body), GET /whoami (client address, scheme, host), GET /bytes/N (N bytes, up to 1 GiB),
GET / (index); 404 otherwise.";

fn main() -> ExitCode {
    // First, before any thread starts: the builder takes over SIGINT, SIGTERM and SIGHUP.
    HostBuilder::new("peregrine")
        .about("an io_uring, thread-per-core HTTP/1.1 server (serving the demo application)")
        .help_section("ROUTES", ROUTES)
        .main(DemoApp)
}
