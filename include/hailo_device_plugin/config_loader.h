// Loading and validating the daemon's Config from flags, environment and a
// YAML file, with precedence flag > env > file > default.
//
// Every scalar setting has one entry in a table (YAML key, flag, env var,
// parser), so the three sources cannot drift apart. Errors name the source
// (file path, --flag or env var), the key and the reason. Pure apart from
// reading the config file; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hailo_device_plugin/config.h"

namespace hailo_dp {

struct SettingInfo {
  std::string key;   // YAML key, e.g. "rescanInterval"
  std::string flag;  // e.g. "rescan-interval"
  std::string env;   // e.g. "HAILO_DP_RESCAN_INTERVAL"
  std::string help;
  std::string default_value;
};

// Every scalar setting, in documentation order.
const std::vector<SettingInfo>& Settings();

struct LoadedConfig {
  Config config;
  ConfigOrigins origins;  // key -> "flag", "env", "file" or "default"
};

using EnvLookup = std::function<const char*(const char*)>;

// `flags` maps flag names (without dashes) to the values given on the
// command line; "config" names the YAML file. `env` looks up variables.
absl::StatusOr<LoadedConfig> LoadConfig(const std::map<std::string, std::string>& flags,
                                        const EnvLookup& env);

// "30s", "500ms", "1m", "1h"; at least 1 ms.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The effective config as YAML, each value commented with its origin.
std::string RenderConfig(const LoadedConfig& loaded);

}  // namespace hailo_dp
