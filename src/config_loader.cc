#include "hailo_device_plugin/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

#include "hailo_device_plugin/atomic_file.h"
#include "hailo_device_plugin/config_sharing.h"
#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

using Setter = std::function<absl::Status(Config&, const std::string&)>;
using Getter = std::function<std::string(const Config&)>;

struct Setting {
  SettingInfo info;
  Setter set;
  Getter get;
};

Setting StringSetting(SettingInfo info, std::string Config::*member) {
  return {std::move(info),
          [member](Config& c, const std::string& v) {
            c.*member = v;
            return absl::OkStatus();
          },
          [member](const Config& c) { return c.*member; }};
}

Setting NonEmptySetting(SettingInfo info, std::string Config::*member) {
  Setting s = StringSetting(std::move(info), member);
  s.set = [member](Config& c, const std::string& v) {
    if (v.empty()) return absl::InvalidArgumentError("must not be empty");
    c.*member = v;
    return absl::OkStatus();
  };
  return s;
}

// The resource name is also the CDI kind, "<vendor>/<class>". CDI up to
// v0.5 (Debian 12's podman) wants a vendor that starts with a letter and a
// class of letters, digits, '-' and '_' that starts with a letter; a name
// it refuses would only fail later, at container creation.
absl::Status CheckCdiKind(const std::string& name) {
  const std::string vendor = name.substr(0, name.find('/'));
  const std::string cls = name.substr(name.find('/') + 1);
  auto letter = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; };
  auto class_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
  };
  if (vendor.empty() || !letter(vendor.front())) {
    return absl::InvalidArgumentError(Cat("resource name '", name, "': the CDI vendor '",
                                          vendor, "' must start with a letter"));
  }
  if (cls.empty() || !letter(cls.front()) ||
      !std::all_of(cls.begin(), cls.end(), class_char)) {
    return absl::InvalidArgumentError(
        Cat("resource name '", name, "': the CDI class '", cls,
            "' must start with a letter and hold only letters, digits, '-' and '_'"));
  }
  return absl::OkStatus();
}

absl::Status OneOf(const std::string& v, const std::set<std::string>& allowed) {
  if (allowed.count(v)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      Cat("'", v, "' is not one of: ", Join(allowed, ", ")));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return Cat(d.count() / 1000, "s");
  return Cat(d.count(), "ms");
}

