#include "fit/memory_planner.hpp"

#include "fit/model_fit.hpp"
#include "logging/logging.hpp"

#include <filesystem>

namespace corral::fit {
namespace {

auto log() {
    return logging::get("fit");
}

}  // namespace

ModelMemory MemoryPlanner::size(const config::ModelConfig& model, const std::string& fingerprint) const {
    if (model.memory) return {*model.memory, "config"};
    if (auto it = measured_.find(fingerprint); it != measured_.end()) return {it->second, "measured"};
    const auto& path = model.server.model_path;
    try {
        // The whole footprint, wherever the layers go: weights, KV cache and compute buffers.
        auto fit = fit_model(path, fit_request_for(model.server, {}, headroom_));
        return {fit.estimate.total(), "estimate", fit.estimate.compute};
    } catch (const std::exception& e) {
        log()->debug("{}: no GGUF estimate ({}); using the file size", model.name, e.what());
    }
    std::error_code ec;
    auto bytes = std::filesystem::file_size(path, ec);
    return ec ? ModelMemory{0, "unknown"} : ModelMemory{bytes, "file size"};
}

void MemoryPlanner::record(const std::string& fingerprint, const ServerMemoryLog& log) {
    if (log.empty()) return;
    measured_[fingerprint] = log.total();
}

void MemoryPlanner::prepare_launch(config::ModelConfig& model, const std::vector<sdk::DeviceInfo>& gpus) const {
    auto& server = model.server;
    if (!server.gpu_layers || *server.gpu_layers != "auto" || gpus.empty()) return;
    server.fit_target_mib = fit_targets_mib(gpus, headroom_);
    try {
        auto fit = fit_model(server.model_path, fit_request_for(server, gpus, headroom_));
        server.fit_gpu_layers = fit.split.gpu_layers;
        log()->debug("{}: planned {} of {} layers on the GPUs ({} free after headroom)", model.name, fit.split.gpu_layers,
                     fit.split.max_layers, fit.gpu_available);
    } catch (const std::exception& e) {
        log()->warn("{}: cannot plan its GPU layers ({}); the server decides", model.name, e.what());
    }
}

}  // namespace corral::fit
