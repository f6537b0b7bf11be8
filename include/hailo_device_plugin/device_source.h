// DeviceSource: discovers Hailo devices in a host tree and judges their health.
//
// It reads `<sys_root>/bus/pci/devices`, the Hailo class directories
// (`<sys_root>/class/hailo_chardev`, `<sys_root>/class/hailo1x`),
// `<sys_root>/module/<module>/version` and `<dev_root>`, for every driver
// layout the Hailo drivers have shipped. It never opens a device node.
//
// Scan() is not thread-safe (it keeps the AER baseline of the first scan); the
// monitor thread owns the instance. A missing or garbage file never fails a
// scan: the device concerned is skipped or marked unhealthy, and the scan
// result carries a warning that names the file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hailo_device_plugin/device.h"

namespace hailo_dp {

struct HostRoots {
  std::string sys_root = "/sys";
  std::string dev_root = "/dev";
};

struct ScanResult {
  // Sorted by id.
  std::vector<Device> devices;
  // One line per problem met, each naming the file and the reason.
  std::vector<std::string> warnings;
};

class DeviceSource {
 public:
  explicit DeviceSource(HostRoots roots);

  ScanResult Scan();

  const HostRoots& roots() const { return roots_; }

 private:
  HostRoots roots_;
  // TOTAL_ERR_FATAL per PCI address, as first seen; a rise marks unhealthy.
  std::map<std::string, uint64_t> aer_fatal_baseline_;
};

}  // namespace hailo_dp
