#include "hailo_device_plugin/allocation.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::IsSubsetOf;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using ::testing::UnorderedElementsAreArray;

// A device as a scan reports it: "0000:03:00.0" on node "hailo0".
Device Dev(std::string pci_address, std::string node, Family family = Family::kHailo8,
           std::optional<int> numa = std::nullopt) {
  Device d;
  d.id = DeviceIdFromPciAddress(pci_address);
  d.pci_address = std::move(pci_address);
  d.family = family;
  d.class_name = node.rfind("h1x-", 0) == 0 ? "hailo1x" : "hailo_chardev";
  d.node_name = std::move(node);
  d.driver = "hailo_pci";
  d.driver_version = "4.20.0";
  d.numa_node = numa;
  d.healthy = true;
  return d;
}

Device Unhealthy(Device d, std::string reason) {
  d.healthy = false;
  d.reason = std::move(reason);
  return d;
}

std::vector<std::string> Ids(const std::vector<AdvertisedDevice>& advertised) {
  std::vector<std::string> out;
  for (const AdvertisedDevice& a : advertised) out.push_back(a.id);
  return out;
}

std::vector<std::string> CdiNames(const v1beta1::ContainerAllocateResponse& r) {
  std::vector<std::string> out;
  for (const auto& d : r.cdi_devices()) out.push_back(d.name());
  return out;
}

std::map<std::string, std::string> Envs(const v1beta1::ContainerAllocateResponse& r) {
  return {r.envs().begin(), r.envs().end()};
}

std::map<std::string, std::string> Annotations(
    const v1beta1::ContainerAllocateResponse& r) {
  return {r.annotations().begin(), r.annotations().end()};
}

// --- ParseAllocationModes ----------------------------------------------------

struct ModesCase {
  std::string text;
  unsigned modes;
};

void PrintTo(const ModesCase& c, std::ostream* os) { *os << "'" << c.text << "'"; }

class ParseAllocationModesTest : public ::testing::TestWithParam<ModesCase> {};

TEST_P(ParseAllocationModesTest, Parses) {
  absl::StatusOr<unsigned> modes = ParseAllocationModes(GetParam().text);
  ASSERT_TRUE(modes.ok()) << GetParam().text << ": " << Str(modes.status().message());
  EXPECT_EQ(*modes, GetParam().modes) << GetParam().text;
  // The canonical form parses back to the same modes.
  absl::StatusOr<unsigned> again = ParseAllocationModes(AllocationModesToString(*modes));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *modes);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseAllocationModesTest,
    ::testing::Values(
        ModesCase{"cdi-cri", kModeCdiCri},
        ModesCase{"cdi-annotations", kModeCdiAnnotations},
        ModesCase{"device-specs", kModeDeviceSpecs},
        ModesCase{"cdi-cri,device-specs", kModeCdiCri | kModeDeviceSpecs},
        ModesCase{" cdi-cri , cdi-annotations ", kModeCdiCri | kModeCdiAnnotations},
        ModesCase{"device-specs,cdi-annotations,cdi-cri",
                  kModeCdiCri | kModeCdiAnnotations | kModeDeviceSpecs},
        ModesCase{"cdi-cri,cdi-cri", kModeCdiCri},
        ModesCase{"cdi-cri,,device-specs,", kModeCdiCri | kModeDeviceSpecs}));

TEST(ParseAllocationModes, UnknownModeIsNamed) {
  for (const std::string& text : {std::string("bogus"), std::string("cdi-cri,bogus"),
                                  std::string("bogus , cdi-cri")}) {
    absl::StatusOr<unsigned> modes = ParseAllocationModes(text);
    ASSERT_FALSE(modes.ok()) << text;
    EXPECT_EQ(modes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Str(modes.status().message()), HasSubstr("'bogus'"));
    EXPECT_THAT(Str(modes.status().message()),
                HasSubstr("cdi-cri, cdi-annotations, device-specs"));
  }
}

TEST(ParseAllocationModes, IsCaseSensitive) {
  absl::StatusOr<unsigned> modes = ParseAllocationModes("CDI-CRI");
  ASSERT_FALSE(modes.ok());
  EXPECT_THAT(Str(modes.status().message()), HasSubstr("'CDI-CRI'"));
}

TEST(ParseAllocationModes, EmptyIsAnError) {
  for (const char* text : {"", " ", ",", " , "}) {
    absl::StatusOr<unsigned> modes = ParseAllocationModes(text);
    ASSERT_FALSE(modes.ok()) << "'" << text << "'";
    EXPECT_EQ(modes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Str(modes.status().message()), HasSubstr("no allocation mode"));
  }
}

TEST(AllocationModesToString, ListsModesInCanonicalOrder) {
  EXPECT_EQ(AllocationModesToString(kModeCdiCri), "cdi-cri");
  EXPECT_EQ(AllocationModesToString(kModeDeviceSpecs | kModeCdiCri),
            "cdi-cri,device-specs");
  EXPECT_EQ(AllocationModesToString(kModeCdiCri | kModeCdiAnnotations | kModeDeviceSpecs),
            "cdi-cri,cdi-annotations,device-specs");
}

