// Atomic replacement of small files (CDI specs, feature files).
//
// The content goes to a hidden temporary file in the target's directory
// (".<name>.tmp.XXXXXX"), is fsynced
// and renamed over the target, and the directory is fsynced; readers see the
// old file or the new one, never a mix. Thread-safe for distinct paths.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hailo_dp {

enum class WriteOutcome { kWritten, kUnchanged };

// Writes `content` to `path` with `mode` unless the file already holds
// exactly that content with that mode. Creates missing parent directories. On failure the
// previous file is left as it was, no temporary file remains, and the error names the
// path and the cause.
absl::StatusOr<WriteOutcome> WriteFileAtomically(const std::string& path,
                                                 std::string_view content,
                                                 mode_t mode = 0644);

// Reads a whole file. The error names the path and the cause.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace hailo_dp
