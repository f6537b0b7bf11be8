#include "hailo_device_plugin/cdi_spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/device_source.h"
#include "hailo_device_plugin/strings.h"
#include "testing/fake_host_tree.h"
#include "testing/temp_dir.h"

namespace hailo_dp {
namespace {

using testing::Slurp;
using testing::TempDir;

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::FakeDevice;
using testing::FakeHostTree;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Layout;
using ::testing::UnorderedElementsAreArray;

namespace fs = std::filesystem;

const std::string kGoldenDir = std::string(HDP_SOURCE_DIR) + "/tests/golden";
const std::string kValidator =
    std::string(HDP_SOURCE_DIR) + "/tests/validate_cdi_schema.py";

// --- Devices for the goldens ----------------------------------------------------

Device Dev(std::string pci_address, std::string class_name, std::string node,
           Family family = Family::kHailo8) {
  Device d;
  d.id = DeviceIdFromPciAddress(pci_address);
  d.pci_address = std::move(pci_address);
  d.family = family;
  d.class_name = std::move(class_name);
  d.node_name = std::move(node);
  d.driver = "hailo_pci";
  d.driver_version = "4.20.0";
  d.numa_node = 0;
  d.healthy = true;
  return d;
}

Device Hailo8() { return Dev("0000:03:00.0", "hailo_chardev", "hailo0"); }

Device Hailo10H53() {
  Device d = Dev("0001:01:00.0", "hailo1x", "h1x-0", Family::kHailo10H);
  d.driver = "hailo1x_pci";
  d.driver_version = "5.3.0";
  return d;
}

Device NotProbed() {
  Device d = Dev("0000:05:00.0", "", "");
  d.driver.reset();
  d.driver_version.reset();
  d.healthy = false;
  d.reason = "no driver bound";
  return d;
}

struct GoldenCase {
  std::string name;  // tests/golden/<name>.json
  std::vector<Device> devices;
  std::vector<std::string> class_dirs;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.name; }

std::vector<GoldenCase> GoldenCases() {
  Device unhealthy = Dev("0000:04:00.0", "hailo_chardev", "hailo1");
  unhealthy.healthy = false;
  unhealthy.reason = "PCI link speed is Unknown";
  Device second = Dev("0000:02:00.0", "hailo_chardev", "hailo2");
  return {
      {"cdi_one_hailo8", {Hailo8()}, {"hailo_chardev"}},
      // Input order must not matter: the spec is sorted by ID.
      {"cdi_mixed_host", {Hailo10H53(), Hailo8(), second}, {"hailo_chardev", "hailo1x"}},
      {"cdi_unhealthy", {unhealthy, Hailo8()}, {"hailo_chardev"}},
      {"cdi_device_without_node", {NotProbed(), Hailo8()}, {"hailo_chardev"}},
      {"cdi_no_devices", {}, {}},
      // The driver is loaded but has no device: the empty class is masked.
      {"cdi_no_devices_class_present", {}, {"hailo1x"}},
      {"cdi_only_unhealthy", {unhealthy}, {"hailo_chardev"}},
  };
}

// --- Helpers --------------------------------------------------------------------

void WriteAll(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  ASSERT_TRUE(out.good()) << "write " << path;
}

bool UpdateGolden() {
  const char* v = std::getenv("UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

// Runs the schema validator on `files`; the result is ok or the validator's
// output. A missing python3 or jsonschema is a failure, not a skip: `make
// test` installs them.
::testing::AssertionResult ValidateAgainstSchema(const std::vector<std::string>& files) {
  std::string command = Cat("python3 '", kValidator, "' '", HDP_CDI_SCHEMA_DIR, "'");
  for (const std::string& f : files) command += Cat(" '", f, "'");
  command += " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return ::testing::AssertionFailure()
           << "cannot run: " << command << ": " << std::strerror(errno);
  }
  std::string output;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  const int status = ::pclose(pipe);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) return ::testing::AssertionSuccess();
  if (code == 127) {
    return ::testing::AssertionFailure()
           << "python3 is missing (install python3 and python3-jsonschema: "
              "scripts/install-deps.sh test): "
           << output;
  }
  if (code == 3) {
    return ::testing::AssertionFailure()
           << "schema validation could not run (install python3-jsonschema: "
              "scripts/install-deps.sh test): "
           << output;
  }
  return ::testing::AssertionFailure()
         << "CDI schema validation failed (exit " << code << "):\n"
         << output;
}

// Every string value in `j`, with the key it was found under (recursively).
void CollectKeys(const json& j, std::set<std::string>* keys) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      keys->insert(key);
      CollectKeys(value, keys);
    }
  } else if (j.is_array()) {
    for (const json& v : j) CollectKeys(v, keys);
  }
}

