//! The SSRF guard for every outgoing request (http steps, outgoing hooks): which targets
//! hookgate may connect to (SPEC §6, last bullet).
//!
//! Literal IPs are judged by [`TargetGuard::check_url`]; host names are judged by the resolver
//! of [`TargetGuard::client`] on the addresses actually connected to, so a name that resolves
//! differently between a check and the connection (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Why a target is refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum GuardError {
    /// The URL's scheme is not allowed (only `https`, plus `http` when private targets are).
    #[error("scheme {0:?} is not allowed: targets must use https")]
    Scheme(String),
    /// The target address is loopback, private, link-local, metadata or otherwise reserved.
    #[error(
        "target address {0} is loopback, private, link-local or reserved \
         (allowed only with HOOKGATE_ALLOW_PRIVATE_TARGETS=true)"
    )]
    Forbidden(String),
    /// The host name did not resolve to any address.
    #[error("host {0} did not resolve to any address")]
    Unresolvable(String),
    /// The URL does not parse or has no host. The URL itself is not repeated: a webhook URL
    /// can be a secret (Slack's), and this message reaches logs and stored errors.
    #[error("invalid url: {0}")]
    InvalidUrl(String),
}

/// Decides which targets outgoing requests may reach.
#[derive(Debug, Clone, Copy)]
pub struct TargetGuard {
    /// Allow `http` and non-public addresses (`HOOKGATE_ALLOW_PRIVATE_TARGETS`, used by tests).
    pub allow_private: bool,
}

impl TargetGuard {
    /// Loopback, private (10/8, 172.16/12, 192.168/16), CGNAT 100.64/10, link-local 169.254/16
    /// (incl. metadata 169.254.169.254), 0.0.0.0/8, broadcast, multicast, documentation/reserved
    /// ranges, IPv6 ::1, ::, fc00::/7, fe80::/10, ff00::/8, and IPv4-mapped/-compatible IPv6
    /// (::ffff:127.0.0.1) judged by their IPv4 — are refused unless allow_private.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), GuardError> {
        if self.allow_private || is_public(ip) {
            Ok(())
        } else {
            Err(GuardError::Forbidden(ip.to_string()))
        }
    }

    /// Parses and checks the scheme (`https` only, `http` too when allow_private) and any
    /// literal host IP (the url crate normalizes decimal/hex/octal IPv4 such as
    /// `http://2130706433/` to 127.0.0.1 before it is judged).
    pub fn check_url(&self, url: &str) -> Result<Url, GuardError> {
        let parsed = Url::parse(url).map_err(|e| GuardError::InvalidUrl(e.to_string()))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            other => return Err(GuardError::Scheme(other.to_string())),
        }
        let host = match parsed.host_str() {
            Some(h) if !h.is_empty() => h,
            _ => return Err(GuardError::InvalidUrl("no host".to_string())),
        };
        // IPv6 hosts come bracketed; names do not parse as IPs and are judged by the
        // client's resolver at connect time.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            self.check_ip(ip)?;
        }
        Ok(parsed)
    }

    /// A reqwest client that never follows redirects and whose DNS resolver drops every
    /// resolved address [`check_ip`](Self::check_ip) refuses, failing when none is left, so
    /// the check happens at connect time. Literal IPs in a URL bypass any resolver: pass URLs
    /// through [`check_url`](Self::check_url) first.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would be resolved and connected to instead of the target, unjudged.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .dns_resolver(Arc::new(GuardedResolver { guard: *self }))
            .build()
            // Only fails when the TLS backend cannot start, which rustls with its bundled
            // roots does not.
            .expect("building the outgoing HTTP client")
    }
}

/// The guard's refusal somewhere in an error's source chain (reqwest wraps what the resolver
/// returns), so callers can report "refused" rather than a generic connect error.
pub fn refusal_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a GuardError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(g) = e.downcast_ref::<GuardError>() {
            return Some(g);
        }
        current = e.source();
    }
    None
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// System resolution followed by [`TargetGuard::check_ip`] on every address.
struct GuardedResolver {
    guard: TargetGuard,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| -> BoxError { Box::new(GuardError::Unresolvable(host.clone())) })?
                .collect();
            let Some(first) = resolved.first().copied() else {
                return Err(Box::new(GuardError::Unresolvable(host)) as BoxError);
            };
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| guard.check_ip(a.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(GuardError::Forbidden(first.ip().to_string())) as BoxError);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is ordinary public unicast.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network"
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || a == 127
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // Addresses that carry an IPv4 address are as reachable as that address.
    if let Some(v4) = ip.to_ipv4() {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        return is_public_v4(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64 well-known prefix 64:ff9b::/96.
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        // 6to4: the IPv4 address is in bits 16..48.
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    let refused = (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard 100::/64
        || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments incl. Teredo 2001::/32
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (s[0] & 0xff00) == 0xff00; // multicast
    !refused
}

#[cfg(test)]
mod tests;
