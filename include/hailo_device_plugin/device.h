// Device: one Hailo PCI function as the daemon sees it after a scan.
//
// A Device is a plain value: it is copied into snapshots, compared to detect
// change and handed to the pure functions that build CDI specs and gRPC
// answers. It holds no handles and is safe to share read-only between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hailo_dp {

inline constexpr uint16_t kHailoPciVendor = 0x1e60;

enum class Family { kHailo8, kHailo10H, kHailo15L, kHailo12L };

// "hailo8", "hailo10h", "hailo15l", "hailo12l".
std::string_view FamilyName(Family family);
// Inverse of FamilyName; nullopt for an unknown name.
std::optional<Family> FamilyFromName(std::string_view name);
// Family of a Hailo PCI device ID (0x2864 -> kHailo8, ...); nullopt if unknown.
std::optional<Family> FamilyFromPciDeviceId(uint16_t device_id);
// Every family, in a fixed order.
const std::vector<Family>& AllFamilies();

inline constexpr std::string_view kHealthy = "Healthy";
inline constexpr std::string_view kUnhealthy = "Unhealthy";

struct Device {
  // Stable ID: the PCI address in lower case, ':' replaced by '-'.
  std::string id;
  // PCI address as sysfs spells it, e.g. "0001:01:00.0".
  std::string pci_address;
  Family family = Family::kHailo8;
  // sysfs class of the character device ("hailo_chardev" or "hailo1x") and
  // the entry's name ("hailo0", "h1x-0"); both empty when the function has no
  // class device (it failed to probe).
  std::string class_name;
  std::string node_name;
  // Kernel module bound to the function (e.g. "hailo_pci"); nullopt if none.
  std::optional<std::string> driver;
  std::optional<std::string> driver_version;
  std::optional<int> numa_node;
  bool healthy = false;
  // Why the device is unhealthy; empty exactly when healthy.
  std::string reason;

  bool HasNode() const { return !node_name.empty(); }
  // Host path of the device node, e.g. "/dev/hailo0"; empty without a node.
  std::string HostNodePath() const;
  // Host path of the class entry, e.g. "/sys/class/hailo_chardev/hailo0".
  std::string HostClassEntryPath() const;
  // Host path of the class directory, e.g. "/sys/class/hailo_chardev".
  std::string HostClassDirPath() const;

  bool operator==(const Device&) const = default;
};

// Turns "0001:01:00.0" into the device ID "0001-01-00.0".
std::string DeviceIdFromPciAddress(std::string_view pci_address);

}  // namespace hailo_dp
