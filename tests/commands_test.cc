#include "hailo_device_plugin/commands.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hailo_device_plugin/cdi_spec.h"
#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/config_loader.h"
#include "hailo_device_plugin/strings.h"
#include "testing/fake_host_tree.h"
#include "testing/temp_dir.h"

namespace hailo_dp {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using testing::FakeDevice;
using testing::FakeHostTree;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Layout;
using ::testing::Not;
using ::testing::StartsWith;

namespace fs = std::filesystem;
using testing::Slurp;
using testing::TempDir;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// --- DevicesToJson / DevicesToTable ---------------------------------------------------

Device Healthy(std::string pci_address, std::string node) {
  Device d;
  d.id = DeviceIdFromPciAddress(pci_address);
  d.pci_address = std::move(pci_address);
  d.family = Family::kHailo10H;
  d.class_name = "hailo1x";
  d.node_name = std::move(node);
  d.driver = "hailo1x_pci";
  d.driver_version = "5.3.0";
  d.numa_node = 1;
  d.healthy = true;
  return d;
}

Device FailedProbe(std::string pci_address) {
  Device d;
  d.id = DeviceIdFromPciAddress(pci_address);
  d.pci_address = std::move(pci_address);
  d.family = Family::kHailo8;
  d.healthy = false;
  d.reason = "no driver bound: the device failed to probe";
  return d;
}

TEST(DevicesToJson, FieldsAsDocumented) {
  const std::string text =
      DevicesToJson({Healthy("0001:01:00.0", "h1x-0"), FailedProbe("0000:03:00.0")});
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  json out = json::parse(text);
  ASSERT_TRUE(out.is_array());
  ASSERT_EQ(out.size(), 2u);
  const std::set<std::string> kKeys = {"id",        "pci_address", "device_node",
                                       "family",    "driver",      "driver_version",
                                       "numa_node", "health",      "reason"};
  for (const json& d : out) {
    std::set<std::string> keys;
    for (const auto& [key, value] : d.items()) keys.insert(key);
    EXPECT_EQ(keys, kKeys);
    EXPECT_EQ(d.at("health") == "Unhealthy", !d.at("reason").get<std::string>().empty());
  }
  // Sorted by ID, whatever the input order.
  const json& failed = out[0];
  EXPECT_EQ(failed.at("id"), "0000-03-00.0");
  EXPECT_EQ(failed.at("pci_address"), "0000:03:00.0");
  EXPECT_TRUE(failed.at("device_node").is_null());
  EXPECT_EQ(failed.at("family"), "hailo8");
  EXPECT_TRUE(failed.at("driver").is_null());
  EXPECT_TRUE(failed.at("driver_version").is_null());
  EXPECT_TRUE(failed.at("numa_node").is_null());
  EXPECT_EQ(failed.at("health"), "Unhealthy");
  EXPECT_EQ(failed.at("reason"), "no driver bound: the device failed to probe");

  const json& healthy = out[1];
  EXPECT_EQ(healthy.at("id"), "0001-01-00.0");
  EXPECT_EQ(healthy.at("device_node"), "/dev/h1x-0");
  EXPECT_EQ(healthy.at("family"), "hailo10h");
  EXPECT_EQ(healthy.at("driver"), "hailo1x_pci");
  EXPECT_EQ(healthy.at("driver_version"), "5.3.0");
  EXPECT_TRUE(healthy.at("numa_node").is_number_integer());
  EXPECT_EQ(healthy.at("numa_node"), 1);
  EXPECT_EQ(healthy.at("health"), "Healthy");
  EXPECT_EQ(healthy.at("reason"), "");
}

TEST(DevicesToJson, DriverWithoutVersionAndNumaZero) {
  Device d = Healthy("0000:03:00.0", "hailo0");
  d.driver_version.reset();
  d.numa_node = 0;
  json out = json::parse(DevicesToJson({d}));
  EXPECT_EQ(out[0].at("driver"), "hailo1x_pci");
  EXPECT_TRUE(out[0].at("driver_version").is_null());
  EXPECT_EQ(out[0].at("numa_node"), 0) << "node 0 is a node, not null";
}

TEST(DevicesToJson, NoDevicesIsAnEmptyArray) {
  EXPECT_EQ(json::parse(DevicesToJson({})), json::array());
}

TEST(DevicesToTable, EmptySaysWhereItLooked) {
  const std::string text = DevicesToTable({}, HostRoots{"/host/sys", "/host/dev"});
  EXPECT_THAT(text, HasSubstr("No Hailo device found"));
  EXPECT_THAT(text, HasSubstr("/host/sys/bus/pci/devices"));
  EXPECT_THAT(text, HasSubstr("/host/dev"));
  EXPECT_THAT(text, HasSubstr("0x1e60"));
  EXPECT_EQ(Lines(text).size(), 1u);
}

TEST(DevicesToTable, OneRowPerDeviceSortedById) {
  Device long_reason = FailedProbe("0000:05:00.0");
  long_reason.reason = std::string(600, 'r') + " end";
  const std::string text = DevicesToTable(
      {Healthy("0001:01:00.0", "h1x-0"), long_reason, FailedProbe("0000:03:00.0")}, {});
  std::vector<std::string> lines = Lines(text);
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_THAT(lines[0], StartsWith("ID "));
  for (const char* column : {"PCI ADDRESS", "NODE", "FAMILY", "DRIVER", "VERSION", "NUMA",
                             "HEALTH", "REASON"}) {
    EXPECT_THAT(lines[0], HasSubstr(column));
  }
  EXPECT_THAT(lines[1], StartsWith("0000-03-00.0 "));
  EXPECT_THAT(lines[1], HasSubstr("Unhealthy"));
  EXPECT_THAT(lines[1], HasSubstr(" - "));
  EXPECT_THAT(lines[2], StartsWith("0000-05-00.0 "));
  EXPECT_THAT(lines[2], HasSubstr(long_reason.reason)) << "a long reason is not cut";
  EXPECT_THAT(lines[3], StartsWith("0001-01-00.0 "));
  EXPECT_THAT(lines[3], HasSubstr("/dev/h1x-0"));
  EXPECT_THAT(lines[3], HasSubstr("hailo10h"));
  EXPECT_THAT(lines[3], HasSubstr("5.3.0"));
  EXPECT_THAT(lines[3], HasSubstr("Healthy"));
}

// --- The binary -----------------------------------------------------------------------

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs the real binary with a clean environment plus `env` ("A=1 B=2").
class BinaryTest : public ::testing::Test {
 protected:
  RunResult Run(const std::vector<std::string>& args,
                const std::vector<std::string>& env = {},
                const std::string& shell_prefix = "") {
    std::string command = shell_prefix + "env -i";
    for (const std::string& e : env) command += " " + Quote(e);
    command += " " + Quote(HDP_BINARY);
    for (const std::string& a : args) command += " " + Quote(a);
    const std::string out = dir_.path() + "/stdout";
    const std::string err = dir_.path() + "/stderr";
    command += Cat(" >", Quote(out), " 2>", Quote(err));
    const int status = std::system(command.c_str());
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = Slurp(out);
    result.err = Slurp(err);
    fs::remove(out);
    fs::remove(err);
    return result;
  }
  // The bad-usage contract: exit 2, one line on stderr naming `what`.
  void ExpectUsageError(const std::vector<std::string>& args, const std::string& what,
                        const std::vector<std::string>& env = {}) {
    SCOPED_TRACE(Join(args, " "));
    RunResult r = Run(args, env);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
    EXPECT_THAT(r.err, HasSubstr(what));
    EXPECT_EQ(r.out, "");
  }

