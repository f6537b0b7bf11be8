// Fault injection, host side (issue 6): a storm of hot-plug events, a CDI
// directory that is read-only, full or deleted while the daemon runs, and
// sysfs files vanishing or turning to garbage in the middle of scans.
//
// The CDI faults mount a tmpfs over the test's CDI directory in a private
// mount namespace: the test thread calls unshare(CLONE_NEWNS), and the
// daemon's threads, started from it afterwards, inherit that namespace (the
// host's mounts are never touched). Skipped when mounting is not permitted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "api.grpc.pb.h"
#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/device_monitor.h"
#include "testing/fault_fixture.h"

namespace hailo_dp {
namespace {

using testing::AllHealthy;
using testing::Clock;
using testing::FakeDevice;
using testing::FakeHostTree;
using testing::FaultTest;
using testing::Hailo10HAt;
using testing::Hailo8At;
using ::testing::HasSubstr;
using testing::HealthOf;
using testing::IdsOf;
using ::testing::IsEmpty;
using testing::kA;
using testing::kB;
using testing::kC;
using testing::kD;
using testing::kFaultWait;
using testing::kIdA;
using testing::kIdB;
using testing::kIdC;
using testing::kNpu;
using testing::Layout;
using testing::MillisSince;
using testing::ReadWholeFile;
using testing::ReportFigure;
using testing::SortedIds;

class FaultIoTest : public FaultTest {
 protected:
  void TearDown() override {
    FaultTest::TearDown();
    if (mounted_) umount2(dirs_.cdi_dir.c_str(), MNT_DETACH);
  }

  // The spec CdiWriter makes for what a fresh scan of the tree finds, i.e.
  // what the daemon's spec must converge to.
  std::string ExpectedSpec() {
    const std::string dir = tree_.root() + "/expected-cdi";
    CdiWriter writer(dir, tree_.sys_root(), MakeConfig().Resources().at(0));
    absl::Status status = writer.Update(FreshScan().devices);
    EXPECT_TRUE(status.ok()) << std::string(status.message());
    return ReadWholeFile(writer.path());
  }

  std::vector<std::string> FreshIds() { return IdsOf(FreshDevices()); }
  std::vector<v1beta1::Device> FreshDevices() {
    std::vector<v1beta1::Device> out;
    for (const Device& d : FreshScan().devices) {
      v1beta1::Device device;
      device.set_id(d.id);
      device.set_health(d.healthy ? "Healthy" : "Unhealthy");
      out.push_back(device);
    }
    return out;
  }

  // Waits until the kubelet's list equals a fresh scan's (IDs and health).
  bool WaitMatchesTree(std::chrono::milliseconds timeout = kFaultWait) {
    auto key = [](const std::vector<v1beta1::Device>& devices) {
      std::vector<std::string> out;
      for (const auto& d : devices) out.push_back(d.id() + ":" + d.health());
      return SortedIds(out);
    };
    const auto want = key(FreshDevices());
    bool ok = sim_.WaitFor(
        kNpu, [&](const State& s) { return s.stream_open && key(s.devices) == want; },
        timeout);
    if (!ok) ADD_FAILURE() << "kubelet holds " << StateText();
    return ok;
  }

  // A private mount namespace for this thread and a tmpfs on the CDI
  // directory. Returns false (with the reason) when not permitted.
  bool MountCdiTmpfs(const std::string& options, std::string* why) {
    if (unshare(CLONE_NEWNS) != 0) {
      *why = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
      return false;
    }
    if (mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      *why = std::string("make / private: ") + std::strerror(errno);
      return false;
    }
    std::filesystem::create_directories(dirs_.cdi_dir);
    if (mount("tmpfs", dirs_.cdi_dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      *why = "mount tmpfs on " + dirs_.cdi_dir + ": " + std::strerror(errno);
      return false;
    }
    mounted_ = true;
    return true;
  }
  bool Remount(bool read_only) {
    unsigned long flags = MS_REMOUNT | (read_only ? MS_RDONLY : 0);
    return mount("tmpfs", dirs_.cdi_dir.c_str(), "tmpfs", flags, nullptr) == 0;
  }

  double Failures() { return Metric("hailo_device_plugin_cdi_write_failures_total"); }

  // Entries of the CDI directory other than the spec (temp files left over).
  std::vector<std::string> Leftovers() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dirs_.cdi_dir, ec)) {
      std::string name = e.path().filename();
      if (name != "hailo.ai-npu.json" && name != "filler") out.push_back(name);
    }
    return out;
  }

