// DeviceMonitor: the thread that keeps the DeviceRegistry current.
//
// It scans at start, every rescan interval, and at once (after a short
// debounce) when inotify reports a change in the dev root. After each scan
// it first runs every hook (the CDI spec writer, the node-feature file) and
// only then publishes, so no RPC ever names a device that the CDI spec lacks.
//
// The thread lives between Start() and Stop(); Stop() is idempotent and the
// destructor calls it. RunOnce() performs one scan synchronously (tests).
// Hooks and the source are used only from the scanning thread.
#pragma once

#include <atomic>
#include <chrono>
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
  // Called with every scan's device list before it is published; a hook may
  // mark devices unhealthy (e.g. those the CDI spec could not take in).
  using Hook = std::function<void(std::vector<Device>&)>;

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
  // Told the duration and result of every scan (metrics). Before Start().
  using ScanObserver =
      std::function<void(std::chrono::nanoseconds, const std::vector<Device>&)>;
  void SetScanObserver(ScanObserver observer) { scan_observer_ = std::move(observer); }

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
  // Waits for a dev-root event, a requested scan, Stop() or the timeout.
  // Returns false when stopping.
  bool WaitForTrigger(std::chrono::milliseconds timeout);
  void LogWarningsIfChanged(const std::vector<std::string>& warnings);

  DeviceSource* const source_;
  DeviceRegistry* const registry_;
  const Options options_;
  std::vector<Hook> hooks_;
  ScanObserver scan_observer_;
  // Used only by the scanning thread (or RunOnce's caller).
  std::vector<std::string> last_warnings_;
  std::atomic<uint64_t> scans_{0};
  std::atomic<int64_t> last_scan_ns_{0};
  std::atomic<bool> stop_{false};

  // Start/Stop are serialised by start_mu_.
  std::mutex start_mu_;
  std::thread thread_;
  // inotify on the dev root, owned by the thread between Start and Stop.
  int inotify_fd_ = -1;
  // Wakes the thread (Stop, RequestScan); lives as long as the object.
  const int wake_fd_;
};

}  // namespace hailo_dp
