// hailo-device-plugin: parse the command line, run the chosen command.
#include <CLI/CLI.hpp>
#include <iostream>

#include "hailo_device_plugin/commands.h"
#include "hailo_device_plugin/config_loader.h"
#include "hailo_device_plugin/resource.h"

namespace {

using hailo_dp::FlagValues;

// Adds every config setting as a string flag; the given ones land in `out`.
void AddSettingFlags(CLI::App* app, FlagValues* values) {
  app->add_option_function<std::string>(
         "--config", [values](const std::string& v) { (*values)["config"] = v; },
         "YAML config file (env HAILO_DP_CONFIG)")
      ->type_name("FILE");
  for (const hailo_dp::SettingInfo& s : hailo_dp::Settings()) {
    std::string flag = s.flag;
    app->add_option_function<std::string>(
           "--" + flag, [values, flag](const std::string& v) { (*values)[flag] = v; },
           s.help + " (env " + s.env + ")")
        ->default_str(s.default_value.empty() ? "\"\"" : s.default_value)
        ->type_name("VALUE");
  }
}

void AddRootFlags(CLI::App* app, hailo_dp::HostRoots* roots) {
  app->add_option("--sys-root", roots->sys_root, "where the host's /sys is seen")
      ->capture_default_str();
  app->add_option("--dev-root", roots->dev_root, "where the host's /dev is seen")
      ->capture_default_str();
}

// CLI11 treats "--flag=" as "--flag" and takes the next argument as its
// value; split it so that "--http-address=" really means an empty value.
std::vector<std::string> NormalizeArgs(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) {  // CLI11 wants them in reverse order.
    std::string arg = argv[i];
    if (arg.size() > 3 && arg.rfind("--", 0) == 0 && arg.back() == '=') {
      args.emplace_back("");
      arg.pop_back();
    }
    args.push_back(std::move(arg));
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Kubernetes device plugin for Hailo AI accelerators",
               "hailo-device-plugin"};
  app.set_version_flag("--version", HDP_VERSION);
  FlagValues serve_flags;
  AddSettingFlags(&app, &serve_flags);
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "print the effective config and its sources, then exit");
  auto* serve = app.add_subcommand("serve", "run the daemon (the default)");
  AddSettingFlags(serve, &serve_flags);

  hailo_dp::HostRoots roots;
  std::string output = "table";
  auto* discover = app.add_subcommand("discover", "list the Hailo devices found");
  AddRootFlags(discover, &roots);
  discover->add_option("--output", output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();

  auto* cdi = app.add_subcommand("cdi", "CDI spec commands")->require_subcommand(1);
  auto* generate =
      cdi->add_subcommand("generate", "write the CDI spec of the devices found");
  std::string cdi_output = "-";
  std::string kind = "hailo.ai/npu";
  AddRootFlags(generate, &roots);
  generate->add_option("--output", cdi_output, "file to write, or - for stdout")
      ->capture_default_str();
  generate->add_option("--resource-name", kind, "CDI kind (the resource name)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        absl::Status s = hailo_dp::ValidateResourceName(v);
        return s.ok() ? std::string() : std::string(s.message());
      });

  auto* config = app.add_subcommand("config", "config commands")->require_subcommand(1);
  auto* print =
      config->add_subcommand("print", "show the effective config and its sources");
  FlagValues print_flags;
  AddSettingFlags(print, &print_flags);
  auto* version = app.add_subcommand("version", "print the version");

  try {
    std::vector<std::string> args = NormalizeArgs(argc, argv);
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "hailo-device-plugin: " << e.what() << "\n";
    return 2;
  }
  if (*version) {
    std::cout << "hailo-device-plugin " << HDP_VERSION << "\n";
    return 0;
  }
  if (*discover) return hailo_dp::RunDiscover(roots, output);
  if (*generate) return hailo_dp::RunCdiGenerate(roots, kind, cdi_output);
  if (*print) return hailo_dp::RunConfigPrint(print_flags);
  if (print_config) return hailo_dp::RunConfigPrint(serve_flags);
  return hailo_dp::RunServe(serve_flags);
}
