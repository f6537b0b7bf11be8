// ParseDuration: an accepted duration is at least 1 ms, does not overflow
// when converted to microseconds, and prints back as "<n>ms".
#include <chrono>
#include <string>

#include "fuzz_check.h"
#include "hailo_device_plugin/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::chrono::milliseconds> d =
      hailo_dp::ParseDuration(hailo_dp::fuzz::AsText(data, size));
  if (!d.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(d.status()));
    return 0;
  }
  FUZZ_CHECK(d->count() >= 1);
  FUZZ_CHECK(d->count() <= INT64_MAX / 1000, "does not fit in microseconds");
  const std::string printed = std::to_string(d->count()) + "ms";
  absl::StatusOr<std::chrono::milliseconds> again = hailo_dp::ParseDuration(printed);
  FUZZ_CHECK(again.ok() && *again == *d, printed);
  return 0;
}
