// kubelet-sim: a simulated kubelet device manager for demos and manual runs.
//
//   kubelet-sim --dir DIR [--script FILE|-]
//
// Serves DIR/kubelet.sock, prints every registration, device list and stream
// end with a timestamp (ms since start), and runs script commands one per line
// (kScriptUsage in script_runner.h). With --script the program ends after the
// script, or at `quit` (exit 1 if any command failed). Without it, commands
// come from stdin and, once stdin ends, the program keeps serving until SIGINT
// or SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kubelet_sim/kubelet_sim.h"
#include "kubelet_sim/script_runner.h"

namespace {

using kubelet_sim::KubeletSim;

// The script thread raises kWake when it is done, to wake main at once.
constexpr int kWake = SIGUSR1;

// Waits until the script is done and `finished()` agrees, or for SIGINT or
// SIGTERM. Returns that signal, or 0 when the script ended first.
int WaitForEnd(const sigset_t& signals, const std::atomic<bool>& done,
               const std::function<bool()>& finished) {
  for (;;) {
    if (done && finished()) return 0;
    timespec tick{1, 0};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig > 0 && sig != kWake) return sig;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, script;
  CLI::App app{"Simulated kubelet device manager (Device Plugin API v1beta1)"};
  app.footer(kubelet_sim::kScriptUsage);
  app.add_option("--dir", dir, "Device-plugins directory to serve kubelet.sock in")
      ->required();
  app.add_option("--script", script,
                 "Script file, '-' for stdin (default: stdin, "
                 "then keep serving until SIGINT/SIGTERM)");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before any thread starts; main waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, kWake);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::ifstream file;
  if (!script.empty() && script != "-") {
    file.open(script);
    if (!file) {
      std::cerr << "kubelet-sim: cannot open script " << script << "\n";
      return 2;
    }
  }
  std::istream& in = file.is_open() ? static_cast<std::istream&>(file) : std::cin;

  kubelet_sim::Printer out(std::cout);
  KubeletSim sim(dir);
  sim.SetEventCallback(
      [&out](const KubeletSim::Event& e) { kubelet_sim::PrintEvent(out, e); });
  if (auto status = sim.Start(); !status.ok()) {
    std::cerr << "kubelet-sim: " << status << "\n";
    return 1;
  }
  out.Line("kubelet-sim serving " + sim.socket_path());

  kubelet_sim::ScriptRunner runner(sim, out);
  std::atomic<bool> done = false;
  kubelet_sim::ScriptResult result;
  std::thread worker([&] {
    result = kubelet_sim::RunScript(runner, in);
    done = true;
    kill(getpid(), kWake);
  });
  // Read only once `done` is set, which publishes `result`.
  const bool serve_after_eof = script.empty();
  int sig = WaitForEnd(signals, done, [&] { return !serve_after_eof || result.quit; });
  if (sig != 0) out.Line(absl::StrCat("signal ", sig, ": stopping"));
  if (sig != 0 && !done) {
    // The script thread may be blocked reading stdin: leave without joining.
    sim.Stop();
    std::cout.flush();
    std::_Exit(runner.failures() > 0 ? 1 : 0);
  }
  worker.join();
  sim.Stop();
  if (!result.ok) out.Line("some commands FAILED");
  return result.ok ? 0 : 1;
}
