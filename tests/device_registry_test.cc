#include "hailo_device_plugin/device_registry.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hailo_device_plugin/strings.h"

namespace hailo_dp {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

// Long enough never to expire in a passing run; a wake-up bug shows as a
// timeout failure instead of a hang.
constexpr milliseconds kLong{30000};

Device Dev(std::string id, bool healthy = true) {
  Device d;
  d.id = std::move(id);
  d.pci_address = d.id;
  d.healthy = healthy;
  if (!healthy) d.reason = "broken";
  return d;
}

std::vector<std::string> Ids(const Snapshot& s) {
  std::vector<std::string> out;
  for (const Device& d : s.devices) out.push_back(d.id);
  return out;
}

TEST(DeviceRegistry, StartsEmptyAtVersionZero) {
  DeviceRegistry registry;
  auto snapshot = registry.Current();
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(snapshot->version, 0u);
  EXPECT_THAT(snapshot->devices, IsEmpty());
}

TEST(DeviceRegistry, FirstPublicationCountsEvenWhenEmpty) {
  // ListAndWatch must send a first message even on a node without devices.
  DeviceRegistry registry;
  EXPECT_TRUE(registry.Publish({}));
  EXPECT_EQ(registry.Current()->version, 1u);
  EXPECT_FALSE(registry.Publish({}));
  EXPECT_EQ(registry.Current()->version, 1u);
}

TEST(DeviceRegistry, VersionRisesOnlyOnChange) {
  DeviceRegistry registry;
  EXPECT_TRUE(registry.Publish({Dev("b"), Dev("a")}));
  EXPECT_EQ(registry.Current()->version, 1u);
  EXPECT_FALSE(registry.Publish({Dev("b"), Dev("a")}));
  EXPECT_FALSE(registry.Publish({Dev("a"), Dev("b")})) << "order is not a change";
  EXPECT_EQ(registry.Current()->version, 1u);

  EXPECT_TRUE(registry.Publish({Dev("a"), Dev("b", false)})) << "health is a change";
  EXPECT_EQ(registry.Current()->version, 2u);
  EXPECT_TRUE(registry.Publish({Dev("a"), Dev("b")})) << "and so is recovery";
  EXPECT_EQ(registry.Current()->version, 3u);

  Device moved = Dev("a");
  moved.numa_node = 1;
  EXPECT_TRUE(registry.Publish({moved, Dev("b")})) << "any field is a change";
  EXPECT_TRUE(registry.Publish({moved}));
  EXPECT_TRUE(registry.Publish({}));
  EXPECT_EQ(registry.Current()->version, 6u);
}

TEST(DeviceRegistry, SnapshotsAreSortedAndImmutable) {
  DeviceRegistry registry;
  registry.Publish({Dev("c"), Dev("a"), Dev("b")});
  auto first = registry.Current();
  EXPECT_THAT(Ids(*first), ElementsAre("a", "b", "c"));
  ASSERT_NE(first->Find("b"), nullptr);
  EXPECT_EQ(first->Find("b")->id, "b");
  EXPECT_EQ(first->Find("d"), nullptr);
  EXPECT_EQ(first->Find(""), nullptr);
  EXPECT_EQ(first->Find("0"), nullptr);

  registry.Publish({Dev("d")});
  EXPECT_THAT(Ids(*first), ElementsAre("a", "b", "c")) << "a held snapshot never changes";
  EXPECT_EQ(first->version, 1u);
  EXPECT_THAT(Ids(*registry.Current()), ElementsAre("d"));
}

TEST(DeviceRegistry, WaitNewerReturnsAtOnceWhenAlreadyNewer) {
  DeviceRegistry registry;
  registry.Publish({Dev("a")});
  const auto start = Clock::now();
  auto snapshot = registry.WaitNewer(0, kLong, nullptr);
  EXPECT_LT(Clock::now() - start, kLong);
  EXPECT_EQ(snapshot->version, 1u);
}

TEST(DeviceRegistry, WaitNewerWakesOnPublish) {
  DeviceRegistry registry;
  registry.Publish({Dev("a")});
  auto waiter = std::async(std::launch::async, [&] {
    return registry.WaitNewer(1, kLong, [] { return false; });
  });
  registry.Publish({Dev("a"), Dev("b")});
  auto snapshot = waiter.get();
  EXPECT_EQ(snapshot->version, 2u);
  EXPECT_THAT(Ids(*snapshot), ElementsAre("a", "b"));
}

TEST(DeviceRegistry, WaitNewerIgnoresAnUnchangedPublish) {
  DeviceRegistry registry;
  registry.Publish({Dev("a")});
  const milliseconds timeout{150};
  auto waiter = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    auto snapshot = registry.WaitNewer(1, timeout, nullptr);
    return std::make_pair(snapshot, Clock::now() - start);
  });
  registry.Publish({Dev("a")});  // no change
  auto [snapshot, waited] = waiter.get();
  EXPECT_EQ(snapshot->version, 1u);
  EXPECT_GE(waited, timeout);
}

