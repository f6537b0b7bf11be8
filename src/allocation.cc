#include "hailo_device_plugin/allocation.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

// Keeps error messages bounded and printable when a client sends absurd IDs.
std::string Quote(std::string_view id) {
  constexpr size_t kMax = 80;
  std::string out = "'";
  for (char c : id.substr(0, kMax)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  if (id.size() > kMax) return Cat(out, "...' (", id.size(), " bytes)");
  return out + "'";
}

std::map<std::string_view, const AdvertisedDevice*> IndexById(
    const std::vector<AdvertisedDevice>& advertised) {
  std::map<std::string_view, const AdvertisedDevice*> index;
  for (const AdvertisedDevice& a : advertised) index.emplace(a.id, &a);
  return index;
}

}  // namespace

absl::StatusOr<unsigned> ParseAllocationModes(std::string_view text) {
  unsigned modes = 0;
  for (const std::string& mode : SplitAndTrim(text, ',')) {
    if (mode == "cdi-cri") {
      modes |= kModeCdiCri;
    } else if (mode == "cdi-annotations") {
      modes |= kModeCdiAnnotations;
    } else if (mode == "device-specs") {
      modes |= kModeDeviceSpecs;
    } else {
      return absl::InvalidArgumentError(
          Cat("unknown allocation mode '", mode,
              "' (known: cdi-cri, cdi-annotations, device-specs)"));
    }
  }
  if (modes == 0) return absl::InvalidArgumentError("no allocation mode given");
  return modes;
}

std::string AllocationModesToString(unsigned modes) {
  std::vector<std::string> names;
  if (modes & kModeCdiCri) names.push_back("cdi-cri");
  if (modes & kModeCdiAnnotations) names.push_back("cdi-annotations");
  if (modes & kModeDeviceSpecs) names.push_back("device-specs");
  return Join(names, ",");
}

const SharingPolicy& SharingOf(const SharingMap& sharing, const Device& device) {
  static const SharingPolicy kNotShared;
  auto it = sharing.find(device.family);
  return it == sharing.end() ? kNotShared : it->second;
}

std::vector<AdvertisedDevice> AdvertiseDevices(const std::vector<Device>& devices,
                                               const SharingMap& sharing) {
  std::vector<AdvertisedDevice> out;
  for (const Device& device : devices) {
    const int replicas = SharingOf(sharing, device).replicas;
    if (replicas <= 1) {
      out.push_back({device.id, device, 0});
      continue;
    }
    for (int k = 0; k < replicas; ++k) {
      out.push_back({Cat(device.id, kReplicaSeparator, k), device, k});
    }
  }
  return out;
}

v1beta1::ListAndWatchResponse BuildListAndWatchResponse(
    const std::vector<AdvertisedDevice>& advertised) {
  v1beta1::ListAndWatchResponse response;
  for (const AdvertisedDevice& a : advertised) {
    v1beta1::Device* d = response.add_devices();
    d->set_id(a.id);
    d->set_health(std::string(a.device.healthy ? kHealthy : kUnhealthy));
    if (a.device.numa_node.has_value()) {
      d->mutable_topology()->add_nodes()->set_id(*a.device.numa_node);
    }
  }
  return response;
}

