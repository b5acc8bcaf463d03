#!/usr/bin/env python3
"""Live interop: aiortc publishes audio + video to the real sfu-server, a second aiortc client
subscribes and decodes what it receives.

Needs aiortc from PyPI and takes ~20 s. tests/tests/interop_rsa.rs runs it in CI with `--rsa`
(and `--rsa --passive`) against a server it started itself (`--url`). Usage:

    cargo build -p sfu-server
    python3 -m venv /tmp/aiortc-venv && /tmp/aiortc-venv/bin/pip install aiortc aiohttp
    /tmp/aiortc-venv/bin/python tests/interop/aiortc_live.py [--rsa] [--passive] [--seconds 10] [--bin target/debug/sfu-server]

The script starts the server binary on free loopback ports (SFU_SERVER__HTTP_ADDR,
SFU_MEDIA__UDP_ADDR), gets dev tokens from POST /v1/dev/token, speaks the JSON signalling of
API.md over ws://127.0.0.1:PORT/v1/rtc?access_token=..., publishes with send-only transceivers
(API.md's rule), and lets the server offer the subscriber its down tracks. It prints what each
side saw and exits 0 when the subscriber decoded audio and video frames.

--rsa gives the publisher an RSA 2048 certificate (as GStreamer webrtcbin always has, and
browsers when the page asks for one), to check DTLS with RSA peers.

--check-remb (with a server whose media.bandwidth_estimation is on) asks the admin API, before
leaving, for the subscriber's downlink estimate and requires it to come from REMB: aiortc sends
REMB (from abs-send-time) and no transport-cc feedback, so REMB is the server's only signal. It
also requires that neither subscribed track is paused: REMB only measures what arrives.

--passive makes the publisher offer `a=setup:passive` instead of `actpass`, so that the server
answers `active` and is the DTLS *client* (with --rsa: the server verifies an RSA-signed
ServerKeyExchange and must offer ECDHE_RSA suites). Without it the server is the DTLS server.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import aiohttp
import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc import rtcdtlstransport
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def use_rsa_certificates():
    """Makes every RTCPeerConnection created afterwards use an RSA 2048 certificate."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    cls = rtcdtlstransport.RTCCertificate

    def generate(klass):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return klass(key=key, cert=rtcdtlstransport.generate_certificate(key))

    original_context = cls._create_ssl_context

    def context(self, srtp_profiles):
        ctx = original_context(self, srtp_profiles)
        if isinstance(self._key, rsa.RSAPrivateKey):
            # aiortc lists ECDSA suites only; an RSA certificate needs the ECDHE-RSA ones.
            # Browsers offer both kinds, so do the same (RSA_ONLY=1 offers RSA suites only).
            suites = b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
            if not os.environ.get("RSA_ONLY"):
                suites = b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:" + suites
            ctx.set_cipher_list(suites)
        return ctx

    original_generate = cls.generateCertificate
    cls.generateCertificate = classmethod(generate)
    cls._create_ssl_context = context
    return lambda: setattr(cls, "generateCertificate", original_generate)


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, name, http, base, room, passive=False):
        self.name = name
        self.passive = passive
        self.http = http
        self.base = base
        self.room = room
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.ws = None
        self.events = []
        self.frames = {}
        self.first_frame = {}
        self.sizes = {}
        self.tasks = []
        self.joined = asyncio.Event()

        @self.pc.on("connectionstatechange")
        def _state():
            self.log(f"connection {self.pc.connectionState}")

        @self.pc.on("track")
        def _track(track):
            self.log(f"ontrack {track.kind} id={track.id}")
            self.tasks.append(asyncio.ensure_future(self.consume(track)))

    def log(self, text):
        line = f"[{time.strftime('%H:%M:%S')}] {self.name}: {text}"
        self.events.append(line)
        print(line, flush=True)

    async def consume(self, track):
        key = f"{track.kind}:{track.id}"
        self.frames[key] = 0
        try:
            while True:
                frame = await track.recv()
                if self.frames[key] == 0:
                    self.first_frame[key] = time.monotonic()
                    self.log(f"first {track.kind} frame on {track.id}")
                self.frames[key] += 1
                if track.kind == "video":
                    self.sizes[key] = (frame.width, frame.height)
        except MediaStreamError:
            self.log(f"track {key} ended")

    async def join(self, identity):
        async with self.http.post(
            f"{self.base}/v1/dev/token", json={"room": self.room, "identity": identity}
        ) as r:
            body = await r.json()
            if r.status != 200:
                raise RuntimeError(f"token: {r.status} {body}")
        ws_url = self.base.replace("http://", "ws://") + "/v1/rtc?access_token=" + body["token"]
        self.ws = await self.http.ws_connect(ws_url)
        self.tasks.append(asyncio.ensure_future(self.read_loop()))
        await asyncio.wait_for(self.joined.wait(), 10)

    async def send(self, message):
        await self.ws.send_str(json.dumps(message))

    async def publish(self):
        self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        self.pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        if self.passive:
            # aiortc's own description stays actpass; the server's `active` answer then makes
            # aiortc the DTLS server.
            sdp = sdp.replace("a=setup:actpass", "a=setup:passive")
        await self.send({"type": "offer", "sdp": sdp})
        self.log("sent offer" + (" (setup:passive)" if self.passive else ""))

    def dtls_summary(self):
        """DTLS role, version and cipher of the first transport (aiortc internals, best effort)."""
        try:
            t = self.pc.getTransceivers()[0].sender.transport
            ssl = getattr(t, "_ssl", None)
            cipher = ssl.get_cipher_name() if ssl is not None else None
            version = ssl.get_protocol_version_name() if ssl is not None else None
            return f"dtls state {t.state}, role {t._role}, {version}, {cipher}"
        except Exception as e:  # noqa: BLE001 - diagnostics only
            return f"dtls: n/a ({e})"

    async def read_loop(self):
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            m = json.loads(msg.data)
            t = m.get("type")
            if t == "answer":
                self.log("got answer")
                await self.pc.setRemoteDescription(RTCSessionDescription(m["sdp"], "answer"))
            elif t == "offer":
                self.log("got server offer")
                await self.pc.setRemoteDescription(RTCSessionDescription(m["sdp"], "offer"))
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self.send({"type": "answer", "sdp": self.pc.localDescription.sdp})
                self.log("sent answer")
            if t == "joined":
                self.joined.set()
            if t in ("joined", "track_published", "participant_joined", "error", "leave", "subscription"):
                brief = {k: v for k, v in m.items() if k not in ("room", "participants")}
                self.log(f"{t}: {json.dumps(brief)[:300]}")
        self.log("websocket closed")

    async def close(self):
        for t in self.tasks:
            t.cancel()
        await self.pc.close()
        if self.ws is not None:
            await self.ws.close()


