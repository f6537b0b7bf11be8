// In-process integration tests of hailo_dp::Daemon: the whole plugin (monitor,
// CDI writer, gRPC endpoints, supervisor) against a FakeHostTree and a
// KubeletSim in per-test temp directories.
//
// The rescan interval is 60 s, so changes in the hot-plug tests reach the
// kubelet through inotify on the dev root only; one test uses a short interval
// for a change in sysfs alone. Measured figures are printed ("[  FIGURE  ]")
// and recorded as test properties; timing is asserted only as liveness (5 s).
#include "hailo_device_plugin/daemon.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api.grpc.pb.h"
#include "hailo_device_plugin/allocation.h"
#include "kubelet_sim/kubelet_sim.h"
#include "testing/daemon_env.h"
#include "testing/daemon_fixture.h"
#include "testing/fake_host_tree.h"

namespace hailo_dp {
namespace {

using kubelet_sim::KubeletSim;
using testing::AllHealthy;
using testing::Clock;
using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeDevice;
using testing::FakeHostTree;
using ::testing::HasSubstr;
using testing::HealthOf;
using testing::IdsOf;
using ::testing::IsEmpty;
using ::testing::IsSubsetOf;
using testing::kA;
using testing::kB;
using testing::kC;
using testing::kD;
using testing::kIdA;
using testing::kIdB;
using testing::kIdC;
using testing::kIdD;
using testing::kNpu;
using testing::kWait;
using testing::Layout;
using testing::MillisSince;
using ::testing::Not;
using testing::ReportFigure;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;
using State = KubeletSim::PluginState;

constexpr char kHailo8Resource[] = "hailo.ai/hailo8";
constexpr char kHailo10hResource[] = "hailo.ai/hailo10h";

constexpr uint32_t kHailoPciMajor = 510;

FakeDevice Hailo8(const char* address, uint32_t minor, std::optional<int> numa = 0) {
  return FakeDevice{.pci_address = address,
                    .family = Family::kHailo8,
                    .layout = Layout::kHailoPci423,
                    .minor = minor,
                    .numa_node = numa};
}

FakeDevice Hailo10H(const char* address, uint32_t minor, std::optional<int> numa = 0) {
  return FakeDevice{.pci_address = address,
                    .family = Family::kHailo10H,
                    .layout = Layout::kHailo1x53,
                    .minor = minor,
                    .numa_node = numa};
}

// A kubelet that loses the plugin's socket while the plugin's Register call
// is in flight, as happens when the kubelet restarts at that moment (it
// deletes every plugin socket). It then dials back as the real one does:
// retrying the socket path for up to 10 s, then GetDevicePluginOptions.
class RacingKubelet final : public v1beta1::Registration::Service {
 public:
  explicit RacingKubelet(std::string dir) : dir_(std::move(dir)) {}
  ~RacingKubelet() override { Stop(); }

  bool Start() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + dir_ + "/kubelet.sock",
                             grpc::InsecureServerCredentials());
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    return server_ != nullptr;
  }
  void Stop() {
    stopping_.store(true);
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
  }

  grpc::Status Register(grpc::ServerContext* context,
                        const v1beta1::RegisterRequest* request,
                        v1beta1::Empty*) override {
    const std::string plugin = dir_ + "/" + request->endpoint();
    if (calls_.fetch_add(1) == 0) {
      unlink(plugin.c_str());
      std::lock_guard lock(mu_);
      deleted_at_ = Clock::now();
      deleted_ = true;
      changed_.notify_all();
    }
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
    auto channel = grpc::CreateCustomChannel("unix:" + plugin,
                                             grpc::InsecureChannelCredentials(), args);
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
    for (;;) {
      auto state = channel->GetState(/*try_to_connect=*/true);
      if (state == GRPC_CHANNEL_READY) break;
      auto now = std::chrono::system_clock::now();
      if (now >= deadline || stopping_.load() || context->IsCancelled()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to dial " + plugin);
      }
      channel->WaitForStateChange(
          state, std::min(deadline, now + std::chrono::milliseconds(50)));
    }
    grpc::ClientContext call;
    call.set_deadline(deadline);
    v1beta1::DevicePluginOptions options;
    auto stub = v1beta1::DevicePlugin::NewStub(channel);
    grpc::Status status = stub->GetDevicePluginOptions(&call, v1beta1::Empty(), &options);
    if (status.ok()) registered_.fetch_add(1);
    return status;
  }

  // Blocks until the first Register call deleted the plugin's socket.
  std::optional<Clock::time_point> WaitDeleted(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!changed_.wait_for(lock, timeout, [&] { return deleted_; })) return std::nullopt;
    return deleted_at_;
  }
  int registered() const { return registered_.load(); }

 private:
  const std::string dir_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> calls_{0};
  std::atomic<int> registered_{0};
  std::mutex mu_;
  std::condition_variable changed_;
  bool deleted_ = false;            // guarded by mu_
  Clock::time_point deleted_at_{};  // guarded by mu_
};

