#include "hailo_device_plugin/device_registry.h"

#include <algorithm>

namespace hailo_dp {

const Device* Snapshot::Find(std::string_view id) const {
  auto it =
      std::lower_bound(devices.begin(), devices.end(), id,
                       [](const Device& d, std::string_view key) { return d.id < key; });
  return it != devices.end() && it->id == id ? &*it : nullptr;
}

DeviceRegistry::DeviceRegistry() : current_(std::make_shared<Snapshot>()) {}

bool DeviceRegistry::Publish(std::vector<Device> devices) {
  std::sort(devices.begin(), devices.end(),
            [](const Device& a, const Device& b) { return a.id < b.id; });
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_->version > 0 && current_->devices == devices) return false;
    auto next = std::make_shared<Snapshot>();
    next->version = current_->version + 1;
    next->devices = std::move(devices);
    current_ = std::move(next);
  }
  changed_.notify_all();
  return true;
}

std::shared_ptr<const Snapshot> DeviceRegistry::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

std::shared_ptr<const Snapshot> DeviceRegistry::WaitNewer(
    uint64_t after, std::chrono::milliseconds timeout,
    const std::function<bool()>& stop) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, timeout,
                    [&] { return current_->version > after || (stop && stop()); });
  return current_;
}

void DeviceRegistry::Wake() const {
  // Taking the lock orders the wake-up after any waiter's predicate check.
  { std::lock_guard<std::mutex> lock(mu_); }
  changed_.notify_all();
}

}  // namespace hailo_dp
