// Tests of the simulated kubelet against a minimal fake device plugin served on
// a real unix socket in a per-test temp directory.
#include "kubelet_sim/kubelet_sim.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "kubelet_sim/script_runner.h"

namespace kubelet_sim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using State = KubeletSim::PluginState;

constexpr std::chrono::milliseconds kWait{5000};
constexpr char kResource[] = "hailo.ai/npu";

v1beta1::Device MakeDevice(const std::string& id, const std::string& health = kHealthy,
                           int numa = 0) {
  v1beta1::Device device;
  device.set_id(id);
  device.set_health(health);
  device.mutable_topology()->add_nodes()->set_id(numa);
  return device;
}

// A device plugin that serves a fixed, replaceable device list and records the
// calls it gets, in order.
class FakePlugin final : public v1beta1::DevicePlugin::Service {
 public:
  FakePlugin(const std::string& dir, std::string name, bool preferred = false)
      : name_(std::move(name)), path_(dir + "/" + name_) {
    options_.set_get_preferred_allocation_available(preferred);
    devices_ = {MakeDevice("dev-a"), MakeDevice("dev-b", kHealthy, 1)};
  }
  ~FakePlugin() override { Stop(); }

  void Serve() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + path_, grpc::InsecureServerCredentials());
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr) << path_;
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      changed_.notify_all();
    }
    if (server_) server_->Shutdown();
    server_.reset();
  }
  void SetDevices(std::vector<v1beta1::Device> devices) {
    std::lock_guard lock(mu_);
    devices_ = std::move(devices);
    ++version_;
    changed_.notify_all();
  }
  // Makes every open ListAndWatch return OK.
  void EndStreams() {
    std::lock_guard lock(mu_);
    ++end_epoch_;
    changed_.notify_all();
  }
  void SetPreferredAnswer(std::vector<std::string> ids) {
    std::lock_guard lock(mu_);
    preferred_answer_ = std::move(ids);
  }
  void FailAllocate(grpc::Status status) {
    std::lock_guard lock(mu_);
    allocate_status_ = std::move(status);
  }
  std::vector<std::string> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  int Count(const std::string& call) const {
    auto all = calls();
    return static_cast<int>(std::count(all.begin(), all.end(), call));
  }
  std::vector<v1beta1::PreferredAllocationRequest> preferred_requests() const {
    std::lock_guard lock(mu_);
    return preferred_requests_;
  }
  std::vector<v1beta1::AllocateRequest> allocate_requests() const {
    std::lock_guard lock(mu_);
    return allocate_requests_;
  }
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }

  grpc::Status GetDevicePluginOptions(grpc::ServerContext*, const v1beta1::Empty*,
                                      v1beta1::DevicePluginOptions* options) override {
    std::lock_guard lock(mu_);
    calls_.push_back("options");
    *options = options_;
    return grpc::Status::OK;
  }

  grpc::Status ListAndWatch(
      grpc::ServerContext* context, const v1beta1::Empty*,
      grpc::ServerWriter<v1beta1::ListAndWatchResponse>* writer) override {
    std::unique_lock lock(mu_);
    calls_.push_back("list_and_watch");
    const int epoch = end_epoch_;
    for (int sent = -1;;) {
      if (sent != version_) {
        v1beta1::ListAndWatchResponse response;
        for (const auto& device : devices_) *response.add_devices() = device;
        sent = version_;
        lock.unlock();
        bool ok = writer->Write(response);
        lock.lock();
        if (!ok) break;
      }
      // Polls for cancellation, which has no notification in the sync API.
      changed_.wait_for(lock, std::chrono::milliseconds(20));
      if (context->IsCancelled()) {
        calls_.push_back("stream_cancelled");
        break;
      }
      if (stopping_ || end_epoch_ != epoch) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status GetPreferredAllocation(
      grpc::ServerContext*, const v1beta1::PreferredAllocationRequest* request,
      v1beta1::PreferredAllocationResponse* response) override {
    std::lock_guard lock(mu_);
    calls_.push_back("preferred");
    preferred_requests_.push_back(*request);
    for (const auto& container : request->container_requests()) {
      auto* answer = response->add_container_responses();
      if (preferred_answer_) {
        for (const auto& id : *preferred_answer_) answer->add_deviceids(id);
        continue;
      }
      // Default: the last `allocation_size` available devices.
      const auto& ids = container.available_deviceids();
      for (int i = ids.size() - container.allocation_size(); i < ids.size(); ++i) {
        answer->add_deviceids(ids[i]);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Allocate(grpc::ServerContext*, const v1beta1::AllocateRequest* request,
                        v1beta1::AllocateResponse* response) override {
    std::lock_guard lock(mu_);
    calls_.push_back("allocate");
    allocate_requests_.push_back(*request);
    if (!allocate_status_.ok()) return allocate_status_;
    for (const auto& container : request->container_requests()) {
      auto* out = response->add_container_responses();
      for (const auto& id : container.devices_ids()) {
        out->add_cdi_devices()->set_name("hailo.ai/npu=" + id);
      }
      (*out->mutable_envs())["HAILO_DEVICE_IDS"] = "x";
    }
    return grpc::Status::OK;
  }

 private:
  const std::string name_;
  const std::string path_;
  std::unique_ptr<grpc::Server> server_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  // Guarded by mu_.
  v1beta1::DevicePluginOptions options_;
  std::vector<v1beta1::Device> devices_;
  int version_ = 0;
  int end_epoch_ = 0;
  bool stopping_ = false;
  std::optional<std::vector<std::string>> preferred_answer_;
  grpc::Status allocate_status_;
  std::vector<std::string> calls_;
  std::vector<v1beta1::PreferredAllocationRequest> preferred_requests_;
  std::vector<v1beta1::AllocateRequest> allocate_requests_;
};

class KubeletSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kubelet_sim_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    StartSim(KubeletSim::Options());
  }
  void TearDown() override {
    sim_.reset();
    plugins_.clear();
    std::filesystem::remove_all(dir_);
  }

  void StartSim(KubeletSim::Options options) {
    sim_ = std::make_unique<KubeletSim>(dir_, options);
    sim_->SetEventCallback([this](const KubeletSim::Event& e) {
      std::lock_guard lock(events_mu_);
      events_.push_back(std::string(KindName(e.kind)) + " " + e.resource);
    });
    ASSERT_TRUE(sim_->Start().ok());
  }

  FakePlugin& NewPlugin(const std::string& name, bool preferred = false) {
    plugins_.push_back(std::make_unique<FakePlugin>(dir_, name, preferred));
    plugins_.back()->Serve();
    return *plugins_.back();
  }

  // What a device plugin does: a Register call on kubelet.sock.
  grpc::Status Register(const std::string& endpoint,
                        const std::string& resource = kResource,
                        const std::string& version = kVersion) {
    auto channel = grpc::CreateChannel("unix:" + sim_->socket_path(),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1beta1::Registration::NewStub(channel);
    v1beta1::RegisterRequest request;
    request.set_version(version);
    request.set_endpoint(endpoint);
    request.set_resource_name(resource);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1beta1::Empty empty;
    return stub->Register(&context, request, &empty);
  }

  bool WaitFor(const std::function<bool(const State&)>& pred,
               const std::string& resource = kResource) {
    return sim_->WaitFor(resource, pred, kWait);
  }

  // Registers `plugin` and waits for its first device list.
  void RegisterAndList(FakePlugin& plugin) {
    ASSERT_TRUE(Register(plugin.name()).ok());
    ASSERT_TRUE(
        WaitFor([](const State& s) { return s.stream_open && s.list_updates > 0; }));
  }

  std::vector<std::string> events() {
    std::lock_guard lock(events_mu_);
    return events_;
  }

  std::string dir_;
  std::unique_ptr<KubeletSim> sim_;
  std::vector<std::unique_ptr<FakePlugin>> plugins_;
  std::mutex events_mu_;
  std::vector<std::string> events_;
};

TEST(ValidationTest, ResourceNames) {
  for (const char* good : {"hailo.ai/npu", "example.com/Foo_bar.9", "a/b", "x-1.y/z"}) {
    EXPECT_TRUE(ValidateResourceName(good).ok()) << good;
  }
  for (const char* bad :
       {"npu", "kubernetes.io/npu", "foo.kubernetes.io/npu", "hailo.ai/", "/npu",
        "Hailo.ai/npu", "hailo.ai/npu/x", "hailo.ai/-npu", "requests.hailo.ai/npu",
        "hailo..ai/npu", "hailo.ai/npu!"}) {
    EXPECT_EQ(ValidateResourceName(bad).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_FALSE(ValidateResourceName("hailo.ai/" + std::string(64, 'n')).ok());
  EXPECT_TRUE(ValidateResourceName("hailo.ai/" + std::string(63, 'n')).ok());
}

TEST_F(KubeletSimTest, RegisterDialsBackBeforeReturningThenOpensOneStream) {
  FakePlugin& plugin = NewPlugin("hailo.sock", /*preferred=*/true);
  ASSERT_TRUE(Register("hailo.sock").ok());
  // GetDevicePluginOptions was answered before Register returned.
  EXPECT_EQ(plugin.Count("options"), 1);
  ASSERT_TRUE(
      WaitFor([](const State& s) { return s.stream_open && s.list_updates == 1; }));
  EXPECT_THAT(plugin.calls(), ElementsAre("options", "list_and_watch"));
  State state = *sim_->Plugin(kResource);
  EXPECT_EQ(state.resource_name, kResource);
  EXPECT_EQ(state.endpoint, "hailo.sock");
  EXPECT_TRUE(state.options.get_preferred_allocation_available());
  EXPECT_EQ(state.registrations, 1);
  ASSERT_EQ(state.devices.size(), 2u);
  EXPECT_EQ(state.devices[1].topology().nodes(0).id(), 1);
  EXPECT_EQ(sim_->Capacity(kResource), 2);
  EXPECT_EQ(sim_->Allocatable(kResource), 2);
  EXPECT_THAT(sim_->Resources(), ElementsAre(kResource));
}

TEST_F(KubeletSimTest, RejectsBadRequestsWithoutDialing) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  EXPECT_EQ(Register("hailo.sock", kResource, "v1alpha").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("hailo.sock", "npu").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("hailo.sock", "kubernetes.io/npu").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register(plugin.path()).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Register("sub/hailo.sock").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(plugin.Count("options"), 0);
  EXPECT_THAT(sim_->Resources(), IsEmpty());
  EXPECT_EQ(events().size(), 5u);
  EXPECT_EQ(events()[0], "register_rejected hailo.ai/npu");
}

TEST_F(KubeletSimTest, RejectsUnreachableEndpoint) {
  KubeletSim::Options options;
  options.dial_timeout = std::chrono::milliseconds(300);
  StartSim(options);
  grpc::Status status = Register("missing.sock");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.error_message(), HasSubstr("missing.sock"));
  EXPECT_FALSE(sim_->Plugin(kResource).has_value());
  EXPECT_THAT(events(), ElementsAre("register_rejected hailo.ai/npu"));
}

TEST_F(KubeletSimTest, EachListReplacesTheDevices) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  RegisterAndList(plugin);
  plugin.SetDevices(
      {MakeDevice("dev-c", kUnhealthy), MakeDevice("dev-d"), MakeDevice("dev-e")});
  ASSERT_TRUE(WaitFor([](const State& s) { return s.list_updates == 2; }));
  State state = *sim_->Plugin(kResource);
  ASSERT_EQ(state.devices.size(), 3u);
  EXPECT_EQ(state.devices[0].id(), "dev-c");
  EXPECT_EQ(sim_->Capacity(kResource), 3);
  EXPECT_EQ(sim_->Allocatable(kResource), 2);
}

TEST_F(KubeletSimTest, StreamEndMarksDevicesUnhealthyUntilANewRegister) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  RegisterAndList(plugin);
  plugin.EndStreams();
  ASSERT_TRUE(WaitFor([](const State& s) {
    return !s.stream_open && s.devices.size() == 2 &&
           s.devices[0].health() == kUnhealthy && s.devices[1].health() == kUnhealthy;
  }));
  EXPECT_EQ(sim_->Capacity(kResource), 2);
  EXPECT_EQ(sim_->Allocatable(kResource), 0);
  EXPECT_EQ(sim_->AdmitPod(kResource, 1).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Only a new Register recovers.
  RegisterAndList(plugin);
  EXPECT_EQ(sim_->Plugin(kResource)->registrations, 2);
  EXPECT_EQ(sim_->Allocatable(kResource), 2);
  EXPECT_EQ(plugin.Count("list_and_watch"), 2);
}

TEST_F(KubeletSimTest, PluginServerGoneEndsTheStream) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  RegisterAndList(plugin);
  plugin.Stop();
  ASSERT_TRUE(WaitFor([](const State& s) { return !s.stream_open; }));
  EXPECT_EQ(sim_->Allocatable(kResource), 0);
  EXPECT_THAT(events().back(), "stream_ended hailo.ai/npu");
}

TEST_F(KubeletSimTest, NewRegistrationCancelsTheOldStream) {
  FakePlugin& first = NewPlugin("first.sock");
  RegisterAndList(first);
  FakePlugin& second = NewPlugin("second.sock");
  second.SetDevices({MakeDevice("dev-z")});
  ASSERT_TRUE(Register("second.sock").ok());
  ASSERT_TRUE(WaitFor([](const State& s) {
    return s.registrations == 2 && s.list_updates == 1 && s.devices.size() == 1;
  }));
  EXPECT_EQ(sim_->Plugin(kResource)->endpoint, "second.sock");
  // The cancellation reached the first plugin's handler.
  for (int i = 0; i < 250 && first.Count("stream_cancelled") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(first.Count("stream_cancelled"), 1);
}

TEST_F(KubeletSimTest, RestartDeletesSocketsButTheCheckpoint) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  RegisterAndList(plugin);
  const std::filesystem::path dir(dir_);
  std::ofstream(dir / kCheckpointFile) << "{}";
  std::ofstream(dir / "notes.txt") << "kept";
  std::filesystem::create_directory(dir / "subdir");
  ASSERT_TRUE(sim_->Restart().ok());
  EXPECT_FALSE(std::filesystem::exists(plugin.path()));
  EXPECT_TRUE(std::filesystem::exists(dir / kCheckpointFile));
  EXPECT_TRUE(std::filesystem::exists(dir / "notes.txt"));
  EXPECT_TRUE(std::filesystem::is_directory(dir / "subdir"));
  EXPECT_TRUE(std::filesystem::is_socket(sim_->socket_path()));
  // The old stream ended with the old kubelet.
  State state = *sim_->Plugin(kResource);
  EXPECT_FALSE(state.stream_open);
  EXPECT_EQ(sim_->Allocatable(kResource), 0);
  // A plugin that re-serves and re-registers recovers; the count goes on.
  plugins_.clear();
  FakePlugin& again = NewPlugin("hailo.sock");
  RegisterAndList(again);
  EXPECT_EQ(sim_->Plugin(kResource)->registrations, 2);
  EXPECT_EQ(sim_->Allocatable(kResource), 2);
}

TEST_F(KubeletSimTest, StopIsPromptAndIdempotent) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  RegisterAndList(plugin);
  const auto start = std::chrono::steady_clock::now();
  sim_->Stop();
  sim_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_FALSE(sim_->Plugin(kResource)->stream_open);
  EXPECT_FALSE(Register("hailo.sock").ok());
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("dev-a");
  EXPECT_EQ(sim_->Allocate(kResource, request).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(KubeletSimTest, AdmitPodUsesThePreferredAllocation) {
  FakePlugin& plugin = NewPlugin("hailo.sock", /*preferred=*/true);
  plugin.SetDevices({MakeDevice("dev-a"), MakeDevice("dev-b", kUnhealthy),
                     MakeDevice("dev-c"), MakeDevice("dev-d")});
  RegisterAndList(plugin);
  std::vector<std::string> chosen;
  auto response = sim_->AdmitPod(kResource, 1, &chosen);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(chosen, ElementsAre("dev-d"));  // the plugin's answer
  ASSERT_EQ(response->cdi_devices_size(), 1);
  EXPECT_EQ(response->cdi_devices(0).name(), "hailo.ai/npu=dev-d");
  auto preferred = plugin.preferred_requests();
  ASSERT_EQ(preferred.size(), 1u);
  ASSERT_EQ(preferred[0].container_requests_size(), 1);
  const auto& request = preferred[0].container_requests(0);
  EXPECT_THAT(request.available_deviceids(), ElementsAre("dev-a", "dev-c", "dev-d"));
  EXPECT_THAT(request.must_include_deviceids(), IsEmpty());
  EXPECT_EQ(request.allocation_size(), 1);
  auto allocates = plugin.allocate_requests();
  ASSERT_EQ(allocates.size(), 1u);
  ASSERT_EQ(allocates[0].container_requests_size(), 1);
  EXPECT_THAT(allocates[0].container_requests(0).devices_ids(), ElementsAre("dev-d"));
  // A second pod gets other devices; the pool then runs dry until a release.
  ASSERT_TRUE(sim_->AdmitPod(kResource, 2, &chosen).ok());
  EXPECT_THAT(chosen, ElementsAre("dev-a", "dev-c"));
  EXPECT_EQ(sim_->AdmitPod(kResource, 1).status().code(),
            absl::StatusCode::kResourceExhausted);
  sim_->Release({"dev-c"});
  ASSERT_TRUE(sim_->AdmitPod(kResource, 1, &chosen).ok());
  EXPECT_THAT(chosen, ElementsAre("dev-c"));
}

TEST_F(KubeletSimTest, AdmitPodRejectsABadPreferredAnswer) {
  FakePlugin& plugin = NewPlugin("hailo.sock", /*preferred=*/true);
  RegisterAndList(plugin);
  const std::vector<std::vector<std::string>> bad_answers = {
      {}, {"dev-a", "dev-b"}, {"dev-x"}};
  for (const auto& answer : bad_answers) {
    plugin.SetPreferredAnswer(answer);
    EXPECT_EQ(sim_->AdmitPod(kResource, 1).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  plugin.SetPreferredAnswer({"dev-a", "dev-a"});
  EXPECT_EQ(sim_->AdmitPod(kResource, 2).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(plugin.Count("allocate"), 0);
  EXPECT_THAT(sim_->Allocated(kResource), IsEmpty());
}

TEST_F(KubeletSimTest, AdmitPodWithoutPreferenceTakesHealthyDevicesInOrder) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  plugin.SetDevices(
      {MakeDevice("dev-a", kUnhealthy), MakeDevice("dev-b"), MakeDevice("dev-c")});
  RegisterAndList(plugin);
  std::vector<std::string> chosen;
  ASSERT_TRUE(sim_->AdmitPod(kResource, 2, &chosen).ok());
  EXPECT_THAT(chosen, ElementsAre("dev-b", "dev-c"));
  EXPECT_EQ(plugin.Count("preferred"), 0);
  EXPECT_EQ(sim_->AdmitPod("hailo.ai/other", 1).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(KubeletSimTest, AllocateErrorFailsAdmissionAndFreesTheDevices) {
  FakePlugin& plugin = NewPlugin("hailo.sock");
  RegisterAndList(plugin);
  plugin.FailAllocate(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "dev-a unhealthy"));
  auto response = sim_->AdmitPod(kResource, 1);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(response.status().message(), HasSubstr("dev-a unhealthy"));
  EXPECT_THAT(sim_->Allocated(kResource), IsEmpty());
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("dev-a");
  EXPECT_EQ(sim_->Allocate(kResource, request).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(KubeletSimTest, ScriptRunsTheDemoCommands) {
  FakePlugin& plugin = NewPlugin("hailo.sock", /*preferred=*/true);
  ASSERT_TRUE(Register("hailo.sock").ok());
  std::ostringstream text;
  Printer out(text);
  ScriptRunner runner(*sim_, out);
  std::istringstream script(
      "# a comment\n\n"
      "echo hello there\n"
      "wait-registered hailo.ai/npu 5000\n"
      "wait-count hailo.ai/npu 2\n"
      "wait-health hailo.ai/npu * Healthy\n"
      "devices hailo.ai/npu\n"
      "admit hailo.ai/npu 1\n"
      "allocate hailo.ai/npu dev-a,dev-b\n"
      "admit hailo.ai/npu 5 RESOURCE_EXHAUSTED\n"
      "restart\n");
  ScriptResult result = RunScript(runner, script);
  EXPECT_TRUE(result.ok) << text.str();
  EXPECT_FALSE(result.quit);
  const std::string output = text.str();
  EXPECT_THAT(output, HasSubstr("] hello there\n"));
  EXPECT_THAT(output, HasSubstr("capacity=2 allocatable=2"));
  EXPECT_THAT(output, HasSubstr("dev-b  Healthy  numa=1"));
  EXPECT_THAT(output, HasSubstr("admitted, devices dev-b"));
  EXPECT_THAT(output, HasSubstr("cdi_device hailo.ai/npu=dev-a"));
  EXPECT_THAT(output, HasSubstr("env HAILO_DEVICE_IDS=x"));
  EXPECT_THAT(output, HasSubstr("kubelet restarted"));
  // After the restart the plugin is gone for good: these fail.
  std::istringstream failing(
      "wait-reregistered hailo.ai/npu 100\n"
      "wait-health hailo.ai/npu dev-a Healthy 50\n"
      "bogus-command\n");
  EXPECT_FALSE(RunScript(runner, failing).ok);
  EXPECT_THAT(text.str(), HasSubstr("FAILED: unknown command 'bogus-command'"));
  EXPECT_EQ(plugin.Count("allocate"), 2);
  std::istringstream quitting("quit\necho never\n");
  ScriptRunner other(*sim_, out);
  EXPECT_TRUE(RunScript(other, quitting).quit);
  EXPECT_THAT(text.str(), ::testing::Not(HasSubstr("never")));
}

#ifdef HDP_KUBELET_SIM
TEST_F(KubeletSimTest, ProgramExitStatusReflectsFailures) {
  sim_.reset();
  const std::filesystem::path dir(dir_);
  std::ofstream(dir / "good.txt") << "echo ok\nquit\n";
  std::ofstream(dir / "bad.txt") << "wait-registered hailo.ai/npu 50\necho after\n";
  auto run = [&](const std::string& script) {
    std::string cmd = std::string(HDP_KUBELET_SIM) + " --dir " + dir_ + "/kd --script " +
                      (dir / script).string() + " > " + (dir / "out.txt").string();
    int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(run("good.txt"), 0);
  EXPECT_EQ(run("bad.txt"), 1);
  std::ifstream in(dir / "out.txt");
  std::string output((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(output, HasSubstr("FAILED: registered hailo.ai/npu: timed out"));
  EXPECT_THAT(output, HasSubstr("] after\n"));
}
#endif

}  // namespace
}  // namespace kubelet_sim
