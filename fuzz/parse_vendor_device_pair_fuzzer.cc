// ParseVendorDevicePair: an accepted pair prints back ("%04x:%04x", as the
// Hailo driver writes it) to the same IDs and agrees with ParseHexId on each
// half.
#include <cstdio>

#include "fuzz_check.h"
#include "hailo_device_plugin/sysfs_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  absl::StatusOr<hailo_dp::PciIds> ids = hailo_dp::ParseVendorDevicePair(text);
  if (!ids.ok()) {
    FUZZ_CHECK(ids.status().message().size() <= hailo_dp::fuzz::kMaxSysfsErrorBytes);
    return 0;
  }
  const std::string_view trimmed = hailo_dp::TrimAttribute(text);
  const size_t colon = trimmed.find(':');
  FUZZ_CHECK(colon != std::string_view::npos);
  absl::StatusOr<uint16_t> vendor = hailo_dp::ParseHexId(trimmed.substr(0, colon));
  absl::StatusOr<uint16_t> device = hailo_dp::ParseHexId(trimmed.substr(colon + 1));
  FUZZ_CHECK(vendor.ok() && device.ok() && *vendor == ids->vendor &&
             *device == ids->device);
  char printed[16];
  std::snprintf(printed, sizeof printed, "%04x:%04x", ids->vendor, ids->device);
  absl::StatusOr<hailo_dp::PciIds> again = hailo_dp::ParseVendorDevicePair(printed);
  FUZZ_CHECK(again.ok() && again->vendor == ids->vendor && again->device == ids->device,
             printed);
  return 0;
}
