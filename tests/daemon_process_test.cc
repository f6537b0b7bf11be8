// The real hailo-device-plugin binary as a subprocess: flags, signals, exit
// codes and timing, against a FakeHostTree and an in-process KubeletSim in
// per-test temp directories.
//
// Measured figures are printed ("[  FIGURE  ]"); timing is asserted only
// where it is the requirement itself (exit within 2 s of SIGTERM/SIGINT) and
// otherwise as liveness (5 s).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kubelet_sim/kubelet_sim.h"
#include "testing/daemon_fixture.h"
#include "testing/fake_host_tree.h"

namespace hailo_dp {
namespace {

using kubelet_sim::KubeletSim;
using testing::AllHealthy;
using testing::ChildProcess;
using testing::Clock;
using testing::FakeDevice;
using testing::HealthOf;
using testing::IdsOf;
using testing::kA;
using testing::kB;
using testing::kIdA;
using testing::kIdB;
using testing::kNpu;
using testing::kWait;
using testing::Layout;
using testing::MillisSince;
using testing::ReportFigure;
using ::testing::UnorderedElementsAre;
using State = KubeletSim::PluginState;

FakeDevice Hailo8(const char* address, uint32_t minor) {
  return FakeDevice{.pci_address = address,
                    .family = Family::kHailo8,
                    .layout = Layout::kHailoPci423,
                    .minor = minor,
                    .numa_node = 0};
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

class DaemonProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tree_.can_make_nodes()) GTEST_SKIP() << "mknod not permitted (not root)";
  }
  void TearDown() override {
    // A daemon still running shuts down like in production, so that every
    // test also exercises the exit path (and a sanitizer's report in it).
    if (proc_ && !proc_->WaitExit(std::chrono::milliseconds(0)).has_value()) {
      proc_->Signal(SIGTERM);
      auto status = proc_->WaitExit(kWait);
      EXPECT_TRUE(status.has_value())
          << "still running " << kWait.count() << " ms after SIGTERM";
      if (status) {
        EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ExitText(*status);
      }
    }
    if (proc_) {
      EXPECT_EQ(CountInLog("WARNING: ThreadSanitizer"), 0) << "a data race in the daemon";
    }
    if (proc_ && HasFailure()) {
      std::cout << "---- daemon output ----\n"
                << proc_->Log() << "---- end ----" << std::endl;
    }
  }

  // The binary with every path pointing into this test's temp directory.
  std::vector<std::string> Args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {HDP_BINARY};
    if (!subcommand_.empty()) args.push_back(subcommand_);
    for (const std::string& arg :
         {"--kubelet-dir=" + dirs_.kubelet_dir, "--cdi-dir=" + dirs_.cdi_dir,
          "--sys-root=" + tree_.sys_root(), "--dev-root=" + tree_.dev_root(),
          std::string("--rescan-interval=60s"), std::string("--http-address"),
          std::string(""), std::string("--log-level=info")}) {
      args.push_back(arg);
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void Spawn(const std::vector<std::string>& args) {
    spawned_at_ = Clock::now();
    proc_ = ChildProcess::Spawn(args, tree_.root() + "/daemon.log");
    ASSERT_NE(proc_, nullptr);
  }

  void StartSim() {
    absl::Status status = sim_.Start();
    ASSERT_TRUE(status.ok()) << std::string(status.message());
  }

  // Waits until the sim holds exactly `ids`, all Healthy, on an open stream
  // of at least the given registration; gives up early if the daemon exited.
  bool WaitListed(std::vector<std::string> ids, int registrations = 1) {
    std::sort(ids.begin(), ids.end());
    auto pred = [&](const State& s) {
      auto got = IdsOf(s.devices);
      std::sort(got.begin(), got.end());
      return s.registrations >= registrations && s.stream_open && s.list_updates >= 1 &&
             got == ids && AllHealthy(s.devices);
    };
    const auto deadline = Clock::now() + kWait;
    while (Clock::now() < deadline) {
      if (sim_.WaitFor(kNpu, pred, std::chrono::milliseconds(100))) return true;
      if (proc_ && proc_->WaitExit(std::chrono::milliseconds(0)).has_value()) {
        ADD_FAILURE() << "the daemon exited: " << ExitText(*proc_->WaitExit(kWait));
        return false;
      }
    }
    return false;
  }

  // How often `needle` occurs in the daemon's output so far.
  int CountInLog(const std::string& needle) const {
    const std::string log = proc_->Log();
    int count = 0;
    for (size_t at = log.find(needle); at != std::string::npos;
         at = log.find(needle, at + 1)) {
      ++count;
    }
    return count;
  }

  State PluginState() const { return sim_.Plugin(kNpu).value_or(State{}); }
  std::string SocketPath() const { return dirs_.kubelet_dir + "/hailo.sock"; }
  std::string SpecPath() const { return dirs_.cdi_dir + "/hailo.ai-npu.json"; }

  // Sends `signal` and returns the exit's wait status and how long it took.
  std::pair<std::optional<int>, double> SignalAndWait(int signal) {
    auto sent = Clock::now();
    EXPECT_TRUE(proc_->Signal(signal));
    auto status = proc_->WaitExit(kWait);
    return {status, MillisSince(sent)};
  }

  testing::FakeHostTree tree_;
  testing::DaemonDirs dirs_{tree_};
  KubeletSim sim_{dirs_.kubelet_dir};
  std::string subcommand_;
  Clock::time_point spawned_at_;
  std::unique_ptr<ChildProcess> proc_;
};

// --- Signals -------------------------------------------------------------------

class DaemonSignalTest : public DaemonProcessTest,
                         public ::testing::WithParamInterface<int> {};

TEST_P(DaemonSignalTest, ExitsZeroWithinTwoSecondsWithOpenStreams) {
  const int signal = GetParam();
  // SIGINT runs through the explicit `serve` subcommand, SIGTERM the default.
  if (signal == SIGINT) subcommand_ = "serve";
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo8(kB, 1));
  StartSim();
  Spawn(Args());
  ASSERT_TRUE(WaitListed({kIdA, kIdB})) << "never registered";
  ReportFigure(
      "process_spawn_to_registered",
      std::chrono::duration<double, std::milli>(PluginState().registered_at - spawned_at_)
          .count());

