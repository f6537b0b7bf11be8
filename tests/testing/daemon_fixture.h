// Helpers for the daemon's integration tests: a per-test environment (fake
// host tree, kubelet and CDI directories, a Config pointing at them), a
// ListAndWatch client of our own on a plugin socket, a reader of the CDI spec
// on disk, a child process with a bounded wait, and the reporting of measured
// figures.
//
// Everything lives in per-test temp directories (the FakeHostTree's) and is
// removed by the destructors. Waits are on conditions with a timeout, never a
// bare sleep. StreamClient is thread-safe; the rest is used from the test's
// thread only.
//
// Note: this namespace is hailo_dp::testing; code inside namespace hailo_dp
// must spell gtest's namespace `::testing`.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api.grpc.pb.h"
#include "hailo_device_plugin/config.h"
#include "testing/fake_host_tree.h"

namespace hailo_dp::testing {

using Clock = std::chrono::steady_clock;

// The PCI addresses the daemon tests put devices at, their device IDs, and
// the default resource.
inline constexpr char kA[] = "0000:03:00.0";
inline constexpr char kIdA[] = "0000-03-00.0";
inline constexpr char kB[] = "0000:04:00.0";
inline constexpr char kIdB[] = "0000-04-00.0";
inline constexpr char kC[] = "0001:01:00.0";  // a non-zero domain, as on a Raspberry Pi 5
inline constexpr char kIdC[] = "0001-01-00.0";
inline constexpr char kD[] = "0000:05:00.0";
inline constexpr char kIdD[] = "0000-05-00.0";
inline constexpr char kNpu[] = "hailo.ai/npu";

// Generous liveness bound of every wait in these tests.
inline constexpr std::chrono::milliseconds kWait{5000};

// Directories of one test: <tree root>/kubelet and <tree root>/cdi. Neither
// is created here: the kubelet's directory is made by KubeletSim::Start (or
// by the test), the CDI directory by the daemon.
struct DaemonDirs {
  explicit DaemonDirs(const FakeHostTree& tree)
      : kubelet_dir(tree.root() + "/kubelet"), cdi_dir(tree.root() + "/cdi") {}
  std::string kubelet_dir;
  std::string cdi_dir;
};

// A Config for the in-process daemon: roots from the tree, directories from
// `dirs`, no HTTP endpoint, a rescan interval long enough (60 s) that only
// inotify drives changes unless a test says otherwise.
Config TestConfig(const FakeHostTree& tree, const DaemonDirs& dirs,
                  std::chrono::milliseconds rescan_interval = std::chrono::seconds(60));

// The device names (`devices[].name`) of the CDI spec at `path`; nullopt
// when the file is missing or not a CDI spec.
std::optional<std::set<std::string>> CdiSpecDeviceNames(const std::string& path);

// True when the spec at `path` names every ID in `ids`.
bool CdiSpecNamesAll(const std::string& path, const std::vector<std::string>& ids);

// A GetPreferredAllocation request for one container.
v1beta1::PreferredAllocationRequest PreferredRequest(
    const std::vector<std::string>& available, const std::vector<std::string>& must,
    int size);

std::vector<std::string> IdsOf(const std::vector<v1beta1::Device>& devices);
std::vector<std::string> IdsOf(const v1beta1::ListAndWatchResponse& response);
// Health of `id` in `devices`; "" when absent.
std::string HealthOf(const std::vector<v1beta1::Device>& devices, const std::string& id);
bool AllHealthy(const std::vector<v1beta1::Device>& devices);

bool IsSocket(const std::string& path);
bool Exists(const std::string& path);

// Polls `condition` every few milliseconds until it holds or `timeout`
// passes, for state that offers nothing to wait on (a flag, a file).
bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = kWait);

double MillisSince(Clock::time_point start);

// Prints a measured figure ("[  FIGURE  ] <name> = <ms> ms") and records it
// as a test property, so it shows in the XML report too.
void ReportFigure(const std::string& name, double milliseconds);

// A v1beta1.DevicePlugin client of our own on a plugin socket.
std::unique_ptr<v1beta1::DevicePlugin::Stub> PluginStub(const std::string& socket_path);

// One ListAndWatch stream read on its own thread. Cancels and joins on
// destruction.
class StreamClient {
 public:
  explicit StreamClient(const std::string& socket_path);
  ~StreamClient();
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;

  // Blocks until `pred(messages so far)` holds or `timeout` passes.
  bool WaitFor(
      const std::function<bool(const std::vector<v1beta1::ListAndWatchResponse>&)>& pred,
      std::chrono::milliseconds timeout = kWait) const;
  // Blocks until the first message arrived.
  bool WaitFirst(std::chrono::milliseconds timeout = kWait) const;
  // Blocks until the stream ended (server closed it or failed).
  bool WaitEnded(std::chrono::milliseconds timeout = kWait) const;

  size_t messages() const;
  std::optional<v1beta1::ListAndWatchResponse> Last() const;
  bool ended() const;
  Clock::time_point ended_at() const;
  grpc::Status status() const;  // once ended

 private:
  void Read();

  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub_;
  grpc::ClientContext context_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  // Guarded by mu_.
  std::vector<v1beta1::ListAndWatchResponse> messages_;
  bool ended_ = false;
  Clock::time_point ended_at_{};
  grpc::Status status_;
  std::thread thread_;
};

// A child process (fork + exec) with stdout and stderr sent to a log file.
// The destructor kills (SIGKILL) and reaps it if it still runs.
class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`. Returns nullptr (and adds a gtest failure)
  // when fork fails.
  static std::unique_ptr<ChildProcess> Spawn(const std::vector<std::string>& argv,
                                             const std::string& log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool Signal(int signal) const;
  // The wait status once the process exited, or nullopt if it still runs
  // after `timeout`.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  bool running() const { return !status_.has_value(); }
  // The log file's content so far.
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, int pidfd, std::string log_path)
      : pid_(pid), pidfd_(pidfd), log_path_(std::move(log_path)) {}

  pid_t pid_;
  int pidfd_;  // -1: poll waitpid instead
  std::string log_path_;
  std::optional<int> status_;
};

}  // namespace hailo_dp::testing
