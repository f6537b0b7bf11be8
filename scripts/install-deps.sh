#!/usr/bin/env bash
# Installs the Debian 12 packages a task needs, skipping those already present.
# Usage: scripts/install-deps.sh build|test|demo|image|fuzz ...
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config protobuf-compiler protobuf-compiler-grpc
  libprotobuf-dev libgrpc++-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libcli11-dev libyaml-cpp-dev prometheus-cpp-dev libcpp-httplib-dev)
test_pkgs=(googletest libgtest-dev libgmock-dev python3 python3-jsonschema yamllint
  shellcheck clang-format podman runc busybox-static util-linux iproute2 curl)
fuzz_pkgs=(clang libclang-rt-14-dev)
image_pkgs=(buildah podman debootstrap runc)

wanted=()
for group in "$@"; do
  case "$group" in
    build) wanted+=("${build_pkgs[@]}") ;;
    demo) wanted+=("${build_pkgs[@]}" python3) ;;
    test) wanted+=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
    fuzz) wanted+=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
    image) wanted+=("${image_pkgs[@]}") ;;
    *) echo "install-deps: unknown group '$group'" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps: run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
