#include "hailo_device_plugin/config_loader.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

using Flags = std::map<std::string, std::string>;
using Env = std::map<std::string, std::string>;

// An EnvLookup over a map; the map must outlive the lookup.
EnvLookup LookupIn(const Env& env) {
  return [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
}

class ConfigLoaderTest : public ::testing::Test {
 protected:
  ConfigLoaderTest() {
    const char* tmp = std::getenv("TMPDIR");
    dir_ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hdp-config.XXXXXX";
    if (::mkdtemp(dir_.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << dir_ << ": " << std::strerror(errno);
    }
  }
  ~ConfigLoaderTest() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  // Writes the config file and returns its path.
  std::string File(const std::string& yaml, const std::string& name = "config.yaml") {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << yaml;
    return path;
  }
  absl::StatusOr<LoadedConfig> Load(const Flags& flags, const Env& env = {}) {
    return LoadConfig(flags, LookupIn(env));
  }
  LoadedConfig LoadOk(const Flags& flags, const Env& env = {}) {
    auto loaded = Load(flags, env);
    EXPECT_TRUE(loaded.ok()) << Str(loaded.status().message());
    return loaded.ok() ? *loaded : LoadedConfig{};
  }
  // Loads and expects an INVALID_ARGUMENT error holding every fragment.
  void ExpectError(const Flags& flags, const Env& env,
                   const std::vector<std::string>& fragments) {
    auto loaded = Load(flags, env);
    ASSERT_FALSE(loaded.ok()) << "accepted; flags: " << flags.size();
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message = Str(loaded.status().message());
    for (const std::string& f : fragments) EXPECT_THAT(message, HasSubstr(f));
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  }
  void ExpectFileError(const std::string& yaml,
                       const std::vector<std::string>& fragments) {
    const std::string path = File(yaml);
    std::vector<std::string> all = fragments;
    all.push_back(path);
    SCOPED_TRACE(yaml);
    ExpectError({{"config", path}}, {}, all);
  }

  std::string dir_;
};

// --- Settings table --------------------------------------------------------------

TEST(Settings, EveryKeyHasFlagEnvAndDefault) {
  std::set<std::string> keys, flags, envs;
  for (const SettingInfo& s : Settings()) {
    EXPECT_TRUE(keys.insert(s.key).second) << s.key;
    EXPECT_TRUE(flags.insert(s.flag).second) << s.flag;
    EXPECT_TRUE(envs.insert(s.env).second) << s.env;
    std::string expected_env = "HAILO_DP_";
    for (char c : s.flag)
      expected_env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    EXPECT_EQ(s.env, expected_env);
    EXPECT_FALSE(s.help.empty()) << s.key;
  }
  for (const char* key :
       {"kubeletDir", "cdiDir", "resourceName", "socketName", "resourceStrategy",
        "rescanInterval", "allocationModes", "sysRoot", "devRoot", "logLevel",
        "logFormat", "httpAddress", "nfdFeaturesFile"}) {
    EXPECT_TRUE(keys.count(key)) << key;
  }
}

TEST(Settings, DefaultsMatchTheConfigStruct) {
  std::map<std::string, std::string> defaults;
  for (const SettingInfo& s : Settings()) defaults[s.key] = s.default_value;
  EXPECT_EQ(defaults["kubeletDir"], "/var/lib/kubelet/device-plugins");
  EXPECT_EQ(defaults["cdiDir"], "/var/run/cdi");
  EXPECT_EQ(defaults["resourceName"], "hailo.ai/npu");
  EXPECT_EQ(defaults["socketName"], "hailo.sock");
  EXPECT_EQ(defaults["resourceStrategy"], "single");
  EXPECT_EQ(defaults["rescanInterval"], "30s");
  EXPECT_EQ(defaults["allocationModes"], "cdi-cri");
  EXPECT_EQ(defaults["sysRoot"], "/sys");
  EXPECT_EQ(defaults["devRoot"], "/dev");
  EXPECT_EQ(defaults["logLevel"], "info");
  EXPECT_EQ(defaults["logFormat"], "text");
  EXPECT_EQ(defaults["httpAddress"], ":8080");
  EXPECT_EQ(defaults["nfdFeaturesFile"], "");
}

// --- Defaults and precedence -------------------------------------------------------

TEST_F(ConfigLoaderTest, NothingGivenIsAllDefaults) {
  LoadedConfig loaded = LoadOk({});
  const Config defaults;
  EXPECT_EQ(loaded.config.kubelet_dir, defaults.kubelet_dir);
  EXPECT_EQ(loaded.config.rescan_interval, milliseconds(30000));
  EXPECT_EQ(loaded.config.allocation_modes, kModeCdiCri);
  EXPECT_TRUE(loaded.config.sharing.empty());
  EXPECT_TRUE(loaded.config.config_file.empty());
  for (const SettingInfo& s : Settings())
    EXPECT_EQ(loaded.origins.at(s.key), "default") << s.key;
  EXPECT_EQ(loaded.origins.at("sharing"), "default");
}

struct PrecedenceCase {
  std::string key;
  std::string flag_value, env_value, file_value;
  std::function<std::string(const Config&)> get;
};

TEST_F(ConfigLoaderTest, FlagOverEnvOverFileOverDefault) {
  const std::vector<PrecedenceCase> cases = {
      {"rescanInterval", "5s", "2m", "500ms",
       [](const Config& c) { return std::to_string(c.rescan_interval.count()); }},
      {"logLevel", "debug", "warn", "error", [](const Config& c) { return c.log_level; }},
      {"resourceName", "a.example/x", "b.example/y", "c.example/z",
       [](const Config& c) { return c.resource_name; }},
      {"cdiDir", "/flag/cdi", "/env/cdi", "/file/cdi",
       [](const Config& c) { return c.cdi_dir; }},
      {"allocationModes", "device-specs", "cdi-annotations", "cdi-cri,device-specs",
       [](const Config& c) { return AllocationModesToString(c.allocation_modes); }},
      {"httpAddress", "127.0.0.1:9", "", ":9100",
       [](const Config& c) { return c.http_address; }},
  };
  for (const PrecedenceCase& c : cases) {
    SCOPED_TRACE(c.key);
    const SettingInfo* info = nullptr;
    for (const SettingInfo& s : Settings()) {
      if (s.key == c.key) info = &s;
    }
    ASSERT_NE(info, nullptr);
    const std::string file = File(Cat(c.key, ": \"", c.file_value, "\"\n"));
    auto expect = [&](const Flags& flags, const Env& env, const std::string& origin,
                      const std::string& flag_value) {
      LoadedConfig loaded = LoadOk(flags, env);
      EXPECT_EQ(loaded.origins.at(c.key), origin);
      Flags only;
      only[info->flag] = flag_value;
      EXPECT_EQ(c.get(loaded.config), c.get(LoadOk(only).config)) << origin;
    };
    const Flags with_flag = {{"config", file}, {info->flag, c.flag_value}};
    const Env with_env = {{info->env, c.env_value}};
    expect(with_flag, with_env, "flag", c.flag_value);
    expect({{"config", file}}, with_env, "env", c.env_value);
    expect({{"config", file}}, {}, "file", c.file_value);
    expect({}, {}, "default", info->default_value);
  }
}

TEST_F(ConfigLoaderTest, OriginsAreReportedPerKey) {
  const std::string file = File("logFormat: json\nsharing:\n  hailo8: {replicas: 2}\n");
  LoadedConfig loaded =
      LoadOk({{"config", file}, {"log-level", "debug"}}, {{"HAILO_DP_CDI_DIR", "/x"}});
  EXPECT_EQ(loaded.origins.at("logLevel"), "flag");
  EXPECT_EQ(loaded.origins.at("cdiDir"), "env");
  EXPECT_EQ(loaded.origins.at("logFormat"), "file");
  EXPECT_EQ(loaded.origins.at("sharing"), "file");
  EXPECT_EQ(loaded.origins.at("kubeletDir"), "default");
  EXPECT_EQ(loaded.config.config_file, file);
  EXPECT_EQ(loaded.config.sharing.at(Family::kHailo8).replicas, 2);
}

TEST_F(ConfigLoaderTest, ConfigFileFromEnvAndFlagWins) {
  const std::string a = File("logLevel: warn\n", "a.yaml");
  const std::string b = File("logLevel: error\n", "b.yaml");
  EXPECT_EQ(LoadOk({}, {{"HAILO_DP_CONFIG", a}}).config.log_level, "warn");
  EXPECT_EQ(LoadOk({{"config", b}}, {{"HAILO_DP_CONFIG", a}}).config.log_level, "error");
  EXPECT_EQ(LoadOk({}, {{"HAILO_DP_CONFIG", ""}}).config.log_level, "info")
      << "empty: none";
}

TEST_F(ConfigLoaderTest, EmptyEnvValueCounts) {
  // An empty HAILO_DP_HTTP_ADDRESS turns the HTTP endpoint off.
  LoadedConfig loaded = LoadOk({}, {{"HAILO_DP_HTTP_ADDRESS", ""}});
  EXPECT_EQ(loaded.config.http_address, "");
  EXPECT_EQ(loaded.origins.at("httpAddress"), "env");
}

TEST_F(ConfigLoaderTest, EveryFileKeyIsRead) {
  const std::string file = File(R"(version: v1
kubeletDir: /k
cdiDir: /c
resourceName: example.com/accel
socketName: accel.sock
resourceStrategy: per-family
rescanInterval: 1m
allocationModes: [cdi-cri, cdi-annotations]
sysRoot: /host/sys
devRoot: /host/dev
logLevel: trace
logFormat: json
httpAddress: ""
nfdFeaturesFile: /etc/kubernetes/node-feature-discovery/features.d/hailo
sharing:
  hailo10h: {replicas: 4, flavour: direct, failRequestsGreaterThanOne: true}
  hailo8: {replicas: 2, flavour: service, serviceSocket: /run/hailort.sock}
)");
  LoadedConfig loaded = LoadOk({{"config", file}});
  const Config& c = loaded.config;
  EXPECT_EQ(c.kubelet_dir, "/k");
  EXPECT_EQ(c.cdi_dir, "/c");
  EXPECT_EQ(c.resource_name, "example.com/accel");
  EXPECT_EQ(c.socket_name, "accel.sock");
  EXPECT_EQ(c.resource_strategy, ResourceStrategy::kPerFamily);
  EXPECT_EQ(c.rescan_interval, milliseconds(60000));
  EXPECT_EQ(c.allocation_modes, kModeCdiCri | kModeCdiAnnotations);
  EXPECT_EQ(c.sys_root, "/host/sys");
  EXPECT_EQ(c.dev_root, "/host/dev");
  EXPECT_EQ(c.log_level, "trace");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.http_address, "");
  EXPECT_EQ(c.nfd_features_file,
            "/etc/kubernetes/node-feature-discovery/features.d/hailo");
  ASSERT_EQ(c.sharing.size(), 2u);
  const SharingPolicy& h10 = c.sharing.at(Family::kHailo10H);
  EXPECT_EQ(h10.replicas, 4);
  EXPECT_EQ(h10.flavour, SharingFlavour::kDirect);
  EXPECT_TRUE(h10.fail_requests_greater_than_one);
  const SharingPolicy& h8 = c.sharing.at(Family::kHailo8);
  EXPECT_EQ(h8.replicas, 2);
  EXPECT_EQ(h8.flavour, SharingFlavour::kService);
  EXPECT_EQ(h8.service_socket, "/run/hailort.sock");
  EXPECT_FALSE(h8.fail_requests_greater_than_one);
  for (const SettingInfo& s : Settings())
    EXPECT_EQ(loaded.origins.at(s.key), "file") << s.key;
}

TEST_F(ConfigLoaderTest, EmptyFileAndCommentsOnlyAreDefaults) {
  EXPECT_EQ(LoadOk({{"config", File("")}}).config.log_level, "info");
  EXPECT_EQ(LoadOk({{"config", File("# nothing\n")}}).config.log_level, "info");
}

// --- File errors: path, key and reason ------------------------------------------------

TEST_F(ConfigLoaderTest, UnknownKey) {
  ExpectFileError("logLevel: info\nbogusKey: 1\n", {"'bogusKey'", "unknown key"});
  ExpectFileError("rescan-interval: 1s\n", {"'rescan-interval'", "unknown key"});
}

TEST_F(ConfigLoaderTest, WrongType) {
  ExpectFileError("rescanInterval: {a: 1}\n",
                  {"'rescanInterval'", "expected a single value"});
  ExpectFileError("logLevel: [info, debug]\n", {"'logLevel'", "expected a single value"});
  ExpectFileError("cdiDir: {}\n", {"'cdiDir'", "expected a single value"});
}

TEST_F(ConfigLoaderTest, BadDurationInFile) {
  for (const char* value : {"abc", "0s", "-1s", "10", "1.5s", "10 s", "s"}) {
    ExpectFileError(Cat("rescanInterval: \"", value, "\"\n"),
                    {"'rescanInterval'", Cat("bad duration '", value, "'")});
  }
}

TEST_F(ConfigLoaderTest, BadResourceNameInFile) {
  ExpectFileError("resourceName: npu\n", {"'resourceName'", "domain/name"});
  ExpectFileError("resourceName: kubernetes.io/npu\n", {"'resourceName'", "reserved"});
}

TEST_F(ConfigLoaderTest, ResourceNameMustBeAValidCdiKind) {
  // Valid extended resource names that CDI (v0.5, Debian 12's podman)
  // refuses as a kind: the runtime would fail every container.
  ExpectFileError("resourceName: example.com/a.b\n",
                  {"'resourceName'", "CDI class 'a.b'"});
  ExpectFileError("resourceName: example.com/8l\n", {"'resourceName'", "CDI class '8l'"});
  ExpectFileError("resourceName: 1x.example/npu\n",
                  {"'resourceName'", "CDI vendor '1x.example'"});
  EXPECT_EQ(LoadOk({{"resource-name", "example.com/Hailo_NPU-2"}}).config.resource_name,
            "example.com/Hailo_NPU-2");
}

TEST_F(ConfigLoaderTest, UnknownAllocationMode) {
  ExpectFileError("allocationModes: cdi-cri,nope\n", {"'allocationModes'", "'nope'"});
  ExpectFileError("allocationModes: [cdi-cri, nope]\n", {"'allocationModes'", "'nope'"});
  ExpectFileError("allocationModes: \"\"\n", {"'allocationModes'", "no allocation mode"});
}

TEST_F(ConfigLoaderTest, BadEnumValues) {
  ExpectFileError("logLevel: verbose\n", {"'logLevel'", "'verbose' is not one of"});
  ExpectFileError("logFormat: xml\n", {"'logFormat'", "'xml' is not one of"});
  ExpectFileError("resourceStrategy: many\n",
                  {"'resourceStrategy'", "'many' is not one of"});
  ExpectFileError("socketName: a/b.sock\n", {"'socketName'", "plain file name"});
  ExpectFileError("kubeletDir: \"\"\n", {"'kubeletDir'", "must not be empty"});
}

TEST_F(ConfigLoaderTest, InvalidYamlNamesTheLine) {
  ExpectFileError("logLevel: info\ncdiDir: [unclosed\n", {"not valid YAML", "line "});
  const std::string path = File("logLevel: info\nlogFormat: text\n  bad: indentation\n");
  auto loaded = Load({{"config", path}});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(Str(loaded.status().message()), HasSubstr(path));
  EXPECT_THAT(Str(loaded.status().message()), HasSubstr("line 3"));
}

TEST_F(ConfigLoaderTest, NotAMap) {
  ExpectFileError("- a\n- b\n", {"not a YAML map"});
  ExpectFileError("just text\n", {"not a YAML map"});
}

TEST_F(ConfigLoaderTest, UnknownVersion) {
  ExpectFileError("version: v2\n", {"'version'", "only version 'v1'"});
  ExpectFileError("version: [v1]\n", {"'version'", "only version 'v1'"});
  EXPECT_TRUE(Load({{"config", File("version: v1\n")}}).ok());
}

TEST_F(ConfigLoaderTest, MissingFileNamesPathAndCause) {
  const std::string path = dir_ + "/missing.yaml";
  ExpectError({{"config", path}}, {}, {path, std::strerror(ENOENT)});
}

struct SharingErrorCase {
  std::string yaml;
  std::vector<std::string> fragments;
};

TEST_F(ConfigLoaderTest, BadSharing) {
  const std::vector<SharingErrorCase> cases = {
      {"sharing:\n  hailo9: {replicas: 2}\n", {"unknown family 'hailo9'"}},
      {"sharing:\n  hailo8: {replicas: 0}\n", {"hailo8.replicas", "'0'", "1 to 64"}},
      {"sharing:\n  hailo8: {replicas: 65}\n", {"hailo8.replicas", "'65'"}},
      {"sharing:\n  hailo8: {replicas: x}\n", {"hailo8.replicas", "'x'"}},
      {"sharing:\n  hailo8: {replicas: 2.5}\n", {"hailo8.replicas", "'2.5'"}},
      {"sharing:\n  hailo8: {replicas: -1}\n", {"hailo8.replicas", "'-1'"}},
      {"sharing:\n  hailo8: {replicas: [2]}\n", {"hailo8.replicas"}},
      {"sharing:\n  hailo10h: {replicas: 2, flavour: shared}\n",
       {"hailo10h.flavour", "'shared' is not one of: direct, service"}},
      {"sharing:\n  hailo10h: {replicas: 2, colour: red}\n",
       {"hailo10h.colour", "unknown key"}},
      {"sharing:\n  hailo8: {serviceSocket: relative.sock}\n",
       {"hailo8.serviceSocket", "absolute path"}},
      {"sharing:\n  hailo8: {failRequestsGreaterThanOne: maybe}\n",
       {"hailo8.failRequestsGreaterThanOne", "true or false"}},
      {"sharing:\n  hailo8: 2\n", {"hailo8", "expected a map"}},
      {"sharing: [hailo8]\n", {"expected a map of families"}},
  };
  for (const SharingErrorCase& c : cases) {
    std::vector<std::string> fragments = c.fragments;
    fragments.push_back("'sharing'");
    ExpectFileError(c.yaml, fragments);
  }
}

TEST_F(ConfigLoaderTest, SharingBoundsAndFlavourSpelling) {
  auto load = [&](const std::string& yaml) {
    return LoadOk({{"config", File(yaml)}}).config;
  };
  EXPECT_EQ(
      load("sharing:\n  hailo8: {replicas: 1}\n").sharing.at(Family::kHailo8).replicas,
      1);
  EXPECT_EQ(
      load("sharing:\n  hailo8: {replicas: 64}\n").sharing.at(Family::kHailo8).replicas,
      64);
  EXPECT_EQ(load("sharing:\n  hailo8: {replicas: 2, flavor: service}\n")
                .sharing.at(Family::kHailo8)
                .flavour,
            SharingFlavour::kService);
  EXPECT_TRUE(load("sharing:\n").sharing.empty());
  EXPECT_TRUE(load("sharing: {}\n").sharing.empty());
}

// --- Flag and env errors name their source ---------------------------------------------

TEST_F(ConfigLoaderTest, FlagErrorsNameTheFlag) {
  ExpectError({{"rescan-interval", "abc"}}, {},
              {"--rescan-interval", "bad duration 'abc'"});
  ExpectError({{"log-level", "loud"}}, {}, {"--log-level", "'loud'"});
  ExpectError({{"allocation-modes", "x"}}, {}, {"--allocation-modes", "'x'"});
  ExpectError({{"resource-name", "npu"}}, {}, {"--resource-name", "domain/name"});
  ExpectError({{"cdi-dir", ""}}, {}, {"--cdi-dir", "must not be empty"});
}

TEST_F(ConfigLoaderTest, EnvErrorsNameTheVariable) {
  ExpectError({}, {{"HAILO_DP_RESCAN_INTERVAL", "0s"}},
              {"HAILO_DP_RESCAN_INTERVAL", "bad duration '0s'"});
  ExpectError({}, {{"HAILO_DP_LOG_FORMAT", "xml"}}, {"HAILO_DP_LOG_FORMAT", "'xml'"});
  ExpectError({}, {{"HAILO_DP_RESOURCE_NAME", "k8s.io/x"}},
              {"HAILO_DP_RESOURCE_NAME", "reserved"});
}

TEST_F(ConfigLoaderTest, AFileValueOverriddenByAFlagIsNotUsed) {
  // Only the winning source of a key is parsed: the file's value is not
  // used, so it does not fail the load.
  const std::string file = File("logLevel: loud\n");
  LoadedConfig loaded = LoadOk({{"config", file}, {"log-level", "debug"}});
  EXPECT_EQ(loaded.config.log_level, "debug");
}

// --- RenderConfig ---------------------------------------------------------------------

TEST_F(ConfigLoaderTest, RenderListsEveryKeyWithItsOrigin) {
  const std::string file = File("logFormat: json\nsharing:\n  hailo8: {replicas: 2}\n");
  LoadedConfig loaded = LoadOk({{"config", file}, {"log-level", "debug"}},
                               {{"HAILO_DP_CDI_DIR", "/env/cdi"}});
  const std::string text = RenderConfig(loaded);
  EXPECT_THAT(text, HasSubstr("version: v1\n"));
  for (const SettingInfo& s : Settings()) {
    EXPECT_THAT(text, HasSubstr(Cat("\n", s.key, ": "))) << s.key;
  }
  EXPECT_THAT(text, HasSubstr("logLevel: debug  # from flag\n"));
  EXPECT_THAT(text, HasSubstr("cdiDir: /env/cdi  # from env\n"));
  EXPECT_THAT(text, HasSubstr("logFormat: json  # from file\n"));
  EXPECT_THAT(text,
              HasSubstr("kubeletDir: /var/lib/kubelet/device-plugins  # from default\n"));
  EXPECT_THAT(text, HasSubstr("rescanInterval: 30s  # from default\n"));
  EXPECT_THAT(text, HasSubstr("sharing: {hailo8: {replicas: 2"));
  EXPECT_THAT(text, HasSubstr("  # from file\n"));
  // One line per key, plus version and sharing.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'),
            static_cast<long>(Settings().size()) + 2);
}