// The CDI rules the JSON schema does not check (DESIGN.md §5; CDI's own
// validation in container-device-interface pkg/cdi and pkg/parser).
void ExpectCdiRules(const json& spec, const std::vector<Device>& devices,
                    const std::vector<std::string>& class_dirs,
                    const std::string& kind = "hailo.ai/npu") {
  SCOPED_TRACE(spec.dump(2));
  EXPECT_EQ(spec.at("cdiVersion"), "0.5.0");
  EXPECT_EQ(spec.at("kind"), kind);
  std::set<std::string> keys;
  CollectKeys(spec, &keys);
  EXPECT_FALSE(keys.count("annotations")) << "annotations need cdiVersion 0.6.0";

  // Device names: unique and of the CDI syntax.
  static const std::regex kName("^[a-zA-Z0-9][a-zA-Z0-9_.:-]*$");
  std::set<std::string> names;
  for (const json& device : spec.at("devices")) {
    const std::string name = device.at("name");
    EXPECT_TRUE(std::regex_match(name, kName)) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate device name " << name;
    const json& edits = device.at("containerEdits");
    ASSERT_FALSE(edits.value("deviceNodes", json::array()).empty())
        << name << ": a CDI device must have edits";
    for (const json& node : edits.at("deviceNodes")) {
      EXPECT_EQ(node.at("path"), node.at("hostPath")) << name;
      EXPECT_EQ(node.at("permissions"), "rw") << name;
      EXPECT_THAT(node.at("path").get<std::string>(), ::testing::StartsWith("/dev/"));
      for (const char* forbidden : {"major", "minor", "type", "uid", "gid"}) {
        EXPECT_FALSE(node.contains(forbidden)) << name << " has " << forbidden;
      }
    }
    // One read-only bind of the class entry per device node, inside a
    // masked class directory.
    ASSERT_EQ(edits.at("mounts").size(), edits.at("deviceNodes").size()) << name;
    for (const json& mount : edits.at("mounts")) {
      const std::string host = mount.at("hostPath");
      EXPECT_EQ(mount.at("containerPath"), host);
      const auto options = mount.at("options").get<std::vector<std::string>>();
      EXPECT_THAT(options, ::testing::Contains("ro")) << host;
      EXPECT_THAT(options, ::testing::Contains("rbind")) << host;
      EXPECT_FALSE(mount.contains("type") && mount.at("type") == "tmpfs");
      const std::string dir = fs::path(host).parent_path().string();
      EXPECT_THAT(class_dirs, ::testing::Contains(fs::path(dir).filename().string()))
          << host << " is not inside a masked class directory";
      EXPECT_EQ(dir.rfind("/sys/class/", 0), 0u) << host;
    }
  }

  // Each device with a node: an entry by ID and one by node name.
  std::set<std::string> expected_names;
  std::vector<std::string> healthy_nodes;
  for (const Device& d : devices) {
    if (!d.HasNode()) continue;
    expected_names.insert(d.id);
    expected_names.insert(d.node_name);
    if (d.healthy) healthy_nodes.push_back(d.HostNodePath());
  }
  if (!healthy_nodes.empty()) expected_names.insert("all");
  EXPECT_EQ(names, expected_names);
  for (const json& device : spec.at("devices")) {
    if (device.at("name") != "all") continue;
    std::vector<std::string> paths;
    for (const json& node : device.at("containerEdits").at("deviceNodes")) {
      paths.push_back(node.at("path"));
    }
    EXPECT_THAT(paths, UnorderedElementsAreArray(healthy_nodes));
  }

  // A tmpfs over each class directory present, and nothing else.
  std::set<std::string> masked;
  if (spec.contains("containerEdits")) {
    const json& edits = spec.at("containerEdits");
    EXPECT_FALSE(edits.contains("deviceNodes"));
    for (const json& mount : edits.at("mounts")) {
      EXPECT_EQ(mount.at("type"), "tmpfs");
      EXPECT_EQ(mount.at("hostPath"), "tmpfs");
      masked.insert(mount.at("containerPath"));
    }
  }
  std::set<std::string> expected_masks;
  for (const std::string& dir : class_dirs) expected_masks.insert("/sys/class/" + dir);
  EXPECT_EQ(masked, expected_masks);
}

