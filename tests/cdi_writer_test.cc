#include "hailo_device_plugin/cdi_writer.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hailo_device_plugin/cdi_spec.h"
#include "hailo_device_plugin/device_source.h"
#include "hailo_device_plugin/strings.h"
#include "testing/fake_host_tree.h"
#include "testing/temp_dir.h"

namespace hailo_dp {
namespace {

using ::testing::ElementsAre;
using testing::FakeDevice;
using testing::FakeHostTree;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Layout;

namespace fs = std::filesystem;
using testing::Slurp;
using testing::TempDir;

ino_t Inode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

Device Dev(std::string pci_address, std::string class_name, std::string node,
           Family family = Family::kHailo8) {
  Device d;
  d.id = DeviceIdFromPciAddress(pci_address);
  d.pci_address = std::move(pci_address);
  d.family = family;
  d.class_name = std::move(class_name);
  d.node_name = std::move(node);
  d.healthy = true;
  return d;
}

// RLIMIT_FSIZE binds root too: writes past it fail with EFBIG.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = saved_;
    limit.rlim_cur = bytes;
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, old_handler_);
  }

 private:
  struct rlimit saved_ {};
  sighandler_t old_handler_;
};

// --- ExistingClassDirs ----------------------------------------------------------

TEST(ExistingClassDirs, ListsTheHailoClassDirectoriesPresent) {
  TempDir root;
  const std::string sys = root.path() + "/sys";
  EXPECT_THAT(ExistingClassDirs(sys), IsEmpty()) << "no sys root at all";
  fs::create_directories(sys + "/class/net");
  EXPECT_THAT(ExistingClassDirs(sys), IsEmpty());
  fs::create_directories(sys + "/class/hailo1x");
  EXPECT_THAT(ExistingClassDirs(sys), ElementsAre("hailo1x"));
  fs::create_directories(sys + "/class/hailo_chardev");
  EXPECT_THAT(ExistingClassDirs(sys), ElementsAre("hailo_chardev", "hailo1x"));
}

TEST(ExistingClassDirs, IgnoresAFileAndFollowsASymlink) {
  TempDir root;
  const std::string sys = root.path() + "/sys";
  fs::create_directories(sys + "/class");
  std::ofstream(sys + "/class/hailo_chardev") << "not a directory";
  fs::create_directories(root.path() + "/elsewhere");
  fs::create_directory_symlink(root.path() + "/elsewhere", sys + "/class/hailo1x");
  EXPECT_THAT(ExistingClassDirs(sys), ElementsAre("hailo1x"));
}

TEST(ExistingClassDirs, FromAFakeHostTree) {
  FakeHostTree tree;
  EXPECT_THAT(ExistingClassDirs(tree.sys_root()), IsEmpty());
  tree.AddDevice({.pci_address = "0000:03:00.0", .layout = Layout::kHailoPci422});
  EXPECT_THAT(ExistingClassDirs(tree.sys_root()), ElementsAre("hailo_chardev"));
  tree.AddDevice({.pci_address = "0000:04:00.0",
                  .family = Family::kHailo10H,
                  .layout = Layout::kHailo1x53});
  EXPECT_THAT(ExistingClassDirs(tree.sys_root()),
              ElementsAre("hailo_chardev", "hailo1x"));
}

// --- CdiWriter ---------------------------------------------------------------------

class CdiWriterTest : public ::testing::Test {
 protected:
  CdiWriterTest() {
    fs::create_directories(sys_root() + "/class/hailo_chardev");
    fs::create_directories(sys_root() + "/class/hailo1x");
  }
  std::string cdi_dir() const { return root_.path() + "/cdi"; }
  std::string sys_root() const { return root_.path() + "/sys"; }
  std::string spec_path() const { return cdi_dir() + "/hailo.ai-npu.json"; }
  std::string Expected(const std::vector<Device>& devices,
                       const std::string& kind = "hailo.ai/npu") const {
    return SerializeCdiSpec(BuildCdiSpec(devices, {kind, {"hailo_chardev", "hailo1x"}}));
  }

  TempDir root_;
  std::vector<Device> devices_ = {
      Dev("0000:03:00.0", "hailo_chardev", "hailo0"),
      Dev("0000:04:00.0", "hailo1x", "h1x-0", Family::kHailo10H)};
};

TEST_F(CdiWriterTest, WritesTheSpecFileOfTheResource) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  EXPECT_EQ(writer.path(), spec_path());
  absl::Status status = writer.Update(devices_);
  ASSERT_TRUE(status.ok()) << Str(status.message());
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));
  EXPECT_EQ(writer.writes(), 1u);
  EXPECT_EQ(writer.failures(), 0u);
  struct stat st {};
  ASSERT_EQ(::stat(spec_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  // Host paths in the spec, not the scanned root.
  EXPECT_EQ(Slurp(spec_path()).find(root_.path()), std::string::npos);
}

TEST_F(CdiWriterTest, SkipsUnchangedContent) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  ASSERT_TRUE(writer.Update(devices_).ok());
  const ino_t inode = Inode(spec_path());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 1u);
  EXPECT_EQ(Inode(spec_path()), inode);
  // The same devices in another order give the same spec.
  std::vector<Device> reversed(devices_.rbegin(), devices_.rend());
  ASSERT_TRUE(writer.Update(reversed).ok());
  EXPECT_EQ(writer.writes(), 1u);
}

