#!/usr/bin/env bash
# Build-stage helper of docker/Dockerfile: assembles the runtime root
# filesystem from the built daemon and exactly the shared libraries it loads.
#   docker/make-rootfs.sh BINARY DEST
# DEST gets: /usr/bin/hailo-device-plugin (stripped); every library `ldd`
# lists and the dynamic loader, at their canonical (merged-/usr) paths with
# the /lib, /lib64 links of the build system; the Debian copyright file of
# each package they come from; a root-only /etc/passwd and /etc/group.
# Finally runs the daemon inside DEST (chroot) to prove nothing is missing.
set -euo pipefail

bin=$1
dest=$2

mkdir -p "$dest/usr/bin" "$dest/etc" "$dest/usr/share/doc"
install -m 0755 "$bin" "$dest/usr/bin/hailo-device-plugin"
strip --strip-unneeded "$dest/usr/bin/hailo-device-plugin"

# ldd prints "name => /path (addr)" for libraries and "/path (addr)" for the
# loader; "not found" means the binary cannot run at all.
if ldd "$bin" | grep -q 'not found'; then
  ldd "$bin" >&2
  echo "make-rootfs: $bin has unresolved libraries" >&2
  exit 1
fi
mapfile -t libs < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' |
  sort -u)

packages=()
for lib in "${libs[@]}"; do
  dir=$(readlink -f "$(dirname "$lib")")
  mkdir -p "$dest$dir"
  cp -L "$lib" "$dest$dir/$(basename "$lib")"
  pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null || true)
  if [ -n "$pkg" ]; then packages+=("${pkg%%:*}"); fi
done

# The merged-/usr links (/lib -> usr/lib ...) whose targets are populated,
# so the ELF interpreter path (/lib64/ld-linux-x86-64.so.2,
# /lib/ld-linux-aarch64.so.1) resolves.
for link in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$link" ] && [ -e "$dest/$(readlink "/$link")" ]; then cp -P "/$link" "$dest/$link"; fi
done

mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
for pkg in "${packages[@]}"; do
  if [ -f "/usr/share/doc/$pkg/copyright" ]; then
    mkdir -p "$dest/usr/share/doc/$pkg"
    cp "/usr/share/doc/$pkg/copyright" "$dest/usr/share/doc/$pkg/copyright"
  fi
done

printf 'root:x:0:0:root:/:/usr/sbin/nologin\n' >"$dest/etc/passwd"
printf 'root:x:0:\n' >"$dest/etc/group"

echo "make-rootfs: ${#libs[@]} libraries from ${#packages[@]} Debian packages"
du -sh "$dest"
chroot "$dest" /usr/bin/hailo-device-plugin version