  // While the spec cannot be written: the error names the spec's path, the
  // last good spec stays byte for byte, the failure counter rises, and the
  // daemon keeps serving (Allocate of a listed device answers).
  void ExpectFailureHandled(const std::string& good_spec, double failures_before) {
    ASSERT_TRUE(
        testing::Eventually([&] { return Failures() > failures_before; }, kFaultWait))
        << daemon_->MetricsText();
    EXPECT_THAT(logs_.Lines(spdlog::level::err, SpecPath()), ::testing::Not(IsEmpty()))
        << "no error naming " << SpecPath() << " in:\n"
        << logs_.Text();
    EXPECT_EQ(ReadWholeFile(SpecPath()), good_spec);
    EXPECT_THAT(Leftovers(), IsEmpty());
    EXPECT_TRUE(daemon_->Healthy().ok()) << std::string(daemon_->Healthy().message());
    v1beta1::AllocateRequest request;
    request.add_container_requests()->add_devices_ids(kIdA);
    auto response = sim_.Allocate(kNpu, request);
    EXPECT_TRUE(response.ok()) << std::string(response.status().message());
  }

  // Once writable again: the spec is rewritten with the current devices.
  void ExpectRecovered() {
    const std::string want = ExpectedSpec();
    EXPECT_TRUE(testing::Eventually([&] { return ReadWholeFile(SpecPath()) == want; },
                                    kFaultWait))
        << "spec on disk:\n"
        << ReadWholeFile(SpecPath()) << "\nexpected:\n"
        << want;
    EXPECT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA, kIdB, kIdC}));
    EXPECT_TRUE(WaitListed({kIdA, kIdB, kIdC}));
    EXPECT_THAT(Leftovers(), IsEmpty());
  }

  testing::LogCapture logs_;
  bool mounted_ = false;
};

// --- Hot-plug storm ---------------------------------------------------------------

// 1,000 hot-plug events over four devices, as fast as the tree can be
// changed. The rescan interval is short (200 ms) because an unplug removes
// the node before the PCI function, as the kernel does: the /dev event may
// be scanned before sysfs settles, and only the rescan sees the rest, as in
// production.
TEST_F(FaultIoTest, ThousandHotPlugEventsEndWithTheListAndSpecOfTheFinalTree) {
  constexpr int kEvents = 1000;
  const std::vector<FakeDevice> devices = {Hailo8At(kA, 0), Hailo8At(kB, 1),
                                           Hailo10HAt(kC, 0), Hailo8At(kD, 2)};
  enum class Shape { kPresent, kNodeGone, kUnplugged };
  std::vector<Shape> shape(devices.size(), Shape::kPresent);
  for (const auto& d : devices) tree_.AddDevice(d);
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WaitListed(FreshIds()));

  std::mt19937 random(6);
  const auto start = Clock::now();
  for (int i = 0; i < kEvents; ++i) {
    const size_t k = random() % devices.size();
    const FakeDevice& d = devices[k];
    switch (shape[k]) {
      case Shape::kPresent:
        if (random() % 2) {
          tree_.RemoveNode(d.pci_address);
          shape[k] = Shape::kNodeGone;
        } else {
          tree_.RemovePciFunction(d.pci_address);
          shape[k] = Shape::kUnplugged;
        }
        break;
      case Shape::kNodeGone:
        tree_.ReplaceNode(d.pci_address, d.layout == Layout::kHailo1x53 ? 509 : 510,
                          d.minor);
        shape[k] = Shape::kPresent;
        break;
      case Shape::kUnplugged:
        tree_.AddDevice(d);
        shape[k] = Shape::kPresent;
        break;
    }
  }
  ReportFigure("hotplug_storm_1000_events", MillisSince(start));
  const auto settled = Clock::now();
  ASSERT_TRUE(WaitMatchesTree());
  ReportFigure("hotplug_storm_end_to_list_matches_tree", MillisSince(settled));
  const std::string want = ExpectedSpec();
  EXPECT_TRUE(testing::Eventually([&] { return ReadWholeFile(SpecPath()) == want; }))
      << "spec on disk:\n"
      << ReadWholeFile(SpecPath()) << "\nexpected:\n"
      << want;
  EXPECT_TRUE(daemon_->Healthy().ok());
  EXPECT_EQ(sim_.Plugin(kNpu)->registrations, 1);
}

