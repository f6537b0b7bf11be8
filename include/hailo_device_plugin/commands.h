// The command-line commands. Each returns the process exit code: 0 on
// success, 1 on a runtime failure (message on stderr), 2 on bad usage.
#pragma once

#include <map>
#include <string>

#include "hailo_device_plugin/device_source.h"

namespace hailo_dp {

// Flags given on the command line, by name without dashes.
using FlagValues = std::map<std::string, std::string>;

int RunDiscover(const HostRoots& roots, const std::string& output);
int RunCdiGenerate(const HostRoots& roots, const std::string& resource_name,
                   const std::string& output);
int RunConfigPrint(const FlagValues& flags);
// The daemon: runs until SIGTERM or SIGINT; SIGHUP reloads the config.
int RunServe(const FlagValues& flags);

// Discovery output, exposed for tests.
std::string DevicesToJson(const std::vector<Device>& devices);
std::string DevicesToTable(const std::vector<Device>& devices, const HostRoots& roots);

}  // namespace hailo_dp
