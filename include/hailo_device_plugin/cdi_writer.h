// CdiWriter: keeps one resource's CDI spec file current.
//
// Update() builds the spec for the given devices and replaces the file
// atomically when its content differs (also when someone deleted or changed
// it), and removes it when no device has a node to name: the CDI library
// refuses a spec without devices. On failure the previous file stays and the
// error names the path and the cause. Used from the monitor thread only; counters are
// atomic.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hailo_device_plugin/device.h"
#include "hailo_device_plugin/resource.h"

namespace hailo_dp {

// Hailo class directories that exist under `sys_root` ("hailo_chardev",
// "hailo1x"): the ones a container's view must mask.
std::vector<std::string> ExistingClassDirs(const std::string& sys_root);

class CdiWriter {
 public:
  CdiWriter(std::string cdi_dir, std::string sys_root, ResourceSpec resource);

  // Writes the spec for `devices` if it differs from the file; removes the
  // file when no device has a node to name (an empty spec is invalid CDI).
  absl::Status Update(const std::vector<Device>& devices);

  // After a failed Update: marks every healthy device of this resource that
  // the spec on disk does not name Unhealthy, so that Allocate never hands
  // out a name the runtime cannot resolve.
  void MarkUnresolvable(std::vector<Device>& devices, const absl::Status& why) const;

  const std::string& path() const { return path_; }
  uint64_t writes() const { return writes_.load(); }
  uint64_t failures() const { return failures_.load(); }

 private:
  absl::Status Remove();
  // Counts and logs (once per run of failures) the outcome of an Update.
  absl::Status Finish(const absl::Status& status);

  const std::string cdi_dir_;
  const std::string sys_root_;
  const ResourceSpec resource_;
  const std::string path_;
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> failures_{0};
  bool last_failed_ = false;
};

}  // namespace hailo_dp
