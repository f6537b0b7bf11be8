#!/usr/bin/env bash
# Runs real containers with podman (DESIGN.md section 7) against the CDI spec
# that `hailo-device-plugin cdi generate` writes for a fake node with three
# Hailo-8 devices, and checks what each container sees:
#   - given one device (by ID or by its hailoN alias): only that /dev node, a
#     character device with the right major:minor, and only that entry in
#     /sys/class/hailo_chardev, with the right board_location, read-only;
#   - given two devices: exactly those two; given `all`: all three;
#   - given none: no node, and every class entry (the control case: the
#     isolation comes from the spec, not from the test's setup);
#   - an unknown device name: podman refuses to create the container.
#
#   tests/container_test.sh [HAILO_DEVICE_PLUGIN_BINARY]   (as root)
#
# The binary defaults to $HDP_BINARY, then build/hailo-device-plugin.
# Nothing touches the host's /dev, /sys, /etc/cdi or /var/run/cdi: the script
# re-executes itself in a private mount namespace (unshare -m) and there
#   - mounts a tmpfs over /etc/cdi and /var/run/cdi and puts the spec in the
#     latter (podman 4.3 reads specs from those two directories only);
#   - moves a new tmpfs over /dev holding a copy of the host's /dev nodes and
#     links (the host's /dev/pts bound in, a fresh /dev/shm), plus the fake
#     /dev/hailoN nodes, so the spec's host paths /dev/hailoN exist;
#   - mounts a tmpfs over /sys/class holding hailo_chardev/hailoN symlinks to
#     the fake class devices, as sysfs links the class to the devices; each
#     container gets that /sys/class bound in (its own sysfs has no Hailo
#     class here), and the spec's tmpfs and bind mounts go on top of it;
#   - keeps podman's run-time state on a tmpfs (a fresh "boot" every run).
# If /var/run/cdi or the run-time directory /run/hailo-dp-container-test do
# not exist they are created as empty mount points and removed afterwards.
#
# The busybox image (from busybox-static, `podman import`) and podman's store
# live in $HDP_CONTAINER_TEST_CACHE (default /var/cache/hailo-dp-test), so
# only the first run builds the image. Podman runs as DESIGN.md section 7
# says: runc, vfs, cgroupfs, file events, no network, fixed ulimits.
#
# Output: one line per check, then `N passed, M failed`. Exit status: 0 all
# passed, 1 a check failed, 2 usage or set-up error, 77 skipped (not root, or
# a tool missing; `scripts/install-deps.sh test` installs them).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF=$ROOT/tests/$(basename "${BASH_SOURCE[0]}")
CACHE=${HDP_CONTAINER_TEST_CACHE:-/var/cache/hailo-dp-test}
RUN_DIR=/run/hailo-dp-container-test
IMAGE=localhost/hailo-dp-busybox:test
BUSYBOX=/bin/busybox # from busybox-static: runs without a libc in the image
KIND=hailo.ai/npu
CLASS=hailo_chardev
MAJOR=510
readonly SKIP=77

# The fake node: minor, PCI address and device ID of each Hailo-8 (the third
# one in PCI domain 0001, as on a Raspberry Pi 5).
MINORS=(0 1 2)
ADDRS=(0000:01:00.0 0000:02:00.0 0001:01:00.0)
IDS=(0000-01-00.0 0000-02-00.0 0001-01-00.0)

