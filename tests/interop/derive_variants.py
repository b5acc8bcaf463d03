#!/usr/bin/env python3
"""Derives the edited variants of the offer corpus from the real Chromium offers.

Usage (after chrome_offers.mjs has written chrome_simulcast.sdp and chrome_gathered.sdp):
    python3 tests/interop/derive_variants.py sfu-server/tests/fixtures/offers

Every variant is a real Chromium offer with one property changed by text editing, so that a
test failing on it points at that one property. `openssl` (Debian) makes the certificate whose
fingerprints the multi-fingerprint variant carries.
"""

import os
import re
import subprocess
import sys
import tempfile


def read(d, name):
    with open(os.path.join(d, name), newline="") as f:
        return f.read()


def write(d, name, text):
    with open(os.path.join(d, name), "w", newline="") as f:
        f.write(text)
    print("wrote", name)


def drop_lines(sdp, pattern):
    rx = re.compile(pattern)
    return "".join(line for line in sdp.splitlines(keepends=True) if not rx.search(line))


def fingerprints():
    """sha-512, sha-256 and sha-1 fingerprints of one fresh ECDSA P-256 certificate."""
    with tempfile.TemporaryDirectory() as tmp:
        key, pem = os.path.join(tmp, "k.pem"), os.path.join(tmp, "c.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", key, "-out", pem, "-days", "30", "-subj", "/CN=WebRTC"],
            check=True, capture_output=True)
        out = []
        for algo in ("sha512", "sha256", "sha1"):
            r = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-fingerprint", "-" + algo],
                               check=True, capture_output=True, text=True)
            value = r.stdout.strip().split("=", 1)[1]
            out.append(f"a=fingerprint:{algo[:3]}-{algo[3:]} {value}")
        return out


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    base = read(d, "chrome_simulcast.sdp")
    gathered = read(d, "chrome_gathered.sdp")

    # DTLS roles other than actpass (RFC 8842 lets an offerer say active or passive).
    write(d, "variant_setup_active.sdp", base.replace("a=setup:actpass", "a=setup:active"))
    write(d, "variant_setup_passive.sdp", base.replace("a=setup:actpass", "a=setup:passive"))

    # No trickle: the gathered offer (candidates included) without a=ice-options:trickle.
    write(d, "variant_no_trickle.sdp", drop_lines(gathered, r"^a=ice-options:trickle"))

    # No TWCC at all: neither the header extension nor the transport-cc feedback.
    no_twcc = drop_lines(base, r"transport-wide-cc-extensions|^a=rtcp-fb:\d+ transport-cc")
    write(d, "variant_no_twcc.sdp", no_twcc)

    # Several fingerprints, the unsupported hash first (RFC 8122 allows any order).
    lines = "\r\n".join(fingerprints())
    write(d, "variant_multi_fingerprint.sdp",
          re.sub(r"a=fingerprint:sha-256 [0-9A-F:]+", lambda _: lines, base))

    # Fingerprint and setup at session level only (as Firefox puts the fingerprint).
    fp = re.search(r"a=fingerprint:[^\r\n]+", base).group(0)
    session_level = drop_lines(base, r"^a=fingerprint:|^a=setup:")
    session_level = session_level.replace("t=0 0\r\n", f"t=0 0\r\n{fp}\r\na=setup:actpass\r\n", 1)
    write(d, "variant_session_level_fingerprint.sdp", session_level)


main()
