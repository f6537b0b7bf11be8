// PluginService: the v1beta1.DevicePlugin gRPC service of one resource.
//
// A thin layer: each RPC takes the registry's current snapshot, selects the
// resource's devices and calls the pure functions of allocation.h.
// ListAndWatch streams block on the registry; Shutdown() ends all of them
// promptly (a sync gRPC server cannot end a waiting handler by itself).
// Thread-safe: RPCs run on gRPC's threads concurrently.
#pragma once

#include <atomic>
#include <functional>

#include "api.grpc.pb.h"
#include "hailo_device_plugin/allocation.h"
#include "hailo_device_plugin/device_registry.h"

namespace hailo_dp {

// What the service reports to whoever counts (metrics); all optional.
struct ServiceObserver {
  std::function<void(const std::string& resource, size_t devices)> on_allocate;
  std::function<void(const std::string& resource, const absl::Status&)> on_allocate_error;
};

class PluginService final : public v1beta1::DevicePlugin::Service {
 public:
  PluginService(const DeviceRegistry* registry, AllocateOptions options,
                ServiceObserver observer = {});

  // Ends every ListAndWatch stream and refuses new ones. Idempotent.
  void Shutdown();
  int open_streams() const { return open_streams_.load(); }
  const AllocateOptions& options() const { return options_; }

  // The IDs this resource advertises for the registry's current snapshot.
  std::vector<AdvertisedDevice> Advertised() const;

  grpc::Status GetDevicePluginOptions(grpc::ServerContext* context,
                                      const v1beta1::Empty* request,
                                      v1beta1::DevicePluginOptions* response) override;
  grpc::Status ListAndWatch(
      grpc::ServerContext* context, const v1beta1::Empty* request,
      grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override;
  grpc::Status GetPreferredAllocation(
      grpc::ServerContext* context, const v1beta1::PreferredAllocationRequest* request,
      v1beta1::PreferredAllocationResponse* response) override;
  grpc::Status Allocate(grpc::ServerContext* context,
                        const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override;
  grpc::Status PreStartContainer(grpc::ServerContext* context,
                                 const v1beta1::PreStartContainerRequest* request,
                                 v1beta1::PreStartContainerResponse* response) override;

 private:
  const DeviceRegistry* const registry_;
  const AllocateOptions options_;
  const ServiceObserver observer_;
  std::atomic<bool> shutdown_{false};
  std::atomic<int> open_streams_{0};
};

// absl::Status -> grpc::Status, keeping code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace hailo_dp