// --- Goldens --------------------------------------------------------------------

class CdiGoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(CdiGoldenTest, MatchesGoldenFollowsRulesAndSchema) {
  const GoldenCase& c = GetParam();
  const std::string golden = Cat(kGoldenDir, "/", c.name, ".json");
  const std::string actual =
      SerializeCdiSpec(BuildCdiSpec(c.devices, {"hailo.ai/npu", c.class_dirs}));
  if (UpdateGolden()) {
    fs::create_directories(kGoldenDir);
    WriteAll(golden, actual);
    std::cerr << "UPDATE_GOLDEN=1: wrote " << golden << "\n";
  }
  ASSERT_TRUE(fs::exists(golden)) << golden << " is missing: run with UPDATE_GOLDEN=1";
  EXPECT_EQ(actual, Slurp(golden)) << "the spec differs from " << golden
                                   << " (if the change is intended, regenerate with "
                                      "UPDATE_GOLDEN=1 and review the diff)";
  ExpectCdiRules(json::parse(actual), c.devices, c.class_dirs);
  EXPECT_TRUE(ValidateAgainstSchema({golden}));
}

INSTANTIATE_TEST_SUITE_P(Goldens, CdiGoldenTest, ::testing::ValuesIn(GoldenCases()),
                         [](const ::testing::TestParamInfo<GoldenCase>& info) {
                           return info.param.name;
                         });

TEST(CdiSpec, SerializedIsPrettyWithFinalNewline) {
  std::string text = SerializeCdiSpec(BuildCdiSpec({Hailo8()}, {"hailo.ai/npu", {}}));
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find("\n\n"), std::string::npos);
  EXPECT_THAT(text, HasSubstr("\n  \"cdiVersion\": \"0.5.0\""));
}

TEST(CdiSpec, DeterministicAndIndependentOfInputOrder) {
  std::vector<Device> devices = {Hailo10H53(), Hailo8(), NotProbed(),
                                 Dev("0000:02:00.0", "hailo_chardev", "hailo2")};
  const CdiSpecOptions options{"hailo.ai/npu", {"hailo1x", "hailo_chardev", "hailo1x"}};
  const std::string first = SerializeCdiSpec(BuildCdiSpec(devices, options));
  std::reverse(devices.begin(), devices.end());
  EXPECT_EQ(SerializeCdiSpec(BuildCdiSpec(devices, options)), first);
  std::swap(devices[0], devices[2]);
  EXPECT_EQ(SerializeCdiSpec(BuildCdiSpec(devices, options)), first);
}

TEST(CdiSpec, DuplicateClassDirsAreMaskedOnce) {
  json spec =
      BuildCdiSpec({Hailo8()}, {"hailo.ai/npu", {"hailo_chardev", "hailo_chardev"}});
  EXPECT_EQ(spec.at("containerEdits").at("mounts").size(), 1u);
}

TEST(CdiSpec, KindComesFromTheOptions) {
  json spec = BuildCdiSpec({Hailo10H53()}, {"hailo.ai/hailo10h", {"hailo1x"}});
  ExpectCdiRules(spec, {Hailo10H53()}, {"hailo1x"}, "hailo.ai/hailo10h");
}

TEST(CdiSpec, EntriesOfOneDevice) {
  json spec = BuildCdiSpec({Hailo10H53()}, {"hailo.ai/npu", {"hailo1x"}});
  ASSERT_EQ(spec.at("devices").size(), 3u);
  const json& by_id = spec.at("devices")[0];
  EXPECT_EQ(by_id.at("name"), "0001-01-00.0");
  EXPECT_EQ(by_id.at("containerEdits").at("deviceNodes"),
            json::parse(
                R"([{"path":"/dev/h1x-0","hostPath":"/dev/h1x-0","permissions":"rw"}])"));
  EXPECT_EQ(by_id.at("containerEdits").at("mounts")[0].at("hostPath"),
            "/sys/class/hailo1x/h1x-0");
  EXPECT_EQ(spec.at("devices")[1].at("name"), "h1x-0");
  EXPECT_EQ(spec.at("devices")[1].at("containerEdits"), by_id.at("containerEdits"));
  EXPECT_EQ(spec.at("devices")[2].at("name"), "all");
  EXPECT_EQ(spec.at("devices")[2].at("containerEdits"), by_id.at("containerEdits"));
}

