// FakeHostTree: a fake host `/sys` and `/dev` in a per-test temp directory.
//
// It builds the layouts the Hailo drivers have shipped (DESIGN.md §3) with
// the relative symlinks the kernel makes, so that DeviceSource (or anything
// else that takes HostRoots) can run against it:
//
//   <root>/sys/bus/pci/devices/<addr> -> ../../../devices/pci<dom>:00/<bridge>/<addr>
//   <pcidev>/{vendor,device,numa_node,enable,current_link_speed,config,...}
//   <pcidev>/driver -> ../../../../bus/pci/drivers/<driver>
//   <root>/sys/bus/pci/drivers/<driver>/module -> ../../../../module/<module>
//   <root>/sys/module/<module>/version
//   <root>/sys/class/<class>/<node> -> the class device (virtual or under <pcidev>)
//   <root>/dev/<node>: a real character device (mknod), when permitted
//
// The directory is made with mkdtemp under $TMPDIR (or /tmp) and removed by
// the destructor. Builder and fault methods report I/O failures as gtest
// failures (ADD_FAILURE) naming the path; they never throw. Not thread-safe.
//
// Note: this namespace is hailo_dp::testing; code inside namespace hailo_dp
// must spell gtest's namespace `::testing`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "hailo_device_plugin/device.h"
#include "hailo_device_plugin/device_source.h"

namespace hailo_dp::testing {

enum class Layout {
  // hailo_pci <= 4.22 (and 5.0.0): /sys/devices/virtual/hailo_chardev/hailoN,
  // no `device` link; the PCI address is only in `board_location`.
  kHailoPci422,
  // hailo_pci 4.23: <pcidev>/hailo_chardev/hailoN with a `device` link.
  kHailoPci423,
  // hailo1x_pci 5.0.1 - 5.2.x: as 4.23, module hailo1x_pci.
  kHailo1x52,
  // hailo1x_pci >= 5.3: <pcidev>/hailo1x/h1x-N; `device_id` holds the PCI
  // address; node /dev/h1x-N.
  kHailo1x53,
};

// One Hailo PCI function to create. Designated initializers must follow this
// order: {.pci_address, .family, .layout, .minor, .numa_node, ...}.
struct FakeDevice {
  std::string pci_address = "0000:03:00.0";
  Family family = Family::kHailo8;
  Layout layout = Layout::kHailoPci423;
  uint32_t minor = 0;
  // nullopt writes "-1" (no NUMA affinity).
  std::optional<int> numa_node = std::nullopt;
  // 0: the module's usual dynamic major (hailo_pci 510, hailo1x_pci 509).
  uint32_t major = 0;
  // Empty: a typical version of the layout ("4.20.0", "4.23.0", "5.1.1",
  // "5.3.0"). Devices on one module share its version file.
  std::string driver_version = "";
  // false: the function failed to probe: no driver link, class entry or node.
  bool probed = true;
  // Overrides the family's PCI device ID (e.g. an unknown Hailo ID).
  std::optional<uint16_t> pci_device_id = std::nullopt;
};

class FakeHostTree {
 public:
  FakeHostTree();
  ~FakeHostTree();
  FakeHostTree(const FakeHostTree&) = delete;
  FakeHostTree& operator=(const FakeHostTree&) = delete;

  // The temp directory; sys_root() and dev_root() are "sys" and "dev" in it.
  const std::string& root() const { return root_; }
  std::string sys_root() const { return root_ + "/sys"; }
  std::string dev_root() const { return root_ + "/dev"; }
  HostRoots roots() const { return HostRoots{sys_root(), dev_root()}; }
  // False once mknod failed with EPERM (not root): nodes are then absent, and
  // tests that need them should GTEST_SKIP().
  bool can_make_nodes() const { return can_make_nodes_; }

  // --- Building -------------------------------------------------------------
  void AddDevice(const FakeDevice& device);
  // Any PCI function (e.g. vendor 0x8086), with no Hailo class device. An
  // empty driver leaves it unbound.
  void AddPciFunction(std::string_view pci_address, uint16_t vendor, uint16_t device,
                      std::string_view driver = "");
  // An empty class directory, as a loaded driver with no device leaves it.
  void AddClassDir(std::string_view class_name);

  // --- Paths (as DeviceSource sees them) -----------------------------------
  // <sys>/bus/pci/devices/<addr>/<name>
  std::string PciAttributePath(std::string_view pci_address, std::string_view name) const;
  // <sys>/class/<class>/<node>/<name>; "" for a device without class entry.
  std::string ClassAttributePath(std::string_view pci_address,
                                 std::string_view name) const;
  // <dev>/<node>; "" for a device without node name.
  std::string NodePath(std::string_view pci_address) const;
  // "hailo0", "h1x-0"; "" if unknown.
  std::string NodeName(std::string_view pci_address) const;

  // --- Faults ----------------------------------------------------------------
  void RemoveNode(std::string_view pci_address);
  void ReplaceNodeWithFile(std::string_view pci_address);
  // Re-creates the node with other numbers (a stale node from an old major).
  void ReplaceNode(std::string_view pci_address, uint32_t major, uint32_t minor);
  // Removes the class device and its /sys/class link (the node stays).
  void RemoveClassEntry(std::string_view pci_address);
  // Removes only <pcidev>/driver; RestoreDriverLink puts it back.
  void RemoveDriverLink(std::string_view pci_address);
  void RestoreDriverLink(std::string_view pci_address);
  // What an unbind or a failed probe leaves: no driver link, class entry or node.
  void Unbind(std::string_view pci_address);
  void SetEnable(std::string_view pci_address, int enable);
  void SetLinkSpeed(std::string_view pci_address, std::string_view speed);
  void SetPowerState(std::string_view pci_address, std::string_view state);
  // Makes the config space read ff ff... (the device fell off the bus).
  void BreakConfigSpace(std::string_view pci_address);
  void SetAerFatal(std::string_view pci_address, uint64_t total);
  void BumpAerFatal(std::string_view pci_address);
  // Replaces any attribute (garbage, empty, ...).
  void WritePciAttribute(std::string_view pci_address, std::string_view name,
                         std::string_view content);
  void WriteClassAttribute(std::string_view pci_address, std::string_view name,
                           std::string_view content);
  void RemovePciAttribute(std::string_view pci_address, std::string_view name);
  // Hot-unplug: the PCI function, its class device, link and node go away.
  void RemovePciFunction(std::string_view pci_address);
  // Writes <root>/<relative_path>, creating parent directories.
  void WriteFile(std::string_view relative_path, std::string_view content);

 private:
  struct Record {
    std::string pci_dir;     // real directory under <sys>/devices
    std::string driver_dir;  // <sys>/bus/pci/drivers/<driver>; "" if none
    std::string class_name;  // "" when not probed
    std::string node_name;
    std::string class_device;  // real class device directory
    uint64_t aer_fatal = 0;
  };

  Record* Find(std::string_view pci_address);
  const Record* Find(std::string_view pci_address) const;
  std::string CreatePciFunction(std::string_view pci_address, uint16_t vendor,
                                uint16_t device, std::optional<int> numa_node);
  void BindDriver(std::string_view driver, std::string_view module,
                  std::string_view version, Record* record);
  void CreateClassDevice(const FakeDevice& device, uint16_t device_id, uint32_t major,
                         Record* record);
  void MakeNode(const std::string& name, uint32_t major, uint32_t minor);

  std::string root_;
  bool can_make_nodes_ = true;
  std::map<std::string, Record, std::less<>> records_;  // by PCI address
};

}  // namespace hailo_dp::testing
