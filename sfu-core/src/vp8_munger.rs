//! VP8 payload descriptor rewriting: PictureID, TL0PICIDX and KEYIDX kept continuous per down track.
//!
//! Every simulcast layer is its own VP8 stream with its own PictureID, TL0PICIDX and KEYIDX
//! spaces, and a subscriber may be sent only some of a layer's temporal layers. A receiver that
//! sees these fields jump at a layer switch, or sees holes where pictures were filtered out,
//! infers lost frames from them (libwebrtc's VP8 reference finder does) and waits or asks for a
//! keyframe. [`Vp8Munger`] gives every forwarded packet output values that continue the ones
//! already sent, the way the RTP sequence number rewriter does for sequence numbers.
//!
//! Calling order, per down track, with `seq` the source stream's extended sequence number:
//!
//! - [`Vp8Munger::switch_source`] when forwarding moves to another layer (at its keyframe);
//! - for each packet of the current source, either [`Vp8Munger::drop_picture`] (the caller does
//!   not forward it, e.g. its temporal layer is above the subscriber's) or
//!   [`Vp8Munger::munge`] (to forward it), then write the returned values into the packet with
//!   [`apply`] or a `str0m` `Vp8Patch`.
//!
//! Order comes from the sequence number, not from the PictureID: a 7-bit PictureID wraps every
//! few seconds, so only the sequence number tells a late packet from a jump forward.

use std::collections::VecDeque;

use crate::codec::vp8::Vp8Descriptor;

/// How many recent pictures of the current source are remembered.
///
/// Enough for retransmissions (a picture older than this is over a second late at 60 fps, useless
/// to a decoder) and small enough to scan cheaply; a packet of a forgotten picture is refused
/// rather than given a guessed PictureID.
const PICTURE_HISTORY: usize = 64;

/// Where unwrapped input counters start: a multiple of every field's range, far from 0, so that
/// looking back from the first value never underflows.
const UNWRAP_ORIGIN: u64 = 1 << 40;

/// Width of the output PictureID counter; a 7-bit packet carries its low 7 bits, which stay
/// continuous because 2^7 divides 2^15.
const PICTURE_ID_BITS: u32 = 15;
/// Width of TL0PICIDX.
const TL0_BITS: u32 = 8;
/// Width of KEYIDX.
const KEY_IDX_BITS: u32 = 5;

/// The descriptor values to write into one forwarded packet, each present only when the packet
/// carries that field.
///
/// Maps 1:1 onto `str0m::rtp::Vp8Descriptor::patch()`: call `.picture_id(v)`, `.tl0_pic_idx(v)`
/// and `.key_idx(v)` for the fields that are `Some`. Values always fit the packet's field width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Rewrite {
    /// Output PictureID, 7 or 15 bits like the packet's own.
    pub picture_id: Option<u16>,
    /// Output TL0PICIDX.
    pub tl0_pic_idx: Option<u8>,
    /// Output KEYIDX (5 bits).
    pub key_idx: Option<u8>,
}

impl Vp8Rewrite {
    /// Whether there is nothing to write (the packet carries none of the three fields).
    pub fn is_empty(&self) -> bool {
        self.picture_id.is_none() && self.tl0_pic_idx.is_none() && self.key_idx.is_none()
    }
}

/// Keeps the VP8 descriptor fields of one outgoing stream continuous across layer switches and
/// dropped pictures. See the module docs for the calling order.
#[derive(Debug, Clone, Default)]
pub struct Vp8Munger {
    /// Mapping state of the current source; `None` before the first packet and after a switch.
    source: Option<Source>,
    /// Newest output values sent, where the next source continues from.
    last: LastSent,
}

/// The newest output value of each field, as unbounded counters (their wire values are the low
/// bits).
#[derive(Debug, Clone, Copy, Default)]
struct LastSent {
    picture_id: Option<u64>,
    tl0_pic_idx: Option<u64>,
    key_idx: Option<u64>,
}

/// Mapping state of one source stream.
#[derive(Debug, Clone)]
struct Source {
    /// Sequence number of the source's first packet: anything before it predates the switch.
    first_seq: u64,
    /// Highest sequence number seen, forwarded or dropped.
    newest_seq: Option<u64>,
    /// PictureID mapping, from the first packet that carried one.
    picture_id: Option<PictureIdMap>,
    /// TL0PICIDX mapping, from the first packet that carried one.
    tl0_pic_idx: Option<FieldMap>,
    /// KEYIDX mapping, from the first packet that carried one.
    key_idx: Option<FieldMap>,
    /// Recent pictures by unwrapped input PictureID, strictly ascending, at most
    /// [`PICTURE_HISTORY`].
    pictures: VecDeque<Picture>,
}

/// PictureID mapping of a source, tied to the width the source uses.
#[derive(Debug, Clone, Copy)]
struct PictureIdMap {
    /// Whether the source sends 15-bit PictureIDs.
    wide: bool,
    /// The mapping itself.
    map: FieldMap,
}

/// One field of a source: its input unwrapped, and output = input + `offset` (wrapping).
#[derive(Debug, Clone, Copy)]
struct FieldMap {
    /// The unwrapped input.
    input: Unwrapper,
    /// Output minus input for the newest pictures, lowered by one per dropped picture.
    offset: u64,
}

/// A wrapping descriptor field of one source, extended onto a 64-bit counter.
#[derive(Debug, Clone, Copy)]
struct Unwrapper {
    /// Width of the field on the wire.
    bits: u32,
    /// The counter value of the newest input.
    newest: u64,
}

/// A recent picture of the current source.
#[derive(Debug, Clone, Copy)]
struct Picture {
    /// Unwrapped input PictureID.
    input: u64,
    /// The counters sent for it, or `None` if it was dropped.
    sent: Option<Sent>,
    /// The PictureID offset right after this picture: an unseen picture between this one and the
    /// next remembered one (a late first packet) takes its output slot from it.
    picture_id_offset: u64,
    /// The TL0PICIDX offset right after this picture, for the same reason.
    tl0_offset: Option<u64>,
}

