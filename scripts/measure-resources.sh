#!/usr/bin/env bash
# Measures the daemon's memory and CPU on a fake node under a busy kubelet,
# to size the DaemonSet's requests and limits (docs/deploying.md):
#   scripts/measure-resources.sh [BUILD_DIR]      (root: mknod)
# Runs build/hailo-device-plugin against DEVICES fake Hailo-8s (default 8)
# for DURATION seconds (default 60) with a 1 s rescan (30x the default) while
# the kubelet simulator allocates devices and restarts once and /metrics is
# scraped every second; then prints VmRSS, VmHWM (peak RSS), threads and the
# average and peak CPU.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DEVICES=${DEVICES:-8}
DURATION=${DURATION:-60}
RESOURCE=hailo.ai/npu

if [ ! -x "$BUILD/hailo-device-plugin" ] || [ ! -x "$BUILD/kubelet-sim" ]; then
  echo "measure: build hailo-device-plugin and kubelet-sim in $BUILD first" >&2
  exit 1
fi
work=$(mktemp -d /tmp/hdp-measure.XXXXXX)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/kubelet" "$work/cdi" "$work/host"
for ((i = 0; i < DEVICES; i++)); do
  "$ROOT/scripts/fake-node.sh" "$work/host" "$i" "$(printf '0000:%02x:00.0' $((i + 1)))"
done

# The kubelet: register, then an Allocate every 200 ms, one restart halfway.
{
  echo "wait-registered $RESOURCE 30000"
  echo "wait-count $RESOURCE $DEVICES 30000"
  for ((t = 0; t < DURATION * 5; t++)); do
    [ "$t" -ne $((DURATION * 5 / 2)) ] || printf "restart\nwait-reregistered %s 30000\n" "$RESOURCE"
    echo "allocate $RESOURCE $(printf '0000-%02x-00.0' $((t % DEVICES + 1))) OK"
    echo "sleep 200"
  done
  echo "quit"
} >"$work/kubelet.script"

port=$((20000 + RANDOM % 20000))
"$BUILD/hailo-device-plugin" serve --kubelet-dir "$work/kubelet" --cdi-dir "$work/cdi" \
  --sys-root "$work/host/sys" --dev-root "$work/host/dev" --rescan-interval 1s \
  --http-address "127.0.0.1:$port" --log-level warn >"$work/plugin.log" 2>&1 &
plugin=$!
pids+=("$plugin")
"$BUILD/kubelet-sim" --dir "$work/kubelet" --script "$work/kubelet.script" \
  >"$work/kubelet.log" 2>&1 &
pids+=("$!")

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$plugin/stat"; }
status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$plugin/status"; }
start_ticks=$(ticks)
prev=$start_ticks
peak=0
scrapes=0
for ((s = 0; s < DURATION; s++)); do
  sleep 1
  kill -0 "$plugin" 2>/dev/null || { cat "$work/plugin.log" >&2; echo "measure: daemon died" >&2; exit 1; }
  if curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" >/dev/null 2>&1; then
    scrapes=$((scrapes + 1))
  fi
  now=$(ticks)
  [ $((now - prev)) -le "$peak" ] || peak=$((now - prev))
  prev=$now
done
used=$((prev - start_ticks))
printf 'devices %s, %ss, rescan 1s, Allocate every 200ms, 1 kubelet restart, %s/%s scrapes\n' \
  "$DEVICES" "$DURATION" "$scrapes" "$DURATION"
printf 'VmRSS %s kB, VmHWM (peak) %s kB, threads %s\n' \
  "$(status VmRSS)" "$(status VmHWM)" "$(status Threads)"
awk -v u="$used" -v d="$DURATION" -v p="$peak" -v hz="$hz" 'BEGIN {
  printf "CPU average %.1f millicores, busiest second %.0f millicores\n",
    1000 * u / hz / d, 1000 * p / hz }'
if grep -q FAILED "$work/kubelet.log"; then
  echo "measure: $(grep -c 'FAILED:' "$work/kubelet.log") kubelet commands failed, first:" >&2
  grep -m1 -B2 'FAILED:' "$work/kubelet.log" >&2 || true
fi
