#include "testing/fake_host_tree.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace hailo_dp::testing {
namespace {

namespace fs = std::filesystem;

// What each driver layout looks like (DESIGN.md §3; pci_driver names from
// hailort-drivers: "hailo" in hailo_pci, "hailo1x" in hailo1x_pci).
struct LayoutInfo {
  const char* class_name;
  const char* node_prefix;
  const char* driver;
  const char* module;
  const char* version;
  uint32_t major;
  bool virtual_parent;        // class device under /sys/devices/virtual
  bool address_in_device_id;  // 5.3: device_id holds the PCI address
};

const LayoutInfo& InfoOf(Layout layout) {
  static const LayoutInfo k422{"hailo_chardev", "hailo", "hailo", "hailo_pci",
                               "4.20.0",        510,     true,    false};
  static const LayoutInfo k423{"hailo_chardev", "hailo", "hailo", "hailo_pci",
                               "4.23.0",        510,     false,   false};
  static const LayoutInfo k52{"hailo_chardev", "hailo", "hailo1x", "hailo1x_pci",
                              "5.1.1",         509,     false,     false};
  static const LayoutInfo k53{"hailo1x", "h1x-", "hailo1x", "hailo1x_pci",
                              "5.3.0",   509,    false,     true};
  switch (layout) {
    case Layout::kHailoPci422:
      return k422;
    case Layout::kHailoPci423:
      return k423;
    case Layout::kHailo1x52:
      return k52;
    case Layout::kHailo1x53:
      return k53;
  }
  return k423;
}

uint16_t PciIdOf(Family family) {
  switch (family) {
    case Family::kHailo8:
      return 0x2864;
    case Family::kHailo10H:
      return 0x45c4;
    case Family::kHailo15L:
      return 0x43a2;
    case Family::kHailo12L:
      return 0x26a2;
  }
  return 0;
}

std::string Hex4(uint16_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "%04x", value);
  return text;
}

void MakeDirs(const std::string& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) ADD_FAILURE() << "mkdir -p " << path << ": " << error.message();
}

void Remove(const std::string& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) ADD_FAILURE() << "rm -rf " << path << ": " << error.message();
}

void Write(const std::string& path, std::string_view content) {
  MakeDirs(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) ADD_FAILURE() << "write " << path << ": " << std::strerror(errno);
}

// A symlink at `link` to `target`, relative when `target` is absolute.
void Symlink(const std::string& target, const std::string& link) {
  const fs::path parent = fs::path(link).parent_path();
  MakeDirs(parent);
  std::error_code error;
  fs::remove(link, error);
  const fs::path relative = fs::path(target).is_absolute()
                                ? fs::path(target).lexically_relative(parent)
                                : fs::path(target);
  fs::create_symlink(relative, link, error);
  if (error)
    ADD_FAILURE() << "ln -s " << relative << " " << link << ": " << error.message();
}

std::string AerFatalText(uint64_t total) {
  const std::string n = std::to_string(total);
  return "Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 0\nCmpltAbrt 0\n"
         "UnxCmplt 0\nRxOF 0\nMalfTLP " +
         n +
         "\nECRC 0\nUnsupReq 0\nACSViol 0\n"
         "UncorrIntErr 0\nBlockedTLP 0\nAtomicOpBlocked 0\nTLPBlockedErr 0\n"
         "PoisonTLPBlocked 0\nTOTAL_ERR_FATAL " +
         n + "\n";
}

// 256 bytes of type-0 config header: IDs little endian, class 0x120000.
std::string ConfigSpace(uint16_t vendor, uint16_t device) {
  std::string config(256, '\0');
  config[0] = static_cast<char>(vendor & 0xff);
  config[1] = static_cast<char>(vendor >> 8);
  config[2] = static_cast<char>(device & 0xff);
  config[3] = static_cast<char>(device >> 8);
  config[0x0b] = 0x12;  // base class: processing accelerator
  return config;
}

}  // namespace

FakeHostTree::FakeHostTree() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/hdp-fake-host.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << pattern << ": " << std::strerror(errno);
  }
  root_ = pattern;
  MakeDirs(sys_root() + "/bus/pci/devices");
  MakeDirs(sys_root() + "/bus/pci/drivers");
  MakeDirs(sys_root() + "/class");
  MakeDirs(sys_root() + "/module");
  MakeDirs(dev_root());
}

FakeHostTree::~FakeHostTree() {
  std::error_code error;
  fs::remove_all(root_, error);
}

void FakeHostTree::AddDevice(const FakeDevice& device) {
  const uint16_t device_id = device.pci_device_id.value_or(PciIdOf(device.family));
  Record record;
  record.pci_dir =
      CreatePciFunction(device.pci_address, kHailoPciVendor, device_id, device.numa_node);
  if (device.probed) {
    const LayoutInfo& info = InfoOf(device.layout);
    BindDriver(info.driver, info.module,
               device.driver_version.empty() ? info.version : device.driver_version,
               &record);
    const uint32_t major = device.major != 0 ? device.major : info.major;
    CreateClassDevice(device, device_id, major, &record);
    MakeNode(record.node_name, major, device.minor);
  }
  records_.insert_or_assign(device.pci_address, std::move(record));
}

