// ParseHexId: an accepted ID prints back ("0x%04x\n", as sysfs writes it) to
// the same value; a rejection has a bounded message.
#include <cstdio>

#include "fuzz_check.h"
#include "hailo_device_plugin/sysfs_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  absl::StatusOr<uint16_t> id = hailo_dp::ParseHexId(text);
  if (!id.ok()) {
    FUZZ_CHECK(id.status().message().size() <= hailo_dp::fuzz::kMaxSysfsErrorBytes);
    return 0;
  }
  FUZZ_CHECK(!hailo_dp::TrimAttribute(text).empty());
  char printed[16];
  std::snprintf(printed, sizeof printed, "0x%04x\n", *id);
  absl::StatusOr<uint16_t> again = hailo_dp::ParseHexId(printed);
  FUZZ_CHECK(again.ok() && *again == *id, printed);
  return 0;
}
