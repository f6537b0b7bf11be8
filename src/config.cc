#include "hailo_device_plugin/config.h"

namespace hailo_dp {

std::vector<ResourceSpec> Config::Resources() const {
  if (resource_strategy == ResourceStrategy::kPerFamily) {
    return PerFamilyResources(resource_name);
  }
  ResourceSpec spec;
  spec.resource_name = resource_name;
  spec.socket_name = socket_name;
  return {spec};
}

}  // namespace hailo_dp
