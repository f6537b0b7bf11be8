// ParseAllocationModes: an accepted list is a non-empty set of the three
// known modes, and AllocationModesToString parses back to it.
#include "fuzz_check.h"
#include "hailo_device_plugin/allocation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<unsigned> modes =
      hailo_dp::ParseAllocationModes(hailo_dp::fuzz::AsText(data, size));
  if (!modes.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(modes.status()));
    return 0;
  }
  constexpr unsigned kAll =
      hailo_dp::kModeCdiCri | hailo_dp::kModeCdiAnnotations | hailo_dp::kModeDeviceSpecs;
  FUZZ_CHECK(*modes != 0 && (*modes & ~kAll) == 0);
  const std::string printed = hailo_dp::AllocationModesToString(*modes);
  absl::StatusOr<unsigned> again = hailo_dp::ParseAllocationModes(printed);
  FUZZ_CHECK(again.ok() && *again == *modes, printed);
  return 0;
}
