#!/usr/bin/env bash
# The local demo: the daemon against a simulated node (two fake Hailo
# devices) and the kubelet simulator. No cluster and no card needed.
#   scripts/demo.sh [BUILD_DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-build}" && pwd)
daemon=$build/hailo-device-plugin
sim=$build/kubelet-sim
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates fake device nodes with mknod)" >&2; exit 1; }

work=$(mktemp -d /tmp/hailo-demo.XXXXXX)
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A Hailo-10H on the 5.3 driver layout: /sys/class/hailo1x/h1x-N, /dev/h1x-N,
# device_id holding the PCI address.
add_hailo10h() {
  local root=$1 minor=$2 addr=$3 numa=$4
  local rel="devices/pci${addr%%:*}:00/${addr%%:*}:00:1${minor}.0/$addr"
  local pci=$root/sys/$rel node=h1x-$minor
  mkdir -p "$pci/hailo1x/$node" "$root/sys/bus/pci/devices" "$root/sys/bus/pci/drivers/hailo1x" \
    "$root/sys/module/hailo1x_pci" "$root/sys/class/hailo1x"
  printf '0x1e60\n' >"$pci/vendor"; printf '0x45c4\n' >"$pci/device"
  printf '%s\n' "$numa" >"$pci/numa_node"; printf '1\n' >"$pci/enable"
  printf '8.0 GT/s PCIe\n' >"$pci/current_link_speed"
  ln -sfn "../../../$rel" "$root/sys/bus/pci/devices/$addr"
  ln -sfn ../../../../bus/pci/drivers/hailo1x "$pci/driver"
  ln -sfn ../../../../module/hailo1x_pci "$root/sys/bus/pci/drivers/hailo1x/module"
  printf '5.3.0\n' >"$root/sys/module/hailo1x_pci/version"
  printf '%s' "$addr" >"$pci/hailo1x/$node/device_id"
  printf '509:%s\n' "$minor" >"$pci/hailo1x/$node/dev"
  ln -sfn "../../../$addr" "$pci/hailo1x/$node/device"
  ln -sfn "../../$rel/hailo1x/$node" "$root/sys/class/hailo1x/$node"
  mknod -m 0666 "$root/dev/$node" c 509 "$minor"
}

say "A simulated node in $work"
mkdir -p "$work/kubelet" "$work/cdi"
"$here/fake-node.sh" "$work" 0 0000:01:00.0
add_hailo10h "$work" 0 0001:01:00.0 0
echo "Two fake devices: a Hailo-8 (driver hailo_pci 4.23, /dev/hailo0) and a"
echo "Hailo-10H (driver hailo1x_pci 5.3, /dev/h1x-0, PCI domain 0001 as on a Raspberry Pi 5)."
echo "\$ hailo-device-plugin discover"
"$daemon" discover --sys-root "$work/sys" --dev-root "$work/dev"

say "Starting the daemon (log: $work/daemon.log)"
"$daemon" --sys-root "$work/sys" --dev-root "$work/dev" --kubelet-dir "$work/kubelet" \
  --cdi-dir "$work/cdi" --http-address 127.0.0.1:0 >"$work/daemon.log" 2>&1 &
daemon_pid=$!

spec=$work/cdi/hailo.ai-npu.json
cat >"$work/script" <<SCRIPT
echo
echo == The kubelet simulator starts; the daemon registers and streams its devices
wait-registered hailo.ai/npu 5000
wait-count hailo.ai/npu 2 5000
devices hailo.ai/npu
echo
echo == A pod asks for hailo.ai/npu: 1 (GetPreferredAllocation, then Allocate)
admit hailo.ai/npu 1
echo The CDI spec the container runtime resolves those names with ($spec):
sh python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print("  kind:", s["kind"], " cdiVersion:", s["cdiVersion"]); [print("  device", d["name"], json.dumps(d["containerEdits"])) for d in s["devices"]]; print("  every container:", json.dumps(s.get("containerEdits")))' $spec
echo
echo == Unplug: /dev/hailo0 disappears
sh rm $work/dev/hailo0
wait-health hailo.ai/npu 0000-01-00.0 Unhealthy 5000
devices hailo.ai/npu
echo
echo == Replug: /dev/hailo0 is back
sh mknod -m 0666 $work/dev/hailo0 c 510 0
wait-health hailo.ai/npu 0000-01-00.0 Healthy 5000
echo
echo == The kubelet restarts (deletes plugin sockets, creates a new kubelet.sock)
restart
wait-reregistered hailo.ai/npu 5000
wait-count hailo.ai/npu 2 5000
devices hailo.ai/npu
echo
echo == An Allocate for an unknown device is refused, naming it
allocate hailo.ai/npu 0000-09-00.0 INVALID_ARGUMENT
quit
SCRIPT
"$sim" --dir "$work/kubelet" --script "$work/script"

say "Stopping the daemon (SIGTERM)"
kill -TERM "$daemon_pid"
status=0
wait "$daemon_pid" || status=$?
daemon_pid=
echo "daemon exit status: $status"
[ -e "$work/kubelet/hailo.sock" ] && echo "socket still there (unexpected)" || echo "its socket is removed"
[ -s "$spec" ] && echo "the CDI spec is kept for containers that restart: $spec"
echo
echo "Daemon log:"
sed 's/^/  /' "$work/daemon.log"
[ "$status" -eq 0 ]
say "Demo finished"
