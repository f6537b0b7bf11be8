// Fault injection, kubelet side (issue 6): a hundred kubelet restarts in a
// row against the in-process Daemon, and SIGTERM to the real binary while
// streams are open and Allocates are in flight.
//
// Timing is asserted only where it is the requirement itself (exit within
// 2 s of SIGTERM); everything else is liveness with generous bounds. The
// re-registration times are reported as figures ("[  FIGURE  ]").
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "api.grpc.pb.h"
#include "testing/fault_fixture.h"

namespace hailo_dp {
namespace {

using testing::ChildProcess;
using testing::Clock;
using testing::FaultTest;
using testing::Hailo10HAt;
using testing::Hailo8At;
using testing::kA;
using testing::kB;
using testing::kC;
using testing::kFaultWait;
using testing::kIdA;
using testing::kIdB;
using testing::kIdC;
using testing::kNpu;
using testing::MillisSince;
using testing::ReportFigure;
using testing::SortedIds;

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t at = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(at, values.size() - 1)];
}

std::string ExitText(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

using FaultKubeletTest = FaultTest;

// Every restart ends with the plugin registered again, its stream open and
// the full, healthy list at the kubelet. The issue asks for 100 in a row; that
// count is kept under sanitizers too (each round is event-driven, well under
// a second even under TSan).
TEST_F(FaultKubeletTest, HundredKubeletRestartsInARowEachEndRegisteredWithTheFullList) {
  constexpr int kRestarts = 100;
  tree_.AddDevice(Hailo8At(kA, 0));
  tree_.AddDevice(Hailo8At(kB, 1));
  tree_.AddDevice(Hailo10HAt(kC, 0));
  const std::vector<std::string> all = {kIdA, kIdB, kIdC};
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(all, 1));

  std::vector<double> reregistered_ms;
  std::vector<double> listed_ms;
  for (int i = 1; i <= kRestarts; ++i) {
    const auto start = Clock::now();
    absl::Status status = sim_.Restart();
    ASSERT_TRUE(status.ok()) << "restart " << i << ": " << std::string(status.message());
    const int want = 1 + i;
    ASSERT_TRUE(WaitListed(all, want)) << "restart " << i;
    auto state = sim_.Plugin(kNpu);
    ASSERT_TRUE(state.has_value());
    // At least one registration per restart. A Register that races the
    // restart (it reached the new kubelet before the daemon saw the new
    // kubelet.sock) may be repeated once: harmless, the kubelet replaces the
    // endpoint. Never more than two per restart.
    EXPECT_GE(state->registrations, want) << "restart " << i;
    EXPECT_LE(state->registrations, 2 * want) << "restart " << i;
    reregistered_ms.push_back(
        std::chrono::duration<double, std::milli>(state->registered_at - start).count());
    listed_ms.push_back(MillisSince(start));
  }
  EXPECT_TRUE(testing::IsSocket(SocketPath()));
  EXPECT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }, kFaultWait));
  EXPECT_TRUE(daemon_->Healthy().ok()) << std::string(daemon_->Healthy().message());
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), all));
  ReportFigure("kubelet_restart_to_reregistered_p50", Percentile(reregistered_ms, 0.5));
  ReportFigure("kubelet_restart_to_reregistered_p99", Percentile(reregistered_ms, 0.99));
  ReportFigure("kubelet_restart_to_full_list_p50", Percentile(listed_ms, 0.5));
  ReportFigure("kubelet_restart_to_full_list_p99", Percentile(listed_ms, 0.99));
}

// --- SIGTERM under load (the real binary) -------------------------------------

class FaultSigtermTest : public FaultTest {
 protected:
  void TearDown() override {
    if (proc_ && HasFailure()) {
      std::cout << "---- daemon output ----\n"
                << proc_->Log() << "---- end ----" << std::endl;
    }
    if (proc_) {
      EXPECT_EQ(proc_->Log().find("WARNING: ThreadSanitizer"), std::string::npos)
          << "a data race in the daemon";
      EXPECT_EQ(proc_->Log().find("ERROR: AddressSanitizer"), std::string::npos);
    }
    FaultTest::TearDown();
  }

  std::vector<std::string> Args() const {
    return {HDP_BINARY,
            "--kubelet-dir=" + dirs_.kubelet_dir,
            "--cdi-dir=" + dirs_.cdi_dir,
            "--sys-root=" + tree_.sys_root(),
            "--dev-root=" + tree_.dev_root(),
            "--rescan-interval=60s",
            "--http-address",
            "",
            "--log-level=warn"};
  }

  std::unique_ptr<ChildProcess> proc_;
};

TEST_F(FaultSigtermTest, SigtermUnderLoadExitsCleanlyWithinTwoSeconds) {
  tree_.AddDevice(Hailo8At(kA, 0));
  tree_.AddDevice(Hailo8At(kB, 1));
  StartSim();
  proc_ = ChildProcess::Spawn(Args(), tree_.root() + "/daemon.log");
  ASSERT_NE(proc_, nullptr);
  ASSERT_TRUE(WaitListed({kIdA, kIdB}));
  const std::string spec_before = testing::ReadWholeFile(SpecPath());
  ASSERT_FALSE(spec_before.empty());

  // Several open streams besides the kubelet's.
  std::vector<std::unique_ptr<testing::StreamClient>> streams;
  for (int i = 0; i < 8; ++i) {
    streams.push_back(std::make_unique<testing::StreamClient>(SocketPath()));
  }
  for (auto& stream : streams) ASSERT_TRUE(stream->WaitFirst(kFaultWait));

  // Allocates in a loop until the daemon is gone.
  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0};
  std::atomic<int> bad_ok{0};
  std::thread allocator([&] {
    auto stub = testing::PluginStub(SocketPath());
    for (int i = 0; !stop.load(); ++i) {
      v1beta1::AllocateRequest request;
      request.add_container_requests()->add_devices_ids(i % 2 ? kIdA : kIdB);
      v1beta1::AllocateResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::Status status = stub->Allocate(&context, request, &response);
      if (status.ok()) {
        ok_calls.fetch_add(1);
        if (response.container_responses_size() != 1) bad_ok.fetch_add(1);
      }
    }
  });
  ASSERT_TRUE(testing::Eventually([&] { return ok_calls.load() >= 200; }, kFaultWait));

  const auto signalled = Clock::now();
  ASSERT_TRUE(proc_->Signal(SIGTERM));
  auto status = proc_->WaitExit(std::chrono::seconds(2));
  const double exit_ms = MillisSince(signalled);
  stop.store(true);
  allocator.join();
  ASSERT_TRUE(status.has_value()) << "still running 2 s after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << ExitText(*status);
  ReportFigure("sigterm_under_load_to_exit", exit_ms);
  EXPECT_EQ(bad_ok.load(), 0);

  EXPECT_FALSE(testing::Exists(SocketPath())) << "plugin socket left behind";
  EXPECT_EQ(testing::ReadWholeFile(SpecPath()), spec_before)
      << "CDI spec changed on exit";
  // Every extra stream ended with the daemon.
  for (auto& stream : streams) EXPECT_TRUE(stream->WaitEnded(kFaultWait));
  // The kubelet saw the stream end: devices Unhealthy until a new Register.
  EXPECT_TRUE(sim_.WaitFor(
      kNpu, [](const auto& s) { return !s.stream_open; }, kFaultWait))
      << StateText();
  std::cout << "Allocates answered before SIGTERM: " << ok_calls.load() << std::endl;
}

}  // namespace
}  // namespace hailo_dp
