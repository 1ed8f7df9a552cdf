// corral plugins [--json]            every plugin found, and every file refused with why
// corral plugins inspect FILE [--json]  one file's descriptor, or why it is refused
#include "cli/commands.hpp"
#include "cli/json_output.hpp"
#include "cli/plugin_dirs_option.hpp"
#include "plugins/plugin_registry.hpp"

#include <boost/json.hpp>

#include <iomanip>
#include <iostream>

namespace corral::cli {
namespace {

boost::json::object plugin_json(const plugins::PluginInfo& info, bool with_schema) {
    boost::json::array caps;
    for (const auto& c : plugins::capability_names(info.capabilities)) caps.emplace_back(c);
    boost::json::object o{{"name", info.name},
                          {"kind", plugins::to_string(info.kind)},
                          {"version", info.version},
                          {"description", info.description},
                          {"path", info.path.string()},
                          {"abi", std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor)},
                          {"sdk_version", info.sdk_version},
                          {"capabilities", std::move(caps)},
                          {"build_fingerprint", info.build_fingerprint}};
    if (with_schema) {
        boost::json::error_code ec;
        auto schema = boost::json::parse(info.config_schema, ec);
        o["config_schema"] = info.config_schema.empty() || ec ? boost::json::value(nullptr) : schema;
    }
    return o;
}

int list_plugins(const ParsedArgs& args) {
    auto dirs = resolve_plugin_dirs(args);
    if (!dirs) return kExitUsage;
    auto registry = plugins::PluginRegistry::scan(*dirs);
    if (args.flag("json")) {
        boost::json::array found, refused, dir_list;
        for (const auto& p : registry.plugins()) found.push_back(plugin_json(p->info(), false));
        for (const auto& r : registry.refused()) refused.push_back({{"path", r.path.string()}, {"reason", r.reason}});
        for (const auto& d : *dirs) dir_list.emplace_back(d.string());
        write_pretty_json(
            std::cout,
            boost::json::object{{"plugin_dirs", std::move(dir_list)}, {"plugins", std::move(found)}, {"refused", std::move(refused)}});
        return kExitOk;
    }
    std::size_t name_w = 4, version_w = 7;
    for (const auto& p : registry.plugins()) {
        name_w = std::max(name_w, p->info().name.size());
        version_w = std::max(version_w, p->info().version.size());
    }
    std::cout << std::left << std::setw(static_cast<int>(name_w) + 2) << "NAME" << std::setw(8) << "KIND"
              << std::setw(static_cast<int>(version_w) + 2) << "VERSION"
              << "PATH\n";
    for (const auto& p : registry.plugins()) {
        const auto& i = p->info();
        std::cout << std::setw(static_cast<int>(name_w) + 2) << i.name << std::setw(8) << plugins::to_string(i.kind)
                  << std::setw(static_cast<int>(version_w) + 2) << i.version << i.path.string() << "\n";
    }
    if (registry.plugins().empty()) {
        std::cout << "(no plugins found in";
        for (const auto& d : *dirs) std::cout << ' ' << d.string();
        std::cout << ")\n";
    }
    if (!registry.refused().empty()) {
        std::cout << "\nRefused:\n";
        for (const auto& r : registry.refused()) std::cout << "  " << r.path.string() << ": " << r.reason << "\n";
    }
    return kExitOk;
}

int inspect_plugin(const ParsedArgs& args) {
    std::filesystem::path file = std::filesystem::absolute(args.positionals.at(0));
    auto outcome = plugins::load_plugin(file);
    if (auto* refusal = std::get_if<plugins::PluginRefusal>(&outcome)) {
        if (args.flag("json")) {
            write_pretty_json(std::cout, boost::json::object{{"path", file.string()}, {"loadable", false}, {"reason", refusal->reason}});
        } else {
            std::cerr << "corral: " << file.string() << ": " << refusal->reason << "\n";
        }
        return kExitFailure;
    }
    const auto& info = std::get<std::shared_ptr<plugins::Plugin>>(outcome)->info();
    auto o = plugin_json(info, true);
    if (args.flag("json")) {
        o["loadable"] = true;
        write_pretty_json(std::cout, o);
        return kExitOk;
    }
    std::string caps;
    for (const auto& c : plugins::capability_names(info.capabilities)) caps += (caps.empty() ? "" : ", ") + c;
    std::cout << "name:         " << info.name << "\n"
              << "kind:         " << plugins::to_string(info.kind) << "\n"
              << "version:      " << info.version << "\n"
              << "description:  " << info.description << "\n"
              << "path:         " << info.path.string() << "\n"
              << "plugin ABI:   " << info.abi_major << "." << info.abi_minor << "\n"
              << "SDK:          " << info.sdk_version << "\n"
              << "built with:   " << info.build_fingerprint << "\n"
              << "capabilities: " << (caps.empty() ? "(none)" : caps) << "\n"
              << "options:      ";
    if (o["config_schema"].is_null()) {
        std::cout << "(none)\n";
    } else {
        std::cout << "\n";
        write_pretty_json(std::cout, o["config_schema"]);
    }
    return kExitOk;
}

}  // namespace

Command plugins_command() {
    CommandSpec spec{"plugins",
                     "List the plugins found in the plugin directories, and every file refused with the reason.",
                     {},
                     plugin_dir_options(),
                     {}};
    spec.options.push_back({"json", "", "Print JSON: {plugin_dirs, plugins, refused}"});
    spec.details = "Subcommands:\n  inspect FILE   Show one plugin file's descriptor, or why it cannot be loaded";
    return {spec, list_plugins};
}

Command plugins_inspect_command() {
    CommandSpec spec{"plugins inspect",
                     "Show a plugin file's descriptor: name, kind, version, ABI, build, capabilities, options schema.",
                     {"FILE"},
                     {{"json", "", "Print JSON"}},
                     "Exit status: 0 loadable, 1 refused (the reason is printed)."};
    return {spec, inspect_plugin};
}

}  // namespace corral::cli