// --- The CDI directory --------------------------------------------------------------

TEST_F(FaultIoTest, ReadOnlyCdiDirectoryKeepsTheLastSpecAndRecovers) {
  std::string why;
  if (!MountCdiTmpfs("size=1m,mode=0755", &why)) GTEST_SKIP() << why;
  tree_.AddDevice(Hailo8At(kA, 0));
  tree_.AddDevice(Hailo8At(kB, 1));
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WaitListed({kIdA, kIdB}));
  const std::string good = ReadWholeFile(SpecPath());
  ASSERT_TRUE(testing::CdiSpecNamesAll(SpecPath(), {kIdA, kIdB}));
  const double failures = Failures();
  ASSERT_EQ(failures, 0);

  ASSERT_TRUE(Remount(/*read_only=*/true)) << std::strerror(errno);
  tree_.AddDevice(Hailo10HAt(kC, 0));  // a change the spec must follow
  ExpectFailureHandled(good, failures);

  ASSERT_TRUE(Remount(/*read_only=*/false)) << std::strerror(errno);
  ExpectRecovered();
  EXPECT_THAT(logs_.Text(), HasSubstr("writable again"));
}

TEST_F(FaultIoTest, FullCdiDirectoryKeepsTheLastSpecAndRecovers) {
  std::string why;
  if (!MountCdiTmpfs("size=64k,mode=0755", &why)) GTEST_SKIP() << why;
  tree_.AddDevice(Hailo8At(kA, 0));
  tree_.AddDevice(Hailo8At(kB, 1));
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WaitListed({kIdA, kIdB}));
  const std::string good = ReadWholeFile(SpecPath());
  const double failures = Failures();

  // Fill the file system to the last block.
  {
    std::ofstream filler(dirs_.cdi_dir + "/filler", std::ios::binary);
    const std::string block(4096, 'f');
    for (int i = 0; i < 64 && filler.write(block.data(), block.size()); ++i) {
      filler.flush();
    }
  }
  tree_.AddDevice(Hailo10HAt(kC, 0));
  ExpectFailureHandled(good, failures);

  ASSERT_EQ(unlink((dirs_.cdi_dir + "/filler").c_str()), 0) << std::strerror(errno);
  ExpectRecovered();
}

TEST_F(FaultIoTest, DeletedCdiDirectoryIsRecreatedWithTheCurrentSpec) {
  tree_.AddDevice(Hailo8At(kA, 0));
  tree_.AddDevice(Hailo8At(kB, 1));
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WaitListed({kIdA, kIdB}));

  std::filesystem::remove_all(dirs_.cdi_dir);
  tree_.AddDevice(Hailo10HAt(kC, 0));
  ExpectRecovered();
  EXPECT_TRUE(daemon_->Healthy().ok());
}

// The directory replaced by a file: it cannot be re-created, so writes fail
// until the file goes away.
TEST_F(FaultIoTest, CdiDirectoryReplacedByAFileFailsClearlyAndRecovers) {
  tree_.AddDevice(Hailo8At(kA, 0));
  tree_.AddDevice(Hailo8At(kB, 1));
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WaitListed({kIdA, kIdB}));
  const double failures = Failures();

  std::filesystem::remove_all(dirs_.cdi_dir);
  { std::ofstream(dirs_.cdi_dir) << "not a directory"; }
  tree_.AddDevice(Hailo10HAt(kC, 0));
  ASSERT_TRUE(testing::Eventually([&] { return Failures() > failures; }, kFaultWait));
  EXPECT_THAT(logs_.Lines(spdlog::level::err, SpecPath()), ::testing::Not(IsEmpty()))
      << logs_.Text();
  EXPECT_TRUE(daemon_->Healthy().ok());
  // No spec is left on disk, so no device can be resolved by the runtime:
  // each is Unhealthy, and Allocate says why, naming the spec.
  EXPECT_TRUE(sim_.WaitFor(
      kNpu,
      [](const State& s) {
        return s.stream_open && s.devices.size() == 3 && !testing::AllHealthy(s.devices);
      },
      kFaultWait))
      << StateText();
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids(kIdA);
  auto refused = sim_.Allocate(kNpu, request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(SpecPath()));

  ASSERT_EQ(unlink(dirs_.cdi_dir.c_str()), 0);
  ExpectRecovered();
}

