//! JWT access tokens (API.md "Authentication"): HS256, signed with the secret of an API key
//! named by the header `kid` or the claim `iss`, with `video` grants.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::AuthConfig;

/// Clock skew tolerated on `exp` and `nbf`; small, because tokens are short-lived.
pub const LEEWAY_S: u64 = 5;

/// The `video` claim: what the bearer may do.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VideoGrants {
    /// The room the room-scoped grants apply to; `None` = every room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Join `room` over the WebSocket.
    #[serde(default)]
    pub room_join: bool,
    /// Create and delete rooms.
    #[serde(default)]
    pub room_create: bool,
    /// Inspect a room and manage its participants, tracks and forwards.
    #[serde(default)]
    pub room_admin: bool,
    /// List rooms.
    #[serde(default)]
    pub room_list: bool,
    /// Publish tracks once joined (default true).
    #[serde(default = "yes")]
    pub can_publish: bool,
    /// Subscribe to tracks once joined (default true).
    #[serde(default = "yes")]
    pub can_subscribe: bool,
    /// Send data channel messages once joined (default true).
    #[serde(default = "yes")]
    pub can_publish_data: bool,
}

fn yes() -> bool {
    true
}

// Matches the serde defaults, so `VideoGrants::default()` and `{}` in a token mean the same.
impl Default for VideoGrants {
    fn default() -> Self {
        Self {
            room: None,
            room_join: false,
            room_create: false,
            room_admin: false,
            room_list: false,
            can_publish: true,
            can_subscribe: true,
            can_publish_data: true,
        }
    }
}

/// A right checked by [`Claims::require`]. The media rights (`can_publish`, `can_subscribe`,
/// `can_publish_data`) are read from [`VideoGrants`] directly once a participant has joined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(
    clippy::enum_variant_names,
    reason = "the names mirror the claims room_join, ..."
)]
pub enum Grant {
    /// `room_join`.
    RoomJoin,
    /// `room_create`.
    RoomCreate,
    /// `room_admin`.
    RoomAdmin,
    /// `room_list`.
    RoomList,
}

impl Grant {
    /// The claim name, as used in tokens and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::RoomJoin => "room_join",
            Self::RoomCreate => "room_create",
            Self::RoomAdmin => "room_admin",
            Self::RoomList => "room_list",
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The claims of an access token.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The API key that signed the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Participant identity; empty for admin-only tokens that never join.
    #[serde(default)]
    pub sub: String,
    /// Expiry, seconds since the Unix epoch (required).
    pub exp: u64,
    /// Not valid before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Display name of the participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The grants; a token without `video` may do nothing room-related.
    #[serde(default)]
    pub video: VideoGrants,
}

impl Claims {
    /// Checks that the token holds `grant` for `room` (`None` when the action names no room,
    /// e.g. listing rooms). A token scoped to a room (`video.room`) grants nothing on another.
    pub fn require(&self, grant: Grant, room: Option<&str>) -> Result<(), AuthError> {
        let v = &self.video;
        let held = match grant {
            Grant::RoomJoin => v.room_join,
            Grant::RoomCreate => v.room_create,
            Grant::RoomAdmin => v.room_admin,
            Grant::RoomList => v.room_list,
        };
        if !held {
            return Err(AuthError::Forbidden {
                grant,
                room: room.map(str::to_owned),
            });
        }
        if let (Some(scope), Some(wanted)) = (v.room.as_deref(), room)
            && scope != wanted
        {
            return Err(AuthError::WrongRoom {
                grant,
                scope: scope.to_owned(),
            });
        }
        Ok(())
    }

    /// The room a WebSocket join goes to: the token's `video.room`, which needs `room_join`.
    pub fn join_room(&self) -> Result<&str, AuthError> {
        let room = self.video.room.as_deref().ok_or(AuthError::NoRoom)?;
        self.require(Grant::RoomJoin, Some(room))?;
        Ok(room)
    }
}