// --- Specs generated from fake host trees -----------------------------------------

struct TreeCase {
  std::string name;
  std::vector<FakeDevice> devices;
};

void PrintTo(const TreeCase& c, std::ostream* os) { *os << c.name; }

std::vector<TreeCase> TreeCases() {
  return {
      {"HailoPci422", {{.pci_address = "0000:03:00.0", .layout = Layout::kHailoPci422}}},
      {"HailoPci423",
       {{.pci_address = "0000:03:00.0", .layout = Layout::kHailoPci423, .numa_node = 0},
        {.pci_address = "0000:04:00.0", .layout = Layout::kHailoPci423, .minor = 1}}},
      {"Hailo1x52",
       {{.pci_address = "0001:01:00.0",
         .family = Family::kHailo10H,
         .layout = Layout::kHailo1x52}}},
      {"Hailo1x53",
       {{.pci_address = "0001:01:00.0",
         .family = Family::kHailo10H,
         .layout = Layout::kHailo1x53},
        {.pci_address = "0002:01:00.0",
         .family = Family::kHailo15L,
         .layout = Layout::kHailo1x53,
         .minor = 3}}},
      {"MixedWithUnprobed",
       {{.pci_address = "0000:03:00.0", .layout = Layout::kHailoPci423},
        {.pci_address = "0000:04:00.0",
         .family = Family::kHailo10H,
         .layout = Layout::kHailo1x53},
        {.pci_address = "0000:05:00.0", .probed = false}}},
  };
}

class CdiTreeTest : public ::testing::TestWithParam<TreeCase> {};

TEST_P(CdiTreeTest, SpecFromAScanFollowsRulesAndSchema) {
  FakeHostTree tree;
  for (const FakeDevice& d : GetParam().devices) tree.AddDevice(d);
  if (!tree.can_make_nodes()) GTEST_SKIP() << "mknod is not permitted here (not root?)";
  DeviceSource source(tree.roots());
  std::vector<Device> devices = source.Scan().devices;
  ASSERT_EQ(devices.size(), GetParam().devices.size());
  const std::vector<std::string> class_dirs = ExistingClassDirs(tree.sys_root());
  json spec = BuildCdiSpec(devices, {"hailo.ai/npu", class_dirs});
  ExpectCdiRules(spec, devices, class_dirs);
  // Host paths, whatever root was scanned.
  EXPECT_EQ(spec.dump().find(tree.root()), std::string::npos);

  TempDir dir;
  const std::string file = dir.path() + "/hailo.ai-npu.json";
  WriteAll(file, SerializeCdiSpec(spec));
  EXPECT_TRUE(ValidateAgainstSchema({file}));
}

INSTANTIATE_TEST_SUITE_P(Layouts, CdiTreeTest, ::testing::ValuesIn(TreeCases()),
                         [](const ::testing::TestParamInfo<TreeCase>& info) {
                           return info.param.name;
                         });

// --- The validator itself -----------------------------------------------------------

TEST(CdiSchemaValidator, RejectsAnInvalidSpec) {
  TempDir dir;
  const std::string file = dir.path() + "/bad.json";
  // A device without containerEdits and a node with a string major.
  WriteAll(file, R"({"cdiVersion": "0.5.0", "kind": "hailo.ai/npu", "devices": [
      {"name": "a"},
      {"name": "b", "containerEdits": {"deviceNodes": [{"path": "/dev/x", "major": "1"}]}}]})");
  ::testing::AssertionResult result = ValidateAgainstSchema({file});
  ASSERT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("containerEdits"));
  EXPECT_THAT(result.message(), HasSubstr("major"));
}

TEST(CdiSchemaValidator, RequiresDefsJsonThroughTheRelativeRef) {
  // A mount without containerPath is only caught through defs.json.
  TempDir dir;
  const std::string file = dir.path() + "/bad.json";
  WriteAll(file, R"({"cdiVersion": "0.5.0", "kind": "hailo.ai/npu", "devices": [
      {"name": "a", "containerEdits": {"mounts": [{"hostPath": "/x"}]}}]})");
  ::testing::AssertionResult result = ValidateAgainstSchema({file});
  ASSERT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("containerPath"));
}

}  // namespace
}  // namespace hailo_dp