log() { printf 'container-test: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }
skip() { log "SKIP: $*"; exit "$SKIP"; }

# ===========================================================================
# Outside the namespace: checks, the temp dir and mount points, clean-up.
# ===========================================================================
outer_main() {
  local binary=${1:-${HDP_BINARY:-$ROOT/build/hailo-device-plugin}}
  [ "$(id -u)" -eq 0 ] || skip "needs root (mount namespaces, mknod, podman)"
  local tool
  for tool in unshare mount findmnt podman runc; do
    command -v "$tool" >/dev/null ||
      skip "$tool not found (scripts/install-deps.sh test installs it)"
  done
  if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
    [ ! -x "$BUSYBOX" ]; then
    skip "busybox-static not installed (the image needs its $BUSYBOX; scripts/install-deps.sh test)"
  fi
  unshare -m --propagation private true 2>/dev/null ||
    skip "cannot create a mount namespace (unshare -m needs CAP_SYS_ADMIN)"
  [ -x "$binary" ] || die "daemon binary '$binary' not found (pass it as \$1 or HDP_BINARY)"
  binary=$(readlink -f "$binary")

  local dir rc=0
  WORK=$(mktemp -d /tmp/hdp-container-test.XXXXXX)
  CREATED=()
  trap outer_cleanup EXIT
  # Mount points the namespace needs; made here only when missing.
  for dir in /var/run/cdi "$RUN_DIR"; do
    if [ ! -d "$dir" ]; then mkdir -p "$dir" && CREATED+=("$dir"); fi
  done
  HDP_CT_IN_NAMESPACE=1 HDP_CT_WORK=$WORK \
    unshare -m --propagation private -- bash "$SELF" "$binary" || rc=$?
  exit "$rc"
}

# Runs once the namespace is gone, so no mount is left under $WORK (and
# --one-file-system would not cross one anyway).
outer_cleanup() {
  local dir
  rm -rf --one-file-system "$WORK"
  for dir in "${CREATED[@]}"; do rmdir "$dir" 2>/dev/null || true; done
}

# ===========================================================================
# Inside the namespace.
# ===========================================================================
PODMAN=()

setup_fake_node() {
  local i
  for i in "${!MINORS[@]}"; do
    "$ROOT/scripts/fake-node.sh" "$WORK/host" "${MINORS[$i]}" "${ADDRS[$i]}"
  done
  "$BINARY" cdi generate --sys-root "$WORK/host/sys" --dev-root "$WORK/host/dev" \
    --output "$WORK/hailo.ai-npu.json" >"$WORK/generate.log" 2>&1 ||
    { cat "$WORK/generate.log" >&2; die "cdi generate failed"; }
}

# /etc/cdi and /var/run/cdi: tmpfs, our spec only.
setup_cdi_dirs() {
  if [ -d /etc/cdi ]; then mount -n -t tmpfs -o mode=0755 tmpfs /etc/cdi; fi
  mount -n -t tmpfs -o mode=0755 tmpfs /var/run/cdi
  install -m 0644 "$WORK/hailo.ai-npu.json" /var/run/cdi/hailo.ai-npu.json
}

# A new /dev: the host's nodes and links copied (cp makes the nodes anew on
# the tmpfs; the host's devtmpfs is not written), its sub-mounts bound in
# except /dev/shm, which is fresh (podman's lock segment lives there and must
# not be shared with the host's podman), plus the fake Hailo nodes.
setup_dev() {
  local stage=$WORK/dev mnt dst i
  mkdir "$stage"
  mount -n -t tmpfs -o mode=0755,nosuid tmpfs "$stage"
  cp -a --one-file-system /dev/. "$stage/"
  while read -r mnt; do
    dst=$stage${mnt#/dev}
    if [ -d "$mnt" ]; then
      mkdir -p "$dst"
    elif [ ! -e "$dst" ] && [ ! -L "$dst" ]; then
      printf '' >"$dst" # a mount point for a bound file, e.g. /dev/console
    fi
    if [ "$mnt" = /dev/shm ]; then
      mount -n -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$dst"
    else
      mount -n --rbind "$mnt" "$dst"
    fi
  done < <(findmnt -rn -o TARGET | grep -E '^/dev/[^/]+$' | sort -u)
  # Only the fake devices, even on a host with real ones.
  rm -f "$stage"/hailo* "$stage"/h1x-*
  for i in "${MINORS[@]}"; do cp -a "$WORK/host/dev/hailo$i" "$stage/"; done
  mount -n --move "$stage" /dev
}

# A new /sys/class with the fake class: hailoN -> the class device (absolute
# links into the fake tree, where sysfs has relative ones into /sys/devices).
setup_sys_class() {
  local entry
  mount -n -t tmpfs -o mode=0755,nosuid,nodev,noexec tmpfs /sys/class
  mkdir "/sys/class/$CLASS"
  for entry in "$WORK/host/sys/class/$CLASS"/*; do
    ln -s "$(readlink -f "$entry")" "/sys/class/$CLASS/${entry##*/}"
  done
}

setup_podman() {
  mount -n -t tmpfs -o mode=0700 tmpfs "$RUN_DIR"
  mkdir -p "$CACHE"
  PODMAN=(podman --root "$CACHE/containers" --runroot "$RUN_DIR/storage"
    --tmpdir "$RUN_DIR/libpod" --volumepath "$CACHE/volumes"
    --network-config-dir "$CACHE/networks" --storage-driver vfs
    --runtime runc --runtime-flag "root=$RUN_DIR/runc"
    --cgroup-manager cgroupfs --events-backend file)
}

# The busybox image, made once: bin/busybox and a link per applet.
ensure_image() {
  local rc=0
  "${PODMAN[@]}" image exists "$IMAGE" 2>"$WORK/podman.err" || rc=$?
  case "$rc" in
    0) return 0 ;;
    1) ;;
    *) cat "$WORK/podman.err" >&2; die "podman does not work here (exit status $rc)" ;;
  esac
  log "building $IMAGE from $BUSYBOX (once; cached in $CACHE)"
  local rootfs=$WORK/rootfs applet
  mkdir -p "$rootfs"/{bin,dev,proc,sys,etc,tmp}
  cp "$BUSYBOX" "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
  done
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf "$WORK/rootfs.tar" .
  "${PODMAN[@]}" import --quiet --change 'CMD ["/bin/sh"]' \
    "$WORK/rootfs.tar" "$IMAGE" >/dev/null
}

