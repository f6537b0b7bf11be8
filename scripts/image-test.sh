#!/usr/bin/env bash
# Builds docker/Dockerfile without a Docker engine (buildah, chroot
# isolation) and runs the image with podman against a fake Hailo node and
# the kubelet simulator, with the DaemonSet's restrictions (read-only root,
# no capabilities, no network, uid 0). Checks that the plugin registers,
# lists the fake devices, allocates them, follows a hotplug and a kubelet
# restart, serves /healthz, /readyz and /metrics, writes the CDI spec with
# host paths, and stops cleanly on SIGTERM.
#
#   scripts/image-test.sh            (as root; `make image-test`)
#   scripts/image-test.sh --prepare  only the base image and the cached
#                                    `deps` stage (network-bound; CI runs it
#                                    in the background while it compiles)
#
# The Dockerfile's base (debian:bookworm-slim) is made locally with
# debootstrap from the Debian archive and imported under that name, so the
# Dockerfile is unchanged and no registry is contacted. Base, cached layers
# (the `deps` stage is tagged, so the apt step is redone only when the
# package list changes) and images live in a private container store under
# $IMAGE_TEST_CACHE (default /var/cache/hailo-dp-image-test); stale layers are
# pruned after each build. IMAGE_TEST_REFRESH=1 re-bootstraps the base.
# Other settings: STORAGE_DRIVER (overlay when the kernel allows it, else
# vfs), BUILD_DIR (kubelet-sim is built there, default build), RUN_TESTS
# (Dockerfile build-arg, default 1), KEEP=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${IMAGE_TEST_CACHE:-/var/cache/hailo-dp-image-test}
BUILD_DIR=${BUILD_DIR:-build}
RUN_TESTS=${RUN_TESTS:-1}
BASE_TAG=docker.io/library/debian:bookworm-slim
IMAGE=localhost/hailo-device-plugin:image-test
DEPS_IMAGE=localhost/hailo-device-plugin-deps:image-test
RESOURCE=hailo.ai/npu
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# ulimits: runc here cannot raise them past the session's (DESIGN.md s. 7).
RUN_OPTS=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

log() { printf 'image-test: %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# One private store for buildah and podman: the same root, run root and
# driver, or podman would not see what buildah built. overlay keeps cached
# layers small; vfs (DESIGN.md section 7) works on any file system.
choose_store() {
  local driver=${STORAGE_DRIVER:-}
  if [ -z "$driver" ]; then
    driver=vfs
    if podman --root "$CACHE/storage-overlay" --runroot /run/hailo-dp-image-test-overlay \
      --storage-driver overlay info >/dev/null 2>&1; then
      driver=overlay
    fi
  fi
  STORE=(--root "$CACHE/storage-$driver" --runroot "/run/hailo-dp-image-test-$driver"
    --storage-driver "$driver")
  PODMAN=(podman "${STORE[@]}" --runtime runc --cgroup-manager cgroupfs --events-backend file)
  log "container store: $CACHE/storage-$driver ($driver)"
}

# --- Tools and base image ------------------------------------------------
require_tools() {
  [ "$(id -u)" -eq 0 ] || die "run as root (buildah, podman and mknod need it)"
  "$ROOT/scripts/install-deps.sh" image build
  if ! command -v curl >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null
  fi
  local tool
  for tool in buildah podman debootstrap runc curl nsenter cmake; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install $tool)"
  done
}

# The Debian 12 minimal root file system, as a tarball in the cache.
bootstrap_base() {
  local tarball=$CACHE/debian-bookworm-minbase.tar dir
  if [ -s "$tarball" ] && [ "${IMAGE_TEST_REFRESH:-0}" != 1 ]; then return 0; fi
  dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  log "debootstrap --variant=minbase bookworm (about a minute)"
  debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$dir"; die "debootstrap failed"; }
  # The apt sources of the official image: main, updates and security.
  rm -f "$dir/etc/apt/sources.list"
  cat >"$dir/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb
  tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
  rm -rf "$dir"
  "${PODMAN[@]}" rmi -f "$BASE_TAG" >/dev/null 2>&1 || true
}

ensure_base_image() {
  mkdir -p "$CACHE"
  # Working containers a failed or interrupted build left behind.
  buildah "${STORE[@]}" rm --all >/dev/null 2>&1 || true
  bootstrap_base
  if "${PODMAN[@]}" image exists "$BASE_TAG"; then return 0; fi
  log "importing the base as $BASE_TAG"
  "${PODMAN[@]}" import --quiet --change 'CMD ["/bin/bash"]' \
    "$CACHE/debian-bookworm-minbase.tar" "$BASE_TAG" >/dev/null
}

