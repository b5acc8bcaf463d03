//! Identifier newtypes shared by the core and the server.
//!
//! Ids are plain `u64`s inside (cheap to copy and hash on the packet path) and have a stable
//! prefixed text form (`PA_…`, `TR_…`) used on the wire.

use std::fmt;
use std::str::FromStr;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            /// The text prefix of this id kind on the wire.
            pub const PREFIX: &'static str = $prefix;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{:016x}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s.strip_prefix($prefix).ok_or(ParseIdError)?;
                if hex.is_empty() || hex.len() > 16 {
                    return Err(ParseIdError);
                }
                u64::from_str_radix(hex, 16).map($name).map_err(|_| ParseIdError)
            }
        }
    };
}

prefixed_id!(
    /// A participant's id, unique per join (a rejoin with the same identity gets a new one).
    ParticipantId,
    "PA_"
);
prefixed_id!(
    /// A published track's id, unique within the server.
    TrackId,
    "TR_"
);
prefixed_id!(
    /// A forward's id (the recording tap: one track sent as plain RTP), unique within the server.
    ForwardId,
    "FW_"
);

/// The text is not a valid id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed id")]
pub struct ParseIdError;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let p = ParticipantId(0xdead_beef);
        assert_eq!(p.to_string(), "PA_00000000deadbeef");
        assert_eq!(p.to_string().parse::<ParticipantId>(), Ok(p));
        let t = TrackId(u64::MAX);
        assert_eq!(t.to_string().parse::<TrackId>(), Ok(t));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "PA_",
            "TR_00000000deadbeef",
            "PA_xyz",
            "PA_00000000000000000",
        ] {
            assert!(bad.parse::<ParticipantId>().is_err(), "{bad}");
        }
    }
}
