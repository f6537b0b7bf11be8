// ValidateResourceName: an accepted name is "domain/name" within the
// Kubernetes limits, and the per-family resources built from it are valid too.
#include "fuzz_check.h"
#include "hailo_device_plugin/resource.h"
#include "hailo_device_plugin/strings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view name = hailo_dp::fuzz::AsText(data, size);
  const absl::Status status = hailo_dp::ValidateResourceName(name);
  if (!status.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(status));
    return 0;
  }
  const size_t slash = name.find('/');
  FUZZ_CHECK(slash != std::string_view::npos &&
             name.find('/', slash + 1) == std::string_view::npos);
  FUZZ_CHECK(slash >= 1 && slash <= 253 && name.size() - slash - 1 >= 1 &&
             name.size() - slash - 1 <= 63);
  for (const hailo_dp::ResourceSpec& spec : hailo_dp::PerFamilyResources(name)) {
    const absl::Status derived = hailo_dp::ValidateResourceName(spec.resource_name);
    FUZZ_CHECK(derived.ok(),
               spec.resource_name + ": " + hailo_dp::Str(derived.message()));
  }
  return 0;
}
