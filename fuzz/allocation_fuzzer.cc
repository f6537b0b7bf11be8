// ChoosePreferredAllocation and BuildContainerAllocateResponse driven by
// fuzzed ID lists over a fixed node (two NUMA nodes, shared and unhealthy
// devices).
//
// Input, one item per line: the first line is "<size> <modes>"; then
// "+ID" (available and must-include), "!ID" (must-include only), "=ID"
// (requested from Allocate) or "ID" (available). Both functions are checked
// against an exact oracle of when they must succeed, and their answers
// against the contract in allocation.h.
#include <algorithm>
#include <charconv>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "hailo_device_plugin/allocation.h"
#include "hailo_device_plugin/strings.h"

namespace {

using hailo_dp::AdvertisedDevice;
using hailo_dp::Family;

hailo_dp::Device MakeDevice(std::string address, Family family, std::optional<int> numa,
                            bool healthy, std::string node) {
  hailo_dp::Device d;
  d.id = hailo_dp::DeviceIdFromPciAddress(address);
  d.pci_address = std::move(address);
  d.family = family;
  d.class_name = "hailo_chardev";
  d.node_name = std::move(node);
  d.driver = "hailo_pci";
  d.numa_node = numa;
  d.healthy = healthy;
  d.reason = healthy ? "" : "PCIe link down";
  return d;
}

hailo_dp::SharingMap Sharing() {
  hailo_dp::SharingMap sharing;
  sharing[Family::kHailo10H].replicas = 3;
  hailo_dp::SharingPolicy& service = sharing[Family::kHailo12L];
  service.replicas = 2;
  service.flavour = hailo_dp::SharingFlavour::kService;
  service.fail_requests_greater_than_one = true;
  return sharing;
}

const std::vector<AdvertisedDevice>& Advertised() {
  static const auto* advertised =
      new std::vector<AdvertisedDevice>(hailo_dp::AdvertiseDevices(
          {MakeDevice("0000:03:00.0", Family::kHailo8, 0, true, "hailo0"),
           MakeDevice("0000:04:00.0", Family::kHailo8, 0, true, "hailo1"),
           MakeDevice("0000:81:00.0", Family::kHailo10H, 1, true, "hailo2"),
           MakeDevice("0000:82:00.0", Family::kHailo10H, 1, true, "hailo3"),
           MakeDevice("0001:01:00.0", Family::kHailo15L, std::nullopt, false, "hailo4"),
           MakeDevice("0001:02:00.0", Family::kHailo12L, std::nullopt, true, "hailo5")},
          Sharing()));
  return *advertised;
}

const AdvertisedDevice* Find(const std::string& id) {
  for (const AdvertisedDevice& a : Advertised()) {
    if (a.id == id) return &a;
  }
  return nullptr;
}

struct Request {
  int size = 0;
  unsigned modes = 0;
  std::vector<std::string> available, must_include, requested;
};

Request ParseInput(std::string_view text) {
  Request r;
  bool first = true;
  while (!text.empty()) {
    const size_t end = std::min(text.find('\n'), text.size());
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    if (first) {
      first = false;
      const char* p = line.data();
      p = std::from_chars(p, line.data() + line.size(), r.size).ptr;
      if (p < line.data() + line.size()) ++p;
      std::from_chars(p, line.data() + line.size(), r.modes);
      r.modes &= 7;
    } else if (!line.empty() && line[0] == '+') {
      r.available.emplace_back(line.substr(1));
      r.must_include.emplace_back(line.substr(1));
    } else if (!line.empty() && line[0] == '!') {
      r.must_include.emplace_back(line.substr(1));
    } else if (!line.empty() && line[0] == '=') {
      r.requested.emplace_back(line.substr(1));
    } else {
      r.available.emplace_back(line);
    }
  }
  return r;
}

bool Distinct(const std::vector<std::string>& ids) {
  return std::set<std::string>(ids.begin(), ids.end()).size() == ids.size();
}

void CheckPreferred(const Request& r) {
  absl::StatusOr<std::vector<std::string>> chosen = hailo_dp::ChoosePreferredAllocation(
      r.available, r.must_include, r.size, Advertised());
  const std::set<std::string> available(r.available.begin(), r.available.end());
  const bool must_ok =
      std::all_of(r.must_include.begin(), r.must_include.end(),
                  [&](const std::string& id) { return available.count(id); });
  const bool possible = Distinct(r.available) && Distinct(r.must_include) && must_ok &&
                        r.size > 0 &&
                        static_cast<size_t>(r.size) >= r.must_include.size() &&
                        static_cast<size_t>(r.size) <= r.available.size();
  if (!chosen.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(chosen.status()),
               hailo_dp::Str(chosen.status().message()));
    FUZZ_CHECK(!possible, hailo_dp::Str(chosen.status().message()));
    return;
  }
  FUZZ_CHECK(possible);
  FUZZ_CHECK(chosen->size() == static_cast<size_t>(r.size));
  FUZZ_CHECK(Distinct(*chosen));
  for (const std::string& id : *chosen) FUZZ_CHECK(available.count(id), id);
  for (const std::string& id : r.must_include) {
    FUZZ_CHECK(std::find(chosen->begin(), chosen->end(), id) != chosen->end(), id);
  }
  FUZZ_CHECK(*chosen == *hailo_dp::ChoosePreferredAllocation(r.available, r.must_include,
                                                             r.size, Advertised()),
             "not stable");
}

