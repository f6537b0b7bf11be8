// Process-wide logging set-up (spdlog, to stderr).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace hailo_dp {

// level: trace|debug|info|warn|error; format: text|json (one JSON object per
// line, with "time", "level" and "msg"). Call before starting threads.
absl::Status ConfigureLogging(const std::string& level, const std::string& format);

}  // namespace hailo_dp
