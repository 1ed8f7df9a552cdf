#include "cli/plugin_dirs_option.hpp"

#include "config/config_loader.hpp"
#include "plugins/plugin_registry.hpp"

#include <iostream>

namespace corral::cli {

std::vector<OptionSpec> plugin_dir_options() {
    return {
        {"plugin-dir", "DIR", "Load plugins from DIR instead of the config's plugin_dirs or the default directory", true},
        {"config", "FILE", "Take plugin_dirs from this config file", false},
    };
}

std::optional<std::vector<std::filesystem::path>> resolve_plugin_dirs(const ParsedArgs& args) {
    if (auto dirs = args.values("plugin-dir"); !dirs.empty()) {
        std::vector<std::filesystem::path> out;
        for (const auto& d : dirs) out.push_back(std::filesystem::absolute(d));
        return out;
    }
    if (auto file = args.value("config")) {
        auto loaded = config::load_config_file(*file);
        if (!loaded.config) {
            std::cerr << "corral: " << *file << " is not a valid config:\n";
            for (const auto& e : loaded.errors) std::cerr << "  " << e.to_string() << "\n";
            return std::nullopt;
        }
        return plugins::plugin_dirs_for(*loaded.config);
    }
    return plugins::default_plugin_dirs();
}

std::optional<config::Config> config_for_plugins(const ParsedArgs& args) {
    auto file = args.value("config");
    if (!file || !args.values("plugin-dir").empty()) return std::nullopt;
    return config::load_config_file(*file).config;
}

}  // namespace corral::cli