# What a container reports, one fact a line:
#   node NAME | stat PATH MAJ:MIN(hex) TYPE | class NAME | loc NAME ADDRESS |
#   write NAME allowed/refused | open NAME ERROR-MESSAGE
# shellcheck disable=SC2016  # expanded by the container's shell
PROBE='
for n in $(ls /dev); do case $n in hailo*) echo "node $n" ;; esac; done
for n in /dev/hailo*; do [ -e "$n" ] && stat -c "stat %n %t:%T %F" "$n"; done
for e in $(ls /sys/class/hailo_chardev); do echo "class $e"; done
for e in /sys/class/hailo_chardev/*; do [ -f "$e/board_location" ] && echo "loc ${e##*/} $(cat "$e/board_location")"; done
for e in /sys/class/hailo_chardev/*; do [ -d "$e" ] || continue; if (echo x >"$e/probe") 2>/dev/null; then echo "write ${e##*/} allowed"; else echo "write ${e##*/} refused"; fi; done
for n in /dev/hailo*; do [ -e "$n" ] || continue; echo "open ${n##*/} $( (exec 3<"$n") 2>&1 )"; done
true
'

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); printf '  ok    %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL  %s\n' "$1"; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1 (expected '$3', got '$2')"; fi; }

# words KEY: the second field of the probe's KEY lines, sorted, one line.
words() { awk -v k="$1" '$1 == k {print $2}' "$OUT" | sort | paste -sd' ' -; }
# value KEY NAME: the rest of the probe's line "KEY NAME ...".
value() {
  awk -v k="$1" -v n="$2" \
    '$1 == k && $2 == n {sub("^[^ ]+ [^ ]+ ", ""); print}' "$OUT"
}

run_probe() {
  "${PODMAN[@]}" run --rm --network none \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
    -v "/sys/class:/sys/class:ro" "$@" "$IMAGE" sh -c "$PROBE"
}

