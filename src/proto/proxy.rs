//! The PROXY protocol (versions 1 and 2), sans-io: a load balancer's preamble that tells the
//! server who the client really is.
//!
//! A proxy that speaks it (HAProxy, AWS NLB, ...) sends one header before the first byte of the
//! proxied stream, carrying the original source and destination addresses. The specification is
//! HAProxy's `proxy-protocol.txt` (<https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt>).
//!
//! [`parse`] looks at the start of a connection's input and says [`Parsed::Incomplete`] (read
//! more; the header is never longer than [`MAX_HEADER_LEN`] bytes, so a caller never needs to
//! buffer more), [`Parsed::Complete`] (the header and how many bytes it took; the proxied stream
//! starts right after), or a [`ProxyError`]. It borrows the input, copies nothing and never
//! allocates.
//!
//! Parsing is strict, as the specification asks of a receiver ("the receiver must not try to
//! guess"):
//!
//! * **v1** is one line `PROXY <proto> <src> <dst> <sport> <dport>\r\n` of at most
//!   [`V1_MAX_LEN`] bytes, with `<proto>` `TCP4`, `TCP6` or `UNKNOWN`; fields are separated by
//!   exactly one space; addresses are in the family `<proto>` names (dotted-quad IPv4 without
//!   leading zeros, RFC 4291 IPv6 text); ports are decimal `0..=65535` without leading zeros or
//!   signs; the line ends in CRLF. After `UNKNOWN` the rest of the line is ignored, as the
//!   specification requires.
//! * **v2** is the 12-byte signature, a version of 2, a command `LOCAL` or `PROXY`, an
//!   address family and transport among the seven the specification defines, and a length. The
//!   address block must fit in that length; what follows it must be a sequence of well-formed
//!   TLVs filling the rest exactly ([`ProxyHeader::tlvs`] walks them). The CRC32C TLV is not
//!   verified. For `LOCAL` the family and the whole block (addresses and TLVs) are ignored, as
//!   the specification requires.
//!
//! A header that fails any of these rules is an error; the caller should close the connection.
//! [`parse`] gives the same error for every longer buffer that starts with the same bytes, and
//! [`Parsed::Incomplete`] for every prefix too short to decide, so a caller can simply parse again
//! after each read.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest v1 header, CRLF included (the specification's 107 bytes).
pub const V1_MAX_LEN: usize = 107;

/// The fixed part of a v2 header: signature, version and command, family, length.
pub const V2_HEADER_LEN: usize = 16;

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The v1 signature (followed by one space).
pub const V1_SIGNATURE: &[u8; 5] = b"PROXY";

/// The longest header [`parse`] accepts, either version: 536 bytes (the minimum TCP MSS, which the
/// specification suggests as a receive buffer). That fits every address family with 304 bytes of
/// TLVs to spare beside a UNIX address block, and 484 beside an IPv6 one. A caller that must
/// accept longer TLVs uses [`parse_with_limit`].
pub const MAX_HEADER_LEN: usize = 536;

/// The outcome of [`parse`] on a buffer that is not (yet) known to be malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The buffer is a prefix of a header that could still be valid: read more and parse again.
    Incomplete,
    /// A complete, valid header.
    Complete {
        /// How many bytes the header took; the proxied stream starts at `buf[consumed..]`.
        consumed: usize,
        /// What the header says.
        header: ProxyHeader,
    },
}

/// The protocol version a header used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyVersion {
    /// The text format.
    V1,
    /// The binary format.
    V2,
}

/// What the proxy asks of the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyCommand {
    /// The proxy opened the connection itself (a health check): use the connection's own
    /// addresses. Only v2 has it.
    Local,
    /// The connection is relayed on behalf of a client; the addresses, where present, are the
    /// client's.
    Proxy,
}

/// The address family a header declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// Unknown or unspecified (v1 `UNKNOWN`, v2 `AF_UNSPEC`, and every v2 `LOCAL` header): no
    /// addresses.
    Unspecified,
    /// IPv4 (v1 `TCP4`, v2 `AF_INET`).
    Inet,
    /// IPv6 (v1 `TCP6`, v2 `AF_INET6`).
    Inet6,
    /// UNIX socket paths (v2 `AF_UNIX`); the paths are not decoded, so no addresses are reported.
    Unix,
}

