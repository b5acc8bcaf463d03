//! `[forwards]`: where the recording tap (`POST /v1/rooms/{room}/forwards`) may send plain RTP.
//!
//! A forward makes the server send media to any address the caller names, so the destinations
//! are limited to an allow-list of networks: by default loopback and private ranges, where
//! recorders live, never the internet at large (the API must not become a traffic cannon).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// `[forwards]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardsConfig {
    /// Networks (CIDR) a forward's destination must be in; empty = forwards are refused.
    pub allow_networks: Vec<IpNet>,
    /// Most forwards open at once in one room (0 = no forwards).
    pub max_per_room: usize,
}

impl Default for ForwardsConfig {
    fn default() -> Self {
        let nets = [
            "127.0.0.0/8",    // loopback
            "10.0.0.0/8",     // RFC 1918
            "172.16.0.0/12",  // RFC 1918
            "192.168.0.0/16", // RFC 1918
            "::1/128",        // loopback
            "fc00::/7",       // unique local (RFC 4193)
        ];
        Self {
            allow_networks: nets.iter().filter_map(|n| n.parse().ok()).collect(),
            max_per_room: 16,
        }
    }
}

impl ForwardsConfig {
    /// Whether `ip` is in one of the allowed networks.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4-mapped IPv6 address is the IPv4 host it names.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.allow_networks.iter().any(|n| n.contains(&ip))
    }
}

/// Rules serde cannot express.
pub(super) fn validate(config: &ForwardsConfig, bad: &mut impl FnMut(&str, String)) {
    for net in &config.allow_networks {
        if net.addr() != net.network() {
            bad(
                "forwards.allow_networks",
                format!("`{net}` has host bits set; did you mean `{}`?", net.trunc()),
            );
        }
        if net.prefix_len() == 0 {
            bad(
                "forwards.allow_networks",
                format!("`{net}` allows every address, which lets the API send traffic anywhere"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const NO_ENV: [(&str, &str); 0] = [];

    #[test]
    fn defaults_allow_loopback_and_private_ranges_only() {
        let config = Config::load_from_str("", NO_ENV).unwrap().forwards;
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.31.255.1",
            "192.168.0.1",
            "::1",
            "fd00::1",
        ] {
            assert!(config.allows(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "169.254.169.254",
            "fe80::1",
            "2001:db8::1",
            "100.64.0.1",
        ] {
            assert!(!config.allows(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn file_and_environment_set_the_allow_list() {
        let toml = "[forwards]\nallow_networks = [\"203.0.113.0/24\"]\nmax_per_room = 2\n";
        let config = Config::load_from_str(toml, NO_ENV).unwrap().forwards;
        assert!(config.allows("203.0.113.7".parse().unwrap()));
        assert!(!config.allows("127.0.0.1".parse().unwrap()));
        assert_eq!(config.max_per_room, 2);
        let env = [("SFU_FORWARDS__ALLOW_NETWORKS", "[\"10.5.0.0/16\"]")];
        let config = Config::load_from_str(toml, env).unwrap().forwards;
        assert!(config.allows("10.5.1.1".parse().unwrap()));
        assert!(!config.allows("203.0.113.7".parse().unwrap()));
    }

    #[test]
    fn bad_networks_are_refused() {
        for net in [
            "\"10.0.0.0/33\"",
            "\"nonsense\"",
            "\"0.0.0.0/0\"",
            "\"10.0.0.1/8\"",
        ] {
            let toml = format!("[forwards]\nallow_networks = [{net}]\n");
            assert!(Config::load_from_str(&toml, NO_ENV).is_err(), "{net}");
        }
    }
}