  TempDir dir_;
};

class DiscoverTest : public BinaryTest {
 protected:
  void SetUp() override {
    tree_.AddDevice(
        {.pci_address = "0000:03:00.0", .layout = Layout::kHailoPci423, .numa_node = 0});
    tree_.AddDevice({.pci_address = "0001:01:00.0",
                     .family = Family::kHailo10H,
                     .layout = Layout::kHailo1x53,
                     .minor = 2});
    tree_.AddDevice({.pci_address = "0000:02:00.0", .probed = false});
    if (!tree_.can_make_nodes())
      GTEST_SKIP() << "mknod is not permitted here (not root?)";
  }
  std::vector<std::string> Roots() const {
    return {"--sys-root", tree_.sys_root(), "--dev-root", tree_.dev_root()};
  }
  FakeHostTree tree_;
};

TEST_F(DiscoverTest, JsonOutput) {
  std::vector<std::string> args = {"discover", "--output", "json"};
  for (const std::string& a : Roots()) args.push_back(a);
  RunResult r = Run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json out = json::parse(r.out);
  ASSERT_EQ(out.size(), 3u) << r.out;
  EXPECT_EQ(out[0].at("id"), "0000-02-00.0");
  EXPECT_EQ(out[0].at("health"), "Unhealthy");
  EXPECT_TRUE(out[0].at("device_node").is_null());
  EXPECT_TRUE(out[0].at("driver").is_null());
  EXPECT_THAT(out[0].at("reason").get<std::string>(), Not(IsEmpty()));

  EXPECT_EQ(out[1].at("id"), "0000-03-00.0");
  EXPECT_EQ(out[1].at("pci_address"), "0000:03:00.0");
  EXPECT_EQ(out[1].at("device_node"), "/dev/hailo0") << "a host path, not under the root";
  EXPECT_EQ(out[1].at("family"), "hailo8");
  EXPECT_EQ(out[1].at("driver"), "hailo_pci");
  EXPECT_EQ(out[1].at("driver_version"), "4.23.0");
  EXPECT_EQ(out[1].at("numa_node"), 0);
  EXPECT_EQ(out[1].at("health"), "Healthy");
  EXPECT_EQ(out[1].at("reason"), "");

  EXPECT_EQ(out[2].at("id"), "0001-01-00.0");
  EXPECT_EQ(out[2].at("device_node"), "/dev/h1x-2");
  EXPECT_EQ(out[2].at("family"), "hailo10h");
  EXPECT_EQ(out[2].at("driver"), "hailo1x_pci");
  EXPECT_EQ(out[2].at("driver_version"), "5.3.0");
  EXPECT_TRUE(out[2].at("numa_node").is_null());
  EXPECT_EQ(out[2].at("health"), "Healthy");
}

TEST_F(DiscoverTest, TableOutputIsTheDefault) {
  std::vector<std::string> args = {"discover"};
  for (const std::string& a : Roots()) args.push_back(a);
  RunResult r = Run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_THAT(lines[0], StartsWith("ID "));
  EXPECT_THAT(lines[1], StartsWith("0000-02-00.0"));
  EXPECT_THAT(lines[2], StartsWith("0000-03-00.0"));
  EXPECT_THAT(lines[3], StartsWith("0001-01-00.0"));
}

TEST_F(BinaryTest, DiscoverOnAnEmptyTree) {
  FakeHostTree tree;
  RunResult r =
      Run({"discover", "--sys-root", tree.sys_root(), "--dev-root", tree.dev_root()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("No Hailo device found"));
  EXPECT_THAT(r.out, HasSubstr(tree.sys_root() + "/bus/pci/devices"));
  EXPECT_THAT(r.out, HasSubstr(tree.dev_root()));
  RunResult j = Run({"discover", "--output", "json", "--sys-root", tree.sys_root(),
                     "--dev-root", tree.dev_root()});
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_EQ(json::parse(j.out), json::array());
}

TEST_F(DiscoverTest, CdiGenerateToAFile) {
  const std::string file = dir_.path() + "/cdi/hailo.ai-npu.json";
  fs::create_directories(dir_.path() + "/cdi");
  std::vector<std::string> args = {"cdi", "generate", "--output", file};
  for (const std::string& a : Roots()) args.push_back(a);
  // A strict umask must not change the file's mode.
  RunResult r = Run(args, {}, "umask 077; ");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("wrote " + file));
  EXPECT_THAT(r.err, HasSubstr("3 device(s)"));

  // The same spec the library builds from a scan of the tree.
  DeviceSource source(tree_.roots());
  const std::string expected = SerializeCdiSpec(BuildCdiSpec(
      source.Scan().devices, {"hailo.ai/npu", ExistingClassDirs(tree_.sys_root())}));
  EXPECT_EQ(Slurp(file), expected);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir_.path() + "/cdi")) {
    entries.push_back(e.path().filename().string());
  }
  EXPECT_THAT(entries, ElementsAre("hailo.ai-npu.json")) << "no temporary file left";

  // Again: unchanged, the file is not replaced.
  const ino_t inode = st.st_ino;
  r = Run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("unchanged " + file));
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_ino, inode);
}

