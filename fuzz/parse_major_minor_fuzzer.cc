// ParseMajorMinor: an accepted "major:minor" prints back to the same pair.
#include <string>

#include "fuzz_check.h"
#include "hailo_device_plugin/sysfs_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  absl::StatusOr<hailo_dp::MajorMinor> mm = hailo_dp::ParseMajorMinor(text);
  if (!mm.ok()) {
    FUZZ_CHECK(mm.status().message().size() <= hailo_dp::fuzz::kMaxSysfsErrorBytes);
    return 0;
  }
  const std::string printed =
      std::to_string(mm->major) + ":" + std::to_string(mm->minor) + "\n";
  absl::StatusOr<hailo_dp::MajorMinor> again = hailo_dp::ParseMajorMinor(printed);
  FUZZ_CHECK(again.ok() && *again == *mm, printed);
  return 0;
}
