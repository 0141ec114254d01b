//! The address a request comes from, for a hook's `allowed_ips`.
//!
//! It is the TCP peer. `X-Forwarded-For` and `Forwarded` are believed only when the peer is a
//! trusted proxy (`HOOKGATE_TRUSTED_PROXIES`): then the client is the right-most address of the
//! chain that is not itself a trusted proxy. Headers sent by anyone else are ignored, so a
//! sender cannot claim an allowed address by writing it in a header.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client address of a request whose TCP peer is `peer`. `header(name)` gives every value
/// of a header, in order.
pub fn client_ip(
    peer: Option<IpAddr>,
    trusted: &[IpNet],
    header: &dyn Fn(&str) -> Vec<String>,
) -> Option<IpAddr> {
    let peer = peer.map(canonical)?;
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let mut chain: Vec<IpAddr> = Vec::new();
    for value in header("forwarded") {
        chain.extend(value.split(',').filter_map(forwarded_for));
    }
    if chain.is_empty() {
        for value in header("x-forwarded-for") {
            chain.extend(value.split(',').filter_map(|a| parse_addr(a.trim())));
        }
    }
    // Right to left: the first address not a trusted proxy is the client.
    Some(
        chain
            .into_iter()
            .rev()
            .map(canonical)
            .find(|a| !is_trusted(*a, trusted))
            .unwrap_or(peer),
    )
}

/// True when `ip` is in one of `nets`.
pub fn is_trusted(ip: IpAddr, nets: &[IpNet]) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// `::ffff:1.2.3.4` is `1.2.3.4`, so IPv4 rules hold for a dual-stack listener too.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The `for=` of one `Forwarded` element (RFC 7239): `for=192.0.2.1`, `for="[2001:db8::1]:443"`.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_addr(v.trim().trim_matches('"')))?
    })
}

/// An address, with or without a port or IPv6 brackets.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|a| a.parse().ok())
        .or_else(|| s.rsplit_once(':').and_then(|(a, _)| a.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(xff: &'static str, fwd: &'static str) -> impl Fn(&str) -> Vec<String> {
        move |name| match name {
            "x-forwarded-for" if !xff.is_empty() => vec![xff.to_string()],
            "forwarded" if !fwd.is_empty() => vec![fwd.to_string()],
            _ => vec![],
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers("192.30.252.1", "for=192.30.252.1");
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &trusted, &h),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &[], &h),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn a_trusted_proxy_is_believed_right_to_left() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let h = headers("1.1.1.1, 192.30.252.1, 10.0.0.2", "");
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &trusted, &h),
            Some(ip("192.30.252.1"))
        );
        let h = headers("", r#"for=1.1.1.1, for="[2001:db8::7]:443";proto=https"#);
        assert_eq!(
            client_ip(Some(ip("::1")), &trusted, &h),
            Some(ip("2001:db8::7"))
        );
        let h = headers("", "");
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &trusted, &h),
            Some(ip("10.0.0.1"))
        );
        let h = headers("garbage, 10.0.0.3", "");
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &trusted, &h),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn mapped_ipv4_reads_as_ipv4() {
        assert_eq!(
            client_ip(Some(ip("::ffff:192.0.2.1")), &[], &headers("", "")),
            Some(ip("192.0.2.1"))
        );
        assert_eq!(parse_addr("192.0.2.1:8080"), Some(ip("192.0.2.1")));
        assert_eq!(parse_addr("[2001:db8::1]:80"), Some(ip("2001:db8::1")));
    }
}
