// The script language of the kubelet-sim program, kept apart from main() so
// that tests can drive it: a timestamped line printer, readable formatting of
// the Device Plugin API messages, and ScriptRunner, which executes one command
// per line against a KubeletSim. Header-only (the sim library builds from one
// source file).
//
// Thread-safety: Printer may be used from any thread (the sim's event callback
// prints from internal threads). A ScriptRunner belongs to one thread, except
// failures(), which any thread may read.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <iomanip>
#include <istream>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "kubelet_sim/kubelet_sim.h"

extern char** environ;

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

inline std::string FormatOptions(const v1beta1::DevicePluginOptions& o) {
  return absl::StrCat("pre_start_required=", o.pre_start_required() ? "true" : "false",
                      " get_preferred_allocation_available=",
                      o.get_preferred_allocation_available() ? "true" : "false");
}

inline std::string FormatDevice(const v1beta1::Device& d) {
  std::vector<int64_t> numa;
  for (const auto& node : d.topology().nodes()) numa.push_back(node.id());
  return absl::StrCat("    ", d.id(), "  ", d.health(),
                      "  numa=", numa.empty() ? "-" : absl::StrJoin(numa, ","));
}

inline std::vector<std::string> FormatDevices(const KubeletSim::PluginState& s) {
  int healthy = 0;
  for (const auto& d : s.devices) healthy += d.health() == kHealthy;
  std::vector<std::string> lines = {
      absl::StrCat("  capacity=", s.devices.size(), " allocatable=", healthy)};
  for (const auto& d : s.devices) lines.push_back(FormatDevice(d));
  return lines;
}

inline std::vector<std::string> FormatResponse(
    const v1beta1::ContainerAllocateResponse& r) {
  std::vector<std::string> lines;
  for (const auto& cdi : r.cdi_devices()) lines.push_back("    cdi_device " + cdi.name());
  std::map<std::string, std::string> envs(r.envs().begin(), r.envs().end());
  for (const auto& [k, v] : envs) lines.push_back(absl::StrCat("    env ", k, "=", v));
  std::map<std::string, std::string> notes(r.annotations().begin(),
                                           r.annotations().end());
  for (const auto& [k, v] : notes)
    lines.push_back(absl::StrCat("    annotation ", k, "=", v));
  for (const auto& d : r.devices()) {
    lines.push_back(absl::StrCat("    device ", d.host_path(), " -> ", d.container_path(),
                                 " (", d.permissions(), ")"));
  }
  for (const auto& m : r.mounts()) {
    lines.push_back(absl::StrCat("    mount ", m.host_path(), " -> ", m.container_path(),
                                 m.read_only() ? " (ro)" : " (rw)"));
  }
  if (lines.empty()) lines.push_back("    (empty response)");
  return lines;
}

inline void PrintEvent(Printer& out, const KubeletSim::Event& e) {
  using Kind = KubeletSim::Event::Kind;
  const KubeletSim::PluginState& s = e.state;
  switch (e.kind) {
    case Kind::kRegistered:
      out.Line(absl::StrCat("registered ", e.resource, " endpoint=", s.endpoint, " ",
                            FormatOptions(s.options), " (registration #", s.registrations,
                            ")"),
               e.at);
      return;
    case Kind::kListUpdate: {
      std::vector<std::string> lines = FormatDevices(s);
      lines[0] = absl::StrCat("device list #", s.list_updates, " for ", e.resource, ": ",
                              absl::StripLeadingAsciiWhitespace(lines[0]));
      for (const auto& line : lines) out.Line(line, e.at);
      return;
    }
    case Kind::kStreamEnded:
      out.Line(absl::StrCat("stream ended for ", e.resource, " (", e.text, "): all ",
                            s.devices.size(), " devices now Unhealthy"),
               e.at);
      return;
    case Kind::kRegisterRejected:
      out.Line(absl::StrCat("register rejected: resource=", e.resource,
                            " endpoint=", s.endpoint, ": ", e.text),
               e.at);
      return;
  }
}

// Runs /bin/sh -c `command` with an empty signal mask and default dispositions
// (kubelet-sim blocks SIGINT/SIGTERM, and a child must not inherit that);
// returns the wait status, or -1.
inline int RunShell(const std::string& command) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, reset;
  sigemptyset(&none);
  sigemptyset(&reset);
  for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGPIPE})
    sigaddset(&reset, sig);  // gRPC ignores SIGPIPE
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &reset);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  pid_t pid;
  int rc =
      posix_spawn(&pid, "/bin/sh", nullptr, &attr, const_cast<char**>(argv), environ);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