TEST_F(CdiWriterTest, RewritesOnChange) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  ASSERT_TRUE(writer.Update(devices_).ok());
  devices_[0].healthy = false;
  devices_[0].reason = "node missing";
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 2u);
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));
}

// The CDI library refuses a spec without devices ("invalid spec, no
// devices"): with nothing to name, the file goes.
TEST_F(CdiWriterTest, NoDeviceToNameRemovesTheSpec) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  ASSERT_TRUE(writer.Update(devices_).ok());
  ASSERT_TRUE(fs::exists(spec_path()));
  ASSERT_TRUE(writer.Update({}).ok());
  EXPECT_FALSE(fs::exists(spec_path()));
  EXPECT_EQ(writer.writes(), 2u);
  // Nothing to remove: no change.
  ASSERT_TRUE(writer.Update({}).ok());
  EXPECT_EQ(writer.writes(), 2u);
  // A device without a node (it failed to probe) has no name in a spec either.
  Device no_node = devices_[0];
  no_node.node_name.clear();
  no_node.class_name.clear();
  no_node.healthy = false;
  no_node.reason = "no class device";
  ASSERT_TRUE(writer.Update({no_node}).ok());
  EXPECT_FALSE(fs::exists(spec_path()));
  EXPECT_EQ(writer.failures(), 0u);
  // A device again: the spec is back.
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));
}

TEST_F(CdiWriterTest, SpecThatCannotBeRemovedIsAFailure) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  // The spec's path is taken by a directory: unlink() fails (EISDIR).
  fs::create_directories(spec_path() + "/in-the-way");
  absl::Status status = writer.Update({});
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(Str(status.message()), HasSubstr(spec_path()));
  EXPECT_THAT(Str(status.message()), HasSubstr("cannot remove"));
  EXPECT_EQ(writer.failures(), 1u);
  fs::remove_all(spec_path());
  ASSERT_TRUE(writer.Update({}).ok());
  EXPECT_EQ(writer.failures(), 1u);
  EXPECT_EQ(writer.writes(), 0u);
}

TEST_F(CdiWriterTest, RewritesWhenDeletedOrChangedExternally) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  ASSERT_TRUE(writer.Update(devices_).ok());
  ASSERT_EQ(::unlink(spec_path().c_str()), 0);
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 2u);
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));

  std::ofstream(spec_path()) << "{}";
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 3u);
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));

  // The whole directory removed: it is made again.
  fs::remove_all(cdi_dir());
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 4u);
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));
}

TEST_F(CdiWriterTest, FailureKeepsTheLastGoodSpecAndCounts) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  const std::vector<Device> one = {devices_[0]};
  ASSERT_TRUE(writer.Update(one).ok());
  const std::string good = Slurp(spec_path());
  // The spec of two devices is larger than the limit; that of one is not.
  ASSERT_GT(Expected(devices_).size(), good.size() + 16);
  std::vector<absl::Status> statuses;
  std::vector<uint64_t> failures;
  {
    // Only the updates run under the limit (test output may go to a file).
    FileSizeLimit limit(good.size() + 16);
    for (int i = 0; i < 3; ++i) {
      statuses.push_back(writer.Update(devices_));
      failures.push_back(writer.failures());
    }
  }
  EXPECT_THAT(failures, ElementsAre(1u, 2u, 3u));
  for (const absl::Status& status : statuses) {
    ASSERT_FALSE(status.ok());
    EXPECT_THAT(Str(status.message()), HasSubstr(spec_path()));
    EXPECT_THAT(Str(status.message()), HasSubstr(std::strerror(EFBIG)));
  }
  EXPECT_EQ(writer.writes(), 1u);
  EXPECT_EQ(Slurp(spec_path()), good) << "the last good spec stays";
  // Writable again: recovers at the next update.
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 2u);
  EXPECT_EQ(writer.failures(), 3u);
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(cdi_dir())) {
    entries.push_back(e.path().filename().string());
  }
  EXPECT_THAT(entries, ElementsAre("hailo.ai-npu.json")) << "no temporary file left";
}

TEST_F(CdiWriterTest, UnwritableDirectoryFailsAndRecovers) {
  // The CDI directory's path is taken by a file.
  std::ofstream(cdi_dir()) << "in the way";
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  absl::Status status = writer.Update(devices_);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(Str(status.message()), HasSubstr(spec_path()));
  EXPECT_THAT(Str(status.message()), HasSubstr(std::strerror(ENOTDIR)));
  EXPECT_FALSE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.failures(), 2u);
  EXPECT_EQ(writer.writes(), 0u);

  ASSERT_EQ(::unlink(cdi_dir().c_str()), 0);
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 1u);
  EXPECT_EQ(writer.failures(), 2u);
  EXPECT_EQ(Slurp(spec_path()), Expected(devices_));
}

