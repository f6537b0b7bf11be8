// Config: every setting of the daemon, in one versioned struct.
//
// Sources, strongest first: command-line flags, HAILO_DP_<FLAG> environment
// variables, the YAML file named by --config, built-in defaults. Loading
// validates everything before anything starts; an error names the source
// (file or flag), the key and the reason. A value type.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hailo_device_plugin/allocation.h"
#include "hailo_device_plugin/device.h"
#include "hailo_device_plugin/resource.h"

namespace hailo_dp {

enum class ResourceStrategy { kSingle, kPerFamily };

struct Config {
  std::string config_file;  // empty: none
  std::string kubelet_dir = "/var/lib/kubelet/device-plugins";
  std::string cdi_dir = "/var/run/cdi";
  std::string resource_name{kDefaultResourceName};
  std::string socket_name{kDefaultSocketName};
  ResourceStrategy resource_strategy = ResourceStrategy::kSingle;
  std::chrono::milliseconds rescan_interval{30000};
  unsigned allocation_modes = kModeCdiCri;
  std::string sys_root = "/sys";
  std::string dev_root = "/dev";
  std::string log_level = "info";
  std::string log_format = "text";
  std::string http_address = ":8080";
  std::string nfd_features_file;  // empty: off
  // Sharing per family; families not listed are not shared.
  SharingMap sharing;

  bool operator==(const Config&) const = default;

  // The resources this config advertises.
  std::vector<ResourceSpec> Resources() const;
};

// Where each effective value came from, by key ("flag", "env", "file",
// "default").
using ConfigOrigins = std::map<std::string, std::string>;

}  // namespace hailo_dp
