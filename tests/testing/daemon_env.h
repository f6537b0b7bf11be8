// The in-process set-up the daemon and fault tests share: a FakeHostTree, the
// kubelet's and the CDI directories under it, the kubelet simulator, and the
// daemon, torn down in the reverse order; plus the check that every list the
// kubelet receives is already resolvable through the CDI spec on disk.
//
// Header-only on purpose: hdp_testing globs tests/testing/*.cc, and this
// fixture is for the tests that run a Daemon in process.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "hailo_device_plugin/config.h"
#include "hailo_device_plugin/daemon.h"
#include "kubelet_sim/kubelet_sim.h"
#include "testing/daemon_fixture.h"
#include "testing/fake_host_tree.h"

namespace hailo_dp::testing {

inline std::vector<std::string> SortedIds(std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

inline std::vector<std::string> HealthyIds(const std::vector<v1beta1::Device>& devices) {
  std::vector<std::string> ids;
  for (const auto& d : devices) {
    if (d.health() == "Healthy") ids.push_back(d.id());
  }
  return ids;
}

inline std::string DescribeState(const kubelet_sim::KubeletSim::PluginState& s) {
  std::ostringstream out;
  out << "registrations=" << s.registrations << " stream_open=" << s.stream_open
      << " list_updates=" << s.list_updates << " devices=[";
  for (const auto& d : s.devices) out << " " << d.id() << ":" << d.health();
  out << " ]";
  return out.str();
}

class InProcessDaemonTest : public ::testing::Test {
 protected:
  using State = kubelet_sim::KubeletSim::PluginState;

  void SetUp() override {
    if (!tree_.can_make_nodes()) GTEST_SKIP() << "mknod not permitted (not root)";
  }
  void TearDown() override {
    if (daemon_) daemon_->Stop();
    sim_.SetEventCallback(nullptr);
    std::lock_guard lock(violations_mu_);
    EXPECT_THAT(violations_, ::testing::IsEmpty())
        << "the kubelet saw a device that the CDI spec on disk did not name";
  }

  Config MakeConfig(std::chrono::milliseconds rescan = std::chrono::seconds(60)) const {
    return TestConfig(tree_, dirs_, rescan);
  }
  void StartSim() {
    absl::Status status = sim_.Start();
    ASSERT_TRUE(status.ok()) << std::string(status.message());
  }
  void StartDaemon(const Config& config) {
    daemon_ = std::make_unique<Daemon>(config);
    absl::Status status = daemon_->Start();
    ASSERT_TRUE(status.ok()) << std::string(status.message());
  }

  std::string SpecPath(const std::string& resource = kNpu) const {
    std::string name = resource;
    std::replace(name.begin(), name.end(), '/', '-');
    return dirs_.cdi_dir + "/" + name + ".json";
  }
  std::string SocketPath(const std::string& name = "hailo.sock") const {
    return dirs_.kubelet_dir + "/" + name;
  }

  // On every list the kubelet receives, the CDI spec on disk must already
  // name every ID it may allocate, i.e. every Healthy one (checked on the
  // sim's reader thread, at once; TearDown reports violations). An Unhealthy
  // device without a class entry (e.g. caught half-created) has no node to
  // put in the spec.
  void CheckSpecOnEveryList() {
    sim_.SetEventCallback([this](const kubelet_sim::KubeletSim::Event& event) {
      if (event.kind != kubelet_sim::KubeletSim::Event::Kind::kListUpdate) return;
      auto ids = HealthyIds(event.state.devices);
      if (CdiSpecNamesAll(SpecPath(event.resource), ids)) return;
      std::lock_guard lock(violations_mu_);
      violations_.push_back(event.resource + ": " + DescribeState(event.state));
    });
  }

  // Waits until `resource` is registered (at least `registrations` times),
  // streaming, and its last list holds exactly `ids`, all Healthy.
  bool WaitListedOn(const std::string& resource, std::vector<std::string> ids,
                    int registrations, std::chrono::milliseconds timeout) {
    ids = SortedIds(ids);
    bool ok = sim_.WaitFor(
        resource,
        [&](const State& s) {
          return s.registrations >= registrations && s.stream_open &&
                 s.list_updates >= 1 && SortedIds(IdsOf(s.devices)) == ids &&
                 AllHealthy(s.devices);
        },
        timeout);
    if (!ok) ADD_FAILURE() << resource << ": " << StateText(resource);
    return ok;
  }

  std::string StateText(const std::string& resource = kNpu) const {
    auto state = sim_.Plugin(resource);
    return state ? DescribeState(*state) : "never registered";
  }

  // Declared in destruction order: the daemon goes first, then the sim
  // (whose callback uses violations_), then the tree.
  FakeHostTree tree_;
  DaemonDirs dirs_{tree_};
  std::mutex violations_mu_;
  std::vector<std::string> violations_;
  kubelet_sim::KubeletSim sim_{dirs_.kubelet_dir};
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace hailo_dp::testing
