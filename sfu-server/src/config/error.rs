//! Configuration errors that name the offending setting and where it came from.

use std::fmt;
use std::path::PathBuf;

use figment::error::Kind;
use figment::{Profile, Source};

/// Why the configuration could not be loaded; the binary exits with code 2 on any of these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file given with `--config` does not exist.
    #[error("config file not found: {}", path.display())]
    FileNotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read config file {}: {source}", path.display())]
    FileRead {
        /// The path as given.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Syntax, type or validation errors, each naming its setting.
    #[error("invalid config: {}", join(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// Converts a figment error chain (which may hold several errors) into our own messages.
    pub(super) fn from_figment(err: figment::Error) -> Self {
        Self::Invalid(err.into_iter().map(Problem::from_figment).collect())
    }
}

/// One invalid setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the setting (`media.udp_addr`); empty when the whole source is at fault
    /// (e.g. a TOML syntax error).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// Where the bad value came from (`file /etc/sfu.toml`, `environment variable SFU_X`).
    pub origin: Option<String>,
}

impl Problem {
    /// A problem without a known origin (validation runs on the merged result).
    pub(super) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            origin: None,
        }
    }

    fn from_figment(err: figment::Error) -> Self {
        let field = dotted(&err.path);
        let message = match &err.kind {
            Kind::UnknownField(name, expected) => {
                // figment's path already ends with the unknown field; the rest is its section.
                let parent = match err.path.split_last() {
                    Some((last, parent)) if last == name => dotted(parent),
                    _ => field.clone(),
                };
                let place = if parent.is_empty() {
                    "at the top level".to_owned()
                } else {
                    format!("in section `{parent}`")
                };
                format!(
                    "unknown field `{name}` {place}, expected one of {}",
                    list(expected)
                )
            }
            Kind::UnknownVariant(name, expected) => {
                format!("unknown value `{name}`, expected one of {}", list(expected))
            }
            // serde's wording for these is already clear ("invalid socket address syntax",
            // "invalid type: found string \"x\", expected u64", TOML parse errors with a line).
            kind => kind.to_string(),
        };
        let origin = err.metadata.as_ref().map(|md| match &md.source {
            Some(Source::File(path)) => format!("file {}", path.display()),
            _ if md.name == "environment variable" => {
                let profile = err.profile.clone().unwrap_or(Profile::Default);
                let keys: Vec<&str> = err.path.iter().map(String::as_str).collect();
                format!("environment variable {}", md.interpolate(&profile, &keys))
            }
            _ => md.name.to_string(),
        });
        Self {
            field,
            message,
            origin,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(origin) = &self.origin {
            write!(f, " (from {origin})")?;
        }
        Ok(())
    }
}

/// `["media", "ice_servers", "0", "urls"]` -> `media.ice_servers[0].urls`.
fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(segment);
        }
    }
    out
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
