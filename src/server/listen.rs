//! Listening sockets for the socket engines: turns the listen URLs (or the sockets a service
//! manager handed over) into one listener per worker per address, before any worker starts, so
//! an address in use fails `start` with an error that names it.
//!
//! How workers share a listener:
//!
//! - **TCP** (`http://…`): every worker binds its own socket in one `SO_REUSEPORT` group, and
//!   the kernel spreads connections over the group with no shared accept queue. Port 0 is
//!   resolved by the first worker's bind and joined by the others.
//! - **Unix domain sockets** (`unix:/path`) and **inherited sockets** (systemd socket
//!   activation): `SO_REUSEPORT` does not apply to a Unix socket, and a group cannot be made
//!   around a socket someone else bound. There is one listening socket, and every worker accepts
//!   on a duplicate (`dup`) of it: they share its accept queue, and whichever worker's accept
//!   completes first takes the connection. Every worker serves, at the price of a shared queue.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::{HttpProtocols, ListenAddress, ServerAddresses, ServerOptions, StartError};

/// A listening stream socket handed to the process by its parent (systemd socket activation,
/// see [`systemd::listen_fds`](super::systemd::listen_fds)), served instead of binding URLs.
/// Cloning shares the descriptor; each worker accepts on a duplicate of it.
#[derive(Clone, Debug)]
pub struct InheritedListener {
    fd: Arc<OwnedFd>,
    name: Option<String>,
}

impl InheritedListener {
    /// Takes `fd`, checking that it is a listening stream socket, and marks it close-on-exec.
    /// `name` is its name from `LISTEN_FDNAMES`, if any. The error names the descriptor.
    pub fn new(fd: OwnedFd, name: Option<String>) -> io::Result<InheritedListener> {
        let raw = fd.as_raw_fd();
        let sock = SockRef::from(&fd);
        let what = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("inherited descriptor {raw} is not a socket: {e}"),
            )
        };
        let ty = sock.r#type().map_err(what)?;
        if ty != Type::STREAM {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("inherited descriptor {raw} is not a stream socket"),
            ));
        }
        if !sock.is_listener().map_err(what)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("inherited socket {raw} is not listening"),
            ));
        }
        sock.set_cloexec(true)?;
        Ok(InheritedListener {
            fd: Arc::new(fd),
            name,
        })
    }

    /// Its name from `LISTEN_FDNAMES` (systemd's `FileDescriptorName=`), if one was given.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl AsFd for InheritedListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A Unix socket file this server created; removed when dropped if the path still holds the
/// same file (a newer server may have replaced it).
#[derive(Debug)]
pub(crate) struct UnixSocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for UnixSocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            // (Checking the kind too: a new file may reuse a freed inode number at once.)
            Ok(m) if m.file_type().is_socket() && m.dev() == self.dev && m.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the Unix socket file");
                }
            }
            _ => {}
        }
    }
}

/// One listening socket of one worker.
#[derive(Debug)]
pub(crate) struct ListenSocket {
    /// The socket.
    pub(crate) socket: Socket,
    /// The IP address it is bound to (`None` for a Unix socket, whose connections have no IP
    /// addresses).
    pub(crate) local: Option<SocketAddr>,
    /// Whether its connections start with a PROXY protocol header.
    pub(crate) proxy_protocol: bool,
    /// For an HTTPS listener, its TLS settings' index in `ServerOptions::tls_plan`.
    pub(crate) tls: Option<usize>,
    /// The HTTP versions spoken on it.
    pub(crate) protocols: HttpProtocols,
}

/// One worker's listeners.
pub(crate) type WorkerListeners = Vec<ListenSocket>;

/// Everything bound for a server.
pub(crate) struct Bound {
    /// Listeners of each worker, in worker order.
    pub(crate) per_worker: Vec<WorkerListeners>,
    /// What was really bound (port 0 replaced by the real port).
    pub(crate) addresses: ServerAddresses,
    /// Unix socket files to remove when the server stops.
    pub(crate) unix_files: Vec<UnixSocketFile>,
}

