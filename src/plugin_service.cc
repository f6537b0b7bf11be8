#include "hailo_device_plugin/plugin_service.h"

#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {
namespace {

// How often a waiting stream checks whether its client went away.
constexpr std::chrono::milliseconds kStreamPoll{2000};

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

PluginService::PluginService(const DeviceRegistry* registry, AllocateOptions options,
                             ServiceObserver observer)
    : registry_(registry), options_(std::move(options)), observer_(std::move(observer)) {}

void PluginService::Shutdown() {
  shutdown_.store(true);
  registry_->Wake();
}

std::vector<AdvertisedDevice> PluginService::Advertised() const {
  auto snapshot = registry_->Current();
  return AdvertiseDevices(options_.resource.Select(snapshot->devices), options_.sharing);
}

grpc::Status PluginService::GetDevicePluginOptions(
    grpc::ServerContext*, const v1beta1::Empty*, v1beta1::DevicePluginOptions* response) {
  response->set_pre_start_required(false);
  response->set_get_preferred_allocation_available(true);
  return grpc::Status::OK;
}

grpc::Status PluginService::ListAndWatch(
    grpc::ServerContext* context, const v1beta1::Empty*,
    grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) {
  open_streams_.fetch_add(1);
  const std::string& resource = options_.resource.resource_name;
  spdlog::info("{}: ListAndWatch stream opened", resource);
  auto stop = [&] { return shutdown_.load() || context->IsCancelled(); };
  uint64_t sent_version = 0;
  std::vector<AdvertisedDevice> last_sent;
  bool first = true;
  while (!stop()) {
    auto snapshot = registry_->WaitNewer(sent_version, kStreamPoll, stop);
    if (stop()) break;
    if (snapshot->version == sent_version) continue;
    sent_version = snapshot->version;
    auto advertised =
        AdvertiseDevices(options_.resource.Select(snapshot->devices), options_.sharing);
    auto message = BuildListAndWatchResponse(advertised);
    // Other families' changes do not concern this resource's stream.
    if (!first && message.SerializeAsString() ==
                      BuildListAndWatchResponse(last_sent).SerializeAsString()) {
      continue;
    }
    if (!writer->Write(message)) break;
    first = false;
    last_sent = std::move(advertised);
  }
  open_streams_.fetch_sub(1);
  spdlog::info("{}: ListAndWatch stream closed", resource);
  return grpc::Status::OK;
}

grpc::Status PluginService::GetPreferredAllocation(
    grpc::ServerContext*, const v1beta1::PreferredAllocationRequest* request,
    v1beta1::PreferredAllocationResponse* response) {
  auto advertised = Advertised();
  for (const auto& req : request->container_requests()) {
    std::vector<std::string> available(req.available_deviceids().begin(),
                                       req.available_deviceids().end());
    std::vector<std::string> must(req.must_include_deviceids().begin(),
                                  req.must_include_deviceids().end());
    auto chosen =
        ChoosePreferredAllocation(available, must, req.allocation_size(), advertised);
    if (!chosen.ok()) {
      spdlog::warn("{}: GetPreferredAllocation refused: {}",
                   options_.resource.resource_name, chosen.status().message());
      return ToGrpcStatus(chosen.status());
    }
    auto* out = response->add_container_responses();
    for (const std::string& id : *chosen) out->add_deviceids(id);
  }
  return grpc::Status::OK;
}

grpc::Status PluginService::Allocate(grpc::ServerContext*,
                                     const v1beta1::AllocateRequest* request,
                                     v1beta1::AllocateResponse* response) {
  auto advertised = Advertised();
  const std::string& resource = options_.resource.resource_name;
  for (const auto& req : request->container_requests()) {
    std::vector<std::string> ids(req.devices_ids().begin(), req.devices_ids().end());
    auto answer = BuildContainerAllocateResponse(ids, advertised, options_);
    if (!answer.ok()) {
      spdlog::warn("{}: Allocate refused: {}", resource, answer.status().message());
      if (observer_.on_allocate_error)
        observer_.on_allocate_error(resource, answer.status());
      return ToGrpcStatus(answer.status());
    }
    spdlog::info("{}: allocated {}", resource, answer->envs().at("HAILO_DEVICE_IDS"));
    if (observer_.on_allocate) observer_.on_allocate(resource, ids.size());
    *response->add_container_responses() = std::move(*answer);
  }
  return grpc::Status::OK;
}

grpc::Status PluginService::PreStartContainer(grpc::ServerContext*,
                                              const v1beta1::PreStartContainerRequest*,
                                              v1beta1::PreStartContainerResponse*) {
  return grpc::Status::OK;
}

}  // namespace hailo_dp
