#include "bench.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

namespace hdp_bench {
namespace {

constexpr auto kWait = std::chrono::milliseconds(10000);
constexpr char kDeviceId[] = "0000-01-00.0";
constexpr uint32_t kMajor = 510;  // scripts/fake-node.sh

std::string PciAddress(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0000:%02x:00.0", i + 1);
  return buf;
}

}  // namespace

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

void RegistrationTracker::OnEvent(const kubelet_sim::KubeletSim::Event& event) {
  using Kind = kubelet_sim::KubeletSim::Event::Kind;
  std::lock_guard<std::mutex> lock(mu_);
  if (event.kind == Kind::kRegistered) {
    ++registrations_;
    registered_at_ = event.at;
    have_list_ = false;
  } else if (event.kind == Kind::kListUpdate && !have_list_) {
    have_list_ = true;
    first_list_at_ = event.at;
    list_devices_ = event.state.devices.size();
  }
  cv_.notify_all();
}

int RegistrationTracker::registrations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registrations_;
}

bool RegistrationTracker::Wait(int after, std::chrono::milliseconds timeout,
                               Clock::time_point* registered,
                               Clock::time_point* first_list, size_t* devices) const {
  std::unique_lock<std::mutex> lock(mu_);
  bool ok =
      cv_.wait_for(lock, timeout, [&] { return registrations_ > after && have_list_; });
  if (!ok) return false;
  *registered = registered_at_;
  *first_list = first_list_at_;
  *devices = list_devices_;
  return true;
}

Bench::Bench(Options options, Report* report)
    : options_(std::move(options)), report_(report) {}

Bench::~Bench() {
  main_.reset();
  if (sim_) sim_->Stop();
}

absl::Status Bench::BuildHost(const std::string& host, int devices) const {
  for (int i = 0; i < devices; ++i) {
    std::chrono::nanoseconds wall{};
    int rc = RunCommand({"/bin/bash", options_.source_dir + "/scripts/fake-node.sh", host,
                         std::to_string(i), PciAddress(i)},
                        &wall);
    if (rc != 0)
      return absl::InternalError(
          "scripts/fake-node.sh failed (root is needed for mknod)");
  }
  return absl::OkStatus();
}

absl::Status Bench::Setup() {
  host_ = options_.work_dir + "/host1";
  kubelet_dir_ = options_.work_dir + "/kubelet";
  if (absl::Status s = BuildHost(host_, 1); !s.ok()) return s;
  sim_ = std::make_unique<kubelet_sim::KubeletSim>(kubelet_dir_);
  sim_->SetEventCallback([this](const auto& e) { tracker_.OnEvent(e); });
  return sim_->Start();
}

std::unique_ptr<DaemonProcess> Bench::NewDaemon(const std::string& host,
                                                const std::string& name,
                                                const std::string& config) const {
  const std::string cdi = options_.work_dir + "/cdi-" + name;
  std::filesystem::create_directories(cdi);
  std::vector<std::string> args{"serve",
                                "--sys-root",
                                host + "/sys",
                                "--dev-root",
                                host + "/dev",
                                "--kubelet-dir",
                                kubelet_dir_,
                                "--cdi-dir",
                                cdi,
                                "--http-address",
                                options_.http_address,
                                "--rescan-interval",
                                "30s",
                                "--log-level",
                                "warn"};
  if (!config.empty()) args.insert(args.end(), {"--config", config});
  return std::make_unique<DaemonProcess>(options_.binary, args,
                                         options_.work_dir + "/daemon-" + name + ".log");
}

absl::Status Bench::StartAndRegister(DaemonProcess& daemon, size_t devices,
                                     double* registered_ms, double* listed_ms) {
  const int before = tracker_.registrations();
  if (absl::Status s = daemon.Start(); !s.ok()) return s;
  Clock::time_point registered, listed;
  size_t seen = 0;
  if (!tracker_.Wait(before, kWait, &registered, &listed, &seen)) {
    return absl::DeadlineExceededError(
        "daemon did not register within 10 s (see its log in " + options_.work_dir + ")");
  }
  if (seen != devices) {
    return absl::FailedPreconditionError("first list has " + std::to_string(seen) +
                                         " devices, expected " + std::to_string(devices));
  }
  *registered_ms = Ms(registered - daemon.started_at());
  *listed_ms = Ms(listed - daemon.started_at());
  return absl::OkStatus();
}

absl::Status Bench::MeasureStart() {
  std::vector<double> registered, listed;
  for (int i = 0; i < options_.starts; ++i) {
    auto daemon = NewDaemon(host_, "start", "");
    double r = 0, l = 0;
    if (absl::Status s = StartAndRegister(*daemon, 1, &r, &l); !s.ok()) return s;
    registered.push_back(r);
    listed.push_back(l);
    daemon->Stop();
  }
  Summary r = Summarize(registered), l = Summarize(listed);
  report_->Add({"start (fork+exec → kubelet side)", "start → registered", "ms", r.n,
                r.p50, r.p99, "< 50 ms", r.p50 < 50, "~510 ms"});
  report_->Add({"start (fork+exec → kubelet side)", "start → first device list", "ms",
                l.n, l.p50, l.p99, "", std::nullopt, ""});
  return absl::OkStatus();
}