void FakeHostTree::AddPciFunction(std::string_view pci_address, uint16_t vendor,
                                  uint16_t device, std::string_view driver) {
  Record record;
  record.pci_dir = CreatePciFunction(pci_address, vendor, device, std::nullopt);
  if (!driver.empty()) BindDriver(driver, driver, "", &record);
  records_.insert_or_assign(std::string(pci_address), std::move(record));
}

void FakeHostTree::AddClassDir(std::string_view class_name) {
  MakeDirs(sys_root() + "/class/" + std::string(class_name));
}

std::string FakeHostTree::CreatePciFunction(std::string_view pci_address, uint16_t vendor,
                                            uint16_t device,
                                            std::optional<int> numa_node) {
  const std::string address(pci_address);
  const std::string domain = address.substr(0, address.find(':'));
  const std::string bus = address.substr(domain.size() + 1, 2);
  std::string dir = sys_root() + "/devices/pci" + domain + ":00";
  if (bus != "00") dir += "/" + domain + ":00:1c.0";  // the root port
  dir += "/" + address;
  MakeDirs(dir);
  Write(dir + "/vendor", "0x" + Hex4(vendor) + "\n");
  Write(dir + "/device", "0x" + Hex4(device) + "\n");
  Write(dir + "/class", "0x120000\n");
  Write(dir + "/numa_node", std::to_string(numa_node.value_or(-1)) + "\n");
  Write(dir + "/enable", "1\n");
  Write(dir + "/current_link_speed", "8.0 GT/s PCIe\n");
  Write(dir + "/current_link_width", "4\n");
  Write(dir + "/power_state", "D0\n");
  Write(dir + "/config", ConfigSpace(vendor, device));
  Write(dir + "/aer_dev_fatal", AerFatalText(0));
  Symlink(dir, sys_root() + "/bus/pci/devices/" + address);
  return dir;
}

void FakeHostTree::BindDriver(std::string_view driver, std::string_view module,
                              std::string_view version, Record* record) {
  record->driver_dir = sys_root() + "/bus/pci/drivers/" + std::string(driver);
  const std::string module_dir = sys_root() + "/module/" + std::string(module);
  MakeDirs(module_dir);
  if (!version.empty()) Write(module_dir + "/version", std::string(version) + "\n");
  Symlink(module_dir, record->driver_dir + "/module");
  Symlink(record->driver_dir, record->pci_dir + "/driver");
}

void FakeHostTree::CreateClassDevice(const FakeDevice& device, uint16_t device_id,
                                     uint32_t major, Record* record) {
  const LayoutInfo& info = InfoOf(device.layout);
  record->class_name = info.class_name;
  record->node_name = info.node_prefix + std::to_string(device.minor);
  const std::string parent =
      info.virtual_parent ? sys_root() + "/devices/virtual" : record->pci_dir;
  const std::string dir = parent + "/" + info.class_name + "/" + record->node_name;
  record->class_device = dir;
  const std::string mm = std::to_string(major) + ":" + std::to_string(device.minor);
  Write(dir + "/dev", mm + "\n");
  Write(dir + "/uevent", "MAJOR=" + std::to_string(major) +
                             "\nMINOR=" + std::to_string(device.minor) +
                             "\nDEVNAME=" + record->node_name + "\n");
  // Hailo attributes have no trailing newline.
  if (info.address_in_device_id) {
    Write(dir + "/device_id", device.pci_address);
  } else {
    Write(dir + "/board_location", device.pci_address);
    Write(dir + "/device_id", "1e60:" + Hex4(device_id));
    Write(dir + "/accelerator_type", device.family == Family::kHailo8 ? "0" : "1");
  }
  // The kernel's link from a class device to its parent goes up one level
  // further than needed: "../../../0000:03:00.0".
  if (!info.virtual_parent) Symlink("../../../" + device.pci_address, dir + "/device");
  const std::string class_dir = sys_root() + "/class/" + info.class_name;
  Symlink(class_dir, dir + "/subsystem");
  Symlink(dir, class_dir + "/" + record->node_name);
}

void FakeHostTree::MakeNode(const std::string& name, uint32_t major, uint32_t minor) {
  const std::string path = dev_root() + "/" + name;
  std::error_code error;
  fs::remove(path, error);
  if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(major, minor)) == 0) {
    ::chmod(path.c_str(), 0666);  // as the driver's udev rule does, whatever the umask
    return;
  }
  if (errno == EPERM) {
    can_make_nodes_ = false;
    return;
  }
  ADD_FAILURE() << "mknod " << path << ": " << std::strerror(errno);
}

FakeHostTree::Record* FakeHostTree::Find(std::string_view pci_address) {
  const auto it = records_.find(pci_address);
  if (it != records_.end()) return &it->second;
  ADD_FAILURE() << "FakeHostTree: no PCI function " << pci_address;
  return nullptr;
}

const FakeHostTree::Record* FakeHostTree::Find(std::string_view pci_address) const {
  return const_cast<FakeHostTree*>(this)->Find(pci_address);
}

