// corral fit MODEL.gguf: what a model needs (weights per layer, KV cache, compute buffers) and how
// many layers fit on the GPUs the probes report, with the numbers behind the plan.
#include "cli/commands.hpp"
#include "cli/json_output.hpp"
#include "cli/plugin_dirs_option.hpp"
#include "config/units.hpp"
#include "fit/model_fit.hpp"
#include "gguf/model_info.hpp"
#include "plugins/plugin_registry.hpp"
#include "plugins/probe_runs.hpp"
#include "scheduler/machines.hpp"

#include <boost/json.hpp>

#include <iostream>
#include <system_error>

namespace corral::cli {
namespace {

// Where serve would place the model on this machine with nothing else loaded: its GPUs and the share
// of each, or why it cannot go there.
struct PlacementView {
    scheduler::Machine machine;
    scheduler::Plan plan;
};

config::DeviceRequest parse_devices_option(const std::string& text) {
    if (text == "auto") return {};
    if (text == "cpu") return {config::DeviceRequest::Mode::Cpu, {}};
    config::DeviceRequest r{config::DeviceRequest::Mode::Pinned, {}};
    for (std::size_t start = 0; start <= text.size();) {
        auto comma = text.find(',', start);
        auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (item.empty()) throw UsageError("--devices expects auto, cpu or a comma-separated list such as cuda:0,cuda:1");
        r.selectors.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return r;
}

void print_placement(const PlacementView& v) {
    using config::format_size;
    if (v.plan.kind != scheduler::Plan::Kind::Place) {
        std::cout << "placement: " << v.plan.reason << "\n";
        return;
    }
    std::cout << "placement (" << v.machine.name << ", nothing else loaded): " << v.plan.reason << "\n";
    for (const auto& [id, bytes] : v.plan.reservation.devices) {
        const auto* d = v.machine.device(id);
        std::cout << "  " << id << " " << (d ? d->name : "") << ": " << format_size(bytes) << " of " << format_size(d ? d->capacity : 0)
                  << "\n";
    }
    if (v.plan.reservation.ram || v.plan.reservation.devices.empty()) {
        std::cout << "  RAM: " << format_size(v.plan.reservation.ram);
        if (v.machine.ram_capacity) std::cout << " of " << format_size(*v.machine.ram_capacity);
        std::cout << "\n";
    }
}

boost::json::object placement_json(const PlacementView& v) {
    if (v.plan.kind != scheduler::Plan::Kind::Place) return {{"error", v.plan.reason}};
    boost::json::object by_device;
    for (const auto& [id, bytes] : v.plan.reservation.devices) by_device[id] = bytes;
    return {{"machine", v.machine.name}, {"memory_by_device", by_device}, {"ram", v.plan.reservation.ram}, {"how", v.plan.reason}};
}

// The GPUs the model is placed on, as their probe reported them (memory_free is the GPU's), with what
// serve may reserve on each and the bytes placed there. (The layer plan's view of a GPU gives its
// share as memory_free: not what a script reading --json should get under that name.)
boost::json::array placed_gpus_json(const PlacementView& v, const std::vector<sdk::ProbeReport>& reports) {
    boost::json::array out;
    for (const auto& [id, bytes] : v.plan.reservation.devices) {
        const auto* slot = v.machine.device(id);
        if (!slot) continue;
        const sdk::DeviceInfo* probed = nullptr;
        for (const auto& r : reports) {
            for (const auto& d : r.devices)
                if (d.backend == slot->kind && d.index == slot->index) probed = &d;
        }
        auto gpu = probed ? sdk::to_json(*probed) : sdk::to_json(scheduler::device_info(*slot, 0, 0));
        auto& o = gpu.as_object();
        if (!probed) o.erase("memory_free");
        o["capacity"] = slot->capacity;  // what serve may reserve on it: the total less memory_headroom
        o["placed"] = bytes;
        out.push_back(std::move(gpu));
    }
    return out;
}

void print_fit(const fit::ModelFit& f, bool machine_has_gpus) {
    using config::format_size;
    const auto& m = f.model;
    const auto& e = f.estimate;
    std::cout << "model: " << (m.name.empty() ? "(unnamed)" : m.name) << " (" << m.architecture;
    if (!m.file_type_name.empty()) std::cout << ", " << m.file_type_name;
    std::cout << ", " << gguf::parameter_size(m.parameter_count) << " parameters, " << m.block_count << " layers";
    if (m.context_length) std::cout << ", trained context " << *m.context_length;
    std::cout << ", chat template " << (m.has_chat_template ? "yes" : "no") << ")\n";
    uint64_t layers = 0;
    for (auto b : e.layer_weights) layers += b;
    std::cout << "weights: " << format_size(e.weights) << " (layers " << format_size(layers) << ", input " << format_size(e.input_weights)
              << ", output " << format_size(e.output_weights) << ")\n";
    std::cout << "KV cache: " << format_size(e.kv) << " for " << e.ctx_size << " tokens";
    std::cout << " (K " << e.cache_type_k << ", V " << e.cache_type_v;
    if (!m.head_count_kv.empty()) std::cout << "; " << m.head_count_kv.front() << " KV heads of " << m.key_length_of(0) << " per layer";
    std::cout << ")\n";
    std::cout << "compute buffers: " << format_size(e.compute) << " (allowance)\n";
    std::cout << "total: " << format_size(e.total()) << "\n";
    if (f.gpus.empty()) {
        std::cout << (machine_has_gpus ? "GPUs: none used" : "GPUs: none found") << ": everything runs in host memory (-ngl 0)\n";
        return;
    }
    std::cout << "GPUs it is placed on:\n";
    for (const auto& d : f.gpus)
        std::cout << "  " << d.backend << ":" << d.index << " " << d.name << ": " << format_size(d.memory_total) << " total\n";
    std::cout << "placed there: " << format_size(f.gpu_available) << "\n";
    std::cout << "plan: -ngl " << f.split.gpu_layers << " of " << f.split.max_layers
              << (f.split.gpu_layers == f.split.max_layers ? " (the whole model on the GPUs)" : "") << ": GPU "
              << format_size(f.split.gpu_bytes) << ", host " << format_size(f.split.host_bytes) << "\n";
}

int run_fit(const ParsedArgs& args) {
    fit::FitRequest request;
    std::vector<sdk::ProbeReport> reports;
    if (auto ctx = args.integer("ctx")) {
        if (*ctx <= 0) throw UsageError("--ctx expects a positive token count, got " + std::to_string(*ctx));
        request.estimate.ctx_size = static_cast<uint64_t>(*ctx);
    }
    if (auto t = args.value("cache-type")) request.estimate.cache_type_k = request.estimate.cache_type_v = *t;
    if (auto t = args.value("cache-type-k")) request.estimate.cache_type_k = *t;
    if (auto t = args.value("cache-type-v")) request.estimate.cache_type_v = *t;
    if (auto l = args.value("gpu-layers")) request.gpu_layers = *l;
    if (args.flag("no-flash-attn")) request.estimate.flash_attention = false;
    if (auto h = args.value("headroom")) {
        char* end = nullptr;
        double v = std::strtod(h->c_str(), &end);
        if (end == h->c_str() || *end != '\0' || v < 0 || v >= 1) {
            std::cerr << "corral fit: --headroom expects a fraction in [0, 1), not \"" << *h << "\"\n";
            return kExitUsage;
        }
        request.headroom = v;
    }
    if (!args.flag("no-probe")) {
        auto dirs = resolve_plugin_dirs(args);
        if (!dirs) return kExitUsage;
        std::vector<std::string> wanted;
        if (auto config = config_for_plugins(args)) {
            wanted = config->probes;
            if (!args.value("headroom")) request.headroom = config->scheduler.memory_headroom;
        }
        for (auto& run : plugins::run_probes(plugins::PluginRegistry::scan(*dirs), wanted)) {
            if (run.report.available) reports.push_back(std::move(run.report));
        }
    }
    const auto devices = parse_devices_option(args.value("devices").value_or("auto"));
    try {
        // The estimate first, then the place serve would give it, then the layer plan for the GPUs placed on.
        auto sized = fit::fit_model(args.positionals.at(0), request);
        PlacementView view{scheduler::describe_machine(std::string(scheduler::kLocalMachine), reports, request.headroom), {}};
        const scheduler::Demand demand{sized.model.name, sized.estimate.total(), sized.estimate.compute, devices,
                                       request.gpu_layers != "all"};
        view.plan = scheduler::plan_placement(view.machine, {}, demand, {});
        for (const auto& [id, bytes] : view.plan.reservation.devices) {
            if (const auto* d = view.machine.device(id)) request.gpus.push_back(scheduler::device_info(*d, bytes, request.headroom));
        }
        auto result = fit::fit_model(args.positionals.at(0), request);
        if (args.flag("json")) {
            auto json = fit::to_json(result);
            json["gpus"] = placed_gpus_json(view, reports);
            json["placement"] = placement_json(view);
            write_pretty_json(std::cout, json);
        } else {
            print_fit(result, !view.machine.devices.empty());
            print_placement(view);
        }
        return view.plan.kind == scheduler::Plan::Kind::Impossible ? kExitUsage : kExitOk;
    } catch (const std::invalid_argument& e) {
        std::cerr << "corral fit: " << e.what() << "\n";
        return kExitUsage;
    } catch (const std::exception& e) {
        std::cerr << "corral fit: " << e.what() << "\n";
        return kExitFailure;
    }
}

}  // namespace

Command fit_command() {
    CommandSpec spec{"fit",
                     "Estimate a GGUF model's memory (weights, KV cache, compute), place it on this machine's GPUs and plan its layers.",
                     {"MODEL.gguf"},
                     plugin_dir_options(),
                     "GPUs come from the probe plugins (--plugin-dir, or --config's plugin_dirs and probes);\n"
                     "--no-probe plans for host memory only.\n"
                     "Exit status: 0 planned, 1 the file is not a readable GGUF model, 2 bad arguments."};
    auto& o = spec.options;
    o.push_back({"ctx", "N", "Context size in tokens (default: the model's trained context, as llama-server)"});
    o.push_back({"cache-type", "TYPE", "KV cache type for K and V: f16 (default), q8_0, q4_0, ..."});
    o.push_back({"cache-type-k", "TYPE", "KV cache type for K"});
    o.push_back({"cache-type-v", "TYPE", "KV cache type for V"});
    o.push_back({"gpu-layers", "N", "auto (default: as many as fit), all, or a count"});
    o.push_back({"headroom", "FRACTION", "GPU memory to keep free (default 0.1, or the config's scheduler.memory_headroom)"});
    o.push_back({"no-flash-attn", "", "Size compute buffers for flash attention off"});
    o.push_back({"devices", "SPEC", "Where serve may place it: auto (default), cpu, or GPUs such as cuda:0,cuda:1 or UUID prefixes"});
    o.push_back({"no-probe", "", "Do not run probes: plan for host memory only"});
    o.push_back({"json", "", "Print JSON: {model, estimate, gpus (as probed, with the bytes placed), plan, placement}"});
    return {spec, run_fit};
}

}  // namespace corral::cli