/// Output counters sent for one picture, so all its packets (and retransmissions) match.
#[derive(Debug, Clone, Copy)]
struct Sent {
    picture_id: u64,
    tl0_pic_idx: Option<u64>,
    key_idx: Option<u64>,
}

impl Vp8Munger {
    /// A munger for a new outgoing stream: its first source's values pass through unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next packet starts a new source (a keyframe of another layer): its values continue
    /// from the last ones sent, and packets of the previous source are refused from then on.
    pub fn switch_source(&mut self) {
        self.source = None;
    }

    /// The values to write into the packet `seq` of the current source to forward it, or `None`
    /// if it must not be forwarded.
    ///
    /// `None` means: the packet precedes the source's first packet (it belongs before the
    /// switch), its picture was dropped, or it is a late packet of a picture too old to be mapped
    /// exactly. All packets of one picture, and any retransmission of them, get the same values.
    pub fn munge(&mut self, seq: u64, desc: &Vp8Descriptor) -> Option<Vp8Rewrite> {
        let last = self.last;
        let source = self.source.get_or_insert_with(|| Source::new(seq));
        if seq < source.first_seq {
            return None;
        }
        let newer = source.note_seq(seq);
        let pid_in = desc.picture_id.map(|value| {
            source.unwrap_picture_id(value, desc.picture_id_15bit, newer, last.picture_id)
        });
        let tl0_in = desc.tl0_pic_idx.map(|value| {
            unwrap_field(
                &mut source.tl0_pic_idx,
                TL0_BITS,
                u16::from(value),
                newer,
                last.tl0_pic_idx,
            )
        });
        let key_in = desc.key_idx.map(|value| {
            unwrap_field(
                &mut source.key_idx,
                KEY_IDX_BITS,
                u16::from(value),
                newer,
                last.key_idx,
            )
        });
        let tl0_now = source.tl0_pic_idx.map(|m| m.offset);
        let key_offset = source.key_idx.map_or(0, |m| m.offset);
        let fresh_tl0 =
            |offset: Option<u64>| tl0_in.map(|t| t.wrapping_add(offset.or(tl0_now).unwrap_or(0)));
        let fresh_key = key_in.map(|k| k.wrapping_add(key_offset));

        let sent = match pid_in {
            // Without a PictureID nothing identifies pictures: the current offsets apply.
            None => Sent {
                picture_id: 0,
                tl0_pic_idx: fresh_tl0(None),
                key_idx: fresh_key,
            },
            Some(pid) => {
                let pid_offset = source.picture_id.map_or(0, |m| m.map.offset);
                match source.pictures.binary_search_by_key(&pid, |p| p.input) {
                    Ok(at) => {
                        let known = source.pictures.get(at)?.sent?;
                        // A field missing from the first packet of the picture is mapped now.
                        Sent {
                            picture_id: known.picture_id,
                            tl0_pic_idx: known.tl0_pic_idx.or_else(|| fresh_tl0(None)),
                            key_idx: known.key_idx.or(fresh_key),
                        }
                    }
                    Err(at) if at == source.pictures.len() => {
                        let sent = Sent {
                            picture_id: pid.wrapping_add(pid_offset),
                            tl0_pic_idx: fresh_tl0(None),
                            key_idx: fresh_key,
                        };
                        source.remember(Picture {
                            input: pid,
                            sent: Some(sent),
                            picture_id_offset: pid_offset,
                            tl0_offset: tl0_now,
                        });
                        sent
                    }
                    // Older than every remembered picture: before the switch, or forgotten.
                    Err(0) => return None,
                    Err(at) => {
                        // A picture never seen, older than the newest: its output slot was left
                        // free when the newer pictures were numbered.
                        let before = *source.pictures.get(at - 1)?;
                        let sent = Sent {
                            picture_id: pid.wrapping_add(before.picture_id_offset),
                            tl0_pic_idx: fresh_tl0(before.tl0_offset),
                            key_idx: fresh_key,
                        };
                        source.pictures.insert(
                            at,
                            Picture {
                                input: pid,
                                sent: Some(sent),
                                ..before
                            },
                        );
                        source.trim();
                        sent
                    }
                }
            }
        };

        if newer {
            // Only the newest packet moves the continuation point: a late packet's output is
            // behind it (and its unbounded counter may even sit below zero, wrapped).
            if pid_in.is_some() {
                self.last.picture_id = Some(sent.picture_id);
            }
            self.last.tl0_pic_idx = sent.tl0_pic_idx.or(self.last.tl0_pic_idx);
            self.last.key_idx = sent.key_idx.or(self.last.key_idx);
        }
        Some(Vp8Rewrite {
            picture_id: desc.picture_id.map(|_| {
                let mask = if desc.picture_id_15bit { 0x7fff } else { 0x7f };
                (sent.picture_id & mask) as u16
            }),
            tl0_pic_idx: desc.tl0_pic_idx.and(sent.tl0_pic_idx).map(|v| v as u8),
            key_idx: desc
                .key_idx
                .and(sent.key_idx)
                .map(|v| (v & ((1 << KEY_IDX_BITS) - 1)) as u8),
        })
    }

