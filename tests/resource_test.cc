#include "hailo_device_plugin/resource.h"

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

Device MakeDevice(std::string id, Family family) {
  Device d;
  d.id = std::move(id);
  d.family = family;
  d.healthy = true;
  return d;
}

std::vector<std::string> Ids(const std::vector<Device>& devices) {
  std::vector<std::string> out;
  for (const Device& d : devices) out.push_back(d.id);
  return out;
}

// --- ValidateResourceName -------------------------------------------------

struct NameCase {
  std::string name;
  bool ok;
  // A fragment the error must contain (for bad names).
  std::string why = "";
};

void PrintTo(const NameCase& c, std::ostream* os) { *os << "'" << c.name << "'"; }

class ValidateResourceNameTest : public ::testing::TestWithParam<NameCase> {};

TEST_P(ValidateResourceNameTest, AcceptsOrRefuses) {
  const NameCase& c = GetParam();
  absl::Status status = ValidateResourceName(c.name);
  if (c.ok) {
    EXPECT_TRUE(status.ok()) << c.name << ": " << Str(status.message());
    return;
  }
  ASSERT_FALSE(status.ok()) << c.name << " was accepted";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  const std::string message = Str(status.message());
  // The error names the offending input (bounded names only: the long one
  // is named in full too, it is under 100 bytes).
  EXPECT_THAT(message, HasSubstr(Cat("'", c.name, "'")));
  EXPECT_THAT(message, HasSubstr(c.why));
}

const std::string k63(63, 'a');
const std::string k64(64, 'a');

INSTANTIATE_TEST_SUITE_P(
    Table, ValidateResourceNameTest,
    ::testing::Values(NameCase{"hailo.ai/npu", true},
                      NameCase{"example.com/a.b-c_d", true},
                      NameCase{"hailo.ai/hailo10h", true}, NameCase{"a/b", true},
                      NameCase{"hailo.ai/NPU", true}, NameCase{"sub.example.com/x", true},
                      NameCase{Cat("hailo.ai/", k63), true},
                      NameCase{"npu", false, "domain/name"},
                      NameCase{"hailo.ai/npu/x", false, "domain/name"},
                      NameCase{"kubernetes.io/x", false, "reserved"},
                      NameCase{"foo.kubernetes.io/x", false, "reserved"},
                      // The kubelet refuses any name that contains "kubernetes.io/".
                      NameCase{"xkubernetes.io/x", false, "reserved"},
                      NameCase{"k8s.io/x", false, "reserved"},
                      NameCase{"foo.k8s.io/x", false, "reserved"},
                      NameCase{"Upper.case/x", false, "lower-case DNS domain"},
                      NameCase{"hailo.ai/", false, "1-63 characters"},
                      NameCase{"/npu", false, "lower-case DNS domain"},
                      NameCase{"", false, "domain/name"},
                      NameCase{Cat("hailo.ai/", k64), false, "1-63 characters"},
                      NameCase{"hailo.ai/-npu", false, "alphanumeric at both ends"},
                      NameCase{"hailo.ai/npu-", false, "alphanumeric at both ends"},
                      NameCase{"hailo.ai/n pu", false, "1-63 characters"},
                      NameCase{"-hailo.ai/npu", false, "lower-case DNS domain"},
                      NameCase{"hailo..ai/npu", false, "lower-case DNS domain"},
                      NameCase{"hailo_ai/npu", false, "lower-case DNS domain"}),
    [](const ::testing::TestParamInfo<NameCase>& info) {
      return Cat(info.param.ok ? "Good" : "Bad", info.index);
    });

TEST(ValidateResourceName, DomainTooLongForTheKubeletIsRefused) {
  // The kubelet checks "requests.<name>" as a qualified name, whose prefix
  // is a DNS subdomain of at most 253 characters.
  std::string domain;
  while (domain.size() < 240) domain += "abcdefghi.";
  domain += "io";  // 242 characters
  EXPECT_TRUE(ValidateResourceName(Cat(domain, "/x")).ok());
  std::string too_long = Cat("abcd", domain);  // 246 characters
  absl::Status status = ValidateResourceName(Cat(too_long, "/x"));
  EXPECT_FALSE(status.ok());
}

// --- CdiSpecFileName, CdiDeviceName, CdiKind --------------------------------

TEST(ResourceSpec, DefaultsAreHailoNpuOnHailoSock) {
  ResourceSpec spec;
  EXPECT_EQ(spec.resource_name, "hailo.ai/npu");
  EXPECT_EQ(spec.socket_name, "hailo.sock");
  EXPECT_FALSE(spec.family.has_value());
  EXPECT_EQ(spec.CdiKind(), "hailo.ai/npu");
}