/// Why a token was refused or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was presented.
    #[error("an access token is required")]
    Missing,
    /// Not a well-formed JWT, or its claims have the wrong shape.
    #[error("malformed access token: {0}")]
    Malformed(String),
    /// Signed with something other than HS256 (including `none`).
    #[error("unsupported token algorithm {0}: only HS256 is accepted")]
    UnsupportedAlgorithm(String),
    /// Neither header `kid` nor claim `iss` names an API key.
    #[error("the token names no API key (header kid or claim iss)")]
    NoKeyId,
    /// Header `kid` and claim `iss` name different API keys.
    #[error("the token's header kid and claim iss name different API keys")]
    KeyIdMismatch,
    /// The named API key is not configured.
    #[error("unknown API key `{0}`")]
    UnknownKey(String),
    /// The signature does not match the key's secret.
    #[error("invalid token signature")]
    BadSignature,
    /// The `exp` claim is absent.
    #[error("the token has no {0} claim")]
    MissingClaim(String),
    /// `exp` is in the past.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token lacks a grant.
    #[error("the token lacks the {grant} grant{}", room.as_ref().map(|r| format!(" for room `{r}`")).unwrap_or_default())]
    Forbidden {
        /// The missing grant.
        grant: Grant,
        /// The room it was needed for, if the action names one.
        room: Option<String>,
    },
    /// The grant is held, but only for another room.
    #[error("the token's {grant} grant is limited to room `{scope}`")]
    WrongRoom {
        /// The grant that was checked.
        grant: Grant,
        /// The token's `video.room`.
        scope: String,
    },
    /// A join token without `video.room`.
    #[error("the token names no room to join")]
    NoRoom,
    /// Minting failed (unknown key or signing error).
    #[error("cannot sign token: {0}")]
    Signing(String),
}

impl AuthError {
    /// Stable snake_case code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::Malformed(_) | Self::NoKeyId | Self::KeyIdMismatch | Self::MissingClaim(_) => {
                "invalid_token"
            }
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadSignature => "invalid_signature",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::Forbidden { .. } | Self::WrongRoom { .. } | Self::NoRoom => "permission_denied",
            Self::Signing(_) => "internal",
        }
    }

    /// The HTTP status API.md assigns: 401 for an absent or invalid token, 403 for a valid token
    /// lacking a grant, 500 when we failed to sign.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Forbidden { .. } | Self::WrongRoom { .. } | Self::NoRoom => 403,
            Self::Signing(_) => 500,
            _ => 401,
        }
    }
}

/// Verifies and mints tokens with the configured API keys.
#[derive(Clone)]
pub struct Authenticator {
    keys: BTreeMap<String, String>,
    dev_mode: bool,
}

// Hand-written so that secrets never reach a log line.
impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("dev_mode", &self.dev_mode)
            .finish()
    }
}

#[derive(Deserialize)]
struct IssuerOnly {
    #[serde(default)]
    iss: Option<serde_json::Value>,
}

impl Authenticator {
    /// An authenticator over explicit `key -> secret` pairs (not dev mode).
    #[cfg_attr(not(test), allow(dead_code, reason = "API for tests and tools"))]
    pub fn new(keys: BTreeMap<String, String>) -> Self {
        Self {
            keys,
            dev_mode: false,
        }
    }

    /// An authenticator over the configured keys, or the dev key when none are configured.
    pub fn from_config(auth: &AuthConfig) -> Self {
        let (keys, dev_mode) = auth.effective_keys();
        Self { keys, dev_mode }
    }

    /// True when running on the public dev key (`devkey`/`devsecret`).
    pub fn is_dev_mode(&self) -> bool {
        self.dev_mode
    }

    /// Verifies signature, algorithm and times of `token` and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        // `alg` is an enum in jsonwebtoken, so `none` or a made-up name fails to parse here;
        // report that as the algorithm problem it is rather than as a malformed token.
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::Json(err) if err.to_string().contains("unknown variant") => {
                AuthError::UnsupportedAlgorithm(unknown_variant(&err.to_string()))
            }
            _ => AuthError::Malformed(e.to_string()),
        })?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }

        // The key must be chosen before the signature can be checked, so `iss` is read from the
        // unverified payload; nothing else from it is trusted until `decode` below succeeds.
        let unverified_iss = jsonwebtoken::dangerous::insecure_decode::<IssuerOnly>(token)
            .map_err(|e| AuthError::Malformed(e.to_string()))?
            .claims
            .iss;
        let iss = match unverified_iss {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s),
            Some(_) => return Err(AuthError::Malformed("claim iss is not a string".into())),
        };
        let key_id = match (header.kid, iss) {
            (Some(kid), Some(iss)) if kid != iss => return Err(AuthError::KeyIdMismatch),
            (Some(kid), _) => kid,
            (None, Some(iss)) => iss,
            (None, None) => return Err(AuthError::NoKeyId),
        };
        let secret = self
            .keys
            .get(&key_id)
            .ok_or(AuthError::UnknownKey(key_id))?;

        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_S;
        validation.validate_nbf = true;
        // We issue no audience; a token carrying one is still ours to accept.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        // Decoded as JSON first so that a missing `exp` is reported by the validation (as
        // MissingClaim) rather than as a deserialization error of `Claims`.
        let data = jsonwebtoken::decode::<serde_json::Value>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
            ErrorKind::InvalidAlgorithm => {
                AuthError::UnsupportedAlgorithm(format!("{:?}", header.alg))
            }
            _ => AuthError::Malformed(e.to_string()),
        })?;
        serde_json::from_value(data.claims).map_err(|e| AuthError::Malformed(e.to_string()))
    }

    /// Signs `claims` with API key `key`, setting header `kid` and claim `iss` to `key`.
    #[cfg_attr(not(test), allow(dead_code, reason = "API for tests and tools"))]
    pub fn mint(&self, key: &str, claims: &Claims) -> Result<String, AuthError> {
        let secret = self
            .keys
            .get(key)
            .ok_or_else(|| AuthError::UnknownKey(key.to_owned()))?;
        sign(key, secret, claims)
    }
}

