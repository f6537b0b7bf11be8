// Helpers shared by the libFuzzer targets in this directory.
//
// FUZZ_CHECK states an invariant of the code under test: when it fails, it
// prints the condition and a message and aborts, which libFuzzer records as a
// crash and saves the input. Targets are single-threaded; nothing here is
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, ...)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      ::hailo_dp::fuzz::Describe(__VA_ARGS__);                                          \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace hailo_dp::fuzz {

inline void Describe() {}
inline void Describe(std::string_view what) {
  std::fprintf(stderr, "  %.*s\n", static_cast<int>(what.size()), what.data());
}

// The fuzzer's bytes as text.
inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Longest error message a parser of sysfs content may return: they quote at
// most 40 bytes of the bad input (as \xNN at worst) plus a short prefix.
inline constexpr size_t kMaxSysfsErrorBytes = 256;

}  // namespace hailo_dp::fuzz
