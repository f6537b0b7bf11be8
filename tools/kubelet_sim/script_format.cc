#include "kubelet_sim/script_format.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace kubelet_sim {

std::string FormatOptions(const v1beta1::DevicePluginOptions& o) {
  return absl::StrCat("pre_start_required=", o.pre_start_required() ? "true" : "false",
                      " get_preferred_allocation_available=",
                      o.get_preferred_allocation_available() ? "true" : "false");
}

std::string FormatDevice(const v1beta1::Device& d) {
  std::vector<int64_t> numa;
  for (const auto& node : d.topology().nodes()) numa.push_back(node.id());
  return absl::StrCat("    ", d.id(), "  ", d.health(),
                      "  numa=", numa.empty() ? "-" : absl::StrJoin(numa, ","));
}

std::vector<std::string> FormatDevices(const KubeletSim::PluginState& s) {
  int healthy = 0;
  for (const auto& d : s.devices) healthy += d.health() == kHealthy;
  std::vector<std::string> lines = {
      absl::StrCat("  capacity=", s.devices.size(), " allocatable=", healthy)};
  for (const auto& d : s.devices) lines.push_back(FormatDevice(d));
  return lines;
}

std::vector<std::string> FormatResponse(const v1beta1::ContainerAllocateResponse& r) {
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

void PrintEvent(Printer& out, const KubeletSim::Event& e) {
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

int RunShell(const std::string& command) {
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

}  // namespace kubelet_sim
