// PluginEndpoint: one resource's gRPC server on its unix socket in the
// kubelet's directory, and its registration with the kubelet.
//
// Serve() (re)creates the socket and a fresh PluginService and checks that
// the server answers; Register() makes one Register call. StopServing() ends
// the streams, stops the server and removes the socket if it is still ours.
// Not thread-safe: the Supervisor thread (or a test) drives it; open_streams()
// and serving() may be read from any thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "hailo_device_plugin/plugin_service.h"

namespace hailo_dp {

inline constexpr std::string_view kKubeletSocketName = "kubelet.sock";
inline constexpr std::string_view kDevicePluginApiVersion = "v1beta1";

class PluginEndpoint {
 public:
  PluginEndpoint(std::string kubelet_dir, const DeviceRegistry* registry,
                 AllocateOptions options, ServiceObserver observer = {});
  ~PluginEndpoint();
  PluginEndpoint(const PluginEndpoint&) = delete;
  PluginEndpoint& operator=(const PluginEndpoint&) = delete;

  absl::Status Serve();
  // Connects to kubelet.sock, then calls `connected` (if set), then makes the
  // Register call over that same connection. The Supervisor uses the hook to
  // mark the point in its inotify queue after which a new kubelet.sock is
  // newer than the kubelet this call reached.
  absl::Status Register(const std::function<void()>& connected = {});
  void StopServing();
  // Cancels a Register call in flight (from any thread), so Stop() is prompt
  // even when the kubelet hangs.
  void CancelPendingCalls();

  // False when the socket file is gone or is no longer the one we bound
  // (the kubelet deletes plugin sockets when it restarts).
  bool SocketIntact() const;
  bool serving() const { return serving_.load(); }
  int open_streams() const;
  const std::string& socket_path() const { return socket_path_; }
  const ResourceSpec& resource() const { return options_.resource; }

 private:
  absl::Status CheckAnswers();
  // Waits until `channel` is connected; fails fast when nothing listens.
  absl::Status Connect(grpc::Channel& channel, const std::string& path);
  // Register, cancelled when our socket disappears while it waits.
  grpc::Status CallRegister(v1beta1::Registration::Stub& stub,
                            grpc::ClientContext* context,
                            const v1beta1::RegisterRequest& request);

  const std::string kubelet_dir_;
  const std::string socket_path_;
  const DeviceRegistry* const registry_;
  const AllocateOptions options_;
  const ServiceObserver observer_;

  // service_ is read by open_streams() from other threads.
  mutable std::mutex mu_;
  std::shared_ptr<PluginService> service_;  // guarded by mu_
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> serving_{false};
  ino_t socket_inode_ = 0;

  std::mutex call_mu_;
  grpc::ClientContext* pending_call_ = nullptr;  // guarded by call_mu_
  bool cancelled_ = false;                       // guarded by call_mu_
};

}  // namespace hailo_dp
