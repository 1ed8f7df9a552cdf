#include "serve/runner_set.hpp"

#include "logging/logging.hpp"

#include <corral/sdk/plugin_abi.h>

#include <boost/json/serialize.hpp>

#include <cstdio>
#include <stdexcept>

namespace corral::serve {
namespace {

std::shared_ptr<spdlog::logger> log() {
    return logging::get("serve");
}

}  // namespace

namespace {

// Makes an optional runner call (`call` stores its answer): NotSupported is an answer (nothing is
// stored), any other failure is logged as "runner NAME: <failure>: <why>".
template <class Call>
void ask_once(const std::string& runner, std::string_view failure, Call call) {
    try {
        call();
    } catch (const sdk::Error& e) {
        if (e.code() != sdk::ProcessError::NotSupported) log()->warn("runner {}: {}: {}", runner, failure, e.what());
    } catch (const std::exception& e) {
        log()->warn("runner {}: {}: {}", runner, failure, e.what());
    }
}

}  // namespace

RunnerSet::RunnerSet(const plugins::PluginRegistry& registry, std::filesystem::path state_dir, plugins::RunnerEventHandler on_event,
                     plugins::RunnerLineHandler on_line)
    : registry_(registry), state_dir_(std::move(state_dir)), on_event_(std::move(on_event)), on_line_(std::move(on_line)) {}

void RunnerSet::apply(const config::Config& config) {
    std::map<std::string, std::shared_ptr<supervisor::RunnerSlot>> next;
    for (const auto& rc : config.runners) {
        auto old = slots_.find(rc.name);
        if (old != slots_.end() && old->second->plugin == rc.plugin && old->second->options == rc.options) {
            next[rc.name] = old->second;
            continue;
        }
        auto plugin = registry_.find(rc.plugin);
        if (!plugin || plugin->info().kind != plugins::PluginKind::Runner) {
            throw std::runtime_error("runners." + rc.name + ".plugin: no runner plugin named \"" + rc.plugin + "\" is loaded");
        }
        auto options = rc.options;
        if (!options.contains("state_dir") && plugins::accepts_option(*plugin, "state_dir")) {
            options["state_dir"] = (state_dir_ / "runners" / rc.name).string();
        }
        auto slot = std::make_shared<supervisor::RunnerSlot>();
        slot->name = rc.name;
        slot->plugin = rc.plugin;
        slot->options = rc.options;
        slot->can_adopt = (plugin->info().capabilities & CORRAL_CAP_ADOPT) != 0;
        slot->remote = (plugin->info().capabilities & CORRAL_CAP_REMOTE) != 0;
        slot->slot_cache = (plugin->info().capabilities & CORRAL_CAP_SLOT_CACHE) != 0;
        try {
            slot->runner = plugin->create_runner(options, on_event_, on_line_);
        } catch (const std::exception& e) {
            throw std::runtime_error("runners." + rc.name + ": " + e.what());
        }
        // Asked once, when the runner is made: a remote probe takes a round trip.
        ask_once(rc.name, "cannot describe its machine", [&] { slot->machines = slot->runner->machines(); });
        if (slot->slot_cache) ask_once(rc.name, "keeps no prompt caches", [&] { slot->slot_cache_root = slot->runner->slot_cache_root(); });
        next[rc.name] = std::move(slot);
    }
    slots_ = std::move(next);
}

std::shared_ptr<supervisor::RunnerSlot> RunnerSet::find(const std::string& name) const {
    auto it = slots_.find(name);
    return it == slots_.end() ? nullptr : it->second;
}

std::string model_fingerprint(const config::ModelConfig& model, const config::RunnerConfig* runner) {
    auto server = model.server;
    server.instance_id.clear();
    std::string text = boost::json::serialize(sdk::to_json(server)) + "\n" + model.runner + "\n";
    if (runner) text += runner->plugin + "\n" + boost::json::serialize(runner->options);
    // A pin or "cpu" changes what the server sees (appended only then: default fingerprints stay as they were).
    if (model.devices.mode == config::DeviceRequest::Mode::Cpu) text += "\ndevices cpu";
    for (const auto& d : model.devices.selectors) text += "\ndevice " + d;
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

}  // namespace corral::serve
