//! Turns a scenario and its flags into the list of participants to join.

use crate::cli::{Common, Scenario};
use crate::engine::PublishSpec;
use crate::media::LayerSpec;
use crate::target::ParticipantPlan;

/// The participants of `scenario` in join order (publishers first, so subscribers find media).
pub fn plan(scenario: &Scenario, common: &Common, room: &str) -> Vec<ParticipantPlan> {
    let av = PublishSpec {
        audio_bps: Some(common.audio_kbps * 1000),
        video: video_layers(common),
        keyframe_interval: common.keyframe_interval,
    };
    let audio_only = PublishSpec {
        audio_bps: Some(common.audio_kbps * 1000),
        video: Vec::new(),
        keyframe_interval: common.keyframe_interval,
    };
    let make = |index: usize, role: &str, publish: PublishSpec, layer_cap: Option<String>| {
        ParticipantPlan {
            room: room.to_owned(),
            identity: format!("{role}-{index}"),
            publish,
            layer_cap,
        }
    };
    match scenario {
        Scenario::Meeting { participants } => (0..*participants)
            .map(|i| make(i, "member", av.clone(), common.sub_layer.clone()))
            .collect(),
        Scenario::Audio { participants } => (0..*participants)
            .map(|i| make(i, "talker", audio_only.clone(), None))
            .collect(),
        Scenario::Compare { .. } => Vec::new(),
        Scenario::Webinar {
            publishers,
            subscribers,
        } => {
            let mut out: Vec<_> = (0..*publishers)
                .map(|i| make(i, "presenter", av.clone(), None))
                .collect();
            out.extend((0..*subscribers).map(|i| {
                make(
                    publishers + i,
                    "viewer",
                    PublishSpec::default(),
                    common.sub_layer.clone(),
                )
            }));
            out
        }
    }
}

/// The video layers from `--layers` and `--fps`: q/h/f for three values, one plain layer for one.
pub fn video_layers(common: &Common) -> Vec<LayerSpec> {
    let kbps: Vec<u64> = common.layers.iter().take(3).copied().collect();
    match kbps.as_slice() {
        [] => Vec::new(),
        [one] => vec![LayerSpec {
            rid: "f".into(),
            width: 1280,
            height: 720,
            bitrate_bps: one * 1000,
            fps: common.fps,
        }],
        many => {
            let mut all = LayerSpec::simulcast([150_000, 500_000, 1_500_000], common.fps);
            // Keep the highest layers for two values (h, f), all three for three.
            all.drain(..3 - many.len());
            for (layer, k) in all.iter_mut().zip(many) {
                layer.bitrate_bps = k * 1000;
            }
            all
        }
    }
}