/// Binds what `options` asks for, `workers` listeners per address; or, where
/// [`ServerOptions::inherited_listeners`] is not empty, duplicates those for every worker and
/// binds nothing.
pub(crate) fn bind_all(options: &ServerOptions, workers: usize) -> Result<Bound, StartError> {
    let mut b = Bound {
        per_worker: (0..workers).map(|_| Vec::new()).collect(),
        addresses: ServerAddresses::default(),
        unix_files: Vec::new(),
    };
    let mut ips = Vec::new();
    let mut paths = Vec::new();
    if !options.inherited_listeners.is_empty() {
        for l in &options.inherited_listeners {
            let sock = Socket::from(l.fd.try_clone().map_err(StartError::Io)?);
            let local = sock.local_addr().map_err(StartError::Io)?;
            let ip = local.as_socket();
            if ip.is_some() {
                // Accepted sockets inherit it: responses are never held back by Nagle.
                let _ = sock.set_tcp_nodelay(true);
            }
            match (ip, local.as_pathname()) {
                (Some(ip), _) => ips.push(ip),
                (None, Some(path)) => paths.push(path.to_path_buf()),
                (None, None) => {}
            }
            b.share(sock, ip, false, None, options.protocols)
                .map_err(StartError::Io)?;
        }
        b.addresses = ServerAddresses::with_unix_paths(ips, paths);
        return Ok(b);
    }
    let backlog = options.backlog;
    let mut https = Vec::new();
    for listen in options.listen_plan()? {
        let ips_before = ips.len();
        let proxy = listen.proxy_protocol;
        let tls = listen.tls;
        let protocols = listen.protocols;
        match listen.address {
            ListenAddress::Ip(addr) => {
                let (sockets, real) = bind_tcp_group(addr, workers, backlog, false)
                    .map_err(|source| StartError::Bind { addr, source })?;
                b.add_group(sockets, real, proxy, tls, protocols);
                ips.push(real);
            }
            ListenAddress::AnyIp(port) => {
                let (sockets, real) = bind_any(port, workers, backlog)?;
                b.add_group(sockets, real, proxy, tls, protocols);
                ips.push(real);
            }
            ListenAddress::Localhost(port) => {
                for (sockets, real) in bind_localhost(port, workers, backlog)? {
                    b.add_group(sockets, real, proxy, tls, protocols);
                    ips.push(real);
                }
            }
            ListenAddress::Unix(path) => {
                let (sock, file) =
                    bind_unix(&path, listen.unix_socket_mode, backlog).map_err(|source| {
                        StartError::BindUnix {
                            path: path.clone(),
                            source,
                        }
                    })?;
                b.unix_files.push(file);
                b.share(sock, None, proxy, tls, protocols)
                    .map_err(StartError::Io)?;
                paths.push(path);
            }
        }
        if tls.is_some() {
            https.extend_from_slice(&ips[ips_before..]);
        }
    }
    b.addresses = ServerAddresses::with_unix_paths(ips, paths);
    b.addresses.set_https(https);
    Ok(b)
}

impl Bound {
    fn add_group(
        &mut self,
        sockets: Vec<Socket>,
        addr: SocketAddr,
        proxy_protocol: bool,
        tls: Option<usize>,
        protocols: HttpProtocols,
    ) {
        for (w, socket) in sockets.into_iter().enumerate() {
            self.per_worker[w].push(ListenSocket {
                socket,
                local: Some(addr),
                proxy_protocol,
                tls,
                protocols,
            });
        }
    }

    /// Gives every worker a duplicate of `sock` (worker 0 the original).
    fn share(
        &mut self,
        sock: Socket,
        local: Option<SocketAddr>,
        proxy_protocol: bool,
        tls: Option<usize>,
        protocols: HttpProtocols,
    ) -> io::Result<()> {
        for w in 1..self.per_worker.len() {
            // `try_clone` duplicates with close-on-exec set.
            self.per_worker[w].push(ListenSocket {
                socket: sock.try_clone()?,
                local,
                proxy_protocol,
                tls,
                protocols,
            });
        }
        self.per_worker[0].push(ListenSocket {
            socket: sock,
            local,
            proxy_protocol,
            tls,
            protocols,
        });
        Ok(())
    }
}

