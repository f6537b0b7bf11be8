// Reading a host tree (sysfs, /dev) without trusting it: bounded,
// non-blocking reads of attributes, symlink targets and directory listings,
// each error carrying the path. Used by DeviceSource; thread-safe (no state).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hailo_dp {

// Enough for any sysfs attribute (at most a page); caps what garbage costs.
inline constexpr size_t kMaxAttributeBytes = 64 * 1024;

std::string PathJoin(std::string_view dir, std::string_view name);
// The last component of `path`, trailing slashes ignored.
std::string_view Basename(std::string_view path);
std::string StatusMessage(const absl::Status& status);
// `status` with its message prefixed by "<path>: ".
absl::Status WithPath(std::string_view path, const absl::Status& status);

// At most max_bytes of a file; NotFound when it does not exist. O_NONBLOCK:
// a FIFO planted where an attribute should be must not hang the scan.
absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     size_t max_bytes = kMaxAttributeBytes);

// Reads and parses a file; parse errors are prefixed with the path.
template <typename T, typename Parser>
absl::StatusOr<T> ReadParsed(const std::string& path, Parser parse) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<T> value = parse(*text);
  if (!value.ok()) return WithPath(path, value.status());
  return value;
}

absl::StatusOr<std::string> ReadLink(const std::string& path);

// Sorted names in a directory, without "." and "..".
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path);

}  // namespace hailo_dp