/// The transport a header declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportProtocol {
    /// Unknown or unspecified.
    Unspecified,
    /// A stream (TCP, or a UNIX stream socket).
    Stream,
    /// Datagrams (UDP, or a UNIX datagram socket).
    Datagram,
}

/// A parsed PROXY protocol header. It borrows nothing; the TLVs of a v2 header are read from the
/// input with [`tlvs`](Self::tlvs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Which format the header used.
    pub version: ProxyVersion,
    /// `LOCAL` or `PROXY` (always `PROXY` for v1).
    pub command: ProxyCommand,
    /// The declared address family.
    pub family: AddressFamily,
    /// The declared transport.
    pub transport: TransportProtocol,
    /// The original client's address; `None` for `LOCAL`, unspecified and UNIX headers (use the
    /// connection's own peer address then).
    pub source: Option<SocketAddr>,
    /// The address the client connected to; `None` where `source` is.
    pub destination: Option<SocketAddr>,
    /// Where the TLVs lie in the parsed buffer (empty for v1).
    tlv_start: u16,
    tlv_end: u16,
}

impl ProxyHeader {
    /// The v2 TLVs (type-length-value extensions) of this header, read from `buf`, the buffer
    /// it was parsed from. Empty for v1 and `LOCAL` headers. [`parse`] has already checked their
    /// framing.
    pub fn tlvs<'a>(&self, buf: &'a [u8]) -> Tlvs<'a> {
        let area = buf
            .get(usize::from(self.tlv_start)..usize::from(self.tlv_end))
            .unwrap_or(&[]);
        Tlvs { rest: area }
    }

    fn without_tlvs(
        version: ProxyVersion,
        command: ProxyCommand,
        family: AddressFamily,
        transport: TransportProtocol,
        addrs: Option<(SocketAddr, SocketAddr)>,
    ) -> Self {
        ProxyHeader {
            version,
            command,
            family,
            transport,
            source: addrs.map(|a| a.0),
            destination: addrs.map(|a| a.1),
            tlv_start: 0,
            tlv_end: 0,
        }
    }
}

/// One v2 TLV.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The type byte (`0x01` ALPN, `0x02` authority, `0x04` NOOP, `0x20` SSL, ... see the
    /// specification, section 2.2).
    pub kind: u8,
    /// The value.
    pub value: &'a [u8],
}

/// An iterator over the TLVs of a v2 header, from [`ProxyHeader::tlvs`].
#[derive(Clone, Debug)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let (tlv, rest) = split_tlv(self.rest)?;
        self.rest = rest;
        Some(tlv)
    }
}

/// The first TLV of `area` and what follows it, `None` if `area` does not start with a whole one.
fn split_tlv(area: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let [kind, hi, lo, rest @ ..] = area else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((Tlv { kind: *kind, value }, rest))
}

/// Why a buffer is not a valid PROXY protocol header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyError {
    /// The input starts with neither the v1 (`PROXY`) nor the v2 signature: the peer does not
    /// speak the PROXY protocol (or sent plain HTTP to a listener that expects it).
    NotProxyProtocol,
    /// No CRLF within the first [`V1_MAX_LEN`] bytes of a v1 header.
    V1TooLong,
    /// A v1 line that ends in a bare LF, or contains a CR before its end.
    V1BadLineEnding,
    /// A v1 line whose fields are not separated by exactly one space, or that has too few or
    /// too many fields.
    V1Malformed,
    /// A v1 protocol other than `TCP4`, `TCP6` and `UNKNOWN`.
    V1UnknownProtocol,
    /// A v1 address that is not a valid address of the family the protocol names.
    V1InvalidAddress,
    /// A v1 port that is not a decimal number `0..=65535` without leading zeros.
    V1InvalidPort,
    /// A v2 version nibble other than 2.
    V2UnsupportedVersion,
    /// A v2 command other than `LOCAL` (0) and `PROXY` (1).
    V2UnknownCommand,
    /// A v2 family and transport byte that is none of the seven the specification defines.
    V2UnknownFamily,
    /// A v2 header longer than the limit ([`MAX_HEADER_LEN`] unless the caller chose another).
    V2TooLong,
    /// A v2 length too small for the address block of the declared family.
    V2AddressTooShort,
    /// The bytes after a v2 address block are not a sequence of whole TLVs.
    V2InvalidTlv,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProxyError::NotProxyProtocol => "not a PROXY protocol header (no v1 or v2 signature)",
            ProxyError::V1TooLong => "PROXY v1 header longer than 107 bytes",
            ProxyError::V1BadLineEnding => "PROXY v1 header not ended by CRLF",
            ProxyError::V1Malformed => "PROXY v1 header fields malformed",
            ProxyError::V1UnknownProtocol => "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN",
            ProxyError::V1InvalidAddress => "PROXY v1 address invalid for its protocol",
            ProxyError::V1InvalidPort => "PROXY v1 port invalid",
            ProxyError::V2UnsupportedVersion => "PROXY v2 header with a version other than 2",
            ProxyError::V2UnknownCommand => "PROXY v2 command is not LOCAL or PROXY",
            ProxyError::V2UnknownFamily => "PROXY v2 address family or transport unknown",
            ProxyError::V2TooLong => "PROXY v2 header longer than the limit",
            ProxyError::V2AddressTooShort => "PROXY v2 length too small for its address block",
            ProxyError::V2InvalidTlv => "PROXY v2 TLVs malformed",
        })
    }
}

