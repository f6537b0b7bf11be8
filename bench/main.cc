// hdp-bench: measures the real daemon against the kubelet simulator and prints
// the figures (docs/benchmark.md). Needs root (fake device nodes via mknod).
//   hdp-bench [--idle-seconds 60] [--json FILE] [--binary PATH] ...
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench.h"
#include "hailo_device_plugin/logging.h"

namespace {

using hdp_bench::Bench;

absl::Status RunAll(Bench& bench) {
  using Step = absl::Status (Bench::*)();
  const std::pair<const char*, Step> steps[] = {
      {"setup", &Bench::Setup},
      {"start", &Bench::MeasureStart},
      {"main daemon", &Bench::StartMain},
      {"hot-plug", &Bench::MeasureHotplug},
      {"kubelet restart", &Bench::MeasureRestart},
      {"rpc", &Bench::MeasureRpc},
      {"idle", &Bench::MeasureIdle},
      {"scale", &Bench::MeasureScale}};
  for (const auto& [name, step] : steps) {
    std::cerr << "hdp-bench: " << name << "...\n";
    if (absl::Status s = (bench.*step)(); !s.ok()) {
      return absl::Status(s.code(), std::string(name) + ": " + std::string(s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  hdp_bench::Options o;
  o.binary = HDP_BINARY;
  o.source_dir = HDP_SOURCE_DIR;
  o.http_address = "127.0.0.1:0";
  std::string json_path;
  bool keep = false;
  CLI::App app{"Benchmark of hailo-device-plugin against the kubelet simulator",
               "hdp-bench"};
  app.add_option("--binary", o.binary, "daemon executable")->capture_default_str();
  app.add_option("--idle-seconds", o.idle_seconds, "idle CPU window")
      ->capture_default_str();
  app.add_option("--starts", o.starts, "daemon starts")->capture_default_str();
  app.add_option("--cycles", o.hotplug_cycles, "unplug/replug cycles")
      ->capture_default_str();
  app.add_option("--restarts", o.restarts, "kubelet restarts")->capture_default_str();
  app.add_option("--calls", o.rpc_calls, "Allocate and GetPreferredAllocation calls each")
      ->capture_default_str();
  app.add_option("--http-address", o.http_address,
                 "the daemon's --http-address (\"\": off)")
      ->capture_default_str();
  app.add_option("--json", json_path, "also write the figures here as JSON");
  app.add_flag("--keep", keep, "keep the temp directory (daemon logs)");
  CLI11_PARSE(app, argc, argv);
  if (geteuid() != 0) {
    std::cerr << "hdp-bench: run as root (fake device nodes need mknod)\n";
    return 2;
  }
  (void)hailo_dp::ConfigureLogging("warn", "text");

  char tmpl[] = "/tmp/hdp-bench.XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  o.work_dir = tmpl;
  hdp_bench::Report report;
  report.SetInfo("machine", hdp_bench::MachineInfo());
  report.SetInfo("daemon", o.binary);
  report.SetInfo("http_address", o.http_address);
  absl::Status status;
  {
    Bench bench(o, &report);
    status = RunAll(bench);
  }
  std::cout << report.Table();
  if (!json_path.empty()) std::ofstream(json_path) << report.Json().dump(2) << "\n";
  if (!keep && status.ok()) std::filesystem::remove_all(o.work_dir);
  if (!status.ok()) {
    std::cerr << "hdp-bench: " << status << " (work dir kept: " << o.work_dir << ")\n";
    return 1;
  }
  return 0;
}
