// Output of the kubelet-sim program: a timestamped line printer and readable
// formatting of the Device Plugin API messages and of the sim's events.
//
// Thread-safety: Printer may be used from any thread (the sim's event callback
// prints from internal threads); the functions are pure.
#pragma once

#include <chrono>
#include <iomanip>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "kubelet_sim/kubelet_sim.h"

namespace kubelet_sim {

// Timestamped lines from any thread.
class Printer {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Printer(std::ostream& os) : os_(os), start_(Clock::now()) {}
  long long Ms(Clock::time_point at) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(at - start_).count();
  }
  void Line(const std::string& text, Clock::time_point at = Clock::now()) {
    std::lock_guard lock(mu_);
    os_ << "[+" << std::setw(7) << Ms(at) << " ms] " << text << std::endl;
  }
  void Lines(const std::vector<std::string>& lines) {
    const auto now = Clock::now();
    for (const auto& line : lines) Line(line, now);
  }

 private:
  std::ostream& os_;  // guarded by mu_
  const Clock::time_point start_;
  std::mutex mu_;
};

std::string FormatOptions(const v1beta1::DevicePluginOptions& o);
// One device: "    ID  HEALTH  numa=N[,N]" ("-" without topology).
std::string FormatDevice(const v1beta1::Device& d);
// A capacity/allocatable line, then one line per device.
std::vector<std::string> FormatDevices(const KubeletSim::PluginState& s);
// CDI names, env, annotations, device nodes and mounts of one container.
std::vector<std::string> FormatResponse(const v1beta1::ContainerAllocateResponse& r);
void PrintEvent(Printer& out, const KubeletSim::Event& e);

// Runs /bin/sh -c `command` with an empty signal mask and default dispositions
// (kubelet-sim blocks SIGINT/SIGTERM, and a child must not inherit that);
// returns the wait status, or -1.
int RunShell(const std::string& command);

}  // namespace kubelet_sim
