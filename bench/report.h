// The benchmark's figures: samples, their summary, the printed table and the
// JSON file. Pure; not thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace hdp_bench {

struct Summary {
  size_t n = 0;
  double p50 = 0, p99 = 0, max = 0;
};
// Nearest-rank percentiles of `samples` (any unit).
Summary Summarize(std::vector<double> samples);

// One line of the table. `p99` is empty for single figures; `ok` is empty
// when the figure has no target.
struct Row {
  std::string group;
  std::string name;
  std::string unit;
  size_t n = 1;
  double value = 0;  // the median, or the single figure
  std::optional<double> p99;
  std::string target;  // e.g. "< 100 ms p99"
  std::optional<bool> ok;
  std::string go;  // the replaced Go plugin's figure
};

class Report {
 public:
  void Add(Row row) { rows_.push_back(std::move(row)); }
  void SetInfo(const std::string& key, nlohmann::json value) {
    info_[key] = std::move(value);
  }
  const std::vector<Row>& rows() const { return rows_; }

  std::string Table() const;
  nlohmann::json Json() const;

 private:
  std::vector<Row> rows_;
  nlohmann::json info_ = nlohmann::json::object();
};

// Model name, cores, memory, kernel, compiler: the machine the figures came from.
nlohmann::json MachineInfo();

}  // namespace hdp_bench
