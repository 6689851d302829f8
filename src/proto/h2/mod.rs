//! The sans-I/O HTTP/2 server protocol core (RFC 9113, RFC 7541).
//!
//! Bytes in, events out; application actions in, bytes out. Nothing here
//! touches a socket or a clock: the engines feed [`Connection::recv`] what
//! they read, write what [`Connection::output`] holds, and pass the time to
//! [`Connection::tick`]. One module per responsibility:
//!
//! * [`frame`]: the frame layer (header, every frame type, padding, flags,
//!   the preface), parsing and encoding;
//! * [`error`]: error codes and every [`Reason`] this core ends a stream or
//!   the connection, with its code;
//! * [`hpack`]: header compression with bounded decoding;
//! * [`limits`]: [`Http2Limits`] with Kestrel's defaults;
//! * [`conn`]: the server connection state machine, flow control, request
//!   validation and the flood defenses.
//!
//! See `docs/http2.md` for the design and what the engines add.

pub mod conn;
pub mod error;
pub mod frame;
pub mod hpack;
pub mod limits;

pub use conn::{Connection, Event, H2Stats, RequestHead, SendError};
pub use error::{ErrorCode, H2Error, Reason};
pub use limits::Http2Limits;
