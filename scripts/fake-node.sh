#!/usr/bin/env bash
# Adds one fake Hailo-8 (driver hailo_pci 4.23, DESIGN.md section 3) to a
# fake host tree, for the image test and the resource measurement:
#   scripts/fake-node.sh ROOT MINOR PCI_ADDRESS
# Creates under ROOT, with the relative links the kernel makes:
#   sys/devices/pci<dom>:00/<dom>:00:0<MINOR>.0/<addr>/{vendor,device,...}
#   sys/bus/pci/devices/<addr> -> ../../../devices/.../<addr>
#   <pcidev>/driver -> ../../../../bus/pci/drivers/hailo (module hailo_pci)
#   <pcidev>/hailo_chardev/hailo<MINOR>/{board_location,device_id,dev,device}
#   sys/class/hailo_chardev/hailo<MINOR> -> the class device
#   dev/hailo<MINOR>: character device 510:<MINOR> (mknod: needs root)
# Writes the device node last, so a watcher of dev/ sees a complete device.
set -euo pipefail

[ "$#" -eq 3 ] || { echo "usage: $0 ROOT MINOR PCI_ADDRESS" >&2; exit 2; }
root=$1 minor=$2 addr=$3
sys=$root/sys
node=hailo$minor
dom=${addr%%:*}
rel_pci="devices/pci$dom:00/$dom:00:0${minor}.0/$addr"
pci=$sys/$rel_pci

mkdir -p "$pci" "$sys/bus/pci/devices" "$sys/bus/pci/drivers/hailo" \
  "$sys/module/hailo_pci" "$sys/class/hailo_chardev" "$root/dev"
# Standard PCI attributes end in a newline; Hailo's own do not.
printf '0x1e60\n' >"$pci/vendor"
printf '0x2864\n' >"$pci/device"
printf '0x0b4000\n' >"$pci/class"
printf -- '-1\n' >"$pci/numa_node"
printf '1\n' >"$pci/enable"
printf '8.0 GT/s PCIe\n' >"$pci/current_link_speed"
printf 'D0\n' >"$pci/power_state"
{ printf '\x60\x1e\x64\x28'; head -c 60 /dev/zero; } >"$pci/config"
ln -sfn "../../../$rel_pci" "$sys/bus/pci/devices/$addr"
ln -sfn ../../../../bus/pci/drivers/hailo "$pci/driver"
ln -sfn ../../../../module/hailo_pci "$sys/bus/pci/drivers/hailo/module"
printf '4.23.0\n' >"$sys/module/hailo_pci/version"

cls=$pci/hailo_chardev/$node
mkdir -p "$cls"
printf '%s' "$addr" >"$cls/board_location"
printf '1e60:2864' >"$cls/device_id"
printf '510:%s\n' "$minor" >"$cls/dev"
ln -sfn "../../../$addr" "$cls/device"
ln -sfn "../../$rel_pci/hailo_chardev/$node" "$sys/class/hailo_chardev/$node"

rm -f "$root/dev/$node"
mknod -m 0666 "$root/dev/$node" c 510 "$minor"
