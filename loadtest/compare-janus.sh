#!/usr/bin/env bash
# Measures this SFU and Janus 1.1.2 (Debian's package, VideoRoom plugin) with the same load in
# the same run, and writes the comparison (markdown tables, SVG chart, JSON reports).
#
# Both servers run in a network namespace of this script's own, joined to the host by a veth
# pair: Janus 1.1.2 skips loopback interfaces when it gathers candidates, so on 127.0.0.1 it
# would offer none. The load generator binds the host end of the pair. Needs root (ip netns).
#
# Usage: loadtest/compare-janus.sh [quick]      (quick: small loads, a few seconds each)
# Environment: OUT (output directory, default target/loadtest-compare), DURATION (hold time),
#              SUBSCRIBERS (webinar sweep, e.g. "25 50 100 200"), MEETING (participants).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-full}
OUT=${OUT:-target/loadtest-compare}
NS=ltbench$$
VETH_HOST=ltb$$a
VETH_NS=ltb$$b
HOST_IP=10.77.$((RANDOM % 200 + 20)).1
NS_IP=${HOST_IP%.1}.2
if [ "$MODE" = quick ]; then
    DURATION=${DURATION:-4s}
    SUBSCRIBERS=${SUBSCRIBERS:-"3 6"}
    MEETING=${MEETING:-3}
    AUDIO=${AUDIO:-5}
else
    DURATION=${DURATION:-20s}
    SUBSCRIBERS=${SUBSCRIBERS:-"25 50 100 200"}
    MEETING=${MEETING:-10}
    AUDIO=${AUDIO:-50}
fi

# 1. Janus from Debian, only when missing.
if ! command -v janus >/dev/null 2>&1; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends janus
fi
command -v ip >/dev/null 2>&1 || {
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iproute2
}

# 2. Release binaries.
cargo build --release -q -p sfu-server -p sfu-loadtest
BIN=target/release
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# 3. The namespace and the veth pair; removed on exit with the servers.
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    ip link del "$VETH_HOST" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS"
ip link add "$VETH_HOST" type veth peer name "$VETH_NS"
ip link set "$VETH_NS" netns "$NS"
ip addr add "$HOST_IP/24" dev "$VETH_HOST"
ip link set "$VETH_HOST" up
ip netns exec "$NS" ip addr add "$NS_IP/24" dev "$VETH_NS"
ip netns exec "$NS" ip link set "$VETH_NS" up
ip netns exec "$NS" ip link set lo up

# 4. Janus: Debian's configuration with only the VideoRoom plugin and the HTTP transport.
CONF="$OUT/janus-conf"
rm -rf "$CONF" && cp -r /etc/janus "$CONF"
sed -i 's|^\s*#disable = "libjanus_voicemail.so,libjanus_recordplay.so"|\tdisable = "libjanus_voicemail.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_nosip.so,libjanus_lua.so,libjanus_duktape.so,libjanus_audiobridge.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_echotest.so"|' "$CONF/janus.jcfg"
sed -i 's|^\s*#disable = "libjanus_rabbitmq.so"|\tdisable = "libjanus_rabbitmq.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_websockets.so"|' "$CONF/janus.jcfg"
ip netns exec "$NS" janus -F "$CONF" -d 3 -L "$OUT/janus.log" >/dev/null 2>&1 &
JANUS_PID=$!
PIDS+=("$JANUS_PID")

# 5. This SFU on the namespace's address.
SFU_SERVER__RATE_LIMIT__ENABLED=false SFU_MEDIA__BANDWIDTH_ESTIMATION=false SFU_SERVER__HTTP_ADDR="$NS_IP:7880" SFU_MEDIA__UDP_ADDR="$NS_IP:7882" RUST_LOG=warn \
    ip netns exec "$NS" "$BIN/sfu-server" >"$OUT/sfu.log" 2>&1 &
SFU_PID=$!
PIDS+=("$SFU_PID")

wait_http() {
    for _ in $(seq 1 100); do
        if curl -s -o /dev/null --max-time 1 "$1"; then return 0; fi
        sleep 0.2
    done
    echo "no answer from $1" >&2
    return 1
}
wait_http "http://$NS_IP:7880/healthz"
wait_http "http://$NS_IP:8088/janus/info"

# 6. The same scenarios against both servers, one after the other.
run() { # name, then scenario arguments
    local name=$1
    shift
    "$BIN/loadtest" --quiet --bind-ip "$HOST_IP" --duration "$DURATION" --ramp 20 \
        --url "http://$NS_IP:7880" --server-pid "$SFU_PID" \
        --json "$OUT/sfu-$name.json" "$@"
    "$BIN/loadtest" --quiet --bind-ip "$HOST_IP" --duration "$DURATION" --ramp 20 \
        --target janus --janus-url "http://$NS_IP:8088/janus" --server-pid "$JANUS_PID" \
        --janus-room $((RANDOM + 1000)) --json "$OUT/janus-$name.json" "$@"
}
# Subscribers take the middle layer on both servers (their defaults differ: Janus starts at
# a fixed substream, this SFU at what bandwidth allows).
run "meeting-$MEETING" meeting -n "$MEETING" --sub-layer h
run "audio-$AUDIO" audio -n "$AUDIO"
for s in $SUBSCRIBERS; do
    run "webinar-$s" webinar -p 1 -s "$s" --sub-layer h
done

# 7. The comparison: tables and the CPU-against-subscribers chart.
"$BIN/loadtest" compare --out "$OUT/comparison.md" --chart "$OUT/cpu-vs-subscribers.svg" "$OUT"/sfu-*.json "$OUT"/janus-*.json
echo "comparison written to $OUT/comparison.md and $OUT/cpu-vs-subscribers.svg"
