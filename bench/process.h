// DaemonProcess: the real hailo-device-plugin binary as a child process, and
// what /proc says about it (RSS, threads, CPU time).
//
// Start() forks and execs; the child's stdout/stderr go to a log file. Stop()
// sends SIGTERM, waits up to 10 s, then SIGKILLs; it is idempotent and the
// destructor calls it. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace hdp_bench {

struct ProcStats {
  double rss_mib = 0;   // VmRSS
  double hwm_mib = 0;   // VmHWM (peak RSS)
  double anon_mib = 0;  // RssAnon: private memory (heap, stacks)
  double file_mib = 0;  // RssFile: mapped code and data of the binary and libraries
  int threads = 0;      // Threads
  double cpu_ms = 0;    // utime + stime
};

class DaemonProcess {
 public:
  DaemonProcess(std::string binary, std::vector<std::string> args, std::string log_path);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // `started_at` is taken just before fork().
  absl::Status Start();
  // Exit status (or 128 + signal); -1 if it was not running.
  int Stop();
  bool Running() const;
  pid_t pid() const { return pid_; }
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }
  absl::Status Stats(ProcStats* out) const;

 private:
  const std::string binary_;
  const std::vector<std::string> args_;
  const std::string log_path_;
  pid_t pid_ = -1;
  std::chrono::steady_clock::time_point started_at_;
};

// Runs a command to completion (stdout/stderr to /dev/null); returns its exit
// status and its wall time.
int RunCommand(const std::vector<std::string>& argv, std::chrono::nanoseconds* wall);

}  // namespace hdp_bench
