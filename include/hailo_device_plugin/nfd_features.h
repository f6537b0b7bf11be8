// Node labels through node-feature-discovery's local feature files.
//
// BuildNfdFeatures() renders the labels for a device list (pure);
// NfdFeatureWriter keeps one file in NFD's features.d directory current,
// replacing it atomically (hidden temp name, which NFD skips). Used from the
// monitor thread only.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hailo_device_plugin/device.h"

namespace hailo_dp {

// Lines "hailo.ai/<name>=<value>", sorted: present, count, family, per-family
// counts, driver and driver version (per module, and plain when only one).
std::string BuildNfdFeatures(const std::vector<Device>& devices);

class NfdFeatureWriter {
 public:
  explicit NfdFeatureWriter(std::string path) : path_(std::move(path)) {}
  absl::Status Update(const std::vector<Device>& devices);
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  bool last_failed_ = false;
};

}  // namespace hailo_dp
