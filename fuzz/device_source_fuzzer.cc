// DeviceSource::Scan over a fake host tree whose attribute files hold fuzzed
// content.
//
// The tree (made once per process in a temp dir, removed at exit) has two
// Hailo functions, one per class layout (hailo_chardev with board_location,
// hailo1x with device_id), and a non-Hailo function. Each input overwrites or
// removes a set of attribute files (FuzzedDataProvider: a removal mask, then
// one string per file; files past the end of the input get their default
// content), then scans twice with a fresh DeviceSource, changing
// aer_dev_fatal in between. Invariants: no crash; each Hailo function is
// reported exactly when its vendor and device files name a known Hailo
// device, and otherwise skipped; a reported device is healthy exactly when it
// has no reason; warnings are single bounded lines.
#include <fcntl.h>
#include <ftw.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "hailo_device_plugin/device.h"
#include "hailo_device_plugin/device_source.h"
#include "hailo_device_plugin/sysfs_parse.h"

namespace {

constexpr char kAddressA[] = "0000:03:00.0";  // hailo_chardev/hailo0
constexpr char kAddressB[] = "0001:01:00.0";  // hailo1x/h1x-0
constexpr size_t kMaxWarningBytes = 1024;

struct FuzzedFile {
  std::string path;  // relative to the tree's root
  std::string default_content;
};

const std::vector<FuzzedFile>& Files() {
  static const auto* files = new std::vector<FuzzedFile>{
      {"sys/bus/pci/devices/0000:03:00.0/vendor", "0x1e60\n"},
      {"sys/bus/pci/devices/0000:03:00.0/device", "0x2864\n"},
      {"sys/bus/pci/devices/0000:03:00.0/numa_node", "-1\n"},
      {"sys/bus/pci/devices/0000:03:00.0/enable", "1\n"},
      {"sys/bus/pci/devices/0000:03:00.0/current_link_speed", "8.0 GT/s PCIe\n"},
      {"sys/bus/pci/devices/0000:03:00.0/config", std::string("\x60\x1e\x64\x28", 4)},
      {"sys/bus/pci/devices/0000:03:00.0/aer_dev_fatal",
       "Undefined 0\nDLP 0\nSDES 0\nTLP 0\nFCP 0\nCmpltTO 0\nCmpltAbrt 0\nUnxCmplt 0\n"
       "RxOF 0\nMalfTLP 0\nECRC 0\nUnsupReq 0\nACSViol 0\nTOTAL_ERR_FATAL 0\n"},
      {"sys/class/hailo_chardev/hailo0/board_location", "0000:03:00.0"},
      {"sys/class/hailo_chardev/hailo0/dev", "510:0\n"},
      {"sys/module/hailo_pci/version", "4.23.0\n"},
      {"sys/bus/pci/devices/0001:01:00.0/vendor", "0x1e60\n"},
      {"sys/bus/pci/devices/0001:01:00.0/device", "0x45c4\n"},
      {"sys/bus/pci/devices/0001:01:00.0/numa_node", "0\n"},
      {"sys/bus/pci/devices/0001:01:00.0/aer_dev_fatal", "TOTAL_ERR_FATAL 0\n"},
      {"sys/class/hailo1x/h1x-0/device_id", "0001:01:00.0"},
      {"sys/class/hailo1x/h1x-0/dev", "509:0\n"},
  };
  return *files;
}
constexpr size_t kAerA = 6;  // index of A's aer_dev_fatal in Files()

std::string* g_root = nullptr;

void Write(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FUZZ_CHECK(fd >= 0, path);
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    FUZZ_CHECK(n > 0, path);
    content.remove_prefix(static_cast<size_t>(n));
  }
  ::close(fd);
}

void MakeDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    ::mkdir(path.substr(0, slash).c_str(), 0755);
  }
  ::mkdir(path.c_str(), 0755);
}

void Link(const std::string& target, const std::string& link) {
  FUZZ_CHECK(::symlink(target.c_str(), link.c_str()) == 0, link);
}

// A character device if we may make one, else a plain file (then the device
// is unhealthy, which the invariants allow).
void Node(const std::string& path, unsigned major, unsigned minor) {
  if (::mknod(path.c_str(), S_IFCHR | 0666, makedev(major, minor)) != 0) Write(path, "");
}

void RemoveTree() {
  if (g_root == nullptr) return;
  ::nftw(
      g_root->c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) {
        return ::remove(path);
      },
      16, FTW_DEPTH | FTW_PHYS);
}

