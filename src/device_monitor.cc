#include "hailo_device_plugin/device_monitor.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {
namespace {

void Drain(int fd) {
  char buf[4096];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

DeviceMonitor::DeviceMonitor(DeviceSource* source, DeviceRegistry* registry,
                             Options options)
    : source_(source),
      registry_(registry),
      options_(options),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

DeviceMonitor::~DeviceMonitor() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void DeviceMonitor::AddHook(Hook hook) { hooks_.push_back(std::move(hook)); }

bool DeviceMonitor::RunOnce() {
  auto started = std::chrono::steady_clock::now();
  ScanResult result = source_->Scan();
  auto duration = std::chrono::steady_clock::now() - started;
  LogWarningsIfChanged(result.warnings);
  // Hooks run on every scan (they skip unchanged output themselves), so a
  // spec deleted behind our back or a write that failed is retried.
  for (const Hook& hook : hooks_) hook(result.devices);
  if (scan_observer_) scan_observer_(duration, result.devices);
  bool changed = registry_->Publish(std::move(result.devices));
  last_scan_ns_.store(NowNs());
  scans_.fetch_add(1);
  return changed;
}

std::chrono::steady_clock::time_point DeviceMonitor::last_scan_time() const {
  return std::chrono::steady_clock::time_point(
      std::chrono::nanoseconds(last_scan_ns_.load()));
}

void DeviceMonitor::LogWarningsIfChanged(const std::vector<std::string>& warnings) {
  if (warnings == last_warnings_) return;
  for (const std::string& w : warnings) spdlog::warn("scan: {}", w);
  last_warnings_ = warnings;
}

void DeviceMonitor::Start() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (thread_.joinable()) return;
  spdlog::default_logger_raw();  // made before the thread (see Daemon::Start)
  stop_.store(false);
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  const std::string& dev = source_->roots().dev_root;
  if (inotify_fd_ < 0 ||
      inotify_add_watch(inotify_fd_, dev.c_str(),
                        IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO |
                            IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    spdlog::warn("cannot watch {} for changes ({}); relying on the rescan interval", dev,
                 std::strerror(errno));
  }
  thread_ = std::thread([this] { Loop(); });
}

void DeviceMonitor::Stop() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (!thread_.joinable()) return;
  stop_.store(true);
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  if (inotify_fd_ >= 0) close(inotify_fd_);
  inotify_fd_ = -1;
}

void DeviceMonitor::RequestScan() {
  if (wake_fd_ < 0) return;
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

bool DeviceMonitor::WaitForTrigger(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
  int n = poll(fds, inotify_fd_ >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
  if (stop_.load()) return false;
  if (n > 0 && (fds[1].revents & POLLIN)) {
    // Let a burst of node changes settle so that it costs one scan.
    poll(nullptr, 0, static_cast<int>(options_.debounce.count()));
    Drain(inotify_fd_);
  }
  if (n > 0 && (fds[0].revents & POLLIN)) Drain(wake_fd_);
  return !stop_.load();
}

void DeviceMonitor::Loop() {
  // A scan done before Start() (the daemon's first) counts as the latest.
  auto next_scan = std::chrono::steady_clock::now();
  if (scans_.load() > 0) next_scan += options_.rescan_interval;
  while (!stop_.load()) {
    auto now = std::chrono::steady_clock::now();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_scan - now);
    if (wait.count() > 0 && !WaitForTrigger(wait)) break;
    if (stop_.load()) break;
    RunOnce();
    next_scan = std::chrono::steady_clock::now() + options_.rescan_interval;
  }
}

}  // namespace hailo_dp
