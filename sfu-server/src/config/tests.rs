use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::env::SECTIONS;
use super::*;

const PRODUCTION_TOML: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../configs/production.toml"
));
const DEV_TOML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/dev.toml"));

const NO_ENV: [(&str, &str); 0] = [];
const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn err_text(result: Result<Config, ConfigError>) -> String {
    result.expect_err("config should be rejected").to_string()
}

/// A file under the OS temp dir that is removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "sfu-config-test-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, contents).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn defaults_are_the_documented_dev_defaults() {
    let c = Config::default();
    assert_eq!(c.server.http_addr, addr("127.0.0.1:7880"));
    assert_eq!(c.server.max_body_bytes, 1024 * 1024);
    assert_eq!(c.server.max_ws_message_bytes, 64 * 1024);
    assert_eq!(c.server.static_dir, None);
    assert!(c.server.cors_allow_origins.is_empty());
    assert_eq!(c.media.udp_addr, addr("127.0.0.1:7882"));
    assert!(c.media.announce_ips.is_empty());
    assert_eq!(c.media.socket_buffer_bytes, 4 * 1024 * 1024);
    assert!(c.media.ice_servers.is_empty());
    assert_eq!(c.media.peer_timeout_s, 15);
    assert!(c.auth.keys.is_empty());
    assert!(c.rooms.auto_create);
    assert_eq!(c.rooms.empty_timeout_s, 300);
    assert_eq!(c.rooms.max_participants, 0);
    assert_eq!(c.shutdown.drain_period_s, 5);
    assert_eq!(c.log.level, "info");
    assert_eq!(c.log.format, LogFormat::Text);
    c.validate().expect("the defaults are valid");
    assert_eq!(Config::load_from_str("", NO_ENV).unwrap(), c);
}

#[test]
fn dev_toml_equals_the_defaults() {
    assert_eq!(
        Config::load_from_str(DEV_TOML, NO_ENV).unwrap(),
        Config::default()
    );
}

#[test]
fn dev_mode_keys() {
    let (keys, dev) = AuthConfig::default().effective_keys();
    assert!(dev);
    assert_eq!(
        keys,
        BTreeMap::from([("devkey".to_owned(), "devsecret".to_owned())])
    );

    let auth = AuthConfig {
        keys: BTreeMap::from([("k".to_owned(), GOOD_SECRET.to_owned())]),
    };
    let (keys, dev) = auth.effective_keys();
    assert!(!dev);
    assert_eq!(keys, auth.keys);
}

#[test]
fn debug_output_redacts_secrets() {
    let auth = AuthConfig {
        keys: BTreeMap::from([("k".to_owned(), GOOD_SECRET.to_owned())]),
    };
    let text = format!(
        "{:?}",
        Config {
            auth,
            ..Config::default()
        }
    );
    assert!(!text.contains(GOOD_SECRET), "{text}");
    assert!(text.contains("\"k\""), "{text}");
}

#[test]
fn file_overrides_defaults() {
    let file = TempFile::new(
        "override",
        r#"
        [server]
        http_addr = "127.0.0.1:9000"
        [media]
        peer_timeout_s = 30
        [[media.ice_servers]]
        urls = ["stun:stun.example.com:3478"]
        [log]
        format = "json"
        "#,
    );
    let c = Config::load_with_env(Some(&file.0), NO_ENV).unwrap();
    assert_eq!(c.server.http_addr, addr("127.0.0.1:9000"));
    assert_eq!(c.media.peer_timeout_s, 30);
    assert_eq!(c.media.ice_servers[0].urls, ["stun:stun.example.com:3478"]);
    assert_eq!(c.log.format, LogFormat::Json);
    // Untouched settings keep their defaults, also inside a partly set section.
    assert_eq!(c.media.udp_addr, addr("127.0.0.1:7882"));
    assert_eq!(c.server.max_body_bytes, 1024 * 1024);
    assert_eq!(c.rooms, RoomsConfig::default());
}

