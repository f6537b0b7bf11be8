#include "hailo_device_plugin/device_source.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_host_tree.h"

namespace hailo_dp {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using testing::FakeDevice;
using testing::FakeHostTree;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Layout;
using ::testing::SizeIs;

constexpr char kAddr[] = "0000:03:00.0";
constexpr char kNoDriver[] =
    "no driver bound: the device failed to probe (firmware or driver missing?)";

#define SKIP_WITHOUT_NODES(tree)                                                 \
  if (!(tree).can_make_nodes())                                                  \
  GTEST_SKIP() << "mknod is not permitted here (not root?): cannot fake device " \
                  "nodes"

class DeviceSourceTest : public ::testing::Test {
 protected:
  // Scans and checks the invariants every result must hold.
  ScanResult Scan() {
    ScanResult result = source_.Scan();
    for (const Device& device : result.devices) {
      EXPECT_EQ(device.healthy, device.reason.empty()) << device.id;
      EXPECT_EQ(device.id, DeviceIdFromPciAddress(device.pci_address));
    }
    EXPECT_TRUE(
        std::is_sorted(result.devices.begin(), result.devices.end(),
                       [](const Device& a, const Device& b) { return a.id < b.id; }));
    return result;
  }
  // Scans a tree holding one device and returns it.
  Device ScanOne() {
    ScanResult result = Scan();
    EXPECT_THAT(result.devices, SizeIs(1));
    return result.devices.empty() ? Device{} : result.devices[0];
  }

