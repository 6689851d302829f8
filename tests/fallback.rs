//! The automatic fallback, proved for real: the binary runs under a seccomp filter that denies
//! io_uring (as Docker's default profile does) and must serve on the portable engine, and say
//! why; asking for io_uring there must be a clear start-up error.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::{get, spawn_server};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

/// A filter that fails `io_uring_setup`, `io_uring_enter` and `io_uring_register` with `EPERM`
/// and allows every other system call.
fn deny_io_uring() -> BpfProgram {
    let rules = BTreeMap::from([
        (libc::SYS_io_uring_setup, vec![]),
        (libc::SYS_io_uring_enter, vec![]),
        (libc::SYS_io_uring_register, vec![]),
    ]);
    let arch = TargetArch::try_from(std::env::consts::ARCH).expect("a seccomp architecture");
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .expect("a valid filter")
    .try_into()
    .expect("compiles to BPF")
}

/// The server binary with `args`, to run under [`deny_io_uring`].
fn confined(args: &[&str]) -> Command {
    let filter = deny_io_uring();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    cmd.args(args);
    // SAFETY: between fork and exec the child only calls prctl and seccomp (through
    // apply_filter, which does not allocate) on a program built before the fork.
    unsafe {
        cmd.pre_exec(move || seccompiler::apply_filter(&filter).map_err(std::io::Error::other));
    }
    cmd
}

#[test]
fn without_io_uring_the_server_falls_back_to_the_portable_engine_and_says_why() {
    let mut cmd = confined(&["--urls", "http://127.0.0.1:0", "--workers", "1"]);
    cmd.stderr(Stdio::piped());
    let (mut child, addr, mut out) = spawn_server(&mut cmd);
    assert_eq!(get(addr, "/plaintext").text(), "Hello, World!");
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut stdout = String::new();
    out.read_to_string(&mut stdout).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let warning: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("using the portable engine"))
        .collect();
    assert_eq!(warning.len(), 1, "one line names the reason: {stderr}");
    assert!(
        warning[0].contains("io_uring_setup") && warning[0].contains("seccomp"),
        "the reason names the failing call and the likely cause: {}",
        warning[0]
    );
    assert!(stdout.contains("1 request(s) served"), "{stdout}");
}

#[test]
fn asking_for_io_uring_where_it_is_denied_is_a_start_up_error() {
    let out = confined(&["--urls", "http://127.0.0.1:0", "--engine", "uring"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("io_uring is unavailable") && stderr.contains("io_uring_setup"),
        "{stderr}"
    );
}
