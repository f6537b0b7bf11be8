#include "hailo_device_plugin/plugin_endpoint.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>

#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {
namespace {

constexpr auto kSelfCheckTimeout = std::chrono::seconds(5);
// The kubelet dials back within Register with a 10 s timeout of its own.
constexpr auto kRegisterTimeout = std::chrono::seconds(15);
// How often a Register in flight checks that our socket is still there.
constexpr auto kRegisterPoll = std::chrono::milliseconds(50);
// A kubelet that accepts no connection within this is treated as absent.
constexpr auto kConnectTimeout = std::chrono::seconds(2);

std::shared_ptr<grpc::Channel> UnixChannel(const std::string& path) {
  grpc::ChannelArguments args;
  // A fresh, unshared channel per call: no inherited reconnect backoff.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("unix:" + path, grpc::InsecureChannelCredentials(),
                                   args);
}

ino_t InodeOf(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) ? st.st_ino : 0;
}

}  // namespace

PluginEndpoint::PluginEndpoint(std::string kubelet_dir, const DeviceRegistry* registry,
                               AllocateOptions options, ServiceObserver observer)
    : kubelet_dir_(std::move(kubelet_dir)),
      socket_path_(Cat(kubelet_dir_, "/", options.resource.socket_name)),
      registry_(registry),
      options_(std::move(options)),
      observer_(std::move(observer)) {}

PluginEndpoint::~PluginEndpoint() { StopServing(); }

absl::Status PluginEndpoint::Serve() {
  StopServing();
  if (unlink(socket_path_.c_str()) != 0 && errno != ENOENT) {
    return absl::UnavailableError(
        Cat(socket_path_, ": cannot remove stale socket: ", std::strerror(errno)));
  }
  auto service = std::make_shared<PluginService>(registry_, options_, observer_);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path_, grpc::InsecureServerCredentials());
  builder.RegisterService(service.get());
  builder.SetSyncServerOption(grpc::ServerBuilder::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::MAX_POLLERS, 2);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    return absl::UnavailableError(Cat(socket_path_, ": cannot serve on this socket"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    service_ = std::move(service);
  }
  server_ = std::move(server);
  socket_inode_ = InodeOf(socket_path_);
  serving_.store(true);
  if (absl::Status s = CheckAnswers(); !s.ok()) {
    StopServing();
    return s;
  }
  return absl::OkStatus();
}

absl::Status PluginEndpoint::CheckAnswers() {
  auto stub = v1beta1::DevicePlugin::NewStub(UnixChannel(socket_path_));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kSelfCheckTimeout);
  context.set_wait_for_ready(true);
  v1beta1::Empty request;
  v1beta1::DevicePluginOptions response;
  grpc::Status status = stub->GetDevicePluginOptions(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        Cat(socket_path_, ": server does not answer: ", status.error_message()));
  }
  return absl::OkStatus();
}

absl::Status PluginEndpoint::Connect(grpc::Channel& channel, const std::string& path) {
  const auto deadline = std::chrono::system_clock::now() + kConnectTimeout;
  for (grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
       state != GRPC_CHANNEL_READY; state = channel.GetState(/*try_to_connect=*/true)) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      struct stat st {};
      return absl::UnavailableError(
          lstat(path.c_str(), &st) != 0
              ? Cat(path, ": ", std::strerror(errno), " (is the kubelet running?)")
              : Cat(path, ": nothing accepts connections on it"));
    }
    {
      std::lock_guard<std::mutex> lock(call_mu_);
      if (cancelled_) return absl::CancelledError("shutting down");
    }
    if (std::chrono::system_clock::now() >= deadline) {
      return absl::UnavailableError(
          Cat(path, ": no connection within ",
              std::chrono::milliseconds(kConnectTimeout).count(), " ms"));
    }
    channel.WaitForStateChange(
        state, std::min(deadline, std::chrono::system_clock::now() + kRegisterPoll));
  }
  return absl::OkStatus();
}

absl::Status PluginEndpoint::Register(const std::function<void()>& connected) {
  const std::string kubelet_socket = Cat(kubelet_dir_, "/", kKubeletSocketName);
  std::shared_ptr<grpc::Channel> channel = UnixChannel(kubelet_socket);
  if (absl::Status status = Connect(*channel, kubelet_socket); !status.ok()) {
    return absl::UnavailableError(Cat("Register: ", status.message()));
  }
  if (connected) connected();
  auto stub = v1beta1::Registration::NewStub(channel);
  v1beta1::RegisterRequest request;
  request.set_version(std::string(kDevicePluginApiVersion));
  request.set_endpoint(options_.resource.socket_name);
  request.set_resource_name(options_.resource.resource_name);
  request.mutable_options()->set_get_preferred_allocation_available(true);
  request.mutable_options()->set_pre_start_required(false);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kRegisterTimeout);
  {
    std::lock_guard<std::mutex> lock(call_mu_);
    if (cancelled_) return absl::CancelledError("shutting down");
    pending_call_ = &context;
  }
  grpc::Status status = CallRegister(*stub, &context, request);
  {
    std::lock_guard<std::mutex> lock(call_mu_);
    pending_call_ = nullptr;
  }
  if (!status.ok()) {
    return absl::UnavailableError(
        Cat("Register on ", kubelet_socket, " failed: ", status.error_message()));
  }
  return absl::OkStatus();
}

grpc::Status PluginEndpoint::CallRegister(v1beta1::Registration::Stub& stub,
                                          grpc::ClientContext* context,
                                          const v1beta1::RegisterRequest& request) {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  grpc::Status status;
  v1beta1::Empty response;
  stub.async()->Register(context, &request, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    done_cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  // If the kubelet deletes our socket meanwhile (it restarted), its dial-back
  // can only fail: give up now and serve again instead of waiting it out.
  while (!done_cv.wait_for(lock, kRegisterPoll, [&] { return done; })) {
    if (!SocketIntact()) context->TryCancel();
  }
  return status;
}

void PluginEndpoint::CancelPendingCalls() {
  std::lock_guard<std::mutex> lock(call_mu_);
  cancelled_ = true;
  if (pending_call_ != nullptr) pending_call_->TryCancel();
}

void PluginEndpoint::StopServing() {
  std::shared_ptr<PluginService> service;
  {
    std::lock_guard<std::mutex> lock(mu_);
    service = service_;
  }
  if (!server_) return;
  serving_.store(false);
  service->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  server_->Wait();
  server_.reset();
  if (SocketIntact()) unlink(socket_path_.c_str());
  socket_inode_ = 0;
}

bool PluginEndpoint::SocketIntact() const {
  return socket_inode_ != 0 && InodeOf(socket_path_) == socket_inode_;
}

int PluginEndpoint::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return service_ ? service_->open_streams() : 0;
}

}  // namespace hailo_dp
