#include "hailo_device_plugin/commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "hailo_device_plugin/atomic_file.h"
#include "hailo_device_plugin/cdi_spec.h"
#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/config_loader.h"
#include "hailo_device_plugin/resource.h"
#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

nlohmann::json OptionalJson(const std::optional<std::string>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

ScanResult ScanAndWarn(const HostRoots& roots) {
  DeviceSource source(roots);
  ScanResult result = source.Scan();
  for (const std::string& w : result.warnings) std::cerr << "warning: " << w << "\n";
  return result;
}

std::string Cell(const std::optional<std::string>& v) { return v.value_or("-"); }

std::vector<Device> SortedById(std::vector<Device> devices) {
  std::sort(devices.begin(), devices.end(),
            [](const Device& a, const Device& b) { return a.id < b.id; });
  return devices;
}

// One table row; the reason goes last and unpadded, so a long one is never cut.
std::string Row(const std::string& id, const std::string& address,
                const std::string& node, const std::string& family,
                const std::string& driver, const std::string& version,
                const std::string& numa, const std::string& health,
                const std::string& reason) {
  return fmt::format("{:<14} {:<14} {:<12} {:<9} {:<12} {:<9} {:<5} {:<9} {}\n", id,
                     address, node, family, driver, version, numa, health, reason);
}

}  // namespace

std::string DevicesToJson(const std::vector<Device>& devices) {
  nlohmann::json out = nlohmann::json::array();
  for (const Device& d : SortedById(devices)) {
    out.push_back(
        {{"id", d.id},
         {"pci_address", d.pci_address},
         {"device_node", d.HasNode() ? nlohmann::json(d.HostNodePath()) : nullptr},
         {"family", FamilyName(d.family)},
         {"driver", OptionalJson(d.driver)},
         {"driver_version", OptionalJson(d.driver_version)},
         {"numa_node", d.numa_node ? nlohmann::json(*d.numa_node) : nullptr},
         {"health", d.healthy ? kHealthy : kUnhealthy},
         {"reason", d.reason}});
  }
  return out.dump(2) + "\n";
}

std::string DevicesToTable(const std::vector<Device>& devices, const HostRoots& roots) {
  if (devices.empty()) {
    return Cat("No Hailo device found (looked for PCI vendor 0x1e60 in ", roots.sys_root,
               "/bus/pci/devices and for nodes in ", roots.dev_root, ").\n");
  }
  std::string out = Row("ID", "PCI ADDRESS", "NODE", "FAMILY", "DRIVER", "VERSION",
                        "NUMA", "HEALTH", "REASON");
  for (const Device& d : SortedById(devices)) {
    out += Row(d.id, d.pci_address, d.HasNode() ? d.HostNodePath() : "-",
               std::string(FamilyName(d.family)), Cell(d.driver), Cell(d.driver_version),
               d.numa_node ? std::to_string(*d.numa_node) : "-",
               std::string(d.healthy ? kHealthy : kUnhealthy), d.reason);
  }
  return out;
}

int RunDiscover(const HostRoots& roots, const std::string& output) {
  ScanResult result = ScanAndWarn(roots);
  std::cout << (output == "json" ? DevicesToJson(result.devices)
                                 : DevicesToTable(result.devices, roots));
  return 0;
}

int RunCdiGenerate(const HostRoots& roots, const std::string& resource_name,
                   const std::string& output) {
  // The resource name is the CDI kind: a bad one makes a spec no runtime reads.
  if (absl::Status valid = ValidateResourceName(resource_name); !valid.ok()) {
    std::cerr << "hailo-device-plugin: --resource-name: " << valid.message() << "\n";
    return 2;
  }
  ScanResult result = ScanAndWarn(roots);
  CdiSpecOptions options{resource_name, ExistingClassDirs(roots.sys_root)};
  nlohmann::json built = BuildCdiSpec(result.devices, options);
  if (built["devices"].empty()) {
    std::cerr << "hailo-device-plugin: no Hailo device with a device node under "
              << roots.sys_root << " and " << roots.dev_root
              << ": a CDI spec must name at least one device; nothing written\n";
    return 1;
  }
  std::string spec = SerializeCdiSpec(built);
  if (output == "-") {
    std::cout << spec;
    return 0;
  }
  auto outcome = WriteFileAtomically(output, spec, 0644);
  if (!outcome.ok()) {
    std::cerr << "hailo-device-plugin: " << outcome.status().message() << "\n";
    return 1;
  }
  std::cerr << (*outcome == WriteOutcome::kWritten ? "wrote " : "unchanged ") << output
            << " (" << result.devices.size() << " device(s))\n";
  return 0;
}

int RunConfigPrint(const FlagValues& flags) {
  auto loaded = LoadConfig(flags, [](const char* name) { return std::getenv(name); });
  if (!loaded.ok()) {
    std::cerr << "hailo-device-plugin: " << loaded.status().message() << "\n";
    return 2;
  }
  std::cout << RenderConfig(*loaded);
  return 0;
}

}  // namespace hailo_dp