def admin_token(room, key="devkey", secret="devsecret"):
    """An HS256 access token with room_admin for `room`, signed with the dev key."""
    import base64
    import hashlib
    import hmac

    def b64(obj):
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64({"alg": "HS256", "typ": "JWT", "kid": key})
    claims = b64({
        "iss": key, "sub": "interop-admin", "exp": int(time.time()) + 600,
        "video": {"room": room, "room_admin": True},
    })
    sig = hmac.new(secret.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
    return f"{head}.{claims}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


async def admin_participant(http, base, room, identity):
    """Participant `identity` in the admin listing (with `bandwidth` and `subscriptions`)."""
    headers = {"Authorization": f"Bearer {admin_token(room)}"}
    async with http.get(f"{base}/v1/rooms/{room}/participants", headers=headers) as r:
        body = await r.json()
    for p in body.get("participants", []):
        if p.get("identity") == identity:
            return p
    return {}


async def wait_ready(http, base, proc):
    for _ in range(100):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            async with http.get(f"{base}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("server did not answer /healthz")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("SFU_SERVER_BIN", "target/debug/sfu-server"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rsa", action="store_true", help="publisher uses an RSA 2048 certificate")
    ap.add_argument(
        "--passive", action="store_true", help="publisher offers setup:passive (server is DTLS client)"
    )
    ap.add_argument(
        "--check-remb", action="store_true",
        help="require the subscriber's downlink estimate (admin API) to come from REMB",
    )
    ap.add_argument(
        "--url",
        help="use an already running server at this base URL (e.g. http://127.0.0.1:8080) "
        "instead of starting --bin; used by tests/tests/interop_rsa.rs",
    )
    args = ap.parse_args()

    proc = log = log_path = None
    if args.url:
        base = args.url.rstrip("/")
        print(f"using server at {base}", flush=True)
    else:
        http_port, udp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
        log_path = os.path.join(tempfile.gettempdir(), f"sfu-aiortc-live-{http_port}.log")
        env = dict(os.environ)
        env.update({
            "SFU_SERVER__HTTP_ADDR": f"127.0.0.1:{http_port}",
            "SFU_MEDIA__UDP_ADDR": f"127.0.0.1:{udp_port}",
            "RUST_LOG": env.get("RUST_LOG", "info"),
        })
        log = open(log_path, "w")
        proc = subprocess.Popen([args.bin], env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{http_port}"
        print(f"server pid {proc.pid}, http {http_port}, udp {udp_port}, log {log_path}", flush=True)

    ok = False
    remb_ok = not args.check_remb
    async with aiohttp.ClientSession() as http:
        publisher = subscriber = None
        try:
            await wait_ready(http, base, proc)
            restore = use_rsa_certificates() if args.rsa else None
            publisher = Client("publisher", http, base, "interop", passive=args.passive)
            await publisher.join("aiortc-pub")
            await publisher.publish()
            if restore:
                restore()  # only the publisher has RSA
            await asyncio.sleep(2)
            subscriber = Client("subscriber", http, base, "interop")
            await subscriber.join("aiortc-sub")
            await asyncio.sleep(args.seconds)
            if args.check_remb:
                seen = await admin_participant(http, base, "interop", "aiortc-sub")
                bandwidth = seen.get("bandwidth")
                print(f"subscriber bandwidth (admin API): {bandwidth}")
                print(f"subscriber subscriptions (admin API): {seen.get('subscriptions')}")
                remb_ok = bool(bandwidth) and bandwidth.get("source") == "remb" and bandwidth.get("estimate_bps", 0) > 0
                # REMB only measures what arrives: the server must not pause video on it.
                subs = seen.get("subscriptions") or []
                remb_ok = remb_ok and len(subs) == 2 and all(s.get("paused") is None for s in subs)
        finally:
            print("\n=== summary ===")
            if publisher:
                print(f"publisher connection: {publisher.pc.connectionState}; {publisher.dtls_summary()}")
            if subscriber:
                print(f"subscriber connection: {subscriber.pc.connectionState}; {subscriber.dtls_summary()}")
                for key, n in sorted(subscriber.frames.items()):
                    size = subscriber.sizes.get(key)
                    print(f"subscriber {key}: {n} frames" + (f", {size[0]}x{size[1]}" if size else ""))
                kinds = {k.split(":")[0] for k, n in subscriber.frames.items() if n > 0}
                ok = kinds == {"audio", "video"}
                ok = ok and publisher is not None and publisher.pc.connectionState == "connected"
                ok = ok and remb_ok
            for c in (publisher, subscriber):
                if c:
                    await c.close()
            interesting = []
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                log.close()
                with open(log_path) as f:
                    interesting = [
                        line.rstrip() for line in f
                        if any(w in line for w in ("WARN", "ERROR", "refused", "dtls", "DTLS", "disconnect"))
                    ]
            if interesting:
                print("server log (warnings, errors, DTLS):")
                for line in interesting[-30:]:
                    print("  " + line)
    print("RESULT:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