class DaemonTest : public testing::InProcessDaemonTest {
 protected:
  // Hailo-8 cards at kA and kB, the kubelet (checking the CDI spec on every
  // list) and the daemon, with both devices listed Healthy.
  void StartTwoHailo8Listed() {
    tree_.AddDevice(Hailo8(kA, 0));
    tree_.AddDevice(Hailo8(kB, 1));
    StartSim();
    CheckSpecOnEveryList();
    StartDaemon(MakeConfig());
    ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB}));
  }

  bool WaitListed(const std::string& resource, std::vector<std::string> ids,
                  int registrations = 1) {
    return WaitListedOn(resource, std::move(ids), registrations, kWait);
  }

  State PluginState(const std::string& resource = kNpu) const {
    auto state = sim_.Plugin(resource);
    EXPECT_TRUE(state.has_value()) << resource;
    return state.value_or(State{});
  }
};

// --- Registration and the first list -----------------------------------------

TEST_F(DaemonTest, RegistersAfterServingAndSendsTheFullListAtOnce) {
  tree_.AddDevice(Hailo8(kA, 0, 0));
  tree_.AddDevice(Hailo8(kB, 1, 1));
  tree_.AddDevice(Hailo10H(kC, 0, std::nullopt));
  StartSim();
  CheckSpecOnEveryList();
  const auto start = Clock::now();
  StartDaemon(MakeConfig());
  // The first message, whatever it holds.
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return s.list_updates >= 1; }, kWait))
      << StateText(kNpu);
  State state = PluginState();
  ReportFigure(
      "start_to_registered",
      std::chrono::duration<double, std::milli>(state.registered_at - start).count());
  ReportFigure(
      "start_to_first_list",
      std::chrono::duration<double, std::milli>(state.last_update_at - start).count());

  // Registered through the sim's dial-back: it called GetDevicePluginOptions
  // on the endpoint, a file name in the kubelet's directory.
  EXPECT_EQ(state.registrations, 1);
  EXPECT_EQ(state.endpoint, "hailo.sock");
  EXPECT_TRUE(state.options.get_preferred_allocation_available());
  EXPECT_FALSE(state.options.pre_start_required());
  // The full list in the very first message.
  EXPECT_EQ(state.list_updates, 1u);
  EXPECT_THAT(IdsOf(state.devices), UnorderedElementsAre(kIdA, kIdB, kIdC));
  EXPECT_TRUE(AllHealthy(state.devices));
  EXPECT_EQ(sim_.Capacity(kNpu), 3);
  EXPECT_EQ(sim_.Allocatable(kNpu), 3);
  // NUMA topology where known, none otherwise.
  for (const auto& device : state.devices) {
    if (device.id() == kIdA) {
      ASSERT_EQ(device.topology().nodes_size(), 1);
      EXPECT_EQ(device.topology().nodes(0).id(), 0);
    } else if (device.id() == kIdB) {
      ASSERT_EQ(device.topology().nodes_size(), 1);
      EXPECT_EQ(device.topology().nodes(0).id(), 1);
    } else {
      EXPECT_EQ(device.topology().nodes_size(), 0) << device.id();
    }
  }
  EXPECT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }));
  EXPECT_TRUE(testing::IsSocket(SocketPath()));
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA, kIdB, kIdC}));
}

TEST_F(DaemonTest, AnswersOptionsAndListOnItsSocketToAnyClient) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));

  auto stub = testing::PluginStub(SocketPath());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWait);
  v1beta1::DevicePluginOptions options;
  grpc::Status status =
      stub->GetDevicePluginOptions(&context, v1beta1::Empty(), &options);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(options.get_preferred_allocation_available());
  EXPECT_FALSE(options.pre_start_required());

  testing::StreamClient stream(SocketPath());
  ASSERT_TRUE(stream.WaitFirst());
  EXPECT_THAT(IdsOf(*stream.Last()), ElementsAre(kIdA));
}

// --- Hot-plug, driven by inotify on the dev root ------------------------------

TEST_F(DaemonTest, VanishedNodeTurnsUnhealthyAndItsReturnHealthy) {
  ASSERT_NO_FATAL_FAILURE(StartTwoHailo8Listed());

  auto unplug = Clock::now();
  tree_.RemoveNode(kA);
  ASSERT_TRUE(sim_.WaitFor(
      kNpu,
      [](const State& s) {
        return s.devices.size() == 2 && HealthOf(s.devices, kIdA) == "Unhealthy" &&
               HealthOf(s.devices, kIdB) == "Healthy";
      },
      kWait))
      << StateText(kNpu);
  ReportFigure("node_removed_to_unhealthy_seen", MillisSince(unplug));
  EXPECT_EQ(sim_.Capacity(kNpu), 2);
  EXPECT_EQ(sim_.Allocatable(kNpu), 1);

  auto replug = Clock::now();
  tree_.ReplaceNode(kA, kHailoPciMajor, 0);
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB}));
  ReportFigure("node_back_to_healthy_seen", MillisSince(replug));
  // One message per change: the first list, Unhealthy, Healthy.
  EXPECT_EQ(PluginState().list_updates, 3u);
  EXPECT_EQ(PluginState().registrations, 1);
}

