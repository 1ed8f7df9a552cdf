#include "plugins/probe_runs.hpp"

#include <algorithm>

namespace corral::plugins {

std::vector<ProbeRun> run_probes(const PluginRegistry& registry, const std::vector<std::string>& wanted) {
    std::vector<ProbeRun> runs;
    for (const auto& plugin : registry.plugins()) {
        if (plugin->info().kind != PluginKind::Probe) continue;
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), plugin->info().name) == wanted.end()) continue;
        ProbeRun run;
        run.plugin = plugin->info().name;
        try {
            run.report = plugin->create_probe({})->probe();
        } catch (const std::exception& e) {
            // A broken probe is reported, never fatal: the other backends still count.
            run.failed = true;
            run.report.backend = plugin->info().name;
            run.report.available = false;
            run.report.reason = std::string("probe failed: ") + e.what();
        }
        runs.push_back(std::move(run));
    }
    return runs;
}

}  // namespace corral::plugins