# build_image [deps]: the whole image, or only its `deps` stage.
build_image() {
  local targets=(deps "") version
  version=$(sed -n 's/^project(hailo-device-plugin VERSION \([0-9.]*\).*/\1/p' \
    "$ROOT/CMakeLists.txt")
  log "buildah bud docker/Dockerfile (RUN_TESTS=$RUN_TESTS; the first build takes minutes)"
  local start=$SECONDS target tag
  # CAP_MKNOD as in docker build (buildah drops it): the unit tests make
  # fake device nodes. The deps stage first, tagged, so pruning keeps it.
  [ "${1:-}" != deps ] || targets=(deps)
  for target in "${targets[@]}"; do
    tag=$IMAGE
    [ -z "$target" ] || tag=$DEPS_IMAGE
    if ! buildah "${STORE[@]}" bud --isolation chroot --pull=never --layers \
      --cap-add CAP_MKNOD --build-arg "RUN_TESTS=$RUN_TESTS" \
      --build-arg "VERSION=${version:-dev}" ${target:+--target "$target"} \
      -f "$ROOT/docker/Dockerfile" -t "$tag" "$ROOT" \
      >>"$WORK/build.log" 2>&1; then
      cp "$WORK/build.log" "$CACHE/last-build.log"
      tail -60 "$WORK/build.log" >&2
      die "image build failed (whole log: $CACHE/last-build.log)"
    fi
  done
  cp "$WORK/build.log" "$CACHE/last-build.log"
  grep -E '^[0-9]+% tests passed|^note:|^make-rootfs:' "$WORK/build.log" |
    sed 's/^/  build| /' >&2 || true
  log "image built in $((SECONDS - start)) s (log: $CACHE/last-build.log)"
  prune_store
}

# Untagged images no other image builds on: earlier builds' layers. Repeated,
# since removing a leaf can make its parent one.
prune_store() {
  local _
  for _ in 1 2 3 4 5 6 7 8; do
    [ -n "$("${PODMAN[@]}" images -q --filter dangling=true)" ] || break
    "${PODMAN[@]}" image prune -f >/dev/null 2>&1 || break
  done
  log "container store: $(du -sh "${STORE[1]}" | cut -f1)"
}

