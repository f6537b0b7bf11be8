#include "plugin_client.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

namespace hdp_bench {
namespace {

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace

PluginClient::PluginClient(const std::string& socket_path) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel("unix:" + socket_path,
                                       grpc::InsecureChannelCredentials(), args);
  stub_ = v1beta1::DevicePlugin::NewStub(channel_);
}

absl::Status PluginClient::Connect(int timeout_ms) {
  auto deadline =
      std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (!channel_->WaitForConnected(deadline)) {
    return absl::DeadlineExceededError("plugin socket: not connected");
  }
  return absl::OkStatus();
}

absl::Status PluginClient::Allocate(const std::vector<std::string>& ids) {
  if (ids != allocate_ids_) {
    allocate_ids_ = ids;
    allocate_.Clear();
    auto* container = allocate_.add_container_requests();
    for (const std::string& id : ids) container->add_devices_ids(id);
  }
  grpc::ClientContext context;
  v1beta1::AllocateResponse response;
  return FromGrpc(stub_->Allocate(&context, allocate_, &response));
}

absl::Status PluginClient::Preferred(const std::vector<std::string>& available,
                                     int size) {
  if (available != preferred_ids_ || preferred_.container_requests_size() == 0 ||
      preferred_.container_requests(0).allocation_size() != size) {
    preferred_ids_ = available;
    preferred_.Clear();
    auto* container = preferred_.add_container_requests();
    for (const std::string& id : available) container->add_available_deviceids(id);
    container->set_allocation_size(size);
  }
  grpc::ClientContext context;
  v1beta1::PreferredAllocationResponse response;
  return FromGrpc(stub_->GetPreferredAllocation(&context, preferred_, &response));
}

}  // namespace hdp_bench
