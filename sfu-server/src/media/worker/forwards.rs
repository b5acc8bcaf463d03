//! Forwards (the recording tap): starting, listing, switching and ending them.
//!
//! The room (sfu-core) decides and rewrites each forward's packets like a subscription's; the
//! worker owns the sending sockets. A forward starts in [`Worker::create_forward`] and ends only
//! in [`Worker::end_forward`] (deleted, track ended, room closed): the two places to hook
//! `forward_started` / `forward_ended` notifications.

use std::time::Instant;

use sfu_core::{CoreError, ForwardId, TrackId};

use super::Worker;
use crate::media::command::RoomError;
use crate::media::forward::sdp::SdpFile;
use crate::media::forward::{EndReason, ForwardRequest, ForwardSink};
use crate::model::ForwardJson;
use crate::webhooks::EventKind;

impl Worker {
    /// Starts forwarding a track of `room` to the request's destination.
    pub(super) fn create_forward(
        &mut self,
        room: &str,
        request: ForwardRequest,
        now: Instant,
    ) -> Result<ForwardJson, RoomError> {
        let entry = self.room(room)?;
        let not_found = || RoomError::TrackNotFound(request.track_id.clone());
        let track: TrackId = request.track_id.parse().map_err(|_| not_found())?;
        let info = entry.core.track(track).ok_or_else(not_found)?.clone();
        let in_room = self.forwards.values().filter(|f| f.room == room).count();
        if in_room >= self.settings.max_forwards_per_room {
            return Err(RoomError::ForwardLimit(room.to_owned()));
        }
        // The publisher's payload types of the track's codec all map to the first one, which
        // the SDP announces with the publisher's own codec parameters.
        let formats: Vec<_> = self
            .members
            .get(&info.owner)
            .map(|m| m.peer.published_codecs(track))
            .unwrap_or_default()
            .iter()
            .map(|c| c.format())
            .filter(|f| f.codec == info.codec)
            .collect();
        let Some(format) = formats.first().cloned() else {
            return Err(RoomError::BadRequest(format!(
                "track {track} has no codec that can be forwarded"
            )));
        };
        let payload_types = formats.iter().map(|f| (f.pt, format.pt)).collect();
        let id = ForwardId(rand::random());
        let sdp = SdpFile {
            id,
            track,
            kind: info.kind,
            address: request.address,
            port: request.port,
            rtcp_port: request.rtcp_port,
            format: &format,
        }
        .render();
        let sink = ForwardSink::open(id, room.to_owned(), track, request, sdp).map_err(|e| {
            tracing::warn!(error = %e, "cannot open a forward socket");
            RoomError::Unavailable
        })?;
        let entry = self.room_mut(room)?;
        entry
            .core
            .handle_forward_start(
                id,
                track,
                sink.request.layer.clone(),
                sink.request.paused,
                payload_types,
                now,
            )
            .map_err(|e| forward_error(e, &sink.request.track_id))?;
        let json = sink.json(entry.core.forward_stats(id).as_ref());
        self.forward_started(&sink);
        self.forwards.insert(id, sink);
        self.route_room(room, now);
        Ok(json)
    }

    /// The forwards of a room, oldest first.
    pub(super) fn list_forwards(&self, room: &str) -> Result<Vec<ForwardJson>, RoomError> {
        let entry = self.room(room)?;
        let mut list: Vec<_> = self.forwards.values().filter(|f| f.room == room).collect();
        list.sort_by_key(|f| (f.created_at, f.id));
        Ok(list
            .into_iter()
            .map(|f| f.json(entry.core.forward_stats(f.id).as_ref()))
            .collect())
    }

    /// Changes the layer of a forward (`Some(None)`: the highest live one) or pauses or resumes
    /// it (`None`: unchanged); it switches or resumes at that layer's next keyframe.
    pub(super) fn update_forward(
        &mut self,
        room: &str,
        id: &str,
        layer: Option<Option<String>>,
        paused: Option<bool>,
        now: Instant,
    ) -> Result<ForwardJson, RoomError> {
        let fid = self.forward_in_room(room, id)?;
        let current = &self
            .forwards
            .get(&fid)
            .ok_or_else(|| RoomError::ForwardNotFound(id.to_owned()))?
            .request;
        let layer = layer.unwrap_or_else(|| current.layer.clone());
        let paused = paused.unwrap_or(current.paused);
        let entry = self.room_mut(room)?;
        entry
            .core
            .handle_forward_update(fid, layer.clone(), paused, now)
            .map_err(|e| forward_error(e, id))?;
        let stats = entry.core.forward_stats(fid);
        let sink = self
            .forwards
            .get_mut(&fid)
            .ok_or_else(|| RoomError::ForwardNotFound(id.to_owned()))?;
        sink.request.layer = layer;
        sink.request.paused = paused;
        let json = sink.json(stats.as_ref());
        self.route_room(room, now);
        Ok(json)
    }

