// Pure checks the simulated kubelet applies to what a device plugin sends:
// the Register request and a GetPreferredAllocation answer. Header-only so the
// sim library stays one source file; no state, safe from any thread.
#pragma once

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "api.pb.h"

namespace kubelet_sim {

inline constexpr char kVersion[] = "v1beta1";

namespace internal {

inline bool IsAlnum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// DNS-1123 subdomain: dot-separated labels of [a-z0-9-], each starting and
// ending alphanumeric, at most 253 characters in all.
inline bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
    }
  }
  return true;
}

// The name part of a Kubernetes qualified name.
inline bool IsQualifiedNamePart(absl::string_view s) {
  if (s.empty() || s.size() > 63 || !IsAlnum(s.front()) || !IsAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return IsAlnum(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace internal

// OK when `name` is an extended resource name in the kubelet's sense
// (IsExtendedResourceName): "domain/name", no "kubernetes.io/" in it, the
// domain such that "requests.<domain>" is a DNS-1123 subdomain, the name at
// most 63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
// INVALID_ARGUMENT naming the reason otherwise.
inline absl::Status ValidateResourceName(absl::string_view name) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid extended resource name '", name, "': ", why));
  };
  if (!absl::StrContains(name, '/')) return bad("no domain (native resource)");
  if (absl::StrContains(name, "kubernetes.io/")) return bad("kubernetes.io domain");
  if (absl::StartsWith(name, "requests.")) return bad("'requests.' prefix");
  // The kubelet checks the quota form "requests.<name>".
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  if (parts.size() != 2) return bad("more than one '/'");
  if (!internal::IsDnsSubdomain(absl::StrCat("requests.", parts[0]))) {
    return bad("domain is not a DNS subdomain");
  }
  if (!internal::IsQualifiedNamePart(parts[1]))
    return bad("name part is not a qualified name");
  return absl::OkStatus();
}

// The checks before the dial-back: version "v1beta1", a valid resource name,
// an endpoint that is a plain file name (the kubelet joins it to its
// directory). INVALID_ARGUMENT otherwise.
inline absl::Status ValidateRegisterRequest(const v1beta1::RegisterRequest& request) {
  if (request.version() != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("requested device plugin API version '", request.version(),
                     "' is not supported by kubelet; supported: ", kVersion));
  }
  if (auto status = ValidateResourceName(request.resource_name()); !status.ok()) {
    return status;
  }
  const std::string& endpoint = request.endpoint();
  if (endpoint.empty() || endpoint == "." || endpoint == ".." ||
      absl::StrContains(endpoint, '/')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "endpoint '", endpoint, "' is not a file name in the device-plugins directory"));
  }
  return absl::OkStatus();
}

// Checks a GetPreferredAllocation answer for one container: exactly one
// container response, exactly `size` IDs, all from `available`, no duplicates
// (FAILED_PRECONDITION otherwise). Returns the chosen IDs. Stricter than the
// real kubelet, which silently intersects the answer with the available set and
// fills up the rest itself: the sim exists to catch plugin bugs.
inline absl::StatusOr<std::vector<std::string>> CheckPreferredAllocation(
    const v1beta1::PreferredAllocationResponse& response,
    const std::vector<std::string>& available, int size) {
  auto bad = [](absl::string_view why) {
    return absl::FailedPreconditionError(
        absl::StrCat("bad GetPreferredAllocation answer: ", why));
  };
  if (response.container_responses_size() != 1) {
    return bad(absl::StrCat(response.container_responses_size(),
                            " container responses, want 1"));
  }
  const auto& ids = response.container_responses(0).deviceids();
  if (ids.size() != size) {
    return bad(absl::StrCat(ids.size(), " device IDs, want ", size));
  }
  std::set<std::string> seen;
  for (const std::string& id : ids) {
    if (std::find(available.begin(), available.end(), id) == available.end()) {
      return bad(absl::StrCat("'", id, "' is not among the available devices"));
    }
    if (!seen.insert(id).second) return bad(absl::StrCat("'", id, "' twice"));
  }
  return std::vector<std::string>(ids.begin(), ids.end());
}

}  // namespace kubelet_sim
