//! Access tokens for our server: from the dev-mode endpoint, or signed with a configured key.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

/// Where participant tokens come from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// `POST /v1/dev/token` (a server in dev mode).
    Dev,
    /// HS256 JWTs signed here with an API key and its secret.
    Key {
        /// The API key (`kid` header and `iss` claim).
        key: String,
        /// Its secret.
        secret: String,
    },
}

/// Token lifetime: longer than any run.
const TTL_S: u64 = 6 * 3600;

impl TokenSource {
    /// A join token for `identity` in `room` (which it may create).
    pub async fn token(
        &self,
        http: &reqwest::Client,
        base_url: &str,
        room: &str,
        identity: &str,
    ) -> Result<String> {
        match self {
            TokenSource::Dev => {
                let resp = http
                    .post(format!("{base_url}/v1/dev/token"))
                    .json(&json!({"room": room, "identity": identity}))
                    .send()
                    .await
                    .context("POST /v1/dev/token")?;
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if !status.is_success() {
                    bail!("POST /v1/dev/token -> {status}: {body}");
                }
                body.get("token")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("no token in {body}"))
            }
            TokenSource::Key { key, secret } => sign(key, secret, room, identity),
        }
    }
}

/// An HS256 join token as API.md describes it.
pub fn sign(key: &str, secret: &str, room: &str, identity: &str) -> Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = json!({
        "iss": key,
        "sub": identity,
        "iat": now,
        "exp": now + TTL_S,
        "video": {"room": room, "room_join": true, "room_create": true},
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(key.to_owned());
    Ok(jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}
