#include "kubelet_sim/kubelet_sim.h"

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kubelet_sim {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace

std::string_view KindName(KubeletSim::Event::Kind kind) {
  switch (kind) {
    case KubeletSim::Event::Kind::kRegistered:
      return "registered";
    case KubeletSim::Event::Kind::kListUpdate:
      return "list_update";
    case KubeletSim::Event::Kind::kStreamEnded:
      return "stream_ended";
    case KubeletSim::Event::Kind::kRegisterRejected:
      return "register_rejected";
  }
  return "unknown";
}

// One registration's channel to the plugin, and its ListAndWatch reader.
struct KubeletSim::Connection {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub;
  v1beta1::DevicePluginOptions options;
  grpc::ClientContext stream_context;
  std::atomic<bool> cancelled{false};  // by the sim, not by the plugin
  // Started and joined under register_mu_, or by Stop() once no Register runs.
  std::thread reader;

  // Ends the ListAndWatch stream.
  void Cancel() {
    cancelled = true;
    stream_context.TryCancel();
  }
};

// Tracks a client call so that Stop() can cancel it.
class KubeletSim::CallGuard {
 public:
  CallGuard(KubeletSim* sim, grpc::ClientContext* context, bool cancel_if_stopped)
      : sim_(sim), context_(context) {
    std::lock_guard lock(sim_->mu_);
    if (cancel_if_stopped && !sim_->serving_) context_->TryCancel();
    sim_->in_flight_.insert(context_);
  }
  ~CallGuard() {
    std::lock_guard lock(sim_->mu_);
    sim_->in_flight_.erase(context_);
  }
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

 private:
  KubeletSim* sim_;
  grpc::ClientContext* context_;
};

class KubeletSim::RegistrationService final : public v1beta1::Registration::Service {
 public:
  explicit RegistrationService(KubeletSim* sim) : sim_(sim) {}
  grpc::Status Register(grpc::ServerContext*, const v1beta1::RegisterRequest* request,
                        v1beta1::Empty*) override {
    return ToGrpc(sim_->HandleRegister(*request));
  }

 private:
  KubeletSim* sim_;
};

KubeletSim::KubeletSim(std::string dir) : KubeletSim(std::move(dir), Options()) {}

KubeletSim::KubeletSim(std::string dir, Options options)
    : dir_(std::filesystem::absolute(dir).lexically_normal().string()),
      options_(options) {}

KubeletSim::~KubeletSim() { Stop(); }

std::string KubeletSim::socket_path() const {
  return (std::filesystem::path(dir_) / kKubeletSocket).string();
}

absl::Status KubeletSim::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  return StartLocked();
}

void KubeletSim::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  StopLocked();
}

absl::Status KubeletSim::Restart() {
  std::lock_guard lifecycle(lifecycle_mu_);
  StopLocked();
  if (auto status = CleanupDirectory(); !status.ok()) return status;
  return StartLocked();
}

absl::Status KubeletSim::StartLocked() {
  if (server_) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir_, ": ", ec.message()));
  const std::string path = socket_path();
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat(path, ": cannot remove: ", strerror(errno)));
  }
  {
    std::lock_guard lock(mu_);
    serving_ = true;
  }
  service_ = std::make_unique<RegistrationService>(this);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + path, grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (server_) return absl::OkStatus();
  std::lock_guard lock(mu_);
  serving_ = false;
  return absl::UnavailableError(absl::StrCat(path, ": cannot serve Registration"));
}

void KubeletSim::StopLocked() {
  if (!server_) return;
  {
    std::lock_guard lock(mu_);
    serving_ = false;
    for (grpc::ClientContext* context : in_flight_) context->TryCancel();
  }
  // Register handlers see serving_ == false and return quickly.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_.reset();
  service_.reset();
  // No Register runs now; the lock still orders our reads of `reader` after
  // the handlers' writes in a way ThreadSanitizer can see.
  std::lock_guard install(register_mu_);
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, entry] : plugins_) {
      if (entry.conn) conns.push_back(entry.conn);
    }
  }
  for (auto& conn : conns) conn->Cancel();
  for (auto& conn : conns) {
    if (conn->reader.joinable()) conn->reader.join();
  }
  // A stopped kubelet holds no connection to any plugin.
  std::lock_guard lock(mu_);
  for (auto& [name, entry] : plugins_) entry.conn.reset();
}

