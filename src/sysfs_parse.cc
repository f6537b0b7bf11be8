#include "hailo_device_plugin/sysfs_parse.h"

#include <cctype>
#include <charconv>
#include <cstddef>
#include <limits>
#include <vector>

#include "absl/status/status.h"

namespace hailo_dp {
namespace {

// Longest slice of bad input quoted back in an error message: a garbage file
// can be large, and a warning should stay one readable line.
constexpr size_t kMaxQuoted = 40;

// 'text' with control and non-ASCII bytes as \xNN, cut at kMaxQuoted bytes.
std::string Quote(std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string shown = "'";
  for (const char c : text.substr(0, kMaxQuoted)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\' && c != '\'') {
      shown += c;
    } else {
      shown += {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
    }
  }
  if (text.size() > kMaxQuoted) shown += "...";
  return shown + "'";
}

absl::Status Invalid(std::string_view what, std::string_view text) {
  return absl::InvalidArgumentError(std::string(what) + ": " + Quote(text));
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// Only digits of the base (no sign, prefix or space), the value fitting T.
template <typename T>
bool ParseDigits(std::string_view text, int base, T* out) {
  if (text.empty()) return false;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (!(base == 16 ? std::isxdigit(byte) : std::isdigit(byte))) return false;
  }
  const auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return error == std::errc() && end == text.data() + text.size();
}

// Hex digits only, at most max_digits of them.
bool ParseHexDigits(std::string_view text, size_t max_digits, uint32_t* out) {
  return text.size() <= max_digits && ParseDigits(text, 16, out);
}

bool ParseUnsigned(std::string_view text, uint64_t* out) {
  return ParseDigits(text, 10, out);
}

}  // namespace

std::string_view TrimAttribute(std::string_view text) {
  constexpr std::string_view kSpace(" \t\n\r\v\f\0", 7);
  const size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

absl::StatusOr<uint16_t> ParseHexId(std::string_view text) {
  std::string_view digits = TrimAttribute(text);
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
  }
  uint32_t value = 0;
  if (!ParseHexDigits(digits, 4, &value)) {
    return Invalid("not a 16-bit hex ID", text);
  }
  return static_cast<uint16_t>(value);
}

absl::StatusOr<PciIds> ParseVendorDevicePair(std::string_view text) {
  const std::string_view trimmed = TrimAttribute(text);
  const std::vector<std::string_view> parts = Split(trimmed, ':');
  if (parts.size() != 2) return Invalid("not vendor:device", text);
  absl::StatusOr<uint16_t> vendor = ParseHexId(parts[0]);
  absl::StatusOr<uint16_t> device = ParseHexId(parts[1]);
  if (!vendor.ok() || !device.ok() || parts[0] != TrimAttribute(parts[0]) ||
      parts[1] != TrimAttribute(parts[1])) {
    return Invalid("not vendor:device", text);
  }
  return PciIds{*vendor, *device};
}

absl::StatusOr<std::string> ParsePciAddress(std::string_view text) {
  const std::string_view trimmed = TrimAttribute(text);
  // Domain: 4 hex digits normally, more behind an Intel VMD (e.g. 10000).
  const std::vector<std::string_view> parts = Split(trimmed, ':');
  if (parts.size() != 3) return Invalid("not a PCI address", text);
  const std::vector<std::string_view> slot_fn = Split(parts[2], '.');
  uint32_t domain = 0, bus = 0, slot = 0, function = 0;
  const bool ok = slot_fn.size() == 2 && parts[0].size() >= 4 &&
                  ParseHexDigits(parts[0], 8, &domain) && parts[1].size() == 2 &&
                  ParseHexDigits(parts[1], 2, &bus) && slot_fn[0].size() == 2 &&
                  ParseHexDigits(slot_fn[0], 2, &slot) && slot <= 0x1f &&
                  slot_fn[1].size() == 1 && ParseHexDigits(slot_fn[1], 1, &function) &&
                  function <= 7;
  if (!ok) return Invalid("not a PCI address", text);
  std::string address(trimmed);
  for (char& c : address) c = static_cast<char>(std::tolower(c));
  return address;
}

absl::StatusOr<int64_t> ParseInteger(std::string_view text) {
  std::string_view digits = TrimAttribute(text);
  const bool negative = !digits.empty() && digits.front() == '-';
  if (negative) digits.remove_prefix(1);
  uint64_t magnitude = 0;
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (!ParseUnsigned(digits, &magnitude) || magnitude > kMax + negative) {
    return Invalid("not an integer", text);
  }
  if (!negative) return static_cast<int64_t>(magnitude);
  // -2^63 has no positive counterpart; negate in unsigned arithmetic.
  return static_cast<int64_t>(~magnitude + 1);
}

absl::StatusOr<std::optional<int>> ParseNumaNode(std::string_view text) {
  absl::StatusOr<int64_t> value = ParseInteger(text);
  if (!value.ok()) return value.status();
  if (*value == -1) return std::optional<int>();
  if (*value < 0 || *value > std::numeric_limits<int>::max()) {
    return Invalid("not a NUMA node", text);
  }
  return std::optional<int>(static_cast<int>(*value));
}

absl::StatusOr<MajorMinor> ParseMajorMinor(std::string_view text) {
  const std::vector<std::string_view> parts = Split(TrimAttribute(text), ':');
  uint64_t major = 0, minor = 0;
  constexpr uint64_t kMax = std::numeric_limits<uint32_t>::max();
  if (parts.size() != 2 || !ParseUnsigned(parts[0], &major) ||
      !ParseUnsigned(parts[1], &minor) || major > kMax || minor > kMax) {
    return Invalid("not major:minor", text);
  }
  return MajorMinor{static_cast<uint32_t>(major), static_cast<uint32_t>(minor)};
}

absl::StatusOr<uint64_t> ParseAerTotalFatal(std::string_view text) {
  constexpr std::string_view kKey = "TOTAL_ERR_FATAL";
  for (const std::string_view line : Split(text, '\n')) {
    const std::string_view trimmed = TrimAttribute(line);
    const size_t space = trimmed.find(' ');
    if (trimmed.substr(0, space) != kKey) continue;
    uint64_t count = 0;
    if (space == std::string_view::npos ||
        !ParseUnsigned(TrimAttribute(trimmed.substr(space)), &count)) {
      return Invalid("bad TOTAL_ERR_FATAL line", line);
    }
    return count;
  }
  return Invalid("no TOTAL_ERR_FATAL line", text);
}

}  // namespace hailo_dp
