#include "hailo_device_plugin/config_sharing.h"

#include <charconv>

#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

absl::Status Error(std::string_view family, std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(Cat(family, ".", key, ": ", why));
}

absl::Status ParseReplicas(std::string_view family, const YAML::Node& v, int* out) {
  const std::string text = v.IsScalar() ? v.Scalar() : "";
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 ||
      value > kMaxReplicas) {
    return Error(family, "replicas",
                 Cat("'", text, "' is not a whole number from 1 to ", kMaxReplicas));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status ParseField(std::string_view family, const std::string& key,
                        const YAML::Node& v, SharingPolicy* policy) {
  const std::string text = v.IsScalar() ? v.Scalar() : "";
  if (key == "replicas") return ParseReplicas(family, v, &policy->replicas);
  if (key == "flavour" || key == "flavor") {
    if (text == "direct") {
      policy->flavour = SharingFlavour::kDirect;
    } else if (text == "service") {
      policy->flavour = SharingFlavour::kService;
    } else {
      return Error(family, key, Cat("'", text, "' is not one of: direct, service"));
    }
    return absl::OkStatus();
  }
  if (key == "serviceSocket") {
    if (text.empty() || text.front() != '/') {
      return Error(family, key, "must be an absolute path");
    }
    policy->service_socket = text;
    return absl::OkStatus();
  }
  if (key == "failRequestsGreaterThanOne") {
    if (text != "true" && text != "false")
      return Error(family, key, "must be true or false");
    policy->fail_requests_greater_than_one = text == "true";
    return absl::OkStatus();
  }
  return Error(family, key, "unknown key");
}

}  // namespace

absl::Status ParseSharing(const YAML::Node& node, SharingMap* out) {
  if (node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) return absl::InvalidArgumentError("expected a map of families");
  SharingMap result;
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>("");
    std::optional<Family> family = FamilyFromName(name);
    if (!family) {
      return absl::InvalidArgumentError(
          Cat("unknown family '", name, "' (hailo8, hailo10h, hailo15l, hailo12l)"));
    }
    if (!entry.second.IsMap()) {
      return absl::InvalidArgumentError(
          Cat(name, ": expected a map, e.g. {replicas: 2}"));
    }
    SharingPolicy policy;
    for (const auto& field : entry.second) {
      absl::Status s =
          ParseField(name, field.first.as<std::string>(""), field.second, &policy);
      if (!s.ok()) return s;
    }
    result[*family] = policy;
  }
  *out = std::move(result);
  return absl::OkStatus();
}

std::string RenderSharing(const SharingMap& sharing) {
  // The emitter quotes what a flow map cannot hold plainly (", " or "}" in a
  // socket path), so the line reads back as the same config.
  YAML::Emitter out;
  out << YAML::Flow << YAML::BeginMap;
  for (const auto& [family, policy] : sharing) {
    out << YAML::Key << std::string(FamilyName(family)) << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "replicas" << YAML::Value << policy.replicas;
    out << YAML::Key << "flavour" << YAML::Value
        << (policy.flavour == SharingFlavour::kDirect ? "direct" : "service");
    if (policy.flavour == SharingFlavour::kService) {
      out << YAML::Key << "serviceSocket" << YAML::Value << policy.service_socket;
    }
    out << YAML::Key << "failRequestsGreaterThanOne" << YAML::Value
        << (policy.fail_requests_greater_than_one ? "true" : "false");
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return Cat("sharing: ", out.c_str());
}

}  // namespace hailo_dp