TEST_F(DaemonTest, RemovedPciFunctionLeavesTheList) {
  ASSERT_NO_FATAL_FAILURE(StartTwoHailo8Listed());

  auto unplug = Clock::now();
  tree_.RemovePciFunction(kB);
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  ReportFigure("pci_function_removed_to_list_without_it", MillisSince(unplug));
  EXPECT_EQ(sim_.Capacity(kNpu), 1);
  auto names = testing::CdiSpecDeviceNames(SpecPath());
  ASSERT_TRUE(names.has_value());
  EXPECT_THAT(*names, Contains(kIdA));
  EXPECT_THAT(*names, Not(Contains(kIdB)));

  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids(kIdB);
  auto response = sim_.Allocate(kNpu, request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DaemonTest, StartsWithZeroDevicesAndPicksUpNewOnes) {
  StartSim();
  CheckSpecOnEveryList();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return s.stream_open && s.list_updates >= 1; }, kWait))
      << StateText(kNpu);
  EXPECT_THAT(PluginState().devices, IsEmpty());
  EXPECT_FALSE(testing::Exists(SpecPath())) << "a spec without devices is invalid CDI";
  EXPECT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }));

  // A new device: its /dev node is created last, and its creation wakes the
  // monitor.
  auto plug = Clock::now();
  tree_.AddDevice(Hailo8(kA, 0));
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  ReportFigure("device_added_to_listed", MillisSince(plug));

  // A second one, of the other class layout (a new /sys/class directory).
  tree_.AddDevice(Hailo10H(kC, 0));
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdC}));
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA, kIdC}));
  EXPECT_EQ(PluginState().registrations, 1);

  std::vector<std::string> chosen;
  auto admitted = sim_.AdmitPod(kNpu, 2, &chosen);
  ASSERT_TRUE(admitted.ok()) << std::string(admitted.status().message());
  EXPECT_THAT(chosen, UnorderedElementsAre(kIdA, kIdC));
}

TEST_F(DaemonTest, CdiSpecNamesEveryDeviceBeforeTheKubeletSeesIt) {
  StartSim();
  CheckSpecOnEveryList();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return s.list_updates >= 1; }, kWait));

  // Devices arrive in quick succession; each list the kubelet gets must
  // already be resolvable through the spec on disk.
  const std::string spec = SpecPath();
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo8(kB, 1));
  tree_.AddDevice(Hailo10H(kC, 0));
  tree_.AddDevice(Hailo8(kD, 2));
  std::vector<std::string> all = {kIdA, kIdB, kIdC, kIdD};
  ASSERT_TRUE(sim_.WaitFor(
      kNpu,
      [&](const State& s) {
        auto ids = IdsOf(s.devices);
        // Checked at the moment the sim holds this list.
        EXPECT_TRUE(testing::CdiSpecNamesAll(spec, testing::HealthyIds(s.devices)))
            << testing::DescribeState(s);
        return testing::SortedIds(ids) == testing::SortedIds(all) &&
               AllHealthy(s.devices);
      },
      kWait))
      << StateText(kNpu);
  // Allocate names only devices the spec has.
  auto admitted = sim_.AdmitPod(kNpu, 4);
  ASSERT_TRUE(admitted.ok()) << std::string(admitted.status().message());
  auto names = testing::CdiSpecDeviceNames(spec);
  ASSERT_TRUE(names.has_value());
  for (const auto& cdi : admitted->cdi_devices()) {
    std::string name = cdi.name();
    ASSERT_EQ(name.rfind("hailo.ai/npu=", 0), 0u) << name;
    EXPECT_THAT(*names, Contains(name.substr(name.find('=') + 1)));
  }
}

// While the CDI spec cannot be written, the kubelet must not get to allocate
// a device that no spec on disk names (the container would fail to start
// with an unresolvable CDI device); once it can be written, all is well.
TEST_F(DaemonTest, NeverAllocatesADeviceThatNoCdiSpecNames) {
  tree_.AddDevice(Hailo8(kA, 0));
  // The CDI directory's parent is a regular file: every write fails.
  const std::string blocker = tree_.root() + "/blocked";
  tree_.WriteFile("blocked", "not a directory\n");
  testing::DaemonDirs dirs = dirs_;
  dirs.cdi_dir = blocker + "/cdi";
  StartSim();
  StartDaemon(testing::TestConfig(tree_, dirs, std::chrono::milliseconds(200)));
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return s.stream_open && s.list_updates >= 1; }, kWait))
      << StateText(kNpu);
  const std::string spec = dirs.cdi_dir + "/hailo.ai-npu.json";

  auto pod = sim_.AdmitPod(kNpu, 1);
  if (pod.ok()) {
    for (const auto& cdi : pod->cdi_devices()) {
      EXPECT_TRUE(testing::CdiSpecDeviceNames(spec).has_value())
          << "Allocate named " << cdi.name() << " but no CDI spec exists at " << spec;
    }
  }

  // The directory becomes writable: the next rescan writes the spec, and the
  // device is allocatable and resolvable.
  ASSERT_EQ(unlink(blocker.c_str()), 0);
  ASSERT_TRUE(testing::Eventually([&] { return testing::CdiSpecNamesAll(spec, {kIdA}); }))
      << "the spec was not written once the directory became writable";
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  sim_.Release({kIdA});
  auto later = sim_.AdmitPod(kNpu, 1);
  ASSERT_TRUE(later.ok()) << std::string(later.status().message());
  EXPECT_EQ(later->cdi_devices(0).name(), std::string("hailo.ai/npu=") + kIdA);
}

