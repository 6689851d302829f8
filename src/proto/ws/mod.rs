//! The sans-I/O WebSocket server protocol core (RFC 6455, RFC 7692).
//!
//! Bytes in, events out; application messages in, bytes out. Nothing here
//! touches a socket or a clock: the connection that owns the upgraded
//! stream validates the upgrade request with [`handshake::accept`], writes
//! the `101` response, then feeds [`Connection::recv`] what it reads and
//! writes what [`Connection::output`] holds. One module per responsibility:
//!
//! * [`handshake`]: the opening handshake (RFC 6455 4.2): request
//!   validation, `Sec-WebSocket-Accept`, subprotocol choice, the Origin
//!   allow list, permessage-deflate negotiation, and named rejections with
//!   their status;
//! * [`frame`]: the frame layer (RFC 6455 5.2): header parsing with every
//!   structural check, in-place unmasking, server frame encoding;
//! * [`error`]: [`CloseCode`] and every [`ProtocolError`] this core fails
//!   the connection with, mapped to its close code in one place;
//! * [`utf8`]: incremental UTF-8 validation that fails as soon as a
//!   sequence is certainly invalid;
//! * [`deflate`]: permessage-deflate (RFC 7692) with inflation bounded
//!   while it runs;
//! * [`limits`]: the limits, [`WebSocketLimits`];
//! * [`conn`]: the message layer: reassembly, control frames, the close
//!   handshake.
//!
//! See `docs/websockets.md` for the design and what the integration adds.

pub mod conn;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod limits;
pub mod utf8;

pub use conn::{Connection, Event, MessageKind, SendError, State, Timeout};
pub use error::{CloseCode, ProtocolError};
pub use handshake::{
    accept, accept_extended_connect, Accepted, HandshakeConfig, HandshakeRequest, Rejection,
};
pub use limits::WebSocketLimits;
