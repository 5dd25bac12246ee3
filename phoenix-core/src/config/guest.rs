//! Pieces shared by containers and VMs: firewall rules, Traefik services, DNS records.

use serde::{Deserialize, Serialize};

/// A guest's (or the host's) firewall block.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct Firewall {
    /// Whether the guest firewall is on (`firewall=1` on net0 and `enable: 1` in the `.fw`).
    pub enabled: bool,
    /// Rules, applied in this order.
    pub rules: Vec<FirewallRule>,
}

/// One firewall rule.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(default)]
pub struct FirewallRule {
    /// `in` or `out`.
    #[serde(rename = "type")]
    pub direction: String,
    /// `ACCEPT`, `DROP` or `REJECT`.
    pub action: String,
    /// Source address(es).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Destination address(es).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    /// Protocol (`tcp`, `udp`, `icmp`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Destination port(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Source port(s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<String>,
    /// Interface inside the guest (`net0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// Comment written into the `.fw` file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `traefik_service`: how Traefik routes to the guest.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct TraefikService {
    /// Router and host name (`<name>.<domain>`).
    pub name: String,
    /// Upstream port.
    pub port: u16,
    /// `http` or `https`.
    pub scheme: Option<String>,
}

/// A DNS record (`{hostname, ip}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct DnsRecord {
    /// Host name.
    pub hostname: String,
    /// Address.
    pub ip: String,
}

/// A test entry (`{name, type, path}`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default)]
pub struct GuestTest {
    /// Display name.
    pub name: String,
    /// Kind (`script`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Script path relative to the tests directory.
    pub path: String,
}
