//! systemd integration without libsystemd: socket activation ([`listen_fds`]) and readiness
//! notification ([`Notifier`], `sd_notify`). See `docs/hosting.md` for unit files.
//!
//! **Socket activation.** systemd binds the sockets of a `.socket` unit and starts the service
//! with them as descriptors 3, 4, … and `LISTEN_FDS`, `LISTEN_PID` (and `LISTEN_FDNAMES`) in
//! its environment. The server serves those sockets instead of binding its URLs. A socket
//! bound by someone else cannot join an `SO_REUSEPORT` group, so every worker accepts on a
//! duplicate of it (one shared accept queue; see `server/listen.rs`).
//!
//! **Notification.** With `Type=notify`, systemd waits for `READY=1` on the datagram socket
//! named by `NOTIFY_SOCKET` (a path, or an abstract name written with a leading `@`). The
//! binary sends `READY=1` once it listens and `STOPPING=1` when the drain begins.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};

use super::InheritedListener;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// How many descriptors the socket-activation variables hand to the process `my_pid`, and
/// their names: `Ok(None)` where there are none for it (no `LISTEN_FDS`, or `LISTEN_PID` names
/// another process). The error names the variable at fault.
pub fn parse_listen_env(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
    my_pid: u32,
) -> Result<Option<Vec<Option<String>>>, String> {
    let Some(fds) = listen_fds else {
        return Ok(None);
    };
    let Some(pid) = listen_pid else {
        return Err("LISTEN_FDS is set but LISTEN_PID is not".into());
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| format!("invalid LISTEN_PID {pid:?}: expected a process id"))?;
    if pid != my_pid {
        // Meant for another process (our parent, which did not unset them).
        return Ok(None);
    }
    let n: usize = fds
        .trim()
        .parse()
        .ok()
        .filter(|n| *n <= 4096)
        .ok_or_else(|| format!("invalid LISTEN_FDS {fds:?}: expected a count of descriptors"))?;
    let mut names: Vec<Option<String>> = match listen_fdnames {
        Some(list) => {
            let names: Vec<_> = list
                .split(':')
                .map(|s| (!s.is_empty()).then(|| s.to_owned()))
                .collect();
            if names.len() != n {
                return Err(format!(
                    "LISTEN_FDNAMES {list:?} names {} descriptor(s) but LISTEN_FDS is {n}",
                    names.len()
                ));
            }
            names
        }
        None => vec![None; n],
    };
    names.truncate(n);
    Ok(Some(names))
}

/// Takes the listening sockets systemd passed (socket activation), checks that each is a
/// listening stream socket, marks each close-on-exec, and removes `LISTEN_FDS`, `LISTEN_PID`
/// and `LISTEN_FDNAMES` from the environment (so a child process does not take them too).
/// Empty when the process was not socket-activated. The error names the variable or descriptor
/// at fault.
///
/// Call it early in `main`, before other threads start (it changes the environment) and before
/// anything else opens descriptors it might mistake for these.
pub fn listen_fds() -> io::Result<Vec<InheritedListener>> {
    let var = |k| std::env::var(k).ok();
    let parsed = parse_listen_env(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    );
    for k in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        std::env::remove_var(k);
    }
    let names = match parsed {
        Ok(Some(names)) => names,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
    };
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.into_iter().enumerate() {
        let fd = LISTEN_FDS_START + i as RawFd;
        // SAFETY: F_GETFD only reads the descriptor's flags; an unopened number fails (EBADF).
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("LISTEN_FDS passes descriptor {fd}, but it is not open"),
            ));
        }
        // SAFETY: the descriptor is open (checked above) and was passed to this process by its
        // service manager (LISTEN_PID is ours); nothing else in the process owns it, and it is
        // taken only once because the variables were removed above.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        out.push(InheritedListener::new(owned, name)?);
    }
    Ok(out)
}

/// Sends state changes to the service manager (`sd_notify`) over `NOTIFY_SOCKET`.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    target: UnixAddr,
}

impl Notifier {
    /// A notifier for the socket named by `NOTIFY_SOCKET`, which it removes from the
    /// environment; `None` when the variable is not set (not run by systemd, or not
    /// `Type=notify`). The error names the variable's value.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET") else {
            return Ok(None);
        };
        std::env::remove_var("NOTIFY_SOCKET");
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "NOTIFY_SOCKET is not UTF-8")
        })?;
        Notifier::new(name).map(Some)
    }

    /// A notifier for the datagram socket `name`: a path, or an abstract socket name written
    /// with a leading `@`.
    pub fn new(name: &str) -> io::Result<Notifier> {
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid NOTIFY_SOCKET {name:?}: {why}"),
            )
        };
        let target = if let Some(abstract_name) = name.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            UnixAddr::from_abstract_name(abstract_name.as_bytes())
                .map_err(|e| bad(&e.to_string()))?
        } else if name.starts_with('/') {
            UnixAddr::from_pathname(name).map_err(|e| bad(&e.to_string()))?
        } else {
            return Err(bad("expected an absolute path or @abstract-name"));
        };
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            target,
        })
    }

    /// Sends `state`: newline-separated `KEY=VALUE` assignments (`READY=1`, `STATUS=…`).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.target)?;
        Ok(())
    }

    /// Sends `READY=1`, with `STATUS=status` (a line for `systemctl status`).
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)))
    }

    /// Sends `STOPPING=1`, with `STATUS=status`.
    pub fn stopping(&self, status: &str) -> io::Result<()> {
        self.notify(&format!("STOPPING=1\nSTATUS={}", one_line(status)))
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_env_is_for_this_process_only() {
        assert_eq!(parse_listen_env(None, None, None, 7), Ok(None));
        assert_eq!(parse_listen_env(Some("8"), Some("1"), None, 7), Ok(None));
        assert_eq!(
            parse_listen_env(Some("7"), Some("2"), None, 7),
            Ok(Some(vec![None, None]))
        );
        assert_eq!(
            parse_listen_env(Some("7"), Some("2"), Some("web:"), 7),
            Ok(Some(vec![Some("web".into()), None]))
        );
        assert_eq!(
            parse_listen_env(Some("7"), Some("0"), None, 7),
            Ok(Some(vec![]))
        );
    }

    #[test]
    fn bad_listen_env_is_named() {
        for (pid, fds, names, want) in [
            (None, Some("1"), None, "LISTEN_PID is not"),
            (Some("x"), Some("1"), None, "invalid LISTEN_PID \"x\""),
            (Some("7"), Some("-1"), None, "invalid LISTEN_FDS \"-1\""),
            (Some("7"), Some("two"), None, "invalid LISTEN_FDS \"two\""),
            (
                Some("7"),
                Some("2"),
                Some("a"),
                "LISTEN_FDNAMES \"a\" names 1",
            ),
        ] {
            let e = parse_listen_env(pid, fds, names, 7).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn notifies_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("peregrine-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.ready("listening on http://127.0.0.1:1").unwrap();
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..len],
            b"READY=1\nSTATUS=listening on http://127.0.0.1:1"
        );

        use std::os::linux::net::SocketAddrExt;
        let name = format!("peregrine-test-{}", std::process::id());
        let rx2 = UnixDatagram::bind_addr(&UnixAddr::from_abstract_name(&name).unwrap()).unwrap();
        Notifier::new(&format!("@{name}"))
            .unwrap()
            .stopping("draining")
            .unwrap();
        let len = rx2.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\nSTATUS=draining");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_notify_socket_is_named() {
        let e = Notifier::new("relative/path").unwrap_err().to_string();
        assert!(e.contains("invalid NOTIFY_SOCKET \"relative/path\""), "{e}");
    }
}