  FakeHostTree tree_;
  DeviceSource source_{tree_.roots()};
};

// --- Every driver layout ------------------------------------------------------

TEST_F(DeviceSourceTest, EveryLayoutYieldsAHealthyDevice) {
  const struct {
    FakeDevice fake;
    std::string class_name, node_name, driver, version;
  } cases[] = {
      {{.pci_address = kAddr, .family = Family::kHailo8, .layout = Layout::kHailoPci422},
       "hailo_chardev",
       "hailo0",
       "hailo_pci",
       "4.20.0"},
      {{.pci_address = kAddr,
        .family = Family::kHailo10H,
        .layout = Layout::kHailoPci422,
        .driver_version = "5.0.0"},
       "hailo_chardev",
       "hailo0",
       "hailo_pci",
       "5.0.0"},
      {{.pci_address = kAddr,
        .family = Family::kHailo8,
        .layout = Layout::kHailoPci423,
        .minor = 1,
        .numa_node = 1},
       "hailo_chardev",
       "hailo1",
       "hailo_pci",
       "4.23.0"},
      {{.pci_address = kAddr, .family = Family::kHailo10H, .layout = Layout::kHailo1x52},
       "hailo_chardev",
       "hailo0",
       "hailo1x_pci",
       "5.1.1"},
      {{.pci_address = kAddr, .family = Family::kHailo15L, .layout = Layout::kHailo1x52},
       "hailo_chardev",
       "hailo0",
       "hailo1x_pci",
       "5.1.1"},
      {{.pci_address = kAddr,
        .family = Family::kHailo10H,
        .layout = Layout::kHailo1x53,
        .numa_node = 0},
       "hailo1x",
       "h1x-0",
       "hailo1x_pci",
       "5.3.0"},
      {{.pci_address = kAddr,
        .family = Family::kHailo12L,
        .layout = Layout::kHailo1x53,
        .minor = 2},
       "hailo1x",
       "h1x-2",
       "hailo1x_pci",
       "5.3.0"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.node_name + " " + c.driver + " " + c.version);
    FakeHostTree tree;
    tree.AddDevice(c.fake);
    SKIP_WITHOUT_NODES(tree);
    ScanResult result = DeviceSource(tree.roots()).Scan();
    EXPECT_THAT(result.warnings, IsEmpty());
    ASSERT_THAT(result.devices, SizeIs(1));
    const Device& d = result.devices[0];
    EXPECT_EQ(d.id, "0000-03-00.0");
    EXPECT_EQ(d.pci_address, kAddr);
    EXPECT_EQ(d.family, c.fake.family);
    EXPECT_EQ(d.class_name, c.class_name);
    EXPECT_EQ(d.node_name, c.node_name);
    EXPECT_EQ(d.driver, c.driver);
    EXPECT_EQ(d.driver_version, c.version);
    EXPECT_EQ(d.numa_node, c.fake.numa_node);
    EXPECT_TRUE(d.healthy) << d.reason;
    EXPECT_EQ(d.HostNodePath(), "/dev/" + c.node_name);
    EXPECT_EQ(d.HostClassEntryPath(), "/sys/class/" + c.class_name + "/" + c.node_name);
  }
}

TEST_F(DeviceSourceTest, MixedHostHailo8On423AndHailo10HOn53) {
  tree_.AddDevice({.pci_address = "0000:04:00.0",
                   .family = Family::kHailo10H,
                   .layout = Layout::kHailo1x53});
  tree_.AddDevice(
      {.pci_address = kAddr, .family = Family::kHailo8, .layout = Layout::kHailoPci423});
  SKIP_WITHOUT_NODES(tree_);
  ScanResult result = Scan();
  EXPECT_THAT(result.warnings, IsEmpty());
  ASSERT_THAT(result.devices, SizeIs(2));
  const Device& h8 = result.devices[0];
  const Device& h10 = result.devices[1];
  EXPECT_EQ(h8.id, "0000-03-00.0");
  EXPECT_EQ(h8.family, Family::kHailo8);
  EXPECT_EQ(h8.HostClassEntryPath(), "/sys/class/hailo_chardev/hailo0");
  EXPECT_EQ(h8.driver, "hailo_pci");
  EXPECT_EQ(h10.id, "0000-04-00.0");
  EXPECT_EQ(h10.family, Family::kHailo10H);
  EXPECT_EQ(h10.HostClassEntryPath(), "/sys/class/hailo1x/h1x-0");
  EXPECT_EQ(h10.driver, "hailo1x_pci");
  EXPECT_TRUE(h8.healthy && h10.healthy) << h8.reason << h10.reason;
}

TEST_F(DeviceSourceTest, NonZeroPciDomainAsOnRaspberryPi5) {
  tree_.AddDevice({.pci_address = "0001:01:00.0", .layout = Layout::kHailoPci423});
  SKIP_WITHOUT_NODES(tree_);
  const Device d = ScanOne();
  EXPECT_EQ(d.id, "0001-01-00.0");
  EXPECT_EQ(d.pci_address, "0001:01:00.0");
  EXPECT_TRUE(d.healthy) << d.reason;
}

TEST_F(DeviceSourceTest, GapsInMinorsMapByAddressNotByOrder) {
  tree_.AddDevice({.pci_address = "0000:05:00.0", .minor = 0});
  tree_.AddDevice({.pci_address = "0000:03:00.0", .minor = 5});
  tree_.AddDevice(
      {.pci_address = "0000:04:00.0", .layout = Layout::kHailoPci422, .minor = 2});
  SKIP_WITHOUT_NODES(tree_);
  ScanResult result = Scan();
  EXPECT_THAT(result.warnings, IsEmpty());
  EXPECT_THAT(result.devices, ElementsAre(Field(&Device::node_name, "hailo5"),
                                          Field(&Device::node_name, "hailo2"),
                                          Field(&Device::node_name, "hailo0")));
  for (const Device& d : result.devices) EXPECT_TRUE(d.healthy) << d.reason;
}

TEST_F(DeviceSourceTest, IdIsStableAcrossRenumbering) {
  tree_.AddDevice({.pci_address = kAddr, .minor = 0});
  SKIP_WITHOUT_NODES(tree_);
  const Device before = ScanOne();
  tree_.RemovePciFunction(kAddr);
  tree_.AddDevice({.pci_address = kAddr, .minor = 3});
  const Device after = ScanOne();
  EXPECT_EQ(before.id, after.id);
  EXPECT_EQ(after.node_name, "hailo3");
  EXPECT_TRUE(after.healthy) << after.reason;
}

TEST_F(DeviceSourceTest, EmptyHostHasNoDevicesAndNoWarnings) {
  ScanResult result = Scan();
  EXPECT_THAT(result.devices, IsEmpty());
  EXPECT_THAT(result.warnings, IsEmpty());
  tree_.AddClassDir("hailo_chardev");
  tree_.AddClassDir("hailo1x");
  result = Scan();
  EXPECT_THAT(result.devices, IsEmpty());
  EXPECT_THAT(result.warnings, IsEmpty());
}

TEST_F(DeviceSourceTest, MissingPciDirectoryIsWarnedAbout) {
  DeviceSource source(HostRoots{tree_.root() + "/nonexistent", tree_.dev_root()});
  ScanResult result = source.Scan();
  EXPECT_THAT(result.devices, IsEmpty());
  EXPECT_THAT(result.warnings, ElementsAre(HasSubstr("nonexistent/bus/pci/devices")));
}

TEST_F(DeviceSourceTest, NonHailoFunctionsAreIgnoredSilently) {
  tree_.AddPciFunction("0000:00:1f.3", 0x8086, 0x51c8, "snd_hda_intel");
  tree_.AddPciFunction("0000:02:00.0", 0x10de, 0x2684);
  tree_.AddPciFunction("0000:06:00.0", 0x8086, 0x2864);  // Hailo's ID, other vendor
  ScanResult result = Scan();
  EXPECT_THAT(result.devices, IsEmpty());
  EXPECT_THAT(result.warnings, IsEmpty());
}

TEST_F(DeviceSourceTest, UnknownHailoDeviceIdIsIgnoredWithOneWarning) {
  tree_.AddPciFunction("0000:07:00.0", 0x1e60, 0x1234, "hailo");
  tree_.AddDevice({.pci_address = kAddr});
  SKIP_WITHOUT_NODES(tree_);
  ScanResult result = Scan();
  ASSERT_THAT(result.devices, SizeIs(1));
  EXPECT_EQ(result.devices[0].pci_address, kAddr);
  ASSERT_THAT(result.warnings, SizeIs(1));
  EXPECT_THAT(result.warnings[0],
              HasSubstr(tree_.PciAttributePath("0000:07:00.0", "device")));
  EXPECT_THAT(result.warnings[0], HasSubstr("0x1234"));
}

TEST_F(DeviceSourceTest, GarbageVendorOrDeviceSkipsTheFunctionNamingTheFile) {
  const struct {
    std::string file, content;
  } cases[] = {
      {"vendor", "garbage\n"},        {"vendor", ""},
      {"vendor", "0x1e60:1\n"},       {"device", "0xzz\n"},
      {"device", "\xff\xfe\x00\x01"}, {"device", std::string(200000, 'x')},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file + " = " + c.content.substr(0, 20));
    FakeHostTree tree;
    tree.AddDevice({.pci_address = kAddr});
    tree.WritePciAttribute(kAddr, c.file, c.content);
    ScanResult result = DeviceSource(tree.roots()).Scan();
    EXPECT_THAT(result.devices, IsEmpty());
    ASSERT_THAT(result.warnings, SizeIs(1));
    EXPECT_THAT(result.warnings[0], HasSubstr(tree.PciAttributePath(kAddr, c.file)));
  }
  FakeHostTree tree;
  tree.AddDevice({.pci_address = kAddr});
  tree.RemovePciAttribute(kAddr, "vendor");
  ScanResult result = DeviceSource(tree.roots()).Scan();
  EXPECT_THAT(result.devices, IsEmpty());
  EXPECT_THAT(result.warnings,
              ElementsAre(HasSubstr(tree.PciAttributePath(kAddr, "vendor"))));
}

