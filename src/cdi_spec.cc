#include "hailo_device_plugin/cdi_spec.h"

#include <algorithm>

namespace hailo_dp {
namespace {

using nlohmann::json;

json DeviceNodeEdit(const Device& device) {
  return json{{"path", device.HostNodePath()},
              {"hostPath", device.HostNodePath()},
              {"permissions", "rw"}};
}

// Binds the device's own class entry back into the container's masked class
// directory, read-only, so HailoRT finds exactly this device there.
json ClassEntryMount(const Device& device) {
  return json{{"hostPath", device.HostClassEntryPath()},
              {"containerPath", device.HostClassEntryPath()},
              {"options", json::array({"ro", "nosuid", "nodev", "noexec", "rbind"})}};
}

json EditsFor(const std::vector<const Device*>& devices) {
  json nodes = json::array();
  json mounts = json::array();
  for (const Device* device : devices) {
    nodes.push_back(DeviceNodeEdit(*device));
    mounts.push_back(ClassEntryMount(*device));
  }
  return json{{"deviceNodes", nodes}, {"mounts", mounts}};
}

json NamedDevice(std::string_view name, const std::vector<const Device*>& devices) {
  return json{{"name", name}, {"containerEdits", EditsFor(devices)}};
}

// A per-container tmpfs over each class directory hides the host's other
// devices from HailoRT's discovery.
json MaskMounts(std::vector<std::string> class_dirs) {
  std::sort(class_dirs.begin(), class_dirs.end());
  class_dirs.erase(std::unique(class_dirs.begin(), class_dirs.end()), class_dirs.end());
  json mounts = json::array();
  for (const std::string& dir : class_dirs) {
    mounts.push_back({{"hostPath", "tmpfs"},
                      {"containerPath", "/sys/class/" + dir},
                      {"type", "tmpfs"},
                      {"options", json::array({"nosuid", "nodev", "noexec", "mode=0755",
                                               "size=64k"})}});
  }
  return mounts;
}

}  // namespace

nlohmann::json BuildCdiSpec(const std::vector<Device>& devices,
                            const CdiSpecOptions& options) {
  std::vector<const Device*> with_node;
  for (const Device& device : devices) {
    if (device.HasNode()) with_node.push_back(&device);
  }
  std::sort(with_node.begin(), with_node.end(),
            [](const Device* a, const Device* b) { return a->id < b->id; });

  json entries = json::array();
  std::vector<const Device*> healthy;
  for (const Device* device : with_node) {
    entries.push_back(NamedDevice(device->id, {device}));
    entries.push_back(NamedDevice(device->node_name, {device}));
    if (device->healthy) healthy.push_back(device);
  }
  // A CDI device without edits is invalid, so "all" exists only when
  // something is healthy.
  if (!healthy.empty()) entries.push_back(NamedDevice(kCdiAllDevice, healthy));

  json spec{{"cdiVersion", kCdiVersion}, {"kind", options.kind}, {"devices", entries}};
  json masks = MaskMounts(options.host_class_dirs);
  if (!masks.empty()) spec["containerEdits"] = json{{"mounts", masks}};
  return spec;
}

std::string SerializeCdiSpec(const nlohmann::json& spec) { return spec.dump(2) + "\n"; }

}  // namespace hailo_dp
