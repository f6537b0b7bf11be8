#include "hailo_device_plugin/nfd_features.h"

#include <map>
#include <set>

#include "hailo_device_plugin/atomic_file.h"
#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {
namespace {

// Label values allow [A-Za-z0-9._-]; anything else becomes '_'.
std::string LabelValue(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 63)) {
    bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    out.push_back(ok ? c : '_');
  }
  return out;
}

}  // namespace

std::string BuildNfdFeatures(const std::vector<Device>& devices) {
  std::map<std::string, std::string> labels;
  std::map<std::string, int> per_family;
  std::map<std::string, std::set<std::string>> versions;  // module -> versions
  for (const Device& d : devices) {
    per_family[std::string(FamilyName(d.family))]++;
    if (d.driver) versions[*d.driver].insert(d.driver_version.value_or("unknown"));
  }
  labels["present"] = devices.empty() ? "false" : "true";
  labels["count"] = std::to_string(devices.size());
  std::vector<std::string> families;
  for (const auto& [family, count] : per_family) {
    labels[family + ".count"] = std::to_string(count);
    families.push_back(family);
  }
  if (!families.empty()) labels["family"] = Join(families, "_");
  for (const auto& [module, set] : versions) {
    labels["driver." + LabelValue(module)] = LabelValue(Join(set, "_"));
  }
  if (versions.size() == 1) {
    labels["driver"] = LabelValue(versions.begin()->first);
    if (versions.begin()->second.size() == 1) {
      labels["driver-version"] = LabelValue(*versions.begin()->second.begin());
    }
  }
  std::string out;
  for (const auto& [name, value] : labels)
    out += Cat("hailo.ai/", name, "=", value, "\n");
  return out;
}

absl::Status NfdFeatureWriter::Update(const std::vector<Device>& devices) {
  auto outcome = WriteFileAtomically(path_, BuildNfdFeatures(devices), 0644);
  if (!outcome.ok()) {
    if (!last_failed_) spdlog::error("node features: {}", outcome.status().message());
    last_failed_ = true;
    return outcome.status();
  }
  if (*outcome == WriteOutcome::kWritten) spdlog::info("node features: wrote {}", path_);
  last_failed_ = false;
  return absl::OkStatus();
}

}  // namespace hailo_dp
