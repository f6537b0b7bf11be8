// ParsePciAddress: an accepted address is lower case, DDDD:BB:SS.F shaped,
// a fixed point of the parser, and its device ID maps back to it.
#include <cctype>

#include "fuzz_check.h"
#include "hailo_device_plugin/device.h"
#include "hailo_device_plugin/sysfs_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = hailo_dp::fuzz::AsText(data, size);
  absl::StatusOr<std::string> address = hailo_dp::ParsePciAddress(text);
  if (!address.ok()) {
    FUZZ_CHECK(address.status().message().size() <= hailo_dp::fuzz::kMaxSysfsErrorBytes);
    return 0;
  }
  const std::string& a = *address;
  FUZZ_CHECK(a.size() >= 12 && a.size() <= 16, a);
  for (const char c : a) {
    FUZZ_CHECK(std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f') ||
                   c == ':' || c == '.',
               a);
  }
  FUZZ_CHECK(a[a.size() - 2] == '.' && a[a.size() - 5] == ':' && a[a.size() - 8] == ':',
             a);
  absl::StatusOr<std::string> again = hailo_dp::ParsePciAddress(a);
  FUZZ_CHECK(again.ok() && *again == a, a);
  // The device ID only swaps ':' for '-', so it must stay distinct per address.
  std::string id = hailo_dp::DeviceIdFromPciAddress(a);
  FUZZ_CHECK(id.size() == a.size() && id.find(':') == std::string::npos, id);
  return 0;
}
