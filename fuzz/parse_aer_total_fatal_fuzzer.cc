// ParseAerTotalFatal: an accepted count comes from a TOTAL_ERR_FATAL line and
// prints back; appending more lines after it does not change the answer.
#include <string>

#include "fuzz_check.h"
#include "hailo_device_plugin/sysfs_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  absl::StatusOr<uint64_t> total = hailo_dp::ParseAerTotalFatal(text);
  if (!total.ok()) {
    FUZZ_CHECK(total.status().message().size() <= hailo_dp::fuzz::kMaxSysfsErrorBytes);
    return 0;
  }
  FUZZ_CHECK(text.find("TOTAL_ERR_FATAL") != std::string_view::npos);
  const std::string printed = "TOTAL_ERR_FATAL " + std::to_string(*total) + "\n";
  absl::StatusOr<uint64_t> again = hailo_dp::ParseAerTotalFatal(printed);
  FUZZ_CHECK(again.ok() && *again == *total, printed);
  // The first TOTAL_ERR_FATAL line decides.
  absl::StatusOr<uint64_t> extended =
      hailo_dp::ParseAerTotalFatal(std::string(text) + "\nTOTAL_ERR_FATAL 12345\n");
  FUZZ_CHECK(extended.ok() && *extended == *total);
  return 0;
}
