// ResourceSpec: one extended resource the daemon advertises to the kubelet.
//
// The default is a single resource, hailo.ai/npu on hailo.sock, covering every
// family; the per-family strategy makes one ResourceSpec per family. A value
// type, safe to copy and share read-only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "hailo_device_plugin/device.h"

namespace hailo_dp {

inline constexpr std::string_view kDefaultResourceName = "hailo.ai/npu";
inline constexpr std::string_view kDefaultSocketName = "hailo.sock";

struct ResourceSpec {
  std::string resource_name{kDefaultResourceName};
  std::string socket_name{kDefaultSocketName};
  // The family this resource covers; nullopt covers every family.
  std::optional<Family> family;

  // The CDI kind equals the resource name ("hailo.ai/npu").
  const std::string& CdiKind() const { return resource_name; }
  // File name of the CDI spec, "hailo.ai-npu.json".
  std::string CdiSpecFileName() const;
  // Fully qualified CDI device name, "hailo.ai/npu=<device name>".
  std::string CdiDeviceName(std::string_view device_name) const;
  bool Selects(const Device& device) const;
  // The devices this resource covers, in input order.
  std::vector<Device> Select(const std::vector<Device>& devices) const;
};

// Checks an extended resource name: "domain/name", DNS-like domain, name of
// at most 63 characters, not in the kubernetes.io or k8s.io domains.
absl::Status ValidateResourceName(std::string_view name);

// The resources of the per-family strategy: "<domain>/<family>" on
// "<family>.sock" for every family, domain taken from `base_resource_name`.
std::vector<ResourceSpec> PerFamilyResources(std::string_view base_resource_name);

}  // namespace hailo_dp
