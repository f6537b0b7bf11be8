// Supervisor: keeps every PluginEndpoint served and registered.
//
// Its thread serves each endpoint, registers it with the kubelet (retrying
// with capped backoff while the kubelet is absent or refuses), and watches
// the kubelet directory with inotify: when the kubelet deletes our socket or
// creates a new kubelet.sock (a kubelet restart) it re-serves and
// re-registers at once. Stop() stops the thread, ends every stream, and
// removes our sockets; idempotent, called by the destructor. State queries
// are thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hailo_device_plugin/plugin_endpoint.h"

namespace hailo_dp {

struct SupervisorObserver {
  std::function<void(const std::string& resource)> on_registered;
  std::function<void()> on_kubelet_restart;
};

class Supervisor {
 public:
  Supervisor(std::string kubelet_dir,
             std::vector<std::unique_ptr<PluginEndpoint>> endpoints,
             SupervisorObserver observer = {});
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  void Start();
  void Stop();

  // Every endpoint is registered (since its last (re)serve).
  bool AllRegistered() const;
  // Every endpoint's server is up.
  bool AllServing() const;
  // Every endpoint has at least one open ListAndWatch stream.
  bool AllStreaming() const;
  uint64_t registrations() const { return registrations_.load(); }

 private:
  struct State {
    bool registered = false;
    // The fence emitted just before the successful Register call (0: none).
    uint64_t fence = 0;
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::milliseconds backoff{0};
    std::string last_error;
  };

  void Loop();
  void Step(size_t i);
  void HandleEvents();
  // Starts watching the kubelet directory; true when the watch is new.
  bool WatchDirectory();
  std::chrono::milliseconds NextTimeout() const;
  void Restart(size_t i, bool reserve);
  // Queues a fence in the inotify stream (an IN_OPEN of the directory);
  // returns its number, or 0 when no event can be queued.
  uint64_t EmitFence();
  // A new kubelet.sock appeared: re-register the endpoints that may have
  // registered with an older kubelet.
  void OnNewKubelet();

  const std::string kubelet_dir_;
  std::vector<std::unique_ptr<PluginEndpoint>> endpoints_;
  const SupervisorObserver observer_;
  // Used by the thread only.
  std::vector<State> states_;
  int inotify_fd_ = -1;
  int watch_ = -1;
  // Fences emitted, and an upper bound of those already read back from the
  // queue (other processes opening the directory only raise it, which errs
  // on the side of registering again).
  uint64_t fences_emitted_ = 0;
  uint64_t fences_seen_ = 0;
  // The fence of the first successful registration (0: none or no fence).
  uint64_t first_fence_ = 0;
  const int wake_fd_;

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> registrations_{0};
  std::unique_ptr<std::atomic<bool>[]> registered_;
  std::mutex start_mu_;
  std::thread thread_;
};

}  // namespace hailo_dp