impl std::error::Error for ProxyError {}

/// Parses a PROXY protocol header (v1 or v2) at the start of `buf`, accepting v2 headers up to
/// [`MAX_HEADER_LEN`] bytes. See the [module documentation](self) for the rules.
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    parse_with_limit(buf, MAX_HEADER_LEN)
}

/// [`parse`] with another limit on the length of a v2 header (signature and TLVs included);
/// a v2 header longer than `max_len` is [`ProxyError::V2TooLong`]. v1 headers are always limited
/// to [`V1_MAX_LEN`]. The limit is capped at `16 + 65535`, the longest a v2 header can be.
pub fn parse_with_limit(buf: &[u8], max_len: usize) -> Result<Parsed, ProxyError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'P') => parse_v1(buf),
        Some(b'\r') => parse_v2(buf, max_len),
        Some(_) => Err(ProxyError::NotProxyProtocol),
    }
}

/// Whether `buf` is a prefix of `signature` or starts with it.
fn matches_signature(buf: &[u8], signature: &[u8]) -> bool {
    let n = buf.len().min(signature.len());
    buf[..n] == signature[..n]
}

// ---- v1 ---------------------------------------------------------------------------------------

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if !matches_signature(buf, V1_SIGNATURE) {
        return Err(ProxyError::NotProxyProtocol);
    }
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        return if window.len() == V1_MAX_LEN {
            Err(ProxyError::V1TooLong)
        } else {
            Ok(Parsed::Incomplete)
        };
    };
    // The line without its CRLF; a CR anywhere else (or a missing one) is a bad line ending.
    let line = match lf.checked_sub(1) {
        Some(cr) if window[cr] == b'\r' => &window[..cr],
        _ => return Err(ProxyError::V1BadLineEnding),
    };
    if line.contains(&b'\r') {
        return Err(ProxyError::V1BadLineEnding);
    }
    let header = parse_v1_fields(line)?;
    Ok(Parsed::Complete {
        consumed: lf + 1,
        header,
    })
}