// --- AdvertiseDevices / SharingOf -----------------------------------------------

TEST(AdvertiseDevices, WithoutSharingOneIdPerDevice) {
  std::vector<Device> devices = {Dev("0000:03:00.0", "hailo0"),
                                 Dev("0001:01:00.0", "h1x-0", Family::kHailo10H)};
  std::vector<AdvertisedDevice> advertised = AdvertiseDevices(devices, {});
  EXPECT_THAT(Ids(advertised), ElementsAre("0000-03-00.0", "0001-01-00.0"));
  for (size_t i = 0; i < advertised.size(); ++i) {
    EXPECT_EQ(advertised[i].device, devices[i]);
    EXPECT_EQ(advertised[i].replica, 0);
  }
  EXPECT_THAT(AdvertiseDevices({}, {}), IsEmpty());
}

TEST(AdvertiseDevices, SharedFamilyGetsReplicasOthersDoNot) {
  std::vector<Device> devices = {Dev("0000:03:00.0", "hailo0"),
                                 Dev("0000:04:00.0", "hailo1", Family::kHailo10H),
                                 Dev("0000:05:00.0", "hailo2", Family::kHailo15L)};
  SharingMap sharing;
  sharing[Family::kHailo10H].replicas = 3;
  sharing[Family::kHailo15L].replicas = 1;  // listed, but not shared
  std::vector<AdvertisedDevice> advertised = AdvertiseDevices(devices, sharing);
  EXPECT_THAT(Ids(advertised),
              ElementsAre("0000-03-00.0", "0000-04-00.0::0", "0000-04-00.0::1",
                          "0000-04-00.0::2", "0000-05-00.0"));
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(advertised[1 + k].device, devices[1]);
    EXPECT_EQ(advertised[1 + k].replica, k);
  }
  EXPECT_EQ(SharingOf(sharing, devices[0]).replicas, 1);
  EXPECT_EQ(SharingOf(sharing, devices[1]).replicas, 3);
}

TEST(AdvertiseDevices, SixtyFourReplicasAreAllDistinct) {
  SharingMap sharing;
  sharing[Family::kHailo8].replicas = 64;
  std::vector<AdvertisedDevice> advertised = AdvertiseDevices(
      {Dev("0000:03:00.0", "hailo0"), Dev("0000:04:00.0", "hailo1")}, sharing);
  ASSERT_THAT(advertised, SizeIs(128));
  std::set<std::string> ids;
  for (const AdvertisedDevice& a : advertised) {
    ids.insert(a.id);
    EXPECT_LE(a.id.size(), 63u) << "device IDs are documented as at most 63 characters";
  }
  EXPECT_EQ(ids.size(), 128u);
  EXPECT_EQ(advertised.back().id, "0000-04-00.0::63");
}

// --- BuildListAndWatchResponse --------------------------------------------------

TEST(BuildListAndWatchResponse, HealthAndTopology) {
  std::vector<Device> devices = {
      Dev("0000:03:00.0", "hailo0", Family::kHailo8, 1),
      Unhealthy(Dev("0000:04:00.0", "hailo1", Family::kHailo8, 0), "node missing"),
      Dev("0000:05:00.0", "hailo2")};
  v1beta1::ListAndWatchResponse r =
      BuildListAndWatchResponse(AdvertiseDevices(devices, {}));
  ASSERT_EQ(r.devices_size(), 3);
  EXPECT_EQ(r.devices(0).id(), "0000-03-00.0");
  EXPECT_EQ(r.devices(0).health(), "Healthy");
  ASSERT_TRUE(r.devices(0).has_topology());
  ASSERT_EQ(r.devices(0).topology().nodes_size(), 1);
  EXPECT_EQ(r.devices(0).topology().nodes(0).id(), 1);

  EXPECT_EQ(r.devices(1).health(), "Unhealthy");
  ASSERT_TRUE(r.devices(1).has_topology()) << "NUMA node 0 is a known node";
  EXPECT_EQ(r.devices(1).topology().nodes(0).id(), 0);

  EXPECT_EQ(r.devices(2).health(), "Healthy");
  EXPECT_FALSE(r.devices(2).has_topology())
      << "no topology when the NUMA node is unknown";
}

TEST(BuildListAndWatchResponse, ReplicasShareHealthAndTopology) {
  SharingMap sharing;
  sharing[Family::kHailo8].replicas = 2;
  std::vector<Device> devices = {
      Unhealthy(Dev("0000:03:00.0", "hailo0", Family::kHailo8, 1), "link down")};
  v1beta1::ListAndWatchResponse r =
      BuildListAndWatchResponse(AdvertiseDevices(devices, sharing));
  ASSERT_EQ(r.devices_size(), 2);
  for (const auto& d : r.devices()) {
    EXPECT_EQ(d.health(), "Unhealthy");
    EXPECT_EQ(d.topology().nodes(0).id(), 1);
  }
  EXPECT_EQ(BuildListAndWatchResponse({}).devices_size(), 0);
}

