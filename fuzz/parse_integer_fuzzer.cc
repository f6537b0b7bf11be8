// ParseInteger: accepts exactly an optional '-' and decimal digits (after
// trimming) whose value fits int64_t; accepted values print back.
#include <cctype>
#include <string>

#include "fuzz_check.h"
#include "hailo_device_plugin/sysfs_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  absl::StatusOr<int64_t> value = hailo_dp::ParseInteger(text);
  if (!value.ok()) {
    FUZZ_CHECK(value.status().message().size() <= hailo_dp::fuzz::kMaxSysfsErrorBytes);
    return 0;
  }
  std::string_view digits = hailo_dp::TrimAttribute(text);
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  FUZZ_CHECK(!digits.empty());
  for (const char c : digits) FUZZ_CHECK(std::isdigit(static_cast<unsigned char>(c)));
  const std::string printed = std::to_string(*value) + "\n";
  absl::StatusOr<int64_t> again = hailo_dp::ParseInteger(printed);
  FUZZ_CHECK(again.ok() && *again == *value, printed);
  return 0;
}