// Executes script lines against the sim, printing each outcome.
class ScriptRunner {
 public:
  using Clock = std::chrono::steady_clock;
  using Args = std::vector<std::string>;

  ScriptRunner(KubeletSim& sim, Printer& out)
      : sim_(sim), out_(out), restart_at_(Clock::now()) {}

  // Runs one line; false if the command failed.
  bool RunLine(absl::string_view line) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') return true;
    Args args = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    absl::string_view rest =
        absl::StripLeadingAsciiWhitespace(line.substr(args[0].size()));
    auto it = Commands().find(args[0]);
    if (it == Commands().end())
      return Fail(absl::StrCat("unknown command '", args[0], "'"));
    const Command& cmd = it->second;
    if (args.size() - 1 < cmd.min_args || args.size() - 1 > cmd.max_args) {
      return Fail(absl::StrCat("wrong number of arguments: ", line));
    }
    if (args[0] != "echo") out_.Line(absl::StrCat("> ", line));
    return (this->*cmd.run)(args, rest);
  }
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

  static const std::map<std::string, Command>& Commands() {
    static const auto* commands = new std::map<std::string, Command>{
        {"echo", {0, 1000, &ScriptRunner::Echo}},
        {"wait-registered", {1, 2, &ScriptRunner::WaitRegistered}},
        {"devices", {1, 1, &ScriptRunner::Devices}},
        {"wait-health", {3, 4, &ScriptRunner::WaitHealth}},
        {"wait-count", {2, 3, &ScriptRunner::WaitCount}},
        {"admit", {2, 3, &ScriptRunner::Admit}},
        {"allocate", {2, 3, &ScriptRunner::Allocate}},
        {"restart", {0, 0, &ScriptRunner::Restart}},
        {"wait-reregistered", {1, 2, &ScriptRunner::WaitReregistered}},
        {"sh", {1, 1000, &ScriptRunner::Sh}},
        {"sleep", {1, 1, &ScriptRunner::Sleep}},
        {"quit", {0, 0, &ScriptRunner::Quit}},
    };
    return *commands;
  }

  bool Fail(absl::string_view what) {
    out_.Line(absl::StrCat("FAILED: ", what));
    ++failures_;
    return false;
  }

  // Parses args[index] as milliseconds if present.
  bool Millis(const Args& args, size_t index, int* ms) {
    *ms = kDefaultTimeoutMs;
    if (index >= args.size()) return true;
    return absl::SimpleAtoi(args[index], ms) && *ms >= 0;
  }

  bool Wait(const std::string& resource, const Args& args, size_t timeout_index,
            Clock::time_point since, absl::string_view what, const Pred& pred) {
    int ms;
    if (!Millis(args, timeout_index, &ms)) return Fail("bad timeout");
    if (!sim_.WaitFor(resource, pred, std::chrono::milliseconds(ms))) {
      return Fail(absl::StrCat(what, ": timed out after ", ms, " ms"));
    }
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
    out_.Line(absl::StrCat(what, " after ", took.count(), " ms"));
    return true;
  }

  // Compares an outcome with an optional expected gRPC code name.
  bool Expect(const absl::Status& status, const Args& args, size_t index) {
    if (!status.ok()) out_.Line(absl::StrCat("  error ", status.ToString()));
    std::string want = index < args.size() ? args[index] : "OK";
    std::string got = absl::StatusCodeToString(status.code());
    if (want == got) return true;
    return Fail(absl::StrCat("expected ", want, ", got ", got));
  }

  bool Echo(const Args&, absl::string_view rest) {
    out_.Line(std::string(rest));
    return true;
  }

  bool WaitRegistered(const Args& args, absl::string_view) {
    return Wait(args[1], args, 2, Clock::now(), "registered " + args[1],
                [](const auto& s) { return s.registrations > 0 && s.stream_open; });
  }

  bool Devices(const Args& args, absl::string_view) {
    auto state = sim_.Plugin(args[1]);
    if (!state) return Fail(absl::StrCat("no plugin registered for ", args[1]));
    out_.Line(absl::StrCat("  ", args[1], " endpoint=", state->endpoint,
                           " stream=", state->stream_open ? "open" : "ended",
                           " registrations=", state->registrations,
                           " list_updates=", state->list_updates));
    out_.Lines(FormatDevices(*state));
    return true;
  }

  bool WaitHealth(const Args& args, absl::string_view) {
    const std::string id = args[2], health = args[3];
    if (health != kHealthy && health != kUnhealthy) {
      return Fail("health must be Healthy or Unhealthy");
    }
    const std::string what =
        id == "*" ? absl::StrCat("all devices of ", args[1], " are ", health)
                  : absl::StrCat(args[1], " ", id, " is ", health);
    return Wait(args[1], args, 4, Clock::now(), what,
                [&](const KubeletSim::PluginState& s) {
                  int match = 0, seen = 0;
                  for (const auto& d : s.devices) {
                    if (id != "*" && d.id() != id) continue;
                    ++seen;
                    match += d.health() == health;
                  }
                  return seen > 0 && match == seen;
                });
  }

  bool WaitCount(const Args& args, absl::string_view) {
    size_t n;
    if (!absl::SimpleAtoi(args[2], &n)) return Fail("bad device count");
    return Wait(
        args[1], args, 3, Clock::now(), absl::StrCat(args[1], " lists ", n, " devices"),
        [n](const auto& s) { return s.list_updates > 0 && s.devices.size() == n; });
  }

  bool Admit(const Args& args, absl::string_view) {
    int count;
    if (!absl::SimpleAtoi(args[2], &count)) return Fail("bad device count");
    std::vector<std::string> ids;
    auto response = sim_.AdmitPod(args[1], count, &ids);
    if (response.ok()) {
      out_.Line(absl::StrCat("  admitted, devices ", absl::StrJoin(ids, ",")));
      out_.Lines(FormatResponse(*response));
    }
    return Expect(response.status(), args, 3);
  }

  bool Allocate(const Args& args, absl::string_view) {
    v1beta1::AllocateRequest request;
    auto* container = request.add_container_requests();
    for (absl::string_view id : absl::StrSplit(args[2], ',', absl::SkipEmpty())) {
      container->add_devices_ids(std::string(id));
    }
    auto response = sim_.Allocate(args[1], request);
    if (response.ok()) {
      for (const auto& container_response : response->container_responses()) {
        out_.Line("  container response:");
        out_.Lines(FormatResponse(container_response));
      }
    }
    return Expect(response.status(), args, 3);
  }

  bool Restart(const Args&, absl::string_view) {
    for (const std::string& name : sim_.Resources()) {
      registrations_at_restart_[name] = sim_.Plugin(name)->registrations;
    }
    restart_at_ = Clock::now();
    if (auto status = sim_.Restart(); !status.ok()) return Fail(status.ToString());
    out_.Line("kubelet restarted: plugin sockets deleted, new " + sim_.socket_path());
    return true;
  }

  bool WaitReregistered(const Args& args, absl::string_view) {
    const int before = registrations_at_restart_[args[1]];
    return Wait(args[1], args, 2, restart_at_,
                absl::StrCat(args[1], " registered again since the restart"),
                [before](const auto& s) {
                  return s.registrations > before && s.stream_open && s.list_updates > 0;
                });
  }

  bool Sh(const Args&, absl::string_view rest) {
    int status = RunShell(std::string(rest));
    if (status == 0) return true;
    if (status > 0 && WIFEXITED(status)) {
      return Fail(absl::StrCat("exit status ", WEXITSTATUS(status)));
    }
    return Fail(status < 0 ? std::string("cannot run /bin/sh")
                           : absl::StrCat("killed by signal ", WTERMSIG(status)));
  }

  bool Sleep(const Args& args, absl::string_view) {
    int ms;
    if (!absl::SimpleAtoi(args[1], &ms) || ms < 0) return Fail("bad duration");
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return true;
  }

  bool Quit(const Args&, absl::string_view) {
    quit_ = true;
    return true;
  }

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

inline ScriptResult RunScript(ScriptRunner& runner, std::istream& in) {
  ScriptResult result;
  std::string line;
  while (!runner.quit() && std::getline(in, line)) {
    result.ok = runner.RunLine(line) && result.ok;
  }
  result.quit = runner.quit();
  return result;
}

}  // namespace kubelet_sim
