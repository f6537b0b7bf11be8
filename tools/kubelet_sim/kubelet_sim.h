// KubeletSim: a stand-in for the kubelet's device manager
// (kubernetes pkg/kubelet/cm/devicemanager), for tests, the demo and the
// benchmark. It serves v1beta1.Registration on <dir>/kubelet.sock and treats
// each plugin as the real kubelet does:
//
//  - Register is validated (version "v1beta1", an extended resource name, an
//    endpoint that is a plain file name in <dir>). Still inside the Register
//    call, the sim dials unix:<dir>/<endpoint> (dial timeout, 10 s by default)
//    and calls GetDevicePluginOptions; Register fails if either fails. A
//    rejected request gets INVALID_ARGUMENT, a failed dial-back UNAVAILABLE (the
//    real kubelet returns plain errors, which reach the plugin as UNKNOWN: a
//    plugin must only test for "not OK").
//  - After a successful Register it opens one ListAndWatch stream on a thread of
//    its own. Each message replaces the whole device list. When the stream ends,
//    every device of the resource becomes Unhealthy and nothing reconnects: only
//    a new Register recovers. A new Register for a resource cancels the stream
//    of the previous one first.
//  - Capacity is every listed device, allocatable the Healthy ones.
//  - AdmitPod admits a one-container pod as the kubelet does (see below).
//  - Restart() acts out a kubelet restart: streams end, every socket in <dir>
//    but kubelet_internal_checkpoint is deleted and a new kubelet.sock appears.
//
// Each registration dials a fresh channel (local subchannel pool), so gRPC's
// reconnect backoff from an earlier, dead plugin socket never delays it.
//
// Thread-safety: every public method may be called from any thread. Start,
// Stop and Restart are serialised with each other. The event callback and
// WaitFor predicates run on internal threads (gRPC handlers, stream readers):
// a predicate runs under the sim's lock and must not call the sim; a callback
// runs with no sim lock held and may call the query methods (Plugin,
// Capacity, ...) but never WaitFor/Start/Stop/Restart/SetEventCallback.
// Callbacks are serialised, and events of one resource arrive in order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api.grpc.pb.h"
#include "api.pb.h"
#include "kubelet_sim/validation.h"

namespace grpc {
class ClientContext;
class Server;
}  // namespace grpc

namespace kubelet_sim {

inline constexpr char kKubeletSocket[] = "kubelet.sock";
inline constexpr char kCheckpointFile[] = "kubelet_internal_checkpoint";
inline constexpr char kHealthy[] = "Healthy";
inline constexpr char kUnhealthy[] = "Unhealthy";

class KubeletSim {
 public:
  struct Options {
    // Dial-back limit inside Register (the kubelet's is 10 s). It also bounds
    // the GetDevicePluginOptions call.
    std::chrono::milliseconds dial_timeout{10000};
  };

  // The sim's view of one resource.
  struct PluginState {
    std::string resource_name;
    std::string endpoint;  // file name of the plugin socket in the directory
    v1beta1::DevicePluginOptions options;
    // The last ListAndWatch message; every device Unhealthy once the stream
    // ended. Kept across re-registration until the new stream's first message.
    std::vector<v1beta1::Device> devices;
    uint64_t list_updates = 0;  // messages received since this registration
    bool stream_open = false;
    int registrations = 0;  // successful ones, across restarts of the sim
    std::chrono::steady_clock::time_point registered_at;
    std::chrono::steady_clock::time_point last_update_at;
  };

  struct Event {
    enum class Kind { kRegistered, kListUpdate, kStreamEnded, kRegisterRejected };
    Kind kind;
    std::string resource;
    std::string text;  // the reason for kStreamEnded / kRegisterRejected
    std::chrono::steady_clock::time_point at;
    // The resource's state right after the event. For kRegisterRejected only
    // resource_name, endpoint and options (from the request) are set.
    PluginState state;
  };

  // `dir` is the device-plugins directory (made absolute; created by Start).
  explicit KubeletSim(std::string dir);
  KubeletSim(std::string dir, Options options);
  ~KubeletSim();  // Stop()
  KubeletSim(const KubeletSim&) = delete;
  KubeletSim& operator=(const KubeletSim&) = delete;

  // Serves Registration on <dir>/kubelet.sock, replacing a stale file there.
  // OK if already serving.
  absl::Status Start();
  // Stops serving (in-flight Register calls fail), cancels every ListAndWatch
  // stream, joins the threads and closes the channels to the plugins. Plugin
  // states (devices now Unhealthy), allocations and registration counts are
  // kept. Idempotent.
  void Stop();
  // Stop(); delete every socket in the directory except
  // kubelet_internal_checkpoint (other files and directories stay); Start().
  absl::Status Restart();

  const std::string& dir() const { return dir_; }
  std::string socket_path() const;  // <dir>/kubelet.sock

