#include "plugins/plugin.hpp"

#include "plugins/abi_call.hpp"
#include "plugins/host_api.hpp"
#include "plugins/plugin_runner.hpp"

#include <boost/json/serialize.hpp>

namespace corral::plugins {

std::string_view to_string(PluginKind kind) noexcept {
    return kind == PluginKind::Runner ? "runner" : "probe";
}

std::vector<std::string> capability_names(uint64_t capabilities) {
    static constexpr std::pair<uint64_t, const char*> kNames[] = {{CORRAL_CAP_ADOPT, "adopt"},
                                                                  {CORRAL_CAP_EXIT_EVENTS, "exit_events"},
                                                                  {CORRAL_CAP_LOG_EVENTS, "log_events"},
                                                                  {CORRAL_CAP_REMOTE, "remote"},
                                                                  {CORRAL_CAP_SLOT_CACHE, "slot_cache"}};
    std::vector<std::string> out;
    for (const auto& [bit, name] : kNames) {
        if (capabilities & bit) out.emplace_back(name);
    }
    return out;
}

Plugin::Plugin(boost::dll::shared_library library, const corral_plugin_descriptor* descriptor, PluginInfo info)
    : library_(std::move(library)), descriptor_(descriptor), info_(std::move(info)) {}

namespace {

// Calls a vtable's create() and returns the instance pointer; throws sdk::Error on failure.
template <class Vtable>
void* create_instance(const std::string& name, const Vtable* vt, const PluginHostApi& host, const boost::json::object& options) {
    auto json = boost::json::serialize(options);
    void* self = nullptr;
    call_plugin(name, "create", [&](corral_sink* err) { return vt->create(host.api(), corral_str{json.data(), json.size()}, &self, err); });
    if (!self) throw sdk::Error(sdk::ProcessError::Internal, "plugin " + name + ": create reported success but returned no instance");
    return self;
}

}  // namespace

std::unique_ptr<sdk::ProcessRunner> Plugin::create_runner(const boost::json::object& options, RunnerEventHandler on_event,
                                                          RunnerLineHandler on_line) const {
    if (info_.kind != PluginKind::Runner) {
        throw sdk::Error(sdk::ProcessError::Configuration, "plugin " + info_.name + " is a probe plugin, not a runner plugin");
    }
    auto host = std::make_unique<PluginHostApi>(info_.name, std::move(on_event), std::move(on_line));
    const auto* vt = static_cast<const corral_runner_vtable*>(descriptor_->vtable);
    void* self = create_instance(info_.name, vt, *host, options);
    return std::make_unique<PluginRunner>(shared_from_this(), std::move(host), vt, self);
}

std::unique_ptr<sdk::SystemProbe> Plugin::create_probe(const boost::json::object& options) const {
    if (info_.kind != PluginKind::Probe) {
        throw sdk::Error(sdk::ProcessError::Configuration, "plugin " + info_.name + " is a runner plugin, not a probe plugin");
    }
    auto host = std::make_unique<PluginHostApi>(info_.name, nullptr);
    const auto* vt = static_cast<const corral_probe_vtable*>(descriptor_->vtable);
    void* self = create_instance(info_.name, vt, *host, options);
    return std::make_unique<PluginProbe>(shared_from_this(), std::move(host), vt, self);
}

}  // namespace corral::plugins