/// Signs `claims` with `key`/`secret`, setting header `kid` and claim `iss` to `key`.
pub fn sign(key: &str, secret: &str, claims: &Claims) -> Result<String, AuthError> {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.to_owned());
    let claims = Claims {
        iss: Some(key.to_owned()),
        ..claims.clone()
    };
    jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| AuthError::Signing(e.to_string()))
}

/// The claims of a typical token: a participant of `room` (join, publish, subscribe, data)
/// named `identity`, plus room_create/room_admin/room_list if `admin` (`room` `None` with
/// `admin` = every room), valid for `ttl` from now.
pub fn claims_for(room: Option<&str>, identity: &str, admin: bool, ttl: Duration) -> Claims {
    let now = unix_now();
    Claims {
        iss: None,
        sub: identity.to_owned(),
        exp: now.saturating_add(ttl.as_secs()),
        nbf: None,
        iat: Some(now),
        name: None,
        video: VideoGrants {
            room: room.map(str::to_owned),
            room_join: room.is_some(),
            room_create: admin,
            room_admin: admin,
            room_list: admin,
            can_publish: true,
            can_subscribe: true,
            can_publish_data: true,
        },
    }
}

/// A signed token for [`claims_for`]`(room, identity, admin, ttl)`, for the `token` CLI
/// subcommand and the dev token endpoint.
pub fn token_for(
    key: &str,
    secret: &str,
    room: Option<&str>,
    identity: &str,
    admin: bool,
    ttl: Duration,
) -> String {
    // HS256 signing of a serializable struct cannot fail: the key family always matches and
    // HMAC takes secrets of any length.
    sign(key, secret, &claims_for(room, identity, admin, ttl)).expect("HS256 signing is infallible")
}