// DESIGN.md §1: the spec is written before publishing "so Allocate never names
// a device the spec lacks". While the spec cannot be written, a new device
// must therefore not reach the kubelet as Healthy (or Allocate must refuse
// it); otherwise a pod is admitted with a CDI name no spec defines and its
// container fails to start.
TEST_F(FaultIoTest, WhileTheSpecCannotBeWrittenNoDeviceOutsideItIsAllocatable) {
  std::string why;
  if (!MountCdiTmpfs("size=1m,mode=0755", &why)) GTEST_SKIP() << why;
  tree_.AddDevice(Hailo8At(kA, 0));
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WaitListed({kIdA}));
  const double failures = Failures();
  ASSERT_TRUE(Remount(/*read_only=*/true)) << std::strerror(errno);
  tree_.AddDevice(Hailo8At(kB, 1));
  ASSERT_TRUE(testing::Eventually([&] { return Failures() > failures; }, kFaultWait));
  // Give the publish that follows the failed write time to reach the kubelet.
  sim_.WaitFor(
      kNpu, [](const State& s) { return HealthOf(s.devices, kIdB) != ""; },
      std::chrono::seconds(2));
  EXPECT_FALSE(testing::CdiSpecNamesAll(SpecPath(), {kIdB}));
  EXPECT_NE(HealthOf(sim_.Plugin(kNpu)->devices, kIdB), "Healthy")
      << "the kubelet may allocate " << kIdB << ", which the CDI spec on disk lacks";
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids(kIdB);
  auto response = sim_.Allocate(kNpu, request);
  EXPECT_FALSE(response.ok()) << "Allocate answered hailo.ai/npu=" << kIdB
                              << ", a CDI name the spec on disk does not define";
  ASSERT_TRUE(Remount(/*read_only=*/false));
  EXPECT_TRUE(WaitListed({kIdA, kIdB}));
}

// --- sysfs changing under the scanner -----------------------------------------------

TEST_F(FaultIoTest, SysfsMutatedDuringTenMillisecondRescansConvergesAfterwards) {
  const std::vector<FakeDevice> devices = {Hailo8At(kA, 0), Hailo8At(kB, 1),
                                           Hailo10HAt(kC, 0)};
  for (const auto& d : devices) tree_.AddDevice(d);
  StartSim();
  StartDaemon(MakeConfig(std::chrono::milliseconds(10)));
  ASSERT_TRUE(WaitListed({kIdA, kIdB, kIdC}));
  const uint64_t scans_before = daemon_->monitor().scans_completed();

  const std::vector<std::string> garbage = {"",
                                            "garbage",
                                            std::string("\xff\xfe\0\x01", 4),
                                            std::string(8192, 'A'),
                                            "-1",
                                            "99999999999999999999999"};
  std::mt19937 random(42);
  const auto until = Clock::now() + std::chrono::seconds(2);
  int mutations = 0;
  // The tree is used by this thread alone until it is joined.
  std::thread mutator([&] {
    while (Clock::now() < until) {
      const FakeDevice& d = devices[random() % devices.size()];
      const std::string& junk = garbage[random() % garbage.size()];
      switch (random() % 8) {
        case 0:
          tree_.RemovePciFunction(d.pci_address);
          tree_.AddDevice(d);
          break;
        case 1:
          tree_.RemoveClassEntry(d.pci_address);
          break;
        case 2:
          tree_.WritePciAttribute(d.pci_address, "vendor", junk);
          break;
        case 3:
          tree_.WritePciAttribute(d.pci_address, "numa_node", junk);
          break;
        case 4:
          tree_.WriteClassAttribute(d.pci_address, "dev", junk);
          break;
        case 5:
          tree_.WriteClassAttribute(d.pci_address, "board_location", junk);
          break;
        case 6:
          tree_.WritePciAttribute(d.pci_address, "aer_dev_fatal", junk);
          break;
        case 7:
          tree_.RemovePciAttribute(d.pci_address, "device");
          break;
      }
      ++mutations;
    }
  });
  mutator.join();
  const uint64_t scans_during = daemon_->monitor().scans_completed() - scans_before;
  std::cout << "[  FIGURE  ] sysfs mutations = " << mutations
            << ", scans during them = " << scans_during << std::endl;
  EXPECT_GT(scans_during, 10u);

  // Restore: every device re-created as it was.
  for (const auto& d : devices) {
    tree_.RemovePciFunction(d.pci_address);
    tree_.AddDevice(d);
  }
  const auto restored = Clock::now();
  EXPECT_TRUE(WaitListed({kIdA, kIdB, kIdC}));
  ReportFigure("sysfs_restored_to_healthy_list", MillisSince(restored));
  EXPECT_THAT(FreshScan().warnings, IsEmpty());
  EXPECT_TRUE(daemon_->Healthy().ok());
}