// --- Periodic rescan -------------------------------------------------------------

TEST_F(DaemonTest, PeriodicRescanCatchesASysfsOnlyChange) {
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo8(kB, 1));
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB}));

  // Nothing changes in /dev: only the rescan timer can see this.
  auto disabled = Clock::now();
  tree_.SetEnable(kA, 0);
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return HealthOf(s.devices, kIdA) == "Unhealthy"; },
      kWait))
      << StateText(kNpu);
  ReportFigure("pci_disabled_to_unhealthy_seen_200ms_rescan", MillisSince(disabled));
  EXPECT_EQ(HealthOf(PluginState().devices, kIdB), "Healthy");

  tree_.SetEnable(kA, 1);
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB}));
}

// --- Allocation through the kubelet -----------------------------------------------

TEST_F(DaemonTest, AdmitPodGetsCdiDeviceNamesAndHailoDeviceIds) {
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo10H(kC, 0));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdC}));
  const std::map<std::string, std::string> address = {{kIdA, kA}, {kIdC, kC}};

  std::vector<std::string> first;
  auto pod1 = sim_.AdmitPod(kNpu, 1, &first);
  ASSERT_TRUE(pod1.ok()) << std::string(pod1.status().message());
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(pod1->cdi_devices_size(), 1);
  EXPECT_EQ(pod1->cdi_devices(0).name(), "hailo.ai/npu=" + first[0]);
  EXPECT_EQ(pod1->envs().at("HAILO_DEVICE_IDS"), address.at(first[0]));
  // The default mode is cdi-cri only.
  EXPECT_EQ(pod1->devices_size(), 0);
  EXPECT_TRUE(pod1->annotations().empty());

  std::vector<std::string> second;
  auto pod2 = sim_.AdmitPod(kNpu, 1, &second);
  ASSERT_TRUE(pod2.ok()) << std::string(pod2.status().message());
  EXPECT_NE(second, first);
  EXPECT_EQ(sim_.AdmitPod(kNpu, 1).status().code(), absl::StatusCode::kResourceExhausted);

  sim_.Release(first);
  sim_.Release(second);
  std::vector<std::string> both;
  auto pod3 = sim_.AdmitPod(kNpu, 2, &both);
  ASSERT_TRUE(pod3.ok()) << std::string(pod3.status().message());
  ASSERT_EQ(both.size(), 2u);
  ASSERT_EQ(pod3->cdi_devices_size(), 2);
  EXPECT_EQ(pod3->cdi_devices(0).name(), "hailo.ai/npu=" + both[0]);
  EXPECT_EQ(pod3->cdi_devices(1).name(), "hailo.ai/npu=" + both[1]);
  EXPECT_EQ(pod3->envs().at("HAILO_DEVICE_IDS"),
            address.at(both[0]) + "," + address.at(both[1]));
}

TEST_F(DaemonTest, AllocationModesAnnotationsAndDeviceSpecs) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  Config config = MakeConfig();
  config.allocation_modes = kModeCdiCri | kModeCdiAnnotations | kModeDeviceSpecs;
  StartDaemon(config);
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));

  auto pod = sim_.AdmitPod(kNpu, 1);
  ASSERT_TRUE(pod.ok()) << std::string(pod.status().message());
  ASSERT_EQ(pod->cdi_devices_size(), 1);
  EXPECT_EQ(pod->cdi_devices(0).name(), std::string("hailo.ai/npu=") + kIdA);
  EXPECT_EQ(pod->annotations().at("cdi.k8s.io/hailo-device-plugin_npu"),
            std::string("hailo.ai/npu=") + kIdA);
  ASSERT_EQ(pod->devices_size(), 1);
  // Host paths, whatever root the daemon scans.
  EXPECT_EQ(pod->devices(0).host_path(), "/dev/hailo0");
  EXPECT_EQ(pod->devices(0).container_path(), "/dev/hailo0");
  EXPECT_EQ(pod->devices(0).permissions(), "rw");
  EXPECT_EQ(pod->envs().at("HAILO_DEVICE_IDS"), kA);
}

TEST_F(DaemonTest, DeviceSpecsOnlyModeSendsNoCdiNames) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  Config config = MakeConfig();
  config.allocation_modes = kModeDeviceSpecs;
  StartDaemon(config);
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  auto pod = sim_.AdmitPod(kNpu, 1);
  ASSERT_TRUE(pod.ok()) << std::string(pod.status().message());
  EXPECT_EQ(pod->cdi_devices_size(), 0);
  EXPECT_TRUE(pod->annotations().empty());
  ASSERT_EQ(pod->devices_size(), 1);
  EXPECT_EQ(pod->devices(0).host_path(), "/dev/hailo0");
}