#[test]
fn env_overrides_file() {
    let file = TempFile::new(
        "env",
        r#"
        [media]
        udp_addr = "127.0.0.1:9999"
        peer_timeout_s = 30
        "#,
    );
    let env = [
        ("SFU_MEDIA__UDP_ADDR", "0.0.0.0:7882"),
        ("SFU_MEDIA__ANNOUNCE_IPS", r#"["203.0.113.7"]"#),
        ("SFU_AUTH__KEYS", &format!(r#"{{mykey="{GOOD_SECRET}"}}"#)),
        ("SFU_ROOMS__AUTO_CREATE", "false"),
        ("SFU_LOG__LEVEL", "debug,str0m=info"),
        ("sfu_shutdown__drain_period_s", "30"),
        // Not ours: other SFU_ variables and unrelated ones are ignored.
        ("SFU_URL", "http://x"),
        ("PATH", "/usr/bin"),
    ];
    let c = Config::load_with_env(Some(&file.0), env).unwrap();
    assert_eq!(c.media.udp_addr, addr("0.0.0.0:7882"));
    assert_eq!(
        c.media.announce_ips,
        ["203.0.113.7".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(
        c.media.peer_timeout_s, 30,
        "the file still applies where env is silent"
    );
    assert_eq!(
        c.auth.keys,
        BTreeMap::from([("mykey".to_owned(), GOOD_SECRET.to_owned())])
    );
    assert!(!c.rooms.auto_create);
    assert_eq!(c.log.level, "debug,str0m=info");
    assert_eq!(c.shutdown.drain_period_s, 30);
}

#[test]
fn env_keys_replace_file_keys_and_single_keys_add() {
    let other = "another-secret-that-is-long-enough-0000";
    let whole = format!(r#"{{mine="{GOOD_SECRET}"}}"#);
    let c = Config::load_from_str(PRODUCTION_TOML, [("SFU_AUTH__KEYS", whole.as_str())]).unwrap();
    assert_eq!(
        c.auth.keys,
        BTreeMap::from([("mine".to_owned(), GOOD_SECRET.to_owned())])
    );

    let env = [
        ("SFU_AUTH__KEYS", whole.as_str()),
        ("SFU_AUTH__KEYS__EXTRA", other),
    ];
    let c = Config::load_from_str("", env).unwrap();
    assert_eq!(c.auth.keys.len(), 2);
    assert_eq!(
        c.auth.keys["extra"], other,
        "nested env keys are lower-cased"
    );

    // A quoted value is a string; an unquoted all-digit secret too, as 32 digits overflow u64.
    let digits = "01234567890123456789012345678901";
    let quoted = format!("\"{digits}\"");
    for value in [quoted.as_str(), digits] {
        let c = Config::load_from_str("", [("SFU_AUTH__KEYS__NUM", value)]).unwrap();
        assert_eq!(c.auth.keys["num"], digits);
    }

    let c = Config::load_from_str(PRODUCTION_TOML, [("SFU_AUTH__KEYS__EXTRA", other)]).unwrap();
    assert_eq!(c.auth.keys.len(), 2, "a single key is added to the file's");
}

#[test]
fn unknown_field_error_names_it() {
    let text = err_text(Config::load_from_str(
        "[media]\nudpaddr = \"1.2.3.4:5\"\n",
        NO_ENV,
    ));
    assert!(
        text.contains("unknown field `udpaddr` in section `media`"),
        "{text}"
    );
    assert!(text.contains("media.udpaddr"), "{text}");

    let text = err_text(Config::load_from_str("[medai]\n", NO_ENV));
    assert!(text.contains("unknown field `medai`"), "{text}");

    let text = err_text(Config::load_from_str(
        "",
        [("SFU_MEDIA__UDPADDR", "1.2.3.4:5")],
    ));
    assert!(
        text.contains("unknown field `udpaddr` in section `media`"),
        "{text}"
    );
    assert!(text.contains("SFU_MEDIA__UDPADDR"), "{text}");
}

#[test]
fn single_underscore_env_var_is_an_error() {
    let text = err_text(Config::load_from_str(
        "",
        [("SFU_MEDIA_UDP_ADDR", "1.2.3.4:5")],
    ));
    assert!(text.contains("SFU_MEDIA__UDP_ADDR"), "{text}");
}

#[test]
fn invalid_address_error_names_the_field() {
    let text = err_text(Config::load_from_str(
        "[media]\nudp_addr = \"nope\"\n",
        NO_ENV,
    ));
    assert!(
        text.contains("invalid config: media.udp_addr: invalid socket address syntax"),
        "{text}"
    );

    let text = err_text(Config::load_from_str("", [("SFU_MEDIA__UDP_ADDR", "nope")]));
    assert!(
        text.contains("media.udp_addr: invalid socket address syntax"),
        "{text}"
    );
    assert!(
        text.contains("environment variable SFU_MEDIA__UDP_ADDR"),
        "{text}"
    );

    let file = TempFile::new("badaddr", "[media]\nudp_addr = \"nope\"\n");
    let text = err_text(Config::load_with_env(Some(&file.0), NO_ENV));
    assert!(text.contains("media.udp_addr"), "{text}");
    assert!(text.contains(&file.0.display().to_string()), "{text}");
}

#[test]
fn type_and_syntax_errors_are_readable() {
    let text = err_text(Config::load_from_str(
        "[rooms]\nmax_participants = \"ten\"\n",
        NO_ENV,
    ));
    assert!(text.contains("rooms.max_participants"), "{text}");

    let text = err_text(Config::load_from_str("[log]\nformat = \"xml\"\n", NO_ENV));
    assert!(
        text.contains("log.format") && text.contains("`json`"),
        "{text}"
    );

    let text = err_text(Config::load_from_str("[server\n", NO_ENV));
    assert!(text.starts_with("invalid config: "), "{text}");
}

#[test]
fn missing_file_is_an_error_naming_the_path() {
    let path = Path::new("/nonexistent/sfu.toml");
    let err = Config::load_with_env(Some(path), NO_ENV).unwrap_err();
    assert!(matches!(err, ConfigError::FileNotFound { .. }));
    assert!(err.to_string().contains("/nonexistent/sfu.toml"), "{err}");
}

#[test]
fn short_secret_rejected_outside_dev_mode() {
    let text = err_text(Config::load_from_str(
        "[auth]\nkeys = { mykey = \"short\" }\n",
        NO_ENV,
    ));
    assert!(text.contains("auth.keys.mykey"), "{text}");
    assert!(text.contains("32"), "{text}");
    // The dev default itself is short, and accepted because it is only used in dev mode.
    Config::load_from_str("", NO_ENV).unwrap();
}

#[test]
fn unspecified_bind_without_announce_ips_rejected() {
    let text = err_text(Config::load_from_str(
        "[media]\nudp_addr = \"0.0.0.0:7882\"\n",
        NO_ENV,
    ));
    assert!(text.contains("media.announce_ips"), "{text}");
    let text = err_text(Config::load_from_str(
        "[media]\nudp_addr = \"[::]:7882\"\n",
        NO_ENV,
    ));
    assert!(text.contains("media.announce_ips"), "{text}");
    let ok = "[media]\nudp_addr = \"0.0.0.0:7882\"\nannounce_ips = [\"203.0.113.10\"]\n";
    Config::load_from_str(ok, NO_ENV).unwrap();
}

#[test]
fn other_validation_rules() {
    let cases = [
        ("[server]\nmax_body_bytes = 0\n", "server.max_body_bytes"),
        (
            "[server]\ncors_allow_origins = [\"https://a.example/\"]\n",
            "server.cors_allow_origins",
        ),
        (
            "[server]\ncors_allow_origins = [\"*\", \"https://a\"]\n",
            "server.cors_allow_origins",
        ),
        (
            "[server]\nstatic_dir = \"/nonexistent/www\"\n",
            "server.static_dir",
        ),
        ("[media]\npeer_timeout_s = 0\n", "media.peer_timeout_s"),
        (
            "[media]\nannounce_ips = [\"0.0.0.0\"]\n",
            "media.announce_ips",
        ),
        (
            "[[media.ice_servers]]\nurls = [\"turn:t.example\"]\n",
            "media.ice_servers[0]",
        ),
        (
            "[[media.ice_servers]]\nurls = [\"http://t.example\"]\n",
            "media.ice_servers[0]",
        ),
        ("[[media.ice_servers]]\nurls = []\n", "media.ice_servers[0]"),
        ("[log]\nlevel = \"info,sfu=loud\"\n", "log.level"),
    ];
    for (toml, field) in cases {
        let text = err_text(Config::load_from_str(toml, NO_ENV));
        assert!(text.contains(field), "{toml:?} -> {text}");
    }
    // Several problems are reported together.
    let text = err_text(Config::load_from_str(
        "[server]\nmax_body_bytes = 0\n[media]\npeer_timeout_s = 0\n",
        NO_ENV,
    ));
    assert!(text.contains("server.max_body_bytes") && text.contains("media.peer_timeout_s"));
}

#[test]
fn production_toml_sets_every_field() {
    let c = Config::load_from_str(PRODUCTION_TOML, NO_ENV).expect("production.toml is valid");
    assert_eq!(c.server.http_addr, addr("0.0.0.0:7880"));
    assert_eq!(c.server.cors_allow_origins, ["https://meet.example.com"]);
    assert_eq!(c.media.udp_addr, addr("0.0.0.0:7882"));
    assert_eq!(
        c.media.announce_ips,
        ["203.0.113.10".parse::<IpAddr>().unwrap()]
    );
    assert_eq!(c.auth.keys.len(), 1);
    assert!(!c.auth.is_dev_mode());
    assert_eq!(c.rooms.max_participants, 100);
    assert_eq!(c.shutdown.drain_period_s, 30);
    assert_eq!(c.log.format, LogFormat::Json);

    // Every field except static_dir (commented out: the path must exist) appears in the file,
    // so the example documents all of them.
    let raw: toml::Table = PRODUCTION_TOML.parse().unwrap();
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    for (section, fields) in &defaults {
        let fields = fields.as_table().unwrap();
        let got = raw[section]
            .as_table()
            .unwrap_or_else(|| panic!("[{section}] missing"));
        for field in fields.keys() {
            assert!(
                got.contains_key(field),
                "production.toml lacks {section}.{field}"
            );
        }
    }
    assert!(
        PRODUCTION_TOML.contains("# static_dir = "),
        "static_dir example missing"
    );
}

#[test]
fn env_sections_match_the_config() {
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    let keys: Vec<&str> = defaults.keys().map(String::as_str).collect();
    let mut sections = SECTIONS.to_vec();
    sections.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(sections, keys_sorted);
}

#[test]
fn http_hardening_options_from_file_and_env() {
    let c = Config::default();
    assert_eq!(c.server.request_timeout_s, 30);
    assert!(c.server.rate_limit.enabled);
    assert_eq!(
        (c.server.rate_limit.api_per_s, c.server.rate_limit.api_burst),
        (50, 200)
    );
    assert_eq!(
        (
            c.server.rate_limit.join_per_s,
            c.server.rate_limit.join_burst
        ),
        (10, 50)
    );
    let c = Config::load_from_str(
        "[server]\nrequest_timeout_s = 5\n[server.rate_limit]\njoin_burst = 3\n\
         trusted_proxies = [\"10.0.0.0/8\", \"192.0.2.1\"]\n",
        [
            ("SFU_SERVER__RATE_LIMIT__API_PER_S", "7"),
            ("SFU_SERVER__RATE_LIMIT__ENABLED", "false"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.request_timeout_s, 5);
    let limits = &c.server.rate_limit;
    assert_eq!((limits.api_per_s, limits.join_burst), (7, 3));
    assert!(!limits.enabled);
    assert_eq!(limits.trusted_networks().len(), 2);
}

#[test]
fn http_hardening_options_are_validated() {
    let text = err_text(Config::load_from_str(
        "[server]\nrequest_timeout_s = 0\n[server.rate_limit]\njoin_per_s = 0\n\
         trusted_proxies = [\"proxy.local\"]\n",
        NO_ENV,
    ));
    for expected in [
        "server.request_timeout_s",
        "server.rate_limit.join_per_s",
        "server.rate_limit.trusted_proxies",
        "proxy.local",
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
    // Zero rates are fine when limiting is off.
    Config::load_from_str(
        "[server.rate_limit]\nenabled = false\napi_per_s = 0\n",
        NO_ENV,
    )
    .unwrap();
}

#[test]
fn webhooks_default_off_and_accept_env_overrides() {
    assert!(!Config::default().webhooks.is_enabled());
    let c = Config::load_from_str(
        "",
        [
            (
                "SFU_WEBHOOKS__URLS",
                r#"["https://hooks.example.com/a", "http://127.0.0.1:9/b"]"#,
            ),
            ("SFU_WEBHOOKS__MAX_ATTEMPTS", "2"),
            ("SFU_WEBHOOKS__RETRY_INITIAL_MS", "10"),
        ],
    )
    .unwrap();
    assert!(c.webhooks.is_enabled());
    assert_eq!(c.webhooks.urls.len(), 2);
    assert_eq!(c.webhooks.max_attempts, 2);
    assert_eq!(c.webhooks.retry_initial_ms, 10);
    // Dev mode: the dev key signs.
    assert_eq!(
        c.webhooks.signing_key(&c.auth),
        Some((DEV_API_KEY.to_owned(), DEV_API_SECRET.to_owned()))
    );
}

#[test]
fn webhooks_sign_with_the_named_key() {
    let toml = format!(
        "[auth]\nkeys = {{ a = \"{GOOD_SECRET}\", b = \"{GOOD_SECRET}-b\" }}\n\
         [webhooks]\nurls = [\"https://x.example\"]\napi_key = \"b\"\n"
    );
    let c = Config::load_from_str(&toml, NO_ENV).unwrap();
    let (key, secret) = c.webhooks.signing_key(&c.auth).unwrap();
    assert_eq!((key.as_str(), secret), ("b", format!("{GOOD_SECRET}-b")));
}

#[test]
fn bad_webhook_settings_are_each_reported() {
    let text = err_text(Config::load_from_str(
        "[webhooks]\nurls = [\"ftp://x\", \"not a url\", \"http://\"]\napi_key = \"nope\"\n\
         request_timeout_ms = 0\nmax_attempts = 0\nretry_initial_ms = 100\nretry_max_ms = 50\n\
         queue_size = 0\n",
        NO_ENV,
    ));
    for needle in [
        "`ftp://x`: must start with http:// or https://",
        "`not a url`",
        "`http://`",
        "webhooks.api_key: `nope` is not one of the keys",
        "webhooks.request_timeout_ms: must be greater than 0",
        "webhooks.max_attempts: must be greater than 0",
        "webhooks.retry_max_ms: must be at least",
        "webhooks.queue_size: must be greater than 0",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}