absl::Status KubeletSim::CleanupDirectory() const {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir_, ": ", ec.message()));
  absl::Status result;
  for (const auto& entry : it) {
    if (entry.path().filename() == kCheckpointFile) continue;
    struct stat st;
    if (stat(entry.path().c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    if (unlink(entry.path().c_str()) != 0 && result.ok()) {
      result = absl::InternalError(
          absl::StrCat(entry.path().string(), ": cannot remove: ", strerror(errno)));
    }
  }
  return result;
}

bool KubeletSim::Serving() const {
  std::lock_guard lock(mu_);
  return serving_;
}

absl::Status KubeletSim::HandleRegister(const v1beta1::RegisterRequest& request) {
  absl::Status status = ValidateRegisterRequest(request);
  absl::StatusOr<std::shared_ptr<Connection>> conn;
  if (status.ok()) {
    conn = Dial(request.endpoint());
    status = conn.status();
  }
  if (status.ok()) status = Install(request, *std::move(conn));
  if (!status.ok()) {
    PluginState state;
    state.resource_name = request.resource_name();
    state.endpoint = request.endpoint();
    state.options = request.options();
    Emit(MakeEvent(Event::Kind::kRegisterRejected, state, status.ToString()));
  }
  return status;
}

absl::StatusOr<std::shared_ptr<KubeletSim::Connection>> KubeletSim::Dial(
    const std::string& endpoint) {
  const std::string target = "unix:" + (std::filesystem::path(dir_) / endpoint).string();
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a fresh dial, no old backoff
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  auto conn = std::make_shared<Connection>();
  conn->channel =
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  // gRPC takes system_clock deadlines.
  const auto deadline = std::chrono::system_clock::now() + options_.dial_timeout;
  if (!WaitConnected(*conn, deadline)) {
    return absl::UnavailableError(absl::StrCat("failed to dial device plugin at ", target,
                                               " within ", options_.dial_timeout.count(),
                                               " ms"));
  }
  conn->stub = v1beta1::DevicePlugin::NewStub(conn->channel);
  grpc::ClientContext context;
  context.set_deadline(deadline);
  CallGuard guard(this, &context, /*cancel_if_stopped=*/true);
  grpc::Status status =
      conn->stub->GetDevicePluginOptions(&context, v1beta1::Empty(), &conn->options);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("GetDevicePluginOptions on ", target,
                                               " failed: ", status.error_message()));
  }
  return conn;
}

bool KubeletSim::WaitConnected(Connection& conn,
                               std::chrono::system_clock::time_point deadline) {
  for (;;) {
    grpc_connectivity_state state = conn.channel->GetState(/*try_to_connect=*/true);
    if (state == GRPC_CHANNEL_READY) return true;
    const auto now = std::chrono::system_clock::now();
    if (now >= deadline || !Serving()) return false;
    // Short slices so that Stop() is not held up by a dead endpoint.
    conn.channel->WaitForStateChange(
        state, std::min(deadline, now + std::chrono::milliseconds(50)));
  }
}

absl::Status KubeletSim::Install(const v1beta1::RegisterRequest& request,
                                 std::shared_ptr<Connection> conn) {
  const std::string& resource = request.resource_name();
  std::lock_guard install(register_mu_);
  std::shared_ptr<Connection> old;
  Event event;
  {
    std::lock_guard lock(mu_);
    if (!serving_) return absl::UnavailableError("kubelet is stopping");
    Entry& entry = plugins_[resource];
    old = std::exchange(entry.conn, conn);
    PluginState& state = entry.state;
    state.resource_name = resource;
    state.endpoint = request.endpoint();
    state.options = conn->options;
    state.list_updates = 0;
    state.stream_open = true;
    state.registrations++;
    state.registered_at = Clock::now();
    event = MakeEvent(Event::Kind::kRegistered, state, "");
  }
  if (old) {
    old->Cancel();
    if (old->reader.joinable()) old->reader.join();
  }
  Publish(event);
  conn->reader =
      std::thread([this, resource, c = conn.get()] { ReadStream(resource, c); });
  return absl::OkStatus();
}