// --- Health -------------------------------------------------------------------

struct Fault {
  std::string name;
  std::function<void(FakeHostTree&)> apply;
  // A substring of the reason; "" means the device must stay healthy.
  std::function<std::string(const FakeHostTree&)> reason;
  // A file the warnings must name; "" means no warning.
  std::function<std::string(const FakeHostTree&)> warned_file;
};

std::function<std::string(const FakeHostTree&)> Text(std::string text) {
  return [text](const FakeHostTree&) { return text; };
}
std::function<std::string(const FakeHostTree&)> PciFile(std::string name) {
  return [name](const FakeHostTree& t) { return t.PciAttributePath(kAddr, name); };
}
std::function<std::string(const FakeHostTree&)> ClassFile(std::string name) {
  return [name](const FakeHostTree& t) { return t.ClassAttributePath(kAddr, name); };
}
std::function<std::string(const FakeHostTree&)> Node(std::string suffix) {
  return [suffix](const FakeHostTree& t) { return t.NodePath(kAddr) + suffix; };
}

std::vector<Fault> Faults() {
  auto nothing = Text("");
  return {
      {"unbound", [](auto& t) { t.Unbind(kAddr); }, Text(kNoDriver), nothing},
      {"driver link gone", [](auto& t) { t.RemoveDriverLink(kAddr); }, Text(kNoDriver),
       nothing},
      {"class entry gone", [](auto& t) { t.RemoveClassEntry(kAddr); },
       Text("no class device"), nothing},
      {"class dev garbage", [](auto& t) { t.WriteClassAttribute(kAddr, "dev", "x:y"); },
       ClassFile("dev"), ClassFile("dev")},
      {"node gone", [](auto& t) { t.RemoveNode(kAddr); }, Node(" is missing"), nothing},
      {"node is a file", [](auto& t) { t.ReplaceNodeWithFile(kAddr); },
       Node(" is not a character device"), nothing},
      {"node minor differs", [](auto& t) { t.ReplaceNode(kAddr, 510, 7); },
       Node(" is 510:7 but"), nothing},
      {"node major differs", [](auto& t) { t.ReplaceNode(kAddr, 236, 0); },
       Node(" is 236:0 but"), nothing},
      {"disabled", [](auto& t) { t.SetEnable(kAddr, 0); }, Text("PCI function disabled"),
       nothing},
      {"enable garbage", [](auto& t) { t.WritePciAttribute(kAddr, "enable", "on\n"); },
       PciFile("enable"), PciFile("enable")},
      {"link down", [](auto& t) { t.SetLinkSpeed(kAddr, "Unknown"); },
       Text("PCIe link down"), nothing},
      {"link down, old kernel", [](auto& t) { t.SetLinkSpeed(kAddr, "Unknown speed"); },
       Text("PCIe link down"), nothing},
      {"config ff ff", [](auto& t) { t.BreakConfigSpace(kAddr); }, Text("ff ff"),
       nothing},
      {"config short", [](auto& t) { t.WritePciAttribute(kAddr, "config", "\x60"); },
       PciFile("config"), PciFile("config")},
      {"aer garbage", [](auto& t) { t.WritePciAttribute(kAddr, "aer_dev_fatal", "?"); },
       PciFile("aer_dev_fatal"), PciFile("aer_dev_fatal")},
      // Not faults.
      {"D3hot", [](auto& t) { t.SetPowerState(kAddr, "D3hot"); }, nothing, nothing},
      {"no optional files",
       [](auto& t) {
         for (auto f : {"enable", "current_link_speed", "config", "aer_dev_fatal"}) {
           t.RemovePciAttribute(kAddr, f);
         }
       },
       nothing, nothing},
      {"slow link", [](auto& t) { t.SetLinkSpeed(kAddr, "2.5 GT/s PCIe"); }, nothing,
       nothing},
      {"numa garbage", [](auto& t) { t.WritePciAttribute(kAddr, "numa_node", "x\n"); },
       nothing, PciFile("numa_node")},
      {"numa gone", [](auto& t) { t.RemovePciAttribute(kAddr, "numa_node"); }, nothing,
       nothing},
      {"module version empty",
       [](auto& t) {
         t.WriteFile("sys/module/hailo_pci/version", "");
         t.WriteFile("sys/module/hailo1x_pci/version", "\n");
       },
       nothing, nothing},
  };
}