    /// Records that the packet `seq` of the current source, and so its whole picture, is not
    /// forwarded: later PictureIDs shift down to close the gap, and so does TL0PICIDX if the
    /// picture is a base-layer (TID 0) one, since only those advance it.
    ///
    /// Call it for every dropped packet; repeated calls for one picture count once. A picture
    /// already partly forwarded keeps its values (what is sent cannot be taken back), and so does
    /// a late picture older than the newest one (its slot is already between sent ones: it
    /// becomes a hole the receiver treats as a loss).
    pub fn drop_picture(&mut self, seq: u64, desc: &Vp8Descriptor) {
        let Some(source) = self.source.as_mut() else {
            // Nothing of the new source was sent: its first forwarded packet continues anyway.
            return;
        };
        if seq < source.first_seq {
            return;
        }
        let newer = source.note_seq(seq);
        let new_tl0_picture = match (&mut source.tl0_pic_idx, desc.tl0_pic_idx) {
            (Some(map), Some(value)) => {
                let before = map.input.newest;
                let advanced = map.input.unwrap(u16::from(value), newer) > before;
                advanced && desc.temporal_id.unwrap_or(0) == 0
            }
            _ => false,
        };
        if let (Some(map), Some(value)) = (&mut source.key_idx, desc.key_idx) {
            map.input.unwrap(u16::from(value), newer);
        }
        let pid = match (&mut source.picture_id, desc.picture_id) {
            (Some(map), Some(value)) if map.wide == desc.picture_id_15bit => {
                Some(map.map.input.unwrap(value, newer))
            }
            _ => None,
        };
        let Some(pid) = pid else {
            if new_tl0_picture {
                source.lower_tl0_offset();
            }
            return;
        };
        match source.pictures.binary_search_by_key(&pid, |p| p.input) {
            Err(at) if at == source.pictures.len() => {
                if let Some(map) = source.picture_id.as_mut() {
                    map.map.offset = map.map.offset.wrapping_sub(1);
                }
                if new_tl0_picture {
                    source.lower_tl0_offset();
                }
                let picture_id_offset = source.picture_id.map_or(0, |m| m.map.offset);
                let tl0_offset = source.tl0_pic_idx.map(|m| m.offset);
                source.remember(Picture {
                    input: pid,
                    sent: None,
                    picture_id_offset,
                    tl0_offset,
                });
            }
            // Already forwarded (partly), already dropped, or older than every remembered one.
            Ok(_) | Err(0) => {}
            Err(at) => {
                if let Some(&before) = source.pictures.get(at - 1) {
                    source.pictures.insert(
                        at,
                        Picture {
                            input: pid,
                            sent: None,
                            ..before
                        },
                    );
                    source.trim();
                }
            }
        }
    }
}

impl Source {
    /// A source whose first packet is `first_seq`.
    fn new(first_seq: u64) -> Self {
        Self {
            first_seq,
            newest_seq: None,
            picture_id: None,
            tl0_pic_idx: None,
            key_idx: None,
            pictures: VecDeque::new(),
        }
    }

    /// Records `seq` and says whether it is newer than every packet seen before.
    fn note_seq(&mut self, seq: u64) -> bool {
        let newer = self.newest_seq.is_none_or(|newest| seq > newest);
        if newer {
            self.newest_seq = Some(seq);
        }
        newer
    }

    /// The unwrapped input PictureID of a packet, starting (or restarting, if the width changed)
    /// the mapping so that its first picture continues after `last`.
    fn unwrap_picture_id(&mut self, value: u16, wide: bool, newer: bool, last: Option<u64>) -> u64 {
        match &mut self.picture_id {
            Some(map) if map.wide == wide => map.map.input.unwrap(value, newer),
            _ => {
                // A width change mid-source never happens with real encoders; restarting keeps
                // the output continuous rather than mixing two unwrap spaces in one history.
                let bits = if wide { PICTURE_ID_BITS } else { 7 };
                let map = FieldMap::start(bits, value, last);
                self.picture_id = Some(PictureIdMap { wide, map });
                self.pictures.clear();
                map.input.newest
            }
        }
    }

    /// Closes the gap a dropped base-layer picture leaves in TL0PICIDX.
    fn lower_tl0_offset(&mut self) {
        if let Some(map) = self.tl0_pic_idx.as_mut() {
            map.offset = map.offset.wrapping_sub(1);
        }
    }

    /// Adds the newest picture and forgets the oldest beyond the bound.
    fn remember(&mut self, picture: Picture) {
        self.pictures.push_back(picture);
        self.trim();
    }

    /// Forgets pictures beyond [`PICTURE_HISTORY`].
    fn trim(&mut self) {
        while self.pictures.len() > PICTURE_HISTORY {
            self.pictures.pop_front();
        }
    }
}

/// The unwrapped input of a field, starting its mapping at the first value.
fn unwrap_field(
    map: &mut Option<FieldMap>,
    bits: u32,
    value: u16,
    newer: bool,
    last: Option<u64>,
) -> u64 {
    match map {
        Some(map) => map.input.unwrap(value, newer),
        None => map.insert(FieldMap::start(bits, value, last)).input.newest,
    }
}

impl FieldMap {
    /// The mapping of a field whose first value in a source is `value`: it gets the output after
    /// `last`, or itself when nothing was sent yet (so a stream that never switches is untouched).
    fn start(bits: u32, value: u16, last: Option<u64>) -> Self {
        let input = Unwrapper::new(bits, value);
        let first_out = last.map_or(input.newest, |last| last.wrapping_add(1));
        Self {
            input,
            offset: first_out.wrapping_sub(input.newest),
        }
    }
}

impl Unwrapper {
    /// An unwrapper whose first value is `value` (only its low `bits` count).
    fn new(bits: u32, value: u16) -> Self {
        Self {
            bits,
            newest: UNWRAP_ORIGIN + (u64::from(value) & Self::mask(bits)),
        }
    }

    /// The mask of a `bits`-wide field.
    fn mask(bits: u32) -> u64 {
        (1 << bits) - 1
    }

    /// The counter value of `value`: at or after the newest for a packet newer than all before
    /// (which then becomes the newest), at or before it for an older packet.
    fn unwrap(&mut self, value: u16, newer: bool) -> u64 {
        let mask = Self::mask(self.bits);
        let value = u64::from(value);
        if newer {
            self.newest = self
                .newest
                .wrapping_add(value.wrapping_sub(self.newest) & mask);
            self.newest
        } else {
            self.newest
                .wrapping_sub(self.newest.wrapping_sub(value) & mask)
        }
    }
}