// When Allocate must succeed: every ID advertised, distinct and healthy, and
// no shared device that refuses company in a multi-ID request.
bool AllocatePossible(const std::vector<std::string>& ids,
                      const hailo_dp::AllocateOptions& options) {
  if (ids.empty() || !Distinct(ids)) return false;
  for (const std::string& id : ids) {
    const AdvertisedDevice* a = Find(id);
    if (a == nullptr || !a->device.healthy) return false;
    const hailo_dp::SharingPolicy& policy =
        hailo_dp::SharingOf(options.sharing, a->device);
    if (policy.replicas > 1 && policy.fail_requests_greater_than_one && ids.size() > 1) {
      return false;
    }
  }
  return true;
}

void CheckAllocate(const std::vector<std::string>& ids, unsigned modes) {
  hailo_dp::AllocateOptions options;
  options.modes = modes;
  options.sharing = Sharing();
  auto response = hailo_dp::BuildContainerAllocateResponse(ids, Advertised(), options);
  const bool possible = AllocatePossible(ids, options);
  if (!response.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(response.status()) ||
                   absl::IsFailedPrecondition(response.status()),
               hailo_dp::Str(response.status().message()));
    FUZZ_CHECK(!possible, hailo_dp::Str(response.status().message()));
    return;
  }
  FUZZ_CHECK(possible);
  std::set<std::string> physical, direct;
  for (const std::string& id : ids) {
    const hailo_dp::Device& d = Find(id)->device;
    physical.insert(d.id);
    if (hailo_dp::SharingOf(options.sharing, d).flavour !=
        hailo_dp::SharingFlavour::kService) {
      direct.insert(d.id);
    }
  }
  const auto& envs = response->envs();
  FUZZ_CHECK(envs.count("HAILO_DEVICE_IDS") == 1);
  FUZZ_CHECK(static_cast<size_t>(std::count(envs.at("HAILO_DEVICE_IDS").begin(),
                                            envs.at("HAILO_DEVICE_IDS").end(), ',')) ==
             physical.size() - 1);
  const size_t want_cdi = (modes & hailo_dp::kModeCdiCri) ? direct.size() : 0;
  const size_t want_specs = (modes & hailo_dp::kModeDeviceSpecs) ? direct.size() : 0;
  FUZZ_CHECK(static_cast<size_t>(response->cdi_devices_size()) == want_cdi);
  FUZZ_CHECK(static_cast<size_t>(response->devices_size()) == want_specs);
  FUZZ_CHECK(response->mounts_size() <= 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Request r = ParseInput(hailo_dp::fuzz::AsText(data, size));
  CheckPreferred(r);
  CheckAllocate(r.requested, r.modes);
  CheckAllocate(r.available, r.modes);
  return 0;
}