void KubeletSim::ReadStream(std::string resource, Connection* conn) {
  auto reader = conn->stub->ListAndWatch(&conn->stream_context, v1beta1::Empty());
  v1beta1::ListAndWatchResponse response;
  while (reader->Read(&response)) OnList(resource, conn, response);
  grpc::Status status = reader->Finish();
  std::string why = conn->cancelled ? "cancelled by the kubelet"
                    : status.ok()   ? "the plugin ended it"
                                    : FromGrpc(status).ToString();
  OnStreamEnded(resource, conn, why);
}

void KubeletSim::OnList(const std::string& resource, const Connection* conn,
                        const v1beta1::ListAndWatchResponse& response) {
  Event event;
  {
    std::lock_guard lock(mu_);
    auto it = plugins_.find(resource);
    if (it == plugins_.end() || it->second.conn.get() != conn) return;
    PluginState& state = it->second.state;
    state.devices.assign(response.devices().begin(), response.devices().end());
    state.list_updates++;
    state.last_update_at = Clock::now();
    event = MakeEvent(Event::Kind::kListUpdate, state, "");
  }
  Publish(event);
}

void KubeletSim::OnStreamEnded(const std::string& resource, const Connection* conn,
                               const std::string& why) {
  Event event;
  {
    std::lock_guard lock(mu_);
    auto it = plugins_.find(resource);
    if (it == plugins_.end() || it->second.conn.get() != conn) return;
    PluginState& state = it->second.state;
    state.stream_open = false;
    for (v1beta1::Device& device : state.devices) device.set_health(kUnhealthy);
    event = MakeEvent(Event::Kind::kStreamEnded, state, why);
  }
  Publish(event);
}

KubeletSim::Event KubeletSim::MakeEvent(Event::Kind kind, const PluginState& state,
                                        std::string text) const {
  return Event{kind, state.resource_name, std::move(text), Clock::now(), state};
}

void KubeletSim::Emit(const Event& event) {
  std::lock_guard lock(callback_mu_);
  if (callback_) callback_(event);
}

// The callback runs before waiters wake, so that a program printing events
// shows a change before whatever a waiter does about it. No wakeup is lost:
// the state changed under mu_ before.
void KubeletSim::Publish(const Event& event) {
  Emit(event);
  changed_.notify_all();
}

void KubeletSim::SetEventCallback(std::function<void(const Event&)> callback) {
  std::lock_guard lock(callback_mu_);
  callback_ = std::move(callback);
}

std::optional<KubeletSim::PluginState> KubeletSim::Plugin(
    const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  if (it == plugins_.end()) return std::nullopt;
  return it->second.state;
}

std::vector<std::string> KubeletSim::Resources() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : plugins_) names.push_back(name);
  return names;
}

bool KubeletSim::WaitFor(const std::string& resource,
                         const std::function<bool(const PluginState&)>& pred,
                         std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    auto it = plugins_.find(resource);
    return it != plugins_.end() && pred(it->second.state);
  });
}

int KubeletSim::Capacity(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  return it == plugins_.end() ? 0 : static_cast<int>(it->second.state.devices.size());
}

int KubeletSim::Allocatable(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  if (it == plugins_.end()) return 0;
  const auto& devices = it->second.state.devices;
  return static_cast<int>(
      std::count_if(devices.begin(), devices.end(),
                    [](const auto& d) { return d.health() == kHealthy; }));
}

absl::StatusOr<std::shared_ptr<KubeletSim::Connection>> KubeletSim::CurrentConnection(
    const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  if (it == plugins_.end() || !it->second.conn) {
    return absl::NotFoundError(absl::StrCat("no device plugin connected for ", resource));
  }
  return it->second.conn;
}

