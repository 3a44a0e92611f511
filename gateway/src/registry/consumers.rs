//! The consumer side of the snapshot: systems with their IP allow-lists,
//! credential lookups and subscriptions, indexed for the hot path so that
//! authentication and authorization are hash-map reads.

use super::model::{CredentialKind, RegistryData, Subscription, System};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A consumer system as the data plane needs it.
#[derive(Debug)]
pub struct SystemEntry {
    /// The system as registered.
    pub system: System,
    /// Where it may call from.
    pub allow: IpAllowList,
}

/// OAuth2 client material for the token endpoint.
#[derive(Debug)]
pub struct ClientEntry {
    /// The system the client id belongs to.
    pub system: String,
    /// argon2id hash of the secret.
    pub secret_hash: String,
}

/// Lookups from credentials to systems, and from (system, service) to subscriptions.
#[derive(Debug, Default)]
pub struct Consumers {
    systems: HashMap<String, Arc<SystemEntry>>,
    clients: HashMap<String, ClientEntry>,
    api_keys: HashMap<String, String>,
    certificates: HashMap<String, String>,
    subscriptions: HashMap<(String, String), Subscription>,
}

impl Consumers {
    /// Indexes the registry's systems, live credentials and subscriptions.
    pub fn build(data: &RegistryData) -> Consumers {
        let systems = data
            .systems
            .iter()
            .map(|s| {
                let allow = IpAllowList::parse(&s.ip_allow);
                (
                    s.slug.to_string(),
                    Arc::new(SystemEntry {
                        system: s.clone(),
                        allow,
                    }),
                )
            })
            .collect();
        let mut consumers = Consumers {
            systems,
            ..Consumers::default()
        };
        for credential in data.credentials.iter().filter(|c| !c.revoked) {
            let system = credential.system.to_string();
            match &credential.kind {
                CredentialKind::ClientSecret {
                    client_id,
                    secret_hash,
                } => {
                    consumers.clients.insert(
                        client_id.clone(),
                        ClientEntry {
                            system,
                            secret_hash: secret_hash.clone(),
                        },
                    );
                }
                CredentialKind::ApiKey { key_hash } => {
                    consumers
                        .api_keys
                        .insert(key_hash.to_ascii_lowercase(), system);
                }
                CredentialKind::Certificate { fingerprint } => {
                    consumers
                        .certificates
                        .insert(normalize_fingerprint(fingerprint), system);
                }
            }
        }
        for sub in &data.subscriptions {
            consumers.subscriptions.insert(
                (sub.system.to_string(), sub.service.to_string()),
                sub.clone(),
            );
        }
        consumers
    }

    /// A system by slug.
    pub fn system(&self, slug: &str) -> Option<&Arc<SystemEntry>> {
        self.systems.get(slug)
    }

    /// The OAuth2 client with this id.
    pub fn client(&self, client_id: &str) -> Option<&ClientEntry> {
        self.clients.get(client_id)
    }

    /// The system holding the API key with this SHA-256 hash.
    pub fn system_by_api_key_hash(&self, key_hash: &str) -> Option<&Arc<SystemEntry>> {
        self.api_keys
            .get(key_hash)
            .and_then(|s| self.systems.get(s))
    }

    /// The system bound to the client certificate with this fingerprint.
    pub fn system_by_certificate(&self, fingerprint: &str) -> Option<&Arc<SystemEntry>> {
        self.certificates
            .get(&normalize_fingerprint(fingerprint))
            .and_then(|s| self.systems.get(s))
    }

    /// The system's subscription to a service slug.
    pub fn subscription(&self, system: &str, service: &str) -> Option<&Subscription> {
        self.subscriptions
            .get(&(system.to_string(), service.to_string()))
    }
}

/// Fingerprints are compared as lowercase hex without separators (`AB:CD…` is accepted on input).
fn normalize_fingerprint(f: &str) -> String {
    f.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Addresses and CIDR blocks a system may call from. Empty means anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList {
    blocks: Vec<(IpAddr, u8)>,
}

impl IpAllowList {
    /// Parses entries like `10.0.0.0/8`, `127.0.0.1`, `::1/128`; unparsable
    /// entries are dropped here because `lgsp apply` refuses them up front.
    pub fn parse(entries: &[String]) -> IpAllowList {
        IpAllowList {
            blocks: entries.iter().filter_map(|e| parse_block(e)).collect(),
        }
    }

    /// Whether `ip` may call.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.blocks.is_empty()
            || self
                .blocks
                .iter()
                .any(|(net, len)| contains(*net, *len, ip))
    }
}

/// Parses one allow-list entry; `None` when it is not an address or CIDR block.
pub fn parse_block(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match entry.trim().split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u8>().ok()?)),
        None => (entry.trim().parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

fn contains(net: IpAddr, len: u8, ip: IpAddr) -> bool {
    // An IPv4 client may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> IpAllowList {
        IpAllowList::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn empty_allows_all() {
        assert!(list(&[]).allows(ip("203.0.113.7")));
    }

    #[test]
    fn cidr_blocks() {
        let l = list(&["10.20.0.0/16", "127.0.0.1", "2001:db8::/32"]);
        assert!(l.allows(ip("10.20.3.4")));
        assert!(!l.allows(ip("10.21.0.1")));
        assert!(l.allows(ip("127.0.0.1")));
        assert!(!l.allows(ip("127.0.0.2")));
        assert!(l.allows(ip("2001:db8:1::5")));
        assert!(!l.allows(ip("2001:db9::1")));
        assert!(
            l.allows(ip("::ffff:10.20.0.9")),
            "IPv4-mapped clients match IPv4 blocks"
        );
    }

    #[test]
    fn bad_entries() {
        assert!(parse_block("10.0.0.0/33").is_none());
        assert!(parse_block("nonsense").is_none());
        assert!(parse_block("10.0.0.0/x").is_none());
        assert_eq!(parse_block("0.0.0.0/0"), Some((ip("0.0.0.0"), 0)));
    }

    #[test]
    fn fingerprints_normalize() {
        assert_eq!(normalize_fingerprint("AB:cd:01"), "abcd01");
    }
}
