//! Rules serde cannot express. Every problem is collected (not just the first) so an operator
//! fixes a config in one round.

use std::net::IpAddr;

use super::{Config, ConfigError, MIN_SECRET_BYTES, Problem};

pub(super) fn validate(config: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let mut bad = |field: &str, message: String| problems.push(Problem::new(field, message));

    let server = &config.server;
    if server.max_body_bytes == 0 {
        bad("server.max_body_bytes", "must be greater than 0".into());
    }
    if server.max_ws_message_bytes == 0 {
        bad(
            "server.max_ws_message_bytes",
            "must be greater than 0".into(),
        );
    }
    if let Some(dir) = &server.static_dir
        && !dir.is_dir()
    {
        bad(
            "server.static_dir",
            format!("{} is not a directory", dir.display()),
        );
    }
    for origin in &server.cors_allow_origins {
        if let Err(why) = check_origin(origin, server.cors_allow_origins.len()) {
            bad("server.cors_allow_origins", format!("`{origin}`: {why}"));
        }
    }

    if server.request_timeout_s == 0 {
        bad("server.request_timeout_s", "must be greater than 0".into());
    }
    let limits = &server.rate_limit;
    if limits.enabled {
        for (field, value) in [
            ("api_per_s", limits.api_per_s),
            ("api_burst", limits.api_burst),
            ("join_per_s", limits.join_per_s),
            ("join_burst", limits.join_burst),
        ] {
            if value == 0 {
                bad(
                    &format!("server.rate_limit.{field}"),
                    "must be greater than 0 (set server.rate_limit.enabled = false to turn \
                     limiting off)"
                        .into(),
                );
            }
        }
    }
    for proxy in &limits.trusted_proxies {
        if let Err(why) = super::rate_limit::parse_network(proxy) {
            bad("server.rate_limit.trusted_proxies", why);
        }
    }

    let media = &config.media;
    if media.udp_addr.ip().is_unspecified() && media.announce_ips.is_empty() {
        bad(
            "media.announce_ips",
            format!(
                "required when media.udp_addr binds the unspecified address {}: clients need \
                 an address they can reach, e.g. SFU_MEDIA__ANNOUNCE_IPS='[\"203.0.113.10\"]'",
                media.udp_addr.ip()
            ),
        );
    }
    for ip in &media.announce_ips {
        if let Err(why) = check_announce_ip(ip) {
            bad("media.announce_ips", format!("{ip}: {why}"));
        }
    }
    if media.socket_buffer_bytes == 0 {
        bad("media.socket_buffer_bytes", "must be greater than 0".into());
    }
    if media.peer_timeout_s == 0 {
        bad("media.peer_timeout_s", "must be greater than 0".into());
    }
    for (i, server) in media.ice_servers.iter().enumerate() {
        let field = format!("media.ice_servers[{i}]");
        if server.urls.is_empty() {
            bad(&field, "urls must not be empty".into());
        }
        for url in &server.urls {
            let scheme = url.split(':').next().unwrap_or_default();
            match scheme {
                "stun" | "stuns" => {}
                // Browsers throw on a TURN server without credentials (RTCPeerConnection
                // constructor, InvalidAccessError), which would break every join.
                "turn" | "turns" if server.username.is_none() || server.credential.is_none() => {
                    bad(
                        &field,
                        format!("`{url}` needs both username and credential"),
                    );
                }
                "turn" | "turns" => {}
                _ => bad(
                    &field,
                    format!("`{url}` must start with stun:, stuns:, turn: or turns:"),
                ),
            }
        }
    }

    if !config.auth.is_dev_mode() {
        for (key, secret) in &config.auth.keys {
            if key.trim().is_empty() {
                bad("auth.keys", "an API key name must not be empty".into());
            } else if secret.len() < MIN_SECRET_BYTES {
                bad(
                    &format!("auth.keys.{key}"),
                    format!(
                        "secret is {} bytes, at least {MIN_SECRET_BYTES} are required \
                         (generate one with `openssl rand -hex 32`)",
                        secret.len()
                    ),
                );
            }
        }
    }

    if let Err(e) = tracing_subscriber::EnvFilter::builder().parse(&config.log.level) {
        bad(
            "log.level",
            format!(
                "`{}` is not a valid filter directive: {e}",
                config.log.level
            ),
        );
    }

    super::forwards::validate(&config.forwards, &mut bad);
    problems.extend(config.webhooks.problems(&config.auth));

    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// A CORS origin is `*` alone or `scheme://host[:port]` exactly as browsers send it in `Origin`
/// (no path, no trailing slash), otherwise it never matches and CORS silently fails.
fn check_origin(origin: &str, count: usize) -> Result<(), &'static str> {
    if origin == "*" {
        return if count == 1 {
            Ok(())
        } else {
            Err("`*` must be the only entry")
        };
    }
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.contains('/') || rest.contains(char::is_whitespace) {
        return Err("must be scheme://host[:port] with no path or trailing slash");
    }
    Ok(())
}

fn check_announce_ip(ip: &IpAddr) -> Result<(), &'static str> {
    if ip.is_unspecified() {
        Err("an unspecified address cannot be announced")
    } else if ip.is_multicast() {
        Err("a multicast address cannot be announced")
    } else {
        Ok(())
    }
}
