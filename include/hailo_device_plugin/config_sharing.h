// The `sharing:` section of the config file: replicas per Hailo family.
//
//   sharing:
//     hailo10h: {replicas: 4, flavour: direct}
//     hailo8: {replicas: 2, flavour: service, serviceSocket: /tmp/hailort_uds.sock}
//
// Pure functions; errors name the family and the key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "absl/status/status.h"
#include "hailo_device_plugin/allocation.h"

namespace hailo_dp {

inline constexpr int kMaxReplicas = 64;

absl::Status ParseSharing(const YAML::Node& node, SharingMap* out);
// One YAML line, "sharing: {...}" (flow style).
std::string RenderSharing(const SharingMap& sharing);

}  // namespace hailo_dp