/// Binds one `SO_REUSEPORT` TCP listener on `addr`; an IPv6 one is IPv6-only unless
/// `dual_stack`.
pub(crate) fn bind_tcp(addr: SocketAddr, backlog: i32, dual_stack: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!dual_stack)?;
    }
    // Accepted sockets inherit this, so responses are never held back by Nagle's algorithm.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket)
}

/// Binds `workers` listeners on `addr`; with port 0 the first picks the port and the rest join
/// it. Returns the sockets and the address really bound.
pub(crate) fn bind_tcp_group(
    addr: SocketAddr,
    workers: usize,
    backlog: i32,
    dual_stack: bool,
) -> io::Result<(Vec<Socket>, SocketAddr)> {
    let first = bind_tcp(addr, backlog, dual_stack)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    let mut sockets = vec![first];
    for _ in 1..workers {
        sockets.push(bind_tcp(bound, backlog, dual_stack)?);
    }
    Ok((sockets, bound))
}

/// Whether an error means the system has no IPv6 (or not this IPv6 address).
fn no_ipv6(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

/// Every interface: `[::]` dual-stack, or `0.0.0.0` where the system has no IPv6.
fn bind_any(
    port: u16,
    workers: usize,
    backlog: i32,
) -> Result<(Vec<Socket>, SocketAddr), StartError> {
    let v6: SocketAddr = (std::net::Ipv6Addr::UNSPECIFIED, port).into();
    match bind_tcp_group(v6, workers, backlog, true) {
        Ok(group) => Ok(group),
        Err(e) if no_ipv6(&e) => {
            tracing::info!(error = %e, "no IPv6 for http://*:{port}; listening on IPv4 0.0.0.0 only");
            let v4: SocketAddr = (Ipv4Addr::UNSPECIFIED, port).into();
            bind_tcp_group(v4, workers, backlog, false)
                .map_err(|source| StartError::Bind { addr: v4, source })
        }
        Err(source) => Err(StartError::Bind { addr: v6, source }),
    }
}

/// Both loopbacks. With port 0, `[::1]` takes the port `127.0.0.1` got; if that port is taken
/// on `[::1]`, both are tried again with a fresh port (a few times).
fn bind_localhost(
    port: u16,
    workers: usize,
    backlog: i32,
) -> Result<Vec<(Vec<Socket>, SocketAddr)>, StartError> {
    let v4: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
    let mut tries = if port == 0 { 5 } else { 1 };
    loop {
        tries -= 1;
        let (sockets, real) = bind_tcp_group(v4, workers, backlog, false)
            .map_err(|source| StartError::Bind { addr: v4, source })?;
        let v6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, real.port()).into();
        match bind_tcp_group(v6, workers, backlog, false) {
            Ok(group) => return Ok(vec![(sockets, real), group]),
            Err(e) if no_ipv6(&e) => {
                tracing::warn!(error = %e, "cannot bind [::1] for http://localhost:{port}; listening on 127.0.0.1 only");
                return Ok(vec![(sockets, real)]);
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries > 0 => continue,
            Err(source) => return Err(StartError::Bind { addr: v6, source }),
        }
    }
}

/// Binds a Unix domain socket at `path`, with file mode `mode` if given. A stale socket file
/// (a socket nobody listens on: connecting is refused) is removed first; a socket someone
/// listens on is "address in use"; any other kind of file is left alone and is an error.
pub(crate) fn bind_unix(
    path: &Path,
    mode: Option<u32>,
    backlog: i32,
) -> io::Result<(Socket, UnixSocketFile)> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket (not removing it)",
            ))
        }
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "address in use: another process is listening on this socket",
                ))
            }
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                tracing::info!(path = %path.display(), "removing a stale Unix socket file");
                std::fs::remove_file(path)?;
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("the socket file exists and cannot be checked: {e}"),
                ))
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = UnixSocketFile {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    // The mode is set before `listen`: until then a connect is refused, so there is no moment
    // when the socket accepts with the umask's permissions. (`file` removes it on error.)
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    socket.listen(backlog)?;
    Ok((socket, file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("peregrine-listen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn unix_socket_binds_sets_its_mode_and_is_removed_on_drop() {
        let dir = temp_dir("mode");
        let path = dir.join("s.sock");
        let (sock, file) = bind_unix(&path, Some(0o660), 16).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o660);
        assert!(sock.is_listener().unwrap());
        UnixStream::connect(&path).expect("it listens");
        drop(file);
        assert!(!path.exists(), "the file is removed");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn stale_socket_is_replaced_live_one_is_in_use_other_files_are_kept() {
        let dir = temp_dir("stale");
        let path = dir.join("s.sock");
        // A stale socket: bound, then its listener dropped (the file stays).
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let (_sock, file) = bind_unix(&path, None, 16).expect("a stale socket is replaced");
        // Now it is live: a second bind is "address in use" and leaves it alone.
        let e = bind_unix(&path, None, 16).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        UnixStream::connect(&path).expect("the first still listens");
        drop(file);

        let plain = dir.join("plain");
        std::fs::write(&plain, b"data").unwrap();
        let e = bind_unix(&plain, None, 16).unwrap_err();
        assert!(e.to_string().contains("not a socket"), "{e}");
        assert_eq!(std::fs::read(&plain).unwrap(), b"data", "not removed");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn removal_spares_a_file_that_replaced_ours() {
        let dir = temp_dir("replaced");
        let path = dir.join("s.sock");
        let (sock, file) = bind_unix(&path, None, 16).unwrap();
        drop(sock);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"someone else's").unwrap();
        drop(file);
        assert!(path.exists(), "a file we did not create is kept");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn inherited_listener_must_be_a_listening_stream_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let named = InheritedListener::new(OwnedFd::from(l), Some("web".into())).unwrap();
        assert_eq!(named.name(), Some("web"));

        let unbound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let e = InheritedListener::new(OwnedFd::from(unbound), None).unwrap_err();
        assert!(e.to_string().contains("is not listening"), "{e}");

        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = InheritedListener::new(OwnedFd::from(udp), None).unwrap_err();
        assert!(e.to_string().contains("not a stream socket"), "{e}");

        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let e = InheritedListener::new(OwnedFd::from(file), None).unwrap_err();
        assert!(e.to_string().contains("is not a socket"), "{e}");
    }

    #[test]
    fn localhost_port_zero_shares_one_port() {
        let opts = ServerOptions::with_urls(["http://localhost:0"]);
        let b = bind_all(&opts, 2).unwrap();
        let addrs = b.addresses.socket_addrs();
        assert!(!addrs.is_empty());
        assert_ne!(addrs[0].port(), 0);
        assert!(
            addrs.iter().all(|a| a.port() == addrs[0].port()),
            "{addrs:?}"
        );
        assert!(addrs[0].ip().is_loopback() && addrs[0].is_ipv4());
        assert_eq!(b.per_worker.len(), 2);
        assert_eq!(b.per_worker[1].len(), addrs.len());
        for a in addrs {
            std::net::TcpStream::connect(a).expect("listening");
        }
    }

    #[test]
    fn an_address_the_host_lacks_counts_as_no_ipv6_but_in_use_does_not() {
        // What the localhost and all-interfaces fallbacks key on: binding an IPv6 address this
        // host does not have (or creating an IPv6 socket where IPv6 is off) is "no IPv6".
        let e = bind_tcp("[2001:db8::1]:0".parse().unwrap(), 16, false).unwrap_err();
        assert!(no_ipv6(&e), "{e}");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let e = bind_tcp(taken.local_addr().unwrap(), 16, false).unwrap_err();
        assert!(!no_ipv6(&e), "{e}");
    }

    #[test]
    fn any_ip_takes_ipv4_connections() {
        let opts = ServerOptions::with_urls(["http://*:0"]);
        let b = bind_all(&opts, 1).unwrap();
        let port = b.addresses.socket_addrs()[0].port();
        assert_ne!(port, 0);
        std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .expect("IPv4 reaches the dual-stack (or IPv4) socket");
    }
}
