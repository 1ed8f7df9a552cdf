// A loaded plugin library and what its descriptor says. The library is never unloaded: it is opened
// with RTLD_NODELETE, so code and static data stay valid while any object made from it may run.
#pragma once

#include "plugins/runner_events.hpp"

#include <corral/sdk/plugin_abi.h>
#include <corral/sdk/probe.hpp>
#include <corral/sdk/runner.hpp>

#include <boost/dll/shared_library.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace corral::plugins {

enum class PluginKind { Runner, Probe };

std::string_view to_string(PluginKind kind) noexcept;

// What `corral plugins` shows: everything read from the descriptor, plus where it came from.
struct PluginInfo {
    std::filesystem::path path;
    std::string name;
    std::string version;
    std::string description;
    PluginKind kind = PluginKind::Runner;
    uint64_t capabilities = 0;
    uint16_t abi_major = 0;
    uint16_t abi_minor = 0;
    std::string sdk_version;
    std::string build_fingerprint;
    std::string config_schema;  // JSON Schema text; "" when the plugin takes no options
};

// Names of the set CORRAL_CAP_* bits, e.g. {"adopt", "exit_events"}.
std::vector<std::string> capability_names(uint64_t capabilities);

class Plugin : public std::enable_shared_from_this<Plugin> {
public:
    Plugin(boost::dll::shared_library library, const corral_plugin_descriptor* descriptor, PluginInfo info);

    const PluginInfo& info() const noexcept { return info_; }

    // Makes a runner from its options. Events the instance emits go to `on_event` (may be empty),
    // its servers' output lines to `on_line` (without one: to `on_event`, as LogLine events).
    // Throws sdk::Error with the plugin's message when create fails.
    std::unique_ptr<sdk::ProcessRunner> create_runner(const boost::json::object& options, RunnerEventHandler on_event,
                                                      RunnerLineHandler on_line = nullptr) const;

    std::unique_ptr<sdk::SystemProbe> create_probe(const boost::json::object& options) const;

private:
    boost::dll::shared_library library_;  // keeps the handle; RTLD_NODELETE keeps the code
    const corral_plugin_descriptor* descriptor_;
    PluginInfo info_;
};

}  // namespace corral::plugins
