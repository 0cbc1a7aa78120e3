//! Which addresses the fetcher may connect to: only publicly routable unicast, so a feed URL
//! cannot reach loopback, the LAN, or cloud metadata (the shape of meilisearch's `IpPolicy`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use super::fetch::FetchError;
use crate::domain::codes;

/// Refuses every address that is not public unicast, including the IPv4-mapped, IPv4-compatible,
/// NAT64 and 6to4 spellings of a non-public IPv4 address.
pub fn check_ip(ip: IpAddr) -> Result<(), FetchError> {
    match non_public_reason(ip) {
        None => Ok(()),
        Some(reason) => Err(FetchError::permanent(
            codes::FETCH_BLOCKED_ADDRESS,
            format!("address {ip} is not allowed: {reason}"),
        )),
    }
}

/// Checks what can be checked without DNS: the scheme, credentials, and IP-literal hosts (hyper
/// never asks the resolver about literals). Names are checked by the resolver at connect time.
pub fn check_url(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::permanent(
            codes::FETCH_BLOCKED_SCHEME,
            format!(
                "scheme `{}` is not fetched; only http and https are",
                url.scheme()
            ),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::permanent(
            codes::FETCH_INVALID_URL,
            "the URL carries credentials; user:password@ is not accepted in a feed URL",
        ));
    }
    let host = url
        .host()
        .ok_or_else(|| FetchError::permanent(codes::FETCH_INVALID_URL, "the URL has no host"))?;
    if allow_private {
        return Ok(());
    }
    match host {
        Host::Ipv4(ip) => check_ip(IpAddr::V4(ip)),
        Host::Ipv6(ip) => check_ip(IpAddr::V6(ip)),
        Host::Domain(name) if is_localhost_name(name) => Err(FetchError::permanent(
            codes::FETCH_BLOCKED_ADDRESS,
            format!("host `{name}` is loopback"),
        )),
        Host::Domain(_) => Ok(()),
    }
}

