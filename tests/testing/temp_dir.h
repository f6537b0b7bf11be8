// TempDir: a per-test temporary directory (mkdtemp under $TMPDIR or /tmp),
// removed with its contents by the destructor; and Slurp, a whole file as a
// string ("" when unreadable). For tests only; not thread-safe.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace hailo_dp::testing {

class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    path_ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hdp-test.XXXXXX";
    if (::mkdtemp(path_.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << path_ << ": " << std::strerror(errno);
    }
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace hailo_dp::testing