absl::StatusOr<v1beta1::AllocateResponse> KubeletSim::Allocate(
    const std::string& resource, const v1beta1::AllocateRequest& request) {
  auto conn = CurrentConnection(resource);
  if (!conn.ok()) return conn.status();
  grpc::ClientContext context;
  CallGuard guard(this, &context, /*cancel_if_stopped=*/false);
  v1beta1::AllocateResponse response;
  grpc::Status status = (*conn)->stub->Allocate(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<v1beta1::PreferredAllocationResponse> KubeletSim::GetPreferredAllocation(
    const std::string& resource, const v1beta1::PreferredAllocationRequest& request) {
  auto conn = CurrentConnection(resource);
  if (!conn.ok()) return conn.status();
  grpc::ClientContext context;
  CallGuard guard(this, &context, /*cancel_if_stopped=*/false);
  v1beta1::PreferredAllocationResponse response;
  grpc::Status status =
      (*conn)->stub->GetPreferredAllocation(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<v1beta1::ContainerAllocateResponse> KubeletSim::AdmitPod(
    const std::string& resource, int count, std::vector<std::string>* chosen_ids) {
  if (count <= 0) return absl::InvalidArgumentError("a pod must ask for >= 1 device");
  std::lock_guard admit(admit_mu_);
  std::vector<std::string> available;
  bool preferred = false;
  {
    std::lock_guard lock(mu_);
    auto it = plugins_.find(resource);
    if (it == plugins_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no device plugin registered for ", resource));
    }
    const std::set<std::string>& in_use = allocated_[resource];
    for (const v1beta1::Device& device : it->second.state.devices) {
      if (device.health() == kHealthy && !in_use.count(device.id())) {
        available.push_back(device.id());
      }
    }
    preferred = it->second.state.options.get_preferred_allocation_available();
  }
  if (static_cast<int>(available.size()) < count) {
    return absl::ResourceExhaustedError(
        absl::StrCat("requested number of devices unavailable for ", resource,
                     ". Requested: ", count, ", Available: ", available.size()));
  }
  auto chosen = ChooseDevices(resource, count, preferred, available);
  if (!chosen.ok()) return chosen.status();
  auto response = AllocateOne(resource, *chosen);
  if (response.ok() && chosen_ids != nullptr) *chosen_ids = *chosen;
  return response;
}

absl::StatusOr<std::vector<std::string>> KubeletSim::ChooseDevices(
    const std::string& resource, int count, bool preferred,
    const std::vector<std::string>& available) {
  if (!preferred) {
    return std::vector<std::string>(available.begin(), available.begin() + count);
  }
  v1beta1::PreferredAllocationRequest request;
  auto* container = request.add_container_requests();
  for (const std::string& id : available) container->add_available_deviceids(id);
  container->set_allocation_size(count);
  auto response = GetPreferredAllocation(resource, request);
  if (!response.ok()) return response.status();
  return CheckPreferredAllocation(*response, available, count);
}

// Allocates `ids` in the sim, calls the plugin, and undoes the allocation if
// the call fails, as the kubelet does.
absl::StatusOr<v1beta1::ContainerAllocateResponse> KubeletSim::AllocateOne(
    const std::string& resource, const std::vector<std::string>& ids) {
  {
    std::lock_guard lock(mu_);
    allocated_[resource].insert(ids.begin(), ids.end());
  }
  v1beta1::AllocateRequest request;
  auto* container = request.add_container_requests();
  for (const std::string& id : ids) container->add_devices_ids(id);
  absl::StatusOr<v1beta1::AllocateResponse> response = Allocate(resource, request);
  if (response.ok() && response->container_responses_size() != 1) {
    response = absl::FailedPreconditionError(
        absl::StrCat("Allocate returned ", response->container_responses_size(),
                     " container responses, want 1"));
  }
  if (!response.ok()) {
    Release(ids);
    return response.status();
  }
  return response->container_responses(0);
}

void KubeletSim::Release(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  for (auto& [resource, in_use] : allocated_) {
    for (const std::string& id : ids) in_use.erase(id);
  }
}

std::set<std::string> KubeletSim::Allocated(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = allocated_.find(resource);
  return it == allocated_.end() ? std::set<std::string>() : it->second;
}

}  // namespace kubelet_sim