# run_case TITLE "EXPECTED NODES" -- PODMAN-RUN-ARGS...
run_case() {
  local title=$1 expected=$2 name i hex open_check=1 rc=0
  shift 3
  printf '%s\n' "$title"
  OUT=$WORK/case-$((PASSED + FAILED)).out
  run_probe "$@" >"$OUT" 2>"$OUT.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "podman run $* (exit status $rc): $(tr '\n' ' ' <"$OUT.err")"
    return 0
  fi
  [ -s "$OUT.err" ] && sed 's/^/        podman: /' "$OUT.err"
  # A real driver on major 510 here: do not open its nodes.
  if awk -v m="$MAJOR" '$1 == m' /proc/devices | grep -q .; then open_check=0; fi

  check "/dev has exactly: ${expected:-no hailo node}" "$(words node)" "$expected"
  check "/sys/class/$CLASS has exactly: ${expected:-nothing}" "$(words class)" "$expected"
  for name in $expected; do
    i=${name#hailo}
    printf -v hex '%x:%x' "$MAJOR" "${MINORS[$i]}"
    check "/dev/$name is a character device $MAJOR:${MINORS[$i]}" \
      "$(value stat "/dev/$name")" "$hex character special file"
    check "$name/board_location is ${ADDRS[$i]}" "$(value loc "$name")" "${ADDRS[$i]}"
    check "$name class entry is read-only" "$(value write "$name")" refused
    if [ "$open_check" = 1 ]; then
      # The fake major has no driver: ENXIO means the device cgroup let the
      # open through (EPERM would mean the rw permission is missing).
      check "opening /dev/$name passes the device cgroup" \
        "$(value open "$name" | sed 's/.*: //')" "No such device or address"
    fi
  done
}

# Control case: no CDI device. Every class entry shows (the bound fake
# /sys/class), no node, and the entries are not masked.
run_control() {
  printf '%s\n' "no device (control: the fake class is visible without the spec)"
  OUT=$WORK/control.out
  if ! run_probe >"$OUT" 2>"$OUT.err"; then
    fail "podman run without devices: $(tr '\n' ' ' <"$OUT.err")"
    return 0
  fi
  check "/dev has no hailo node" "$(words node)" ""
  check "/sys/class/$CLASS lists every device" "$(words class)" "hailo0 hailo1 hailo2"
}

run_unknown() {
  printf '%s\n' "--device $KIND=0000-09-00.0 (not in the spec)"
  if run_probe --device "$KIND=0000-09-00.0" >"$WORK/unknown.out" 2>&1; then
    fail "podman ran a container with an unknown CDI device"
  elif grep -qi 'cdi\|unresolvable' "$WORK/unknown.out"; then
    ok "podman refuses it: $(grep -i -m1 'cdi\|unresolvable' "$WORK/unknown.out")"
  else
    fail "podman failed for another reason: $(tr '\n' ' ' <"$WORK/unknown.out")"
  fi
}

check_spec() {
  local spec=/var/run/cdi/hailo.ai-npu.json
  printf '%s\n' "CDI spec $spec (from cdi generate)"
  check "cdiVersion" "$(grep -o '"cdiVersion": *"[^"]*"' "$spec" | grep -o '[0-9.]*')" 0.5.0
  check "kind" "$(grep -o '"kind": *"[^"]*"' "$spec" | sed 's/.*: *"\(.*\)"/\1/')" "$KIND"
  if grep -q "$WORK" "$spec"; then
    fail "paths are host paths (the spec names $WORK)"
  else
    ok "paths are host paths (/dev/hailoN, /sys/class/$CLASS/hailoN)"
  fi
}

inner_main() {
  BINARY=$1
  WORK=$HDP_CT_WORK
  set -E
  trap 'log "ERROR: set-up failed at line $LINENO: $BASH_COMMAND"; exit 2' ERR
  local start=$SECONDS
  setup_fake_node
  setup_cdi_dirs
  setup_dev
  setup_sys_class
  setup_podman
  ensure_image
  log "podman $(podman --version | awk '{print $3}'), $(runc --version | head -1), image $IMAGE"

  check_spec
  run_control
  run_case "--device $KIND=${IDS[0]} (by ID)" "hailo0" -- \
    --device "$KIND=${IDS[0]}"
  run_case "--device $KIND=hailo1 (by the alias)" "hailo1" -- \
    --device "$KIND=hailo1"
  run_case "--device $KIND=${IDS[0]} --device $KIND=${IDS[2]} (two)" "hailo0 hailo2" -- \
    --device "$KIND=${IDS[0]}" --device "$KIND=${IDS[2]}"
  run_case "--device $KIND=all" "hailo0 hailo1 hailo2" -- \
    --device "$KIND=all"
  run_unknown

  log "done in $((SECONDS - start)) s"
  printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
  if [ "$FAILED" -ne 0 ]; then exit 1; fi
}

if [ "${HDP_CT_IN_NAMESPACE:-}" = 1 ]; then
  inner_main "$@"
else
  outer_main "$@"
fi
