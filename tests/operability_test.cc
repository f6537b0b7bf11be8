// Operability: /metrics, /healthz and /readyz over real HTTP, the node-feature
// file, and config reload on SIGHUP, against the fake kubelet.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "hailo_device_plugin/daemon.h"
#include "hailo_device_plugin/device_monitor.h"
#include "hailo_device_plugin/nfd_features.h"
#include "kubelet_sim/kubelet_sim.h"
#include "testing/daemon_fixture.h"
#include "testing/fake_host_tree.h"

namespace hailo_dp {
namespace {

using testing::DaemonDirs;
using testing::FakeDevice;
using testing::FakeHostTree;
using testing::kWait;
using testing::Layout;

constexpr char kNpu[] = "hailo.ai/npu";

// The value of one sample line ("name{labels} value") of /metrics, or -1.
double Sample(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0)
      return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class OperabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tree_.can_make_nodes()) GTEST_SKIP() << "needs root to make device nodes";
    tree_.AddDevice({.pci_address = "0000:01:00.0",
                     .family = Family::kHailo8,
                     .layout = Layout::kHailoPci423,
                     .minor = 0,
                     .numa_node = 0});
    tree_.AddDevice({.pci_address = "0001:01:00.0",
                     .family = Family::kHailo10H,
                     .layout = Layout::kHailo1x53,
                     .minor = 0,
                     .numa_node = 1});
    std::filesystem::create_directories(dirs_.kubelet_dir);
  }

  Config MakeConfig() {
    Config config = testing::TestConfig(tree_, dirs_);
    config.http_address = "127.0.0.1:0";
    config.nfd_features_file = tree_.root() + "/features.d/hailo";
    return config;
  }

  httplib::Result Get(const Daemon& daemon, const std::string& path) {
    httplib::Client client("127.0.0.1", daemon.http_port());
    client.set_read_timeout(5, 0);
    return client.Get(path.c_str());
  }

  bool WaitListed(kubelet_sim::KubeletSim& sim, size_t n) {
    return sim.WaitFor(
        kNpu, [n](const auto& p) { return p.stream_open && p.devices.size() == n; },
        kWait);
  }

  FakeHostTree tree_;
  DaemonDirs dirs_{tree_};
};