TEST_F(ConfigLoaderTest, RenderedConfigLoadsBackToTheSameConfig) {
  const std::string file = File(R"(resourceName: example.com/accel
rescanInterval: 1500ms
allocationModes: device-specs,cdi-cri
httpAddress: ""
nfdFeaturesFile: "/a b/c: d, {e}"
sharing:
  hailo8: {replicas: 3, flavour: service, serviceSocket: "/run/x, y}.sock", failRequestsGreaterThanOne: true}
  hailo15l: {replicas: 64}
)");
  LoadedConfig first = LoadOk({{"config", file}, {"log-level", "warn"}});
  const std::string rendered = File(RenderConfig(first), "rendered.yaml");
  LoadedConfig second = LoadOk({{"config", rendered}});
  const Config& a = first.config;
  const Config& b = second.config;
  EXPECT_EQ(b.resource_name, a.resource_name);
  EXPECT_EQ(b.rescan_interval, a.rescan_interval);
  EXPECT_EQ(b.allocation_modes, a.allocation_modes);
  EXPECT_EQ(b.http_address, a.http_address);
  EXPECT_EQ(b.nfd_features_file, a.nfd_features_file);
  EXPECT_EQ(b.log_level, "warn");
  EXPECT_EQ(b.kubelet_dir, a.kubelet_dir);
  ASSERT_EQ(b.sharing.size(), a.sharing.size());
  for (const auto& [family, policy] : a.sharing) {
    const SharingPolicy& other = b.sharing.at(family);
    EXPECT_EQ(other.replicas, policy.replicas);
    EXPECT_EQ(other.flavour, policy.flavour);
    EXPECT_EQ(other.service_socket, policy.service_socket);
    EXPECT_EQ(other.fail_requests_greater_than_one,
              policy.fail_requests_greater_than_one);
  }
  EXPECT_EQ(RenderConfig(second).substr(0, 20), RenderConfig(first).substr(0, 20));
}

