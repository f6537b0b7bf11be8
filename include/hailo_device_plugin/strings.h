// Small string helpers.
//
// Debian's abseil is built without std::string_view support, so its
// StrCat/StrJoin/StrSplit do not take std::string_view; these do, and also
// take absl::string_view (what absl::Status::message() returns).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/strings/string_view.h"

namespace hailo_dp {

namespace strings_internal {

inline void Append(std::string& out, std::string_view s) { out.append(s); }
inline void Append(std::string& out, const char* s) { out.append(s); }
inline void Append(std::string& out, const std::string& s) { out.append(s); }
inline void Append(std::string& out, absl::string_view s) {
  out.append(s.data(), s.size());
}
inline void Append(std::string& out, char c) { out.push_back(c); }
template <typename T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
void Append(std::string& out, T v) {
  out.append(std::to_string(v));
}

}  // namespace strings_internal

// Concatenates strings, string views and numbers.
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (strings_internal::Append(out, args), ...);
  return out;
}

template <typename Container>
std::string Join(const Container& parts, std::string_view separator) {
  std::string out;
  bool first = true;
  for (const auto& part : parts) {
    if (!first) out.append(separator);
    strings_internal::Append(out, part);
    first = false;
  }
  return out;
}

// Splits on `separator`, trimming spaces around each part and dropping empty
// parts.
std::vector<std::string> SplitAndTrim(std::string_view text, char separator);

// absl::string_view (e.g. Status::message()) as a std::string.
inline std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace hailo_dp

// Lets spdlog/fmt print absl::string_view, e.g. status.message().
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()),
                                                    ctx);
  }
};
