// The RPC, idle and scale scenarios.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "bench.h"
#include "hailo_device_plugin/cdi_writer.h"
#include "hailo_device_plugin/device_source.h"
#include "plugin_client.h"

namespace hdp_bench {
namespace {

using Micros = std::chrono::duration<double, std::micro>;

// Runs `call` `n` times; returns the round trips in µs.
template <typename Call>
absl::StatusOr<std::vector<double>> Time(int n, Call call) {
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    absl::Status s = call();
    us.push_back(Micros(Clock::now() - t0).count());
    if (!s.ok()) return s;
  }
  return us;
}

// Every `stride`-th ID of the advertised list, `count` of them.
std::vector<std::string> Pick(const std::vector<v1beta1::Device>& devices, size_t count) {
  std::vector<std::string> ids;
  size_t stride = std::max<size_t>(1, devices.size() / count);
  for (size_t i = 0; i < devices.size() && ids.size() < count; i += stride) {
    ids.push_back(devices[i].id());
  }
  return ids;
}

}  // namespace

absl::Status Bench::MeasureRpc() {
  PluginClient client(kubelet_dir_ + "/hailo.sock");
  if (absl::Status s = client.Connect(5000); !s.ok()) return s;
  const std::vector<std::string> ids{"0000-01-00.0"};
  for (int i = 0; i < 200; ++i) (void)client.Allocate(ids);  // warm-up
  auto alloc = Time(options_.rpc_calls, [&] { return client.Allocate(ids); });
  if (!alloc.ok()) return alloc.status();
  auto pref = Time(options_.rpc_calls, [&] { return client.Preferred(ids, 1); });
  if (!pref.ok()) return pref.status();
  Summary a = Summarize(*alloc), p = Summarize(*pref);
  const std::string group = "RPC round trips (one channel, 1 device)";
  report_->Add({group, "Allocate", "µs", a.n, a.p50, a.p99, "< 500 µs p99", a.p99 < 500,
                "p99 ~570 µs"});
  report_->Add(
      {group, "GetPreferredAllocation", "µs", p.n, p.p50, p.p99, "", std::nullopt, ""});
  return absl::OkStatus();
}

absl::Status Bench::MeasureIdle() {
  AddMemory("after all runs above");
  // Let the connection teardown of the RPC runs finish: idle means idle.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  ProcStats before, after;
  if (absl::Status s = main_->Stats(&before); !s.ok()) return s;
  std::this_thread::sleep_for(std::chrono::seconds(options_.idle_seconds));
  if (absl::Status s = main_->Stats(&after); !s.ok()) return s;
  const double per_minute = (after.cpu_ms - before.cpu_ms) * 60.0 / options_.idle_seconds;
  const std::string group = "idle window";
  report_->Add(
      {group,
       "idle CPU (" + std::to_string(options_.idle_seconds) + " s window) per minute",
       "ms", 1, per_minute, std::nullopt, "≤ 5 ms/min", per_minute <= 5.0, "~2 ms/min"});
  report_->Add({group, "idle RSS after the idle window", "MiB", 1, after.rss_mib,
                std::nullopt, "≤ 6 MiB", after.rss_mib <= 6.0, "~11 MiB"});
  report_->Add({group, "CPU used by start + all runs above", "ms", 1, before.cpu_ms,
                std::nullopt, "", std::nullopt, ""});
  report_->SetInfo("clock_ticks_per_second", sysconf(_SC_CLK_TCK));
  main_->Stop();
  main_.reset();
  return absl::OkStatus();
}

