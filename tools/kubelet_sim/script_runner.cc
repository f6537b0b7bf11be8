#include "kubelet_sim/script_runner.h"

#include <sys/wait.h>

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kubelet_sim {

const std::map<std::string, ScriptRunner::Command>& ScriptRunner::Commands() {
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

bool ScriptRunner::RunLine(absl::string_view line) {
  line = absl::StripAsciiWhitespace(line);
  if (line.empty() || line.front() == '#') return true;
  Args args = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(args[0].size()));
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

bool ScriptRunner::Fail(absl::string_view what) {
  out_.Line(absl::StrCat("FAILED: ", what));
  ++failures_;
  return false;
}

bool ScriptRunner::Millis(const Args& args, size_t index, int* ms) {
  *ms = kDefaultTimeoutMs;
  if (index >= args.size()) return true;
  return absl::SimpleAtoi(args[index], ms) && *ms >= 0;
}

bool ScriptRunner::Wait(const std::string& resource, const Args& args,
                        size_t timeout_index, Clock::time_point since,
                        absl::string_view what, const Pred& pred) {
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

bool ScriptRunner::Expect(const absl::Status& status, const Args& args, size_t index) {
  if (!status.ok()) out_.Line(absl::StrCat("  error ", status.ToString()));
  std::string want = index < args.size() ? args[index] : "OK";
  std::string got = absl::StatusCodeToString(status.code());
  if (want == got) return true;
  return Fail(absl::StrCat("expected ", want, ", got ", got));
}

bool ScriptRunner::Echo(const Args&, absl::string_view rest) {
  out_.Line(std::string(rest));
  return true;
}

bool ScriptRunner::WaitRegistered(const Args& args, absl::string_view) {
  return Wait(args[1], args, 2, Clock::now(), "registered " + args[1],
              [](const auto& s) { return s.registrations > 0 && s.stream_open; });
}

bool ScriptRunner::Devices(const Args& args, absl::string_view) {
  auto state = sim_.Plugin(args[1]);
  if (!state) return Fail(absl::StrCat("no plugin registered for ", args[1]));
  out_.Line(absl::StrCat("  ", args[1], " endpoint=", state->endpoint,
                         " stream=", state->stream_open ? "open" : "ended",
                         " registrations=", state->registrations,
                         " list_updates=", state->list_updates));
  out_.Lines(FormatDevices(*state));
  return true;
}

bool ScriptRunner::WaitHealth(const Args& args, absl::string_view) {
  const std::string id = args[2], health = args[3];
  if (health != kHealthy && health != kUnhealthy) {
    return Fail("health must be Healthy or Unhealthy");
  }
  const std::string what = id == "*"
                               ? absl::StrCat("all devices of ", args[1], " are ", health)
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

bool ScriptRunner::WaitCount(const Args& args, absl::string_view) {
  size_t n;
  if (!absl::SimpleAtoi(args[2], &n)) return Fail("bad device count");
  return Wait(args[1], args, 3, Clock::now(),
              absl::StrCat(args[1], " lists ", n, " devices"),
              [n](const auto& s) { return s.list_updates > 0 && s.devices.size() == n; });
}

bool ScriptRunner::Admit(const Args& args, absl::string_view) {
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

bool ScriptRunner::Allocate(const Args& args, absl::string_view) {
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

bool ScriptRunner::Restart(const Args&, absl::string_view) {
  for (const std::string& name : sim_.Resources()) {
    registrations_at_restart_[name] = sim_.Plugin(name)->registrations;
  }
  restart_at_ = Clock::now();
  if (auto status = sim_.Restart(); !status.ok()) return Fail(status.ToString());
  out_.Line("kubelet restarted: plugin sockets deleted, new " + sim_.socket_path());
  return true;
}

bool ScriptRunner::WaitReregistered(const Args& args, absl::string_view) {
  const int before = registrations_at_restart_[args[1]];
  return Wait(args[1], args, 2, restart_at_,
              absl::StrCat(args[1], " registered again since the restart"),
              [before](const auto& s) {
                return s.registrations > before && s.stream_open && s.list_updates > 0;
              });
}

bool ScriptRunner::Sh(const Args&, absl::string_view rest) {
  int status = RunShell(std::string(rest));
  if (status == 0) return true;
  if (status > 0 && WIFEXITED(status)) {
    return Fail(absl::StrCat("exit status ", WEXITSTATUS(status)));
  }
  return Fail(status < 0 ? std::string("cannot run /bin/sh")
                         : absl::StrCat("killed by signal ", WTERMSIG(status)));
}

bool ScriptRunner::Sleep(const Args& args, absl::string_view) {
  int ms;
  if (!absl::SimpleAtoi(args[1], &ms) || ms < 0) return Fail("bad duration");
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return true;
}

bool ScriptRunner::Quit(const Args&, absl::string_view) {
  quit_ = true;
  return true;
}

ScriptResult RunScript(ScriptRunner& runner, std::istream& in) {
  ScriptResult result;
  std::string line;
  while (!runner.quit() && std::getline(in, line)) {
    result.ok = runner.RunLine(line) && result.ok;
  }
  result.quit = runner.quit();
  return result;
}

}  // namespace kubelet_sim