TEST(DeviceSourceFaultTest, EachFaultOnEachLayout) {
  for (Layout layout : {Layout::kHailoPci422, Layout::kHailoPci423, Layout::kHailo1x52,
                        Layout::kHailo1x53}) {
    for (const Fault& fault : Faults()) {
      SCOPED_TRACE(fault.name + ", layout " + std::to_string(static_cast<int>(layout)));
      FakeHostTree tree;
      tree.AddDevice({.pci_address = kAddr, .layout = layout});
      if (!tree.can_make_nodes()) GTEST_SKIP() << "mknod is not permitted here";
      DeviceSource source(tree.roots());
      ASSERT_TRUE(source.Scan().devices.at(0).healthy);
      fault.apply(tree);
      ScanResult result = source.Scan();
      ASSERT_THAT(result.devices, SizeIs(1));
      const Device& d = result.devices[0];
      const std::string reason = fault.reason(tree);
      if (reason.empty()) {
        EXPECT_TRUE(d.healthy) << d.reason;
      } else {
        EXPECT_FALSE(d.healthy);
        EXPECT_THAT(d.reason, HasSubstr(reason));
      }
      const std::string file = fault.warned_file(tree);
      if (file.empty()) {
        EXPECT_THAT(result.warnings, IsEmpty());
      } else {
        EXPECT_THAT(result.warnings, ElementsAre(HasSubstr(file)));
      }
    }
  }
}