/// A copy of the VP8 RTP `payload` with the descriptor fields of `rewrite` written in, or `None`
/// if the payload has no valid descriptor or lacks a field to write or the value does not fit.
///
/// Lengths never change: the PictureID keeps its width (and M bit), KEYIDX keeps TID and Y
/// beside it. The same checks as `str0m`'s `Vp8PatchBuilder::build`.
pub fn apply(payload: &[u8], rewrite: &Vp8Rewrite) -> Option<Vec<u8>> {
    let mut out = payload.to_vec();
    apply_in_place(&mut out, rewrite).then_some(out)
}

/// Writes the descriptor fields of `rewrite` into `payload`; `false` (and `payload` untouched) in
/// the cases where [`apply`] returns `None`.
pub fn apply_in_place(payload: &mut [u8], rewrite: &Vp8Rewrite) -> bool {
    let Some(desc) = Vp8Descriptor::parse(payload) else {
        return false;
    };
    let fits = rewrite.picture_id.is_none_or(|v| {
        desc.picture_id.is_some() && v <= if desc.picture_id_15bit { 0x7fff } else { 0x7f }
    }) && rewrite
        .tl0_pic_idx
        .is_none_or(|_| desc.tl0_pic_idx.is_some())
        && rewrite
            .key_idx
            .is_none_or(|v| desc.key_idx.is_some() && v <= 0x1f);
    if !fits {
        return false;
    }
    // Fields follow the required byte and the extension byte in a fixed order.
    let pid_len = match desc.picture_id {
        None => 0,
        Some(_) if desc.picture_id_15bit => 2,
        Some(_) => 1,
    };
    let tl0_at = 2 + pid_len;
    let tk_at = tl0_at + usize::from(desc.tl0_pic_idx.is_some());
    // The parse succeeded, so every offset below is inside the descriptor; `get_mut` keeps that
    // an invariant rather than a panic.
    let mut put = |at: usize, keep: u8, byte: u8| {
        if let Some(slot) = payload.get_mut(at) {
            *slot = (*slot & keep) | byte;
        }
    };
    if let Some(v) = rewrite.picture_id {
        if desc.picture_id_15bit {
            put(2, 0x80, (v >> 8) as u8);
            put(3, 0, v as u8);
        } else {
            put(2, 0, v as u8);
        }
    }
    if let Some(v) = rewrite.tl0_pic_idx {
        put(tl0_at, 0, v);
    }
    if let Some(v) = rewrite.key_idx {
        // TID and Y share the byte: keep them.
        put(tk_at, 0xe0, v);
    }
    true
}

#[cfg(test)]
mod tests {
    //! Tables in the style of the sequence rewriter's, then property tests against a model of a
    //! libwebrtc-like VP8 stream.

    use proptest::prelude::*;
    use proptest::sample::Index;

    use super::{PICTURE_HISTORY, Vp8Munger, Vp8Rewrite, apply};
    use crate::codec::vp8::Vp8Descriptor;

    /// The fields of one test packet.
    #[derive(Debug, Clone, Copy)]
    struct Pkt {
        pid: u16,
        wide: bool,
        tl0: u8,
        tid: u8,
    }

    /// A packet with a 15-bit PictureID.
    const fn p15(pid: u16, tl0: u8, tid: u8) -> Pkt {
        Pkt {
            pid,
            wide: true,
            tl0,
            tid,
        }
    }

    /// A packet with a 7-bit PictureID.
    const fn p7(pid: u16, tl0: u8, tid: u8) -> Pkt {
        Pkt {
            pid,
            wide: false,
            tl0,
            tid,
        }
    }

    /// The descriptor of a test packet: PictureID, TL0PICIDX and TID present, no KEYIDX.
    fn desc(p: Pkt) -> Vp8Descriptor {
        Vp8Descriptor {
            non_reference: false,
            start_of_partition: true,
            partition_id: 0,
            picture_id: Some(p.pid),
            picture_id_15bit: p.wide,
            tl0_pic_idx: Some(p.tl0),
            temporal_id: Some(p.tid),
            layer_sync: false,
            key_idx: None,
            header_len: if p.wide { 6 } else { 5 },
        }
    }

    /// The bytes of a descriptor, the inverse of [`Vp8Descriptor::parse`].
    fn encode(d: &Vp8Descriptor) -> Vec<u8> {
        let has_tk = d.temporal_id.is_some() || d.key_idx.is_some();
        let ext = (u8::from(d.picture_id.is_some()) << 7)
            | (u8::from(d.tl0_pic_idx.is_some()) << 6)
            | (u8::from(d.temporal_id.is_some()) << 5)
            | (u8::from(d.key_idx.is_some()) << 4);
        let first = (u8::from(ext != 0) << 7)
            | (u8::from(d.non_reference) << 5)
            | (u8::from(d.start_of_partition) << 4)
            | (d.partition_id & 7);
        let mut out = vec![first];
        if ext != 0 {
            out.push(ext);
        }
        if let Some(pid) = d.picture_id {
            if d.picture_id_15bit {
                out.extend_from_slice(&[0x80 | (pid >> 8) as u8 & 0x7f, pid as u8]);
            } else {
                out.push(pid as u8 & 0x7f);
            }
        }
        out.extend(d.tl0_pic_idx);
        if has_tk {
            out.push(
                (d.temporal_id.unwrap_or(0) << 6)
                    | (u8::from(d.layer_sync) << 5)
                    | d.key_idx.unwrap_or(0),
            );
        }
        out
    }

    /// One call on the munger.
    #[derive(Debug)]
    enum Step {
        /// `switch_source()`.
        Switch,
        /// `munge(seq, packet)` and the `(PictureID, TL0PICIDX)` it must return.
        Send(u64, Pkt, Option<(u16, u8)>),
        /// `drop_picture(seq, packet)`.
        Drop(u64, Pkt),
    }

    use Step::{Drop, Send, Switch};

    /// A named scenario.
    struct Case {
        name: &'static str,
        steps: &'static [Step],
    }

