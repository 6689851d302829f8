//! Sans-I/O protocol cores.
//!
//! Nothing under this module touches a socket, a timer or the allocator on a
//! per-request path: parsers take `&[u8]` and write into caller-owned,
//! preallocated storage, encoders append to a caller-owned `Vec<u8>`. The
//! io_uring engine only moves bytes between the kernel and these types.

pub(crate) mod decimal;
pub mod h1;
pub mod h2;
pub mod proxy;
pub mod ws;