TEST_F(DeviceSourceTest, FailedProbeIsReportedUnhealthy) {
  tree_.AddDevice({.pci_address = kAddr, .family = Family::kHailo10H, .probed = false});
  const Device d = ScanOne();
  EXPECT_EQ(d.family, Family::kHailo10H);
  EXPECT_FALSE(d.healthy);
  EXPECT_EQ(d.reason, kNoDriver);
  EXPECT_EQ(d.driver, std::nullopt);
  EXPECT_EQ(d.driver_version, std::nullopt);
  EXPECT_FALSE(d.HasNode());
  EXPECT_EQ(d.HostNodePath(), "");
}

TEST_F(DeviceSourceTest, DriverWithoutModuleLinkIsNamedByTheDriverLink) {
  tree_.AddDevice({.pci_address = kAddr});
  SKIP_WITHOUT_NODES(tree_);
  std::filesystem::remove(tree_.sys_root() + "/bus/pci/drivers/hailo/module");
  const Device d = ScanOne();
  EXPECT_EQ(d.driver, "hailo");
  EXPECT_EQ(d.driver_version, std::nullopt);
  EXPECT_TRUE(d.healthy) << d.reason;
}

TEST_F(DeviceSourceTest, FirstFailingRuleWins) {
  tree_.AddDevice({.pci_address = kAddr});
  SKIP_WITHOUT_NODES(tree_);
  ASSERT_TRUE(ScanOne().healthy);
  tree_.BumpAerFatal(kAddr);
  tree_.BreakConfigSpace(kAddr);
  tree_.SetLinkSpeed(kAddr, "Unknown");
  tree_.SetEnable(kAddr, 0);
  tree_.RemoveNode(kAddr);
  tree_.WriteClassAttribute(kAddr, "dev", "");
  tree_.RemoveDriverLink(kAddr);
  // Repairing one fault at a time reveals the next rule's reason.
  const std::vector<std::pair<std::function<void()>, std::string>> steps = {
      {[] {}, kNoDriver},
      {[&] { tree_.RestoreDriverLink(kAddr); }, tree_.ClassAttributePath(kAddr, "dev")},
      {[&] { tree_.WriteClassAttribute(kAddr, "dev", "510:0\n"); }, " is missing"},
      {[&] { tree_.ReplaceNode(kAddr, 510, 0); }, "PCI function disabled"},
      {[&] { tree_.SetEnable(kAddr, 1); }, "PCIe link down"},
      {[&] { tree_.SetLinkSpeed(kAddr, "16.0 GT/s PCIe"); }, "ff ff"},
      {[&] { tree_.WritePciAttribute(kAddr, "config", "\x60\x1e\x64\x28"); },
       "fatal PCIe errors rose from 0 to 1"},
      {[&] { tree_.SetAerFatal(kAddr, 0); }, ""},
  };
  for (const auto& [repair, reason] : steps) {
    SCOPED_TRACE(reason);
    repair();
    const Device d = ScanOne();
    EXPECT_EQ(d.healthy, reason.empty());
    EXPECT_THAT(d.reason, HasSubstr(reason));
  }
}

TEST_F(DeviceSourceTest, AerRisingAfterTheFirstScanMakesOnlyThatDeviceUnhealthy) {
  tree_.AddDevice({.pci_address = kAddr});
  tree_.AddDevice({.pci_address = "0000:04:00.0", .minor = 1});
  SKIP_WITHOUT_NODES(tree_);
  tree_.SetAerFatal(kAddr, 2);
  tree_.SetAerFatal("0000:04:00.0", 5);
  ScanResult result = Scan();
  EXPECT_TRUE(result.devices[0].healthy && result.devices[1].healthy);
  tree_.BumpAerFatal(kAddr);
  for (int i = 0; i < 2; ++i) {  // stays unhealthy: the baseline does not move up
    result = Scan();
    EXPECT_FALSE(result.devices[0].healthy);
    EXPECT_THAT(result.devices[0].reason, HasSubstr("rose from 2 to 3"));
    EXPECT_THAT(result.devices[0].reason,
                HasSubstr(tree_.PciAttributePath(kAddr, "aer_dev_fatal")));
    EXPECT_TRUE(result.devices[1].healthy) << result.devices[1].reason;
  }
}

