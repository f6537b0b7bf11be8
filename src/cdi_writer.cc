#include "hailo_device_plugin/cdi_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "hailo_device_plugin/atomic_file.h"
#include "hailo_device_plugin/cdi_spec.h"
#include "hailo_device_plugin/strings.h"
#include "spdlog/spdlog.h"

namespace hailo_dp {

std::vector<std::string> ExistingClassDirs(const std::string& sys_root) {
  std::vector<std::string> out;
  for (const char* name : {"hailo_chardev", "hailo1x"}) {
    struct stat st {};
    if (stat((sys_root + "/class/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      out.emplace_back(name);
    }
  }
  return out;
}

CdiWriter::CdiWriter(std::string cdi_dir, std::string sys_root, ResourceSpec resource)
    : cdi_dir_(std::move(cdi_dir)),
      sys_root_(std::move(sys_root)),
      resource_(std::move(resource)),
      path_(cdi_dir_ + "/" + resource_.CdiSpecFileName()) {}

absl::Status CdiWriter::Update(const std::vector<Device>& devices) {
  CdiSpecOptions options{resource_.CdiKind(), ExistingClassDirs(sys_root_)};
  nlohmann::json spec = BuildCdiSpec(resource_.Select(devices), options);
  // The CDI library refuses a spec that names no device ("invalid spec, no
  // devices"), and a runtime would log that on every refresh: no device, no
  // file.
  if (spec["devices"].empty()) return Finish(Remove());
  absl::StatusOr<WriteOutcome> outcome =
      WriteFileAtomically(path_, SerializeCdiSpec(spec), 0644);
  if (outcome.ok() && *outcome == WriteOutcome::kWritten) {
    writes_.fetch_add(1);
    spdlog::info("CDI spec: wrote {}", path_);
  }
  return Finish(outcome.status());
}

absl::Status CdiWriter::Remove() {
  if (unlink(path_.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, Cat(path_, ": cannot remove"));
  }
  writes_.fetch_add(1);
  spdlog::info("CDI spec: no device to name, removed {}", path_);
  return absl::OkStatus();
}

absl::Status CdiWriter::Finish(const absl::Status& status) {
  if (!status.ok()) {
    failures_.fetch_add(1);
    if (!last_failed_) spdlog::error("CDI spec: {}", status.message());
    last_failed_ = true;
    return status;
  }
  if (last_failed_) spdlog::info("CDI spec: {} writable again", path_);
  last_failed_ = false;
  return status;
}

void CdiWriter::MarkUnresolvable(std::vector<Device>& devices,
                                 const absl::Status& why) const {
  std::set<std::string> named;
  auto text = ReadFileToString(path_);
  if (text.ok()) {
    auto spec = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (spec.is_object() && spec["devices"].is_array()) {
      for (const auto& entry : spec["devices"]) {
        if (entry.is_object() && entry["name"].is_string()) named.insert(entry["name"]);
      }
    }
  }
  for (Device& device : devices) {
    if (!device.healthy || !resource_.Selects(device) || named.count(device.id)) continue;
    device.healthy = false;
    device.reason =
        Cat("not in the CDI spec ", path_, ", which cannot be written: ", why.message());
  }
}

}  // namespace hailo_dp
