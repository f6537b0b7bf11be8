// GetPreferredAllocation's choice: NUMA-local first, fewest NUMA nodes,
// distinct physical devices before replicas, deterministic.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "hailo_device_plugin/allocation.h"
#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

constexpr int kNoNuma = -1;

struct Candidate {
  std::string id;
  std::string physical_id;
  int replica = 0;
  int numa = kNoNuma;
};

Candidate Describe(const std::string& id,
                   const std::map<std::string_view, const AdvertisedDevice*>& index) {
  auto it = index.find(id);
  if (it == index.end()) return {id, id, 0, kNoNuma};
  const Device& d = it->second->device;
  return {id, d.id, it->second->replica, d.numa_node.value_or(kNoNuma)};
}

// Keeps error messages bounded when a client sends absurd IDs.
std::string Quote(std::string_view id) {
  constexpr size_t kMax = 80;
  if (id.size() <= kMax) return Cat("'", id, "'");
  return Cat("'", id.substr(0, kMax), "...' (", id.size(), " bytes)");
}

// The first ID listed twice, or nullopt.
std::optional<std::string> Duplicate(const std::vector<std::string>& ids) {
  std::set<std::string_view> seen;
  for (const std::string& id : ids) {
    if (!seen.insert(id).second) return id;
  }
  return std::nullopt;
}

absl::Status CheckRequest(const std::vector<std::string>& available,
                          const std::vector<std::string>& must_include, int size) {
  if (auto dup = Duplicate(available)) {
    return absl::InvalidArgumentError(
        Cat("available_deviceIDs lists ", Quote(*dup), " twice"));
  }
  if (auto dup = Duplicate(must_include)) {
    return absl::InvalidArgumentError(
        Cat("must_include_deviceIDs lists ", Quote(*dup), " twice"));
  }
  std::set<std::string_view> avail(available.begin(), available.end());
  for (const std::string& id : must_include) {
    if (!avail.count(id)) {
      return absl::InvalidArgumentError(
          Cat("must-include device ", Quote(id), " is not among the available ones"));
    }
  }
  if (size <= 0 || static_cast<size_t>(size) < must_include.size() ||
      static_cast<size_t>(size) > available.size()) {
    return absl::InvalidArgumentError(Cat("cannot choose ", size, " devices from ",
                                          available.size(), " available with ",
                                          must_include.size(), " that must be included"));
  }
  return absl::OkStatus();
}

// Picks the next NUMA node: among those that fit what is left, one whose
// unused physical devices suffice (so replicas are not doubled up needlessly),
// then the smallest; when none fits, the largest. Ties go to the lower node
// number (no NUMA last).
int NextNode(const std::map<int, std::vector<Candidate>>& free, size_t remaining,
             const std::map<std::string, int>& physical_use) {
  using Key = std::tuple<int, int, int64_t, int>;
  auto key = [&](int node, const std::vector<Candidate>& list) -> Key {
    std::set<std::string_view> unused;
    for (const Candidate& c : list) {
      auto it = physical_use.find(c.physical_id);
      if (it == physical_use.end() || it->second == 0) unused.insert(c.physical_id);
    }
    const bool fits = list.size() >= remaining;
    const bool distinct = unused.size() >= remaining;
    const int64_t size = static_cast<int64_t>(list.size());
    return std::tuple(fits ? 0 : 1, fits && !distinct ? 1 : 0, fits ? size : -size,
                      node == kNoNuma ? INT32_MAX : node);
  };
  int best = kNoNuma;
  std::optional<Key> best_key;
  for (const auto& [node, list] : free) {
    if (list.empty()) continue;
    auto k = key(node, list);
    if (!best_key || k < *best_key) best = node, best_key = k;
  }
  return best;
}

// Takes up to `count` candidates of one node, least-used physical device
// first, then lower replica, then ID.
void TakeFrom(std::vector<Candidate>& list, size_t count,
              std::map<std::string, int>& physical_use, std::vector<std::string>& out) {
  while (count-- > 0 && !list.empty()) {
    auto best =
        std::min_element(list.begin(), list.end(), [&](const auto& a, const auto& b) {
          return std::tuple(physical_use[a.physical_id], a.replica, a.id) <
                 std::tuple(physical_use[b.physical_id], b.replica, b.id);
        });
    physical_use[best->physical_id]++;
    out.push_back(best->id);
    list.erase(best);
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ChoosePreferredAllocation(
    const std::vector<std::string>& available,
    const std::vector<std::string>& must_include, int size,
    const std::vector<AdvertisedDevice>& advertised) {
  if (absl::Status s = CheckRequest(available, must_include, size); !s.ok()) return s;
  std::map<std::string_view, const AdvertisedDevice*> index;
  for (const AdvertisedDevice& a : advertised) index.emplace(a.id, &a);

  // Sorted, so that the answer does not depend on the order of the request.
  std::set<std::string> must(must_include.begin(), must_include.end());
  std::vector<std::string> chosen(must.begin(), must.end());
  std::map<std::string, int> physical_use;
  std::set<int> must_node_set;
  for (const std::string& id : must) {
    Candidate c = Describe(id, index);
    physical_use[c.physical_id]++;
    must_node_set.insert(c.numa);
  }
  // Lower node numbers first, no NUMA last.
  std::vector<int> must_nodes(must_node_set.begin(), must_node_set.end());
  if (!must_nodes.empty() && must_nodes.front() == kNoNuma) {
    std::rotate(must_nodes.begin(), must_nodes.begin() + 1, must_nodes.end());
  }
  std::map<int, std::vector<Candidate>> free;
  for (const std::string& id : available) {
    if (!must.count(id)) {
      Candidate c = Describe(id, index);
      free[c.numa].push_back(std::move(c));
    }
  }
  size_t remaining = static_cast<size_t>(size) - chosen.size();
  for (int node : must_nodes) {
    TakeFrom(free[node], remaining, physical_use, chosen);
    remaining = static_cast<size_t>(size) - chosen.size();
  }
  while (remaining > 0) {
    std::vector<Candidate>& list = free[NextNode(free, remaining, physical_use)];
    if (list.empty()) break;  // Unreachable: CheckRequest ensured enough.
    TakeFrom(list, remaining, physical_use, chosen);
    remaining = static_cast<size_t>(size) - chosen.size();
  }
  return chosen;
}

}  // namespace hailo_dp
