#include "hailo_device_plugin/daemon.h"

#include <mutex>

#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/device_monitor.h"
#include "hailo_device_plugin/device_registry.h"
#include "hailo_device_plugin/device_source.h"
#include "hailo_device_plugin/http_server.h"
#include "hailo_device_plugin/metrics.h"
#include "hailo_device_plugin/nfd_features.h"
#include "hailo_device_plugin/strings.h"
#include "hailo_device_plugin/supervisor.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {

class Daemon::Impl {
 public:
  explicit Impl(Config config) : config_(std::move(config)) {}

  absl::Status Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_) return absl::OkStatus();
    // spdlog's registry and default logger are made on first use, inside
    // libspdlog; make them before our threads can race to that first use.
    spdlog::default_logger_raw();
    if (absl::Status s = StartHttp(); !s.ok()) return s;
    StartComponents();
    running_ = true;
    return absl::OkStatus();
  }

  void Stop() {
    // The HTTP handlers take mu_: stop their server without holding it.
    StopHttp();
    std::lock_guard<std::mutex> lock(mu_);
    StopComponents();
    running_ = false;
  }

  absl::Status Reload(Config config) {
    if (OnlyLoggingDiffers(config)) {
      std::lock_guard<std::mutex> lock(mu_);
      config_ = std::move(config);  // The caller has applied the log level.
      spdlog::info("reload: nothing to restart");
      return absl::OkStatus();
    }
    bool http_changed = config.http_address != HttpAddress();
    if (http_changed) StopHttp();
    std::lock_guard<std::mutex> lock(mu_);
    config_ = std::move(config);
    if (!running_) return absl::OkStatus();
    StopComponents();
    absl::Status status = http_changed ? StartHttp() : absl::OkStatus();
    StartComponents();
    return status;
  }

  DeviceRegistry& registry() { return registry_; }
  DeviceMonitor& monitor() { return *monitor_; }
  const Metrics& metrics() const { return metrics_; }
  int http_port() const {
    std::lock_guard<std::mutex> lock(mu_);
    return http_ ? http_->port() : 0;
  }

  bool Registered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return supervisor_ && supervisor_->AllRegistered();
  }

  absl::Status Healthy() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (!monitor_ || !supervisor_) return absl::UnavailableError("not started");
    auto age = std::chrono::steady_clock::now() - monitor_->last_scan_time();
    if (age > 3 * config_.rescan_interval) {
      return absl::UnavailableError(
          Cat("no device scan completed for ",
              std::chrono::duration_cast<std::chrono::seconds>(age).count(), " s"));
    }
    if (!supervisor_->AllServing()) return absl::UnavailableError("gRPC server is down");
    return absl::OkStatus();
  }

  absl::Status Ready() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (!supervisor_ || !supervisor_->AllRegistered()) {
      return absl::UnavailableError("not registered with the kubelet");
    }
    if (!supervisor_->AllStreaming()) {
      return absl::UnavailableError("the kubelet has no ListAndWatch stream open");
    }
    return absl::OkStatus();
  }

 private:
  bool OnlyLoggingDiffers(Config config) const {
    std::lock_guard<std::mutex> lock(mu_);
    config.log_level = config_.log_level;
    config.log_format = config_.log_format;
    return config == config_;
  }

  std::string HttpAddress() const {
    std::lock_guard<std::mutex> lock(mu_);
    return config_.http_address;
  }

  void StopHttp() {
    std::unique_ptr<HttpServer> http;
    {
      std::lock_guard<std::mutex> lock(mu_);
      http = std::move(http_);
    }
    if (http) http->Stop();
  }

  absl::Status StartHttp() {
    if (config_.http_address.empty()) return absl::OkStatus();
    http_ = std::make_unique<HttpServer>(
        HttpHandlers{[this] { return metrics_.Serialize(); },
                     [this] { return Healthy(); }, [this] { return Ready(); }});
    absl::Status s = http_->Start(config_.http_address);
    if (!s.ok()) http_.reset();
    return s;
  }

  void AddHooks() {
    monitor_->SetScanObserver(
        [this](std::chrono::nanoseconds d, const std::vector<Device>& v) {
          metrics_.OnScan(d, v);
        });
    for (const auto& writer : writers_) {
      CdiWriter* w = writer.get();
      monitor_->AddHook([this, w](std::vector<Device>& devices) {
        uint64_t before = w->writes();
        absl::Status status = w->Update(devices);
        if (!status.ok()) w->MarkUnresolvable(devices, status);
        if (!status.ok() || w->writes() > before) metrics_.OnCdiWrite(status.ok());
      });
    }
    if (!config_.nfd_features_file.empty()) {
      auto nfd = std::make_shared<NfdFeatureWriter>(config_.nfd_features_file);
      monitor_->AddHook([nfd](std::vector<Device>& d) { (void)nfd->Update(d); });
    }
  }

  std::vector<std::unique_ptr<PluginEndpoint>> MakeEndpoints() {
    ServiceObserver observer{
        [this](const std::string& r, size_t n) { metrics_.OnAllocate(r, n); },
        [this](const std::string& r, const absl::Status& s) {
          metrics_.OnAllocateError(r, s);
        }};
    std::vector<std::unique_ptr<PluginEndpoint>> endpoints;
    writers_.clear();
    for (const ResourceSpec& resource : config_.Resources()) {
      writers_.push_back(
          std::make_unique<CdiWriter>(config_.cdi_dir, config_.sys_root, resource));
      endpoints.push_back(std::make_unique<PluginEndpoint>(
          config_.kubelet_dir, &registry_,
          AllocateOptions{config_.allocation_modes, resource, config_.sharing},
          observer));
    }
    return endpoints;
  }

  void StartComponents() {
    source_ =
        std::make_unique<DeviceSource>(HostRoots{config_.sys_root, config_.dev_root});
    monitor_ = std::make_unique<DeviceMonitor>(
        source_.get(), &registry_, DeviceMonitor::Options{config_.rescan_interval});
    auto endpoints = MakeEndpoints();
    AddHooks();
    // Serving and registering start while the first scan runs: a
    // ListAndWatch stream waits for the first published snapshot, which
    // comes after its CDI spec is written.
    SupervisorObserver observer{
        [this](const std::string& r) { metrics_.OnRegistered(r); },
        [this] { metrics_.OnKubeletRestart(); }};
    supervisor_ = std::make_unique<Supervisor>(config_.kubelet_dir, std::move(endpoints),
                                               std::move(observer));
    supervisor_->Start();
    monitor_->RunOnce();
    spdlog::info("found {} Hailo device(s)", registry_.Current()->devices.size());
    monitor_->Start();
  }

  void StopComponents() {
    if (supervisor_) supervisor_->Stop();
    if (monitor_) monitor_->Stop();
    supervisor_.reset();
  }

  mutable std::mutex mu_;
  Config config_;
  bool running_ = false;
  Metrics metrics_;
  DeviceRegistry registry_;
  std::unique_ptr<DeviceSource> source_;
  std::vector<std::unique_ptr<CdiWriter>> writers_;
  std::unique_ptr<DeviceMonitor> monitor_;
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<HttpServer> http_;
};

Daemon::Daemon(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Daemon::~Daemon() { Stop(); }
absl::Status Daemon::Start() { return impl_->Start(); }
void Daemon::Stop() { impl_->Stop(); }
absl::Status Daemon::Reload(Config config) { return impl_->Reload(std::move(config)); }
const DeviceRegistry& Daemon::registry() const { return impl_->registry(); }
DeviceMonitor& Daemon::monitor() { return impl_->monitor(); }
bool Daemon::Registered() const { return impl_->Registered(); }
absl::Status Daemon::Healthy() const { return impl_->Healthy(); }
absl::Status Daemon::Ready() const { return impl_->Ready(); }
std::string Daemon::MetricsText() const { return impl_->metrics().Serialize(); }
int Daemon::http_port() const { return impl_->http_port(); }

}  // namespace hailo_dp