TEST_F(OperabilityTest, ProbesFollowRegistrationAndStreams) {
  Daemon daemon(MakeConfig());
  ASSERT_TRUE(daemon.Start().ok());
  ASSERT_GT(daemon.http_port(), 0);

  EXPECT_TRUE(testing::Eventually([&] {
    auto r = Get(daemon, "/healthz");
    return r && r->status == 200;
  }));
  auto readyz = Get(daemon, "/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 503);
  EXPECT_NE(readyz->body.find("not registered"), std::string::npos) << readyz->body;

  kubelet_sim::KubeletSim sim(dirs_.kubelet_dir);
  ASSERT_TRUE(sim.Start().ok());
  ASSERT_TRUE(WaitListed(sim, 2));
  EXPECT_TRUE(testing::Eventually([&] {
    auto r = Get(daemon, "/readyz");
    return r && r->status == 200;
  }));

  // The kubelet goes away: its stream ends, so the plugin is no longer ready.
  sim.Stop();
  EXPECT_TRUE(testing::Eventually(
      [&] {
        auto r = Get(daemon, "/readyz");
        return r && r->status == 503;
      },
      std::chrono::seconds(8)));
  daemon.Stop();
}

TEST_F(OperabilityTest, HealthzFailsWhenTheMonitorStalls) {
  Config config = MakeConfig();
  config.rescan_interval = std::chrono::milliseconds(100);
  Daemon daemon(config);
  ASSERT_TRUE(daemon.Start().ok());
  EXPECT_TRUE(testing::Eventually([&] {
    auto r = Get(daemon, "/healthz");
    return r && r->status == 200;
  }));

  daemon.monitor().Stop();  // A stuck monitor thread scans no more.
  EXPECT_TRUE(testing::Eventually([&] {
    auto r = Get(daemon, "/healthz");
    return r && r->status == 503 && r->body.find("no device scan") != std::string::npos;
  }));
  daemon.Stop();
}

TEST_F(OperabilityTest, MetricsCountDevicesAllocationsAndRestarts) {
  Daemon daemon(MakeConfig());
  ASSERT_TRUE(daemon.Start().ok());
  kubelet_sim::KubeletSim sim(dirs_.kubelet_dir);
  ASSERT_TRUE(sim.Start().ok());
  ASSERT_TRUE(WaitListed(sim, 2));

  ASSERT_TRUE(sim.AdmitPod(kNpu, 1).ok());
  v1beta1::AllocateRequest bad;
  bad.add_container_requests()->add_devices_ids("0000-09-00.0");
  EXPECT_FALSE(sim.Allocate(kNpu, bad).ok());
  ASSERT_TRUE(sim.Restart().ok());
  ASSERT_TRUE(sim.WaitFor(
      kNpu,
      [](const auto& p) {
        return p.registrations >= 2 && p.stream_open && p.list_updates > 0 &&
               testing::AllHealthy(p.devices);
      },
      kWait));
  // The daemon counts a registration once Register has returned to it.
  EXPECT_TRUE(testing::Eventually([&] {
    return Sample(daemon.MetricsText(), "hailo_device_plugin_kubelet_restarts_total") ==
           1;
  }));

  auto response = Get(daemon, "/metrics");
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  const std::string& m = response->body;
  EXPECT_EQ(Sample(m, R"(hailo_device_plugin_devices{family="hailo8",health="Healthy"})"),
            1);
  EXPECT_EQ(
      Sample(m, R"(hailo_device_plugin_devices{family="hailo10h",health="Healthy"})"), 1);
  EXPECT_EQ(
      Sample(m, R"(hailo_device_plugin_devices{family="hailo8",health="Unhealthy"})"), 0);
  EXPECT_EQ(
      Sample(m, R"(hailo_device_plugin_allocations_total{resource="hailo.ai/npu"})"), 1);
  EXPECT_EQ(
      Sample(
          m,
          R"(hailo_device_plugin_allocate_errors_total{reason="invalid_argument",resource="hailo.ai/npu"})"),
      1);
  EXPECT_EQ(
      Sample(m, R"(hailo_device_plugin_registrations_total{resource="hailo.ai/npu"})"),
      2);
  EXPECT_EQ(Sample(m, "hailo_device_plugin_kubelet_restarts_total"), 1);
  EXPECT_GE(Sample(m, "hailo_device_plugin_scans_total"), 1);
  EXPECT_EQ(Sample(m, "hailo_device_plugin_cdi_writes_total"), 1);
  EXPECT_EQ(Sample(m, "hailo_device_plugin_cdi_write_failures_total"), 0);
  EXPECT_EQ(Sample(m, R"(hailo_device_plugin_build_info{version=")" HDP_VERSION R"("})"),
            1);
  EXPECT_NE(m.find("hailo_device_plugin_scan_duration_seconds_bucket"),
            std::string::npos);

  tree_.RemoveNode("0000:01:00.0");
  ASSERT_TRUE(sim.WaitFor(
      kNpu,
      [](const auto& p) {
        return testing::HealthOf(p.devices, "0000-01-00.0") == "Unhealthy";
      },
      kWait));
  std::string after = daemon.MetricsText();
  EXPECT_EQ(
      Sample(after, R"(hailo_device_plugin_devices{family="hailo8",health="Unhealthy"})"),
      1);
  EXPECT_EQ(
      Sample(after, R"(hailo_device_plugin_devices{family="hailo8",health="Healthy"})"),
      0);
  daemon.Stop();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(NfdFeaturesTest, LabelsForMixedAndEmptyNodes) {
  Device h8;
  h8.id = "0000-01-00.0";
  h8.pci_address = "0000:01:00.0";
  h8.family = Family::kHailo8;
  h8.driver = "hailo_pci";
  h8.driver_version = "4.23.0";
  h8.healthy = true;
  Device h10 = h8;
  h10.id = "0001-01-00.0";
  h10.family = Family::kHailo10H;
  h10.driver = "hailo1x_pci";
  h10.driver_version = "5.3.0";

  EXPECT_EQ(BuildNfdFeatures({h8, h8}),
            "hailo.ai/count=2\n"
            "hailo.ai/driver=hailo_pci\n"
            "hailo.ai/driver-version=4.23.0\n"
            "hailo.ai/driver.hailo_pci=4.23.0\n"
            "hailo.ai/family=hailo8\n"
            "hailo.ai/hailo8.count=2\n"
            "hailo.ai/present=true\n");
  EXPECT_EQ(BuildNfdFeatures({h8, h10}),
            "hailo.ai/count=2\n"
            "hailo.ai/driver.hailo1x_pci=5.3.0\n"
            "hailo.ai/driver.hailo_pci=4.23.0\n"
            "hailo.ai/family=hailo10h_hailo8\n"
            "hailo.ai/hailo10h.count=1\n"
            "hailo.ai/hailo8.count=1\n"
            "hailo.ai/present=true\n");
  EXPECT_EQ(BuildNfdFeatures({}), "hailo.ai/count=0\nhailo.ai/present=false\n");
  h8.driver_version = "4.23.0+custom build";  // Not a valid label value as is.
  EXPECT_NE(BuildNfdFeatures({h8}).find("hailo.ai/driver-version=4.23.0_custom_build\n"),
            std::string::npos);
}

TEST_F(OperabilityTest, FeatureFileFollowsTheDevices) {
  Config config = MakeConfig();
  Daemon daemon(config);
  ASSERT_TRUE(daemon.Start().ok());
  const std::string& path = config.nfd_features_file;
  std::string first = ReadAll(path);
  EXPECT_NE(first.find("hailo.ai/count=2\n"), std::string::npos) << first;
  EXPECT_NE(first.find("hailo.ai/hailo10h.count=1\n"), std::string::npos) << first;
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  tree_.RemovePciFunction("0001:01:00.0");  // Hot-unplug: the node goes too.
  EXPECT_TRUE(testing::Eventually(
      [&] { return ReadAll(path).find("hailo.ai/count=1\n") != std::string::npos; }));
  std::string second = ReadAll(path);
  EXPECT_EQ(second.find("hailo10h"), std::string::npos) << second;
  // Only the feature file in the directory: no temporary file left behind.
  EXPECT_EQ(
      std::distance(std::filesystem::directory_iterator(tree_.root() + "/features.d"),
                    std::filesystem::directory_iterator()),
      1);
  daemon.Stop();
}

TEST_F(OperabilityTest, SighupAppliesANewConfigAndRefusesABrokenOne) {
  const std::string config_path = tree_.root() + "/config.yaml";
  std::ofstream(config_path) << "resourceName: example.com/npu\n";
  kubelet_sim::KubeletSim sim(dirs_.kubelet_dir);
  ASSERT_TRUE(sim.Start().ok());
  auto daemon = testing::ChildProcess::Spawn(
      {HDP_BINARY, "--config", config_path, "--sys-root", tree_.sys_root(), "--dev-root",
       tree_.dev_root(), "--kubelet-dir", dirs_.kubelet_dir, "--cdi-dir", dirs_.cdi_dir,
       "--http-address", ""},
      tree_.root() + "/daemon.log");
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(sim.WaitFor(
      "example.com/npu", [](const auto& p) { return p.stream_open; }, kWait))
      << daemon->Log();

  std::ofstream(config_path) << "resourceName: example.com/accel\n";
  ASSERT_TRUE(daemon->Signal(SIGHUP));
  EXPECT_TRUE(sim.WaitFor(
      "example.com/accel",
      [](const auto& p) { return p.stream_open && p.devices.size() == 2; }, kWait))
      << daemon->Log();

  std::ofstream(config_path) << "resourceName: example.com/accel\nrescanInterval: soon\n";
  ASSERT_TRUE(daemon->Signal(SIGHUP));
  EXPECT_TRUE(testing::Eventually(
      [&] { return daemon->Log().find("new config refused") != std::string::npos; }));
  EXPECT_NE(daemon->Log().find("rescanInterval"), std::string::npos);
  EXPECT_TRUE(daemon->running());
  auto state = sim.Plugin("example.com/accel");
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->stream_open);

  ASSERT_TRUE(daemon->Signal(SIGTERM));
  auto status = daemon->WaitExit(kWait);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon->Log();
}

}  // namespace
}  // namespace hailo_dp
