// The --plugin-dir / --config options shared by the commands that load plugins.
#pragma once

#include "cli/args.hpp"
#include "config/config.hpp"

#include <filesystem>
#include <optional>
#include <vector>

namespace corral::cli {

// Option specs to add to a command.
std::vector<OptionSpec> plugin_dir_options();

// --plugin-dir values if given; else the plugin_dirs of --config FILE; else the default directory.
// Returns nullopt after printing the errors when --config names an invalid file.
std::optional<std::vector<std::filesystem::path>> resolve_plugin_dirs(const ParsedArgs& args);

// The --config FILE's settings when it also chose the plugins (no --plugin-dir): its `probes` and
// scheduler settings then apply to the probing commands. Empty otherwise, or when it is invalid
// (resolve_plugin_dirs reports that).
std::optional<config::Config> config_for_plugins(const ParsedArgs& args);

}  // namespace corral::cli
