// ParseNumaNode: agrees with ParseInteger (-1 is "no node", other negatives
// and values beyond int are errors), and accepted nodes print back.
#include <limits>
#include <string>

#include "fuzz_check.h"
#include "hailo_device_plugin/sysfs_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  absl::StatusOr<std::optional<int>> node = hailo_dp::ParseNumaNode(text);
  absl::StatusOr<int64_t> integer = hailo_dp::ParseInteger(text);
  if (!node.ok()) {
    FUZZ_CHECK(node.status().message().size() <= hailo_dp::fuzz::kMaxSysfsErrorBytes);
    FUZZ_CHECK(!integer.ok() || *integer < -1 ||
               *integer > std::numeric_limits<int>::max());
    return 0;
  }
  FUZZ_CHECK(integer.ok());
  if (!node->has_value()) {
    FUZZ_CHECK(*integer == -1);
    return 0;
  }
  FUZZ_CHECK(**node >= 0 && **node == *integer);
  absl::StatusOr<std::optional<int>> again =
      hailo_dp::ParseNumaNode(std::to_string(**node) + "\n");
  FUZZ_CHECK(again.ok() && *again == *node);
  return 0;
}
