//! Allocations per request on a TLS keep-alive connection, counted on the worker thread (the
//! counting allocator of tests/zero_alloc.rs): after the handshake and a warm-up, what is left
//! is rustls's (0.23): one allocation per record it decrypts and one per record it encrypts;
//! ours is zero. See docs/https.md, "Allocations".

mod common;

use std::cell::Cell;
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::alloc::{Counting, ALLOCATIONS};
use common::*;
use peregrine::server::{CertificateFiles, TlsOptions};
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, Server, ServerOptions};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `/plaintext` as the demo serves it, and `/allocations`: this worker thread's count.
struct App;

impl Handler for App {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        if http.request().path() == "/allocations" {
            let n = ALLOCATIONS.with(Cell::get);
            http.write(itoa::Buffer::new().format(n).as_bytes());
        } else {
            http.set_header("content-type", "text/plain")?;
            http.write(b"Hello, World!");
        }
        Ok(())
    }
}

/// A test CA and a `localhost` certificate it issued, in a directory removed on drop.
struct Certs(PathBuf);

impl Certs {
    fn new(engine: EngineChoice) -> Certs {
        let dir = std::env::temp_dir().join(format!(
            "peregrine-tls-alloc-{engine:?}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        Certs(dir)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_connect(certs: &Certs, addr: SocketAddr) -> BufReader<Tls> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_file(certs.0.join("ca.pem")).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(rustls::StreamOwned::new(conn, tcp))
}

fn allocations(s: &mut BufReader<Tls>) -> u64 {
    s.get_mut()
        .write_all(b"GET /allocations HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    read_response(s, false).unwrap().text().parse().unwrap()
}

/// Keep-alive requests one at a time, and pipelined batches of 16 (one write, answered with one
/// encrypted record): how many allocations the worker makes for each, after a warm-up.
fn per_request(engine: EngineChoice) -> (u64, u64) {
    let certs = Certs::new(engine);
    let mut options = ServerOptions::with_urls(["https://127.0.0.1:0"]).workers(1);
    options.tls = Some(TlsOptions::new(CertificateFiles::new(
        certs.0.join("cert.pem"),
        certs.0.join("key.pem"),
    )));
    let (mut server, addr) = start_with(engine, App, options);
    let mut s = tls_connect(&certs, addr);
    let request = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    let pipelined = request.repeat(16);
    let single = |s: &mut BufReader<Tls>, n: usize| {
        for _ in 0..n {
            s.get_mut().write_all(request).unwrap();
            assert_eq!(read_response(s, false).unwrap().status, 200);
        }
    };
    let batches = |s: &mut BufReader<Tls>, n: usize| {
        for _ in 0..n {
            s.get_mut().write_all(&pipelined).unwrap();
            for _ in 0..16 {
                assert_eq!(read_response(s, false).unwrap().status, 200);
            }
        }
    };
    // Warm-up: buffers reach their working size.
    single(&mut s, 500);
    batches(&mut s, 50);
    let before = allocations(&mut s);
    single(&mut s, 1000);
    let mid = allocations(&mut s);
    batches(&mut s, 100);
    let after = allocations(&mut s);
    server.stop(Duration::from_secs(1));
    // Each `/allocations` request is itself one request of one record.
    let single = (mid - before) as f64 / 1001.0;
    let batch = (after - mid) as f64 / 101.0;
    eprintln!(
        "{engine:?}: {single:.3} allocations per keep-alive request, {batch:.3} per pipelined batch of 16"
    );
    (single.round() as u64, batch.round() as u64)
}

fn a_tls_keep_alive_request_allocates_only_rustls_s_record(engine: EngineChoice) {
    let (single, batch) = per_request(engine);
    // rustls 0.23.46, the only allocations left, each once per TLS record whatever its size:
    // - receiving: the record is decrypted in place in our buffer, then copied into a new
    //   `Vec` (`CommonState::take_received_plaintext`, `Payload::into_vec`) queued for
    //   `ReadTraffic::next_record`;
    // - sending: the ring record encrypter allocates the sealed record
    //   (`PrefixedPayload::with_capacity` in `Tls13MessageEncrypter::encrypt`, the
    //   `MessageEncrypter` trait returns an owned message), which `WriteTraffic::encrypt`
    //   copies into our buffer and drops.
    // A request record in, a response record out: 2. A pipelined batch of 16 arrives in one
    // record and its 16 responses leave in one: 2 for all 16.
    assert_eq!(single, 2, "one allocation per record, each way");
    assert_eq!(batch, 2, "a pipelined batch is one record each way");
}

engine_tests!(a_tls_keep_alive_request_allocates_only_rustls_s_record);
