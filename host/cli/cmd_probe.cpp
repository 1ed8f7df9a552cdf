// corral probe [--json]: what every system-probe plugin reports (devices, memory, CPU).
#include "cli/commands.hpp"
#include "cli/json_output.hpp"
#include "cli/plugin_dirs_option.hpp"
#include "config/units.hpp"
#include "plugins/plugin_registry.hpp"
#include "plugins/probe_runs.hpp"

#include <boost/json.hpp>

#include <iostream>

namespace corral::cli {
namespace {

void print_report(const sdk::ProbeReport& r) {
    std::cout << r.backend << ": " << (r.available ? "available" : "not available");
    if (!r.reason.empty()) std::cout << " (" << r.reason << ")";
    std::cout << "\n";
    if (r.system) {
        const auto& s = *r.system;
        std::cout << "  cpu: " << s.cpu_model << ", " << s.cpu_cores << " cores, " << s.cpu_threads << " threads\n"
                  << "  ram: " << config::format_size(s.ram_total) << " total, " << config::format_size(s.ram_available) << " available\n";
    }
    for (const auto& d : r.devices) {
        std::cout << "  [" << d.index << "] " << d.name;
        if (!d.type.empty()) std::cout << " (" << d.type << ")";
        std::cout << ": " << config::format_size(d.memory_total) << " total";
        if (d.memory_free) std::cout << ", " << config::format_size(*d.memory_free) << " free";
        if (d.unified) std::cout << ", unified";
        if (!d.compute_capability.empty()) std::cout << ", compute " << d.compute_capability;
        if (d.memory_used) std::cout << ", " << config::format_size(*d.memory_used) << " used";
        if (d.utilization) std::cout << ", " << static_cast<int>(*d.utilization * 100 + 0.5) << "% busy";
        if (!d.driver.empty()) std::cout << ", driver " << d.driver;
        std::cout << "\n";
        if (!d.uuid.empty() || !d.pci_bus_id.empty()) {
            std::cout << "      ";
            if (!d.uuid.empty()) std::cout << "uuid " << d.uuid << (d.pci_bus_id.empty() ? "" : ", ");
            if (!d.pci_bus_id.empty()) std::cout << "pci " << d.pci_bus_id;
            std::cout << "\n";
        }
    }
}

int run_probe(const ParsedArgs& args) {
    auto dirs = resolve_plugin_dirs(args);
    if (!dirs) return kExitUsage;
    std::vector<std::string> wanted;
    if (auto config = config_for_plugins(args)) wanted = config->probes;
    if (auto only = args.values("only"); !only.empty()) wanted = only;
    auto registry = plugins::PluginRegistry::scan(*dirs);
    auto runs = plugins::run_probes(registry, wanted);
    boost::json::array reports;
    bool any_failed = false;
    for (const auto& run : runs) {
        any_failed |= run.failed;
        if (args.flag("json")) {
            auto j = sdk::to_json(run.report);
            j.get_object()["plugin"] = run.plugin;
            reports.push_back(std::move(j));
        } else {
            print_report(run.report);
        }
    }
    if (args.flag("json")) {
        write_pretty_json(std::cout, boost::json::object{{"probes", std::move(reports)}});
    } else if (runs.empty()) {
        std::cout << "(no probe plugins found)\n";
    }
    return any_failed ? kExitFailure : kExitOk;
}

}  // namespace

Command probe_command() {
    CommandSpec spec{"probe",
                     "Report compute devices and memory from every system-probe plugin (cpu, cuda, vulkan, metal).",
                     {},
                     plugin_dir_options(),
                     "Exit status: 0 when every probe ran (an absent backend is reported, not a failure), 1 when a probe broke."};
    spec.options.push_back({"json", "", "Print JSON: {probes: [ProbeReport...]}"});
    spec.options.push_back({"only", "NAME", "Run only this probe plugin (repeatable; overrides the config's probes)", true});
    return {spec, run_probe};
}

}  // namespace corral::cli
