//! Server configuration: embedded dev defaults, an optional TOML file, then `SFU_*` environment
//! variables, validated before anything binds a socket.
//!
//! Precedence is defaults < file < environment. Every section is optional in the file and every
//! field in a section is optional; unknown sections and fields are errors so that a typo never
//! silently leaves a setting at its default. See docs/configuration.md for the full reference.

mod env;
mod error;
mod forwards;
mod rate_limit;
mod redact;
#[cfg(test)]
mod tests;
mod validate;
mod webhooks;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use serde::{Deserialize, Serialize};

pub use error::{ConfigError, Problem};
pub use forwards::ForwardsConfig;
pub use rate_limit::RateLimitConfig;
pub use webhooks::WebhooksConfig;

/// API key used when no keys are configured (dev mode only).
pub const DEV_API_KEY: &str = "devkey";
/// Secret of [`DEV_API_KEY`]; public knowledge, which is why dev mode must never face the internet.
pub const DEV_API_SECRET: &str = "devsecret";
/// Shortest secret accepted outside dev mode: HS256 is only as strong as its key, and 32 random
/// bytes match the hash's output size.
pub const MIN_SECRET_BYTES: usize = 32;
/// Prefix of the environment variables that override the configuration.
pub const ENV_PREFIX: &str = "SFU_";

/// The whole server configuration; `Default` is the embedded dev configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP API, WebSocket signalling and the static demo page.
    pub server: ServerConfig,
    /// The UDP media plane.
    pub media: MediaConfig,
    /// API keys used to verify access tokens.
    pub auth: AuthConfig,
    /// Room life cycle and limits.
    pub rooms: RoomsConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Logging.
    pub log: LogConfig,
    /// Signed HTTP notifications of room events.
    pub webhooks: WebhooksConfig,
    /// Forwards (the recording tap): where plain RTP may be sent.
    pub forwards: ForwardsConfig,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP/WebSocket listener.
    pub http_addr: SocketAddr,
    /// Largest accepted REST request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Largest accepted WebSocket message (SDP offers with many m-lines are the big ones).
    pub max_ws_message_bytes: usize,
    /// Directory served at `/` instead of the embedded demo page (`None` = embedded page).
    pub static_dir: Option<PathBuf>,
    /// Origins allowed by CORS for the REST API; empty = no CORS headers, `["*"]` = any origin.
    pub cors_allow_origins: Vec<String>,
    /// An HTTP request (reading its body and answering it) taking longer gets 408; the
    /// WebSocket session after the upgrade is not bounded by it.
    pub request_timeout_s: u64,
    /// Per-IP rate limits of the REST API and of WebSocket joins.
    pub rate_limit: RateLimitConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7880),
            max_body_bytes: 1024 * 1024,
            max_ws_message_bytes: 64 * 1024,
            static_dir: None,
            cors_allow_origins: Vec::new(),
            request_timeout_s: 30,
            rate_limit: RateLimitConfig::default(),
        }
    }
}

/// `[media]`: the single UDP port all peer connections share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// Address the media UDP socket binds.
    pub udp_addr: SocketAddr,
    /// IPs announced to clients as ICE host candidates (with the port of `udp_addr`);
    /// empty = announce the bound address, which is only possible when it is not unspecified.
    pub announce_ips: Vec<IpAddr>,
    /// SO_RCVBUF/SO_SNDBUF of the media socket; the kernel default (~208 KB) drops bursts.
    pub socket_buffer_bytes: usize,
    /// Send a subscriber's run of equal-sized datagrams as one UDP GSO message where the kernel
    /// supports it (Linux 4.18+); falls back to one datagram per message when refused.
    pub udp_gso: bool,
    /// STUN/TURN servers sent to clients in the `joined` message.
    pub ice_servers: Vec<IceServer>,
    /// A peer with no media and no STUN for this many seconds is dropped (ICE-lite alone would
    /// notice only after a hard-coded ~15 s and without telling us).
    pub peer_timeout_s: u64,
    /// Estimate each subscriber's downlink (GCC over TWCC feedback, REMB as fallback), pace
    /// and probe toward it, and choose simulcast layers to fit (see docs/configuration.md).
    pub bandwidth_estimation: bool,
    /// Tell publishers to pause simulcast encodings no subscriber needs (`publisher_layers`).
    pub dynacast: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            udp_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7882),
            announce_ips: Vec::new(),
            socket_buffer_bytes: 4 * 1024 * 1024,
            udp_gso: true,
            ice_servers: Vec::new(),
            peer_timeout_s: 15,
            bandwidth_estimation: true,
            dynacast: true,
        }
    }
}

