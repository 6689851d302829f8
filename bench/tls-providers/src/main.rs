//! `tls-providers PROVIDER WHAT N [x25519]`: runs N TLS 1.3 handshakes (`handshake`, client and server
//! in memory, ECDSA P-256 certificate, X25519) or N 16 KiB records encrypted by the server and
//! decrypted by the client (`record`) with PROVIDER (`ring` or `aws-lc-rs`). Run it under
//! callgrind with N and with 0 and divide the difference in instructions by N:
//!
//! ```sh
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/tls-providers ring handshake 200
//! ```

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};


fn transfer(a: &mut impl Tls, b: &mut impl Tls, buf: &mut Vec<u8>) {
    buf.clear();
    while a.wants_write() {
        a.write_tls(buf).unwrap();
    }
    let mut slice = &buf[..];
    while !slice.is_empty() {
        b.read_tls(&mut slice).unwrap();
        b.process().unwrap();
    }
}

trait Tls {
    fn wants_write(&self) -> bool;
    fn write_tls(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize>;
    fn read_tls(&mut self, r: &mut &[u8]) -> std::io::Result<usize>;
    fn process(&mut self) -> Result<(), rustls::Error>;
}

macro_rules! tls {
    ($t:ty) => {
        impl Tls for $t {
            fn wants_write(&self) -> bool {
                std::ops::Deref::deref(self).wants_write()
            }
            fn write_tls(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
                std::ops::DerefMut::deref_mut(self).write_tls(out)
            }
            fn read_tls(&mut self, r: &mut &[u8]) -> std::io::Result<usize> {
                std::ops::DerefMut::deref_mut(self).read_tls(r)
            }
            fn process(&mut self) -> Result<(), rustls::Error> {
                std::ops::DerefMut::deref_mut(self)
                    .process_new_packets()
                    .map(|_| ())
            }
        }
    };
}
tls!(ClientConnection);
tls!(ServerConnection);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut provider: CryptoProvider = match args[1].as_str() {
        "ring" => rustls::crypto::ring::default_provider(),
        "aws-lc-rs" => rustls::crypto::aws_lc_rs::default_provider(),
        p => panic!("unknown provider {p}"),
    };
    // `x25519` as a fourth argument: X25519 key exchange only (aws-lc-rs prefers the
    // post-quantum hybrid X25519MLKEM768 by default, which ring does not have).
    if args.get(4).is_some_and(|a| a == "x25519") {
        provider.kx_groups.retain(|g| g.name() == rustls::NamedGroup::X25519);
    }
    let provider = Arc::new(provider);
    let what = args[2].as_str();
    let n: usize = args[3].parse().unwrap();

    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let server_config = Arc::new(
        ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap(),
    );
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let mut client_config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_config.resumption = rustls::client::Resumption::disabled();
    let client_config = Arc::new(client_config);

    let connect = || {
        let mut c = ClientConnection::new(
            client_config.clone(),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut s = ServerConnection::new(server_config.clone()).unwrap();
        let mut buf = Vec::new();
        while c.is_handshaking() || s.is_handshaking() {
            transfer(&mut c, &mut s, &mut buf);
            transfer(&mut s, &mut c, &mut buf);
        }
        (c, s)
    };
    match what {
        "handshake" => {
            for _ in 0..n {
                std::hint::black_box(connect());
            }
        }
        "record" => {
            let (mut c, mut s) = connect();
            let data = vec![b'x'; 16 * 1024];
            let mut buf = Vec::new();
            let mut got = vec![0u8; 16 * 1024];
            for _ in 0..n {
                s.writer().write_all(&data).unwrap();
                transfer(&mut s, &mut c, &mut buf);
                c.reader().read_exact(&mut got).unwrap();
            }
        }
        w => panic!("unknown measurement {w}"),
    }
}
