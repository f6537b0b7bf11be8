#include "hailo_device_plugin/resource.h"

#include <algorithm>
#include <cctype>

#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

bool IsDnsLabelChar(char c) {
  return std::islower(static_cast<unsigned char>(c)) ||
         std::isdigit(static_cast<unsigned char>(c)) || c == '-';
}

// A DNS-1123 subdomain: lower-case labels separated by dots.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(
        start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' ||
        label.back() == '-' || !std::all_of(label.begin(), label.end(), IsDnsLabelChar)) {
      return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

// A qualified name part: alphanumeric at both ends, '-', '_', '.' inside.
bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) {
    return alnum(c) || c == '-' || c == '_' || c == '.';
  });
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string ResourceSpec::CdiSpecFileName() const {
  std::string name = resource_name;
  std::replace(name.begin(), name.end(), '/', '-');
  return name + ".json";
}

std::string ResourceSpec::CdiDeviceName(std::string_view device_name) const {
  return Cat(resource_name, "=", device_name);
}

bool ResourceSpec::Selects(const Device& device) const {
  return !family.has_value() || *family == device.family;
}

std::vector<Device> ResourceSpec::Select(const std::vector<Device>& devices) const {
  std::vector<Device> out;
  std::copy_if(devices.begin(), devices.end(), std::back_inserter(out),
               [this](const Device& d) { return Selects(d); });
  return out;
}

absl::Status ValidateResourceName(std::string_view name) {
  size_t slash = name.find('/');
  if (slash == std::string_view::npos ||
      name.find('/', slash + 1) != std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat("resource name '", name, "' must have the form domain/name"));
  }
  std::string_view domain = name.substr(0, slash);
  std::string_view part = name.substr(slash + 1);
  // The kubelet checks "requests.<name>" as a qualified name, whose prefix
  // is a DNS subdomain of at most 253 characters.
  constexpr size_t kMaxDomain = 253 - std::string_view("requests.").size();
  if (!IsDnsSubdomain(domain) || domain.size() > kMaxDomain) {
    return absl::InvalidArgumentError(Cat("resource name '", name, "': '", domain,
                                          "' is not a lower-case DNS domain of at most ",
                                          kMaxDomain, " characters"));
  }
  // The kubelet refuses every name that contains "kubernetes.io/", so any
  // domain ending in "kubernetes.io" (even "xkubernetes.io") is reserved.
  if (EndsWith(domain, "kubernetes.io") || domain == "k8s.io" ||
      EndsWith(domain, ".k8s.io")) {
    return absl::InvalidArgumentError(Cat("resource name '", name, "': the domain '",
                                          domain, "' is reserved for Kubernetes"));
  }
  if (!IsQualifiedNamePart(part)) {
    return absl::InvalidArgumentError(Cat("resource name '", name, "': '", part,
                                          "' must be 1-63 characters, alphanumeric at "
                                          "both ends, with '-', '_' or '.' inside"));
  }
  return absl::OkStatus();
}

std::vector<ResourceSpec> PerFamilyResources(std::string_view base_resource_name) {
  std::string_view domain = base_resource_name.substr(0, base_resource_name.find('/'));
  std::vector<ResourceSpec> out;
  for (Family family : AllFamilies()) {
    ResourceSpec spec;
    spec.resource_name = Cat(domain, "/", FamilyName(family));
    spec.socket_name = Cat(FamilyName(family), ".sock");
    spec.family = family;
    out.push_back(std::move(spec));
  }
  return out;
}

}  // namespace hailo_dp
