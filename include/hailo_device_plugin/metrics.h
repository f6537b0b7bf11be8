// Metrics: the daemon's Prometheus metrics (prometheus-cpp core).
//
// Every On*() is thread-safe (prometheus-cpp counters are atomic and its
// families lock), so gRPC threads, the monitor and the supervisor report
// directly. Serialize() renders the text exposition format for /metrics.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hailo_device_plugin/device.h"

namespace hailo_dp {

class Metrics {
 public:
  Metrics();

  void OnScan(std::chrono::nanoseconds duration, const std::vector<Device>& devices);
  void OnAllocate(const std::string& resource, size_t devices);
  void OnAllocateError(const std::string& resource, const absl::Status& status);
  void OnRegistered(const std::string& resource);
  void OnKubeletRestart();
  void OnCdiWrite(bool ok);

  std::string Serialize() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>& devices_;
  prometheus::Family<prometheus::Counter>& allocations_;
  prometheus::Family<prometheus::Counter>& allocated_devices_;
  prometheus::Family<prometheus::Counter>& allocate_errors_;
  prometheus::Family<prometheus::Counter>& registrations_;
  prometheus::Counter& kubelet_restarts_;
  prometheus::Counter& scans_;
  prometheus::Histogram& scan_seconds_;
  prometheus::Counter& cdi_writes_;
  prometheus::Counter& cdi_write_failures_;
};

}  // namespace hailo_dp
