#include "hailo_device_plugin/daemon.h"

#include <mutex>

#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/device_monitor.h"
#include "hailo_device_plugin/device_registry.h"
#include "hailo_device_plugin/device_source.h"
#include "hailo_device_plugin/supervisor.h"
#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {

class Daemon::Impl {
 public:
  explicit Impl(Config config) : config_(std::move(config)) {}

  absl::Status Start() {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_) return absl::OkStatus();
    StartComponents();
    running_ = true;
    return absl::OkStatus();
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    StopComponents();
    running_ = false;
  }

  absl::Status Reload(Config config) {
    std::lock_guard<std::mutex> lock(mu_);
    config_ = std::move(config);
    if (!running_) return absl::OkStatus();
    StopComponents();
    StartComponents();
    return absl::OkStatus();
  }

  DeviceRegistry& registry() { return registry_; }
  DeviceMonitor& monitor() { return *monitor_; }
  bool Registered() const {
    std::lock_guard<std::mutex> lock(mu_);
    return supervisor_ && supervisor_->AllRegistered();
  }

 private:
  void StartComponents() {
    source_ = std::make_unique<DeviceSource>(HostRoots{config_.sys_root, config_.dev_root});
    monitor_ = std::make_unique<DeviceMonitor>(
        source_.get(), &registry_, DeviceMonitor::Options{config_.rescan_interval});
    writers_.clear();
    std::vector<std::unique_ptr<PluginEndpoint>> endpoints;
    for (const ResourceSpec& resource : config_.Resources()) {
      writers_.push_back(
          std::make_unique<CdiWriter>(config_.cdi_dir, config_.sys_root, resource));
      CdiWriter* writer = writers_.back().get();
      monitor_->AddHook([writer](const std::vector<Device>& d) { (void)writer->Update(d); });
      endpoints.push_back(std::make_unique<PluginEndpoint>(
          config_.kubelet_dir, &registry_,
          AllocateOptions{config_.allocation_modes, resource, config_.sharing}));
    }
    monitor_->RunOnce();
    spdlog::info("found {} Hailo device(s)", registry_.Current()->devices.size());
    monitor_->Start();
    supervisor_ = std::make_unique<Supervisor>(config_.kubelet_dir, std::move(endpoints));
    supervisor_->Start();
  }

  void StopComponents() {
    if (supervisor_) supervisor_->Stop();
    if (monitor_) monitor_->Stop();
    supervisor_.reset();
  }

  mutable std::mutex mu_;
  Config config_;
  bool running_ = false;
  DeviceRegistry registry_;
  std::unique_ptr<DeviceSource> source_;
  std::vector<std::unique_ptr<CdiWriter>> writers_;
  std::unique_ptr<DeviceMonitor> monitor_;
  std::unique_ptr<Supervisor> supervisor_;
};

Daemon::Daemon(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Daemon::~Daemon() { Stop(); }
absl::Status Daemon::Start() { return impl_->Start(); }
void Daemon::Stop() { impl_->Stop(); }
absl::Status Daemon::Reload(Config config) { return impl_->Reload(std::move(config)); }
const DeviceRegistry& Daemon::registry() const { return impl_->registry(); }
DeviceMonitor& Daemon::monitor() { return impl_->monitor(); }
bool Daemon::Registered() const { return impl_->Registered(); }

}  // namespace hailo_dp