TEST_F(DeviceSourceTest, ReplugGivesAFreshAerBaseline) {
  tree_.AddDevice({.pci_address = kAddr});
  SKIP_WITHOUT_NODES(tree_);
  ASSERT_TRUE(ScanOne().healthy);
  tree_.BumpAerFatal(kAddr);
  ASSERT_FALSE(ScanOne().healthy);
  tree_.RemovePciFunction(kAddr);
  EXPECT_THAT(Scan().devices, IsEmpty());
  tree_.AddDevice({.pci_address = kAddr});
  tree_.SetAerFatal(kAddr, 1);
  EXPECT_TRUE(ScanOne().healthy);
  // Re-plugged between two scans: the counter restarts below the baseline.
  tree_.SetAerFatal(kAddr, 0);
  EXPECT_TRUE(ScanOne().healthy);
  tree_.SetAerFatal(kAddr, 1);
  EXPECT_FALSE(ScanOne().healthy);
}

TEST_F(DeviceSourceTest, HealthRecovers) {
  tree_.AddDevice({.pci_address = kAddr});
  SKIP_WITHOUT_NODES(tree_);
  tree_.RemoveNode(kAddr);
  EXPECT_FALSE(ScanOne().healthy);
  tree_.ReplaceNode(kAddr, 510, 0);
  const Device d = ScanOne();
  EXPECT_TRUE(d.healthy) << d.reason;
  EXPECT_EQ(d.reason, "");
}

TEST_F(DeviceSourceTest, RemovedPciFunctionLeavesTheList) {
  tree_.AddDevice({.pci_address = kAddr});
  tree_.AddDevice({.pci_address = "0000:04:00.0", .layout = Layout::kHailo1x53});
  SKIP_WITHOUT_NODES(tree_);
  ASSERT_THAT(Scan().devices, SizeIs(2));
  tree_.RemovePciFunction(kAddr);
  ScanResult result = Scan();
  EXPECT_THAT(result.devices, ElementsAre(Field(&Device::id, "0000-04-00.0")));
  EXPECT_THAT(result.warnings, IsEmpty());
}

// --- Class entries --------------------------------------------------------------

TEST_F(DeviceSourceTest, ClassEntryOfNoPciFunctionIsIgnored) {
  tree_.WriteFile("sys/class/hailo_chardev/hailo9/board_location", "0000:99:00.0");
  tree_.WriteFile("sys/class/hailo_chardev/hailo9/dev", "510:9\n");
  tree_.WriteFile("sys/class/hailo1x/h1x-9/device_id", "0000:98:00.0");
  ScanResult result = Scan();
  EXPECT_THAT(result.devices, IsEmpty());
  EXPECT_THAT(result.warnings, IsEmpty());
}

TEST_F(DeviceSourceTest, AddressFallsBackToTheDeviceLink) {
  tree_.AddDevice({.pci_address = kAddr, .layout = Layout::kHailoPci423});
  tree_.AddDevice({.pci_address = "0000:04:00.0", .layout = Layout::kHailo1x53});
  SKIP_WITHOUT_NODES(tree_);
  tree_.WriteClassAttribute(kAddr, "board_location", "garbage");
  tree_.WriteClassAttribute("0000:04:00.0", "device_id", "1e60:45c4");
  ScanResult result = Scan();
  EXPECT_THAT(result.warnings, IsEmpty());
  ASSERT_THAT(result.devices, SizeIs(2));
  EXPECT_TRUE(result.devices[0].healthy) << result.devices[0].reason;
  EXPECT_TRUE(result.devices[1].healthy) << result.devices[1].reason;
}

TEST_F(DeviceSourceTest, UnreadableAddressWithoutDeviceLinkIsWarned) {
  tree_.AddDevice({.pci_address = kAddr, .layout = Layout::kHailoPci422});
  SKIP_WITHOUT_NODES(tree_);
  tree_.WriteClassAttribute(kAddr, "board_location", "\x01garbage");
  ScanResult result = Scan();
  EXPECT_THAT(result.warnings,
              ElementsAre(HasSubstr(tree_.ClassAttributePath(kAddr, "board_location"))));
  ASSERT_THAT(result.devices, SizeIs(1));
  EXPECT_THAT(result.devices[0].reason, HasSubstr("no class device"));
}

