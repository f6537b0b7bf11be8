#include "hailo_device_plugin/sysfs_read.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace hailo_dp {

std::string PathJoin(std::string_view dir, std::string_view name) {
  return std::string(dir) + "/" + std::string(name);
}

std::string_view Basename(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string StatusMessage(const absl::Status& status) {
  return std::string(status.message());
}

absl::Status WithPath(std::string_view path, const absl::Status& status) {
  return absl::Status(status.code(), std::string(path) + ": " + StatusMessage(status));
}

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return absl::ErrnoToStatus(errno, path);
  std::string content;
  char buffer[4096];
  ssize_t n = 0;
  while (content.size() < max_bytes) {
    n = ::read(fd, buffer, std::min(sizeof buffer, max_bytes - content.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  const int error = errno;
  ::close(fd);
  if (n < 0) return absl::ErrnoToStatus(error, path);
  return content;
}

absl::StatusOr<std::string> ReadLink(const std::string& path) {
  char target[PATH_MAX];
  const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
  if (n < 0) return absl::ErrnoToStatus(errno, path);
  return std::string(target, static_cast<size_t>(n));
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return absl::ErrnoToStatus(errno, path);
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace hailo_dp