void BuildTree() {
  const char* tmp = std::getenv("TMPDIR");
  std::string root =
      std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/hdp-sysfs-XXXXXX";
  FUZZ_CHECK(::mkdtemp(root.data()) != nullptr, root);
  g_root = new std::string(root);
  std::atexit(RemoveTree);
  const std::string sys = root + "/sys";
  const std::string pci = sys + "/bus/pci/devices";
  for (const char* address : {kAddressA, kAddressB, "0000:00:1f.0"})
    MakeDirs(pci + "/" + address);
  MakeDirs(sys + "/bus/pci/drivers/hailo");
  MakeDirs(sys + "/bus/pci/drivers/hailo1x");
  MakeDirs(sys + "/module/hailo_pci");
  MakeDirs(sys + "/module/hailo1x_pci");
  MakeDirs(sys + "/class/hailo_chardev/hailo0");
  MakeDirs(sys + "/class/hailo1x/h1x-0");
  MakeDirs(root + "/dev");
  Link(sys + "/module/hailo_pci", sys + "/bus/pci/drivers/hailo/module");
  Link(sys + "/module/hailo1x_pci", sys + "/bus/pci/drivers/hailo1x/module");
  Link(sys + "/bus/pci/drivers/hailo", pci + "/" + kAddressA + "/driver");
  Link(sys + "/bus/pci/drivers/hailo1x", pci + "/" + kAddressB + "/driver");
  Link(pci + "/" + kAddressA, sys + "/class/hailo_chardev/hailo0/device");
  Write(sys + "/module/hailo1x_pci/version", "5.3.0");
  Write(pci + "/0000:00:1f.0/vendor", "0x8086\n");
  Write(pci + "/0000:00:1f.0/device", "0xa082\n");
  Node(root + "/dev/hailo0", 510, 0);
  Node(root + "/dev/h1x-0", 509, 0);
}

// Whether a function with these vendor and device files must be reported.
bool ExpectReported(const std::optional<std::string>& vendor,
                    const std::optional<std::string>& device) {
  if (!vendor || !device) return false;
  absl::StatusOr<uint16_t> v = hailo_dp::ParseHexId(*vendor);
  absl::StatusOr<uint16_t> d = hailo_dp::ParseHexId(*device);
  return v.ok() && *v == hailo_dp::kHailoPciVendor && d.ok() &&
         hailo_dp::FamilyFromPciDeviceId(*d).has_value();
}

void CheckScan(const hailo_dp::ScanResult& result,
               const std::vector<std::optional<std::string>>& content) {
  for (const std::string& warning : result.warnings) {
    FUZZ_CHECK(!warning.empty() && warning.size() <= kMaxWarningBytes,
               warning.substr(0, 200));
    FUZZ_CHECK(warning.find('\n') == std::string::npos, warning);
  }
  const bool want_a = ExpectReported(content[0], content[1]);
  const bool want_b = ExpectReported(content[10], content[11]);
  FUZZ_CHECK(result.devices.size() == size_t{want_a} + size_t{want_b});
  for (size_t i = 0; i < result.devices.size(); ++i) {
    const hailo_dp::Device& d = result.devices[i];
    FUZZ_CHECK(d.pci_address == (i == 0 && want_a ? kAddressA : kAddressB),
               d.pci_address);
    FUZZ_CHECK(d.id == hailo_dp::DeviceIdFromPciAddress(d.pci_address));
    FUZZ_CHECK(d.healthy == d.reason.empty(), d.reason);
    const std::string& device_file = *content[d.pci_address == kAddressA ? 1 : 11];
    FUZZ_CHECK(d.family ==
               *hailo_dp::FamilyFromPciDeviceId(*hailo_dp::ParseHexId(device_file)));
    if (d.driver_version) {
      FUZZ_CHECK(!d.driver_version->empty() &&
                 hailo_dp::TrimAttribute(*d.driver_version) == *d.driver_version);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  BuildTree();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const auto removed = provider.ConsumeIntegral<uint32_t>();
  std::vector<std::optional<std::string>> content;
  for (size_t i = 0; i < Files().size(); ++i) {
    const std::string path = *g_root + "/" + Files()[i].path;
    if (removed & (1u << i)) {
      ::unlink(path.c_str());
      content.emplace_back();
      continue;
    }
    content.emplace_back(provider.remaining_bytes() > 0
                             ? provider.ConsumeRandomLengthString()
                             : Files()[i].default_content);
    Write(path, *content.back());
  }
  hailo_dp::DeviceSource source(hailo_dp::HostRoots{*g_root + "/sys", *g_root + "/dev"});
  CheckScan(source.Scan(), content);
  if (provider.remaining_bytes() > 0) {
    content[kAerA] = provider.ConsumeRemainingBytesAsString();
    Write(*g_root + "/" + Files()[kAerA].path, *content[kAerA]);
  }
  CheckScan(source.Scan(), content);
  return 0;
}
