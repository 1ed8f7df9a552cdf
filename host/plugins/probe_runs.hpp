// Runs the system-probe plugins a command or the host wants, each isolated: a probe that throws is
// reported as unavailable with the reason, never fatal.
#pragma once

#include "plugins/plugin_registry.hpp"

#include <corral/sdk/types.hpp>

#include <string>
#include <vector>

namespace corral::plugins {

struct ProbeRun {
    std::string plugin;
    sdk::ProbeReport report;
    bool failed = false;  // the probe threw (report.reason says why)
};

// Every probe plugin in the registry, or only those named in `wanted` when it is not empty.
std::vector<ProbeRun> run_probes(const PluginRegistry& registry, const std::vector<std::string>& wanted);

}  // namespace corral::plugins