// --- ParseDuration
// ----------------------------------------------------------------------

struct DurationCase {
  std::string text;
  long long ms;  // -1: invalid
};

void PrintTo(const DurationCase& c, std::ostream* os) { *os << "'" << c.text << "'"; }

class ParseDurationTest : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationTest, Parses) {
  const DurationCase& c = GetParam();
  absl::StatusOr<milliseconds> d = ParseDuration(c.text);
  if (c.ms < 0) {
    ASSERT_FALSE(d.ok()) << c.text << " -> " << d->count();
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Str(d.status().message()), HasSubstr(Cat("bad duration '", c.text, "'")));
    return;
  }
  ASSERT_TRUE(d.ok()) << c.text << ": " << Str(d.status().message());
  EXPECT_EQ(d->count(), c.ms);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseDurationTest,
    ::testing::Values(
        DurationCase{"1ms", 1}, DurationCase{"500ms", 500}, DurationCase{"30s", 30000},
        DurationCase{"1s", 1000}, DurationCase{"1m", 60000}, DurationCase{"90m", 5400000},
        DurationCase{"1h", 3600000}, DurationCase{"24h", 86400000},
        DurationCase{"abc", -1}, DurationCase{"", -1}, DurationCase{"0s", -1},
        DurationCase{"0ms", -1}, DurationCase{"-1s", -1}, DurationCase{"10", -1},
        DurationCase{"s", -1}, DurationCase{"ms", -1}, DurationCase{"1.5s", -1},
        DurationCase{" 1s", -1}, DurationCase{"1s ", -1}, DurationCase{"+1s", -1},
        DurationCase{"1d", -1}, DurationCase{"1S", -1}, DurationCase{"1sm", -1},
        DurationCase{"1h30m", -1}, DurationCase{"99999999999999999999s", -1},
        DurationCase{"9223372036854775807ms", -1}));

}  // namespace
}  // namespace hailo_dp
