#include "hailo_device_plugin/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{20};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
// Re-checks sockets even without inotify events (e.g. the watch failed).
constexpr std::chrono::milliseconds kIdleCheck{5000};
// ... and more often while the kubelet directory cannot be watched.
constexpr std::chrono::milliseconds kUnwatchedCheck{500};

}  // namespace

Supervisor::Supervisor(std::string kubelet_dir,
                       std::vector<std::unique_ptr<PluginEndpoint>> endpoints,
                       SupervisorObserver observer)
    : kubelet_dir_(std::move(kubelet_dir)),
      endpoints_(std::move(endpoints)),
      observer_(std::move(observer)),
      states_(endpoints_.size()),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      registered_(new std::atomic<bool>[endpoints_.size()]) {
  for (size_t i = 0; i < endpoints_.size(); ++i) registered_[i].store(false);
}

Supervisor::~Supervisor() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void Supervisor::Start() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (thread_.joinable()) return;
  stop_.store(false);
  spdlog::default_logger_raw();  // made before the thread (see Daemon::Start)
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  thread_ = std::thread([this] { Loop(); });
}

void Supervisor::Stop() {
  std::lock_guard<std::mutex> lock(start_mu_);
  if (!thread_.joinable()) return;
  stop_.store(true);
  for (auto& endpoint : endpoints_) endpoint->CancelPendingCalls();
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
  thread_.join();
  for (auto& endpoint : endpoints_) endpoint->StopServing();
  for (size_t i = 0; i < endpoints_.size(); ++i) registered_[i].store(false);
  if (inotify_fd_ >= 0) close(inotify_fd_);
  inotify_fd_ = -1;
  watch_ = -1;
}

bool Supervisor::AllRegistered() const {
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    if (!registered_[i].load()) return false;
  }
  return true;
}

bool Supervisor::AllServing() const {
  return std::all_of(endpoints_.begin(), endpoints_.end(),
                     [](const auto& e) { return e->serving(); });
}

bool Supervisor::AllStreaming() const {
  return std::all_of(endpoints_.begin(), endpoints_.end(),
                     [](const auto& e) { return e->open_streams() > 0; });
}

bool Supervisor::WatchDirectory() {
  if (watch_ >= 0 || inotify_fd_ < 0) return false;
  watch_ = inotify_add_watch(inotify_fd_, kubelet_dir_.c_str(),
                             IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
                                 IN_DELETE_SELF | IN_MOVE_SELF | IN_OPEN);
  // Events before this watch are lost, fences included.
  fences_seen_ = fences_emitted_;
  return watch_ >= 0;
}

