#include "hailo_device_plugin/commands.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>

#include "hailo_device_plugin/strings.h"
#include "hailo_device_plugin/atomic_file.h"
#include "hailo_device_plugin/cdi_spec.h"
#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/config_loader.h"

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

}  // namespace

std::string DevicesToJson(const std::vector<Device>& devices) {
  nlohmann::json out = nlohmann::json::array();
  for (const Device& d : devices) {
    out.push_back({{"id", d.id},
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
    return Cat("No Hailo device found (looked for PCI vendor 0x1e60 in ",
                        roots.sys_root, "/bus/pci/devices and for nodes in ", roots.dev_root,
                        ").\n");
  }
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-14s %-14s %-12s %-9s %-12s %-9s %-5s %-9s %s\n", "ID",
                "PCI ADDRESS", "NODE", "FAMILY", "DRIVER", "VERSION", "NUMA", "HEALTH",
                "REASON");
  out += line;
  for (const Device& d : devices) {
    std::snprintf(line, sizeof(line), "%-14s %-14s %-12s %-9s %-12s %-9s %-5s %-9s %s\n",
                  d.id.c_str(), d.pci_address.c_str(),
                  d.HasNode() ? d.HostNodePath().c_str() : "-",
                  std::string(FamilyName(d.family)).c_str(), Cell(d.driver).c_str(),
                  Cell(d.driver_version).c_str(),
                  d.numa_node ? std::to_string(*d.numa_node).c_str() : "-",
                  d.healthy ? "Healthy" : "Unhealthy", d.reason.c_str());
    out += line;
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
  ScanResult result = ScanAndWarn(roots);
  CdiSpecOptions options{resource_name, ExistingClassDirs(roots.sys_root)};
  std::string spec = SerializeCdiSpec(BuildCdiSpec(result.devices, options));
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