std::vector<Setting> BuildSettings() {
  std::vector<Setting> s;
  s.push_back(NonEmptySetting(
      {"kubeletDir", "kubelet-dir", "", "kubelet device-plugin directory", ""},
      &Config::kubelet_dir));
  s.push_back(NonEmptySetting(
      {"cdiDir", "cdi-dir", "", "directory for the generated CDI specs", ""},
      &Config::cdi_dir));
  s.push_back(
      {{"resourceName", "resource-name", "", "extended resource to advertise", ""},
       [](Config& c, const std::string& v) {
         if (absl::Status st = ValidateResourceName(v); !st.ok()) return st;
         if (absl::Status st = CheckCdiKind(v); !st.ok()) return st;
         c.resource_name = v;
         return absl::OkStatus();
       },
       [](const Config& c) { return c.resource_name; }});
  s.push_back(
      {{"socketName", "socket-name", "", "socket file name in the kubelet directory", ""},
       [](Config& c, const std::string& v) {
         if (v.empty() || v.find('/') != std::string::npos) {
           return absl::InvalidArgumentError("must be a plain file name");
         }
         c.socket_name = v;
         return absl::OkStatus();
       },
       [](const Config& c) { return c.socket_name; }});
  s.push_back({{"resourceStrategy", "resource-strategy", "",
                "single (one resource) or per-family (one per Hailo family)", ""},
               [](Config& c, const std::string& v) {
                 if (absl::Status st = OneOf(v, {"single", "per-family"}); !st.ok())
                   return st;
                 c.resource_strategy = v == "single" ? ResourceStrategy::kSingle
                                                     : ResourceStrategy::kPerFamily;
                 return absl::OkStatus();
               },
               [](const Config& c) {
                 return std::string(c.resource_strategy == ResourceStrategy::kSingle
                                        ? "single"
                                        : "per-family");
               }});
  s.push_back({{"rescanInterval", "rescan-interval", "", "periodic rescan interval", ""},
               [](Config& c, const std::string& v) {
                 auto d = ParseDuration(v);
                 if (!d.ok()) return d.status();
                 c.rescan_interval = *d;
                 return absl::OkStatus();
               },
               [](const Config& c) { return FormatDuration(c.rescan_interval); }});
  s.push_back(
      {{"allocationModes", "allocation-modes", "",
        "comma-separated: cdi-cri, cdi-annotations, device-specs", ""},
       [](Config& c, const std::string& v) {
         auto m = ParseAllocationModes(v);
         if (!m.ok()) return m.status();
         c.allocation_modes = *m;
         return absl::OkStatus();
       },
       [](const Config& c) { return AllocationModesToString(c.allocation_modes); }});
  s.push_back(
      NonEmptySetting({"sysRoot", "sys-root", "", "where the host's /sys is seen", ""},
                      &Config::sys_root));
  s.push_back(
      NonEmptySetting({"devRoot", "dev-root", "", "where the host's /dev is seen", ""},
                      &Config::dev_root));
  s.push_back({{"logLevel", "log-level", "", "trace, debug, info, warn, error", ""},
               [](Config& c, const std::string& v) {
                 if (absl::Status st =
                         OneOf(v, {"trace", "debug", "info", "warn", "error"});
                     !st.ok()) {
                   return st;
                 }
                 c.log_level = v;
                 return absl::OkStatus();
               },
               [](const Config& c) { return c.log_level; }});
  s.push_back({{"logFormat", "log-format", "", "text or json", ""},
               [](Config& c, const std::string& v) {
                 if (absl::Status st = OneOf(v, {"text", "json"}); !st.ok()) return st;
                 c.log_format = v;
                 return absl::OkStatus();
               },
               [](const Config& c) { return c.log_format; }});
  s.push_back(
      StringSetting({"httpAddress", "http-address", "",
                     "address of /metrics, /healthz, /readyz; empty disables", ""},
                    &Config::http_address));
  s.push_back(
      StringSetting({"nfdFeaturesFile", "nfd-features-file", "",
                     "node-feature-discovery feature file to keep; empty disables", ""},
                    &Config::nfd_features_file));
  Config defaults;
  for (Setting& setting : s) {
    std::string env = setting.info.flag;
    for (char& ch : env) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    setting.info.env = "HAILO_DP_" + env;
    setting.info.default_value = setting.get(defaults);
  }
  return s;
}

const std::vector<Setting>& AllSettings() {
  static const std::vector<Setting> settings = BuildSettings();
  return settings;
}

absl::Status Annotate(const absl::Status& status, std::string_view where,
                      std::string_view key) {
  return absl::InvalidArgumentError(Cat(where, ": key '", key, "': ", status.message()));
}

