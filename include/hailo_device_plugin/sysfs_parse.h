// Pure parsers for the text that sysfs and the Hailo driver expose.
//
// Each function takes file content as read (with or without a trailing
// newline: Hailo attributes have none, standard PCI attributes have one) and
// returns a value or an error naming what was wrong. They touch no files and
// are safe to call from any thread; the fuzz targets exercise them directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hailo_dp {

// Removes leading and trailing white space, including '\n' and '\0'.
std::string_view TrimAttribute(std::string_view text);

// "0x1e60\n" -> 0x1e60. Accepts an optional 0x prefix; at most 4 hex digits.
absl::StatusOr<uint16_t> ParseHexId(std::string_view text);

// Hailo's "1e60:2864" -> {vendor, device}.
struct PciIds {
  uint16_t vendor = 0;
  uint16_t device = 0;
};
absl::StatusOr<PciIds> ParseVendorDevicePair(std::string_view text);

// Validates and normalises (lower case) a PCI address "DDDD:BB:SS.F".
absl::StatusOr<std::string> ParsePciAddress(std::string_view text);

// "1\n" -> 1, "-1\n" -> nullopt (no NUMA affinity).
absl::StatusOr<std::optional<int>> ParseNumaNode(std::string_view text);

// A decimal integer, e.g. PCI "enable".
absl::StatusOr<int64_t> ParseInteger(std::string_view text);

// "240:0\n" -> {240, 0}.
struct MajorMinor {
  uint32_t major = 0;
  uint32_t minor = 0;
  bool operator==(const MajorMinor&) const = default;
};
absl::StatusOr<MajorMinor> ParseMajorMinor(std::string_view text);

// The TOTAL_ERR_FATAL counter of an aer_dev_fatal file
// ("Undefined 0\n...\nTOTAL_ERR_FATAL 0\n").
absl::StatusOr<uint64_t> ParseAerTotalFatal(std::string_view text);

}  // namespace hailo_dp
