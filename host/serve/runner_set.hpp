// The runners a config names, made from their plugins and kept across reloads: a runner whose
// plugin or options did not change keeps its instance (and its servers).
#pragma once

#include "config/config.hpp"
#include "plugins/plugin_registry.hpp"
#include "plugins/runner_events.hpp"
#include "supervisor/instance.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>

namespace corral::serve {

class RunnerSet {
public:
    // Runner plugins that keep state (those whose schema has "state_dir") get
    // <state_dir>/runners/<runner name> unless the config sets one.
    // The runners' events go to `on_event`, their servers' output lines to `on_line` (see Plugin::create_runner).
    RunnerSet(const plugins::PluginRegistry& registry, std::filesystem::path state_dir, plugins::RunnerEventHandler on_event,
              plugins::RunnerLineHandler on_line = nullptr);

    // Makes the runners of `config`, reusing unchanged ones. All or nothing: throws std::runtime_error
    // naming the runner when a plugin is missing or refuses its options, and then changes nothing.
    void apply(const config::Config& config);

    // A runner made elsewhere (the scheduler's unit tests give GoogleMock runners this way). apply()
    // keeps it while the config names it with the same plugin and options.
    void add(std::shared_ptr<supervisor::RunnerSlot> slot) { slots_[slot->name] = std::move(slot); }

    std::shared_ptr<supervisor::RunnerSlot> find(const std::string& name) const;
    const std::map<std::string, std::shared_ptr<supervisor::RunnerSlot>>& slots() const noexcept { return slots_; }

private:
    const plugins::PluginRegistry& registry_;
    std::filesystem::path state_dir_;
    plugins::RunnerEventHandler on_event_;
    plugins::RunnerLineHandler on_line_;
    std::map<std::string, std::shared_ptr<supervisor::RunnerSlot>> slots_;
};

// Identifies what a model's server is started from: its server settings, runner name and the
// runner's options. Settings that do not need a restart (aliases, ttl, concurrency) are left out.
std::string model_fingerprint(const config::ModelConfig& model, const config::RunnerConfig* runner);

}  // namespace corral::serve
