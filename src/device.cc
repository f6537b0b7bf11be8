#include "hailo_device_plugin/device.h"

#include <array>
#include <cctype>

namespace hailo_dp {
namespace {

struct FamilyInfo {
  Family family;
  std::string_view name;
  uint16_t pci_device_id;
};

// Hailo-8L and Hailo-8R share 0x2864 with Hailo-8: PCI cannot tell them apart.
constexpr std::array<FamilyInfo, 4> kFamilies = {{
    {Family::kHailo8, "hailo8", 0x2864},
    {Family::kHailo10H, "hailo10h", 0x45c4},
    {Family::kHailo15L, "hailo15l", 0x43a2},
    {Family::kHailo12L, "hailo12l", 0x26a2},
}};

}  // namespace

std::string_view FamilyName(Family family) {
  for (const FamilyInfo& info : kFamilies) {
    if (info.family == family) return info.name;
  }
  return "unknown";
}

std::optional<Family> FamilyFromName(std::string_view name) {
  for (const FamilyInfo& info : kFamilies) {
    if (info.name == name) return info.family;
  }
  return std::nullopt;
}

std::optional<Family> FamilyFromPciDeviceId(uint16_t device_id) {
  for (const FamilyInfo& info : kFamilies) {
    if (info.pci_device_id == device_id) return info.family;
  }
  return std::nullopt;
}

const std::vector<Family>& AllFamilies() {
  static const auto* const kAll = new std::vector<Family>{
      Family::kHailo8, Family::kHailo10H, Family::kHailo15L, Family::kHailo12L};
  return *kAll;
}

std::string Device::HostNodePath() const {
  if (!HasNode()) return "";
  return "/dev/" + node_name;
}

std::string Device::HostClassEntryPath() const {
  if (!HasNode()) return "";
  return "/sys/class/" + class_name + "/" + node_name;
}

std::string Device::HostClassDirPath() const {
  if (!HasNode()) return "";
  return "/sys/class/" + class_name;
}

std::string DeviceIdFromPciAddress(std::string_view pci_address) {
  std::string id(pci_address);
  for (char& c : id) {
    c = c == ':' ? '-' : static_cast<char>(std::tolower(c));
  }
  return id;
}

}  // namespace hailo_dp