TEST_F(DaemonTest, AllocateRejectsUnknownAndUnhealthyDevicesOverGrpc) {
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo8(kB, 1));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB}));

  v1beta1::AllocateRequest unknown;
  unknown.add_container_requests()->add_devices_ids("0000-99-00.0");
  auto r1 = sim_.Allocate(kNpu, unknown);
  EXPECT_EQ(r1.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r1.status().message()), HasSubstr("0000-99-00.0"));

  tree_.RemoveNode(kB);
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return HealthOf(s.devices, kIdB) == "Unhealthy"; },
      kWait))
      << StateText(kNpu);
  v1beta1::AllocateRequest unhealthy;
  unhealthy.add_container_requests()->add_devices_ids(kIdB);
  auto r2 = sim_.Allocate(kNpu, unhealthy);
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(r2.status().message()), HasSubstr(kIdB));

  // A healthy one next to it still works; the kubelet would not offer B.
  v1beta1::AllocateRequest healthy;
  healthy.add_container_requests()->add_devices_ids(kIdA);
  auto r3 = sim_.Allocate(kNpu, healthy);
  ASSERT_TRUE(r3.ok()) << std::string(r3.status().message());
  EXPECT_EQ(r3->container_responses_size(), 1);
  EXPECT_EQ(sim_.AdmitPod(kNpu, 2).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(DaemonTest, GetPreferredAllocationThroughTheKubelet) {
  tree_.AddDevice(Hailo8(kA, 0, 0));
  tree_.AddDevice(Hailo8(kB, 1, 0));
  tree_.AddDevice(Hailo8(kD, 2, 1));
  tree_.AddDevice(Hailo10H(kC, 0, 1));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB, kIdC, kIdD}));
  const std::map<std::string, int> numa = {{kIdA, 0}, {kIdB, 0}, {kIdC, 1}, {kIdD, 1}};
  const std::vector<std::string> all = {kIdA, kIdB, kIdC, kIdD};

  auto ask = [&](const std::vector<std::string>& available,
                 const std::vector<std::string>& must, int size) {
    return sim_.GetPreferredAllocation(kNpu,
                                       testing::PreferredRequest(available, must, size));
  };

  // Exact size, a subset of the available IDs, every must-include in it, and
  // on the must-include device's NUMA node when that fits.
  auto r1 = ask(all, {kIdD}, 2);
  ASSERT_TRUE(r1.ok()) << std::string(r1.status().message());
  ASSERT_EQ(r1->container_responses_size(), 1);
  std::vector<std::string> got(r1->container_responses(0).deviceids().begin(),
                               r1->container_responses(0).deviceids().end());
  EXPECT_EQ(got.size(), 2u);
  EXPECT_THAT(got, IsSubsetOf(all));
  EXPECT_THAT(got, Contains(kIdD));
  EXPECT_THAT(got, UnorderedElementsAre(kIdC, kIdD));

  auto r2 = ask({kIdA, kIdB, kIdC}, {}, 3);
  ASSERT_TRUE(r2.ok()) << std::string(r2.status().message());
  EXPECT_THAT(r2->container_responses(0).deviceids(),
              UnorderedElementsAre(kIdA, kIdB, kIdC));

  auto r3 = ask({kIdA, kIdB, kIdC, kIdD}, {kIdA, kIdC}, 3);
  ASSERT_TRUE(r3.ok()) << std::string(r3.status().message());
  got.assign(r3->container_responses(0).deviceids().begin(),
             r3->container_responses(0).deviceids().end());
  EXPECT_EQ(got.size(), 3u);
  EXPECT_THAT(got, IsSubsetOf(all));
  EXPECT_THAT(got, Contains(kIdA));
  EXPECT_THAT(got, Contains(kIdC));

  EXPECT_EQ(ask({kIdA}, {}, 2).status().code(), absl::StatusCode::kInvalidArgument);

  // AdmitPod asks for a preferred allocation (the sim checks the answer).
  std::vector<std::string> chosen;
  auto pod = sim_.AdmitPod(kNpu, 2, &chosen);
  ASSERT_TRUE(pod.ok()) << std::string(pod.status().message());
  ASSERT_EQ(chosen.size(), 2u);
  EXPECT_EQ(numa.at(chosen[0]), numa.at(chosen[1])) << chosen[0] << " " << chosen[1];
}

// --- The kubelet's comings and goings ----------------------------------------------

TEST_F(DaemonTest, RegistersWhenTheKubeletStartsLater) {
  tree_.AddDevice(Hailo8(kA, 0));
  ASSERT_EQ(mkdir(dirs_.kubelet_dir.c_str(), 0755), 0);
  StartDaemon(MakeConfig());
  // Serving before it can register; not registered while the kubelet is away.
  ASSERT_TRUE(testing::Eventually([&] { return testing::IsSocket(SocketPath()); }));
  // Let some Register attempts fail (not needed for correctness).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(daemon_->Registered());
  EXPECT_TRUE(testing::IsSocket(SocketPath()));

  auto kubelet_up = Clock::now();
  StartSim();
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  ReportFigure(
      "kubelet_started_to_registered",
      std::chrono::duration<double, std::milli>(PluginState().registered_at - kubelet_up)
          .count());
  EXPECT_EQ(PluginState().registrations, 1);
  EXPECT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }));
}

