//! [`IpNetwork`]: an address range in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP network: an address and a prefix length, e.g. `10.0.0.0/8` (ASP.NET Core's
/// `IPNetwork`).
///
/// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) are the IPv4 addresses they map: such an
/// address is in `10.0.0.0/8`, and a network written `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
/// Host bits below the prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix_len: u8,
}

/// Why a network could not be parsed or built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpNetworkError {
    /// No `/` separating the address from the prefix length.
    MissingPrefix,
    /// The part before `/` is not an IPv4 or IPv6 address.
    InvalidAddress,
    /// The prefix length is not a decimal number up to 32 (IPv4) or 128 (IPv6).
    InvalidPrefix,
}

impl fmt::Display for IpNetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpNetworkError::MissingPrefix => "network has no /prefix-length",
            IpNetworkError::InvalidAddress => "network address is not an IP address",
            IpNetworkError::InvalidPrefix => "network prefix length out of range",
        })
    }
}

impl std::error::Error for IpNetworkError {}

impl IpNetwork {
    /// The network of `addr` with a `prefix_len`-bit prefix (at most 32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Self, IpNetworkError> {
        let (addr, prefix_len) = match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix_len >= 96 => (IpAddr::V4(v4), prefix_len - 96),
                _ => (addr, prefix_len),
            },
            IpAddr::V4(_) => (addr, prefix_len),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix_len > max {
            return Err(IpNetworkError::InvalidPrefix);
        }
        Ok(IpNetwork {
            addr: mask(addr, prefix_len),
            prefix_len,
        })
    }

    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix_len) == self.addr
    }
}

/// `ip` with all but its first `prefix_len` bits cleared.
fn mask(ip: IpAddr, prefix_len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl FromStr for IpNetwork {
    type Err = IpNetworkError;

    /// Parses `address/prefix-length`; the prefix length is decimal digits without a sign.
    fn from_str(s: &str) -> Result<Self, IpNetworkError> {
        let (addr, prefix) = s.split_once('/').ok_or(IpNetworkError::MissingPrefix)?;
        let addr: IpAddr = addr.parse().map_err(|_| IpNetworkError::InvalidAddress)?;
        if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IpNetworkError::InvalidPrefix);
        }
        let prefix: u8 = prefix.parse().map_err(|_| IpNetworkError::InvalidPrefix)?;
        IpNetwork::new(addr, prefix)
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_networks() {
        let n = net("10.0.0.0/8");
        assert!(n.contains(ip("10.0.0.1")));
        assert!(n.contains(ip("10.255.255.255")));
        assert!(!n.contains(ip("11.0.0.0")));
        assert!(!n.contains(ip("::1")));
        assert_eq!(net("10.1.2.3/8"), n, "host bits are ignored");
        assert!(net("0.0.0.0/0").contains(ip("1.2.3.4")));
        assert!(net("1.2.3.4/32").contains(ip("1.2.3.4")));
        assert!(!net("1.2.3.4/32").contains(ip("1.2.3.5")));
        assert!(net("192.168.1.0/23").contains(ip("192.168.0.9")));
        assert_eq!(n.to_string(), "10.0.0.0/8");
    }

    #[test]
    fn ipv6_networks() {
        let n = net("2001:db8::/32");
        assert!(n.contains(ip("2001:db8:ffff::1")));
        assert!(!n.contains(ip("2001:db9::1")));
        assert!(!n.contains(ip("32.1.13.184")));
        assert!(net("::/0").contains(ip("::1")));
        assert!(net("::1/128").contains(ip("::1")));
    }

    #[test]
    fn ipv4_mapped_addresses_are_ipv4() {
        assert!(net("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        let mapped = net("::ffff:10.0.0.0/104");
        assert_eq!(mapped, net("10.0.0.0/8"));
        assert!(mapped.contains(ip("10.9.9.9")));
        assert!(mapped.contains(ip("::ffff:10.9.9.9")));
    }

    #[test]
    fn invalid_networks() {
        use IpNetworkError::*;
        for (s, e) in [
            ("10.0.0.0", MissingPrefix),
            ("10.0.0/8", InvalidAddress),
            ("[::1]/128", InvalidAddress),
            ("10.0.0.0/33", InvalidPrefix),
            ("::/129", InvalidPrefix),
            ("10.0.0.0/", InvalidPrefix),
            ("10.0.0.0/+8", InvalidPrefix),
            ("10.0.0.0/0008", InvalidPrefix),
            ("10.0.0.0/8/8", InvalidPrefix),
        ] {
            assert_eq!(s.parse::<IpNetwork>(), Err(e), "{s}");
        }
    }
}
