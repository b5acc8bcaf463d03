#!/usr/bin/python3
"""Live check: GStreamer webrtcbin publishes VP8 + Opus to the real sfu-server.

Not part of CI. Needs the Debian packages of gst_offers.py plus python3-websockets, and the
system python (for `gi`):

    cargo build -p sfu-server
    /usr/bin/python3 tests/interop/gst_live.py [--bin target/debug/sfu-server] [--seconds 10]

Starts the server on free loopback ports, joins with a dev token, offers from webrtcbin
(send-only transceivers, max-bundle, trickled candidates sent as `candidate` messages),
answers the server's offers, and reports webrtcbin's ICE/DTLS/connection states, the server's
`track_published` messages and the server's DTLS log lines. Exit 0 when webrtcbin connected.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

import websockets  # noqa: E402

PIPELINE = (
    "webrtcbin name=webrtc bundle-policy=max-bundle "
    "videotestsrc is-live=true pattern=ball ! videoconvert ! vp8enc deadline=1 ! rtpvp8pay ! "
    "application/x-rtp,media=video,encoding-name=VP8,payload=96 ! webrtc. "
    "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay ! "
    "application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! webrtc. "
)


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class Publisher:
    def __init__(self, loop, ws):
        self.loop = loop
        self.ws = ws
        self.pipe = Gst.parse_launch(PIPELINE)
        self.webrtc = self.pipe.get_by_name("webrtc")
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        for prop in ("connection-state", "ice-connection-state"):
            self.webrtc.connect(f"notify::{prop}", self.on_state)
        # Keep a reference: webrtcbin 1.22's property getter does not add one, and a dropped
        # Python wrapper would unref (and destroy) the agent.
        self.ice_agent = self.webrtc.get_property("ice-agent")
        self.ice_agent.emit("add-local-ip-address", "127.0.0.1")
        self.states = {}

    def send(self, message):
        asyncio.run_coroutine_threadsafe(self.ws.send(json.dumps(message)), self.loop)

    def on_state(self, element, pspec):
        value = element.get_property(pspec.name)
        self.states[pspec.name] = value.value_nick
        log(f"webrtcbin {pspec.name}: {value.value_nick}")

    def on_negotiation_needed(self, element):
        for i in range(4):
            t = element.emit("get-transceiver", i)
            if t is None:
                break
            t.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        element.emit("create-offer", None, Gst.Promise.new_with_change_func(self.on_offer, None))

    def on_offer(self, promise, _):
        reply = promise.get_reply()  # keep it alive while the description is in use
        offer = reply.get_value("offer")
        text = offer.sdp.as_text()
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())
        self.send({"type": "offer", "sdp": text})
        log("sent offer")

    def on_ice_candidate(self, _element, mline, candidate):
        self.send({"type": "candidate", "candidate": {"candidate": candidate, "sdpMLineIndex": mline}})

    def remote(self, kind, sdp_text):
        """Called from asyncio: applies a remote description on the GLib thread."""

        def apply():
            _, sdp = GstSdp.SDPMessage.new_from_text(sdp_text)
            typ = GstWebRTC.WebRTCSDPType.ANSWER if kind == "answer" else GstWebRTC.WebRTCSDPType.OFFER
            desc = GstWebRTC.WebRTCSessionDescription.new(typ, sdp)
            if kind == "answer":
                self.webrtc.emit("set-remote-description", desc, Gst.Promise.new())
                return False

            def on_answer(promise, _):
                reply = promise.get_reply()
                answer = reply.get_value("answer")
                text = answer.sdp.as_text()
                self.webrtc.emit("set-local-description", answer, Gst.Promise.new())
                self.send({"type": "answer", "sdp": text})
                log("sent answer")

            def after_remote(_promise, _):
                self.webrtc.emit("create-answer", None, Gst.Promise.new_with_change_func(on_answer, None))

            self.webrtc.emit("set-remote-description", desc, Gst.Promise.new_with_change_func(after_remote, None))
            return False

        GLib.idle_add(apply)

    def candidate(self, c):
        line = c.get("candidate", "")
        if line:
            GLib.idle_add(lambda: self.webrtc.emit("add-ice-candidate", c.get("sdpMLineIndex") or 0, line) and False)


async def run(args, base, http_port):
    req = urllib.request.Request(
        f"{base}/v1/dev/token",
        data=json.dumps({"room": "gst-live", "identity": "gstreamer"}).encode(),
        headers={"content-type": "application/json"},
    )
    token = json.load(urllib.request.urlopen(req))["token"]
    url = f"ws://127.0.0.1:{http_port}/v1/rtc?access_token={token}"
    published = []
    async with websockets.connect(url) as ws:
        joined = json.loads(await ws.recv())
        log(f"{joined['type']}: participant {joined.get('participant', {}).get('id')}")
        pub = Publisher(asyncio.get_running_loop(), ws)
        glib_loop = GLib.MainLoop()
        threading.Thread(target=glib_loop.run, daemon=True).start()
        pub.pipe.set_state(Gst.State.PLAYING)

        async def reader():
            async for raw in ws:
                m = json.loads(raw)
                t = m.get("type")
                if t in ("answer", "offer"):
                    log(f"got {t}")
                    pub.remote(t, m["sdp"])
                elif t == "candidate":
                    pub.candidate(m["candidate"])
                elif t == "track_published":
                    published.append(m["track"])
                    log(f"track_published {m['track']['kind']} {m['track']['codec']} mid {m['track']['mid']}")
                elif t in ("error", "leave"):
                    log(f"{t}: {m}")

        task = asyncio.ensure_future(reader())
        await asyncio.sleep(args.seconds)
        stats = server_stats(base)
        log(f"server /v1/stats: {stats}")
        task.cancel()
        pub.pipe.set_state(Gst.State.NULL)
        glib_loop.quit()
    return pub.states, published, stats


def server_stats(base):
    """GET /v1/stats with an admin dev token: rtp_in > 0 means SRTP from webrtcbin was decrypted."""
    try:
        req = urllib.request.Request(
            f"{base}/v1/dev/token",
            data=json.dumps({"room": "gst-live", "identity": "gst-stats", "admin": True}).encode(),
            headers={"content-type": "application/json"},
        )
        token = json.load(urllib.request.urlopen(req))["token"]
        req = urllib.request.Request(f"{base}/v1/stats", headers={"authorization": f"Bearer {token}"})
        return json.load(urllib.request.urlopen(req))
    except OSError as e:
        return {"error": str(e)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("SFU_SERVER_BIN", "target/debug/sfu-server"))
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    Gst.init(None)

    http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    log_path = os.path.join(tempfile.gettempdir(), f"sfu-gst-live-{http_port}.log")
    env = dict(os.environ)
    env.update({
        "SFU_SERVER__HTTP_ADDR": f"127.0.0.1:{http_port}",
        "SFU_MEDIA__UDP_ADDR": f"127.0.0.1:{udp_port}",
        "RUST_LOG": env.get("RUST_LOG", "info,dimpl=debug"),
    })
    out = open(log_path, "w")
    proc = subprocess.Popen([args.bin], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http_port}"
    print(f"server pid {proc.pid}, http {http_port}, udp {udp_port}, log {log_path}", flush=True)
    try:
        for _ in range(100):
            try:
                if urllib.request.urlopen(f"{base}/healthz").status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        states, published, stats = asyncio.run(run(args, base, http_port))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()
    print("\n=== summary ===")
    print(f"webrtcbin states: {states}")
    print(f"server published: {[(t['kind'], t['codec'], t['mid']) for t in published]}")
    with open(log_path) as f:
        lines = [ln.rstrip() for ln in f if "dimpl" in ln or "DTLS" in ln or "ERROR" in ln]
    for ln in lines[-15:]:
        print("  " + ln)
    print(f"server rtp_in: {stats.get('rtp_in')} (datagrams_in {stats.get('datagrams_in')})")
    ok = states.get("connection-state") == "connected"
    print("RESULT:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
