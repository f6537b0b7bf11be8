// Daemon: the whole device plugin wired together, for main() and for
// in-process integration tests.
//
// Start() scans once, writes the CDI spec, starts the monitor thread, and
// starts serving and registering every resource (registration keeps retrying
// in the background while the kubelet is absent). Stop() ends every
// ListAndWatch stream, stops the servers, removes the sockets and keeps the
// CDI spec; it is idempotent and the destructor calls it. Reload() applies a
// new config (re-registering when needed). Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "hailo_device_plugin/config.h"

namespace hailo_dp {

class DeviceRegistry;
class DeviceMonitor;

class Daemon {
 public:
  explicit Daemon(Config config);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  absl::Status Start();
  void Stop();
  absl::Status Reload(Config config);

  // For tests and the HTTP endpoints.
  const DeviceRegistry& registry() const;
  DeviceMonitor& monitor();
  // True once every resource is registered with the kubelet.
  bool Registered() const;
  // What /healthz and /readyz answer: OK, or the reason.
  absl::Status Healthy() const;
  absl::Status Ready() const;
  // What /metrics serves.
  std::string MetricsText() const;
  // The HTTP port actually bound (for --http-address with port 0); 0 if off.
  int http_port() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hailo_dp