/// The fields of a v1 line (without its CRLF), which starts with the signature.
fn parse_v1_fields(line: &[u8]) -> Result<ProxyHeader, ProxyError> {
    let Some(rest) = line[V1_SIGNATURE.len()..].strip_prefix(b" ") else {
        return Err(ProxyError::V1Malformed);
    };
    let (proto, rest) = match rest.iter().position(|&b| b == b' ') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let family = match proto {
        // The rest of the line is to be ignored (specification, section 2.1).
        b"UNKNOWN" => {
            return Ok(ProxyHeader::without_tlvs(
                ProxyVersion::V1,
                ProxyCommand::Proxy,
                AddressFamily::Unspecified,
                TransportProtocol::Unspecified,
                None,
            ))
        }
        b"TCP4" => AddressFamily::Inet,
        b"TCP6" => AddressFamily::Inet6,
        b"" => return Err(ProxyError::V1Malformed),
        _ => return Err(ProxyError::V1UnknownProtocol),
    };
    let mut fields = rest.ok_or(ProxyError::V1Malformed)?.split(|&b| b == b' ');
    let mut next = || match fields.next() {
        Some(f) if !f.is_empty() => Ok(f),
        _ => Err(ProxyError::V1Malformed),
    };
    let (src, dst, sport, dport) = (next()?, next()?, next()?, next()?);
    if fields.next().is_some() {
        return Err(ProxyError::V1Malformed);
    }
    let src = parse_v1_addr(src, family)?;
    let dst = parse_v1_addr(dst, family)?;
    let sport = parse_v1_port(sport)?;
    let dport = parse_v1_port(dport)?;
    Ok(ProxyHeader::without_tlvs(
        ProxyVersion::V1,
        ProxyCommand::Proxy,
        family,
        TransportProtocol::Stream,
        Some((SocketAddr::new(src, sport), SocketAddr::new(dst, dport))),
    ))
}

/// An address of `family` in text; `std`'s parsers are strict (no leading zeros in IPv4 octets,
/// no zone in IPv6).
fn parse_v1_addr(field: &[u8], family: AddressFamily) -> Result<IpAddr, ProxyError> {
    let text = std::str::from_utf8(field).map_err(|_| ProxyError::V1InvalidAddress)?;
    let addr = match family {
        AddressFamily::Inet => text.parse::<Ipv4Addr>().map(IpAddr::V4),
        _ => text.parse::<Ipv6Addr>().map(IpAddr::V6),
    };
    addr.map_err(|_| ProxyError::V1InvalidAddress)
}

/// A port: `0`, or 1 to 5 digits not starting with `0`, at most 65535.
fn parse_v1_port(field: &[u8]) -> Result<u16, ProxyError> {
    let valid = match field {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.len() < 5 && rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !valid {
        return Err(ProxyError::V1InvalidPort);
    }
    let n = field
        .iter()
        .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u16::try_from(n).map_err(|_| ProxyError::V1InvalidPort)
}

// ---- v2 ---------------------------------------------------------------------------------------

/// Address block sizes (specification, section 2.2).
const V2_INET_LEN: usize = 12;
const V2_INET6_LEN: usize = 36;
const V2_UNIX_LEN: usize = 216;

fn parse_v2(buf: &[u8], max_len: usize) -> Result<Parsed, ProxyError> {
    if !matches_signature(buf, &V2_SIGNATURE) {
        return Err(ProxyError::NotProxyProtocol);
    }
    let Some(fixed) = buf.get(..V2_HEADER_LEN) else {
        return Ok(Parsed::Incomplete);
    };
    let ver_cmd = fixed[12];
    let fam = fixed[13];
    let len = usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::V2UnsupportedVersion);
    }
    let command = match ver_cmd & 0x0F {
        0 => ProxyCommand::Local,
        1 => ProxyCommand::Proxy,
        _ => return Err(ProxyError::V2UnknownCommand),
    };
    // LOCAL: "the receiver must ... discard the protocol block including the family which is
    // ignored" (section 2.2).
    let (family, transport, addr_len) = match command {
        ProxyCommand::Local => (
            AddressFamily::Unspecified,
            TransportProtocol::Unspecified,
            0,
        ),
        ProxyCommand::Proxy => family_and_transport(fam)?,
    };
    let total = V2_HEADER_LEN + len;
    if total > max_len.min(V2_HEADER_LEN + usize::from(u16::MAX)) {
        return Err(ProxyError::V2TooLong);
    }
    if len < addr_len {
        return Err(ProxyError::V2AddressTooShort);
    }
    let Some(block) = buf.get(V2_HEADER_LEN..total) else {
        return Ok(Parsed::Incomplete);
    };
    let (addrs, tlv_area) = block.split_at(addr_len);
    let mut header = ProxyHeader::without_tlvs(
        ProxyVersion::V2,
        command,
        family,
        transport,
        v2_addresses(family, addrs),
    );
    if command == ProxyCommand::Local {
        // The whole block of a LOCAL header, TLVs included, is discarded unread.
        return Ok(Parsed::Complete {
            consumed: total,
            header,
        });
    }
    let mut rest = tlv_area;
    while !rest.is_empty() {
        rest = split_tlv(rest).ok_or(ProxyError::V2InvalidTlv)?.1;
    }
    // `total` is at most 16 + 65535, which fits the offsets only after the limit check; a
    // caller's huge limit could exceed u16, in which case the TLVs are simply not reported.
    if let (Ok(start), Ok(end)) = (
        u16::try_from(V2_HEADER_LEN + addr_len),
        u16::try_from(total),
    ) {
        header.tlv_start = start;
        header.tlv_end = end;
    }
    Ok(Parsed::Complete {
        consumed: total,
        header,
    })
}