// --- BuildContainerAllocateResponse: validation ----------------------------------

class AllocateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    devices_ = {Dev("0000:03:00.0", "hailo0"), Dev("0001:01:00.0", "hailo1"),
                Unhealthy(Dev("0000:05:00.0", "hailo2"), "PCI link speed is Unknown"),
                Dev("0000:06:00.0", "h1x-0", Family::kHailo10H)};
  }
  absl::StatusOr<v1beta1::ContainerAllocateResponse> Allocate(
      const std::vector<std::string>& ids) {
    return BuildContainerAllocateResponse(
        ids, AdvertiseDevices(devices_, options_.sharing), options_);
  }
  // Allocates and expects success.
  v1beta1::ContainerAllocateResponse AllocateOk(const std::vector<std::string>& ids) {
    auto r = Allocate(ids);
    EXPECT_TRUE(r.ok()) << Str(r.status().message());
    return r.ok() ? *r : v1beta1::ContainerAllocateResponse{};
  }
  std::vector<Device> devices_;
  AllocateOptions options_;
};

TEST_F(AllocateTest, UnknownIdIsInvalidArgumentNamingIt) {
  auto r = Allocate({"0000-03-00.0", "0000-09-00.0"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Str(r.status().message()), HasSubstr("'0000-09-00.0'"));
  EXPECT_THAT(Str(r.status().message()), HasSubstr("unknown"));
  EXPECT_THAT(Str(r.status().message()), HasSubstr("hailo.ai/npu"));
}

TEST_F(AllocateTest, PathLikeIdsAreUnknown) {
  for (const std::string& id :
       {std::string("../0000-03-00.0"), std::string("0000-03-00.0/.."), std::string(".."),
        std::string("/dev/hailo0"), std::string("hailo0"), std::string("0000:03:00.0"),
        std::string("0000-03-00.0::0"), std::string(""), std::string("all")}) {
    auto r = Allocate({id});
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << id;
    EXPECT_THAT(Str(r.status().message()), HasSubstr(Cat("'", id, "'")));
  }
}

TEST_F(AllocateTest, DuplicateIdIsInvalidArgument) {
  auto r = Allocate({"0000-03-00.0", "0001-01-00.0", "0000-03-00.0"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Str(r.status().message()), HasSubstr("'0000-03-00.0'"));
  EXPECT_THAT(Str(r.status().message()), HasSubstr("twice"));
}

TEST_F(AllocateTest, UnhealthyIsFailedPreconditionWithReason) {
  auto r = Allocate({"0000-03-00.0", "0000-05-00.0"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Str(r.status().message()), HasSubstr("'0000-05-00.0'"));
  EXPECT_THAT(Str(r.status().message()), HasSubstr("PCI link speed is Unknown"));
}

TEST_F(AllocateTest, EmptyRequestIsInvalidArgument) {
  auto r = Allocate({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Str(r.status().message()), HasSubstr("no device"));
}

TEST_F(AllocateTest, HugeIdGivesABoundedMessage) {
  const std::string huge(10 * 1024, 'x');
  for (const std::vector<std::string>& ids :
       {std::vector<std::string>{huge}, std::vector<std::string>{"0000-03-00.0", huge}}) {
    auto r = Allocate(ids);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_LT(r.status().message().size(), 300u);
    EXPECT_THAT(Str(r.status().message()), HasSubstr("10240 bytes"));
  }
}

// --- BuildContainerAllocateResponse: modes ---------------------------------------

TEST_F(AllocateTest, CdiCriFillsCdiDevicesOnly) {
  auto r = AllocateOk({"0001-01-00.0", "0000-03-00.0"});
  EXPECT_THAT(CdiNames(r),
              ElementsAre("hailo.ai/npu=0001-01-00.0", "hailo.ai/npu=0000-03-00.0"));
  EXPECT_EQ(r.devices_size(), 0);
  EXPECT_EQ(r.mounts_size(), 0);
  EXPECT_THAT(Annotations(r), IsEmpty());
}

TEST_F(AllocateTest, EnvListsPciAddressesInRequestOrder) {
  auto r = AllocateOk({"0001-01-00.0", "0000-06-00.0", "0000-03-00.0"});
  EXPECT_THAT(Envs(r), ElementsAre(Pair("HAILO_DEVICE_IDS",
                                        "0001:01:00.0,0000:06:00.0,0000:03:00.0")));
}

TEST_F(AllocateTest, CdiAnnotationsSetsOneAnnotation) {
  options_.modes = kModeCdiAnnotations;
  auto r = AllocateOk({"0000-03-00.0", "0001-01-00.0"});
  EXPECT_THAT(Annotations(r),
              ElementsAre(Pair("cdi.k8s.io/hailo-device-plugin_npu",
                               "hailo.ai/npu=0000-03-00.0,hailo.ai/npu=0001-01-00.0")));
  EXPECT_EQ(r.cdi_devices_size(), 0);
  EXPECT_EQ(r.devices_size(), 0);
}

TEST_F(AllocateTest, DeviceSpecsGiveTheNodes) {
  options_.modes = kModeDeviceSpecs;
  auto r = AllocateOk({"0000-03-00.0", "0000-06-00.0"});
  ASSERT_EQ(r.devices_size(), 2);
  EXPECT_EQ(r.devices(0).host_path(), "/dev/hailo0");
  EXPECT_EQ(r.devices(0).container_path(), "/dev/hailo0");
  EXPECT_EQ(r.devices(0).permissions(), "rw");
  EXPECT_EQ(r.devices(1).host_path(), "/dev/h1x-0");
  EXPECT_EQ(r.devices(1).container_path(), "/dev/h1x-0");
  EXPECT_EQ(r.devices(1).permissions(), "rw");
  EXPECT_EQ(r.cdi_devices_size(), 0);
  EXPECT_THAT(Annotations(r), IsEmpty());
  EXPECT_THAT(Envs(r),
              ElementsAre(Pair("HAILO_DEVICE_IDS", "0000:03:00.0,0000:06:00.0")));
}

TEST_F(AllocateTest, AllModesCombined) {
  options_.modes = kModeCdiCri | kModeCdiAnnotations | kModeDeviceSpecs;
  auto r = AllocateOk({"0000-03-00.0"});
  EXPECT_THAT(CdiNames(r), ElementsAre("hailo.ai/npu=0000-03-00.0"));
  EXPECT_THAT(Annotations(r), ElementsAre(Pair("cdi.k8s.io/hailo-device-plugin_npu",
                                               "hailo.ai/npu=0000-03-00.0")));
  ASSERT_EQ(r.devices_size(), 1);
  EXPECT_EQ(r.devices(0).host_path(), "/dev/hailo0");
}

TEST_F(AllocateTest, PerFamilyResourceNamesKindAndAnnotation) {
  options_.resource = PerFamilyResources("hailo.ai/npu")[1];  // hailo10h
  options_.modes = kModeCdiCri | kModeCdiAnnotations;
  EXPECT_EQ(CdiAnnotationKey(options_.resource),
            "cdi.k8s.io/hailo-device-plugin_hailo10h");
  auto r = AllocateOk({"0000-06-00.0"});
  EXPECT_THAT(CdiNames(r), ElementsAre("hailo.ai/hailo10h=0000-06-00.0"));
  EXPECT_THAT(Annotations(r), ElementsAre(Pair("cdi.k8s.io/hailo-device-plugin_hailo10h",
                                               "hailo.ai/hailo10h=0000-06-00.0")));
}

TEST(CdiAnnotationKey, UsesTheNamePartOfTheResource) {
  ResourceSpec spec;
  EXPECT_EQ(CdiAnnotationKey(spec), "cdi.k8s.io/hailo-device-plugin_npu");
  spec.resource_name = "example.com/accel";
  EXPECT_EQ(CdiAnnotationKey(spec), "cdi.k8s.io/hailo-device-plugin_accel");
}

// --- BuildContainerAllocateResponse: sharing -----------------------------------

TEST_F(AllocateTest, ReplicasOfOneDeviceMapToOneDevice) {
  options_.sharing[Family::kHailo8].replicas = 4;
  options_.modes = kModeCdiCri | kModeDeviceSpecs | kModeCdiAnnotations;
  auto r = AllocateOk({"0000-03-00.0::2", "0000-03-00.0::0", "0001-01-00.0::1"});
  EXPECT_THAT(CdiNames(r),
              ElementsAre("hailo.ai/npu=0000-03-00.0", "hailo.ai/npu=0001-01-00.0"));
  ASSERT_EQ(r.devices_size(), 2);
  EXPECT_EQ(r.devices(0).host_path(), "/dev/hailo0");
  EXPECT_EQ(r.devices(1).host_path(), "/dev/hailo1");
  EXPECT_EQ(Envs(r).at("HAILO_DEVICE_IDS"), "0000:03:00.0,0001:01:00.0");
  EXPECT_EQ(Annotations(r).at("cdi.k8s.io/hailo-device-plugin_npu"),
            "hailo.ai/npu=0000-03-00.0,hailo.ai/npu=0001-01-00.0");
}

TEST_F(AllocateTest, SharedDevicesAreKnownOnlyByReplicaIds) {
  options_.sharing[Family::kHailo8].replicas = 2;
  auto r = Allocate({"0000-03-00.0"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Allocate({"0000-03-00.0::1"}).ok());
  EXPECT_FALSE(Allocate({"0000-03-00.0::2"}).ok());
}

TEST_F(AllocateTest, UnhealthyReplicaIsFailedPrecondition) {
  options_.sharing[Family::kHailo8].replicas = 2;
  auto r = Allocate({"0000-05-00.0::1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Str(r.status().message()), HasSubstr("'0000-05-00.0::1'"));
}

TEST_F(AllocateTest, ServiceFlavourGivesTheSocketNotTheNode) {
  SharingPolicy& policy = options_.sharing[Family::kHailo8];
  policy.replicas = 2;
  policy.flavour = SharingFlavour::kService;
  policy.service_socket = "/run/hailo/hailort.sock";
  options_.modes = kModeCdiCri | kModeCdiAnnotations | kModeDeviceSpecs;
  auto r = AllocateOk({"0000-03-00.0::0", "0001-01-00.0::1", "0000-03-00.0::1"});
  EXPECT_EQ(r.cdi_devices_size(), 0);
  EXPECT_EQ(r.devices_size(), 0);
  EXPECT_THAT(Annotations(r), IsEmpty());
  ASSERT_EQ(r.mounts_size(), 1) << "one socket mount per container";
  EXPECT_EQ(r.mounts(0).host_path(), "/run/hailo/hailort.sock");
  EXPECT_EQ(r.mounts(0).container_path(), "/run/hailo/hailort.sock");
  EXPECT_FALSE(r.mounts(0).read_only());
  EXPECT_THAT(Envs(r),
              UnorderedElementsAre(
                  Pair("HAILORT_SERVICE_ADDRESS", "unix:///run/hailo/hailort.sock"),
                  Pair("HAILO_DEVICE_IDS", "0000:03:00.0,0001:01:00.0")));
}

TEST_F(AllocateTest, ServiceFlavourDefaultSocket) {
  options_.sharing[Family::kHailo8].replicas = 2;
  options_.sharing[Family::kHailo8].flavour = SharingFlavour::kService;
  auto r = AllocateOk({"0000-03-00.0::0"});
  ASSERT_EQ(r.mounts_size(), 1);
  EXPECT_EQ(r.mounts(0).host_path(), "/tmp/hailort_uds.sock");
  EXPECT_EQ(Envs(r).at("HAILORT_SERVICE_ADDRESS"), "unix:///tmp/hailort_uds.sock");
}

TEST_F(AllocateTest, ServiceAndDirectFamiliesInOneRequest) {
  options_.sharing[Family::kHailo8].replicas = 2;
  options_.sharing[Family::kHailo8].flavour = SharingFlavour::kService;
  auto r = AllocateOk({"0000-03-00.0::0", "0000-06-00.0"});
  EXPECT_THAT(CdiNames(r), ElementsAre("hailo.ai/npu=0000-06-00.0"));
  EXPECT_EQ(r.mounts_size(), 1);
  EXPECT_EQ(Envs(r).at("HAILO_DEVICE_IDS"), "0000:03:00.0,0000:06:00.0");
}

TEST_F(AllocateTest, ServiceFlavourWithoutSharingIsDirect) {
  // replicas 1: the device is not shared, so the flavour does not apply.
  options_.sharing[Family::kHailo8].flavour = SharingFlavour::kService;
  auto r = AllocateOk({"0000-03-00.0"});
  EXPECT_THAT(CdiNames(r), ElementsAre("hailo.ai/npu=0000-03-00.0"));
  EXPECT_EQ(r.mounts_size(), 0);
  EXPECT_FALSE(Envs(r).count("HAILORT_SERVICE_ADDRESS"));
}

TEST_F(AllocateTest, FailRequestsGreaterThanOne) {
  options_.sharing[Family::kHailo8].replicas = 4;
  options_.sharing[Family::kHailo8].fail_requests_greater_than_one = true;
  EXPECT_TRUE(Allocate({"0000-03-00.0::3"}).ok());
  auto r = Allocate({"0000-03-00.0::0", "0001-01-00.0::0"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Str(r.status().message()), HasSubstr("'0000-03-00.0::0'"));
  EXPECT_THAT(Str(r.status().message()), HasSubstr("only one"));
  // Without the flag, the same request is fine.
  options_.sharing[Family::kHailo8].fail_requests_greater_than_one = false;
  EXPECT_TRUE(Allocate({"0000-03-00.0::0", "0001-01-00.0::0"}).ok());
}

TEST_F(AllocateTest, FailRequestsGreaterThanOneIgnoresUnsharedFamilies) {
  options_.sharing[Family::kHailo10H].replicas = 2;
  options_.sharing[Family::kHailo10H].fail_requests_greater_than_one = true;
  EXPECT_TRUE(Allocate({"0000-03-00.0", "0001-01-00.0"}).ok());
}

// --- ChoosePreferredAllocation --------------------------------------------------

// Checks the kubelet's contract: exactly `size` IDs, all available, every
// must-include present, no duplicates.
void ExpectValidAnswer(const std::vector<std::string>& answer,
                       const std::vector<std::string>& available,
                       const std::vector<std::string>& must, int size) {
  EXPECT_THAT(answer, SizeIs(size));
  EXPECT_THAT(answer, IsSubsetOf(available));
  EXPECT_THAT(must, IsSubsetOf(answer));
  EXPECT_EQ(std::set<std::string>(answer.begin(), answer.end()).size(), answer.size());
}

class PreferredTest : public ::testing::Test {
 protected:
  void Use(std::vector<Device> devices, SharingMap sharing = {}) {
    advertised_ = AdvertiseDevices(devices, sharing);
    available_ = Ids(advertised_);
  }
  std::vector<std::string> Choose(const std::vector<std::string>& must, int size) {
    auto r = ChoosePreferredAllocation(available_, must, size, advertised_);
    EXPECT_TRUE(r.ok()) << Str(r.status().message());
    if (!r.ok()) return {};
    ExpectValidAnswer(*r, available_, must, size);
    return *r;
  }
  // The NUMA nodes of the chosen IDs (-1: none).
  std::set<int> Nodes(const std::vector<std::string>& ids) {
    std::set<int> nodes;
    for (const std::string& id : ids) {
      for (const AdvertisedDevice& a : advertised_) {
        if (a.id == id) nodes.insert(a.device.numa_node.value_or(-1));
      }
    }
    return nodes;
  }
  std::set<std::string> Physical(const std::vector<std::string>& ids) {
    std::set<std::string> out;
    for (const std::string& id : ids) {
      for (const AdvertisedDevice& a : advertised_) {
        if (a.id == id) out.insert(a.device.id);
      }
    }
    return out;
  }
  std::vector<AdvertisedDevice> advertised_;
  std::vector<std::string> available_;
};

// Two devices on node 0, three on node 1.
std::vector<Device> TwoNodes() {
  return {Dev("0000:01:00.0", "hailo0", Family::kHailo8, 0),
          Dev("0000:02:00.0", "hailo1", Family::kHailo8, 0),
          Dev("0000:81:00.0", "hailo2", Family::kHailo8, 1),
          Dev("0000:82:00.0", "hailo3", Family::kHailo8, 1),
          Dev("0000:83:00.0", "hailo4", Family::kHailo8, 1)};
}

TEST_F(PreferredTest, ExactSizeFromAvailable) {
  Use(TwoNodes());
  for (int size = 1; size <= 5; ++size) Choose({}, size);
  EXPECT_THAT(Choose({}, 5), UnorderedElementsAreArray(available_));
}

TEST_F(PreferredTest, SubsetOfAvailableOnly) {
  Use(TwoNodes());
  available_ = {"0000-02-00.0", "0000-82-00.0", "0000-83-00.0"};
  std::vector<std::string> answer = Choose({}, 2);
  EXPECT_THAT(answer, UnorderedElementsAre("0000-82-00.0", "0000-83-00.0"))
      << "both on node 1";
}

TEST_F(PreferredTest, IncludesMustInclude) {
  Use(TwoNodes());
  std::vector<std::string> answer = Choose({"0000-83-00.0", "0000-01-00.0"}, 3);
  EXPECT_THAT(answer, ::testing::Contains("0000-83-00.0"));
  EXPECT_THAT(answer, ::testing::Contains("0000-01-00.0"));
  EXPECT_THAT(Choose({"0000-02-00.0"}, 1), ElementsAre("0000-02-00.0"));
}

TEST_F(PreferredTest, KeepsOnOneNodeWhenItFits) {
  Use(TwoNodes());
  EXPECT_THAT(Nodes(Choose({}, 1)), SizeIs(1));
  // The smallest node that fits, leaving the larger free for larger requests.
  EXPECT_THAT(Choose({}, 2), UnorderedElementsAre("0000-01-00.0", "0000-02-00.0"));
  EXPECT_THAT(Choose({}, 3),
              UnorderedElementsAre("0000-81-00.0", "0000-82-00.0", "0000-83-00.0"));
}

TEST_F(PreferredTest, PrefersTheNodeOfMustInclude) {
  Use(TwoNodes());
  std::vector<std::string> answer = Choose({"0000-82-00.0"}, 2);
  EXPECT_THAT(Nodes(answer), ElementsAre(1));
  answer = Choose({"0000-01-00.0"}, 2);
  EXPECT_THAT(answer, UnorderedElementsAre("0000-01-00.0", "0000-02-00.0"));
}

TEST_F(PreferredTest, MustIncludeNodeTooSmallSpillsToTheFewestOtherNodes) {
  Use({Dev("0000:01:00.0", "hailo0", Family::kHailo8, 0),
       Dev("0000:41:00.0", "hailo1", Family::kHailo8, 1),
       Dev("0000:42:00.0", "hailo2", Family::kHailo8, 1),
       Dev("0000:81:00.0", "hailo3", Family::kHailo8, 2),
       Dev("0000:82:00.0", "hailo4", Family::kHailo8, 2),
       Dev("0000:83:00.0", "hailo5", Family::kHailo8, 2)});
  std::vector<std::string> answer = Choose({"0000-01-00.0"}, 3);
  EXPECT_THAT(Nodes(answer), SizeIs(2));
  EXPECT_THAT(Nodes(answer), ::testing::Contains(0));
}

TEST_F(PreferredTest, SpansTheFewestNodes) {
  // Node 0: 1 device, node 1: 2, node 2: 3. Five fit on nodes 1 and 2.
  Use({Dev("0000:01:00.0", "hailo0", Family::kHailo8, 0),
       Dev("0000:41:00.0", "hailo1", Family::kHailo8, 1),
       Dev("0000:42:00.0", "hailo2", Family::kHailo8, 1),
       Dev("0000:81:00.0", "hailo3", Family::kHailo8, 2),
       Dev("0000:82:00.0", "hailo4", Family::kHailo8, 2),
       Dev("0000:83:00.0", "hailo5", Family::kHailo8, 2)});
  EXPECT_THAT(Nodes(Choose({}, 5)), ElementsAre(1, 2));
  EXPECT_THAT(Nodes(Choose({}, 4)), SizeIs(2));
  EXPECT_THAT(Nodes(Choose({}, 4)), ::testing::Contains(2));
  EXPECT_THAT(Nodes(Choose({}, 3)), ElementsAre(2));
  EXPECT_THAT(Nodes(Choose({}, 6)), ElementsAre(0, 1, 2));
}

TEST_F(PreferredTest, DevicesWithoutNumaComeLastOnTies) {
  Use({Dev("0000:01:00.0", "hailo0"), Dev("0000:02:00.0", "hailo1"),
       Dev("0000:81:00.0", "hailo2", Family::kHailo8, 1),
       Dev("0000:82:00.0", "hailo3", Family::kHailo8, 1)});
  EXPECT_THAT(Nodes(Choose({}, 2)), ElementsAre(1));
  EXPECT_THAT(Nodes(Choose({"0000-01-00.0"}, 2)), ElementsAre(-1));
}

TEST_F(PreferredTest, SpreadsOverDistinctPhysicalDevicesFirst) {
  SharingMap sharing;
  sharing[Family::kHailo8].replicas = 4;
  Use({Dev("0000:01:00.0", "hailo0", Family::kHailo8, 0),
       Dev("0000:02:00.0", "hailo1", Family::kHailo8, 0),
       Dev("0000:03:00.0", "hailo2", Family::kHailo8, 0)},
      sharing);
  EXPECT_THAT(Physical(Choose({}, 2)), SizeIs(2));
  EXPECT_THAT(Physical(Choose({}, 3)), SizeIs(3));
  // Four: each device once, then one reused.
  EXPECT_THAT(Physical(Choose({}, 4)), SizeIs(3));
  // A must-include replica counts as a use of its device.
  std::vector<std::string> answer = Choose({"0000-02-00.0::3"}, 3);
  EXPECT_THAT(Physical(answer), SizeIs(3));
  // Lower replica numbers first: deterministic and easy to read.
  EXPECT_THAT(Choose({}, 3),
              ElementsAre("0000-01-00.0::0", "0000-02-00.0::0", "0000-03-00.0::0"));
}

TEST_F(PreferredTest, PrefersANodeWithEnoughDistinctDevicesOverASmallerOne) {
  // Node 0: one device (4 replicas); node 1: two devices (4 replicas each).
  // Two replicas fit on either node; only node 1 gives two distinct devices.
  SharingMap sharing;
  sharing[Family::kHailo8].replicas = 4;
  Use({Dev("0000:01:00.0", "hailo0", Family::kHailo8, 0),
       Dev("0000:81:00.0", "hailo1", Family::kHailo8, 1),
       Dev("0000:82:00.0", "hailo2", Family::kHailo8, 1)},
      sharing);
  std::vector<std::string> answer = Choose({}, 2);
  EXPECT_THAT(Nodes(answer), ElementsAre(1));
  EXPECT_THAT(Physical(answer), SizeIs(2));
  // One replica: the smallest node still wins (keeps node 1 free).
  EXPECT_THAT(Nodes(Choose({}, 1)), ElementsAre(0));
}

TEST_F(PreferredTest, SameInputSameAnswer) {
  Use(TwoNodes());
  std::vector<std::string> first = Choose({"0000-81-00.0"}, 3);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Choose({"0000-81-00.0"}, 3), first);
}

// The answer depends on the set of IDs, not on the order the kubelet lists
// them in (the kubelet builds its lists from maps).
TEST_F(PreferredTest, AnswerIsIndependentOfInputOrder) {
  SharingMap sharing;
  sharing[Family::kHailo8].replicas = 2;
  Use({Dev("0000:01:00.0", "hailo0", Family::kHailo8, 0),
       Dev("0000:02:00.0", "hailo1", Family::kHailo8, 0),
       Dev("0000:81:00.0", "hailo2", Family::kHailo8, 1),
       Dev("0000:82:00.0", "hailo3", Family::kHailo8, 1), Dev("0000:c1:00.0", "hailo4")},
      sharing);
  const std::vector<std::string> sorted = available_;
  struct Case {
    std::vector<std::string> must;
    int size;
  };
  const std::vector<Case> cases = {
      {{}, 1},
      {{}, 3},
      {{}, 7},
      {{"0000-82-00.0::1"}, 2},
      {{"0000-01-00.0::0", "0000-81-00.0::1"}, 3},
      {{"0000-01-00.0::0", "0000-81-00.0::1", "0000-c1-00.0::0"}, 4},
      {{"0000-c1-00.0::1", "0000-02-00.0::0"}, 5}};
  std::mt19937 rng(42);
  for (const Case& c : cases) {
    available_ = sorted;
    const std::vector<std::string> expected = Choose(c.must, c.size);
    for (int round = 0; round < 20; ++round) {
      std::shuffle(available_.begin(), available_.end(), rng);
      std::vector<std::string> must = c.must;
      std::shuffle(must.begin(), must.end(), rng);
      std::reverse(advertised_.begin(), advertised_.end());
      EXPECT_EQ(Choose(must, c.size), expected)
          << "size " << c.size << ", must " << Join(c.must, ",") << ", available "
          << Join(available_, ",");
    }
  }
}

TEST_F(PreferredTest, IdsUnknownToTheSnapshotAreStillChoosable) {
  // The kubelet may list an ID from an older snapshot; the answer must still
  // hold exactly `size` IDs from the available ones.
  Use(TwoNodes());
  available_.push_back("0000-99-00.0");
  Choose({"0000-99-00.0"}, 2);
  Choose({}, 6);
}

struct ImpossibleCase {
  std::string name;
  std::vector<std::string> available;
  std::vector<std::string> must;
  int size;
  std::string why;
};

void PrintTo(const ImpossibleCase& c, std::ostream* os) { *os << c.name; }

class ImpossiblePreferredTest : public ::testing::TestWithParam<ImpossibleCase> {};

TEST_P(ImpossiblePreferredTest, IsInvalidArgumentWithReason) {
  const ImpossibleCase& c = GetParam();
  std::vector<AdvertisedDevice> advertised = AdvertiseDevices(
      {Dev("0000:01:00.0", "hailo0"), Dev("0000:02:00.0", "hailo1")}, {});
  auto r = ChoosePreferredAllocation(c.available, c.must, c.size, advertised);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Str(r.status().message()), HasSubstr(c.why));
  EXPECT_LT(r.status().message().size(), 300u);
}

const std::vector<std::string> kTwo = {"0000-01-00.0", "0000-02-00.0"};

INSTANTIATE_TEST_SUITE_P(
    Table, ImpossiblePreferredTest,
    ::testing::Values(
        ImpossibleCase{"SizeZero", kTwo, {}, 0, "cannot choose 0 devices from 2"},
        ImpossibleCase{"SizeNegative", kTwo, {}, -1, "cannot choose -1"},
        ImpossibleCase{
            "SizeAboveAvailable", kTwo, {}, 3, "cannot choose 3 devices from 2"},
        ImpossibleCase{"NothingAvailable", {}, {}, 1, "cannot choose 1 devices from 0"},
        ImpossibleCase{"SizeBelowMustInclude", kTwo, kTwo, 1, "2 that must be included"},
        ImpossibleCase{"MustNotAvailable",
                       {"0000-01-00.0"},
                       {"0000-02-00.0"},
                       1,
                       "must-include device '0000-02-00.0' is not among the available"},
        ImpossibleCase{
            "HugeMustNotAvailable", kTwo, {std::string(10240, 'y')}, 1, "(10240 bytes)"},
        ImpossibleCase{"DuplicateAvailable",
                       {"0000-01-00.0", "0000-01-00.0"},
                       {},
                       1,
                       "available_deviceIDs lists '0000-01-00.0' twice"},
        ImpossibleCase{"DuplicateMustInclude",
                       kTwo,
                       {"0000-02-00.0", "0000-02-00.0"},
                       2,
                       "must_include_deviceIDs lists '0000-02-00.0' twice"}),
    [](const ::testing::TestParamInfo<ImpossibleCase>& info) { return info.param.name; });

TEST_F(PreferredTest, ManyReplicas) {
  // 8 devices x 64 replicas on two nodes: 512 IDs.
  SharingMap sharing;
  sharing[Family::kHailo8].replicas = 64;
  std::vector<Device> devices;
  for (int i = 0; i < 8; ++i) {
    devices.push_back(
        Dev(Cat("0000:0", i, ":00.0"), Cat("hailo", i), Family::kHailo8, i % 2));
  }
  Use(devices, sharing);
  ASSERT_THAT(available_, SizeIs(512));
  // NUMA locality first: eight replicas fit on one node (4 devices, twice).
  std::vector<std::string> answer = Choose({}, 8);
  EXPECT_THAT(Nodes(answer), ElementsAre(0));
  EXPECT_THAT(Physical(answer), SizeIs(4));
  answer = Choose({}, 4);
  EXPECT_THAT(Nodes(answer), SizeIs(1));
  EXPECT_THAT(Physical(answer), SizeIs(4));
  // More than a node holds: both nodes, every device.
  answer = Choose({}, 300);
  EXPECT_THAT(Nodes(answer), ElementsAre(0, 1));
  EXPECT_THAT(Physical(answer), SizeIs(8));
}

}  // namespace
}  // namespace hailo_dp