/// Seconds since the Unix epoch (0 if the clock is before it, which only a broken host has).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Pulls the variant name out of serde's "unknown variant `none`, expected one of ..." message.
fn unknown_variant(message: &str) -> String {
    message.split('`').nth(1).unwrap_or("?").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "key1";
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn auth() -> Authenticator {
        Authenticator::new(BTreeMap::from([
            (KEY.to_owned(), SECRET.to_owned()),
            (
                "key2".to_owned(),
                "fedcba9876543210fedcba9876543210".to_owned(),
            ),
        ]))
    }

    /// Builds a token by hand so tests can produce what `mint` never would.
    fn raw_token(header: serde_json::Value, claims: serde_json::Value, secret: &str) -> String {
        let header: Header = serde_json::from_value(header).unwrap();
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn b64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            }
        }
        out
    }

    #[test]
    fn round_trip() {
        let a = auth();
        let claims = claims_for(Some("r1"), "alice", false, Duration::from_secs(600));
        let token = a.mint(KEY, &claims).unwrap();
        let got = a.verify(&token).unwrap();
        assert_eq!(got.iss.as_deref(), Some(KEY));
        assert_eq!(got.sub, "alice");
        assert_eq!(got.video, claims.video);
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(),
            Some(KEY)
        );

        let token = token_for(
            "key2",
            "fedcba9876543210fedcba9876543210",
            None,
            "",
            true,
            Duration::from_secs(60),
        );
        let got = a.verify(&token).unwrap();
        assert!(got.video.room_admin && got.video.room_create && got.video.room_list);
        assert!(
            !got.video.room_join,
            "an admin token without a room joins nothing"
        );
    }

    #[test]
    fn dev_mode_from_default_config() {
        let a = Authenticator::from_config(&AuthConfig::default());
        assert!(a.is_dev_mode());
        let token = token_for(
            "devkey",
            "devsecret",
            Some("r"),
            "bob",
            false,
            Duration::from_secs(60),
        );
        assert_eq!(a.verify(&token).unwrap().sub, "bob");
        assert!(!format!("{a:?}").contains("devsecret"));
    }

    #[test]
    fn expired() {
        let mut claims = claims_for(Some("r"), "alice", false, Duration::ZERO);
        claims.exp = unix_now() - 60;
        let token = auth().mint(KEY, &claims).unwrap();
        let err = auth().verify(&token).unwrap_err();
        assert_eq!(err, AuthError::Expired);
        assert_eq!(err.code(), "token_expired");
        assert_eq!(err.http_status(), 401);

        // Within the leeway it is still accepted.
        claims.exp = unix_now() - 1;
        auth().verify(&auth().mint(KEY, &claims).unwrap()).unwrap();
    }

    #[test]
    fn not_yet_valid() {
        let mut claims = claims_for(Some("r"), "alice", false, Duration::from_secs(600));
        claims.nbf = Some(unix_now() + 300);
        let token = auth().mint(KEY, &claims).unwrap();
        assert_eq!(auth().verify(&token).unwrap_err(), AuthError::NotYetValid);
    }

    #[test]
    fn wrong_secret_or_key() {
        let ttl = Duration::from_secs(60);
        let token = token_for(
            KEY,
            "not-the-secret-not-the-secret-xx",
            Some("r"),
            "a",
            false,
            ttl,
        );
        let err = auth().verify(&token).unwrap_err();
        assert_eq!(err, AuthError::BadSignature);
        assert_eq!(err.code(), "invalid_signature");

        let token = token_for("nokey", SECRET, Some("r"), "a", false, ttl);
        let err = auth().verify(&token).unwrap_err();
        assert_eq!(err, AuthError::UnknownKey("nokey".into()));
        assert_eq!(err.code(), "unknown_key");

        let claims = claims_for(Some("r"), "a", false, ttl);
        assert_eq!(
            auth().mint("nokey", &claims).unwrap_err().code(),
            "unknown_key"
        );

        // Tampering with the payload breaks the signature.
        let token = token_for(KEY, SECRET, Some("r"), "a", false, ttl);
        let parts: Vec<&str> = token.split('.').collect();
        let forged = serde_json::json!({"iss": KEY, "sub": "a", "exp": unix_now() + 60,
            "video": {"room_admin": true}});
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64url(forged.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(auth().verify(&forged).unwrap_err(), AuthError::BadSignature);
    }

    #[test]
    fn key_from_kid_or_iss() {
        let exp = unix_now() + 60;
        // kid only.
        let t = raw_token(
            serde_json::json!({"alg": "HS256", "kid": KEY}),
            serde_json::json!({"sub": "a", "exp": exp}),
            SECRET,
        );
        assert_eq!(auth().verify(&t).unwrap().sub, "a");
        // iss only (LiveKit-style tokens).
        let t = raw_token(
            serde_json::json!({"alg": "HS256"}),
            serde_json::json!({"iss": KEY, "sub": "b", "exp": exp}),
            SECRET,
        );
        assert_eq!(auth().verify(&t).unwrap().sub, "b");
        // Neither.
        let t = raw_token(
            serde_json::json!({"alg": "HS256"}),
            serde_json::json!({"sub": "c", "exp": exp}),
            SECRET,
        );
        assert_eq!(auth().verify(&t).unwrap_err(), AuthError::NoKeyId);
        // Disagreeing.
        let t = raw_token(
            serde_json::json!({"alg": "HS256", "kid": KEY}),
            serde_json::json!({"iss": "key2", "exp": exp}),
            SECRET,
        );
        assert_eq!(auth().verify(&t).unwrap_err(), AuthError::KeyIdMismatch);
        // kid picks the secret: signed with key2's secret but naming key1.
        let t = raw_token(
            serde_json::json!({"alg": "HS256", "kid": KEY}),
            serde_json::json!({"exp": exp}),
            "fedcba9876543210fedcba9876543210",
        );
        assert_eq!(auth().verify(&t).unwrap_err(), AuthError::BadSignature);
    }

    #[test]
    fn missing_exp_rejected() {
        let t = raw_token(
            serde_json::json!({"alg": "HS256", "kid": KEY}),
            serde_json::json!({"sub": "a"}),
            SECRET,
        );
        let err = auth().verify(&t).unwrap_err();
        assert_eq!(err, AuthError::MissingClaim("exp".into()));
        assert_eq!(err.code(), "invalid_token");
    }

    #[test]
    fn other_algorithms_rejected() {
        let claims = serde_json::json!({"iss": KEY, "sub": "a", "exp": unix_now() + 60});
        let payload = b64url(claims.to_string().as_bytes());

        let none = format!("{}.{payload}.", b64url(br#"{"alg":"none","typ":"JWT"}"#));
        let err = auth().verify(&none).unwrap_err();
        assert_eq!(err, AuthError::UnsupportedAlgorithm("none".into()));
        assert_eq!(err.http_status(), 401);

        // An RS256 header with an HMAC signature: the classic key-confusion attempt.
        let rs = format!(
            "{}.{payload}.c2ln",
            b64url(br#"{"alg":"RS256","typ":"JWT","kid":"key1"}"#)
        );
        assert_eq!(
            auth().verify(&rs).unwrap_err(),
            AuthError::UnsupportedAlgorithm("RS256".into())
        );

        let hs512 = raw_token(
            serde_json::json!({"alg": "HS512", "kid": KEY}),
            claims,
            SECRET,
        );
        assert_eq!(
            auth().verify(&hs512).unwrap_err().code(),
            "unsupported_algorithm"
        );
    }

    #[test]
    fn malformed_and_missing() {
        assert_eq!(auth().verify("").unwrap_err(), AuthError::Missing);
        assert_eq!(auth().verify("  ").unwrap_err().code(), "missing_token");
        for bad in ["abc", "a.b.c", "a.b", "....."] {
            let err = auth().verify(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_token", "{bad}: {err:?}");
        }
        // Valid signature, but the claims have the wrong shape.
        let t = raw_token(
            serde_json::json!({"alg": "HS256", "kid": KEY}),
            serde_json::json!({"exp": unix_now() + 60, "video": {"room_join": "yes"}}),
            SECRET,
        );
        assert!(matches!(
            auth().verify(&t).unwrap_err(),
            AuthError::Malformed(_)
        ));
    }

    #[test]
    fn grant_defaults() {
        let v: VideoGrants = serde_json::from_str(r#"{"room": "r"}"#).unwrap();
        assert!(v.can_publish && v.can_subscribe && v.can_publish_data);
        assert!(!v.room_join && !v.room_create && !v.room_admin && !v.room_list);
        assert_eq!(
            v,
            VideoGrants {
                room: Some("r".into()),
                ..VideoGrants::default()
            }
        );

        let v: VideoGrants = serde_json::from_str(r#"{"can_publish": false}"#).unwrap();
        assert!(!v.can_publish && v.can_subscribe);

        // A token without `video` at all.
        let t = raw_token(
            serde_json::json!({"alg": "HS256", "kid": KEY}),
            serde_json::json!({"exp": unix_now() + 60}),
            SECRET,
        );
        let c = auth().verify(&t).unwrap();
        assert_eq!(c.sub, "");
        assert_eq!(
            c.require(Grant::RoomJoin, Some("r")).unwrap_err().code(),
            "permission_denied"
        );
    }

    #[test]
    fn room_scoping() {
        let ttl = Duration::from_secs(60);
        let p = claims_for(Some("r1"), "alice", false, ttl);
        assert_eq!(p.join_room().unwrap(), "r1");
        p.require(Grant::RoomJoin, Some("r1")).unwrap();
        let err = p.require(Grant::RoomJoin, Some("r2")).unwrap_err();
        assert!(matches!(err, AuthError::WrongRoom { .. }));
        assert_eq!(err.http_status(), 403);
        let err = p.require(Grant::RoomAdmin, Some("r1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the token lacks the room_admin grant for room `r1`"
        );
        assert!(p.require(Grant::RoomList, None).is_err());

        // A room-scoped admin token administers that room only.
        let a = claims_for(Some("r1"), "ops", true, ttl);
        a.require(Grant::RoomAdmin, Some("r1")).unwrap();
        assert!(a.require(Grant::RoomAdmin, Some("r2")).is_err());
        assert!(a.require(Grant::RoomCreate, Some("r2")).is_err());
        a.require(Grant::RoomList, None).unwrap();

        // An unscoped admin token covers every room but joins none.
        let g = claims_for(None, "", true, ttl);
        g.require(Grant::RoomAdmin, Some("any")).unwrap();
        g.require(Grant::RoomCreate, Some("other")).unwrap();
        assert_eq!(g.join_room().unwrap_err(), AuthError::NoRoom);
    }
}
