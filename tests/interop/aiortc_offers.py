#!/usr/bin/env python3
"""Generates real aiortc offers for the interop fixture corpus.

Usage:
    python3 -m venv /tmp/aiortc-venv && /tmp/aiortc-venv/bin/pip install aiortc
    /tmp/aiortc-venv/bin/python tests/interop/aiortc_offers.py sfu-server/tests/fixtures/offers

aiortc gathers its candidates inside setLocalDescription (no trickle), so its offers carry
candidates; gathering is restricted to 127.0.0.1 and no STUN server is configured.
"""

import asyncio
import os
import sys

import aioice.ice
import aiortc
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


async def offer(direction, data_channel):
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if direction == "sendrecv":
        # addTrack: what most aiortc examples do (sendrecv transceivers).
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
    else:
        pc.addTransceiver(AudioStreamTrack(), direction=direction)
        pc.addTransceiver(VideoStreamTrack(), direction=direction)
    if data_channel:
        pc.createDataChannel("data")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    variants = {
        "aiortc_sendonly": ("sendonly", False),
        "aiortc_sendrecv_datachannel": ("sendrecv", True),
    }
    for name, (direction, dc) in variants.items():
        sdp = await offer(direction, dc)
        with open(os.path.join(out, name + ".sdp"), "w", newline="") as f:
            f.write(sdp)
        print("wrote", name + ".sdp")
    print("aiortc", aiortc.__version__, "aioice", getattr(aioice, "__version__", "?"))


asyncio.run(main())