  // Streams besides the kubelet's, all blocked waiting for a change.
  testing::StreamClient s1(SocketPath());
  testing::StreamClient s2(SocketPath());
  ASSERT_TRUE(s1.WaitFirst());
  ASSERT_TRUE(s2.WaitFirst());

  auto [status, elapsed] = SignalAndWait(signal);
  ASSERT_TRUE(status.has_value())
      << "still running " << kWait.count() << " ms after " << strsignal(signal);
  ReportFigure(
      std::string("process_exit_after_") + (signal == SIGTERM ? "SIGTERM" : "SIGINT"),
      elapsed);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ExitText(*status);
  EXPECT_LT(elapsed, 2000.0) << "the daemon must exit within 2 s";

  EXPECT_TRUE(s1.WaitEnded());
  EXPECT_TRUE(s2.WaitEnded());
  EXPECT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return !s.stream_open; }, kWait));
  EXPECT_FALSE(testing::Exists(SocketPath())) << "socket left behind";
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA, kIdB})) << "CDI spec not kept";
  EXPECT_TRUE(testing::IsSocket(sim_.socket_path())) << "removed the kubelet's socket";
}

INSTANTIATE_TEST_SUITE_P(Signals, DaemonSignalTest, ::testing::Values(SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGTERM ? "SIGTERM"
                                                                    : "SIGINT");
                         });

TEST_F(DaemonProcessTest, ExitsZeroOnSigtermWhileTheKubeletIsAbsent) {
  tree_.AddDevice(Hailo8(kA, 0));
  ASSERT_EQ(mkdir(dirs_.kubelet_dir.c_str(), 0755), 0);
  Spawn(Args());
  ASSERT_TRUE(testing::Eventually([&] { return testing::IsSocket(SocketPath()); }));
  auto [status, elapsed] = SignalAndWait(SIGTERM);
  ASSERT_TRUE(status.has_value());
  ReportFigure("process_exit_after_SIGTERM_no_kubelet", elapsed);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ExitText(*status);
  EXPECT_LT(elapsed, 2000.0);
  EXPECT_FALSE(testing::Exists(SocketPath()));
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA}));
}

// --- Flags --------------------------------------------------------------------------

TEST_F(DaemonProcessTest, BadFlagsExitWithCodeTwo) {
  const std::vector<std::vector<std::string>> cases = {
      {"--no-such-flag"},          {"--resource-strategy=bogus"},
      {"--allocation-modes=nope"}, {"--rescan-interval=soon"},
      {"--log-level=loud"},        {"--resource-name=kubernetes.io/npu"},
  };
  ASSERT_EQ(mkdir(dirs_.kubelet_dir.c_str(), 0755), 0);
  for (const auto& extra : cases) {
    SCOPED_TRACE(extra[0]);
    Spawn(Args(extra));
    auto status = proc_->WaitExit(kWait);
    ASSERT_TRUE(status.has_value()) << "still running with " << extra[0];
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2)
        << ExitText(*status) << "\n"
        << proc_->Log();
    EXPECT_FALSE(testing::Exists(SocketPath())) << "served despite a bad flag";
  }
}

