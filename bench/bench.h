// Bench: the measurements. Each Measure* method runs one scenario against the
// real daemon binary (a child process) and the kubelet simulator (in this
// process) and adds its figures to the report. Scenarios run in the order
// main() calls them; each leaves no daemon running. Not thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kubelet_sim/kubelet_sim.h"
#include "process.h"
#include "report.h"

namespace hdp_bench {

struct Options {
  std::string binary;        // the hailo-device-plugin executable
  std::string source_dir;    // for scripts/fake-node.sh
  std::string work_dir;      // temp directory, removed at the end
  std::string http_address;  // daemon's --http-address
  int starts = 10;
  int hotplug_cycles = 100;
  int restarts = 50;
  int rpc_calls = 10000;
  int idle_seconds = 60;
  int scale_devices = 64;
  int scale_replicas = 16;
};

using Clock = std::chrono::steady_clock;

// Registration and first-list times as the sim's event callback saw them.
class RegistrationTracker {
 public:
  void OnEvent(const kubelet_sim::KubeletSim::Event& event);
  int registrations() const;
  // Waits for registration number > `after` and its first device list.
  bool Wait(int after, std::chrono::milliseconds timeout, Clock::time_point* registered,
            Clock::time_point* first_list, size_t* devices) const;

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  int registrations_ = 0;
  bool have_list_ = false;
  size_t list_devices_ = 0;
  Clock::time_point registered_at_, first_list_at_;
};

class Bench {
 public:
  Bench(Options options, Report* report);
  ~Bench();

  absl::Status Setup();  // fake node with one device, the sim
  absl::Status MeasureStart();
  // Starts the daemon that the next three scenarios and the idle window share.
  absl::Status StartMain();
  absl::Status MeasureHotplug();
  absl::Status MeasureRestart();
  absl::Status MeasureRpc();
  absl::Status MeasureIdle();  // also stops the main daemon
  absl::Status MeasureScale();

 private:
  std::unique_ptr<DaemonProcess> NewDaemon(const std::string& host,
                                           const std::string& name,
                                           const std::string& config) const;
  // Starts `daemon` and waits for its registration with `devices` devices.
  absl::Status StartAndRegister(DaemonProcess& daemon, size_t devices,
                                double* registered_ms, double* listed_ms);
  absl::Status BuildHost(const std::string& host, int devices) const;
  absl::Status WaitHealth(const std::string& id, const std::string& health,
                          Clock::time_point* seen) const;
  void AddMemory(const std::string& when);
  absl::Status ScaleRun(int devices, int replicas, const std::string& host);
  void MeasureCdiWrite(const std::string& host);

  const Options options_;
  Report* const report_;
  std::string host_;  // fake node root with one device
  std::string kubelet_dir_;
  std::unique_ptr<kubelet_sim::KubeletSim> sim_;
  RegistrationTracker tracker_;
  std::unique_ptr<DaemonProcess> main_;
  double start_cpu_ms_ = 0;
};

inline constexpr char kResource[] = "hailo.ai/npu";

double Ms(Clock::duration d);

}  // namespace hdp_bench
