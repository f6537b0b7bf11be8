#include "testing/daemon_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gtest/gtest.h"

namespace hailo_dp::testing {

Config TestConfig(const FakeHostTree& tree, const DaemonDirs& dirs,
                  std::chrono::milliseconds rescan_interval) {
  Config config;
  config.kubelet_dir = dirs.kubelet_dir;
  config.cdi_dir = dirs.cdi_dir;
  config.sys_root = tree.sys_root();
  config.dev_root = tree.dev_root();
  config.rescan_interval = rescan_interval;
  config.http_address = "";
  return config;
}

std::optional<std::set<std::string>> CdiSpecDeviceNames(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  nlohmann::json spec = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object() || !spec.contains("devices") || !spec["devices"].is_array()) {
    return std::nullopt;
  }
  std::set<std::string> names;
  for (const auto& device : spec["devices"]) {
    if (device.is_object() && device.contains("name") && device["name"].is_string()) {
      names.insert(device["name"].get<std::string>());
    }
  }
  return names;
}

bool CdiSpecNamesAll(const std::string& path, const std::vector<std::string>& ids) {
  if (ids.empty()) return true;  // no spec at all is right then
  auto names = CdiSpecDeviceNames(path);
  if (!names) return false;
  return std::all_of(ids.begin(), ids.end(),
                     [&](const std::string& id) { return names->count(id) > 0; });
}

v1beta1::PreferredAllocationRequest PreferredRequest(
    const std::vector<std::string>& available, const std::vector<std::string>& must,
    int size) {
  v1beta1::PreferredAllocationRequest request;
  auto* c = request.add_container_requests();
  for (const auto& id : available) c->add_available_deviceids(id);
  for (const auto& id : must) c->add_must_include_deviceids(id);
  c->set_allocation_size(size);
  return request;
}

std::vector<std::string> IdsOf(const std::vector<v1beta1::Device>& devices) {
  std::vector<std::string> ids;
  for (const auto& device : devices) ids.push_back(device.id());
  return ids;
}

std::vector<std::string> IdsOf(const v1beta1::ListAndWatchResponse& response) {
  return IdsOf(
      std::vector<v1beta1::Device>(response.devices().begin(), response.devices().end()));
}

std::string HealthOf(const std::vector<v1beta1::Device>& devices, const std::string& id) {
  for (const auto& device : devices) {
    if (device.id() == id) return device.health();
  }
  return "";
}

bool AllHealthy(const std::vector<v1beta1::Device>& devices) {
  return std::all_of(devices.begin(), devices.end(),
                     [](const auto& d) { return d.health() == "Healthy"; });
}

bool IsSocket(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

bool Eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void ReportFigure(const std::string& name, double milliseconds) {
  std::ostringstream value;
  value.precision(3);
  value << std::fixed << milliseconds;
  std::cout << "[  FIGURE  ] " << name << " = " << value.str() << " ms" << std::endl;
  ::testing::Test::RecordProperty(name + "_ms", value.str());
}

std::unique_ptr<v1beta1::DevicePlugin::Stub> PluginStub(const std::string& socket_path) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1beta1::DevicePlugin::NewStub(grpc::CreateCustomChannel(
      "unix:" + socket_path, grpc::InsecureChannelCredentials(), args));
}

// --- StreamClient -------------------------------------------------------------

StreamClient::StreamClient(const std::string& socket_path)
    : stub_(PluginStub(socket_path)) {
  thread_ = std::thread([this] { Read(); });
}

StreamClient::~StreamClient() {
  context_.TryCancel();
  thread_.join();
}

void StreamClient::Read() {
  auto reader = stub_->ListAndWatch(&context_, v1beta1::Empty());
  v1beta1::ListAndWatchResponse response;
  while (reader->Read(&response)) {
    std::lock_guard lock(mu_);
    messages_.push_back(response);
    changed_.notify_all();
  }
  grpc::Status status = reader->Finish();
  std::lock_guard lock(mu_);
  ended_ = true;
  ended_at_ = Clock::now();
  status_ = status;
  changed_.notify_all();
}

bool StreamClient::WaitFor(
    const std::function<bool(const std::vector<v1beta1::ListAndWatchResponse>&)>& pred,
    std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return pred(messages_); });
}

bool StreamClient::WaitFirst(std::chrono::milliseconds timeout) const {
  return WaitFor([](const auto& messages) { return !messages.empty(); }, timeout);
}

bool StreamClient::WaitEnded(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] { return ended_; });
}

size_t StreamClient::messages() const {
  std::lock_guard lock(mu_);
  return messages_.size();
}

std::optional<v1beta1::ListAndWatchResponse> StreamClient::Last() const {
  std::lock_guard lock(mu_);
  if (messages_.empty()) return std::nullopt;
  return messages_.back();
}

bool StreamClient::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

Clock::time_point StreamClient::ended_at() const {
  std::lock_guard lock(mu_);
  return ended_at_;
}

grpc::Status StreamClient::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

// --- ChildProcess -------------------------------------------------------------

std::unique_ptr<ChildProcess> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                                  const std::string& log_path) {
  // Everything the child needs is prepared before fork: after it, in a
  // multi-threaded parent, only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    ADD_FAILURE() << log_path << ": " << std::strerror(errno);
    return nullptr;
  }
  sigset_t none;
  sigemptyset(&none);
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    close(log_fd);
    return nullptr;
  }
  if (pid == 0) {
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log_fd);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, pidfd, log_path));
}

ChildProcess::~ChildProcess() {
  if (running()) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (pidfd_ >= 0) close(pidfd_);
}

bool ChildProcess::Signal(int signal) const {
  return running() && kill(pid_, signal) == 0;
}

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      return status_;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (pidfd_ >= 0) {
      pollfd fd{pidfd_, POLLIN, 0};
      poll(&fd, 1, static_cast<int>(left.count()) + 1);
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(2)));
    }
  }
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace hailo_dp::testing
