// corral serve: the OpenAI-compatible endpoint in the foreground until SIGTERM/SIGINT.
#include "cli/commands.hpp"
#include "cli/plugin_dirs_option.hpp"
#include "config/config_loader.hpp"
#include "logging/logging.hpp"
#include "plugins/plugin_registry.hpp"
#include "serve/service.hpp"

#include <boost/json/serialize.hpp>

#include <sys/resource.h>

#include <csignal>
#include <iostream>

namespace corral::cli {
namespace {

// A host fronting many models holds a socket per client, per pooled upstream connection and per
// in-process (mock) server: raise the open-file limit from the usual soft 1024 to the hard limit,
// as nginx and databases do.
void raise_open_file_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
    const auto before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) == 0) {
        logging::get("serve")->debug("open-file limit raised from {} to {}", before, limit.rlim_cur);
    }
}

int serve(const ParsedArgs& args) {
    // First of all: taken out of the environment before any plugin or probe can start a child.
    auto service_manager = serve::ServiceManager::from_environment();
    // A write to a closed pipe or socket is an error to handle, never the end of the host; and the
    // model servers started from here ignore SIGPIPE as it does, with no shell to set that up
    // (ChildProcess).
    std::signal(SIGPIPE, SIG_IGN);
    auto file = args.value("config");
    if (!file) throw UsageError("--config FILE is required");
    auto loaded = config::load_config_file(*file);
    if (!loaded.config) {
        std::cerr << "corral: " << *file << " is not a valid config:\n";
        for (const auto& e : loaded.errors) std::cerr << "  " << e.to_string() << "\n";
        return kExitUsage;
    }
    auto config = std::move(*loaded.config);
    if (auto listen = args.value("listen")) {
        auto overridden = config::parse_config("{\"listen\": " + boost::json::serialize(boost::json::value(*listen)) + "}", {});
        if (!overridden.config) throw UsageError("--listen expects host:port such as 127.0.0.1:8080, got \"" + *listen + "\"");
        config.listen = overridden.config->listen;
    }
    if (!logging::level_is_explicit()) logging::init(logging::parse_level(config.log_level.value_or("info")).value_or(spdlog::level::info));
    auto dirs = args.values("plugin-dir").empty() ? plugins::plugin_dirs_for(config) : *resolve_plugin_dirs(args);
    auto registry = plugins::PluginRegistry::scan(dirs);
    auto errors = plugins::check_plugin_references(config, registry);
    if (!errors.empty()) {
        std::cerr << "corral: " << *file << " does not match the plugins found:\n";
        for (const auto& e : errors) std::cerr << "  " << e.to_string() << "\n";
        for (const auto& r : registry.refused()) std::cerr << "  (refused " << r.path.string() << ": " << r.reason << ")\n";
        return kExitUsage;
    }
    raise_open_file_limit();
    try {
        serve::Service service(std::move(config), std::move(registry));
        service.set_service_manager(std::move(service_manager));
        service.run([&](uint16_t) { std::cout << "corral: " << service.serving_status() << std::endl; });
    } catch (const std::exception& e) {
        std::cerr << "corral: " << e.what() << "\n";
        return kExitFailure;
    }
    std::cerr << "corral: stopped\n";
    return kExitOk;
}

}  // namespace

Command serve_command() {
    CommandSpec spec{"serve",
                     "Serve the config's models behind one OpenAI-compatible endpoint, loading them on demand.",
                     {},
                     {{"config", "FILE", "Config file (required)"},
                      {"listen", "HOST:PORT", "Override the config's listen address (port 0 picks a free one)"},
                      {"plugin-dir", "DIR", "Load plugins from DIR instead of the config's plugin_dirs", true}},
                     "Prints 'corral: serving N models on http://HOST:PORT' (https with \"tls\") once it accepts requests.\n"
                     "SIGTERM or SIGINT drains: no new requests, those in flight finish (up to shutdown_grace), every\n"
                     "server stops, exit 0. A second signal stops the servers at once. SIGHUP reloads the config.\n"
                     "Exit status: 0 after a drain, 1 start-up failed (state directory locked, address in use), 2 invalid config."};
    return {spec, serve};
}

}  // namespace corral::cli
