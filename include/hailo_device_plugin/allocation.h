// The pure logic behind the DevicePlugin RPCs: device lists for
// ListAndWatch, Allocate answers and preferred allocations.
//
// No I/O and no shared state: every function takes values and returns values,
// so the gRPC layer stays a thin translation and the tests need no sockets.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "api.pb.h"
#include "hailo_device_plugin/device.h"
#include "hailo_device_plugin/resource.h"

namespace hailo_dp {

// Where Allocate tells the runtime which devices to inject. Combinable.
enum AllocationMode : unsigned {
  kModeCdiCri = 1u << 0,          // ContainerAllocateResponse.cdi_devices
  kModeCdiAnnotations = 1u << 1,  // cdi.k8s.io/... annotation
  kModeDeviceSpecs = 1u << 2,     // DeviceSpec entries with the node paths
};

// Parses "cdi-cri,device-specs"; the error names the unknown mode.
absl::StatusOr<unsigned> ParseAllocationModes(std::string_view text);
std::string AllocationModesToString(unsigned modes);

// How the devices of a resource are shared.
enum class SharingFlavour {
  kDirect,   // each sharer gets the device node
  kService,  // sharers get the host's HailoRT service socket, not the node
};

struct SharingPolicy {
  // IDs advertised per physical device; 1 means no sharing.
  int replicas = 1;
  SharingFlavour flavour = SharingFlavour::kDirect;
  // Host path of the HailoRT service socket (service flavour).
  std::string service_socket = "/tmp/hailort_uds.sock";
  // Refuse a request for more than one replica of one resource.
  bool fail_requests_greater_than_one = false;

  bool operator==(const SharingPolicy&) const = default;
};

// The separator between a device ID and its replica index: "<id>::<k>".
inline constexpr std::string_view kReplicaSeparator = "::";

// One ID the kubelet knows, resolved to its physical device.
struct AdvertisedDevice {
  std::string id;  // as advertised
  Device device;   // the physical device
  int replica = 0;
};

// Sharing policy per family; a family not listed is not shared.
using SharingMap = std::map<Family, SharingPolicy>;

// The policy for a device's family (replicas 1 when not shared).
const SharingPolicy& SharingOf(const SharingMap& sharing, const Device& device);

// The IDs a resource advertises for `devices`: one per device, or
// `replicas` per device when its family is shared ("<id>::0" ...).
std::vector<AdvertisedDevice> AdvertiseDevices(const std::vector<Device>& devices,
                                               const SharingMap& sharing);

// The ListAndWatch message for the advertised devices: health per ID, and
// the NUMA node as topology when known.
v1beta1::ListAndWatchResponse BuildListAndWatchResponse(
    const std::vector<AdvertisedDevice>& advertised);

struct AllocateOptions {
  unsigned modes = kModeCdiCri;
  ResourceSpec resource;
  SharingMap sharing;
};

// The CDI annotation key of a resource, "cdi.k8s.io/hailo-device-plugin_npu".
std::string CdiAnnotationKey(const ResourceSpec& resource);

// The answer for one container. Every requested ID must be advertised
// (else INVALID_ARGUMENT naming it) and healthy (else FAILED_PRECONDITION
// naming it); duplicates are INVALID_ARGUMENT.
absl::StatusOr<v1beta1::ContainerAllocateResponse> BuildContainerAllocateResponse(
    const std::vector<std::string>& requested_ids,
    const std::vector<AdvertisedDevice>& advertised, const AllocateOptions& options);

// Chooses `size` IDs from `available`, including all of `must_include`:
// keeps the choice on one NUMA node when it fits (the node of the
// must-include devices first), otherwise spans the fewest nodes; spreads over
// distinct physical devices before reusing one; stable for the same input.
// An impossible request is INVALID_ARGUMENT with the reason.
absl::StatusOr<std::vector<std::string>> ChoosePreferredAllocation(
    const std::vector<std::string>& available,
    const std::vector<std::string>& must_include, int size,
    const std::vector<AdvertisedDevice>& advertised);

}  // namespace hailo_dp