TEST_F(DiscoverTest, CdiGenerateToStdout) {
  std::vector<std::string> args = {"cdi", "generate", "--resource-name",
                                   "hailo.ai/hailo8"};
  for (const std::string& a : Roots()) args.push_back(a);
  RunResult r = Run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json spec = json::parse(r.out);
  EXPECT_EQ(spec.at("cdiVersion"), "0.5.0");
  EXPECT_EQ(spec.at("kind"), "hailo.ai/hailo8");
  std::vector<std::string> names;
  for (const json& d : spec.at("devices")) names.push_back(d.at("name"));
  EXPECT_THAT(names,
              ElementsAre("0000-03-00.0", "hailo0", "0001-01-00.0", "h1x-2", "all"));
  EXPECT_EQ(r.out.find(tree_.root()), std::string::npos) << "host paths only";
  // "-" is stdout too.
  args.push_back("--output");
  args.push_back("-");
  EXPECT_EQ(Run(args).out, r.out);
}

TEST_F(BinaryTest, CdiGenerateWithoutDevicesWritesNothing) {
  FakeHostTree tree;
  const std::string file = dir_.path() + "/spec.json";
  RunResult r = Run({"cdi", "generate", "--output", file, "--sys-root", tree.sys_root(),
                     "--dev-root", tree.dev_root()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no Hailo device with a device node"));
  EXPECT_THAT(r.err, HasSubstr("nothing written"));
  EXPECT_FALSE(fs::exists(file));
  r = Run(
      {"cdi", "generate", "--sys-root", tree.sys_root(), "--dev-root", tree.dev_root()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
}

TEST_F(BinaryTest, CdiGenerateFailureNamesThePath) {
  FakeHostTree tree;
  tree.AddDevice({.pci_address = "0000:03:00.0"});
  std::ofstream(dir_.path() + "/file") << "in the way";
  const std::string file = dir_.path() + "/file/spec.json";
  RunResult r = Run({"cdi", "generate", "--output", file, "--sys-root", tree.sys_root(),
                     "--dev-root", tree.dev_root()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(file));
  EXPECT_THAT(r.err, HasSubstr(std::strerror(ENOTDIR)));
}

TEST_F(BinaryTest, CdiGenerateRefusesABadResourceName) {
  FakeHostTree tree;
  ExpectUsageError(
      {"cdi", "generate", "--resource-name", "npu", "--sys-root", tree.sys_root()},
      "--resource-name");
}

TEST_F(BinaryTest, Version) {
  RunResult r = Run({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, Cat("hailo-device-plugin ", HDP_VERSION, "\n"));
  r = Run({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr(HDP_VERSION));
  EXPECT_EQ(Lines(r.out).size(), 1u);
}

// Every flag of a command is listed in its --help with its default.
struct HelpCase {
  std::vector<std::string> command;
  // flag -> default as shown ("" for a flag without default)
  std::vector<std::pair<std::string, std::string>> flags;
};

std::vector<std::pair<std::string, std::string>> SettingFlags() {
  std::vector<std::pair<std::string, std::string>> flags = {{"--config", ""}};
  for (const SettingInfo& s : Settings()) {
    flags.emplace_back("--" + s.flag, s.default_value.empty() ? "\"\"" : s.default_value);
  }
  return flags;
}

TEST_F(BinaryTest, HelpListsEveryFlagWithItsDefault) {
  const std::vector<std::pair<std::string, std::string>> roots = {{"--sys-root", "/sys"},
                                                                  {"--dev-root", "/dev"}};
  std::vector<HelpCase> cases = {
      {{}, SettingFlags()},
      {{"serve"}, SettingFlags()},
      {{"config", "print"}, SettingFlags()},
      {{"discover"}, {{"--output", "table"}}},
      {{"cdi", "generate"}, {{"--output", "-"}, {"--resource-name", "hailo.ai/npu"}}},
  };
  for (size_t i = 3; i < cases.size(); ++i) {
    cases[i].flags.insert(cases[i].flags.end(), roots.begin(), roots.end());
  }
  for (const HelpCase& c : cases) {
    std::vector<std::string> args = c.command;
    args.push_back("--help");
    SCOPED_TRACE(Join(args, " "));
    RunResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, HasSubstr("Usage: hailo-device-plugin"));
    for (const auto& [flag, default_value] : c.flags) {
      // "  --flag TYPE=default" (CLI11's layout); without default: "--flag TYPE".
      const size_t at = r.out.find("  " + flag + " ");
      ASSERT_NE(at, std::string::npos) << flag << " missing in:\n" << r.out;
      const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
      if (default_value.empty()) {
        EXPECT_EQ(line.find('='), std::string::npos) << line;
      } else {
        EXPECT_THAT(line, HasSubstr("=" + default_value)) << line;
      }
    }
  }
}

TEST_F(BinaryTest, UnknownFlagIsExit2WithOneLine) {
  ExpectUsageError({"--bogus"}, "--bogus");
  ExpectUsageError({"discover", "--bogus"}, "--bogus");
  ExpectUsageError({"cdi", "generate", "--bogus"}, "--bogus");
  ExpectUsageError({"config", "print", "--bogus"}, "--bogus");
  ExpectUsageError({"serve", "--frobnicate=1"}, "--frobnicate");
}

TEST_F(BinaryTest, BadValueIsExit2NamingTheFlag) {
  ExpectUsageError({"config", "print", "--rescan-interval", "abc"}, "--rescan-interval");
  ExpectUsageError({"config", "print", "--log-level", "loud"}, "--log-level");
  ExpectUsageError({"config", "print", "--allocation-modes", "cdi"},
                   "--allocation-modes");
  ExpectUsageError({"discover", "--output", "xml"}, "--output");
  ExpectUsageError({"config", "print"}, "HAILO_DP_RESCAN_INTERVAL",
                   {"HAILO_DP_RESCAN_INTERVAL=0s"});
}

TEST_F(BinaryTest, MissingSubcommandIsExit2) {
  RunResult r = Run({"cdi"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  r = Run({"config"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(BinaryTest, ConfigPrintShowsOrigins) {
  const std::string file = dir_.path() + "/config.yaml";
  std::ofstream(file)
      << "logFormat: json\nrescanInterval: 10s\nsharing:\n  hailo10h: {replicas: 2}\n";
  RunResult r = Run({"config", "print", "--config", file, "--log-level", "debug",
                     "--rescan-interval", "5s"},
                    {"HAILO_DP_CDI_DIR=/env/cdi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("logLevel: debug  # from flag\n"));
  EXPECT_THAT(r.out, HasSubstr("rescanInterval: 5s  # from flag\n"));
  EXPECT_THAT(r.out, HasSubstr("cdiDir: /env/cdi  # from env\n"));
  EXPECT_THAT(r.out, HasSubstr("logFormat: json  # from file\n"));
  EXPECT_THAT(r.out, HasSubstr("socketName: hailo.sock  # from default\n"));
  EXPECT_THAT(r.out, HasSubstr("sharing: {hailo10h: {replicas: 2"));
  for (const SettingInfo& s : Settings())
    EXPECT_THAT(r.out, HasSubstr("\n" + s.key + ": "));

  // The config file can come from the environment too.
  r = Run({"config", "print"}, {"HAILO_DP_CONFIG=" + file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("logFormat: json  # from file\n"));
}

TEST_F(BinaryTest, ConfigPrintNamesABadFile) {
  const std::string file = dir_.path() + "/config.yaml";
  std::ofstream(file) << "logLevel: loud\n";
  RunResult r = Run({"config", "print", "--config", file});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr(file));
  EXPECT_THAT(r.err, HasSubstr("logLevel"));
}

}  // namespace
}  // namespace hailo_dp