TEST_F(DeviceSourceTest, SecondClassEntryForOneAddressIsWarnedAndIgnored) {
  tree_.AddDevice({.pci_address = kAddr, .layout = Layout::kHailoPci422});
  SKIP_WITHOUT_NODES(tree_);
  tree_.WriteFile("sys/class/hailo_chardev/hailo1/board_location", kAddr);
  tree_.WriteFile("sys/class/hailo_chardev/hailo1/dev", "510:1\n");
  ScanResult result = Scan();
  EXPECT_THAT(result.warnings, ElementsAre(HasSubstr("hailo_chardev/hailo1")));
  ASSERT_THAT(result.devices, SizeIs(1));
  EXPECT_EQ(result.devices[0].node_name, "hailo0");
}

// --- Robustness -------------------------------------------------------------------

TEST(DeviceSourceGarbageTest, GarbageInAnyFileNeverCrashesOrHangs) {
  const std::vector<std::string> garbage = {
      "",       "\n", std::string("\0\0\0", 3), "\xff\xff\xff\xff",       "-1",
      "0x",     ":",  "TOTAL_ERR_FATAL",        std::string(300000, '9'), "0000:03:00.0",
      "510:0\n"};
  const std::vector<std::string> pci_files = {
      "vendor", "device",       "numa_node", "enable", "current_link_speed",
      "config", "aer_dev_fatal"};
  const std::vector<std::string> class_files = {"dev", "board_location", "device_id"};
  for (Layout layout : {Layout::kHailoPci422, Layout::kHailo1x53}) {
    FakeHostTree tree;
    tree.AddDevice({.pci_address = kAddr, .layout = layout});
    DeviceSource source(tree.roots());
    for (const std::string& content : garbage) {
      for (const std::string& file : pci_files)
        tree.WritePciAttribute(kAddr, file, content);
      for (const std::string& file : class_files)
        tree.WriteClassAttribute(kAddr, file, content);
      ScanResult result = source.Scan();
      ASSERT_LE(result.devices.size(), 1u);
      for (const Device& d : result.devices) EXPECT_EQ(d.healthy, d.reason.empty());
      for (const std::string& w : result.warnings) EXPECT_THAT(w, HasSubstr(tree.root()));
    }
  }
}

TEST(DeviceSourceGarbageTest, DirectoriesAndFifosWhereFilesShouldBe) {
  FakeHostTree tree;
  tree.AddDevice({.pci_address = kAddr});
  DeviceSource source(tree.roots());
  const std::vector<std::string> files = {"numa_node", "enable", "current_link_speed",
                                          "config", "aer_dev_fatal"};
  for (size_t i = 0; i < files.size(); ++i) {
    tree.RemovePciAttribute(kAddr, files[i]);
    const std::string path = tree.PciAttributePath(kAddr, files[i]);
    ASSERT_EQ(i % 2 == 0 ? ::mkfifo(path.c_str(), 0600) : ::mkdir(path.c_str(), 0700), 0);
  }
  ScanResult result = source.Scan();  // must not block on a FIFO
  ASSERT_THAT(result.devices, SizeIs(1));
  EXPECT_FALSE(result.devices[0].healthy);
  tree.RemovePciAttribute(kAddr, "vendor");
  ASSERT_EQ(::mkdir(tree.PciAttributePath(kAddr, "vendor").c_str(), 0700), 0);
  result = source.Scan();
  EXPECT_THAT(result.devices, IsEmpty());
  EXPECT_THAT(result.warnings, ElementsAre(HasSubstr("vendor")));
}

TEST_F(DeviceSourceTest, NeverOpensTheDeviceNode) {
  // A node that really opens (the null device, 1:3), watched for opens.
  tree_.AddDevice({.pci_address = kAddr, .minor = 3, .major = 1});
  SKIP_WITHOUT_NODES(tree_);
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_GE(::inotify_add_watch(fd, tree_.dev_root().c_str(), IN_OPEN | IN_ACCESS), 0);
  EXPECT_TRUE(ScanOne().healthy);
  alignas(inotify_event) char buffer[4096];
  EXPECT_EQ(::read(fd, buffer, sizeof buffer), -1) << "the scan opened a device node";
  // The watch does see opens: opening the node ourselves is reported.
  const int node = ::open(tree_.NodePath(kAddr).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(node, 0);
  ::close(node);
  EXPECT_GT(::read(fd, buffer, sizeof buffer), 0);
  ::close(fd);
}

}  // namespace
}  // namespace hailo_dp
