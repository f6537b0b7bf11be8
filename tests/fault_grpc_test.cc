// Fault injection over gRPC (issue 6): load (64 ListAndWatch streams and
// 10,000 concurrent Allocates, with the process's RSS flat afterwards) and
// bad input (unknown, duplicate, empty, huge and path-like IDs; impossible
// preferred-allocation requests) through real stubs on the plugin socket of
// an in-process Daemon.
//
// No timing is asserted beyond liveness; the load figures are reported.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "api.grpc.pb.h"
#include "testing/fault_fixture.h"

namespace hailo_dp {
namespace {

using testing::Clock;
using testing::FaultTest;
using testing::Hailo10HAt;
using testing::Hailo8At;
using ::testing::HasSubstr;
using testing::HealthOf;
using testing::kA;
using testing::kB;
using testing::kC;
using testing::kD;
using testing::kFaultWait;
using testing::kIdA;
using testing::kIdB;
using testing::kIdC;
using testing::kIdD;
using testing::kNpu;
using testing::kSanitized;
using testing::MillisSince;
using testing::ReportFigure;

constexpr size_t kMaxMessage = 1024;

class FaultGrpcTest : public FaultTest {
 protected:
  // Four devices, registered and listed; `stub_` on the plugin socket.
  void StartFourDevices() {
    tree_.AddDevice(Hailo8At(kA, 0));
    tree_.AddDevice(Hailo8At(kB, 1));
    tree_.AddDevice(Hailo10HAt(kC, 0));
    tree_.AddDevice(Hailo8At(kD, 2));
    StartSim();
    StartDaemon(MakeConfig());
    ASSERT_TRUE(WaitListed({kIdA, kIdB, kIdC, kIdD}));
    stub_ = testing::PluginStub(SocketPath());
  }

  grpc::Status Allocate(const std::vector<std::vector<std::string>>& containers,
                        v1beta1::AllocateResponse* response) {
    v1beta1::AllocateRequest request;
    for (const auto& ids : containers) {
      auto* c = request.add_container_requests();
      for (const auto& id : ids) c->add_devices_ids(id);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kFaultWait);
    return stub_->Allocate(&context, request, response);
  }

  grpc::Status Preferred(const std::vector<std::string>& available,
                         const std::vector<std::string>& must, int size) {
    v1beta1::PreferredAllocationRequest request =
        testing::PreferredRequest(available, must, size);
    v1beta1::PreferredAllocationResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kFaultWait);
    return stub_->GetPreferredAllocation(&context, request, &response);
  }

  // Every host path, mount path and CDI name in `response` belongs to one of
  // the discovered devices (their nodes, class entries, class directories).
  void ExpectOnlyDiscoveredPaths(const v1beta1::AllocateResponse& response) {
    std::set<std::string> paths;
    std::set<std::string> cdi_names;
    for (const Device& d : FreshScan().devices) {
      paths.insert({d.HostNodePath(), d.HostClassEntryPath(), d.HostClassDirPath()});
      cdi_names.insert(std::string(kNpuKind) + "=" + d.id);
    }
    for (const auto& c : response.container_responses()) {
      for (const auto& spec : c.devices()) {
        EXPECT_TRUE(paths.count(spec.host_path())) << spec.host_path();
        EXPECT_TRUE(paths.count(spec.container_path())) << spec.container_path();
      }
      for (const auto& mount : c.mounts()) {
        EXPECT_TRUE(paths.count(mount.host_path())) << mount.host_path();
      }
      for (const auto& cdi : c.cdi_devices()) {
        EXPECT_TRUE(cdi_names.count(cdi.name())) << cdi.name();
      }
      for (const auto& [key, value] : c.annotations()) {
        std::stringstream names(value);
        for (std::string name; std::getline(names, name, ',');) {
          EXPECT_TRUE(cdi_names.count(name)) << key << "=" << value;
        }
      }
    }
  }

