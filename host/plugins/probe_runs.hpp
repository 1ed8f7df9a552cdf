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

// The same, in a child process (`corral probe --json`, the running executable): a GPU driver that
// crashes or hangs cannot take a long-running host with it, and what drivers load and keep (Mesa's
// Vulkan driver brings LLVM: ~50 MiB resident) is not carried for the host's lifetime. Falls back to
// run_probes() in this process when the child cannot be run or its answer cannot be read.
std::vector<ProbeRun> run_probes_isolated(const PluginRegistry& registry, const std::vector<std::string>& wanted);

}  // namespace corral::plugins