TEST(DeviceRegistry, WaitNewerTimesOut) {
  DeviceRegistry registry;
  registry.Publish({Dev("a")});
  const milliseconds timeout{100};
  const auto start = Clock::now();
  auto snapshot = registry.WaitNewer(1, timeout, [] { return false; });
  EXPECT_GE(Clock::now() - start, timeout);
  EXPECT_EQ(snapshot->version, 1u) << "the current snapshot, also on timeout";
}

TEST(DeviceRegistry, WakeEndsAWaitWhoseStopIsTrue) {
  DeviceRegistry registry;
  registry.Publish({Dev("a")});
  std::atomic<bool> stop{false};
  auto waiter = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    auto snapshot = registry.WaitNewer(1, kLong, [&] { return stop.load(); });
    return std::make_pair(snapshot, Clock::now() - start);
  });
  stop.store(true);
  registry.Wake();
  auto [snapshot, waited] = waiter.get();
  EXPECT_LT(waited, kLong);
  EXPECT_EQ(snapshot->version, 1u);
}

TEST(DeviceRegistry, WakeWithStopFalseKeepsWaiting) {
  DeviceRegistry registry;
  registry.Publish({Dev("a")});
  const milliseconds timeout{150};
  auto waiter = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    registry.WaitNewer(1, timeout, [] { return false; });
    return Clock::now() - start;
  });
  for (int i = 0; i < 5; ++i) registry.Wake();
  EXPECT_GE(waiter.get(), timeout);
}

TEST(DeviceRegistry, StopAlreadyTrueReturnsAtOnce) {
  DeviceRegistry registry;
  const auto start = Clock::now();
  auto snapshot = registry.WaitNewer(0, kLong, [] { return true; });
  EXPECT_LT(Clock::now() - start, kLong);
  EXPECT_EQ(snapshot->version, 0u);
}

TEST(DeviceRegistry, WakeWakesEveryWaiter) {
  DeviceRegistry registry;
  std::atomic<bool> stop{false};
  std::vector<std::future<uint64_t>> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.push_back(std::async(std::launch::async, [&] {
      return registry.WaitNewer(0, kLong, [&] { return stop.load(); })->version;
    }));
  }
  stop.store(true);
  registry.Wake();
  for (auto& w : waiters) EXPECT_EQ(w.get(), 0u);
}

// Several publishers and readers at once; runs under TSan in CI.
TEST(DeviceRegistry, ConcurrentPublishersAndReaders) {
  DeviceRegistry registry;
  constexpr int kPublishers = 3;
  constexpr int kReaders = 3;
  constexpr int kRounds = 300;
  std::atomic<bool> stop{false};
  std::atomic<int> published{0};
  std::atomic<int> problems{0};

  std::vector<std::thread> readers;
  std::vector<uint64_t> seen(kReaders, 0);
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      uint64_t last = 0;
      while (!stop.load()) {
        auto snapshot = (r % 2 == 0) ? registry.WaitNewer(last, milliseconds(50),
                                                          [&] { return stop.load(); })
                                     : registry.Current();
        if (snapshot->version < last) problems.fetch_add(1);  // never goes back
        if (!std::is_sorted(
                snapshot->devices.begin(), snapshot->devices.end(),
                [](const Device& a, const Device& b) { return a.id < b.id; })) {
          problems.fetch_add(1);
        }
        for (const Device& d : snapshot->devices) {
          if (snapshot->Find(d.id) != &d) problems.fetch_add(1);
        }
        last = snapshot->version;
      }
      seen[r] = last;
    });
  }
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      for (int i = 0; i < kRounds; ++i) {
        std::vector<Device> devices = {Dev(Cat("p", p)),
                                       Dev(Cat("i", i % 7), i % 3 != 0)};
        if (registry.Publish(std::move(devices))) published.fetch_add(1);
      }
    });
  }
  for (std::thread& t : publishers) t.join();
  stop.store(true);
  registry.Wake();
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(problems.load(), 0);
  const uint64_t final_version = registry.Current()->version;
  EXPECT_EQ(final_version, static_cast<uint64_t>(published.load()))
      << "the version counts exactly the publications that changed something";
  for (uint64_t v : seen) EXPECT_LE(v, final_version);
}

}  // namespace
}  // namespace hailo_dp