TEST_F(DaemonTest, RegistersWhenTheKubeletDirectoryAppearsLater) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartDaemon(MakeConfig());
  // Let some attempts to serve fail (not needed for correctness).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(daemon_->Registered());

  auto kubelet_up = Clock::now();
  StartSim();  // creates the directory and kubelet.sock
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  ReportFigure(
      "kubelet_dir_and_socket_created_to_registered",
      std::chrono::duration<double, std::milli>(PluginState().registered_at - kubelet_up)
          .count());
  EXPECT_TRUE(testing::IsSocket(SocketPath()));
}

TEST_F(DaemonTest, ReRegistersAndResendsTheListAfterAKubeletRestart) {
  ASSERT_NO_FATAL_FAILURE(StartTwoHailo8Listed());

  auto restart = Clock::now();
  absl::Status status = sim_.Restart();
  ASSERT_TRUE(status.ok()) << std::string(status.message());
  auto restarted = Clock::now();
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB}, /*registrations=*/2));
  State state = PluginState();
  ReportFigure("kubelet_restart_call",
               std::chrono::duration<double, std::milli>(restarted - restart).count());
  ReportFigure(
      "kubelet_up_again_to_reregistered",
      std::chrono::duration<double, std::milli>(state.registered_at - restarted).count());
  ReportFigure("kubelet_up_again_to_list_resent",
               std::chrono::duration<double, std::milli>(state.last_update_at - restarted)
                   .count());
  EXPECT_EQ(state.registrations, 2);
  EXPECT_EQ(state.list_updates, 1u);
  EXPECT_TRUE(testing::IsSocket(SocketPath()));
  EXPECT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }));
  auto pod = sim_.AdmitPod(kNpu, 2);
  EXPECT_TRUE(pod.ok()) << std::string(pod.status().message());
}

TEST_F(DaemonTest, SurvivesTwentyKubeletRestartsInARow) {
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo8(kB, 1));
  tree_.AddDevice(Hailo10H(kC, 0));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB, kIdC}));

  std::vector<double> figures;
  for (int i = 0; i < 20; ++i) {
    absl::Status status = sim_.Restart();
    ASSERT_TRUE(status.ok()) << std::string(status.message());
    auto restarted = Clock::now();
    ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB, kIdC}, /*registrations=*/i + 2))
        << "restart " << i + 1;
    State state = PluginState();
    EXPECT_EQ(state.registrations, i + 2) << "restart " << i + 1;
    figures.push_back(
        std::chrono::duration<double, std::milli>(state.last_update_at - restarted)
            .count());
  }
  std::sort(figures.begin(), figures.end());
  ReportFigure("20_restarts_up_to_list_resent_min", figures.front());
  ReportFigure("20_restarts_up_to_list_resent_median", figures[figures.size() / 2]);
  ReportFigure("20_restarts_up_to_list_resent_max", figures.back());
  EXPECT_EQ(PluginState().registrations, 21);
  EXPECT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }));
}

TEST_F(DaemonTest, ReServesAndReRegistersWhenItsSocketIsDeleted) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));

  auto deleted = Clock::now();
  ASSERT_EQ(unlink(SocketPath().c_str()), 0);
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}, /*registrations=*/2));
  ReportFigure(
      "socket_deleted_to_reregistered",
      std::chrono::duration<double, std::milli>(PluginState().registered_at - deleted)
          .count());
  EXPECT_TRUE(testing::IsSocket(SocketPath()));
  EXPECT_EQ(PluginState().registrations, 2);
  auto pod = sim_.AdmitPod(kNpu, 1);
  EXPECT_TRUE(pod.ok()) << std::string(pod.status().message());
}

// A kubelet that comes back without deleting our socket: only the creation
// of kubelet.sock tells.
TEST_F(DaemonTest, ReRegistersWhenOnlyANewKubeletSockAppears) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  struct stat before {};
  ASSERT_EQ(stat(SocketPath().c_str(), &before), 0);

  sim_.Stop();
  absl::Status status = sim_.Start();
  ASSERT_TRUE(status.ok()) << std::string(status.message());
  auto up = Clock::now();
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}, /*registrations=*/2));
  ReportFigure("new_kubelet_sock_to_reregistered",
               std::chrono::duration<double, std::milli>(PluginState().registered_at - up)
                   .count());
  EXPECT_EQ(PluginState().registrations, 2);
}