// Garbage in each attribute the scanner parses: the device is skipped or
// Unhealthy, or stays listed with a warning naming the file; never a crash.
TEST(FaultGarbageTest, GarbageInEveryParsedAttributeIsSkippedUnhealthyOrWarned) {
  struct Attr {
    Layout layout;
    bool pci;  // PCI attribute, else class attribute
    std::string name;
  };
  const std::vector<Attr> attrs = {{Layout::kHailoPci423, true, "vendor"},
                                   {Layout::kHailoPci423, true, "device"},
                                   {Layout::kHailoPci423, true, "numa_node"},
                                   {Layout::kHailoPci423, true, "enable"},
                                   {Layout::kHailoPci423, true, "aer_dev_fatal"},
                                   {Layout::kHailoPci423, false, "dev"},
                                   {Layout::kHailoPci422, false, "board_location"},
                                   {Layout::kHailo1x53, false, "dev"}};
  // Not in the table: device_id of a 5.3 class device (the scanner takes the
  // address from its `device` link, so the file is not read), and the
  // unparsed current_link_speed and config (only "Unknown" and ff ff matter).
  const std::vector<std::string> garbage = {"garbage",
                                            std::string("\xff\xfe\0\x01", 4),
                                            std::string(65536, 'A'),
                                            "0x",
                                            "-5",
                                            "99999999999999999999999",
                                            "1:2:3",
                                            " \n\t "};
  int cases = 0;
  for (const Attr& attr : attrs) {
    for (const std::string& junk : garbage) {
      // Any integer but 0 means enabled: "-5" is odd, not garbage.
      if (attr.name == "enable" && junk == "-5") continue;
      FakeHostTree tree;
      if (!tree.can_make_nodes()) GTEST_SKIP() << "mknod not permitted (not root)";
      FakeDevice device{.pci_address = kA,
                        .family = attr.layout == Layout::kHailo1x53 ? Family::kHailo10H
                                                                    : Family::kHailo8,
                        .layout = attr.layout,
                        .minor = 0,
                        .numa_node = 0};
      tree.AddDevice(device);
      DeviceSource source(tree.roots());
      ASSERT_EQ(source.Scan().devices.size(), 1u);
      if (attr.pci) {
        tree.WritePciAttribute(kA, attr.name, junk);
      } else {
        tree.WriteClassAttribute(kA, attr.name, junk);
      }
      ScanResult result = source.Scan();
      const std::string what = attr.name + "='" + junk.substr(0, 20) + "'";
      bool warned = false;
      for (const auto& w : result.warnings)
        warned |= w.find(attr.name) != std::string::npos;
      const bool listed_healthy = !result.devices.empty() && result.devices[0].healthy;
      EXPECT_TRUE(!listed_healthy || warned) << what << " passed silently";
      EXPECT_FALSE(result.warnings.empty()) << what;
      for (const auto& w : result.warnings) EXPECT_LT(w.size(), 1024u) << what;
      ++cases;
    }
  }
  std::cout << "garbage cases scanned: " << cases << std::endl;
}

}  // namespace
}  // namespace hailo_dp
