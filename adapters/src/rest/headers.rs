//! Header hygiene between consumer, gateway and upstream.
//!
//! Hop-by-hop headers belong to one connection and must not be forwarded
//! (RFC 9110 §7.6.1). The consumer's credentials for the gateway must never
//! reach an upstream, and the upstream must learn who is really calling
//! (`Forwarded`, RFC 7239, and the de-facto `X-Forwarded-For`).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::IpAddr;

/// Headers that only concern one hop.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Consumer credentials meant for the gateway, never for the upstream.
const GATEWAY_CREDENTIALS: [&str; 3] = ["authorization", "x-api-key", "cookie"];

/// Removes hop-by-hop headers, including any that `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Who called the gateway, as the upstream should learn it.
#[derive(Debug, Clone)]
pub struct ForwardedFor {
    /// The consumer's address as the gateway saw it.
    pub client: IpAddr,
    /// The scheme the consumer used.
    pub proto: &'static str,
    /// The `Host` the consumer addressed, when valid.
    pub host: Option<HeaderValue>,
}

/// Turns a consumer's request headers into the headers sent upstream.
pub fn outbound_request_headers(mut headers: HeaderMap, forwarded: &ForwardedFor) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    for name in GATEWAY_CREDENTIALS {
        headers.remove(name);
    }
    // The client library sets Host from the upstream URI.
    let host = headers
        .remove(header::HOST)
        .or_else(|| forwarded.host.clone());

    let client = forwarded.client.to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {client}"),
        None => client,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert(
        "x-forwarded-proto",
        HeaderValue::from_static(forwarded.proto),
    );

    let node = match forwarded.client {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("\"[{ip}]\""),
    };
    let mut element = format!("for={node};proto={}", forwarded.proto);
    let quotable = |h: &str| {
        h.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    };
    if let Some(h) = host
        .as_ref()
        .and_then(|h| h.to_str().ok())
        .filter(|h| quotable(h))
    {
        element.push_str(&format!(";host=\"{h}\""));
    }
    let value = match headers.get(header::FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(prior) => format!("{prior}, {element}"),
        None => element,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::FORWARDED, v);
    }
    headers
}

/// Cleans an upstream's response headers before they go back to the consumer.
pub fn inbound_response_headers(headers: &mut HeaderMap) {
    strip_hop_by_hop(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn fwd(ip: &str) -> ForwardedFor {
        ForwardedFor {
            client: ip.parse().expect("ip"),
            proto: "http",
            host: None,
        }
    }

    #[test]
    fn drops_hop_by_hop_and_connection_named() {
        let h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("x-request-id", "abc"),
        ]);
        let out = outbound_request_headers(h, &fwd("10.0.0.7"));
        for gone in ["connection", "keep-alive", "x-secret-hop", "te", "upgrade"] {
            assert!(!out.contains_key(gone), "{gone} must be stripped");
        }
        assert_eq!(
            out.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"abc"[..])
        );
    }

    #[test]
    fn never_forwards_gateway_credentials() {
        let h = map(&[
            ("authorization", "Bearer t"),
            ("x-api-key", "k"),
            ("cookie", "c=1"),
        ]);
        let out = outbound_request_headers(h, &fwd("127.0.0.1"));
        assert!(!out.contains_key("authorization"));
        assert!(!out.contains_key("x-api-key"));
        assert!(!out.contains_key("cookie"));
    }

    #[test]
    fn appends_forwarding_chain() {
        let h = map(&[("x-forwarded-for", "203.0.113.9"), ("host", "lgsp.example")]);
        let out = outbound_request_headers(h, &fwd("10.1.2.3"));
        assert_eq!(out["x-forwarded-for"], "203.0.113.9, 10.1.2.3");
        assert_eq!(
            out["forwarded"],
            "for=10.1.2.3;proto=http;host=\"lgsp.example\""
        );
        assert!(!out.contains_key("host"));
    }

    #[test]
    fn quotes_ipv6_in_forwarded() {
        let out = outbound_request_headers(HeaderMap::new(), &fwd("::1"));
        assert_eq!(out["forwarded"], "for=\"[::1]\";proto=http");
    }
}