// `--http-address=` is how a manifest turns the endpoint off. The empty value
// after '=' must not swallow the next argument (CLI11 2.1 drops an empty
// "--opt=" value and takes the next token instead).
TEST_F(DaemonProcessTest, EmptyHttpAddressAfterEqualsDisablesHttp) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  std::vector<std::string> args = {HDP_BINARY,
                                   "--http-address=",
                                   "--kubelet-dir=" + dirs_.kubelet_dir,
                                   "--cdi-dir=" + dirs_.cdi_dir,
                                   "--sys-root=" + tree_.sys_root(),
                                   "--dev-root=" + tree_.dev_root()};
  Spawn(args);
  EXPECT_TRUE(WaitListed({kIdA})) << "not registered";
  EXPECT_FALSE(proc_->WaitExit(std::chrono::milliseconds(0)).has_value()) << proc_->Log();
}

// --- The kubelet ----------------------------------------------------------------------

TEST_F(DaemonProcessTest, KeepsRetryingWithoutAKubeletThenRegisters) {
  tree_.AddDevice(Hailo8(kA, 0));
  ASSERT_EQ(mkdir(dirs_.kubelet_dir.c_str(), 0755), 0);
  Spawn(Args());
  ASSERT_TRUE(testing::Eventually([&] { return testing::IsSocket(SocketPath()); }))
      << "never served";
  // No kubelet: it must neither exit nor stop serving.
  auto early = proc_->WaitExit(std::chrono::seconds(1));
  ASSERT_FALSE(early.has_value()) << "exited without a kubelet: " << ExitText(*early);
  EXPECT_TRUE(testing::IsSocket(SocketPath()));

  auto kubelet_up = Clock::now();
  StartSim();
  ASSERT_TRUE(WaitListed({kIdA})) << "never registered";
  ReportFigure(
      "process_kubelet_started_to_registered",
      std::chrono::duration<double, std::milli>(PluginState().registered_at - kubelet_up)
          .count());

  auto [status, elapsed] = SignalAndWait(SIGTERM);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ExitText(*status);
}

TEST_F(DaemonProcessTest, KeepsRetryingWithoutTheKubeletDirectory) {
  tree_.AddDevice(Hailo8(kA, 0));
  Spawn(Args());
  auto early = proc_->WaitExit(std::chrono::seconds(1));
  ASSERT_FALSE(early.has_value())
      << "exited without a kubelet directory: " << ExitText(*early);
  // Capped exponential backoff: from 20 ms, a handful of attempts to serve
  // in that second (gRPC logs each failed bind), not one every 20 ms; and the
  // unchanged error is logged once, not on every attempt.
  const int attempts = CountInLog("No address added");
  const int warnings = CountInLog("cannot serve on this socket");
  std::cout << "in the first second without a kubelet directory: " << attempts
            << " attempts to serve, " << warnings << " warnings logged" << std::endl;
  EXPECT_LE(attempts, 20) << "the retry backoff does not grow while serving fails";
  EXPECT_LE(warnings, 2) << "the same error is logged again on every attempt";
  auto kubelet_up = Clock::now();
  StartSim();
  ASSERT_TRUE(WaitListed({kIdA})) << "never registered";
  ReportFigure(
      "process_kubelet_dir_created_to_registered",
      std::chrono::duration<double, std::milli>(PluginState().registered_at - kubelet_up)
          .count());
}

TEST_F(DaemonProcessTest, ReRegistersAfterAKubeletRestart) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  Spawn(Args());
  ASSERT_TRUE(WaitListed({kIdA}));
  absl::Status restarted = sim_.Restart();
  ASSERT_TRUE(restarted.ok()) << std::string(restarted.message());
  auto up = Clock::now();
  ASSERT_TRUE(WaitListed({kIdA}, /*registrations=*/2)) << "not re-registered";
  ReportFigure(
      "process_kubelet_up_again_to_list_resent",
      std::chrono::duration<double, std::milli>(PluginState().last_update_at - up)
          .count());
}

TEST_F(DaemonProcessTest, PicksUpHotPlugAndUnplug) {
  StartSim();
  Spawn(Args());
  ASSERT_TRUE(WaitListed({}));
  auto plug = Clock::now();
  tree_.AddDevice(Hailo8(kA, 0));
  ASSERT_TRUE(WaitListed({kIdA})) << "new device not listed";
  ReportFigure("process_device_added_to_listed", MillisSince(plug));
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA}));
  auto unplug = Clock::now();
  tree_.RemoveNode(kA);
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return HealthOf(s.devices, kIdA) == "Unhealthy"; },
      kWait));
  ReportFigure("process_node_removed_to_unhealthy_seen", MillisSince(unplug));
}

}  // namespace
}  // namespace hailo_dp
