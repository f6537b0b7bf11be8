// Private to the kubelet simulator's sources: the pieces of KubeletSim that
// kubelet_sim.cc (registration, streams) and kubelet_sim_pods.cc (queries,
// pod admission) share.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "kubelet_sim/kubelet_sim.h"

namespace kubelet_sim {

inline absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

inline grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
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

}  // namespace kubelet_sim