namespace {

// Resolves and checks the requested IDs; returns the distinct physical
// devices in request order.
absl::StatusOr<std::vector<const Device*>> ResolveRequest(
    const std::vector<std::string>& requested_ids,
    const std::vector<AdvertisedDevice>& advertised, const AllocateOptions& options) {
  const std::string& resource = options.resource.resource_name;
  if (requested_ids.empty()) {
    return absl::InvalidArgumentError(Cat("no device IDs requested for ", resource));
  }
  auto index = IndexById(advertised);
  std::set<std::string_view> seen;
  std::set<std::string_view> physical_seen;
  std::vector<const Device*> physical;
  for (const std::string& id : requested_ids) {
    auto it = index.find(id);
    if (it == index.end()) {
      return absl::InvalidArgumentError(
          Cat("unknown device ID ", Quote(id), " for resource ", resource));
    }
    if (!seen.insert(id).second) {
      return absl::InvalidArgumentError(Cat("device ID ", Quote(id), " requested twice"));
    }
    const Device& device = it->second->device;
    const SharingPolicy& policy = SharingOf(options.sharing, device);
    if (policy.replicas > 1 && policy.fail_requests_greater_than_one &&
        requested_ids.size() > 1) {
      return absl::InvalidArgumentError(
          Cat("device ", Quote(id), " is shared (", policy.replicas,
              " replicas): a container may request only one shared device, got ",
              requested_ids.size()));
    }
    if (!device.healthy) {
      return absl::FailedPreconditionError(
          Cat("device ", Quote(id), " is unhealthy: ", device.reason));
    }
    if (physical_seen.insert(device.id).second) physical.push_back(&device);
  }
  return physical;
}

void AddServiceEdits(const SharingPolicy& sharing,
                     v1beta1::ContainerAllocateResponse* r) {
  for (const auto& mount : r->mounts()) {
    if (mount.host_path() == sharing.service_socket) return;  // Once per container.
  }
  v1beta1::Mount* mount = r->add_mounts();
  mount->set_host_path(sharing.service_socket);
  mount->set_container_path(sharing.service_socket);
  mount->set_read_only(false);
  (*r->mutable_envs())["HAILORT_SERVICE_ADDRESS"] = "unix://" + sharing.service_socket;
}

void AddDeviceEdits(const std::vector<const Device*>& devices,
                    const AllocateOptions& options,
                    v1beta1::ContainerAllocateResponse* r) {
  std::vector<std::string> cdi_names;
  for (const Device* device : devices) {
    cdi_names.push_back(options.resource.CdiDeviceName(device->id));
    if (options.modes & kModeDeviceSpecs) {
      v1beta1::DeviceSpec* spec = r->add_devices();
      spec->set_host_path(device->HostNodePath());
      spec->set_container_path(device->HostNodePath());
      spec->set_permissions("rw");
    }
  }
  if (options.modes & kModeCdiCri) {
    for (const std::string& name : cdi_names) r->add_cdi_devices()->set_name(name);
  }
  if (options.modes & kModeCdiAnnotations) {
    (*r->mutable_annotations())[CdiAnnotationKey(options.resource)] =
        Join(cdi_names, ",");
  }
}

}  // namespace

std::string CdiAnnotationKey(const ResourceSpec& resource) {
  std::string_view name = resource.resource_name;
  return Cat("cdi.k8s.io/hailo-device-plugin_", name.substr(name.find('/') + 1));
}

absl::StatusOr<v1beta1::ContainerAllocateResponse> BuildContainerAllocateResponse(
    const std::vector<std::string>& requested_ids,
    const std::vector<AdvertisedDevice>& advertised, const AllocateOptions& options) {
  absl::StatusOr<std::vector<const Device*>> devices =
      ResolveRequest(requested_ids, advertised, options);
  if (!devices.ok()) return devices.status();
  v1beta1::ContainerAllocateResponse response;
  std::vector<std::string> addresses;
  for (const Device* device : *devices) addresses.push_back(device->pci_address);
  (*response.mutable_envs())["HAILO_DEVICE_IDS"] = Join(addresses, ",");
  // Devices shared through the HailoRT service get its socket, not the node.
  std::vector<const Device*> direct;
  for (const Device* device : *devices) {
    const SharingPolicy& policy = SharingOf(options.sharing, *device);
    if (policy.replicas > 1 && policy.flavour == SharingFlavour::kService) {
      AddServiceEdits(policy, &response);
    } else {
      direct.push_back(device);
    }
  }
  if (!direct.empty()) AddDeviceEdits(direct, options, &response);
  return response;
}

}  // namespace hailo_dp