    /// `DELETE`: stops a forward.
    pub(super) fn delete_forward(
        &mut self,
        room: &str,
        id: &str,
        now: Instant,
    ) -> Result<(), RoomError> {
        let fid = self.forward_in_room(room, id)?;
        if let Some(entry) = self.rooms.get_mut(room) {
            let _ = entry.core.handle_forward_stop(fid, now);
        }
        self.end_forward(fid, EndReason::Deleted);
        self.route_room(room, now);
        Ok(())
    }

    /// Ends every forward of a room that is closing.
    pub(super) fn end_room_forwards(&mut self, room: &str, now: Instant) {
        let ids: Vec<ForwardId> = self
            .forwards
            .values()
            .filter(|f| f.room == room)
            .map(|f| f.id)
            .collect();
        for id in ids {
            if let Some(entry) = self.rooms.get_mut(room) {
                let _ = entry.core.handle_forward_stop(id, now);
            }
            self.end_forward(id, EndReason::RoomClosed);
        }
    }

    /// Sends each forward's RTCP sender report (called about once a second).
    pub(super) fn send_forward_reports(&mut self) {
        for sink in self.forwards.values_mut() {
            let report = self
                .rooms
                .get(&sink.room)
                .and_then(|r| r.core.forward_sender_report(sink.id));
            if let Some(report) = report {
                sink.send_sender_report(report);
            }
        }
    }

    /// The one place a forward ends: its socket says BYE and closes.
    pub(super) fn end_forward(&mut self, id: ForwardId, reason: EndReason) {
        let Some(mut sink) = self.forwards.remove(&id) else {
            return;
        };
        sink.close();
        self.forward_ended(&sink, reason);
    }

    /// A forward started: logged and reported (`forward_started` webhook).
    fn forward_started(&mut self, sink: &ForwardSink) {
        self.hook_forward(EventKind::ForwardStarted, &sink.room, sink.webhook(false));
        tracing::info!(
            forward = %sink.id,
            room = %sink.room,
            track = %sink.track,
            destination = %sink.request.address,
            port = sink.request.port,
            "forward started"
        );
    }

    /// A forward ended: logged and reported (`forward_ended` webhook, with its counters).
    fn forward_ended(&mut self, sink: &ForwardSink, reason: EndReason) {
        self.hook_forward(EventKind::ForwardEnded, &sink.room, sink.webhook(true));
        tracing::info!(
            forward = %sink.id,
            room = %sink.room,
            track = %sink.track,
            reason = reason.as_str(),
            packets = sink.packets(),
            "forward ended"
        );
    }

    /// The id of a forward of `room`, or 404.
    fn forward_in_room(&self, room: &str, id: &str) -> Result<ForwardId, RoomError> {
        if !self.rooms.contains_key(room) {
            return Err(RoomError::RoomNotFound(room.to_owned()));
        }
        id.parse::<ForwardId>()
            .ok()
            .filter(|fid| self.forwards.get(fid).is_some_and(|f| f.room == room))
            .ok_or_else(|| RoomError::ForwardNotFound(id.to_owned()))
    }
}

/// Maps the core's refusal of a forward request to an API error.
fn forward_error(e: CoreError, id: &str) -> RoomError {
    match e {
        CoreError::UnknownTrack(t) => RoomError::TrackNotFound(t.to_string()),
        CoreError::UnknownForward(_) => RoomError::ForwardNotFound(id.to_owned()),
        CoreError::UnknownLayer(rid) => {
            RoomError::BadRequest(format!("the track has no simulcast layer `{rid}`"))
        }
        other => RoomError::BadRequest(other.to_string()),
    }
}
