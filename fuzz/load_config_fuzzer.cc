// LoadConfig over a fuzzed YAML file (no flags, empty environment).
//
// It must return a Config or an error, never throw (a yaml-cpp exception
// escaping is a bug: libFuzzer reports the abort). An accepted config must
// render, and the rendering must load back to the same values.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>

#include "fuzz_check.h"
#include "hailo_device_plugin/config_loader.h"
#include "hailo_device_plugin/strings.h"

namespace {

std::string* g_path = nullptr;

void RemoveTempFile() {
  if (g_path != nullptr) ::unlink(g_path->c_str());
}

// One temp file per process, made on first use and removed at exit.
const std::string& TempPath() {
  if (g_path != nullptr) return *g_path;
  const char* tmp = std::getenv("TMPDIR");
  std::string name =
      std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/hdp-config-XXXXXX";
  const int fd = ::mkstemp(name.data());
  FUZZ_CHECK(fd >= 0, name);
  ::close(fd);
  g_path = new std::string(name);
  std::atexit(RemoveTempFile);
  return *g_path;
}

void WriteAll(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  FUZZ_CHECK(fd >= 0, path);
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    FUZZ_CHECK(n > 0, path);
    content.remove_prefix(static_cast<size_t>(n));
  }
  ::close(fd);
}

absl::StatusOr<hailo_dp::LoadedConfig> Load(std::string_view content) {
  const std::string& path = TempPath();
  WriteAll(path, content);
  return hailo_dp::LoadConfig({{"config", path}},
                              [](const char*) -> const char* { return nullptr; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<hailo_dp::LoadedConfig> loaded =
      Load(hailo_dp::fuzz::AsText(data, size));
  if (!loaded.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(loaded.status()),
               hailo_dp::Str(loaded.status().message()));
    return 0;
  }
  const std::string rendered = hailo_dp::RenderConfig(*loaded);
  absl::StatusOr<hailo_dp::LoadedConfig> reloaded = Load(rendered);
  FUZZ_CHECK(reloaded.ok(),
             rendered + "\n  reload: " +
                 (reloaded.ok() ? "" : hailo_dp::Str(reloaded.status().message())));
  reloaded->origins = loaded->origins;  // everything comes from the file now
  FUZZ_CHECK(hailo_dp::RenderConfig(*reloaded) == rendered, rendered);
  return 0;
}
