//! The client a per-address limit counts: one IPv4 address, or one IPv6 /64.
//!
//! An IPv6 subscriber is handed a whole /64 (RFC 6177; RFC 8981 temporary addresses rotate
//! within it), so a limit keyed by the full 128-bit address gives one attacker 2^64
//! fresh keys. Keyed by the /64 instead, every address of one network counts as one
//! client, as an IPv4 address behind one router does. An IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`, what a dual-stack listener reports for IPv4 peers) is its IPv4 one.

use std::net::{IpAddr, Ipv6Addr};

/// The key per-address limits count `address` under: IPv4 as it is, IPv6 cut to its /64
/// (the low 64 bits zeroed), an IPv4-mapped IPv6 address as its IPv4 address.
pub fn limit_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: &str) -> String {
        limit_key(a.parse().unwrap()).to_string()
    }

    #[test]
    fn one_ipv6_network_is_one_client() {
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:3::1"),
            "another /64"
        );
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7", "IPv4-mapped");
        assert_eq!(key("::1"), "::", "loopback's /64");
    }
}