// The kubelet restarts (deleting our socket) while our Register call is in
// flight: the kubelet's dial-back can only fail, after its 10 s timeout. The
// daemon must not wait for that: it sees its socket go (inotify), re-serves
// and registers again at once.
TEST_F(DaemonTest, ReServesAtOnceWhenItsSocketIsDeletedDuringRegister) {
  tree_.AddDevice(Hailo8(kA, 0));
  ASSERT_EQ(mkdir(dirs_.kubelet_dir.c_str(), 0755), 0);
  RacingKubelet kubelet(dirs_.kubelet_dir);
  ASSERT_TRUE(kubelet.Start());
  StartDaemon(MakeConfig());
  auto deleted = kubelet.WaitDeleted(kWait);
  ASSERT_TRUE(deleted.has_value()) << "the daemon never called Register";

  bool reserved = testing::Eventually([&] { return testing::IsSocket(SocketPath()); });
  ReportFigure("socket_deleted_during_register_to_reserved", MillisSince(*deleted));
  EXPECT_TRUE(reserved) << "not re-served within " << kWait.count()
                        << " ms: the daemon waits for its doomed Register call";
  if (reserved) {
    EXPECT_TRUE(testing::Eventually([&] { return kubelet.registered() >= 1; }))
        << "never registered";
  }
  // Stop is prompt even with a Register call pending.
  auto stop = Clock::now();
  daemon_->Stop();
  ReportFigure("stop_with_register_in_flight_or_done", MillisSince(stop));
  kubelet.Stop();
}

// --- Streams and shutdown ------------------------------------------------------------

TEST_F(DaemonTest, SeveralStreamsAllGetUpdatesAndAllEndPromptlyOnStop) {
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo8(kB, 1));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdB}));

  std::vector<std::unique_ptr<testing::StreamClient>> streams;
  for (int i = 0; i < 4; ++i) {
    streams.push_back(std::make_unique<testing::StreamClient>(SocketPath()));
  }
  for (auto& stream : streams) {
    ASSERT_TRUE(stream->WaitFirst());
    EXPECT_THAT(IdsOf(*stream->Last()), UnorderedElementsAre(kIdA, kIdB));
  }

  tree_.RemoveNode(kA);
  auto a_unhealthy = [](const std::vector<v1beta1::ListAndWatchResponse>& messages) {
    if (messages.empty()) return false;
    std::vector<v1beta1::Device> d(messages.back().devices().begin(),
                                   messages.back().devices().end());
    return d.size() == 2 && HealthOf(d, kIdA) == "Unhealthy";
  };
  for (auto& stream : streams) EXPECT_TRUE(stream->WaitFor(a_unhealthy));
  EXPECT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return HealthOf(s.devices, kIdA) == "Unhealthy"; },
      kWait));

  auto stop = Clock::now();
  daemon_->Stop();
  ReportFigure("stop_with_5_open_streams", MillisSince(stop));
  double last_end = 0;
  for (auto& stream : streams) {
    ASSERT_TRUE(stream->WaitEnded()) << "a stream outlived Stop()";
    last_end = std::max(
        last_end,
        std::chrono::duration<double, std::milli>(stream->ended_at() - stop).count());
  }
  ReportFigure("stop_to_last_stream_ended", last_end);
  EXPECT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return !s.stream_open; }, kWait));
  EXPECT_FALSE(daemon_->Registered());
  EXPECT_FALSE(testing::Exists(SocketPath()));
}

TEST_F(DaemonTest, StopRemovesTheSocketAndKeepsTheCdiSpec) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  ASSERT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA}));

  daemon_->Stop();
  EXPECT_FALSE(testing::Exists(SocketPath()));
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA}));
  // The kubelet's socket is not ours to remove.
  EXPECT_TRUE(testing::IsSocket(sim_.socket_path()));
  daemon_->Stop();  // idempotent
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA}));
}

TEST_F(DaemonTest, StopEndsStreamsEvenWithoutAKubelet) {
  tree_.AddDevice(Hailo8(kA, 0));
  ASSERT_EQ(mkdir(dirs_.kubelet_dir.c_str(), 0755), 0);
  StartDaemon(MakeConfig());
  ASSERT_TRUE(testing::Eventually([&] { return testing::IsSocket(SocketPath()); }));
  testing::StreamClient stream(SocketPath());
  ASSERT_TRUE(stream.WaitFirst());
  auto stop = Clock::now();
  daemon_->Stop();
  ReportFigure("stop_while_kubelet_absent", MillisSince(stop));
  EXPECT_TRUE(stream.WaitEnded());
  EXPECT_FALSE(testing::Exists(SocketPath()));
}

TEST_F(DaemonTest, StartAfterStopRegistersAgain) {
  tree_.AddDevice(Hailo8(kA, 0));
  StartSim();
  StartDaemon(MakeConfig());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}));
  daemon_->Stop();
  ASSERT_TRUE(sim_.WaitFor(
      kNpu, [](const State& s) { return !s.stream_open; }, kWait));
  absl::Status status = daemon_->Start();
  ASSERT_TRUE(status.ok()) << std::string(status.message());
  ASSERT_TRUE(WaitListed(kNpu, {kIdA}, /*registrations=*/2));
}

