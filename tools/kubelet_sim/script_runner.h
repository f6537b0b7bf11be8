// The script language of the kubelet-sim program, kept apart from main() so
// that tests can drive it: ScriptRunner executes one command per line against
// a KubeletSim and prints each outcome through a Printer (script_format.h).
//
// Thread-safety: a ScriptRunner belongs to one thread, except failures(),
// which any thread may read.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <istream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "kubelet_sim/kubelet_sim.h"
#include "kubelet_sim/script_format.h"

namespace kubelet_sim {

inline constexpr char kScriptUsage[] =
    R"(Script commands (one per line; '#' comments and blank lines ignored):
  echo TEXT                                   print TEXT
  wait-registered RESOURCE [TIMEOUT_MS]       wait for a registration with an open stream
  devices RESOURCE                            the kubelet's view of the devices
  wait-health RESOURCE ID|* Healthy|Unhealthy [TIMEOUT_MS]
  wait-count RESOURCE N [TIMEOUT_MS]          wait until the list has N devices
  admit RESOURCE COUNT [EXPECT_CODE]          admit a pod (GetPreferredAllocation + Allocate)
  allocate RESOURCE ID[,ID...] [EXPECT_CODE]  raw Allocate
  restart                                     restart the kubelet
  wait-reregistered RESOURCE [TIMEOUT_MS]     wait for re-registration after the last restart
  sh COMMAND...                               run COMMAND with /bin/sh -c (non-zero exit fails)
  sleep MS
  quit
TIMEOUT_MS defaults to 10000. EXPECT_CODE is a gRPC code name (OK, INVALID_ARGUMENT, ...).
)";
inline constexpr int kDefaultTimeoutMs = 10000;

// Executes script lines against the sim, printing each outcome.
class ScriptRunner {
 public:
  using Clock = std::chrono::steady_clock;
  using Args = std::vector<std::string>;

  ScriptRunner(KubeletSim& sim, Printer& out)
      : sim_(sim), out_(out), restart_at_(Clock::now()) {}

  // Runs one line; false if the command failed.
  bool RunLine(absl::string_view line);
  bool quit() const { return quit_; }
  // Failed commands so far; may be read from any thread.
  int failures() const { return failures_; }

 private:
  using Handler = bool (ScriptRunner::*)(const Args&, absl::string_view);
  struct Command {
    size_t min_args, max_args;
    Handler run;
  };
  using Pred = std::function<bool(const KubeletSim::PluginState&)>;

  static const std::map<std::string, Command>& Commands();

  bool Fail(absl::string_view what);

  // Parses args[index] as milliseconds if present.
  bool Millis(const Args& args, size_t index, int* ms);

  bool Wait(const std::string& resource, const Args& args, size_t timeout_index,
            Clock::time_point since, absl::string_view what, const Pred& pred);

  // Compares an outcome with an optional expected gRPC code name.
  bool Expect(const absl::Status& status, const Args& args, size_t index);

  // Command handlers: args[0] is the command, `rest` the line after it.
  bool Echo(const Args&, absl::string_view rest);
  bool WaitRegistered(const Args& args, absl::string_view);
  bool Devices(const Args& args, absl::string_view);
  bool WaitHealth(const Args& args, absl::string_view);
  bool WaitCount(const Args& args, absl::string_view);
  bool Admit(const Args& args, absl::string_view);
  bool Allocate(const Args& args, absl::string_view);
  bool Restart(const Args&, absl::string_view);
  bool WaitReregistered(const Args& args, absl::string_view);
  bool Sh(const Args&, absl::string_view rest);
  bool Sleep(const Args& args, absl::string_view);
  bool Quit(const Args&, absl::string_view);

  KubeletSim& sim_;
  Printer& out_;
  std::map<std::string, int> registrations_at_restart_;
  Clock::time_point restart_at_;
  bool quit_ = false;
  std::atomic<int> failures_{0};
};

struct ScriptResult {
  bool ok = true;
  bool quit = false;  // ended by `quit`, not by the end of input
};

// Runs `in` line by line until its end or `quit`.
ScriptResult RunScript(ScriptRunner& runner, std::istream& in);

}  // namespace kubelet_sim
