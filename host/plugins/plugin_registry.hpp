// Every plugin found in the configured directories, and every file that was refused with why.
#pragma once

#include "config/config.hpp"
#include "config/config_error.hpp"
#include "plugins/plugin_loader.hpp"

#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

namespace corral::plugins {

class PluginRegistry {
public:
    // Loads every candidate file of each directory, in the given order. The first plugin of a name
    // wins; later ones are refused as duplicates. A missing directory is a refusal too.
    static PluginRegistry scan(const std::vector<std::filesystem::path>& dirs);

    const std::vector<std::shared_ptr<Plugin>>& plugins() const noexcept { return plugins_; }
    const std::vector<PluginRefusal>& refused() const noexcept { return refused_; }

    std::shared_ptr<Plugin> find(std::string_view name) const;

private:
    std::vector<std::shared_ptr<Plugin>> plugins_;
    std::vector<PluginRefusal> refused_;
};

// The directories plugins are loaded from when the config names none: <dir of the corral executable>/plugins
// in a build tree, <prefix>/lib/corral/plugins when installed.
std::vector<std::filesystem::path> default_plugin_dirs();

// The config's plugin_dirs, or the defaults.
std::vector<std::filesystem::path> plugin_dirs_for(const config::Config& config);

// Whether the plugin's options schema declares a property named `key` (e.g. "state_dir").
bool accepts_option(const Plugin& plugin, std::string_view key);

// Config checks that need the plugins: each runner names a loaded runner plugin and its options
// match the plugin's schema; each model's runner_options match its runner's schema; each probe
// named under "probes" is a loaded probe plugin.
config::ConfigErrors check_plugin_references(const config::Config& config, const PluginRegistry& registry);

}  // namespace corral::plugins
