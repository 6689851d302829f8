//! Close codes (RFC 6455 7.4) and every reason this core fails a WebSocket
//! connection, each mapped to its close code in one place (the WebSocket
//! counterpart of the h1 `RejectReason` and the h2 `Reason`).

use std::fmt;

/// A close status code as carried by a Close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page left).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a Close frame (never sent).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: an unexpected condition on the server.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether the code may appear in a Close frame (RFC 6455 7.4.1, 7.4.2
    /// and the IANA registry): 1000-1003, 1007-1014 (1012-1014 are the
    /// later registrations Service Restart, Try Again Later, Bad Gateway),
    /// and the 3000-4999 ranges for libraries and applications. 1004-1006,
    /// 1015 and everything else under 3000 or over 4999 are refused.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why this core failed the connection (RFC 6455 7.1.7): it sends a Close
/// frame with [`ProtocolError::close_code`] and stops reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// A client frame without the mask bit (RFC 6455 5.1).
    UnmaskedFrame,
    /// RSV2 or RSV3 set, or RSV1 set without permessage-deflate, on a
    /// control frame, or on a continuation frame.
    ReservedBits,
    /// An opcode from the reserved ranges 0x3-0x7 or 0xB-0xF.
    ReservedOpcode,
    /// A 16-bit or 64-bit length that would have fitted a shorter form, or
    /// a 64-bit length with the most significant bit set (RFC 6455 5.2).
    NonMinimalLength,
    /// A control frame with more than 125 bytes of payload.
    ControlFrameTooLong,
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new Text or Binary frame while a fragmented message is open.
    ExpectedContinuation,
    /// A Close payload of exactly one byte.
    BadClosePayload,
    /// A Close frame with a code that may not appear on the wire.
    InvalidCloseCode,
    /// A Close reason that is not UTF-8.
    InvalidCloseReason,
    /// A Text message that is not UTF-8.
    InvalidUtf8,
    /// A compressed message that does not inflate.
    BadCompressedData,
    /// A frame longer than [`super::WebSocketLimits::max_frame_size`].
    FrameTooLarge,
    /// A message (inflated, if compressed) longer than
    /// [`super::WebSocketLimits::max_message_size`]: a compression bomb
    /// ends here without being buffered.
    MessageTooLarge,
}

impl ProtocolError {
    /// The close code the Close frame carries.
    pub fn close_code(self) -> CloseCode {
        use ProtocolError::*;
        match self {
            InvalidUtf8 | InvalidCloseReason | BadCompressedData => CloseCode::INVALID_PAYLOAD,
            FrameTooLarge | MessageTooLarge => CloseCode::MESSAGE_TOO_BIG,
            UnmaskedFrame
            | ReservedBits
            | ReservedOpcode
            | NonMinimalLength
            | ControlFrameTooLong
            | FragmentedControlFrame
            | UnexpectedContinuation
            | ExpectedContinuation
            | BadClosePayload
            | InvalidCloseCode => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "websocket protocol error {}: {self:?}",
            self.close_code()
        )
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_of_close_codes() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1014, 3000, 3999, 4000,
            4999,
        ] {
            assert!(CloseCode(ok).is_valid_on_wire(), "{ok}");
        }
        for bad in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(bad).is_valid_on_wire(), "{bad}");
        }
    }

    #[test]
    fn every_error_has_its_code() {
        assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode(1007));
        assert_eq!(ProtocolError::MessageTooLarge.close_code(), CloseCode(1009));
        assert_eq!(ProtocolError::FrameTooLarge.close_code(), CloseCode(1009));
        assert_eq!(ProtocolError::UnmaskedFrame.close_code(), CloseCode(1002));
        assert_eq!(
            ProtocolError::BadCompressedData.close_code(),
            CloseCode(1007)
        );
    }
}
