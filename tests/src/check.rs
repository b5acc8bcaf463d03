//! Comparing what a subscriber received with what a publisher sent.

use std::collections::BTreeMap;

use crate::client::{MediaKind, PublishedTrack, ReceivedPacket};
use crate::vp8::{self, PayloadTag};

/// Result of [`compare_forwarded`].
#[derive(Debug, Clone, Default)]
pub struct ForwardReport {
    /// Received packets whose payload matched the sent one.
    pub matched: usize,
    /// Received packets without a tag.
    pub untagged: usize,
    /// Tagged packets that belong to no stream of the publisher or were not recorded.
    pub unknown: usize,
    /// Payload (or VP8 body) or marker mismatches: `(tag, description)`, first 20.
    pub mismatches: Vec<(PayloadTag, String)>,
    /// Total mismatches.
    pub mismatch_count: usize,
    /// Matched packets per sending layer (rid, "" for a single layer).
    pub per_layer: BTreeMap<String, usize>,
    /// Received packets carrying the same tag more than once.
    pub duplicate_tags: usize,
}

impl ForwardReport {
    /// Whether every received packet matched a sent one exactly.
    pub fn all_match(&self) -> bool {
        self.untagged == 0 && self.unknown == 0 && self.mismatch_count == 0
    }
}

/// Matches each received packet to the sent packet with the same tag and compares bytes.
///
/// Audio payloads must be byte-identical. For video the VP8 payload descriptor may be
/// rewritten by an SFU (PictureID/TL0PICIDX across layer switches), so only the bytes after
/// the descriptor are compared when `vp8_body_only`; otherwise the whole payload.
pub fn compare_forwarded(
    received: &[ReceivedPacket],
    sent: &PublishedTrack,
    vp8_body_only: bool,
) -> ForwardReport {
    let mut r = ForwardReport::default();
    let mut seen = std::collections::HashSet::new();
    for p in received {
        let Some(tag) = p.tag() else {
            r.untagged += 1;
            continue;
        };
        if !seen.insert(tag) {
            r.duplicate_tags += 1;
        }
        let (Some(stream), Some(s)) = (sent.stream_of_tag(tag), sent.sent_packet(tag)) else {
            r.unknown += 1;
            continue;
        };
        let same = if sent.kind == MediaKind::Video && vp8_body_only {
            vp8::body(&p.payload) == vp8::body(&s.payload)
        } else {
            p.payload == s.payload
        };
        let mut problem = None;
        if !same {
            problem = Some(format!(
                "payload differs (received {} bytes, sent {} bytes)",
                p.payload.len(),
                s.payload.len()
            ));
        } else if p.marker != s.marker {
            problem = Some(format!("marker {} != sent {}", p.marker, s.marker));
        }
        match problem {
            Some(d) => {
                r.mismatch_count += 1;
                if r.mismatches.len() < 20 {
                    r.mismatches.push((tag, d));
                }
            }
            None => {
                r.matched += 1;
                *r.per_layer
                    .entry(stream.rid.clone().unwrap_or_default())
                    .or_default() += 1;
            }
        }
    }
    r
}
