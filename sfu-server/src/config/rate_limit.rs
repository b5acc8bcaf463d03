//! `[server.rate_limit]`: per-client-IP limits on the REST API and on WebSocket joins.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Token buckets per client IP: `*_per_s` refill the bucket, `*_burst` is its size. Generous
/// by default: they stop floods and token guessing, not busy offices behind one NAT address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether requests are limited at all.
    pub enabled: bool,
    /// Sustained REST requests per second per IP (`/v1/*` except `/v1/rtc`).
    pub api_per_s: u32,
    /// REST requests an IP may make at once before the sustained rate applies.
    pub api_burst: u32,
    /// Sustained WebSocket join attempts (`GET /v1/rtc`) per second per IP.
    pub join_per_s: u32,
    /// Join attempts an IP may make at once before the sustained rate applies.
    pub join_burst: u32,
    /// Reverse proxies (IPs or CIDR ranges) whose `X-Forwarded-For` names the client; empty =
    /// the header is ignored (a client could put anything in it).
    pub trusted_proxies: Vec<String>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            api_per_s: 50,
            api_burst: 200,
            join_per_s: 10,
            join_burst: 50,
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimitConfig {
    /// The trusted proxies as networks; entries that do not parse are left out (validation
    /// refuses them before the server starts).
    pub fn trusted_networks(&self) -> Vec<ipnet::IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_network(p).ok())
            .collect()
    }
}

/// An IP (`10.0.0.1`, a /32 or /128) or a CIDR range (`10.0.0.0/8`).
pub fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))
}
