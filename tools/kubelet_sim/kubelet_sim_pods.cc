// KubeletSim's queries of plugin state and its pod admission: the device
// choice (GetPreferredAllocation when the plugin offers it) and Allocate, as
// the kubelet's device manager does them.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kubelet_sim/internal.h"
#include "kubelet_sim/kubelet_sim.h"

namespace kubelet_sim {

std::optional<KubeletSim::PluginState> KubeletSim::Plugin(
    const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  if (it == plugins_.end()) return std::nullopt;
  return it->second.state;
}

std::vector<std::string> KubeletSim::Resources() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, entry] : plugins_) names.push_back(name);
  return names;
}

bool KubeletSim::WaitFor(const std::string& resource,
                         const std::function<bool(const PluginState&)>& pred,
                         std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    auto it = plugins_.find(resource);
    return it != plugins_.end() && pred(it->second.state);
  });
}

int KubeletSim::Capacity(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  return it == plugins_.end() ? 0 : static_cast<int>(it->second.state.devices.size());
}

int KubeletSim::Allocatable(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  if (it == plugins_.end()) return 0;
  const auto& devices = it->second.state.devices;
  return static_cast<int>(
      std::count_if(devices.begin(), devices.end(),
                    [](const auto& d) { return d.health() == kHealthy; }));
}

absl::StatusOr<std::shared_ptr<KubeletSim::Connection>> KubeletSim::CurrentConnection(
    const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = plugins_.find(resource);
  if (it == plugins_.end() || !it->second.conn) {
    return absl::NotFoundError(absl::StrCat("no device plugin connected for ", resource));
  }
  return it->second.conn;
}

absl::StatusOr<v1beta1::AllocateResponse> KubeletSim::Allocate(
    const std::string& resource, const v1beta1::AllocateRequest& request) {
  auto conn = CurrentConnection(resource);
  if (!conn.ok()) return conn.status();
  grpc::ClientContext context;
  CallGuard guard(this, &context, /*cancel_if_stopped=*/false);
  v1beta1::AllocateResponse response;
  grpc::Status status = (*conn)->stub->Allocate(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<v1beta1::PreferredAllocationResponse> KubeletSim::GetPreferredAllocation(
    const std::string& resource, const v1beta1::PreferredAllocationRequest& request) {
  auto conn = CurrentConnection(resource);
  if (!conn.ok()) return conn.status();
  grpc::ClientContext context;
  CallGuard guard(this, &context, /*cancel_if_stopped=*/false);
  v1beta1::PreferredAllocationResponse response;
  grpc::Status status =
      (*conn)->stub->GetPreferredAllocation(&context, request, &response);
  if (!status.ok()) return FromGrpc(status);
  return response;
}

absl::StatusOr<v1beta1::ContainerAllocateResponse> KubeletSim::AdmitPod(
    const std::string& resource, int count, std::vector<std::string>* chosen_ids) {
  if (count <= 0) return absl::InvalidArgumentError("a pod must ask for >= 1 device");
  std::lock_guard admit(admit_mu_);
  std::vector<std::string> available;
  bool preferred = false;
  {
    std::lock_guard lock(mu_);
    auto it = plugins_.find(resource);
    if (it == plugins_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no device plugin registered for ", resource));
    }
    const std::set<std::string>& in_use = allocated_[resource];
    for (const v1beta1::Device& device : it->second.state.devices) {
      if (device.health() == kHealthy && !in_use.count(device.id())) {
        available.push_back(device.id());
      }
    }
    preferred = it->second.state.options.get_preferred_allocation_available();
  }
  if (static_cast<int>(available.size()) < count) {
    return absl::ResourceExhaustedError(
        absl::StrCat("requested number of devices unavailable for ", resource,
                     ". Requested: ", count, ", Available: ", available.size()));
  }
  auto chosen = ChooseDevices(resource, count, preferred, available);
  if (!chosen.ok()) return chosen.status();
  auto response = AllocateOne(resource, *chosen);
  if (response.ok() && chosen_ids != nullptr) *chosen_ids = *chosen;
  return response;
}

absl::StatusOr<std::vector<std::string>> KubeletSim::ChooseDevices(
    const std::string& resource, int count, bool preferred,
    const std::vector<std::string>& available) {
  if (!preferred) {
    return std::vector<std::string>(available.begin(), available.begin() + count);
  }
  v1beta1::PreferredAllocationRequest request;
  auto* container = request.add_container_requests();
  for (const std::string& id : available) container->add_available_deviceids(id);
  container->set_allocation_size(count);
  auto response = GetPreferredAllocation(resource, request);
  if (!response.ok()) return response.status();
  return CheckPreferredAllocation(*response, available, count);
}

// Allocates `ids` in the sim, calls the plugin, and undoes the allocation if
// the call fails, as the kubelet does.
absl::StatusOr<v1beta1::ContainerAllocateResponse> KubeletSim::AllocateOne(
    const std::string& resource, const std::vector<std::string>& ids) {
  {
    std::lock_guard lock(mu_);
    allocated_[resource].insert(ids.begin(), ids.end());
  }
  v1beta1::AllocateRequest request;
  auto* container = request.add_container_requests();
  for (const std::string& id : ids) container->add_devices_ids(id);
  absl::StatusOr<v1beta1::AllocateResponse> response = Allocate(resource, request);
  if (response.ok() && response->container_responses_size() != 1) {
    response = absl::FailedPreconditionError(
        absl::StrCat("Allocate returned ", response->container_responses_size(),
                     " container responses, want 1"));
  }
  if (!response.ok()) {
    Release(ids);
    return response.status();
  }
  return response->container_responses(0);
}

void KubeletSim::Release(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  for (auto& [resource, in_use] : allocated_) {
    for (const std::string& id : ids) in_use.erase(id);
  }
}

std::set<std::string> KubeletSim::Allocated(const std::string& resource) const {
  std::lock_guard lock(mu_);
  auto it = allocated_.find(resource);
  return it == allocated_.end() ? std::set<std::string>() : it->second;
}

}  // namespace kubelet_sim