void Bench::MeasureCdiWrite(const std::string& host) {
  const std::string group = "scale";
  const std::string n = std::to_string(options_.scale_devices);
  const std::string out_dir = options_.work_dir + "/cdi-generate";
  std::filesystem::create_directories(out_dir);
  std::vector<double> cli, direct;
  for (int i = 0; i < 10; ++i) {
    std::chrono::nanoseconds wall{};
    int rc = RunCommand({options_.binary, "cdi", "generate", "--sys-root", host + "/sys",
                         "--dev-root", host + "/dev", "--output", out_dir + "/spec.json"},
                        &wall);
    if (rc == 0) cli.push_back(Ms(wall));
  }
  hailo_dp::DeviceSource source(hailo_dp::HostRoots{host + "/sys", host + "/dev"});
  std::vector<hailo_dp::Device> devices = source.Scan().devices;
  hailo_dp::CdiWriter writer(out_dir, host + "/sys", hailo_dp::ResourceSpec{});
  for (int i = 0; i < 50; ++i) {
    std::filesystem::remove(writer.path());  // Update() writes only when the file differs
    auto t0 = Clock::now();
    if (writer.Update(devices).ok()) direct.push_back(Ms(Clock::now() - t0));
  }
  Summary c = Summarize(cli), d = Summarize(direct);
  report_->Add({group, n + " devices: `cdi generate` (process, wall)", "ms", c.n, c.p50,
                c.p99, "", std::nullopt, ""});
  report_->Add({group, n + " devices: CdiWriter::Update (build+fsync+rename)", "ms", d.n,
                d.p50, d.p99, "", std::nullopt, ""});
  report_->SetInfo("cdi_spec_bytes_" + n, std::filesystem::file_size(writer.path()));
}

absl::Status Bench::ScaleRun(int devices, int replicas, const std::string& host) {
  std::string config;
  if (replicas > 1) {
    config = options_.work_dir + "/sharing.yaml";
    std::ofstream(config) << "sharing:\n  hailo8: {replicas: " << replicas
                          << ", flavour: direct}\n";
  }
  const size_t ids = size_t(devices) * size_t(replicas);
  const std::string label = replicas > 1 ? std::to_string(devices) + "×" +
                                               std::to_string(replicas) + " = " +
                                               std::to_string(ids) + " IDs"
                                         : std::to_string(devices) + " devices";
  auto daemon = NewDaemon(host, "scale-" + std::to_string(ids), config);
  double r = 0, l = 0;
  if (absl::Status s = StartAndRegister(*daemon, ids, &r, &l); !s.ok()) return s;
  const auto state = sim_->Plugin(kResource);
  v1beta1::ListAndWatchResponse list;
  for (const auto& d : state->devices) *list.add_devices() = d;
  const double bytes = double(list.ByteSizeLong());
  const std::string group = "scale";
  report_->Add({group, label + ": start → first device list", "ms", 1, l, std::nullopt,
                "", std::nullopt, ""});
  report_->Add({group, label + ": ListAndWatch message", "bytes", 1, bytes, std::nullopt,
                "< 4 MiB", bytes < 4.0 * 1024 * 1024, ""});
  PluginClient client(kubelet_dir_ + "/hailo.sock");
  if (absl::Status s = client.Connect(5000); !s.ok()) return s;
  const std::vector<std::string> pick = Pick(state->devices, 16);
  auto alloc = Time(1000, [&] { return client.Allocate(pick); });
  if (!alloc.ok()) return alloc.status();
  Summary a = Summarize(*alloc);
  report_->Add({group, label + ": Allocate of 16 IDs", "µs", a.n, a.p50, a.p99, "",
                std::nullopt, ""});
  ProcStats st;
  if (daemon->Stats(&st).ok()) {
    report_->Add({group, label + ": RSS", "MiB", 1, st.rss_mib, std::nullopt, "",
                  std::nullopt, ""});
  }
  daemon->Stop();
  return absl::OkStatus();
}

absl::Status Bench::MeasureScale() {
  const std::string host =
      options_.work_dir + "/host" + std::to_string(options_.scale_devices);
  if (absl::Status s = BuildHost(host, options_.scale_devices); !s.ok()) return s;
  if (absl::Status s = ScaleRun(options_.scale_devices, 1, host); !s.ok()) return s;
  if (absl::Status s = ScaleRun(options_.scale_devices, options_.scale_replicas, host);
      !s.ok()) {
    return s;
  }
  MeasureCdiWrite(host);
  return absl::OkStatus();
}

}  // namespace hdp_bench
