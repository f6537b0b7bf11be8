#include "hailo_device_plugin/device_source.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hailo_device_plugin/sysfs_parse.h"
#include "hailo_device_plugin/sysfs_read.h"

namespace hailo_dp {
namespace {

using Warnings = std::vector<std::string>;
using Reason = std::optional<std::string>;  // why unhealthy; nullopt = fine
using Baseline = std::map<std::string, uint64_t>;

constexpr char kNoDriverReason[] =
    "no driver bound: the device failed to probe (firmware or driver missing?)";

// Every class layout, with the attribute that names an entry's PCI address.
struct ClassLayout {
  const char* class_name;
  const char* address_attribute;
};
constexpr ClassLayout kClassLayouts[] = {
    {"hailo_chardev", "board_location"},  // hailo_pci; hailo1x_pci < 5.3
    {"hailo1x", "device_id"},             // hailo1x_pci >= 5.3
};

// Records an unreadable or garbage file; its message is also the reason.
std::string Unreadable(const absl::Status& status, Warnings* warnings) {
  warnings->push_back(StatusMessage(status));
  return StatusMessage(status);
}

// --- Class devices -----------------------------------------------------------

struct ClassEntry {
  std::string class_name;
  std::string node_name;
  std::string dev_path;
  absl::StatusOr<MajorMinor> dev;
};
using ClassMap = std::map<std::string, ClassEntry>;  // by PCI address

// An entry's PCI address: its address attribute, else the basename of its
// `device` link (the <= 4.22 layout has none).
absl::StatusOr<std::string> EntryAddress(const std::string& entry,
                                         const char* attribute) {
  absl::StatusOr<std::string> address =
      ReadParsed<std::string>(PathJoin(entry, attribute), ParsePciAddress);
  if (address.ok()) return address;
  absl::StatusOr<std::string> link = ReadLink(PathJoin(entry, "device"));
  absl::StatusOr<std::string> linked =
      link.ok() ? ParsePciAddress(Basename(*link)) : link.status();
  return linked.ok() ? linked : address.status();
}

void AddClassEntries(const std::string& sys_root, const ClassLayout& layout,
                     ClassMap* entries, Warnings* warnings) {
  const std::string dir = sys_root + "/class/" + layout.class_name;
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (absl::IsNotFound(names.status())) return;  // driver not loaded: fine
  if (!names.ok()) return warnings->push_back(StatusMessage(names.status()));
  for (const std::string& name : *names) {
    const std::string entry = PathJoin(dir, name);
    absl::StatusOr<std::string> address = EntryAddress(entry, layout.address_attribute);
    if (!address.ok()) {
      warnings->push_back(StatusMessage(address.status()) + " (entry ignored)");
      continue;
    }
    const std::string dev_path = PathJoin(entry, "dev");
    ClassEntry value{layout.class_name, name, dev_path,
                     ReadParsed<MajorMinor>(dev_path, ParseMajorMinor)};
    auto [it, inserted] = entries->try_emplace(*address, std::move(value));
    if (!inserted) {
      warnings->push_back(entry + ": " + *address + " already has " +
                          it->second.node_name + " (entry ignored)");
    }
  }
}

// --- PCI functions -----------------------------------------------------------

struct HailoFunction {
  std::string address;  // normalised
  std::string dir;      // <sys>/bus/pci/devices/<address as listed>
  Family family;
};

// A Hailo function with a known device ID, or nullopt (with a warning when
// a file is unreadable or the Hailo device ID unknown).
std::optional<HailoFunction> ProbeFunction(const std::string& dir, Warnings* warnings) {
  absl::StatusOr<std::string> address = ParsePciAddress(Basename(dir));
  absl::StatusOr<uint16_t> vendor =
      address.ok() ? ReadParsed<uint16_t>(PathJoin(dir, "vendor"), ParseHexId)
                   : WithPath(dir, address.status());
  if (vendor.ok() && *vendor != kHailoPciVendor) return std::nullopt;
  absl::StatusOr<uint16_t> device =
      vendor.ok() ? ReadParsed<uint16_t>(PathJoin(dir, "device"), ParseHexId) : vendor;
  if (!device.ok()) {
    warnings->push_back(StatusMessage(device.status()) + " (function skipped)");
    return std::nullopt;
  }
  const std::optional<Family> family = FamilyFromPciDeviceId(*device);
  if (!family.has_value()) {
    char id[8];
    std::snprintf(id, sizeof id, "%04x", *device);
    warnings->push_back(PathJoin(dir, "device") + ": unknown Hailo device ID 0x" + id +
                        " (function ignored)");
    return std::nullopt;
  }
  return HailoFunction{*std::move(address), dir, *family};
}

// Fills driver, driver_version and numa_node.
void ReadDriverAndNuma(const std::string& sys_root, const std::string& dir,
                       Device* device, Warnings* warnings) {
  std::vector<absl::Status> problems;
  absl::StatusOr<std::string> driver = ReadLink(PathJoin(dir, "driver"));
  if (driver.ok()) {
    absl::StatusOr<std::string> module = ReadLink(PathJoin(dir, "driver/module"));
    device->driver = std::string(Basename(module.ok() ? *module : *driver));
    const std::string path = sys_root + "/module/" + *device->driver + "/version";
    absl::StatusOr<std::string> version = ReadFile(path);
    if (version.ok() && !TrimAttribute(*version).empty()) {
      device->driver_version = std::string(TrimAttribute(*version));
    }
    problems.push_back(version.status());
  }
  problems.push_back(driver.status());
  absl::StatusOr<std::optional<int>> numa =
      ReadParsed<std::optional<int>>(PathJoin(dir, "numa_node"), ParseNumaNode);
  if (numa.ok()) device->numa_node = *numa;
  problems.push_back(numa.status());
  for (const absl::Status& status : problems) {
    if (!status.ok() && !absl::IsNotFound(status)) {
      warnings->push_back(StatusMessage(status));
    }
  }
}

// --- Health: each check says why the device is unhealthy, or nullopt. A
// missing optional file passes; an unreadable or garbage one fails (warned).

Reason CheckNode(const std::string& node_path, const ClassEntry& entry) {
  struct stat st {};
  if (::stat(node_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return node_path + " is missing";
    return StatusMessage(absl::ErrnoToStatus(errno, node_path));
  }
  if (!S_ISCHR(st.st_mode)) return node_path + " is not a character device";
  const MajorMinor node{major(st.st_rdev), minor(st.st_rdev)};
  if (node == *entry.dev) return std::nullopt;
  auto text = [](MajorMinor mm) {
    return std::to_string(mm.major) + ":" + std::to_string(mm.minor);
  };
  return node_path + " is " + text(node) + " but " + entry.dev_path + " says " +
         text(*entry.dev);
}

Reason CheckEnable(const std::string& dir, Warnings* w) {
  const std::string path = PathJoin(dir, "enable");
  absl::StatusOr<int64_t> enable = ReadParsed<int64_t>(path, ParseInteger);
  if (absl::IsNotFound(enable.status())) return std::nullopt;
  if (!enable.ok()) return Unreadable(enable.status(), w);
  if (*enable != 0) return std::nullopt;
  return "PCI function disabled (" + path + " is 0)";
}

// Kernels before 5.5 say "Unknown speed", later ones "Unknown".
Reason CheckLink(const std::string& dir, Warnings* w) {
  const std::string path = PathJoin(dir, "current_link_speed");
  absl::StatusOr<std::string> speed = ReadFile(path);
  if (absl::IsNotFound(speed.status())) return std::nullopt;
  if (!speed.ok()) return Unreadable(speed.status(), w);
  if (TrimAttribute(*speed).substr(0, 7) != "Unknown") return std::nullopt;
  return "PCIe link down (" + path + ": Unknown)";
}

Reason CheckConfig(const std::string& dir, Warnings* w) {
  const std::string path = PathJoin(dir, "config");
  absl::StatusOr<std::string> config = ReadFile(path, 2);
  if (absl::IsNotFound(config.status())) return std::nullopt;
  if (config.ok() && config->size() < 2) {
    config = absl::DataLossError(path + ": shorter than 2 bytes");
  }
  if (!config.ok()) return Unreadable(config.status(), w);
  if (*config != "\xff\xff") return std::nullopt;
  return "config space reads ff ff: the device is gone from the bus (" + path + ")";
}

// Runs on every scan, whatever else fails, to keep the baseline current.
Reason CheckAer(const HailoFunction& function, Baseline* baseline, Warnings* w) {
  const std::string path = PathJoin(function.dir, "aer_dev_fatal");
  absl::StatusOr<uint64_t> fatal = ReadParsed<uint64_t>(path, ParseAerTotalFatal);
  if (absl::IsNotFound(fatal.status())) return std::nullopt;
  if (!fatal.ok()) return Unreadable(fatal.status(), w);
  auto [it, inserted] = baseline->try_emplace(function.address, *fatal);
  if (*fatal <= it->second) {
    it->second = *fatal;  // a lower count: a new instance of the device
    return std::nullopt;
  }
  return "fatal PCIe errors rose from " + std::to_string(it->second) + " to " +
         std::to_string(*fatal) + " (TOTAL_ERR_FATAL in " + path + ")";
}

// First failing rule wins; empty when healthy. Every check runs, so every
// garbage file is warned about.
std::string JudgeHealth(const HostRoots& roots, const HailoFunction& function,
                        const Device& device, const ClassEntry* entry, Baseline* baseline,
                        Warnings* w) {
  std::vector<Reason> reasons;
  if (!device.driver.has_value()) reasons.push_back(kNoDriverReason);
  if (entry == nullptr) {
    reasons.push_back("no class device: no entry in " + roots.sys_root +
                      "/class/hailo_chardev or hailo1x is for " + function.address);
  } else if (!entry->dev.ok()) {
    reasons.push_back(Unreadable(entry->dev.status(), w));
  } else {
    reasons.push_back(CheckNode(PathJoin(roots.dev_root, entry->node_name), *entry));
  }
  reasons.push_back(CheckEnable(function.dir, w));
  reasons.push_back(CheckLink(function.dir, w));
  reasons.push_back(CheckConfig(function.dir, w));
  reasons.push_back(CheckAer(function, baseline, w));
  for (Reason& reason : reasons) {
    if (reason.has_value()) return *std::move(reason);
  }
  return "";
}

Device BuildDevice(const HostRoots& roots, const HailoFunction& function,
                   const ClassMap& entries, Baseline* baseline, Warnings* w) {
  Device device;
  device.id = DeviceIdFromPciAddress(function.address);
  device.pci_address = function.address;
  device.family = function.family;
  ReadDriverAndNuma(roots.sys_root, function.dir, &device, w);
  const auto it = entries.find(function.address);
  const ClassEntry* entry = it == entries.end() ? nullptr : &it->second;
  if (entry != nullptr) {
    device.class_name = entry->class_name;
    device.node_name = entry->node_name;
  }
  device.reason = JudgeHealth(roots, function, device, entry, baseline, w);
  device.healthy = device.reason.empty();
  return device;
}

}  // namespace

DeviceSource::DeviceSource(HostRoots roots) : roots_(std::move(roots)) {}

ScanResult DeviceSource::Scan() {
  ScanResult result;
  ClassMap entries;
  for (const ClassLayout& layout : kClassLayouts) {
    AddClassEntries(roots_.sys_root, layout, &entries, &result.warnings);
  }
  const std::string pci_dir = roots_.sys_root + "/bus/pci/devices";
  absl::StatusOr<std::vector<std::string>> names = ListDir(pci_dir);
  if (!names.ok()) result.warnings.push_back(StatusMessage(names.status()));
  std::set<std::string> present;
  for (const std::string& name : names.value_or(std::vector<std::string>())) {
    std::optional<HailoFunction> function =
        ProbeFunction(PathJoin(pci_dir, name), &result.warnings);
    if (!function.has_value()) continue;
    present.insert(function->address);
    result.devices.push_back(
        BuildDevice(roots_, *function, entries, &aer_fatal_baseline_, &result.warnings));
  }
  // A function that left (hot-unplug) gets a fresh baseline if it returns.
  std::erase_if(aer_fatal_baseline_,
                [&present](const auto& entry) { return !present.contains(entry.first); });
  std::sort(result.devices.begin(), result.devices.end(),
            [](const Device& a, const Device& b) { return a.id < b.id; });
  return result;
}

}  // namespace hailo_dp
