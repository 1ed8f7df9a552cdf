// corral config check FILE [--json]: every mistake in a config file, with its JSON path.
#include "cli/commands.hpp"
#include "cli/json_output.hpp"
#include "config/config_loader.hpp"
#include "plugins/plugin_registry.hpp"

#include <boost/json.hpp>

#include <iostream>

namespace corral::cli {
namespace {

int check_config(const ParsedArgs& args) {
    const std::string file = args.positionals.at(0);
    auto loaded = config::load_config_file(file);
    config::ConfigErrors errors = loaded.errors;
    if (loaded.config && !args.flag("no-plugins")) {
        auto dirs = plugins::plugin_dirs_for(*loaded.config);
        auto registry = plugins::PluginRegistry::scan(dirs);
        auto plugin_errors = plugins::check_plugin_references(*loaded.config, registry);
        errors.insert(errors.end(), plugin_errors.begin(), plugin_errors.end());
    }
    const bool valid = errors.empty();
    if (args.flag("json")) {
        boost::json::array list;
        for (const auto& e : errors) {
            boost::json::object o{{"path", e.path}, {"message", e.message}};
            if (e.line > 0) {
                o["line"] = e.line;
                o["column"] = e.column;
            }
            list.push_back(std::move(o));
        }
        boost::json::object out{{"file", file}, {"valid", valid}, {"errors", std::move(list)}};
        if (loaded.config) {
            out["models"] = loaded.config->models.size();
            out["runners"] = loaded.config->runners.size();
            boost::json::array notes;
            for (const auto& n : loaded.config->models_dir_notes) notes.push_back(boost::json::value(n));
            out["notes"] = std::move(notes);
        }
        write_pretty_json(std::cout, out);
    } else if (valid) {
        auto count = [](std::size_t n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); };
        std::cout << file << ": valid (" << count(loaded.config->models.size(), "model") << ", "
                  << count(loaded.config->runners.size(), "runner") << ")\n";
        for (const auto& n : loaded.config->models_dir_notes) std::cout << "  note: models_dir: " << n << "\n";
    } else {
        std::cout << file << ": " << errors.size() << (errors.size() == 1 ? " error" : " errors") << "\n";
        for (const auto& e : errors) std::cout << "  " << e.to_string() << "\n";
    }
    return valid ? kExitOk : kExitUsage;
}

}  // namespace

Command config_check_command() {
    CommandSpec spec{"config check",
                     "Check a config file and list every mistake with its JSON path.",
                     {"FILE"},
                     {{"json", "", "Print JSON: {file, valid, errors: [{path, message, line?, column?}]}"},
                      {"no-plugins", "", "Skip the checks that load plugins (runner plugins and their options)"}},
                     "Exit status: 0 valid, 2 invalid (or unreadable)."};
    return {spec, check_config};
}

}  // namespace corral::cli
