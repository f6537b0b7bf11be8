// GetPreferredAllocation's choice: NUMA-local first, fewest NUMA nodes,
// distinct physical devices before replicas, deterministic.
#include <algorithm>
#include <map>
#include <set>

#include "hailo_device_plugin/strings.h"
#include "hailo_device_plugin/allocation.h"

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

absl::Status CheckRequest(const std::vector<std::string>& available,
                          const std::vector<std::string>& must_include, int size) {
  std::set<std::string> avail(available.begin(), available.end());
  if (avail.size() != available.size()) {
    return absl::InvalidArgumentError("available_deviceIDs lists an ID twice");
  }
  std::set<std::string> must(must_include.begin(), must_include.end());
  if (must.size() != must_include.size()) {
    return absl::InvalidArgumentError("must_include_deviceIDs lists an ID twice");
  }
  for (const std::string& id : must_include) {
    if (!avail.count(id)) {
      return absl::InvalidArgumentError(
          Cat("must-include device '", id, "' is not among the available ones"));
    }
  }
  if (size <= 0 || static_cast<size_t>(size) < must_include.size() ||
      static_cast<size_t>(size) > available.size()) {
    return absl::InvalidArgumentError(Cat(
        "cannot choose ", size, " devices from ", available.size(), " available with ",
        must_include.size(), " that must be included"));
  }
  return absl::OkStatus();
}

// Picks the next NUMA node: the smallest one that fits what is left, else the
// largest, ties to the lower node number (no NUMA last).
int NextNode(const std::map<int, std::vector<Candidate>>& free, size_t remaining) {
  auto rank = [](int node) { return node == kNoNuma ? INT32_MAX : node; };
  int best = kNoNuma;
  bool best_fits = false;
  size_t best_size = 0;
  bool first = true;
  for (const auto& [node, list] : free) {
    if (list.empty()) continue;
    bool fits = list.size() >= remaining;
    bool better = first || (fits && !best_fits) ||
                  (fits == best_fits &&
                   (fits ? list.size() < best_size : list.size() > best_size)) ||
                  (fits == best_fits && list.size() == best_size && rank(node) < rank(best));
    if (better) {
      best = node, best_fits = fits, best_size = list.size(), first = false;
    }
  }
  return best;
}

// Takes up to `count` candidates of one node, least-used physical device
// first, then lower replica, then ID.
void TakeFrom(std::vector<Candidate>& list, size_t count,
              std::map<std::string, int>& physical_use, std::vector<std::string>& out) {
  while (count-- > 0 && !list.empty()) {
    auto best = std::min_element(list.begin(), list.end(), [&](const auto& a, const auto& b) {
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
    const std::vector<std::string>& available, const std::vector<std::string>& must_include,
    int size, const std::vector<AdvertisedDevice>& advertised) {
  if (absl::Status s = CheckRequest(available, must_include, size); !s.ok()) return s;
  std::map<std::string_view, const AdvertisedDevice*> index;
  for (const AdvertisedDevice& a : advertised) index.emplace(a.id, &a);

  std::vector<std::string> chosen(must_include.begin(), must_include.end());
  std::map<std::string, int> physical_use;
  std::vector<int> must_nodes;
  for (const std::string& id : must_include) {
    Candidate c = Describe(id, index);
    physical_use[c.physical_id]++;
    if (std::find(must_nodes.begin(), must_nodes.end(), c.numa) == must_nodes.end()) {
      must_nodes.push_back(c.numa);
    }
  }
  std::set<std::string> must(must_include.begin(), must_include.end());
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
    std::vector<Candidate>& list = free[NextNode(free, remaining)];
    if (list.empty()) break;  // Unreachable: CheckRequest ensured enough.
    TakeFrom(list, remaining, physical_use, chosen);
    remaining = static_cast<size_t>(size) - chosen.size();
  }
  return chosen;
}

}  // namespace hailo_dp
