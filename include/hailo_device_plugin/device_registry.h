// DeviceRegistry: the latest device snapshot, shared by the monitor thread
// (writer) and the gRPC handlers (readers).
//
// The version rises only when the published device list differs from the
// previous one, so ListAndWatch sends a message exactly on change. Snapshots
// are immutable and shared by pointer. Thread-safe: one mutex guards
// `current_` and `waiters_`; readers never block the writer for long.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "hailo_device_plugin/device.h"

namespace hailo_dp {

struct Snapshot {
  // 0 before the first publication.
  uint64_t version = 0;
  // Sorted by id.
  std::vector<Device> devices;

  // The device with this ID, or nullptr.
  const Device* Find(std::string_view id) const;
};

class DeviceRegistry {
 public:
  DeviceRegistry();

  // Replaces the device list. Returns true (and bumps the version) when it
  // differs from the current one.
  bool Publish(std::vector<Device> devices);

  std::shared_ptr<const Snapshot> Current() const;

  // Blocks until the version exceeds `after`, `timeout` passes, or a Wake()
  // finds `stop()` true. Returns the current snapshot in every case.
  std::shared_ptr<const Snapshot> WaitNewer(uint64_t after,
                                            std::chrono::milliseconds timeout,
                                            const std::function<bool()>& stop) const;

  // Wakes every waiter so that it re-checks its stop predicate.
  void Wake() const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  // Guarded by mu_.
  std::shared_ptr<const Snapshot> current_;
};

}  // namespace hailo_dp