uint64_t Supervisor::EmitFence() {
  if (watch_ < 0) return 0;
  int fd = open(kubelet_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  close(fd);
  return ++fences_emitted_;
}

void Supervisor::Restart(size_t i, bool reserve) {
  if (reserve) endpoints_[i]->StopServing();
  states_[i] = State{};
  registered_[i].store(false);
}

void Supervisor::Step(size_t i) {
  PluginEndpoint& endpoint = *endpoints_[i];
  State& state = states_[i];
  auto now = std::chrono::steady_clock::now();
  if (now < state.next_attempt) return;
  const std::string& resource = endpoint.resource().resource_name;
  absl::Status status = absl::OkStatus();
  if (!endpoint.serving() || !endpoint.SocketIntact()) {
    // Keep the backoff: a socket that cannot be served is retried like a
    // kubelet that does not answer.
    state.registered = false;
    registered_[i].store(false);
    status = endpoint.Serve();
    if (status.ok()) spdlog::info("{}: serving on {}", resource, endpoint.socket_path());
  }
  uint64_t fence = 0;
  if (status.ok() && !state.registered) {
    status = endpoint.Register([&] { fence = EmitFence(); });
  }
  if (status.ok()) {
    if (!state.registered) {
      state = State{};
      state.registered = true;
      state.fence = fence;
      if (registrations_.load() == 0) first_fence_ = fence;
      registered_[i].store(true);
      registrations_.fetch_add(1);
      spdlog::info("{}: registered with the kubelet", resource);
      if (observer_.on_registered) observer_.on_registered(resource);
    }
    return;
  }
  state.backoff = std::clamp(state.backoff * 2, kFirstBackoff, kMaxBackoff);
  state.next_attempt = now + state.backoff;
  std::string error(status.message());
  if (error != state.last_error) {
    spdlog::warn("{}: {} (retrying, backoff up to {} ms)", resource, error,
                 kMaxBackoff.count());
    state.last_error = error;
  }
}

void Supervisor::HandleEvents() {
  alignas(inotify_event) char buf[4096];
  ssize_t n;
  while ((n = read(inotify_fd_, buf, sizeof(buf))) > 0) {
    for (char* p = buf; p < buf + n;) {
      auto* event = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + event->len;
      if (event->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        watch_ = -1;  // The directory itself went away; watch it again later.
        continue;
      }
      if (event->mask & IN_Q_OVERFLOW) {
        // Events were lost: assume the worst.
        fences_seen_ = fences_emitted_;
        OnNewKubelet();
        continue;
      }
      if (event->len == 0) {
        // The directory itself was opened: one of our fences, or someone
        // else's open, which only makes us err towards registering again.
        if ((event->mask & IN_OPEN) && fences_seen_ < fences_emitted_) ++fences_seen_;
        continue;
      }
      if (event->name == kKubeletSocketName &&
          (event->mask & (IN_CREATE | IN_MOVED_TO))) {
        OnNewKubelet();
      }
    }
  }
}

void Supervisor::OnNewKubelet() {
  // An endpoint whose Register call connected after this event was queued
  // (its fence is still ahead in the queue) reached this kubelet or a newer
  // one; every other endpoint registers again.
  bool current = true;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const State& state = states_[i];
    if (state.registered && state.fence > fences_seen_) continue;
    current = false;
    Restart(i, /*reserve=*/false);
  }
  // A restart is a kubelet.sock newer than our first registration: its event
  // comes after that registration's fence (or there was no fence to tell).
  const bool restart =
      registrations_.load() > 0 && (first_fence_ == 0 || first_fence_ <= fences_seen_);
  if (!restart) {
    spdlog::info("kubelet.sock created: {}",
                 current ? "already registered with it" : "registering with the kubelet");
    return;
  }
  spdlog::info("kubelet.sock created: the kubelet restarted; {}",
               current ? "already registered with it" : "registering again");
  if (observer_.on_kubelet_restart) observer_.on_kubelet_restart();
}

std::chrono::milliseconds Supervisor::NextTimeout() const {
  auto now = std::chrono::steady_clock::now();
  std::chrono::milliseconds timeout = kIdleCheck;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    bool pending = !states_[i].registered || !endpoints_[i]->SocketIntact();
    if (!pending) continue;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        states_[i].next_attempt - now);
    timeout = std::min(timeout, std::max(wait, std::chrono::milliseconds(0)));
  }
  return timeout;
}

void Supervisor::Loop() {
  while (!stop_.load()) {
    // Watch before registering, so that no later kubelet.sock goes unseen.
    // The directory (re)appeared: retry at once, as if the kubelet had
    // started.
    if (WatchDirectory()) {
      for (State& state : states_) state.next_attempt = {};
    }
    for (size_t i = 0; i < endpoints_.size() && !stop_.load(); ++i) Step(i);
    auto timeout = NextTimeout();
    if (watch_ < 0) timeout = std::min(timeout, kUnwatchedCheck);
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
    int n = poll(fds, inotify_fd_ >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
    if (stop_.load()) break;
    if (n > 0 && (fds[1].revents & POLLIN)) HandleEvents();
  }
}

}  // namespace hailo_dp