/// RFC 6761 reserves `localhost` and everything under it for loopback; refusing it here lets
/// callers reject such URLs without a DNS lookup.
fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        _ if ip.is_broadcast() => "broadcast",
        (0, _, _) => "unspecified or \"this network\" (0.0.0.0/8)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared address space / CGNAT (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local, including cloud metadata (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (TEST-NET)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    };
    Some(reason)
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // Forms that carry an IPv4 address: judge the embedded address, so `::ffff:127.0.0.1`,
    // `64:ff9b::a00:1` (NAT64) and `2002:7f00:1::` (6to4) are as blocked as 127.0.0.1.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return non_public_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return non_public_v4(embedded_v4(s[1], s[2]));
    }
    let reason = match s[0] {
        _ if ip.is_unspecified() => "unspecified (::)",
        _ if ip.is_loopback() => "loopback (::1)",
        // IPv4-compatible (::a.b.c.d) is deprecated and never routable.
        0 if s[1..6] == [0; 5] => "IPv4-compatible (::/96)",
        0xfc00..=0xfdff => "unique local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast (ff00::/8)",
        0x2001 if s[1] < 0x0200 => "IETF protocol assignments (2001::/23)",
        0x2001 if s[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x3fff if s[1] < 0x1000 => "documentation (3fff::/20)",
        // Only 2000::/3 is allocated as global unicast; the rest is reserved or special.
        0x2000..=0x3fff => return None,
        _ => "reserved (outside global unicast 2000::/3)",
    };
    Some(reason)
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn url_verdict(raw: &str, allow_private: bool) -> Result<(), &'static str> {
        let url = Url::parse(raw).map_err(|_| "unparseable")?;
        check_url(&url, allow_private).map_err(|e| e.code)
    }

    #[test]
    fn non_public_addresses_are_refused() {
        let blocked = "
            127.0.0.1 127.255.255.254 10.0.0.1 172.16.0.1 172.31.255.255 192.168.1.1 100.64.0.1
            100.127.255.255 169.254.169.254 0.0.0.0 0.1.2.3 255.255.255.255 224.0.0.1
            239.255.255.250 240.0.0.1 192.0.2.1 198.51.100.7 203.0.113.9 198.18.0.1 192.0.0.8 ::
            ::1 fe80::1 febf::1 fc00::1 fd00:ec2::254 ff02::1 fec0::1 2001:db8::1 2001::1 3fff::1
            100::1 5f00::1 ::ffff:127.0.0.1 ::ffff:7f00:1 ::ffff:10.0.0.1 ::ffff:169.254.169.254
            ::ffff:172.17.0.1 ::ffff:0.0.0.0 ::127.0.0.1 ::8.8.8.8 64:ff9b::127.0.0.1
            64:ff9b::a9fe:a9fe 2002:7f00:1::1 2002:c0a8:101::1
        "
        .split_whitespace();
        for raw in blocked {
            let ip: IpAddr = raw
                .parse()
                .unwrap_or_else(|_| panic!("bad test address {raw}"));
            let err = check_ip(ip).expect_err(raw);
            assert_eq!(err.code, codes::FETCH_BLOCKED_ADDRESS, "{raw}");
            assert!(!err.transient, "{raw}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let public = "
            8.8.8.8 1.1.1.1 93.184.215.14 100.63.255.255 100.128.0.1 172.15.255.255 172.32.0.1
            192.169.0.1 169.253.0.1 223.255.255.254 2606:4700:4700::1111 2a00:1450:4001:80b::200e
            ::ffff:8.8.8.8 64:ff9b::808:808 2002:808:808::1
        "
        .split_whitespace();
        for raw in public {
            let ip: IpAddr = raw
                .parse()
                .unwrap_or_else(|_| panic!("bad test address {raw}"));
            assert!(check_ip(ip).is_ok(), "{raw} should be public");
        }
    }

    #[test]
    fn url_spellings_of_non_public_hosts_are_refused() {
        // The url crate normalises the exotic IPv4 spellings, so each reaches `check_ip` as a
        // plain address.
        let blocked = "
            http://127.0.0.1/ http://127.1/ http://2130706433/ http://0x7f000001/
            http://017700000001/ http://0177.0.0.1/ http://127.0.0.1./ http://%31%32%37.0.0.1/
            http://[::1]/ http://[::ffff:127.0.0.1]/ http://[::ffff:7f00:1]/ http://0.0.0.0:8080/
            http://169.254.169.254/latest http://[fd00:ec2::254]/
            http://[::ffff:169.254.169.254]/ http://localhost/ http://LOCALHOST./
            http://api.localhost:6379/ https://10.1.2.3/feed
        "
        .split_whitespace();
        for raw in blocked {
            assert_eq!(
                url_verdict(raw, false),
                Err(codes::FETCH_BLOCKED_ADDRESS),
                "{raw}"
            );
        }
    }

    #[test]
    fn only_http_and_https_schemes_pass() {
        for raw in [
            "file:///etc/passwd",
            "ftp://127.0.0.1/",
            "gopher://example.com/",
            "ws://example.com/",
            "data:text/xml,<rss/>",
            "javascript:alert(1)",
        ] {
            assert_eq!(
                url_verdict(raw, true),
                Err(codes::FETCH_BLOCKED_SCHEME),
                "{raw}"
            );
        }
        assert_eq!(url_verdict("https://example.com/feed.xml", false), Ok(()));
        assert_eq!(url_verdict("http://example.com:8080/rss", false), Ok(()));
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        // `example.com@127.0.0.1` is userinfo `example.com` on host 127.0.0.1.
        for raw in [
            "http://user:pass@example.com/",
            "http://user@example.com/",
            "http://example.com@127.0.0.1/",
        ] {
            assert_eq!(
                url_verdict(raw, true),
                Err(codes::FETCH_INVALID_URL),
                "{raw}"
            );
        }
    }

    #[test]
    fn allow_private_networks_lets_literals_through() {
        assert_eq!(url_verdict("http://127.0.0.1:8080/", true), Ok(()));
        assert_eq!(url_verdict("http://localhost/", true), Ok(()));
    }
}
