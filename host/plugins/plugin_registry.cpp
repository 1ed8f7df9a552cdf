#include "plugins/plugin_registry.hpp"

#include "config/schema_check.hpp"

#include <corral/sdk/json.hpp>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/json.hpp>

namespace corral::plugins {

PluginRegistry PluginRegistry::scan(const std::vector<std::filesystem::path>& dirs) {
    PluginRegistry registry;
    for (const auto& dir : dirs) {
        std::error_code ec;
        if (!std::filesystem::is_directory(dir, ec)) {
            registry.refused_.push_back({dir, "plugin directory does not exist or is not a directory"});
            continue;
        }
        for (const auto& file : list_plugin_files(dir)) {
            auto outcome = load_plugin(file);
            if (auto* refusal = std::get_if<PluginRefusal>(&outcome)) {
                registry.refused_.push_back(std::move(*refusal));
                continue;
            }
            auto plugin = std::get<std::shared_ptr<Plugin>>(std::move(outcome));
            if (auto existing = registry.find(plugin->info().name)) {
                registry.refused_.push_back(
                    {file, "duplicate plugin name \"" + plugin->info().name + "\": already loaded from " + existing->info().path.string()});
                continue;
            }
            registry.plugins_.push_back(std::move(plugin));
        }
    }
    return registry;
}

std::shared_ptr<Plugin> PluginRegistry::find(std::string_view name) const {
    for (const auto& p : plugins_) {
        if (p->info().name == name) return p;
    }
    return nullptr;
}

std::vector<std::filesystem::path> default_plugin_dirs() {
    std::error_code ec;
    std::filesystem::path exe_dir = boost::dll::program_location().parent_path().string();
    if (auto build = exe_dir / "plugins"; std::filesystem::is_directory(build, ec)) return {build};
    return {(exe_dir / ".." / "lib" / "corral" / "plugins").lexically_normal()};
}

std::vector<std::filesystem::path> plugin_dirs_for(const config::Config& config) {
    return config.plugin_dirs.empty() ? default_plugin_dirs() : config.plugin_dirs;
}

namespace {

// The plugin's options schema, parsed; null when it declares none or it is not valid JSON.
boost::json::value schema_of(const Plugin& plugin) {
    if (plugin.info().config_schema.empty()) return nullptr;
    boost::json::error_code ec;
    auto schema = boost::json::parse(plugin.info().config_schema, ec);
    return ec ? boost::json::value(nullptr) : schema;
}

std::string available_names(const PluginRegistry& registry, PluginKind kind) {
    std::string out;
    for (const auto& p : registry.plugins()) {
        if (p->info().kind != kind) continue;
        out += (out.empty() ? "" : ", ") + p->info().name;
    }
    return out.empty() ? "none found" : "available: " + out;
}

}  // namespace

bool accepts_option(const Plugin& plugin, std::string_view key) {
    auto schema = schema_of(plugin);
    const auto* props = schema.is_object() ? schema.get_object().if_contains("properties") : nullptr;
    return props && props->is_object() && props->get_object().contains(key);
}

config::ConfigErrors check_plugin_references(const config::Config& config, const PluginRegistry& registry) {
    config::ConfigErrors errors;
    for (const auto& runner : config.runners) {
        auto path = sdk::json_path_join("runners", runner.name);
        auto plugin = registry.find(runner.plugin);
        if (!plugin) {
            errors.push_back({sdk::json_path_join(path, "plugin"),
                              "no runner plugin named \"" + runner.plugin + "\" (" + available_names(registry, PluginKind::Runner) + ")"});
            continue;
        }
        if (plugin->info().kind != PluginKind::Runner) {
            errors.push_back(
                {sdk::json_path_join(path, "plugin"), "\"" + runner.plugin + "\" is a probe plugin; expected a runner plugin"});
            continue;
        }
        auto schema = schema_of(*plugin);
        if (schema.is_null()) continue;
        config::check_against_schema(runner.options, schema, path, errors);
        // Per-model runner_options use the same keys, none of them required.
        if (schema.is_object()) schema.get_object().erase("required");
        for (const auto& model : config.models) {
            if (model.runner != runner.name || model.server.runner_options.empty()) continue;
            config::check_against_schema(model.server.runner_options, schema,
                                         sdk::json_path_join(sdk::json_path_join("models", model.name), "runner_options"), errors);
        }
    }
    for (std::size_t i = 0; i < config.probes.size(); ++i) {
        auto plugin = registry.find(config.probes[i]);
        if (!plugin || plugin->info().kind != PluginKind::Probe) {
            errors.push_back({sdk::json_path_index("probes", i),
                              "no probe plugin named \"" + config.probes[i] + "\" (" + available_names(registry, PluginKind::Probe) + ")"});
        }
    }
    return errors;
}

}  // namespace corral::plugins