  std::optional<PluginState> Plugin(const std::string& resource) const;
  std::vector<std::string> Resources() const;  // sorted
  // Blocks until `pred(state)` holds for `resource` (checked now and on every
  // change, after the event callback for that change ran) or `timeout`
  // passes. Returns whether it held.
  bool WaitFor(const std::string& resource,
               const std::function<bool(const PluginState&)>& pred,
               std::chrono::milliseconds timeout) const;
  int Capacity(const std::string& resource) const;     // all devices
  int Allocatable(const std::string& resource) const;  // Healthy devices

  // Admits a pod whose one container asks for `count` devices: picks from the
  // Healthy devices not yet allocated (list order); if the plugin announced
  // get_preferred_allocation_available, asks GetPreferredAllocation (available =
  // those devices, no must_include, allocation_size = count) and uses its answer
  // after CheckPreferredAllocation; then calls Allocate with exactly one
  // ContainerAllocateRequest (no deadline, like the kubelet) and expects exactly
  // one container response. The IDs stay allocated until Release(); on any
  // failure nothing stays allocated. Admissions are serialised.
  // Errors: NOT_FOUND (unknown resource), RESOURCE_EXHAUSTED (too few devices),
  // FAILED_PRECONDITION (bad preferred answer or response), or the plugin's.
  absl::StatusOr<v1beta1::ContainerAllocateResponse> AdmitPod(
      const std::string& resource, int count,
      std::vector<std::string>* chosen_ids = nullptr);
  void Release(const std::vector<std::string>& ids);
  std::set<std::string> Allocated(const std::string& resource) const;

  // Raw calls on the current registration's channel, for tests (NOT_FOUND if
  // none, as after Stop(); gRPC errors keep their code and message).
  absl::StatusOr<v1beta1::AllocateResponse> Allocate(
      const std::string& resource, const v1beta1::AllocateRequest& request);
  absl::StatusOr<v1beta1::PreferredAllocationResponse> GetPreferredAllocation(
      const std::string& resource, const v1beta1::PreferredAllocationRequest& request);

  // Replaces the event callback (nullptr: none). See the thread-safety note.
  void SetEventCallback(std::function<void(const Event&)> callback);

 private:
  class RegistrationService;
  class CallGuard;
  struct Connection;
  struct Entry {
    PluginState state;
    std::shared_ptr<Connection> conn;  // current registration; null after Stop()
  };

  // Register handler body.
  absl::Status HandleRegister(const v1beta1::RegisterRequest& request);
  absl::StatusOr<std::shared_ptr<Connection>> Dial(const std::string& endpoint);
  bool WaitConnected(Connection& conn, std::chrono::system_clock::time_point deadline);
  absl::Status Install(const v1beta1::RegisterRequest& request,
                       std::shared_ptr<Connection> conn);
  void ReadStream(std::string resource, Connection* conn);
  void OnList(const std::string& resource, const Connection* conn,
              const v1beta1::ListAndWatchResponse& response);
  void OnStreamEnded(const std::string& resource, const Connection* conn,
                     const std::string& why);
  absl::StatusOr<std::shared_ptr<Connection>> CurrentConnection(
      const std::string& resource) const;
  absl::StatusOr<std::vector<std::string>> ChooseDevices(
      const std::string& resource, int count, bool preferred,
      const std::vector<std::string>& available);
  absl::StatusOr<v1beta1::ContainerAllocateResponse> AllocateOne(
      const std::string& resource, const std::vector<std::string>& ids);
  absl::Status StartLocked();
  void StopLocked();
  absl::Status CleanupDirectory() const;
  bool Serving() const;
  void Emit(const Event& event);
  void Publish(const Event& event);  // Emit, then wake WaitFor
  Event MakeEvent(Event::Kind kind, const PluginState& state, std::string text) const;

  const std::string dir_;
  const Options options_;

  // Serialises Start/Stop/Restart; guards service_ and server_.
  std::mutex lifecycle_mu_;
  std::unique_ptr<RegistrationService> service_;
  std::unique_ptr<grpc::Server> server_;

  std::mutex register_mu_;  // serialises the install step of Register
  std::mutex admit_mu_;     // serialises AdmitPod, as the kubelet admits pods

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  // Guarded by mu_.
  bool serving_ = false;
  std::map<std::string, Entry> plugins_;
  std::map<std::string, std::set<std::string>> allocated_;
  std::set<grpc::ClientContext*> in_flight_;  // calls Stop() cancels

  std::mutex callback_mu_;                      // held while the callback runs
  std::function<void(const Event&)> callback_;  // guarded by callback_mu_
};

// "registered", "list_update", "stream_ended", "register_rejected".
std::string_view KindName(KubeletSim::Event::Kind kind);

}  // namespace kubelet_sim
