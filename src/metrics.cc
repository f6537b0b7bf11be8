#include "hailo_device_plugin/metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cctype>

#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "INVALID_ARGUMENT" -> "invalid_argument".
std::string Reason(const absl::Status& status) {
  return Lower(Str(absl::StatusCodeToString(status.code())));
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      devices_(BuildGauge()
                   .Name("hailo_device_plugin_devices")
                   .Help("Hailo devices on this node, by family and health")
                   .Register(*registry_)),
      allocations_(BuildCounter()
                       .Name("hailo_device_plugin_allocations_total")
                       .Help("Successful container allocations")
                       .Register(*registry_)),
      allocated_devices_(BuildCounter()
                             .Name("hailo_device_plugin_allocated_devices_total")
                             .Help("Device IDs handed out by Allocate")
                             .Register(*registry_)),
      allocate_errors_(BuildCounter()
                           .Name("hailo_device_plugin_allocate_errors_total")
                           .Help("Refused Allocate calls, by gRPC status")
                           .Register(*registry_)),
      registrations_(BuildCounter()
                         .Name("hailo_device_plugin_registrations_total")
                         .Help("Successful registrations with the kubelet")
                         .Register(*registry_)),
      kubelet_restarts_(BuildCounter()
                            .Name("hailo_device_plugin_kubelet_restarts_total")
                            .Help("Kubelet restarts seen (new kubelet.sock)")
                            .Register(*registry_)
                            .Add({})),
      scans_(BuildCounter()
                 .Name("hailo_device_plugin_scans_total")
                 .Help("Device scans completed")
                 .Register(*registry_)
                 .Add({})),
      scan_seconds_(BuildHistogram()
                        .Name("hailo_device_plugin_scan_duration_seconds")
                        .Help("Duration of one device scan")
                        .Register(*registry_)
                        .Add({},
                             prometheus::Histogram::BucketBoundaries{
                                 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5})),
      cdi_writes_(BuildCounter()
                      .Name("hailo_device_plugin_cdi_writes_total")
                      .Help("CDI spec files written")
                      .Register(*registry_)
                      .Add({})),
      cdi_write_failures_(BuildCounter()
                              .Name("hailo_device_plugin_cdi_write_failures_total")
                              .Help("Failed CDI spec writes (the last good spec is kept)")
                              .Register(*registry_)
                              .Add({})) {
  BuildGauge()
      .Name("hailo_device_plugin_build_info")
      .Help("Build information; the value is always 1")
      .Register(*registry_)
      .Add({{"version", HDP_VERSION}})
      .Set(1);
  for (Family family : AllFamilies()) {
    for (std::string_view health : {kHealthy, kUnhealthy}) {
      devices_.Add(
          {{"family", std::string(FamilyName(family))}, {"health", std::string(health)}});
    }
  }
}

void Metrics::OnScan(std::chrono::nanoseconds duration,
                     const std::vector<Device>& devices) {
  scans_.Increment();
  scan_seconds_.Observe(std::chrono::duration<double>(duration).count());
  for (Family family : AllFamilies()) {
    for (bool healthy : {true, false}) {
      double n =
          static_cast<double>(std::count_if(devices.begin(), devices.end(), [&](auto& d) {
            return d.family == family && d.healthy == healthy;
          }));
      devices_
          .Add({{"family", std::string(FamilyName(family))},
                {"health", std::string(healthy ? kHealthy : kUnhealthy)}})
          .Set(n);
    }
  }
}

void Metrics::OnAllocate(const std::string& resource, size_t devices) {
  allocations_.Add({{"resource", resource}}).Increment();
  allocated_devices_.Add({{"resource", resource}})
      .Increment(static_cast<double>(devices));
}

void Metrics::OnAllocateError(const std::string& resource, const absl::Status& status) {
  allocate_errors_.Add({{"resource", resource}, {"reason", Reason(status)}}).Increment();
}

void Metrics::OnRegistered(const std::string& resource) {
  registrations_.Add({{"resource", resource}}).Increment();
}

void Metrics::OnKubeletRestart() { kubelet_restarts_.Increment(); }

void Metrics::OnCdiWrite(bool ok) {
  (ok ? cdi_writes_ : cdi_write_failures_).Increment();
}

std::string Metrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace hailo_dp
