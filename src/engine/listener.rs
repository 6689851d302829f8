//! Listening sockets: one per worker per address, joined in an `SO_REUSEPORT` group so the
//! kernel spreads connections across workers with no shared accept queue.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds one `SO_REUSEPORT` listener on `addr`.
pub(crate) fn bind(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Accepted sockets inherit this, so responses are never held back by Nagle's algorithm.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket)
}

/// Binds `workers` listeners on `addr`; with port 0 the first picks the port and the rest join
/// it. Returns the sockets and the address really bound.
pub(crate) fn bind_group(
    addr: SocketAddr,
    workers: usize,
    backlog: i32,
) -> io::Result<(Vec<Socket>, SocketAddr)> {
    let first = bind(addr, backlog)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    let mut sockets = vec![first];
    for _ in 1..workers {
        sockets.push(bind(bound, backlog)?);
    }
    Ok((sockets, bound))
}