// Scalars from the YAML file, by key; sharing goes to `config` directly.
absl::StatusOr<std::map<std::string, std::string>> ReadFile(const std::string& path,
                                                            Config& config) {
  auto text = ReadFileToString(path);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        Cat(path, ": not valid YAML: line ", e.mark.line + 1, ": ", e.msg));
  }
  std::map<std::string, std::string> values;
  if (root.IsNull()) return values;
  if (!root.IsMap()) return absl::InvalidArgumentError(Cat(path, ": not a YAML map"));
  std::map<std::string, const Setting*> by_key;
  for (const Setting& s : AllSettings()) by_key[s.info.key] = &s;
  for (const auto& entry : root) {
    std::string key = entry.first.as<std::string>("");
    const YAML::Node& value = entry.second;
    if (key == "version") {
      if (!value.IsScalar() || value.Scalar() != "v1") {
        return Annotate(absl::InvalidArgumentError("only version 'v1' is known"), path,
                        key);
      }
    } else if (key == "sharing") {
      if (absl::Status st = ParseSharing(value, &config.sharing); !st.ok()) {
        return Annotate(st, path, key);
      }
    } else if (!by_key.count(key)) {
      return Annotate(absl::InvalidArgumentError("unknown key"), path, key);
    } else if (key == "allocationModes" && value.IsSequence()) {
      std::vector<std::string> modes;
      for (const auto& m : value) modes.push_back(m.IsScalar() ? m.Scalar() : "?");
      values[key] = Join(modes, ",");
    } else if (!value.IsScalar() && !value.IsNull()) {
      return Annotate(absl::InvalidArgumentError("expected a single value"), path, key);
    } else {
      values[key] = value.IsNull() ? "" : value.Scalar();
    }
  }
  return values;
}

}  // namespace

const std::vector<SettingInfo>& Settings() {
  static const std::vector<SettingInfo> infos = [] {
    std::vector<SettingInfo> out;
    for (const Setting& s : AllSettings()) out.push_back(s.info);
    return out;
  }();
  return infos;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  static const std::vector<std::pair<std::string_view, int64_t>> kUnits = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  for (const auto& [unit, factor] : kUnits) {
    if (text.size() <= unit.size() || text.substr(text.size() - unit.size()) != unit)
      continue;
    std::string_view number = text.substr(0, text.size() - unit.size());
    int64_t value = 0;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || end != number.data() + number.size()) break;
    if (value <= 0 || value > INT64_MAX / factor / 1000) break;
    return std::chrono::milliseconds(value * factor);
  }
  return absl::InvalidArgumentError(
      Cat("bad duration '", text, "' (a positive number with ms, s, m or h, e.g. 30s)"));
}

absl::StatusOr<LoadedConfig> LoadConfig(const std::map<std::string, std::string>& flags,
                                        const EnvLookup& env) {
  LoadedConfig out;
  std::map<std::string, std::string> file_values;
  std::string config_path;
  if (auto it = flags.find("config"); it != flags.end()) config_path = it->second;
  if (const char* e = env("HAILO_DP_CONFIG"); config_path.empty() && e && *e)
    config_path = e;
  if (!config_path.empty()) {
    auto values = ReadFile(config_path, out.config);
    if (!values.ok()) return values.status();
    file_values = std::move(*values);
    out.config.config_file = config_path;
  }
  for (const Setting& s : AllSettings()) {
    std::string origin = "default";
    absl::Status status = absl::OkStatus();
    std::string where;
    if (auto f = flags.find(s.info.flag); f != flags.end()) {
      origin = "flag", where = "--" + s.info.flag, status = s.set(out.config, f->second);
    } else if (const char* e = env(s.info.env.c_str()); e != nullptr) {
      origin = "env", where = s.info.env, status = s.set(out.config, e);
    } else if (auto v = file_values.find(s.info.key); v != file_values.end()) {
      origin = "file", where = config_path, status = s.set(out.config, v->second);
    }
    if (!status.ok()) {
      if (origin == "file") return Annotate(status, where, s.info.key);
      return absl::InvalidArgumentError(Cat(where, ": ", status.message()));
    }
    out.origins[s.info.key] = origin;
  }
  out.origins["sharing"] = out.config.sharing.empty() ? "default" : "file";
  return out;
}

std::string RenderConfig(const LoadedConfig& loaded) {
  std::string out = "version: v1\n";
  for (const Setting& s : AllSettings()) {
    YAML::Emitter value;
    value << s.get(loaded.config);
    out += Cat(s.info.key, ": ", value.c_str(), "  # from ",
               loaded.origins.at(s.info.key), "\n");
  }
  out += Cat(RenderSharing(loaded.config.sharing), "  # from ",
             loaded.origins.at("sharing"), "\n");
  return out;
}

}  // namespace hailo_dp
