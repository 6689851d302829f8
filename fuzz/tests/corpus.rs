//! Replays every committed seed (and any crash kept under `regressions/`) through the fuzz
//! targets' checks, on the stable toolchain and without libFuzzer: `cargo test` in `fuzz/`.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let data = fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| check(&data));
            assert!(result.is_ok(), "{} fails its checks", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "no seeds for {target}");
}

#[test]
fn head_corpus() {
    replay("head", peregrine_fuzz::check_head);
}

#[test]
fn chunked_corpus() {
    replay("chunked", peregrine_fuzz::check_chunked);
}

#[test]
fn connection_corpus() {
    replay("connection", peregrine_fuzz::check_connection);
}

#[test]
fn proxy_corpus() {
    replay("proxy", peregrine_fuzz::check_proxy);
}

#[test]
fn h2_corpus() {
    replay("h2", peregrine_fuzz::check_h2);
}

#[test]
fn ws_corpus() {
    replay("ws", peregrine_fuzz::check_ws);
}
