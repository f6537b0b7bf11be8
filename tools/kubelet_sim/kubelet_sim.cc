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
#include "kubelet_sim/internal.h"

namespace kubelet_sim {
namespace {

using Clock = std::chrono::steady_clock;

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
}  // namespace kubelet_sim
