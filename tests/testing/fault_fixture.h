// Shared pieces of the fault-injection tests (fault_kubelet_test.cc,
// fault_io_test.cc, fault_grpc_test.cc): an in-process Daemon against a
// FakeHostTree and a KubeletSim in per-test temp directories, a log capture of
// the daemon's spdlog output, and the expected device list from a fresh
// DeviceSource scan of the tree.
//
// Every wait is on a condition with a generous timeout (kFaultWait); no test
// sleeps for correctness. Iteration counts are the issue's; under a sanitizer
// (5-20x slower) the few loops that would not fit in ~120 s are scaled down
// with kSanitized, and the test says so where it does.
//
// Header-only on purpose: hdp_testing globs tests/testing/*.cc, and this
// fixture is used by the fault tests alone.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "hailo_device_plugin/daemon.h"
#include "hailo_device_plugin/device_source.h"
#include "kubelet_sim/kubelet_sim.h"
#include "spdlog/sinks/base_sink.h"
#include "spdlog/spdlog.h"
#include "testing/daemon_env.h"
#include "testing/daemon_fixture.h"
#include "testing/fake_host_tree.h"

namespace hailo_dp::testing {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// Liveness bound of the waits in the fault tests: generous, since these run
// under sanitizers on a shared 2-core machine too.
inline constexpr std::chrono::milliseconds kFaultWait{kSanitized ? 30000 : 10000};

inline FakeDevice Hailo8At(const std::string& address, uint32_t minor) {
  return FakeDevice{.pci_address = address,
                    .family = Family::kHailo8,
                    .layout = Layout::kHailoPci423,
                    .minor = minor,
                    .numa_node = 0};
}

inline FakeDevice Hailo10HAt(const std::string& address, uint32_t minor) {
  return FakeDevice{.pci_address = address,
                    .family = Family::kHailo10H,
                    .layout = Layout::kHailo1x53,
                    .minor = minor,
                    .numa_node = 0};
}

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Resident set size of this process (VmRSS of /proc/<pid>/status) in KiB; -1
// if unreadable.
inline long RssKib(const std::string& pid = "self") {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// The value of an unlabelled counter in Prometheus text; -1 if absent.
inline double MetricValue(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// Collects every line the daemon logs through spdlog's default logger, for
// checks on what an operator would read. Attach before the daemon starts.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<Sink>()) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string Text() const { return sink_->Text(); }
  // Lines at `level` or above that contain `needle`.
  std::vector<std::string> Lines(spdlog::level::level_enum level,
                                 const std::string& needle) const {
    return sink_->Lines(level, needle);
  }

 private:
  class Sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string Text() const {
      std::lock_guard lock(lines_mu_);
      std::string out;
      for (const auto& [level, line] : lines_) out += line + "\n";
      return out;
    }
    std::vector<std::string> Lines(spdlog::level::level_enum level,
                                   const std::string& needle) const {
      std::lock_guard lock(lines_mu_);
      std::vector<std::string> out;
      for (const auto& [l, line] : lines_) {
        if (l >= level && line.find(needle) != std::string::npos) out.push_back(line);
      }
      return out;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      std::lock_guard lock(lines_mu_);
      if (lines_.size() < 100000) {
        lines_.emplace_back(msg.level,
                            std::string(msg.payload.data(), msg.payload.size()));
      }
    }
    void flush_() override {}

   private:
    mutable std::mutex lines_mu_;
    std::vector<std::pair<spdlog::level::level_enum, std::string>> lines_;
  };

  std::shared_ptr<Sink> sink_;
};

// InProcessDaemonTest (daemon_env.h) with the fault tests' defaults: the
// default resource and the longer kFaultWait.
class FaultTest : public InProcessDaemonTest {
 protected:
  // What a fresh scan of the tree finds: the truth the daemon must converge to.
  ScanResult FreshScan() const { return DeviceSource(tree_.roots()).Scan(); }

  // Waits until the sim holds, on an open stream of at least `registrations`,
  // exactly `ids`, all Healthy.
  bool WaitListed(std::vector<std::string> ids, int registrations = 1,
                  std::chrono::milliseconds timeout = kFaultWait) {
    return WaitListedOn(kNpu, std::move(ids), registrations, timeout);
  }

  double Metric(const std::string& name) const {
    return MetricValue(daemon_->MetricsText(), name);
  }
};

}  // namespace hailo_dp::testing
