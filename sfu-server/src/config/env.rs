//! `SFU_<SECTION>__<FIELD>` environment variables as a figment provider.
//!
//! Same rules as `figment::providers::Env::prefixed("SFU_").split("__")` (case-insensitive
//! prefix, lower-cased keys, values parsed as TOML-like literals), but built from an explicit list
//! of variables so tests never mutate the process environment (which is `unsafe` in Rust 2024),
//! and with errors that name the real variable.

use std::collections::BTreeMap;
use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

use super::{ConfigError, ENV_PREFIX, Problem};

/// Top-level sections of [`super::Config`]; variables naming anything else after `SFU_` are not
/// ours (e.g. `SFU_URL` for a client script) and are ignored.
pub(super) const SECTIONS: [&str; 8] = [
    "server", "media", "auth", "rooms", "shutdown", "log", "webhooks", "forwards",
];

/// The `SFU_*` variables that address a config section, ready to merge into a figment.
#[derive(Clone)]
pub(super) struct EnvVars {
    /// Dotted key path (`media.udp_addr`) -> raw value.
    values: BTreeMap<String, String>,
    /// Dotted key path -> the variable it came from, for error messages.
    names: Arc<BTreeMap<String, String>>,
}

impl EnvVars {
    /// Picks the section variables out of `vars`; a near miss such as `SFU_MEDIA_UDP_ADDR`
    /// (one underscore) is an error rather than a silently ignored setting.
    pub(super) fn from_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut values = BTreeMap::new();
        let mut names = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, value) in vars {
            let name: String = name.into();
            let trimmed = name.trim();
            let Some(rest) = strip_prefix_ignore_case(trimmed, ENV_PREFIX) else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let segments: Vec<&str> = rest.split("__").collect();
            if !SECTIONS.contains(&segments[0]) {
                if let Some(section) = SECTIONS.iter().find(|s| rest.starts_with(&format!("{s}_")))
                {
                    let field = &rest[section.len() + 1..];
                    problems.push(Problem::new(
                        format!("{section}.{field}"),
                        format!(
                            "environment variable {trimmed} is not used: separate the section \
                             and the field with a double underscore, e.g. \
                             {ENV_PREFIX}{}__{}",
                            section.to_ascii_uppercase(),
                            field.to_ascii_uppercase()
                        ),
                    ));
                }
                continue;
            }
            if segments.iter().any(|s| s.is_empty()) {
                problems.push(Problem::new(
                    segments.join("."),
                    format!("environment variable {trimmed} has an empty name segment"),
                ));
                continue;
            }
            let path = segments.join(".");
            names.insert(path.clone(), trimmed.to_owned());
            values.insert(path, value.into());
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Self {
            values,
            names: Arc::new(names),
        })
    }

    /// True when one variable sets the whole value at `path` (e.g. `SFU_AUTH__KEYS`), as
    /// opposed to only some of its entries (`SFU_AUTH__KEYS__NAME`).
    pub(super) fn sets_whole(&self, path: &str) -> bool {
        self.values.contains_key(path)
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        let names = Arc::clone(&self.names);
        Metadata::named("environment variable").interpolater(move |_: &Profile, keys: &[&str]| {
            // The variable may set a parent of the failing key (`SFU_AUTH__KEYS='{a="x"}'`
            // fails at auth.keys.a): report the longest path that a variable really set.
            (1..=keys.len())
                .rev()
                .find_map(|n| names.get(&keys[..n].join(".")).cloned())
                .unwrap_or_else(|| {
                    let upper: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
                    format!("{ENV_PREFIX}{}", upper.join("__"))
                })
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (path, raw) in &self.values {
            let value: Value = raw.parse().unwrap_or_else(|never| match never {});
            let segments: Vec<&str> = path.split('.').collect();
            insert_path(&mut dict, &segments, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Sets `dict[a][b]... = value`, creating (or replacing non-dict values with) dicts on the way,
/// so `SFU_AUTH__KEYS='{a="..."}'` and `SFU_AUTH__KEYS__B=...` combine.
fn insert_path(dict: &mut Dict, segments: &[&str], value: Value) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    if rest.is_empty() {
        dict.insert((*first).to_owned(), value);
        return;
    }
    let entry = dict
        .entry((*first).to_owned())
        .or_insert_with(|| Value::from(Dict::new()));
    if entry.as_dict().is_none() {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert_path(inner, rest, value);
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}
