#include "hailo_device_plugin/device.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace hailo_dp {
namespace {

TEST(DeviceTest, FamiliesByPciDeviceId) {
  const struct {
    uint16_t pci_id;
    std::optional<Family> family;
  } cases[] = {
      {0x2864, Family::kHailo8},   {0x45c4, Family::kHailo10H},
      {0x43a2, Family::kHailo15L}, {0x26a2, Family::kHailo12L},
      {0x0000, std::nullopt},      {0x1e60, std::nullopt},
      {0xffff, std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FamilyFromPciDeviceId(c.pci_id), c.family) << std::hex << c.pci_id;
  }
}

TEST(DeviceTest, FamilyNamesRoundTrip) {
  const struct {
    Family family;
    std::string_view name;
  } cases[] = {
      {Family::kHailo8, "hailo8"},
      {Family::kHailo10H, "hailo10h"},
      {Family::kHailo15L, "hailo15l"},
      {Family::kHailo12L, "hailo12l"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FamilyName(c.family), c.name);
    EXPECT_EQ(FamilyFromName(c.name), c.family);
  }
  EXPECT_EQ(FamilyFromName("Hailo8"), std::nullopt);
  EXPECT_EQ(FamilyFromName("hailo8l"), std::nullopt);
  EXPECT_EQ(FamilyFromName(""), std::nullopt);
}

TEST(DeviceTest, AllFamiliesListsEachOnceInAFixedOrder) {
  const std::vector<Family>& all = AllFamilies();
  EXPECT_EQ(all, (std::vector<Family>{Family::kHailo8, Family::kHailo10H,
                                      Family::kHailo15L, Family::kHailo12L}));
  EXPECT_EQ(&all, &AllFamilies());
  EXPECT_EQ(std::set<Family>(all.begin(), all.end()).size(), all.size());
}

TEST(DeviceTest, DeviceIdFromPciAddress) {
  const struct {
    std::string_view address;
    std::string_view id;
  } cases[] = {
      {"0000:03:00.0", "0000-03-00.0"},
      {"0001:01:00.0", "0001-01-00.0"},
      {"0000:0A:1F.7", "0000-0a-1f.7"},
      {"10000:e1:00.0", "10000-e1-00.0"},
  };
  for (const auto& c : cases) {
    const std::string id = DeviceIdFromPciAddress(c.address);
    EXPECT_EQ(id, c.id);
    EXPECT_EQ(id.find(':'), std::string::npos);
    EXPECT_LE(id.size(), 63u);
  }
}

TEST(DeviceTest, HostPathsIgnoreScanRoots) {
  const struct {
    std::string class_name;
    std::string node_name;
    std::string node_path;
    std::string entry_path;
    std::string dir_path;
  } cases[] = {
      {"hailo_chardev", "hailo0", "/dev/hailo0", "/sys/class/hailo_chardev/hailo0",
       "/sys/class/hailo_chardev"},
      {"hailo1x", "h1x-3", "/dev/h1x-3", "/sys/class/hailo1x/h1x-3",
       "/sys/class/hailo1x"},
      {"", "", "", "", ""},
  };
  for (const auto& c : cases) {
    Device device;
    device.class_name = c.class_name;
    device.node_name = c.node_name;
    EXPECT_EQ(device.HasNode(), !c.node_name.empty());
    EXPECT_EQ(device.HostNodePath(), c.node_path);
    EXPECT_EQ(device.HostClassEntryPath(), c.entry_path);
    EXPECT_EQ(device.HostClassDirPath(), c.dir_path);
  }
}

TEST(DeviceTest, EqualityComparesEveryField) {
  Device a;
  a.id = "0000-03-00.0";
  a.healthy = true;
  Device b = a;
  EXPECT_EQ(a, b);
  b.reason = "x";
  EXPECT_NE(a, b);
  b = a;
  b.numa_node = 0;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace hailo_dp
