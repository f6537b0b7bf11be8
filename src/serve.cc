// The daemon's process lifecycle: signals, config (re)loading, shutdown.
#include <signal.h>

#include <cstdlib>
#include <iostream>

#include "hailo_device_plugin/commands.h"
#include "hailo_device_plugin/config_loader.h"
#include "hailo_device_plugin/daemon.h"
#include "hailo_device_plugin/logging.h"
#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {
namespace {

absl::StatusOr<LoadedConfig> Load(const FlagValues& flags) {
  return LoadConfig(flags, [](const char* name) { return std::getenv(name); });
}

// Blocks the signals the main thread waits for, so that every thread
// started later inherits the mask and only sigwait() sees them.
sigset_t BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

void Reload(const FlagValues& flags, Daemon& daemon) {
  auto loaded = Load(flags);
  if (!loaded.ok()) {
    spdlog::error("SIGHUP: new config refused, keeping the running one: {}",
                  loaded.status().message());
    return;
  }
  spdlog::set_level(spdlog::level::from_str(loaded->config.log_level));
  spdlog::info("SIGHUP: applying the re-read config");
  if (absl::Status s = daemon.Reload(loaded->config); !s.ok()) {
    spdlog::error("SIGHUP: {}", s.message());
  }
}

}  // namespace

int RunServe(const FlagValues& flags) {
  sigset_t signals = BlockSignals();
  auto loaded = Load(flags);
  if (!loaded.ok()) {
    std::cerr << "hailo-device-plugin: " << loaded.status().message() << "\n";
    return 2;
  }
  if (absl::Status s =
          ConfigureLogging(loaded->config.log_level, loaded->config.log_format);
      !s.ok()) {
    std::cerr << "hailo-device-plugin: " << s.message() << "\n";
    return 2;
  }
  spdlog::info("hailo-device-plugin {} starting", HDP_VERSION);
  Daemon daemon(loaded->config);
  if (absl::Status s = daemon.Start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.message());
    return 1;
  }
  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      Reload(flags, daemon);
      continue;
    }
    spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  daemon.Stop();
  spdlog::info("stopped; the CDI spec is kept for containers that restart");
  return 0;
}

}  // namespace hailo_dp
