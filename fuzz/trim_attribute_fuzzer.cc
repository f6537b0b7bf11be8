// TrimAttribute: the result is a slice of the input with no white space or
// NUL at either end, and trimming is idempotent.
#include <string_view>

#include "fuzz_check.h"
#include "hailo_device_plugin/sysfs_parse.h"

namespace {

bool IsTrimmed(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
         c == '\0';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  const std::string_view trimmed = hailo_dp::TrimAttribute(text);
  if (trimmed.empty()) {
    for (const char c : text)
      FUZZ_CHECK(IsTrimmed(c), "non-space input trimmed to nothing");
    return 0;
  }
  FUZZ_CHECK(trimmed.data() >= text.data() &&
             trimmed.data() + trimmed.size() <= text.data() + text.size());
  FUZZ_CHECK(!IsTrimmed(trimmed.front()) && !IsTrimmed(trimmed.back()));
  for (const char* p = text.data(); p < trimmed.data(); ++p) FUZZ_CHECK(IsTrimmed(*p));
  for (const char* p = trimmed.data() + trimmed.size(); p < text.data() + text.size();
       ++p) {
    FUZZ_CHECK(IsTrimmed(*p));
  }
  FUZZ_CHECK(hailo_dp::TrimAttribute(trimmed) == trimmed);
  return 0;
}