void Bench::AddMemory(const std::string& when) {
  ProcStats st;
  if (!main_ || !main_->Stats(&st).ok()) return;
  const std::string group = "memory and threads, " + when;
  report_->Add({group, "idle RSS (VmRSS)", "MiB", 1, st.rss_mib, std::nullopt, "≤ 6 MiB",
                st.rss_mib <= 6.0, "~11 MiB"});
  report_->Add({group, "  of which private (RssAnon)", "MiB", 1, st.anon_mib,
                std::nullopt, "", std::nullopt, ""});
  report_->Add({group, "  of which code/data mapped (RssFile)", "MiB", 1, st.file_mib,
                std::nullopt, "", std::nullopt, ""});
  report_->Add(
      {group, "threads", "", 1, double(st.threads), std::nullopt, "", std::nullopt, ""});
  report_->SetInfo("vmhwm_mib " + when, st.hwm_mib);
}

absl::Status Bench::StartMain() {
  main_ = NewDaemon(host_, "main", "");
  double r = 0, l = 0;
  if (absl::Status s = StartAndRegister(*main_, 1, &r, &l); !s.ok()) return s;
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let it settle
  AddMemory("after start");
  ProcStats st;
  if (main_->Stats(&st).ok()) start_cpu_ms_ = st.cpu_ms;
  return absl::OkStatus();
}

absl::Status Bench::WaitHealth(const std::string& id, const std::string& health,
                               Clock::time_point* seen) const {
  bool ok = sim_->WaitFor(
      kResource,
      [&](const kubelet_sim::KubeletSim::PluginState& state) {
        for (const auto& d : state.devices) {
          if (d.id() == id) return d.health() == health;
        }
        return false;
      },
      kWait);
  if (!ok) return absl::DeadlineExceededError(id + " not " + health + " within 10 s");
  *seen = sim_->Plugin(kResource)->last_update_at;
  return absl::OkStatus();
}

absl::Status Bench::MeasureHotplug() {
  const std::string node = host_ + "/dev/hailo0";
  std::vector<double> unplug, replug;
  for (int i = 0; i < options_.hotplug_cycles; ++i) {
    Clock::time_point seen;
    auto t0 = Clock::now();
    if (unlink(node.c_str()) != 0)
      return absl::InternalError(node + ": " + std::strerror(errno));
    if (absl::Status s = WaitHealth(kDeviceId, "Unhealthy", &seen); !s.ok()) return s;
    unplug.push_back(Ms(seen - t0));
    t0 = Clock::now();
    if (mknod(node.c_str(), S_IFCHR | 0666, makedev(kMajor, 0)) != 0) {
      return absl::InternalError(node + ": mknod: " + std::strerror(errno));
    }
    if (absl::Status s = WaitHealth(kDeviceId, "Healthy", &seen); !s.ok()) return s;
    replug.push_back(Ms(seen - t0));
  }
  Summary u = Summarize(unplug), r = Summarize(replug);
  const std::string group = "hot-plug (/dev node removed, re-created)";
  report_->Add({group, "unplug → Unhealthy at the kubelet", "ms", u.n, u.p50, u.p99,
                "< 100 ms p99", u.p99 < 100,
                "32 s median, up to 90 s; a vanished node alone: never"});
  report_->Add({group, "replug → Healthy at the kubelet", "ms", r.n, r.p50, r.p99, "",
                std::nullopt, ""});
  return absl::OkStatus();
}

absl::Status Bench::MeasureRestart() {
  std::vector<double> registered, listed, own;
  for (int i = 0; i < options_.restarts; ++i) {
    const int before = tracker_.registrations();
    auto t0 = Clock::now();
    if (absl::Status s = sim_->Restart(); !s.ok()) return s;
    own.push_back(Ms(Clock::now() - t0));
    Clock::time_point r, l;
    size_t devices = 0;
    if (!tracker_.Wait(before, kWait, &r, &l, &devices)) {
      return absl::DeadlineExceededError(
          "not re-registered within 10 s of a kubelet restart");
    }
    registered.push_back(Ms(r - t0));
    listed.push_back(Ms(l - t0));
  }
  Summary r = Summarize(registered), l = Summarize(listed), o = Summarize(own);
  const std::string group = "kubelet restart (KubeletSim::Restart)";
  report_->Add({group, "  of which the sim's own Restart()", "ms", o.n, o.p50, o.p99, "",
                std::nullopt, ""});
  report_->Add({group, "restart → re-registered", "ms", r.n, r.p50, r.p99, "< 100 ms p99",
                r.p99 < 100, "~510 ms"});
  report_->Add({group, "restart → device list resent", "ms", l.n, l.p50, l.p99, "",
                std::nullopt, ""});
  return absl::OkStatus();
}

}  // namespace hdp_bench
