#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace hdp_bench {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
  }
  execv(cargv[0], cargv.data());
  _exit(127);
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

DaemonProcess::DaemonProcess(std::string binary, std::vector<std::string> args,
                             std::string log_path)
    : binary_(std::move(binary)),
      args_(std::move(args)),
      log_path_(std::move(log_path)) {}

DaemonProcess::~DaemonProcess() { Stop(); }

absl::Status DaemonProcess::Start() {
  if (Running()) return absl::FailedPreconditionError("already running");
  std::vector<std::string> argv{binary_};
  argv.insert(argv.end(), args_.begin(), args_.end());
  started_at_ = std::chrono::steady_clock::now();
  pid_ = Spawn(argv, log_path_);
  if (pid_ < 0) return absl::InternalError(std::string("fork: ") + std::strerror(errno));
  return absl::OkStatus();
}

bool DaemonProcess::Running() const { return pid_ > 0 && kill(pid_, 0) == 0; }

int DaemonProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  pid_ = -1;
  return DecodeStatus(status);
}

absl::Status DaemonProcess::Stats(ProcStats* out) const {
  const std::string dir = "/proc/" + std::to_string(pid_);
  std::ifstream status(dir + "/status");
  if (!status) return absl::NotFoundError(dir + "/status: cannot open");
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream in(line);
    std::string key;
    double value = 0;
    in >> key >> value;
    if (key == "VmRSS:") out->rss_mib = value / 1024.0;
    if (key == "VmHWM:") out->hwm_mib = value / 1024.0;
    if (key == "RssAnon:") out->anon_mib = value / 1024.0;
    if (key == "RssFile:") out->file_mib = value / 1024.0;
    if (key == "Threads:") out->threads = static_cast<int>(value);
  }
  std::ifstream stat(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)),
                   std::istreambuf_iterator<char>());
  // Fields after the command name, which may hold spaces: it ends at the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return absl::DataLossError(dir + "/stat: unreadable");
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  out->cpu_ms = (utime + stime) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  return absl::OkStatus();
}

int RunCommand(const std::vector<std::string>& argv, std::chrono::nanoseconds* wall) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = Spawn(argv, "/dev/null");
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  *wall = std::chrono::steady_clock::now() - t0;
  return DecodeStatus(status);
}

}  // namespace hdp_bench