  static constexpr char kNpuKind[] = "hailo.ai/npu";
  std::unique_ptr<v1beta1::DevicePlugin::Stub> stub_;
};

// --- Load -------------------------------------------------------------------------

// Issues `total` single-ID Allocates of healthy devices from `threads`
// threads, each with its own stub; returns how many were not OK.
int AllocateStorm(const std::string& socket, int total, int threads,
                  const std::vector<std::string>& ids) {
  std::atomic<int> failed{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto stub = testing::PluginStub(socket);
      for (int i = t; i < total; i += threads) {
        v1beta1::AllocateRequest request;
        request.add_container_requests()->add_devices_ids(ids[i % ids.size()]);
        v1beta1::AllocateResponse response;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + kFaultWait);
        grpc::Status status = stub->Allocate(&context, request, &response);
        if (!status.ok() || response.container_responses_size() != 1 ||
            response.container_responses(0).cdi_devices_size() != 1) {
          if (failed.fetch_add(1) < 5) {
            ADD_FAILURE() << ids[i % ids.size()] << ": " << status.error_code() << " "
                          << status.error_message();
          }
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return failed.load();
}

TEST_F(FaultGrpcTest, SixtyFourStreamsAndTenThousandConcurrentAllocatesKeepRssFlat) {
  constexpr int kStreams = 64;
  constexpr int kAllocates = 10000;
  constexpr int kThreads = 8;
  // 10,000 info lines ("allocated ...") would only slow the run down.
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);
  StartFourDevices();
  const std::vector<std::string> healthy = {kIdA, kIdB, kIdC};

  // Warm-up round: gRPC's and the allocator's pools reach their steady size.
  {
    std::vector<std::unique_ptr<testing::StreamClient>> streams;
    for (int i = 0; i < kStreams; ++i) {
      streams.push_back(std::make_unique<testing::StreamClient>(SocketPath()));
    }
    for (auto& s : streams) ASSERT_TRUE(s->WaitFirst(kFaultWait));
    EXPECT_EQ(AllocateStorm(SocketPath(), kAllocates / 5, kThreads, healthy), 0);
  }
  const long rss_before = testing::RssKib();

  std::vector<std::unique_ptr<testing::StreamClient>> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<testing::StreamClient>(SocketPath()));
  }
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(streams[i]->WaitFirst(kFaultWait)) << "stream " << i;
    EXPECT_EQ(streams[i]->Last()->devices_size(), 4) << "stream " << i;
  }
  // The storm runs while a device changes under it.
  const auto start = Clock::now();
  int failed = 0;
  std::thread storm(
      [&] { failed = AllocateStorm(SocketPath(), kAllocates, kThreads, healthy); });
  tree_.RemoveNode(kD);
  storm.join();
  const double storm_ms = MillisSince(start);
  EXPECT_EQ(failed, 0) << "of " << kAllocates << " Allocates";
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_TRUE(streams[i]->WaitFor(
        [](const auto& messages) {
          std::vector<v1beta1::Device> last(messages.back().devices().begin(),
                                            messages.back().devices().end());
          return messages.size() >= 2 && HealthOf(last, kIdD) == "Unhealthy";
        },
        kFaultWait))
        << "stream " << i << " got no update after the change";
  }
  streams.clear();
  EXPECT_TRUE(daemon_->Healthy().ok());
  spdlog::set_level(level);

  const long rss_after = testing::RssKib();
  ReportFigure("allocate_storm_10000_8_threads", storm_ms);
  ReportFigure("allocate_storm_mean_per_call", storm_ms / kAllocates);
  std::cout << "[  FIGURE  ] rss_before = " << rss_before
            << " KiB, rss_after = " << rss_after
            << " KiB, growth = " << (rss_after - rss_before) << " KiB" << std::endl;
  RecordProperty("rss_growth_kib", std::to_string(rss_after - rss_before));
  ASSERT_GT(rss_before, 0);
  // Flat: under 16 MiB of growth after the warm-up round. Sanitizers keep
  // freed memory in quarantine and shadow, so there the figure is only shown.
  if (!kSanitized) {
    EXPECT_LT(rss_after - rss_before, 16 * 1024) << "RSS grew";
  }
}

