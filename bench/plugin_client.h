// PluginClient: one channel and stub on the plugin's socket, reused for every
// call, so that round trips measure the plugin and not channel setup (the
// simulator's raw calls are fine for that too, but this keeps the bench
// independent of how the sim manages its channels). Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "api.grpc.pb.h"

namespace hdp_bench {

class PluginClient {
 public:
  explicit PluginClient(const std::string& socket_path);

  // Waits until the channel is connected (or `timeout_ms` passes).
  absl::Status Connect(int timeout_ms);
  // One Allocate with one container asking for `ids`.
  absl::Status Allocate(const std::vector<std::string>& ids);
  // One GetPreferredAllocation: `size` out of `available`.
  absl::Status Preferred(const std::vector<std::string>& available, int size);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub_;
  // Requests are built once per distinct input and reused.
  std::vector<std::string> allocate_ids_;
  v1beta1::AllocateRequest allocate_;
  std::vector<std::string> preferred_ids_;
  v1beta1::PreferredAllocationRequest preferred_;
};

}  // namespace hdp_bench