std::string FakeHostTree::PciAttributePath(std::string_view pci_address,
                                           std::string_view name) const {
  return sys_root() + "/bus/pci/devices/" + std::string(pci_address) + "/" +
         std::string(name);
}

std::string FakeHostTree::ClassAttributePath(std::string_view pci_address,
                                             std::string_view name) const {
  const Record* record = Find(pci_address);
  if (record == nullptr || record->class_name.empty()) return "";
  return sys_root() + "/class/" + record->class_name + "/" + record->node_name + "/" +
         std::string(name);
}

std::string FakeHostTree::NodePath(std::string_view pci_address) const {
  const std::string name = NodeName(pci_address);
  return name.empty() ? "" : dev_root() + "/" + name;
}

std::string FakeHostTree::NodeName(std::string_view pci_address) const {
  const Record* record = Find(pci_address);
  return record == nullptr ? "" : record->node_name;
}

void FakeHostTree::RemoveNode(std::string_view pci_address) {
  const std::string path = NodePath(pci_address);
  if (!path.empty()) Remove(path);
}

void FakeHostTree::ReplaceNodeWithFile(std::string_view pci_address) {
  const std::string path = NodePath(pci_address);
  if (path.empty()) return;
  Remove(path);
  Write(path, "not a device node\n");
}

void FakeHostTree::ReplaceNode(std::string_view pci_address, uint32_t major,
                               uint32_t minor) {
  const std::string name = NodeName(pci_address);
  if (!name.empty()) MakeNode(name, major, minor);
}

void FakeHostTree::RemoveClassEntry(std::string_view pci_address) {
  Record* record = Find(pci_address);
  if (record == nullptr || record->class_name.empty()) return;
  Remove(sys_root() + "/class/" + record->class_name + "/" + record->node_name);
  Remove(record->class_device);
}

void FakeHostTree::RemoveDriverLink(std::string_view pci_address) {
  if (const Record* record = Find(pci_address)) Remove(record->pci_dir + "/driver");
}

void FakeHostTree::RestoreDriverLink(std::string_view pci_address) {
  const Record* record = Find(pci_address);
  if (record != nullptr && !record->driver_dir.empty()) {
    Symlink(record->driver_dir, record->pci_dir + "/driver");
  }
}

void FakeHostTree::Unbind(std::string_view pci_address) {
  RemoveDriverLink(pci_address);
  RemoveClassEntry(pci_address);
  RemoveNode(pci_address);
}

void FakeHostTree::SetEnable(std::string_view pci_address, int enable) {
  WritePciAttribute(pci_address, "enable", std::to_string(enable) + "\n");
}

void FakeHostTree::SetLinkSpeed(std::string_view pci_address, std::string_view speed) {
  WritePciAttribute(pci_address, "current_link_speed", std::string(speed) + "\n");
}

void FakeHostTree::SetPowerState(std::string_view pci_address, std::string_view state) {
  WritePciAttribute(pci_address, "power_state", std::string(state) + "\n");
}

void FakeHostTree::BreakConfigSpace(std::string_view pci_address) {
  WritePciAttribute(pci_address, "config", std::string(256, '\xff'));
}

void FakeHostTree::SetAerFatal(std::string_view pci_address, uint64_t total) {
  if (Record* record = Find(pci_address)) {
    record->aer_fatal = total;
    Write(record->pci_dir + "/aer_dev_fatal", AerFatalText(total));
  }
}

void FakeHostTree::BumpAerFatal(std::string_view pci_address) {
  if (const Record* record = Find(pci_address)) {
    SetAerFatal(pci_address, record->aer_fatal + 1);
  }
}

void FakeHostTree::WritePciAttribute(std::string_view pci_address, std::string_view name,
                                     std::string_view content) {
  if (const Record* record = Find(pci_address)) {
    Write(record->pci_dir + "/" + std::string(name), content);
  }
}

void FakeHostTree::WriteClassAttribute(std::string_view pci_address,
                                       std::string_view name, std::string_view content) {
  const Record* record = Find(pci_address);
  if (record == nullptr || record->class_device.empty()) {
    ADD_FAILURE() << "FakeHostTree: " << pci_address << " has no class device";
    return;
  }
  Write(record->class_device + "/" + std::string(name), content);
}

void FakeHostTree::RemovePciAttribute(std::string_view pci_address,
                                      std::string_view name) {
  if (const Record* record = Find(pci_address)) {
    Remove(record->pci_dir + "/" + std::string(name));
  }
}

void FakeHostTree::RemovePciFunction(std::string_view pci_address) {
  const Record* record = Find(pci_address);
  if (record == nullptr) return;
  RemoveClassEntry(pci_address);
  RemoveNode(pci_address);
  Remove(sys_root() + "/bus/pci/devices/" + std::string(pci_address));
  Remove(record->pci_dir);
  records_.erase(records_.find(pci_address));
}

void FakeHostTree::WriteFile(std::string_view relative_path, std::string_view content) {
  Write(root_ + "/" + std::string(relative_path), content);
}

}  // namespace hailo_dp::testing
