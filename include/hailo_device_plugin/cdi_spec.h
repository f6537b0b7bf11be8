// Builds the CDI (Container Device Interface) spec for a set of devices.
//
// Pure functions: the caller passes the devices of one resource and gets the
// JSON document a container runtime reads from /var/run/cdi. Every path in
// the spec is a host path (/dev/..., /sys/class/...), whatever root the
// devices were scanned under. Thread-safe (no shared state).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "hailo_device_plugin/device.h"

namespace hailo_dp {

// The lowest CDI version with every field the spec uses, and the highest that
// every runtime in the field accepts.
inline constexpr std::string_view kCdiVersion = "0.5.0";
// The device name that injects every healthy device.
inline constexpr std::string_view kCdiAllDevice = "all";

struct CdiSpecOptions {
  std::string kind = "hailo.ai/npu";
  // Class directories that exist on the host and must be masked with a
  // tmpfs in every container, e.g. {"hailo_chardev"}. Each device's own class
  // entry is bound back inside.
  std::vector<std::string> host_class_dirs;
};

// Devices without a node are left out. Each device gets an entry named by
// its ID and an alias named by its node ("hailo0"); "all" holds the healthy
// ones. Output is deterministic for the same input.
nlohmann::json BuildCdiSpec(const std::vector<Device>& devices,
                            const CdiSpecOptions& options);

// The spec as written to disk: pretty-printed JSON with a final newline.
std::string SerializeCdiSpec(const nlohmann::json& spec);

}  // namespace hailo_dp