/// One entry of `media.ice_servers`, shaped like the browser's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:`, `stuns:`, `turn:` or `turns:` URLs.
    pub urls: Vec<String>,
    /// TURN username (required by browsers for `turn:`/`turns:` URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// TURN credential (required by browsers for `turn:`/`turns:` URLs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `[auth]`: API keys (`key -> secret`) that sign access tokens.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// API key -> secret; empty = dev mode (`devkey`/`devsecret`).
    pub keys: BTreeMap<String, String>,
}

impl AuthConfig {
    /// The keys to verify tokens with, and whether they are the dev-mode fallback.
    pub fn effective_keys(&self) -> (BTreeMap<String, String>, bool) {
        if self.keys.is_empty() {
            let dev = BTreeMap::from([(DEV_API_KEY.to_owned(), DEV_API_SECRET.to_owned())]);
            (dev, true)
        } else {
            (self.keys.clone(), false)
        }
    }

    /// True when no keys are configured, so the public dev key is in force.
    pub fn is_dev_mode(&self) -> bool {
        self.keys.is_empty()
    }
}

// Hand-written so that logging the configuration (`{:?}`) never leaks a secret.
impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted: BTreeMap<&str, &str> = self
            .keys
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("AuthConfig")
            .field("keys", &redacted)
            .finish()
    }
}

/// `[rooms]`: room life cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsConfig {
    /// Create a room when a participant with a valid token joins one that does not exist.
    pub auto_create: bool,
    /// Close a room after it has been empty for this many seconds.
    pub empty_timeout_s: u64,
    /// Default cap on participants per room (0 = unlimited); `POST /v1/rooms` may override it.
    pub max_participants: u32,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            auto_create: true,
            empty_timeout_s: 300,
            max_participants: 0,
        }
    }
}

/// `[shutdown]`: graceful drain on SIGTERM/SIGINT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Seconds to keep serving existing participants after a stop signal while `/readyz`
    /// answers 503 (5 in dev so Ctrl-C is quick; production should use ~30 so load balancers
    /// and clients can move away).
    pub drain_period_s: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self { drain_period_s: 5 }
    }
}

/// `[log]`: tracing output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// An `EnvFilter` directive such as `info` or `info,sfu_server=debug`; `RUST_LOG`, when set,
    /// wins over this value.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (`text`).
    #[default]
    Text,
    /// One JSON object per line for log collectors (`json`).
    Json,
}

impl Config {
    /// Loads defaults, then `file` (if given), then the process's `SFU_*` environment variables,
    /// and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        // vars_os + lossy conversion: one non-UTF-8 variable elsewhere must not abort start-up.
        let vars = std::env::vars_os().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        });
        Self::load_with_env(file, vars)
    }

    /// Like [`Config::load`] but with an explicit environment, so tests need not touch the
    /// process environment.
    pub fn load_with_env<I, K, V>(file: Option<&Path>, vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut figment = Figment::new();
        if let Some(path) = file {
            check_file(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        Self::finish(figment, vars)
    }

    /// Loads defaults, then the TOML text `toml`, then the variables `vars` (`SFU_*` ones are
    /// used, others ignored), and validates the result. Test-only: the binary loads files.
    #[cfg(test)]
    pub fn load_from_str<I, K, V>(toml: &str, vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self::finish(Figment::new().merge(Toml::string(toml)), vars)
    }

    /// Checks what serde cannot: cross-field rules, secret strength, value ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self)
    }

    fn finish<I, K, V>(figment: Figment, vars: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env = env::EnvVars::from_vars(vars)?;
        // Missing sections and fields are filled by the serde defaults, which are the embedded
        // dev configuration: no separate "defaults" provider to keep in sync.
        let mut config: Config = figment
            .merge(env.clone())
            .extract()
            .map_err(ConfigError::from_figment)?;
        // Figment merges dicts key by key, so SFU_AUTH__KEYS would only add to the file's keys
        // and leave e.g. the example key of configs/production.toml valid. Setting the whole
        // map from the environment replaces it instead (SFU_AUTH__KEYS__<NAME> still adds one).
        if env.sets_whole("auth.keys") {
            config.auth.keys = Figment::from(env)
                .extract_inner("auth.keys")
                .map_err(ConfigError::from_figment)?;
        }
        config.validate()?;
        Ok(config)
    }
}

/// Turns a missing or unreadable file into an error naming the path; figment would otherwise
/// report it without saying which setting was being loaded.
fn check_file(path: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(ConfigError::FileRead {
            path: path.to_owned(),
            source: std::io::Error::other("not a regular file"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::FileNotFound {
            path: path.to_owned(),
        }),
        Err(source) => Err(ConfigError::FileRead {
            path: path.to_owned(),
            source,
        }),
    }
}
