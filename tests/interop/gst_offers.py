#!/usr/bin/python3
"""Generates real GStreamer webrtcbin offers for the interop fixture corpus.

Usage (Debian packages gstreamer1.0-plugins-bad gstreamer1.0-nice gstreamer1.0-plugins-good
python3-gi gir1.2-gst-plugins-bad-1.0; the system python, which has `gi`):
    /usr/bin/python3 tests/interop/gst_offers.py sfu-server/tests/fixtures/offers

Pipelines: videotestsrc ! vp8enc ! rtpvp8pay ! webrtcbin and audiotestsrc ! opusenc !
rtpopuspay ! webrtcbin, bundle-policy max-bundle. Variants: plain (sendrecv transceivers, no
header extensions, as in GStreamer's webrtc examples) and TWCC (transport-cc header extension
and rtcp-fb on the payloader caps, send-only transceivers, offer taken after ICE gathering on
127.0.0.1 so it carries candidates).
"""

import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstWebRTC  # noqa: E402

TWCC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"


def pipeline_desc(twcc):
    vcaps = "application/x-rtp,media=video,encoding-name=VP8,payload=96"
    acaps = "application/x-rtp,media=audio,encoding-name=OPUS,payload=111"
    if twcc:
        vcaps += f",extmap-3=(string){TWCC_URI},rtcp-fb-transport-cc=(boolean)true"
        acaps += f",extmap-3=(string){TWCC_URI},rtcp-fb-transport-cc=(boolean)true"
    return (
        "webrtcbin name=webrtc bundle-policy=max-bundle "
        "videotestsrc is-live=true ! videoconvert ! vp8enc deadline=1 ! rtpvp8pay ! "
        f"{vcaps} ! webrtc. "
        "audiotestsrc is-live=true ! audioconvert ! audioresample ! opusenc ! rtpopuspay ! "
        f"{acaps} ! webrtc. "
    )


def offer(twcc, sendonly, gather):
    pipe = Gst.parse_launch(pipeline_desc(twcc))
    webrtc = pipe.get_by_name("webrtc")
    loop = GLib.MainLoop()
    result = {}

    def on_offer(promise, _):
        reply = promise.get_reply()
        desc = reply.get_value("offer")
        result["sdp"] = desc.sdp.as_text()
        if not gather:
            loop.quit()
            return
        p = Gst.Promise.new()
        webrtc.emit("set-local-description", desc, p)

    def on_negotiation_needed(element):
        if sendonly:
            for i in range(4):
                t = element.emit("get-transceiver", i)
                if t is None:
                    break
                t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        promise = Gst.Promise.new_with_change_func(on_offer, None)
        element.emit("create-offer", None, promise)

    def on_gathering(element, _pspec):
        state = element.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            result["sdp"] = element.get_property("local-description").sdp.as_text()
            loop.quit()

    webrtc.connect("on-negotiation-needed", on_negotiation_needed)
    webrtc.connect("notify::ice-gathering-state", on_gathering)
    agent = webrtc.get_property("ice-agent")
    agent.emit("add-local-ip-address", "127.0.0.1")
    pipe.set_state(Gst.State.PLAYING)
    GLib.timeout_add_seconds(10, loop.quit)
    loop.run()
    pipe.set_state(Gst.State.NULL)
    return result.get("sdp")


def main():
    Gst.init(None)
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    variants = {
        "gstreamer_vp8_opus": dict(twcc=False, sendonly=False, gather=False),
        "gstreamer_twcc_sendonly_gathered": dict(twcc=True, sendonly=True, gather=True),
    }
    for name, opts in variants.items():
        sdp = offer(**opts)
        if not sdp:
            print(name, "produced no offer", file=sys.stderr)
            continue
        with open(os.path.join(out, name + ".sdp"), "w", newline="") as f:
            f.write(sdp)
        print("wrote", name + ".sdp")
    print("gstreamer", Gst.version_string())


main()