TEST_F(CdiWriterTest, PerFamilyResourceWritesItsOwnDevicesAndKind) {
  const ResourceSpec hailo10h = PerFamilyResources("hailo.ai/npu")[1];
  ASSERT_EQ(hailo10h.resource_name, "hailo.ai/hailo10h");
  CdiWriter writer(cdi_dir(), sys_root(), hailo10h);
  EXPECT_EQ(writer.path(), cdi_dir() + "/hailo.ai-hailo10h.json");
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(Slurp(writer.path()), Expected({devices_[1]}, "hailo.ai/hailo10h"));
  nlohmann::json spec = nlohmann::json::parse(Slurp(writer.path()));
  EXPECT_EQ(spec.at("kind"), "hailo.ai/hailo10h");
  // A change to another family's device does not touch this spec.
  devices_[0].healthy = false;
  devices_[0].reason = "gone";
  ASSERT_TRUE(writer.Update(devices_).ok());
  EXPECT_EQ(writer.writes(), 1u);
}

TEST_F(CdiWriterTest, MasksFollowTheClassDirectoriesOfTheHost) {
  fs::remove_all(sys_root() + "/class/hailo1x");
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  ASSERT_TRUE(writer.Update({devices_[0]}).ok());
  nlohmann::json spec = nlohmann::json::parse(Slurp(spec_path()));
  ASSERT_EQ(spec.at("containerEdits").at("mounts").size(), 1u);
  EXPECT_EQ(spec.at("containerEdits").at("mounts")[0].at("containerPath"),
            "/sys/class/hailo_chardev");
  // The driver for hailo1x loads later: the next update masks it too.
  fs::create_directories(sys_root() + "/class/hailo1x");
  ASSERT_TRUE(writer.Update({devices_[0]}).ok());
  EXPECT_EQ(writer.writes(), 2u);
  spec = nlohmann::json::parse(Slurp(spec_path()));
  EXPECT_EQ(spec.at("containerEdits").at("mounts").size(), 2u);
}

TEST_F(CdiWriterTest, MarkUnresolvableFlagsDevicesTheSpecOnDiskLacks) {
  CdiWriter writer(cdi_dir(), sys_root(), ResourceSpec{});
  ASSERT_TRUE(writer.Update({devices_[0]}).ok());
  Device third = Dev("0000:05:00.0", "hailo_chardev", "hailo5");
  third.healthy = false;
  third.reason = "already broken";
  std::vector<Device> now = {devices_[0], devices_[1], third};
  const absl::Status why = absl::UnavailableError("disk full");
  writer.MarkUnresolvable(now, why);
  EXPECT_TRUE(now[0].healthy) << "named in the spec on disk";
  EXPECT_FALSE(now[1].healthy);
  EXPECT_THAT(now[1].reason, HasSubstr(spec_path()));
  EXPECT_THAT(now[1].reason, HasSubstr("disk full"));
  EXPECT_EQ(now[2].reason, "already broken") << "an unhealthy device keeps its reason";

  // A per-family writer leaves other families alone.
  CdiWriter hailo8(cdi_dir(), sys_root(), PerFamilyResources("hailo.ai/npu")[0]);
  std::vector<Device> mixed = {devices_[1]};
  hailo8.MarkUnresolvable(mixed, why);
  EXPECT_TRUE(mixed[0].healthy);

  // No spec on disk at all: every healthy device of the resource.
  std::vector<Device> all = devices_;
  CdiWriter fresh(root_.path() + "/other", sys_root(), ResourceSpec{});
  fresh.MarkUnresolvable(all, why);
  EXPECT_FALSE(all[0].healthy);
  EXPECT_FALSE(all[1].healthy);
}

TEST(CdiWriterScan, SpecFromAScannedFakeHost) {
  FakeHostTree tree;
  tree.AddDevice({.pci_address = "0000:03:00.0", .layout = Layout::kHailoPci423});
  tree.AddDevice({.pci_address = "0001:01:00.0",
                  .family = Family::kHailo10H,
                  .layout = Layout::kHailo1x53,
                  .minor = 2});
  if (!tree.can_make_nodes()) GTEST_SKIP() << "mknod is not permitted here (not root?)";
  DeviceSource source(tree.roots());
  std::vector<Device> devices = source.Scan().devices;
  ASSERT_EQ(devices.size(), 2u);
  TempDir cdi;
  CdiWriter writer(cdi.path(), tree.sys_root(), ResourceSpec{});
  ASSERT_TRUE(writer.Update(devices).ok());
  nlohmann::json spec = nlohmann::json::parse(Slurp(writer.path()));
  std::vector<std::string> names;
  for (const auto& d : spec.at("devices")) names.push_back(d.at("name"));
  EXPECT_THAT(names,
              ElementsAre("0000-03-00.0", "hailo0", "0001-01-00.0", "h1x-2", "all"));
  EXPECT_EQ(spec.at("containerEdits").at("mounts").size(), 2u);
  EXPECT_EQ(Slurp(writer.path()).find(tree.root()), std::string::npos);
}

}  // namespace
}  // namespace hailo_dp