// --- Bad input --------------------------------------------------------------------

TEST_F(FaultGrpcTest, UnknownAndDuplicateIdsAreInvalidArgumentNamingTheId) {
  StartFourDevices();
  v1beta1::AllocateResponse response;
  grpc::Status status = Allocate({{"0000-99-00.0"}}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("0000-99-00.0"));

  status = Allocate({{kIdA, "nope"}}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("nope"));

  status = Allocate({{kIdA, kIdA}}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr(kIdA));

  // A bad second container fails the whole call.
  status = Allocate({{kIdA}, {"ghost"}}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("ghost"));
}

TEST_F(FaultGrpcTest, EmptyRequests) {
  StartFourDevices();
  // No container at all: nothing to answer (the kubelet never sends it).
  v1beta1::AllocateResponse response;
  grpc::Status status = Allocate({}, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.container_responses_size(), 0);
  // A container asking for no device is a malformed request.
  v1beta1::AllocateResponse response2;
  status = Allocate({{}}, &response2);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // The same for GetPreferredAllocation with nothing available.
  EXPECT_EQ(Preferred({}, {}, 1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FaultGrpcTest, HugeRequestsGetABoundedErrorAndTheDaemonStaysHealthy) {
  StartFourDevices();
  struct Case {
    std::string name;
    std::vector<std::string> ids;
  };
  std::vector<Case> cases;
  {
    Case unknown{"100000 unknown IDs", {}};
    for (int i = 0; i < 100000; ++i) unknown.ids.push_back("dev-" + std::to_string(i));
    cases.push_back(std::move(unknown));
    cases.push_back(
        {"100000 copies of a valid ID", std::vector<std::string>(100000, kIdA)});
    cases.push_back({"one 1 MiB ID", {std::string(1 << 20, 'x')}});
    cases.push_back({"a valid ID, then a 1 MiB one", {kIdA, std::string(1 << 20, '/')}});
  }
  for (const Case& c : cases) {
    v1beta1::AllocateResponse response;
    const auto start = Clock::now();
    grpc::Status status = Allocate({c.ids}, &response);
    std::cout << "[  FIGURE  ] " << c.name << ": answered in " << MillisSince(start)
              << " ms: " << status.error_message().substr(0, 120) << std::endl;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name;
    EXPECT_LT(status.error_message().size(), kMaxMessage) << c.name;
    EXPECT_FALSE(status.error_message().empty()) << c.name;
  }
  // Past gRPC's 4 MiB receive limit: refused by gRPC itself, still bounded.
  {
    v1beta1::AllocateResponse response;
    const auto start = Clock::now();
    grpc::Status status = Allocate({{std::string(5 << 20, 'y')}}, &response);
    std::cout << "[  FIGURE  ] 5 MiB request: answered in " << MillisSince(start) << " ms"
              << std::endl;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << status.error_message();
    EXPECT_LT(status.error_message().size(), kMaxMessage);
  }
  // Huge preferred-allocation requests too.
  {
    std::vector<std::string> many(100000, kIdA);
    auto start = Clock::now();
    grpc::Status status = Preferred(many, {}, 1);
    std::cout << "[  FIGURE  ] preferred, 100000 available: answered in "
              << MillisSince(start) << " ms" << std::endl;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_LT(status.error_message().size(), kMaxMessage);
    start = Clock::now();
    status = Preferred({std::string(1 << 20, 'z')}, {std::string(1 << 20, 'z')}, 1);
    std::cout << "[  FIGURE  ] preferred, 1 MiB ID: answered in " << MillisSince(start)
              << " ms: " << status.error_code() << std::endl;
    EXPECT_LT(status.error_message().size(), kMaxMessage);
  }
  EXPECT_TRUE(daemon_->Healthy().ok()) << std::string(daemon_->Healthy().message());
  v1beta1::AllocateResponse response;
  grpc::Status status = Allocate({{kIdB}}, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(sim_.Plugin(testing::kNpu)->stream_open);
}

TEST_F(FaultGrpcTest, PathLikeIdsAreRefusedAndNoResponseNamesAPathOutsideTheDevices) {
  StartFourDevices();
  const std::vector<std::string> hostile = {"../../dev/sda",
                                            "0000-03-00.0/../x",
                                            "/dev/sda",
                                            "..",
                                            ".",
                                            "0000-03-00.0/",
                                            "../0000-03-00.0",
                                            "0000-03-00.0\n",
                                            std::string("0000-03-00.0\0x", 14),
                                            "hailo0",
                                            "all",
                                            "*",
                                            "hailo.ai/npu=0000-03-00.0",
                                            "0000:03:00.0"};
  for (const std::string& id : hostile) {
    v1beta1::AllocateResponse response;
    grpc::Status status = Allocate({{id}}, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "'" << id << "'";
    EXPECT_EQ(response.container_responses_size(), 0) << "'" << id << "'";
    status = Allocate({{kIdA, id}}, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << "'" << id << "'";
  }
  // Successful answers, in every allocation mode, name only discovered devices.
  daemon_->Stop();
  Config config = MakeConfig();
  config.allocation_modes = kModeCdiCri | kModeCdiAnnotations | kModeDeviceSpecs;
  StartDaemon(config);
  ASSERT_TRUE(WaitListed({kIdA, kIdB, kIdC, kIdD}, 2));
  stub_ = testing::PluginStub(SocketPath());
  for (const auto& ids : std::vector<std::vector<std::string>>{
           {kIdA}, {kIdC}, {kIdA, kIdB, kIdC, kIdD}, {kIdD, kIdB}}) {
    v1beta1::AllocateResponse response;
    grpc::Status status = Allocate({ids}, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_EQ(response.container_responses_size(), 1);
    EXPECT_GT(response.container_responses(0).devices_size(), 0);
    ExpectOnlyDiscoveredPaths(response);
  }
}

TEST_F(FaultGrpcTest, ImpossiblePreferredAllocationsAreInvalidArgument) {
  StartFourDevices();
  // Larger than what is available.
  EXPECT_EQ(Preferred({kIdA, kIdB}, {}, 3).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A must-include device that is not available.
  EXPECT_EQ(Preferred({kIdA, kIdB}, {kIdC}, 1).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Negative, zero and absurd sizes.
  for (int size : {-1, 0, std::numeric_limits<int32_t>::min(),
                   std::numeric_limits<int32_t>::max()}) {
    grpc::Status status = Preferred({kIdA, kIdB}, {}, size);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << size;
    EXPECT_LT(status.error_message().size(), kMaxMessage);
  }
  // Fewer than must-include.
  EXPECT_EQ(Preferred({kIdA, kIdB, kIdC}, {kIdA, kIdB}, 1).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Unknown IDs: refused or answered only with available ones.
  {
    v1beta1::PreferredAllocationRequest request;
    auto* c = request.add_container_requests();
    c->add_available_deviceids("../../dev/sda");
    c->add_available_deviceids(kIdA);
    c->set_allocation_size(1);
    v1beta1::PreferredAllocationResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kFaultWait);
    grpc::Status status = stub_->GetPreferredAllocation(&context, request, &response);
    if (status.ok()) {
      ASSERT_EQ(response.container_responses_size(), 1);
      ASSERT_EQ(response.container_responses(0).deviceids_size(), 1);
      EXPECT_EQ(response.container_responses(0).deviceids(0), kIdA);
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    }
  }
  // A valid one still works.
  EXPECT_TRUE(Preferred({kIdA, kIdB}, {kIdA}, 2).ok());
  EXPECT_TRUE(daemon_->Healthy().ok());
}

}  // namespace
}  // namespace hailo_dp