build_kubelet_sim() {
  local dir=$BUILD_DIR
  case "$dir" in /*) ;; *) dir=$ROOT/$dir ;; esac
  [ -f "$dir/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$dir" >/dev/null
  cmake --build "$dir" -j "$(nproc)" --target kubelet-sim >/dev/null
  KUBELET_SIM=$dir/kubelet-sim
}

# --- Checks --------------------------------------------------------------
check_image() {
  local size user entry
  size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
  user=$("${PODMAN[@]}" image inspect --format '{{.Config.User}}' "$IMAGE")
  entry=$("${PODMAN[@]}" image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE")
  log "image $IMAGE: $((size / 1024 / 1024)) MiB ($size bytes), user $user, entrypoint $entry"
  [ "$entry" = '["/usr/bin/hailo-device-plugin"]' ] || die "unexpected entrypoint $entry"
  [ "$size" -lt $((64 * 1024 * 1024)) ] || die "image larger than 64 MiB"
  if "${PODMAN[@]}" run --rm "${RUN_OPTS[@]}" --entrypoint /bin/sh "$IMAGE" -c true \
    >/dev/null 2>&1; then
    die "the runtime image has a shell"
  fi
  "${PODMAN[@]}" run --rm "${RUN_OPTS[@]}" "$IMAGE" version ||
    die "the image does not run"
}

start_plugin() {
  "${PODMAN[@]}" run -d --name "$CONTAINER" "${RUN_OPTS[@]}" \
    --read-only --cap-drop all --security-opt no-new-privileges --user 0:0 \
    -v "$WORK/kubelet:/var/lib/kubelet/device-plugins" \
    -v "$WORK/cdi:/var/run/cdi" \
    -v "$WORK/host/dev:/host/dev:ro" \
    -v "$WORK/host/sys:/host/sys:ro" \
    "$IMAGE" serve --dev-root=/host/dev --sys-root=/host/sys \
    --rescan-interval=2s --log-level=debug >/dev/null
  PID=$("${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$CONTAINER")
  [ "$PID" -gt 0 ] || die "the plugin container is not running"
  local caps
  caps=$(awk '/^CapEff/ {print $2}' "/proc/$PID/status")
  [ "$caps" = 0000000000000000 ] || die "the plugin runs with capabilities $caps"
}

# http PATH: GET inside the container's network namespace.
http() { nsenter -t "$PID" -n curl -fsS --max-time 5 "http://127.0.0.1:8080$1"; }

write_script() {
  cat >"$WORK/kubelet.script" <<EOF
wait-registered $RESOURCE 60000
wait-count $RESOURCE 1 30000
devices $RESOURCE
sh nsenter -t $PID -n curl -fsS --max-time 5 http://127.0.0.1:8080/readyz
admit $RESOURCE 1 OK
echo hotplug: a second Hailo-8 appears
sh $ROOT/scripts/fake-node.sh $WORK/host 1 0000:02:00.0
wait-count $RESOURCE 2 30000
devices $RESOURCE
allocate $RESOURCE 0000-01-00.0,0000-02-00.0 OK
allocate $RESOURCE 0000-09-00.0 INVALID_ARGUMENT
echo kubelet restart
restart
wait-reregistered $RESOURCE 60000
wait-count $RESOURCE 2 30000
quit
EOF
}

run_kubelet() {
  log "kubelet-sim: registration, allocation, hotplug, kubelet restart"
  if ! timeout 300 "$KUBELET_SIM" --dir "$WORK/kubelet" --script "$WORK/kubelet.script" \
    >"$WORK/kubelet.log" 2>&1; then
    cat "$WORK/kubelet.log" >&2
    "${PODMAN[@]}" logs "$CONTAINER" >&2 || true
    die "the kubelet simulator's script failed"
  fi
  sed 's/^/  kubelet-sim| /' "$WORK/kubelet.log" >&2
}

check_http_and_cdi() {
  http /healthz >/dev/null || die "/healthz failed"
  http /metrics >"$WORK/metrics" || die "/metrics failed"
  [ -s "$WORK/metrics" ] || die "/metrics is empty"
  local spec=$WORK/cdi/hailo.ai-npu.json
  [ -f "$spec" ] || die "no CDI spec at /var/run/cdi/hailo.ai-npu.json"
  grep -q '"kind": *"hailo.ai/npu"' "$spec" || die "CDI spec kind is not hailo.ai/npu"
  grep -q '"/dev/hailo1"' "$spec" || die "CDI spec lacks the host path /dev/hailo1"
  if grep -q '/host/' "$spec"; then die "CDI spec names container paths (/host/...)"; fi
  local name
  for name in 0000-01-00.0 0000-02-00.0 hailo0 hailo1 all; do
    grep -q "\"name\": *\"$name\"" "$spec" || die "CDI spec lacks the device name $name"
  done
  log "healthz, readyz and metrics served; CDI spec has host paths"
}

stop_plugin() {
  log "plugin in the container: $(grep -E '^(VmRSS|VmHWM|Threads)' "/proc/$PID/status" |
    tr -s ' \t\n' ' ')"
  "${PODMAN[@]}" stop -t 20 "$CONTAINER" >/dev/null
  local code
  code=$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$CONTAINER")
  "${PODMAN[@]}" logs "$CONTAINER" >"$WORK/plugin.log" 2>&1 || true
  [ "$code" = 0 ] || { cat "$WORK/plugin.log" >&2; die "plugin exited $code on SIGTERM"; }
  [ ! -e "$WORK/kubelet/hailo.sock" ] || die "hailo.sock left behind after shutdown"
  [ -f "$WORK/cdi/hailo.ai-npu.json" ] || die "CDI spec removed on shutdown (must be kept)"
  log "SIGTERM: exit 0, socket removed, CDI spec kept"
}

cleanup() {
  "${PODMAN[@]}" rm -f "$CONTAINER" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}

main() {
  require_tools
  if [ "${1:-}" = --prepare ]; then
    WORK=$(mktemp -d /tmp/hdp-image-test.XXXXXX)
    CONTAINER=none
    mkdir -p "$CACHE"
    choose_store
    trap cleanup EXIT
    ensure_base_image
    build_image deps
    log "prepared: base image and deps stage cached"
    return 0
  fi
  WORK=$(mktemp -d /tmp/hdp-image-test.XXXXXX)
  CONTAINER=hdp-image-test-$$
  mkdir -p "$WORK/kubelet" "$WORK/cdi" "$WORK/host" "$CACHE"
  choose_store
  trap cleanup EXIT
  ensure_base_image
  build_image
  check_image
  build_kubelet_sim
  "$ROOT/scripts/fake-node.sh" "$WORK/host" 0 0000:01:00.0
  start_plugin
  write_script
  run_kubelet
  check_http_and_cdi
  stop_plugin
  log "PASS: the image registers, serves and allocates the fake devices"
}

main "$@"
