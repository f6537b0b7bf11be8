#include "hailo_device_plugin/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

absl::Status ErrnoError(const std::string& path, std::string_view what, int err) {
  return absl::UnavailableError(Cat(path, ": ", what, ": ", std::strerror(err)));
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool AlreadyHolds(const std::string& path, std::string_view content, mode_t mode) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if ((st.st_mode & 07777) != mode || static_cast<size_t>(st.st_size) != content.size()) {
    return false;
  }
  absl::StatusOr<std::string> current = ReadFileToString(path);
  return current.ok() && *current == content;
}

absl::Status WriteAll(int fd, std::string_view content, const std::string& path) {
  while (!content.empty()) {
    ssize_t n = write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(path, "write", errno);
    content.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Writes and syncs the temporary file; the caller removes it on failure.
absl::Status FillTemp(int fd, const std::string& tmp, std::string_view content,
                      mode_t mode) {
  if (absl::Status s = WriteAll(fd, content, tmp); !s.ok()) return s;
  if (fchmod(fd, mode) != 0) return ErrnoError(tmp, "chmod", errno);
  if (fsync(fd) != 0) return ErrnoError(tmp, "fsync", errno);
  return absl::OkStatus();
}

void SyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  fsync(fd);  // Best effort: the rename is already visible to readers.
  close(fd);
}

}  // namespace

absl::StatusOr<WriteOutcome> WriteFileAtomically(const std::string& path,
                                                 std::string_view content, mode_t mode) {
  if (AlreadyHolds(path, content, mode)) return WriteOutcome::kUnchanged;
  const std::string dir = DirName(path);
  std::error_code ignored;  // A directory that cannot be made fails below.
  std::filesystem::create_directories(dir, ignored);
  // A hidden name: readers of the directory (CDI registries, NFD's local
  // feature source) skip dot files, so they never see a half-written one.
  std::string tmp = dir + "/." + path.substr(path.rfind('/') + 1) + ".tmp.XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) {
    // Saved first: building the message allocates, which may change errno.
    const int err = errno;
    return ErrnoError(path, Cat("cannot create a temporary file in ", dir), err);
  }
  absl::Status status = FillTemp(fd, tmp, content, mode);
  if (close(fd) != 0 && status.ok()) status = ErrnoError(tmp, "close", errno);
  if (status.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(path, "rename", errno);
  }
  if (!status.ok()) {
    unlink(tmp.c_str());
    return absl::Status(
        status.code(),
        Cat("writing ", path, " failed, previous file kept: ", status.message()));
  }
  SyncDirectory(dir);
  return WriteOutcome::kWritten;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, "open", errno);
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return ErrnoError(path, "read", err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace hailo_dp
