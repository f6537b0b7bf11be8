// DeviceMonitor: the thread that keeps the DeviceRegistry current.
//
// It scans at start, every rescan interval, and at once (after a short
// debounce) when inotify reports a change in the dev root. When the device
// list changed it first runs every pre-publish hook (the CDI spec writer,
// the node-feature file) and only then publishes, so no RPC ever names a
// device that the CDI spec lacks.
//
// The thread lives between Start() and Stop(); Stop() is idempotent and the
// destructor calls it. RunOnce() performs one scan synchronously (tests).
// Hooks and the source are used only from the scanning thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hailo_device_plugin/device_registry.h"
#include "hailo_device_plugin/device_source.h"

namespace hailo_dp {

class DeviceMonitor {
 public:
  // Called with the new device list before it is published.
  using Hook = std::function<void(const std::vector<Device>&)>;

  struct Options {
    std::chrono::milliseconds rescan_interval{30000};
    // Wait after an inotify event so that a burst of events costs one scan.
    std::chrono::milliseconds debounce{10};
  };

  DeviceMonitor(DeviceSource* source, DeviceRegistry* registry, Options options);
  ~DeviceMonitor();
  DeviceMonitor(const DeviceMonitor&) = delete;
  DeviceMonitor& operator=(const DeviceMonitor&) = delete;

  // Hooks run in the order added. Add them before Start().
  void AddHook(Hook hook);

  void Start();
  void Stop();
  // Asks the thread for a scan now (e.g. on SIGHUP).
  void RequestScan();
  // One scan on the caller's thread; returns true if the list changed.
  bool RunOnce();

  // Steady-clock time of the last completed scan (epoch 0 before the first).
  std::chrono::steady_clock::time_point last_scan_time() const;
  uint64_t scans_completed() const { return scans_.load(); }

 private:
  void Loop();
  void WatchLoop();
  void LogWarningsIfChanged(const std::vector<std::string>& warnings);

  DeviceSource* const source_;
  DeviceRegistry* const registry_;
  const Options options_;
  std::vector<Hook> hooks_;
  std::vector<std::string> last_warnings_;
  std::atomic<uint64_t> scans_{0};
  std::atomic<int64_t> last_scan_ns_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  bool stop_ = false;
  bool scan_requested_ = false;
  // Guarded by mu_ (Start/Stop only).
  std::thread thread_;
  std::thread watch_thread_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
};

}  // namespace hailo_dp
