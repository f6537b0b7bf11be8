#include "report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

namespace hdp_bench {
namespace {

std::string Fmt(double v) {
  char buf[32];
  if (v == 0 || std::fabs(v) >= 100) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else if (std::fabs(v) >= 10) {
    std::snprintf(buf, sizeof buf, "%.1f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f", v);
  }
  return buf;
}

std::string Pad(const std::string& s, size_t width) {
  // Width in code points, so that "µs" and "✓" line up.
  size_t chars = 0;
  for (unsigned char c : s) chars += (c & 0xC0) != 0x80;
  return chars >= width ? s : s + std::string(width - chars, ' ');
}

std::string FirstLineMatching(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      size_t sep = line.find_first_of(":=");
      if (sep == std::string::npos) return line;
      std::string v = line.substr(line.find_first_not_of(" \t\"", sep + 1));
      if (!v.empty() && v.back() == '"') v.pop_back();
      return v;
    }
  }
  return "";
}

}  // namespace

Summary Summarize(std::vector<double> samples) {
  Summary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double p) {
    size_t i = static_cast<size_t>(std::ceil(p * static_cast<double>(s.n)));
    return samples[std::clamp<size_t>(i, 1, s.n) - 1];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  s.max = samples.back();
  return s;
}

std::string Report::Table() const {
  const size_t w[] = {50, 9, 9, 5, 6, 14, 4};
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i)
      out += Pad(cells[i], w[i]) + (i + 1 < cells.size() ? " " : "");
    out += "\n";
  };
  std::string group;
  line({"figure", "p50/value", "p99", "unit", "n", "target", "ok"});
  for (const Row& r : rows_) {
    if (r.group != group) {
      group = r.group;
      out += "-- " + group + " " +
             std::string(std::max<size_t>(4, 96 - group.size()), '-') + "\n";
    }
    line({r.name, Fmt(r.value), r.p99 ? Fmt(*r.p99) : "", r.unit, std::to_string(r.n),
          r.target, r.ok ? (*r.ok ? "✓" : "✗ MISS") : ""});
    if (!r.go.empty()) out += "      Go plugin: " + r.go + "\n";
  }
  return out;
}

nlohmann::json Report::Json() const {
  nlohmann::json rows = nlohmann::json::array();
  for (const Row& r : rows_) {
    nlohmann::json j{{"group", r.group},
                     {"name", r.name},
                     {"unit", r.unit},
                     {"n", r.n},
                     {"value", r.value}};
    if (r.p99) j["p99"] = *r.p99;
    if (!r.target.empty()) j["target"] = r.target;
    if (r.ok) j["ok"] = *r.ok;
    if (!r.go.empty()) j["go_plugin"] = r.go;
    rows.push_back(j);
  }
  return {{"info", info_}, {"figures", rows}};
}

nlohmann::json MachineInfo() {
  utsname u{};
  uname(&u);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return {{"cpu", FirstLineMatching("/proc/cpuinfo", "model name")},
          {"cores", std::thread::hardware_concurrency()},
          {"memory_gib", std::round(double(pages) * double(page) / (1 << 30) * 10) / 10},
          {"kernel", std::string(u.sysname) + " " + u.release},
          {"os", FirstLineMatching("/etc/os-release", "PRETTY_NAME")},
          {"compiler", std::string("gcc ") + __VERSION__}};
}

}  // namespace hdp_bench