/// The family, transport and address block length of a v2 `PROXY` header's family byte.
fn family_and_transport(fam: u8) -> Result<(AddressFamily, TransportProtocol, usize), ProxyError> {
    use AddressFamily as F;
    use TransportProtocol as T;
    Ok(match fam {
        0x00 => (F::Unspecified, T::Unspecified, 0),
        0x11 => (F::Inet, T::Stream, V2_INET_LEN),
        0x12 => (F::Inet, T::Datagram, V2_INET_LEN),
        0x21 => (F::Inet6, T::Stream, V2_INET6_LEN),
        0x22 => (F::Inet6, T::Datagram, V2_INET6_LEN),
        0x31 => (F::Unix, T::Stream, V2_UNIX_LEN),
        0x32 => (F::Unix, T::Datagram, V2_UNIX_LEN),
        _ => return Err(ProxyError::V2UnknownFamily),
    })
}

/// Source and destination from an address block of the right length for `family`.
fn v2_addresses(family: AddressFamily, block: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    match family {
        AddressFamily::Inet => {
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    block[at],
                    block[at + 1],
                    block[at + 2],
                    block[at + 3],
                ))
            };
            Some((
                SocketAddr::new(ip(0), port(8)),
                SocketAddr::new(ip(4), port(10)),
            ))
        }
        AddressFamily::Inet6 => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&block[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            Some((
                SocketAddr::new(ip(0), port(32)),
                SocketAddr::new(ip(16), port(34)),
            ))
        }
        AddressFamily::Unspecified | AddressFamily::Unix => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    /// Parses `buf` whole, checks that every strict prefix is `Incomplete` or the same error,
    /// and that bytes after a complete header do not change it; returns the whole result.
    fn parse_checked(buf: &[u8]) -> Result<Parsed, ProxyError> {
        let whole = parse(buf);
        let end = match whole {
            Ok(Parsed::Complete { consumed, .. }) => consumed,
            _ => buf.len(),
        };
        for cut in 0..end {
            match parse(&buf[..cut]) {
                Ok(Parsed::Incomplete) => {}
                other => {
                    assert!(whole.is_err(), "prefix {cut} of {buf:?} gave {other:?}");
                    assert_eq!(other, whole, "prefix {cut} of {buf:?}");
                }
            }
        }
        if let Ok(Parsed::Complete { consumed, .. }) = whole {
            assert_eq!(parse(&buf[..consumed]), whole);
            let longer = [buf, b"GET / HTTP/1.1\r\n"].concat();
            assert_eq!(parse(&longer), whole, "trailing bytes changed the header");
        }
        whole
    }

    fn complete(buf: &[u8]) -> (usize, ProxyHeader) {
        match parse_checked(buf) {
            Ok(Parsed::Complete { consumed, header }) => (consumed, header),
            other => panic!("{buf:?}: {other:?}"),
        }
    }

    fn error(buf: &[u8]) -> ProxyError {
        match parse_checked(buf) {
            Err(e) => e,
            other => panic!("{buf:?}: {other:?}"),
        }
    }

    // ---- v1 ----

    #[test]
    fn v1_tcp4() {
        let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
        let (n, h) = complete(line);
        assert_eq!(n, line.len());
        assert_eq!(h.version, ProxyVersion::V1);
        assert_eq!(h.command, ProxyCommand::Proxy);
        assert_eq!(h.family, AddressFamily::Inet);
        assert_eq!(h.transport, TransportProtocol::Stream);
        assert_eq!(h.source, sock("192.168.0.1:56324"));
        assert_eq!(h.destination, sock("192.168.0.11:443"));
        assert_eq!(h.tlvs(line).count(), 0);
    }

    #[test]
    fn v1_tcp6() {
        let line = b"PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 0 65535\r\n";
        let (n, h) = complete(line);
        assert_eq!(n, line.len());
        assert_eq!(h.family, AddressFamily::Inet6);
        assert_eq!(h.source, sock("[2001:db8::1]:0"));
        assert_eq!(h.destination, sock("[::ffff:10.0.0.1]:65535"));
    }

    #[test]
    fn v1_longest_line_is_accepted() {
        let a = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        let line = format!("PROXY TCP6 {a} {a} 65535 65535\r\n");
        assert_eq!(complete(line.as_bytes()).0, 104);
        // The specification's worst case.
        let line = format!("PROXY UNKNOWN {a} {a} 65535 65535\r\n");
        assert_eq!(line.len(), V1_MAX_LEN);
        assert_eq!(complete(line.as_bytes()).0, V1_MAX_LEN);
    }

    #[test]
    fn v1_unknown_ignores_the_rest_of_the_line() {
        for line in [
            &b"PROXY UNKNOWN\r\n"[..],
            b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
            b"PROXY UNKNOWN  anything at all\r\n",
            // "The rest of the line is to be ignored", controls included: nothing of it is
            // used, and the line still has to end in CRLF with no CR before.
            b"PROXY UNKNOWN \x00\x01\x7f\r\n",
        ] {
            let (n, h) = complete(line);
            assert_eq!(n, line.len());
            assert_eq!(h.command, ProxyCommand::Proxy);
            assert_eq!(h.family, AddressFamily::Unspecified);
            assert_eq!((h.source, h.destination), (None, None));
        }
    }

    #[test]
    fn v1_malformed() {
        use ProxyError::*;
        let cases: &[(&[u8], ProxyError)] = &[
            (b"GET / HTTP/1.1\r\n", NotProxyProtocol),
            (b"PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n", NotProxyProtocol),
            (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", NotProxyProtocol),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", V1BadLineEnding),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", V1BadLineEnding),
            (b"PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", V1BadLineEnding),
            (b"PROXY\r\n", V1Malformed),
            (b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", V1Malformed),
            (b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", V1Malformed),
            (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", V1Malformed),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", V1Malformed),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", V1Malformed),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", V1Malformed),
            (b"PROXY TCP4\r\n", V1Malformed),
            (b"PROXY \r\n", V1Malformed),
            (b"PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", V1UnknownProtocol),
            (b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", V1UnknownProtocol),
            (b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", V1UnknownProtocol),
            (b"PROXY UNKNOWNX\r\n", V1UnknownProtocol),
            (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", V1UnknownProtocol),
            (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", V1InvalidAddress),
            // Control characters inside the fields (issue 11's review): NUL, DEL, a bare LF
            // cutting the line short.
            (b"PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x7f\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8\n 1 2\r\n", V1BadLineEnding),
            (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP6 [::1] ::1 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP4 1.2.3.\xff 5.6.7.8 1 2\r\n", V1InvalidAddress),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n", V1InvalidPort),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n", V1InvalidPort),
        ];
        for &(line, want) in cases {
            assert_eq!(error(line), want, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn v1_without_crlf_in_107_bytes_is_too_long() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(V1_MAX_LEN, b'x');
        assert_eq!(parse(&line[..V1_MAX_LEN - 1]), Ok(Parsed::Incomplete));
        assert_eq!(error(&line), ProxyError::V1TooLong);
        line.extend_from_slice(b"\r\n");
        assert_eq!(error(&line), ProxyError::V1TooLong);
        // 106 bytes of line and the CR: the LF is byte 108.
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(V1_MAX_LEN - 1, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(error(&line), ProxyError::V1TooLong);
    }

    // ---- v2 ----

    /// A v2 header: version/command byte, family byte, then `block` (addresses and TLVs).
    fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(ver_cmd);
        h.push(fam);
        h.extend_from_slice(&(block.len() as u16).to_be_bytes());
        h.extend_from_slice(block);
        h
    }

    fn inet_block() -> Vec<u8> {
        let mut b = vec![10, 0, 0, 1, 192, 168, 1, 2];
        b.extend_from_slice(&51234u16.to_be_bytes());
        b.extend_from_slice(&8080u16.to_be_bytes());
        b
    }

    fn inet6_block() -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut b = src.octets().to_vec();
        b.extend_from_slice(&dst.octets());
        b.extend_from_slice(&4711u16.to_be_bytes());
        b.extend_from_slice(&443u16.to_be_bytes());
        b
    }

    #[test]
    fn v2_tcp4() {
        let h = v2(0x21, 0x11, &inet_block());
        let (n, p) = complete(&h);
        assert_eq!(n, 28);
        assert_eq!(p.version, ProxyVersion::V2);
        assert_eq!(p.command, ProxyCommand::Proxy);
        assert_eq!(p.family, AddressFamily::Inet);
        assert_eq!(p.transport, TransportProtocol::Stream);
        assert_eq!(p.source, sock("10.0.0.1:51234"));
        assert_eq!(p.destination, sock("192.168.1.2:8080"));
        assert_eq!(p.tlvs(&h).count(), 0);
    }

    #[test]
    fn v2_udp6() {
        let h = v2(0x21, 0x22, &inet6_block());
        let (n, p) = complete(&h);
        assert_eq!(n, 16 + 36);
        assert_eq!(p.family, AddressFamily::Inet6);
        assert_eq!(p.transport, TransportProtocol::Datagram);
        assert_eq!(p.source, sock("[2001:db8::1]:4711"));
        assert_eq!(p.destination, sock("[2001:db8::2]:443"));
    }

    #[test]
    fn v2_tlvs_are_walked_and_reported() {
        let mut block = inet6_block();
        block.extend_from_slice(&[0x02, 0, 11]);
        block.extend_from_slice(b"example.com");
        block.extend_from_slice(&[0x04, 0, 0]); // NOOP, empty
        block.extend_from_slice(&[0x01, 0, 2, b'h', b'2']);
        let h = v2(0x21, 0x21, &block);
        let (n, p) = complete(&h);
        assert_eq!(n, h.len());
        let tlvs: Vec<_> = p.tlvs(&h).collect();
        assert_eq!(
            tlvs,
            [
                Tlv {
                    kind: 0x02,
                    value: b"example.com"
                },
                Tlv {
                    kind: 0x04,
                    value: b""
                },
                Tlv {
                    kind: 0x01,
                    value: b"h2"
                },
            ]
        );
    }

    #[test]
    fn v2_local_ignores_family_and_block() {
        for (fam, block) in [
            (0x00, Vec::new()),
            (0x11, inet_block()),
            (0xFF, vec![1, 2, 3]),
        ] {
            let h = v2(0x20, fam, &block);
            let (n, p) = complete(&h);
            assert_eq!(n, h.len());
            assert_eq!(p.command, ProxyCommand::Local);
            assert_eq!(p.family, AddressFamily::Unspecified);
            assert_eq!((p.source, p.destination), (None, None));
            assert_eq!(p.tlvs(&h).count(), 0);
        }
    }

    #[test]
    fn v2_unspec_and_unix_have_no_addresses() {
        let h = v2(0x21, 0x00, &[]);
        let (_, p) = complete(&h);
        assert_eq!(p.family, AddressFamily::Unspecified);
        assert_eq!(p.source, None);
        let h = v2(0x21, 0x31, &[b'/'; 216]);
        let (n, p) = complete(&h);
        assert_eq!(n, 232);
        assert_eq!(p.family, AddressFamily::Unix);
        assert_eq!(p.transport, TransportProtocol::Stream);
        assert_eq!((p.source, p.destination), (None, None));
    }

    #[test]
    fn v2_malformed() {
        use ProxyError::*;
        let mut bad_sig = v2(0x21, 0x11, &inet_block());
        bad_sig[11] = b'X';
        let mut tlv_overrun = inet_block();
        tlv_overrun.extend_from_slice(&[0x02, 0, 5, b'a']);
        let mut tlv_stub = inet_block();
        tlv_stub.extend_from_slice(&[0x02, 0]);
        let cases: Vec<(Vec<u8>, ProxyError)> = vec![
            (bad_sig, NotProxyProtocol),
            (b"\r\nGET".to_vec(), NotProxyProtocol),
            (v2(0x11, 0x11, &inet_block()), V2UnsupportedVersion),
            (v2(0x31, 0x11, &inet_block()), V2UnsupportedVersion),
            (v2(0x22, 0x11, &inet_block()), V2UnknownCommand),
            (v2(0x2F, 0x11, &inet_block()), V2UnknownCommand),
            (v2(0x21, 0x13, &inet_block()), V2UnknownFamily),
            (v2(0x21, 0x10, &inet_block()), V2UnknownFamily),
            (v2(0x21, 0x41, &inet_block()), V2UnknownFamily),
            (v2(0x21, 0x01, &inet_block()), V2UnknownFamily),
            (v2(0x21, 0x11, &inet_block()[..11]), V2AddressTooShort),
            (v2(0x21, 0x21, &inet_block()), V2AddressTooShort),
            (v2(0x21, 0x31, &inet6_block()), V2AddressTooShort),
            (v2(0x21, 0x11, &tlv_overrun), V2InvalidTlv),
            (v2(0x21, 0x11, &tlv_stub), V2InvalidTlv),
            (v2(0x21, 0x00, &[0]), V2InvalidTlv),
            (v2(0x21, 0x11, &[0u8; MAX_HEADER_LEN - 15]), V2TooLong),
            (v2(0x20, 0x00, &[0u8; MAX_HEADER_LEN - 15]), V2TooLong),
        ];
        for (h, want) in cases {
            assert_eq!(error(&h), want, "{h:?}");
        }
    }

    #[test]
    fn v2_length_limit() {
        let mut block = inet_block();
        let pad = MAX_HEADER_LEN - 16 - block.len() - 3;
        block.extend_from_slice(&[0x04]);
        block.extend_from_slice(&(pad as u16).to_be_bytes());
        block.resize(block.len() + pad, 0);
        let h = v2(0x21, 0x11, &block);
        assert_eq!(h.len(), MAX_HEADER_LEN);
        assert_eq!(complete(&h).0, MAX_HEADER_LEN);
        // Too long is known from the fixed part alone, before the block arrives.
        assert_eq!(
            parse_with_limit(&h[..16], MAX_HEADER_LEN - 1),
            Err(ProxyError::V2TooLong)
        );
        assert!(matches!(
            parse_with_limit(&h, usize::MAX),
            Ok(Parsed::Complete { .. })
        ));
    }

    #[test]
    fn empty_and_short_inputs_are_incomplete() {
        assert_eq!(parse(b""), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"P"), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"PROXY TCP4 1.2"), Ok(Parsed::Incomplete));
        assert_eq!(parse(b"\r\n\r\n\0"), Ok(Parsed::Incomplete));
        assert_eq!(parse(&V2_SIGNATURE), Ok(Parsed::Incomplete));
    }

    /// Valid headers of every kind, for mutation.
    fn valid_headers() -> Vec<Vec<u8>> {
        let mut tlvs = inet6_block();
        tlvs.extend_from_slice(&[0x02, 0, 3, b'a', b'.', b'b', 0x04, 0, 0]);
        vec![
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec(),
            b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n".to_vec(),
            b"PROXY UNKNOWN\r\n".to_vec(),
            v2(0x21, 0x11, &inet_block()),
            v2(0x21, 0x21, &tlvs),
            v2(0x20, 0x00, &[]),
        ]
    }

    proptest::proptest! {
        /// A mutated valid header parses to a header or an error, consistently over its prefixes
        /// and extensions (`parse_checked`), and never panics.
        #[test]
        fn mutated_headers_are_consistent(
            which in 0usize..6,
            at in 0usize..64,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..64,
        ) {
            let mut h = valid_headers()[which].clone();
            let i = at % h.len();
            h[i] = byte;
            h.truncate(h.len() - cut % h.len());
            let _ = parse_checked(&h);
        }

        /// Arbitrary bytes never panic, and `Incomplete` is bounded.
        #[test]
        fn arbitrary_bytes(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if parse(&buf) == Ok(Parsed::Incomplete) {
                proptest::prop_assert!(buf.len() < MAX_HEADER_LEN);
            }
        }
    }

    #[test]
    fn errors_display() {
        for e in [
            ProxyError::NotProxyProtocol,
            ProxyError::V1TooLong,
            ProxyError::V2InvalidTlv,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