    const CASES: &[Case] = &[
        Case {
            name: "the first source passes through unchanged",
            steps: &[
                Send(100, p15(500, 7, 0), Some((500, 7))),
                Send(101, p15(500, 7, 0), Some((500, 7))),
                Send(102, p15(501, 7, 1), Some((501, 7))),
                Send(103, p15(502, 8, 0), Some((502, 8))),
            ],
        },
        Case {
            name: "three sources with unrelated bases continue one another",
            steps: &[
                Send(10, p15(500, 7, 0), Some((500, 7))),
                Send(11, p15(501, 7, 1), Some((501, 7))),
                Switch,
                Send(90_000, p15(20_000, 200, 0), Some((502, 8))),
                Send(90_001, p15(20_000, 200, 0), Some((502, 8))),
                Send(90_002, p15(20_001, 200, 1), Some((503, 8))),
                Send(90_003, p15(20_002, 201, 0), Some((504, 9))),
                Switch,
                // 505 on 7 bits is 121.
                Send(5, p7(3, 50, 0), Some((121, 10))),
                Send(6, p7(4, 50, 1), Some((122, 10))),
                Send(7, p7(5, 51, 0), Some((123, 11))),
            ],
        },
        Case {
            name: "7-bit PictureID and TL0PICIDX wrap",
            steps: &[
                Send(1, p7(126, 255, 0), Some((126, 255))),
                Send(2, p7(127, 0, 0), Some((127, 0))),
                Send(3, p7(0, 1, 0), Some((0, 1))),
                Switch,
                Send(50, p7(60, 9, 0), Some((1, 2))),
            ],
        },
        Case {
            name: "15-bit PictureID wraps",
            steps: &[
                Send(1, p15(32_767, 10, 0), Some((32_767, 10))),
                Send(2, p15(0, 11, 0), Some((0, 11))),
                Switch,
                Send(9, p15(100, 0, 0), Some((1, 12))),
            ],
        },
        Case {
            name: "a switch continues across the output wrap",
            steps: &[
                Send(1, p15(32_766, 254, 0), Some((32_766, 254))),
                Send(2, p15(32_767, 255, 0), Some((32_767, 255))),
                Switch,
                Send(77, p15(9000, 33, 0), Some((0, 0))),
                Send(78, p15(9001, 33, 2), Some((1, 0))),
            ],
        },
        Case {
            name: "7-bit source then 15-bit source",
            steps: &[
                Send(1, p7(127, 0, 0), Some((127, 0))),
                Switch,
                Send(9, p15(5000, 3, 0), Some((128, 1))),
                Send(10, p15(5001, 3, 1), Some((129, 1))),
            ],
        },
        Case {
            name: "dropped upper temporal layer pictures close the PictureID gap only",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Drop(2, p15(11, 5, 2)),
                Send(3, p15(12, 5, 1), Some((11, 5))),
                Drop(4, p15(13, 5, 2)),
                Send(5, p15(14, 6, 0), Some((12, 6))),
            ],
        },
        Case {
            name: "a dropped picture of several packets counts once",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Drop(2, p15(11, 5, 2)),
                Drop(3, p15(11, 5, 2)),
                Drop(4, p15(11, 5, 2)),
                Send(5, p15(12, 5, 1), Some((11, 5))),
            ],
        },
        Case {
            name: "a dropped base layer picture closes the TL0PICIDX gap too",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Drop(2, p15(11, 6, 0)),
                Drop(3, p15(11, 6, 0)),
                Drop(4, p15(12, 6, 1)),
                Send(5, p15(13, 7, 0), Some((11, 6))),
            ],
        },
        Case {
            name: "retransmissions get the values sent first, dropped pictures stay dropped",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Drop(2, p15(11, 5, 2)),
                Send(3, p15(12, 5, 1), Some((11, 5))),
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Send(3, p15(12, 5, 1), Some((11, 5))),
                Send(2, p15(11, 5, 2), None),
                Send(4, p15(14, 6, 0), Some((13, 6))),
            ],
        },
        Case {
            name: "a picture whose packets all arrive late keeps its slot",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Send(3, p15(12, 5, 1), Some((12, 5))),
                Send(2, p15(11, 5, 2), Some((11, 5))),
                Send(4, p15(13, 6, 0), Some((13, 6))),
            ],
        },
        Case {
            name: "a late picture ignores drops that came after it",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Send(3, p15(12, 5, 1), Some((12, 5))),
                Drop(4, p15(13, 5, 2)),
                Send(5, p15(14, 6, 0), Some((13, 6))),
                Send(2, p15(11, 5, 2), Some((11, 5))),
                Send(6, p15(15, 6, 2), Some((14, 6))),
            ],
        },
        Case {
            name: "a late dropped picture leaves a hole",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Send(3, p15(12, 5, 1), Some((12, 5))),
                Drop(2, p15(11, 5, 2)),
                Send(4, p15(13, 6, 0), Some((13, 6))),
                Send(2, p15(11, 5, 2), None),
            ],
        },
        Case {
            name: "packets before the switch point are refused",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Switch,
                Send(500, p15(900, 1, 0), Some((11, 6))),
                Send(499, p15(899, 0, 2), None),
                Send(1, p15(10, 5, 0), None),
                Send(501, p15(901, 1, 2), Some((12, 6))),
            ],
        },
        Case {
            name: "a drop before the new source's first packet is harmless",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Switch,
                Drop(70, p15(300, 40, 2)),
                Send(71, p15(301, 41, 0), Some((11, 6))),
            ],
        },
        Case {
            name: "the last picture dropped before a switch is not counted",
            steps: &[
                Send(1, p15(10, 5, 0), Some((10, 5))),
                Drop(2, p15(11, 5, 1)),
                Switch,
                Send(71, p15(301, 41, 0), Some((11, 6))),
            ],
        },
        Case {
            name: "in-order jumps beyond half the 7-bit range keep the gap",
            steps: &[
                Send(1, p7(10, 5, 0), Some((10, 5))),
                Send(2, p7(110, 6, 0), Some((110, 6))),
                Send(3, p7(111, 7, 0), Some((111, 7))),
                Send(1, p7(10, 5, 0), Some((10, 5))),
            ],
        },
    ];

    #[test]
    fn table() {
        for case in CASES {
            let mut munger = Vp8Munger::new();
            for (i, step) in case.steps.iter().enumerate() {
                match *step {
                    Switch => munger.switch_source(),
                    Drop(seq, p) => munger.drop_picture(seq, &desc(p)),
                    Send(seq, p, want) => {
                        let got = munger.munge(seq, &desc(p)).map(|r| {
                            (r.picture_id.unwrap_or(u16::MAX), r.tl0_pic_idx.unwrap_or(0))
                        });
                        assert_eq!(got, want, "{}: step {i} {step:?}", case.name);
                    }
                }
            }
        }
    }

    #[test]
    fn key_idx_advances_at_each_switch() {
        let key = |pid: u16, key_idx: u8| Vp8Descriptor {
            key_idx: Some(key_idx),
            ..desc(p15(pid, 0, 0))
        };
        let mut munger = Vp8Munger::new();
        assert_eq!(
            munger.munge(1, &key(10, 30)).and_then(|r| r.key_idx),
            Some(30)
        );
        assert_eq!(
            munger.munge(2, &key(11, 31)).and_then(|r| r.key_idx),
            Some(31)
        );
        munger.switch_source();
        assert_eq!(
            munger.munge(50, &key(900, 4)).and_then(|r| r.key_idx),
            Some(0)
        );
        assert_eq!(
            munger.munge(51, &key(901, 4)).and_then(|r| r.key_idx),
            Some(0)
        );
        assert_eq!(
            munger.munge(52, &key(902, 5)).and_then(|r| r.key_idx),
            Some(1)
        );
    }

    #[test]
    fn absent_fields_stay_absent() {
        let bare = Vp8Descriptor {
            picture_id: None,
            tl0_pic_idx: None,
            temporal_id: None,
            ..desc(p15(0, 0, 0))
        };
        let mut munger = Vp8Munger::new();
        let out = munger.munge(1, &bare);
        assert_eq!(out, Some(Vp8Rewrite::default()));
        assert!(out.is_some_and(|r| r.is_empty()));
    }

    #[test]
    fn without_picture_id_tl0_pic_idx_follows_drops() {
        let no_pid = |tl0: u8, tid: u8| Vp8Descriptor {
            picture_id: None,
            ..desc(p15(0, tl0, tid))
        };
        let tl0 = |r: Option<Vp8Rewrite>| r.and_then(|r| r.tl0_pic_idx);
        let mut munger = Vp8Munger::new();
        assert_eq!(tl0(munger.munge(1, &no_pid(5, 0))), Some(5));
        munger.drop_picture(2, &no_pid(6, 0));
        munger.drop_picture(3, &no_pid(6, 0));
        munger.drop_picture(4, &no_pid(6, 1));
        assert_eq!(tl0(munger.munge(5, &no_pid(7, 0))), Some(6));
        munger.switch_source();
        assert_eq!(tl0(munger.munge(9, &no_pid(100, 0))), Some(7));
    }

    #[test]
    fn forgotten_pictures_are_refused_recent_ones_remembered() {
        let mut munger = Vp8Munger::new();
        let n = PICTURE_HISTORY as u16 * 2;
        let mut first = Vec::new();
        for i in 0..n {
            let out = munger.munge(u64::from(i), &desc(p15(1000 + i, 0, 0)));
            first.push(out);
        }
        assert_eq!(munger.munge(0, &desc(p15(1000, 0, 0))), None);
        let recent = n - 10;
        assert_eq!(
            munger.munge(u64::from(recent), &desc(p15(1000 + recent, 0, 0))),
            first[usize::from(recent)]
        );
        let remembered = munger.source.as_ref().map_or(0, |s| s.pictures.len());
        assert_eq!(remembered, PICTURE_HISTORY);
    }

    /// The temporal layer of the `i`-th picture in libwebrtc's three-layer pattern.
    fn pattern_tid(i: usize) -> u8 {
        [0, 2, 1, 2][i % 4]
    }

    /// One simulcast layer's stream as a publisher would send it, from a keyframe.
    #[derive(Debug, Clone)]
    struct SourceSpec {
        seq: u64,
        pid: u16,
        wide: bool,
        tl0: u8,
        /// Temporal layers above this are dropped by the caller.
        max_tid: u8,
        /// Packets of each picture.
        packets: Vec<usize>,
    }

    fn source_spec() -> impl Strategy<Value = SourceSpec> {
        (
            0u64..1 << 40,
            any::<u16>(),
            any::<bool>(),
            any::<u8>(),
            0u8..=2,
            prop::collection::vec(1usize..=3, 1..80),
        )
            .prop_map(|(seq, pid, wide, tl0, max_tid, packets)| SourceSpec {
                seq,
                pid: if wide { pid & 0x7fff } else { pid & 0x7f },
                wide,
                tl0,
                max_tid,
                packets,
            })
    }

    /// One packet of a generated stream.
    #[derive(Debug, Clone, Copy)]
    struct Generated {
        /// Which source it belongs to.
        source: usize,
        /// Which picture of the whole stream (unique across sources).
        picture: usize,
        seq: u64,
        pkt: Pkt,
        dropped: bool,
    }

    /// The packets of `specs` in sending order.
    fn generate(specs: &[SourceSpec]) -> Vec<Generated> {
        let mut out = Vec::new();
        let mut picture = 0;
        for (source, spec) in specs.iter().enumerate() {
            let mask = if spec.wide { 0x7fff } else { 0x7f };
            let mut seq = spec.seq;
            let mut tl0 = spec.tl0;
            for (i, &packets) in spec.packets.iter().enumerate() {
                let tid = pattern_tid(i);
                if tid == 0 && i > 0 {
                    tl0 = tl0.wrapping_add(1);
                }
                let pid = spec.pid.wrapping_add(i as u16) & mask;
                for _ in 0..packets {
                    out.push(Generated {
                        source,
                        picture,
                        seq,
                        pkt: Pkt {
                            pid,
                            wide: spec.wide,
                            tl0,
                            tid,
                        },
                        dropped: tid > spec.max_tid,
                    });
                    seq += 1;
                }
                picture += 1;
            }
        }
        out
    }

    /// Feeds one generated packet; the output of a forwarded one.
    fn feed(munger: &mut Vp8Munger, g: &Generated) -> Option<Vp8Rewrite> {
        if g.dropped {
            munger.drop_picture(g.seq, &desc(g.pkt));
            None
        } else {
            munger.munge(g.seq, &desc(g.pkt))
        }
    }

    /// Checks that the forwarded pictures, in order, look like one continuous stream.
    fn assert_continuous(kept: &[(Generated, Vp8Rewrite)]) {
        for pair in kept.windows(2) {
            let [(a, ra), (b, rb)] = pair else { continue };
            let pa = ra.picture_id.unwrap_or_default();
            let pb = rb.picture_id.unwrap_or_default();
            let ta = ra.tl0_pic_idx.unwrap_or_default();
            let tb = rb.tl0_pic_idx.unwrap_or_default();
            if a.picture == b.picture {
                assert_eq!((pa, ta), (pb, tb), "one picture, one output: {a:?} {b:?}");
                continue;
            }
            assert_eq!(pb.wrapping_sub(pa) & 0x7f, 1, "PictureID step {a:?} {b:?}");
            if a.pkt.wide && b.pkt.wide {
                assert_eq!(pb.wrapping_sub(pa) & 0x7fff, 1, "15-bit step {a:?} {b:?}");
            }
            let tl0_step = u8::from(b.pkt.tid == 0);
            assert_eq!(tb, ta.wrapping_add(tl0_step), "TL0PICIDX step {a:?} {b:?}");
        }
    }

    proptest! {
        #[test]
        fn switches_and_temporal_drops_stay_continuous(
            specs in prop::collection::vec(source_spec(), 1..5),
        ) {
            let mut munger = Vp8Munger::new();
            let mut kept = Vec::new();
            let mut source = usize::MAX;
            for g in generate(&specs) {
                if g.source != source {
                    munger.switch_source();
                    source = g.source;
                }
                let out = feed(&mut munger, &g);
                prop_assert_eq!(out.is_some(), !g.dropped);
                if let Some(out) = out {
                    kept.push((g, out));
                }
            }
            assert_continuous(&kept);
        }

        #[test]
        fn retransmissions_map_to_the_first_output(
            specs in prop::collection::vec(source_spec(), 1..4),
            resends in prop::collection::vec((any::<Index>(), 1usize..40), 0..30),
            every in 2usize..10,
        ) {
            let mut munger = Vp8Munger::new();
            let packets = generate(&specs);
            // Per packet of the current source: what the munger said at first.
            let mut history: Vec<(Generated, Option<Vp8Rewrite>)> = Vec::new();
            let mut kept = Vec::new();
            let mut resends = resends.into_iter();
            for (n, g) in packets.iter().enumerate() {
                if history.last().is_some_and(|(h, _)| h.source != g.source) {
                    munger.switch_source();
                    history.clear();
                }
                let out = feed(&mut munger, g);
                if let Some(out) = out {
                    kept.push((*g, out));
                }
                history.push((*g, out));
                if n % every != 0 {
                    continue;
                }
                let Some((pick, back)) = resends.next() else { continue };
                // A retransmission of a packet of one of the last `back` pictures.
                let newest = g.picture;
                let candidates: Vec<_> = history
                    .iter()
                    .filter(|(h, _)| newest - h.picture < back.min(PICTURE_HISTORY))
                    .collect();
                let (old, first) = *candidates[pick.index(candidates.len())];
                let again = munger.munge(old.seq, &desc(old.pkt));
                prop_assert_eq!(again, first, "resent {:?}", old);
            }
            assert_continuous(&kept);
        }

        #[test]
        fn reordering_changes_nothing_when_nothing_is_dropped(
            mut specs in prop::collection::vec(source_spec(), 1..4),
            swaps in prop::collection::vec((any::<Index>(), 1usize..6), 0..40),
        ) {
            for spec in &mut specs {
                spec.max_tid = 2;
            }
            let packets = generate(&specs);
            let mut in_order = Vp8Munger::new();
            let expected: Vec<_> = packets
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    if i > 0 && packets[i - 1].source != g.source {
                        in_order.switch_source();
                    }
                    feed(&mut in_order, g)
                })
                .collect();
            // Move packets later by a few places, never the first packet of a source (forwarding
            // switches on it) and never across a switch.
            let mut order: Vec<usize> = (0..packets.len()).collect();
            for (pick, dist) in swaps {
                let i = pick.index(order.len());
                let j = (i + dist).min(order.len() - 1);
                let same_source = packets[order[i]].source == packets[order[j]].source;
                let first_of_source = |k: usize| {
                    order[k] == 0 || packets[order[k] - 1].source != packets[order[k]].source
                };
                if same_source && !first_of_source(i) && !first_of_source(j) {
                    let moved = order.remove(i);
                    order.insert(j, moved);
                }
            }
            let mut munger = Vp8Munger::new();
            let mut source = usize::MAX;
            for &i in &order {
                let g = &packets[i];
                if g.source != source {
                    munger.switch_source();
                    source = g.source;
                }
                prop_assert_eq!(feed(&mut munger, g), expected[i], "packet {:?}", g);
            }
        }

        #[test]
        fn reordering_with_drops_never_gives_two_pictures_one_output(
            specs in prop::collection::vec(source_spec(), 1..3),
            swaps in prop::collection::vec((any::<Index>(), 1usize..6), 0..40),
        ) {
            let packets = generate(&specs);
            let mut order: Vec<usize> = (0..packets.len()).collect();
            for (pick, dist) in swaps {
                let i = pick.index(order.len());
                let j = (i + dist).min(order.len() - 1);
                if packets[order[i]].source == packets[order[j]].source {
                    let moved = order.remove(i);
                    order.insert(j, moved);
                }
            }
            let mut munger = Vp8Munger::new();
            let mut source = usize::MAX;
            // Output PictureID (on 7 bits, the common part) -> picture, per source.
            let mut owner = std::collections::HashMap::new();
            for &i in &order {
                let g = &packets[i];
                if g.source != source {
                    munger.switch_source();
                    source = g.source;
                    owner.clear();
                }
                if let Some(out) = feed(&mut munger, g) {
                    let pid = out.picture_id.unwrap_or_default() & 0x7f;
                    let first = *owner.entry(pid).or_insert(g.picture);
                    // 7-bit outputs repeat every 128 pictures: only compare nearby ones.
                    if g.picture.abs_diff(first) < 64 {
                        prop_assert_eq!(first, g.picture, "PictureID {} reused", pid);
                    }
                }
            }
        }

        #[test]
        fn never_panics_and_outputs_fit(
            ops in prop::collection::vec(
                (0u8..4, 0u64..64, any::<Option<u16>>(), any::<bool>(), any::<Option<u8>>(),
                 any::<Option<u8>>(), any::<Option<u8>>()),
                0..200,
            ),
        ) {
            let mut munger = Vp8Munger::new();
            for (op, seq, pid, wide, tl0, tid, key) in ops {
                let d = Vp8Descriptor {
                    picture_id: pid.map(|p| if wide { p & 0x7fff } else { p & 0x7f }),
                    picture_id_15bit: wide,
                    tl0_pic_idx: tl0,
                    temporal_id: tid.map(|t| t & 3),
                    key_idx: key.map(|k| k & 0x1f),
                    ..desc(p15(0, 0, 0))
                };
                match op {
                    0 => munger.switch_source(),
                    1 => munger.drop_picture(seq, &d),
                    _ => {
                        if let Some(out) = munger.munge(seq, &d) {
                            prop_assert_eq!(out.picture_id.is_some(), d.picture_id.is_some());
                            prop_assert_eq!(out.tl0_pic_idx.is_some(), d.tl0_pic_idx.is_some());
                            prop_assert_eq!(out.key_idx.is_some(), d.key_idx.is_some());
                            let mut payload = encode(&d);
                            payload.push(0x11);
                            prop_assert!(apply(&payload, &out).is_some());
                        }
                    }
                }
            }
        }

        #[test]
        fn apply_round_trips_through_parse(
            pid in any::<Option<u16>>(),
            wide in any::<bool>(),
            tl0 in any::<Option<u8>>(),
            tid in any::<Option<u8>>(),
            sync in any::<bool>(),
            key in any::<Option<u8>>(),
            flags in (any::<bool>(), any::<bool>(), 0u8..8),
            body in prop::collection::vec(any::<u8>(), 0..20),
            new in (any::<u16>(), any::<u8>(), any::<u8>()),
        ) {
            let d = Vp8Descriptor {
                non_reference: flags.0,
                start_of_partition: flags.1,
                partition_id: flags.2,
                picture_id: pid.map(|p| if wide { p & 0x7fff } else { p & 0x7f }),
                picture_id_15bit: wide && pid.is_some(),
                tl0_pic_idx: tl0,
                temporal_id: tid.map(|t| t & 3),
                layer_sync: sync && tid.is_some(),
                key_idx: key.map(|k| k & 0x1f),
                header_len: 0,
            };
            let mut payload = encode(&d);
            let header_len = payload.len();
            payload.extend_from_slice(&body);
            let parsed = Vp8Descriptor::parse(&payload);
            prop_assert_eq!(parsed, Some(Vp8Descriptor { header_len, ..d }));

            let rewrite = Vp8Rewrite {
                picture_id: d.picture_id.map(|_| if wide { new.0 & 0x7fff } else { new.0 & 0x7f }),
                tl0_pic_idx: d.tl0_pic_idx.map(|_| new.1),
                key_idx: d.key_idx.map(|_| new.2 & 0x1f),
            };
            let out = apply(&payload, &rewrite);
            prop_assert!(out.is_some());
            let out = out.unwrap_or_default();
            prop_assert_eq!(out.len(), payload.len());
            prop_assert_eq!(&out[header_len..], &payload[header_len..]);
            prop_assert_eq!(
                Vp8Descriptor::parse(&out),
                Some(Vp8Descriptor {
                    picture_id: rewrite.picture_id,
                    tl0_pic_idx: rewrite.tl0_pic_idx,
                    key_idx: rewrite.key_idx,
                    header_len,
                    ..d
                })
            );
            // A value too wide or a field the packet lacks is refused, as str0m's builder does.
            if let Some(pid) = d.picture_id {
                let too_wide = if wide { 0x8000 } else { 0x80 } | pid;
                let refused = Vp8Rewrite { picture_id: Some(too_wide), ..Vp8Rewrite::default() };
                prop_assert_eq!(apply(&payload, &refused), None);
            } else {
                let missing = Vp8Rewrite { picture_id: Some(0), ..Vp8Rewrite::default() };
                prop_assert_eq!(apply(&payload, &missing), None);
            }
        }

        #[test]
        fn apply_never_panics(
            payload in prop::collection::vec(any::<u8>(), 0..12),
            pid in any::<Option<u16>>(),
            tl0 in any::<Option<u8>>(),
            key in any::<Option<u8>>(),
        ) {
            let rewrite = Vp8Rewrite { picture_id: pid, tl0_pic_idx: tl0, key_idx: key };
            if let Some(out) = apply(&payload, &rewrite) {
                prop_assert_eq!(out.len(), payload.len());
                let before = Vp8Descriptor::parse(&payload);
                let after = Vp8Descriptor::parse(&out);
                prop_assert_eq!(after.map(|d| d.header_len), before.map(|d| d.header_len));
                prop_assert_eq!(after.map(|d| d.temporal_id), before.map(|d| d.temporal_id));
                prop_assert_eq!(after.map(|d| d.layer_sync), before.map(|d| d.layer_sync));
            }
        }
    }
}