TEST(ResourceSpec, CdiSpecFileNameReplacesTheSlash) {
  struct Case {
    std::string resource;
    std::string file;
  };
  for (const Case& c :
       std::vector<Case>{{"hailo.ai/npu", "hailo.ai-npu.json"},
                         {"hailo.ai/hailo10h", "hailo.ai-hailo10h.json"},
                         {"example.com/a.b-c_d", "example.com-a.b-c_d.json"}}) {
    ResourceSpec spec;
    spec.resource_name = c.resource;
    EXPECT_EQ(spec.CdiSpecFileName(), c.file) << c.resource;
  }
}

TEST(ResourceSpec, CdiDeviceNameIsKindEqualsName) {
  ResourceSpec spec;
  EXPECT_EQ(spec.CdiDeviceName("0000-03-00.0"), "hailo.ai/npu=0000-03-00.0");
  EXPECT_EQ(spec.CdiDeviceName("hailo0"), "hailo.ai/npu=hailo0");
  EXPECT_EQ(spec.CdiDeviceName("all"), "hailo.ai/npu=all");
  spec.resource_name = "hailo.ai/hailo8";
  EXPECT_EQ(spec.CdiDeviceName("h1x-0"), "hailo.ai/hailo8=h1x-0");
}

// --- Select -------------------------------------------------------------------

TEST(ResourceSpec, WithoutFamilySelectsEverythingInInputOrder) {
  std::vector<Device> devices = {MakeDevice("b", Family::kHailo10H),
                                 MakeDevice("a", Family::kHailo8),
                                 MakeDevice("c", Family::kHailo12L)};
  ResourceSpec spec;
  EXPECT_THAT(Ids(spec.Select(devices)), ElementsAre("b", "a", "c"));
  for (const Device& d : devices) EXPECT_TRUE(spec.Selects(d));
}

TEST(ResourceSpec, WithFamilySelectsOnlyThatFamily) {
  std::vector<Device> devices = {
      MakeDevice("d", Family::kHailo10H), MakeDevice("a", Family::kHailo8),
      MakeDevice("c", Family::kHailo10H), MakeDevice("b", Family::kHailo15L)};
  ResourceSpec spec;
  spec.family = Family::kHailo10H;
  EXPECT_THAT(Ids(spec.Select(devices)), ElementsAre("d", "c"));
  spec.family = Family::kHailo12L;
  EXPECT_THAT(spec.Select(devices), IsEmpty());
  EXPECT_THAT(spec.Select({}), IsEmpty());
}

// --- PerFamilyResources -----------------------------------------------------------

TEST(PerFamilyResources, OneResourcePerFamilyInTheBaseDomain) {
  std::vector<ResourceSpec> specs = PerFamilyResources("hailo.ai/npu");
  ASSERT_EQ(specs.size(), AllFamilies().size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const Family family = AllFamilies()[i];
    const std::string name(FamilyName(family));
    EXPECT_EQ(specs[i].resource_name, "hailo.ai/" + name);
    EXPECT_EQ(specs[i].socket_name, name + ".sock");
    ASSERT_TRUE(specs[i].family.has_value());
    EXPECT_EQ(*specs[i].family, family);
    EXPECT_TRUE(ValidateResourceName(specs[i].resource_name).ok())
        << specs[i].resource_name;
    EXPECT_EQ(specs[i].CdiSpecFileName(), "hailo.ai-" + name + ".json");
  }
}

TEST(PerFamilyResources, TakesTheDomainOfAnotherBase) {
  std::vector<ResourceSpec> specs = PerFamilyResources("example.com/accel");
  ASSERT_FALSE(specs.empty());
  EXPECT_EQ(specs[0].resource_name, "example.com/hailo8");
  EXPECT_EQ(specs[0].socket_name, "hailo8.sock");
}

TEST(PerFamilyResources, SocketsAndNamesAreDistinct) {
  std::vector<ResourceSpec> specs = PerFamilyResources("hailo.ai/npu");
  for (size_t i = 0; i < specs.size(); ++i) {
    for (size_t j = i + 1; j < specs.size(); ++j) {
      EXPECT_NE(specs[i].resource_name, specs[j].resource_name);
      EXPECT_NE(specs[i].socket_name, specs[j].socket_name);
      EXPECT_NE(specs[i].socket_name, kDefaultSocketName);
    }
  }
}

}  // namespace
}  // namespace hailo_dp