TEST_F(DaemonTest, ReloadToPerFamilyServesAndRegistersTheNewResources) {
  tree_.AddDevice(Hailo8(kA, 0));
  tree_.AddDevice(Hailo10H(kC, 0));
  StartSim();
  Config config = MakeConfig();
  StartDaemon(config);
  ASSERT_TRUE(WaitListed(kNpu, {kIdA, kIdC}));

  config.resource_strategy = ResourceStrategy::kPerFamily;
  absl::Status status = daemon_->Reload(config);
  ASSERT_TRUE(status.ok()) << std::string(status.message());
  ASSERT_TRUE(WaitListed(kHailo8Resource, {kIdA}));
  ASSERT_TRUE(WaitListed(kHailo10hResource, {kIdC}));
  EXPECT_FALSE(testing::Exists(SocketPath())) << "the old resource's socket is left";
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(kHailo8Resource), {kIdA}));
  EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(kHailo10hResource), {kIdC}));
}

// --- One resource per family
// ------------------------------------------------------------

TEST_F(DaemonTest, PerFamilyResourcesRegisterSideBySide) {
  tree_.AddDevice(Hailo8(kA, 0, 0));
  tree_.AddDevice(Hailo8(kB, 1, 0));
  tree_.AddDevice(Hailo10H(kC, 0, 1));
  StartSim();
  CheckSpecOnEveryList();
  Config config = MakeConfig();
  config.resource_strategy = ResourceStrategy::kPerFamily;
  StartDaemon(config);
  ASSERT_TRUE(WaitListed(kHailo8Resource, {kIdA, kIdB}));
  ASSERT_TRUE(WaitListed(kHailo10hResource, {kIdC}));
  std::cout << "resources registered:";
  for (const auto& r : sim_.Resources()) std::cout << " " << r;
  std::cout << std::endl;

  State h8 = PluginState(kHailo8Resource);
  State h10 = PluginState(kHailo10hResource);
  EXPECT_EQ(h8.endpoint, "hailo8.sock");
  EXPECT_EQ(h10.endpoint, "hailo10h.sock");
  EXPECT_TRUE(testing::IsSocket(SocketPath("hailo8.sock")));
  EXPECT_TRUE(testing::IsSocket(SocketPath("hailo10h.sock")));
  EXPECT_EQ(h10.devices.at(0).topology().nodes(0).id(), 1);

  // One CDI spec per resource, each naming only its own devices.
  auto spec8 = testing::CdiSpecDeviceNames(SpecPath(kHailo8Resource));
  auto spec10 = testing::CdiSpecDeviceNames(SpecPath(kHailo10hResource));
  ASSERT_TRUE(spec8.has_value());
  ASSERT_TRUE(spec10.has_value());
  EXPECT_THAT(*spec8, Contains(kIdA));
  EXPECT_THAT(*spec8, Contains(kIdB));
  EXPECT_THAT(*spec8, Not(Contains(kIdC)));
  EXPECT_THAT(*spec10, Contains(kIdC));
  EXPECT_THAT(*spec10, Not(Contains(kIdA)));

  auto pod8 = sim_.AdmitPod(kHailo8Resource, 1);
  ASSERT_TRUE(pod8.ok()) << std::string(pod8.status().message());
  EXPECT_EQ(pod8->cdi_devices(0).name().rfind("hailo.ai/hailo8=", 0), 0u);
  auto pod10 = sim_.AdmitPod(kHailo10hResource, 1);
  ASSERT_TRUE(pod10.ok()) << std::string(pod10.status().message());
  EXPECT_EQ(pod10->cdi_devices(0).name(), std::string("hailo.ai/hailo10h=") + kIdC);
  EXPECT_EQ(pod10->envs().at("HAILO_DEVICE_IDS"), kC);

  // Another family's device is unknown to a resource.
  v1beta1::AllocateRequest cross;
  cross.add_container_requests()->add_devices_ids(kIdC);
  EXPECT_EQ(sim_.Allocate(kHailo8Resource, cross).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A change in one family reaches only that family's stream.
  tree_.RemoveNode(kC);
  ASSERT_TRUE(sim_.WaitFor(
      kHailo10hResource,
      [](const State& s) { return HealthOf(s.devices, kIdC) == "Unhealthy"; }, kWait))
      << StateText(kHailo10hResource);
  EXPECT_EQ(PluginState(kHailo8Resource).list_updates, 1u);

  // Both come back after a kubelet restart (once every resource, hailo15l and
  // hailo12l too, is registered).
  ASSERT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }));
  absl::Status status = sim_.Restart();
  ASSERT_TRUE(status.ok()) << std::string(status.message());
  ASSERT_TRUE(WaitListed(kHailo8Resource, {kIdA, kIdB}, /*registrations=*/2));
  ASSERT_TRUE(sim_.WaitFor(
      kHailo10hResource,
      [](const State& s) {
        return s.registrations >= 2 && s.list_updates >= 1 &&
               HealthOf(s.devices, kIdC) == "Unhealthy";
      },
      kWait))
      << StateText(kHailo10hResource);
  EXPECT_TRUE(testing::Eventually([&] { return daemon_->Registered(); }));
}

}  // namespace
}  // namespace hailo_dp
