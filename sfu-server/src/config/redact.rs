//! The effective configuration as JSON with every secret replaced, for `sfu-server check-config`
//! (deploy pipelines print it to see what a file plus the environment really amount to).

use serde_json::Value;

use super::Config;

/// What stands in for a secret in the printed configuration.
pub const REDACTED: &str = "<redacted>";

impl Config {
    /// This configuration as JSON, with API key secrets and TURN credentials redacted.
    pub fn to_redacted_json(&self) -> Value {
        let mut json = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(keys) = json
            .pointer_mut("/auth/keys")
            .and_then(Value::as_object_mut)
        {
            for secret in keys.values_mut() {
                *secret = Value::from(REDACTED);
            }
        }
        if let Some(servers) = json
            .pointer_mut("/media/ice_servers")
            .and_then(Value::as_array_mut)
        {
            for server in servers.iter_mut().filter_map(Value::as_object_mut) {
                if let Some(credential) = server.get_mut("credential") {
                    *credential = Value::from(REDACTED);
                }
            }
        }
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_the_rest_is_kept() {
        let secret = "0123456789abcdef0123456789abcdef-secret";
        let toml = r#"
            [media]
            udp_addr = "0.0.0.0:7882"
            [[media.ice_servers]]
            urls = ["turn:turn.example.com:3478"]
            username = "sfu"
            credential = "turn-password"
            [shutdown]
            drain_period_s = 30
        "#;
        let config = Config::load_from_str(
            toml,
            [
                ("SFU_MEDIA__ANNOUNCE_IPS", r#"["192.0.2.10"]"#),
                ("SFU_AUTH__KEYS__PROD", secret),
            ],
        )
        .unwrap();
        let json = config.to_redacted_json();
        let text = json.to_string();
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains("turn-password"), "{text}");
        assert_eq!(json["auth"]["keys"]["prod"], REDACTED);
        assert_eq!(json["media"]["ice_servers"][0]["credential"], REDACTED);
        assert_eq!(json["media"]["ice_servers"][0]["username"], "sfu");
        assert_eq!(json["media"]["announce_ips"][0], "192.0.2.10");
        assert_eq!(json["media"]["udp_addr"], "0.0.0.0:7882");
        assert_eq!(json["shutdown"]["drain_period_s"], 30);
    }
}
