//! Request signing: `X-SFU-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with the
//! secret of the API key named in `X-SFU-Key` (the scheme of GitHub's `X-Hub-Signature-256`).
//! The body carries the event `id` and `created_at`, so the signature covers them too.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header with `sha256=<hex>`: HMAC-SHA256 of the body with the API secret.
pub const SIGNATURE_HEADER: &str = "x-sfu-signature";
/// Header naming the API key whose secret signed the body.
pub const KEY_HEADER: &str = "x-sfu-key";
/// Header repeating the body's `event`, for routing without parsing.
pub const EVENT_HEADER: &str = "x-sfu-event";
/// Header repeating the body's `id`, for deduplication without parsing.
pub const EVENT_ID_HEADER: &str = "x-sfu-event-id";
/// Header counting delivery attempts of this event to this endpoint, from 1.
pub const ATTEMPT_HEADER: &str = "x-sfu-attempt";
/// Prefix of the signature value, naming the hash.
const SCHEME: &str = "sha256=";

/// The `X-SFU-Signature` value of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "{SCHEME}{}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

/// Whether `header` is the signature of `body` under `secret` (constant-time comparison).
#[cfg(test)]
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix(SCHEME) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    mac(secret, body).verify_slice(&sig).is_ok()
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifies_only_the_same_body_and_secret() {
        let body = br#"{"event":"room_started","id":"EV_1"}"#;
        let header = sign(b"secret-one", body);
        assert!(verify(b"secret-one", body, &header));
        assert!(!verify(b"secret-two", body, &header));
        assert!(!verify(
            b"secret-one",
            br#"{"event":"room_started","id":"EV_2"}"#,
            &header
        ));
        assert!(!verify(
            b"secret-one",
            body,
            header.trim_start_matches(SCHEME)
        ));
        assert!(!verify(b"secret-one", body, "sha256=zz"));
    }
}
