//! Checking a forward's destination: a well-formed host and ports, resolved to an address inside
//! `forwards.allow_networks`, so the API cannot be used to send traffic at arbitrary hosts.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::StatusCode;

use super::error::ApiError;
use crate::config::ForwardsConfig;

/// Longest DNS name (RFC 1035).
const MAX_HOST_LEN: usize = 253;
/// Bound on resolving a host name.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A destination that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The address RTP goes to.
    pub address: IpAddr,
    /// RTP port.
    pub port: u16,
    /// RTCP port.
    pub rtcp_port: u16,
}

/// Validates `host`, `port` and `rtcp_port` (default `port + 1`) and resolves the host.
pub async fn check(
    config: &ForwardsConfig,
    host: &str,
    port: u16,
    rtcp_port: Option<u16>,
) -> Result<Destination, ApiError> {
    let (port, rtcp_port) = check_ports(port, rtcp_port)?;
    let address = resolve(host, port).await?;
    if address.is_unspecified() || address.is_multicast() || is_broadcast(address) {
        return Err(ApiError::bad_request(
            "invalid_host",
            format!("{address} is not a unicast address"),
        ));
    }
    if !config.allows(address) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "destination_not_allowed",
            format!("{address} is outside forwards.allow_networks of the server configuration"),
        ));
    }
    Ok(Destination {
        address,
        port,
        rtcp_port,
    })
}

fn check_ports(port: u16, rtcp_port: Option<u16>) -> Result<(u16, u16), ApiError> {
    if port == 0 {
        return Err(ApiError::bad_request(
            "invalid_port",
            "port must be 1 to 65535",
        ));
    }
    let rtcp = match rtcp_port {
        Some(0) => {
            return Err(ApiError::bad_request(
                "invalid_port",
                "rtcp_port must be 1 to 65535",
            ));
        }
        Some(p) => p,
        None => port.checked_add(1).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_port",
                "port 65535 has no port+1 for RTCP: give rtcp_port",
            )
        })?,
    };
    if rtcp == port {
        return Err(ApiError::bad_request(
            "invalid_port",
            "rtcp_port must differ from port",
        ));
    }
    Ok((port, rtcp))
}

/// An IP literal (IPv6 with or without brackets) as it is, or a DNS name's first address
/// (IPv4 preferred, as receivers most often listen there).
async fn resolve(host: &str, port: u16) -> Result<IpAddr, ApiError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    if !is_host_name(host) {
        return Err(ApiError::bad_request(
            "invalid_host",
            "host must be an IP address or a DNS name",
        ));
    }
    let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await;
    let addrs: Vec<IpAddr> = match lookup {
        Ok(Ok(list)) => list.map(|a| a.ip()).collect(),
        _ => Vec::new(),
    };
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| {
            ApiError::bad_request("invalid_host", format!("host `{host}` does not resolve"))
        })
}

/// Letters, digits and hyphens in dot-separated labels of 1 to 63 characters.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST_LEN
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn status(host: &str, port: u16, rtcp: Option<u16>) -> Result<Destination, &'static str> {
        check(&ForwardsConfig::default(), host, port, rtcp)
            .await
            .map_err(|e| e.code)
    }

    #[tokio::test]
    async fn loopback_and_private_destinations_are_allowed_by_default() {
        let d = status("127.0.0.1", 5004, None).await.unwrap();
        assert_eq!((d.port, d.rtcp_port), (5004, 5005));
        for host in [
            "10.1.2.3",
            "192.168.1.9",
            "172.20.0.1",
            "::1",
            "[::1]",
            "fd12::1",
        ] {
            assert!(status(host, 5004, Some(6000)).await.is_ok(), "{host}");
        }
        assert!(status("localhost", 5004, None).await.is_ok());
    }

    #[tokio::test]
    async fn public_and_link_local_destinations_are_refused() {
        for host in [
            "8.8.8.8",
            "2001:db8::1",
            "169.254.169.254",
            "172.32.0.1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(
                status(host, 5004, None).await,
                Err("destination_not_allowed"),
                "{host}"
            );
        }
        // An IPv4-mapped address is checked as the IPv4 host it names.
        assert!(status("::ffff:127.0.0.1", 5004, None).await.is_ok());
    }

    #[tokio::test]
    async fn malformed_hosts_and_ports_are_bad_requests() {
        for host in [
            "",
            "a b",
            "-x.example",
            "http://127.0.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert_eq!(
                status(host, 5004, None).await,
                Err("invalid_host"),
                "{host:?}"
            );
        }
        assert_eq!(status("127.0.0.1", 0, None).await, Err("invalid_port"));
        assert_eq!(status("127.0.0.1", 65535, None).await, Err("invalid_port"));
        assert_eq!(
            status("127.0.0.1", 5004, Some(5004)).await,
            Err("invalid_port")
        );
        assert_eq!(
            status("127.0.0.1", 5004, Some(0)).await,
            Err("invalid_port")
        );
        assert!(status("127.0.0.1", 65535, Some(65534)).await.is_ok());
    }
}
