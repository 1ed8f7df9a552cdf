// One model's fit: its GGUF description, memory estimate and layer plan for the GPUs the probes
// found. Used by `corral fit`, by the scheduler (what may be loaded together) and at launch (the
// layer plan and --fit-target for gpu_layers "auto").
#pragma once

#include "fit/layer_plan.hpp"
#include "fit/memory_estimate.hpp"
#include "gguf/model_info.hpp"

#include <corral/sdk/types.hpp>

#include <boost/json/object.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace corral::fit {

struct FitRequest {
    EstimateOptions estimate;
    std::string gpu_layers = "auto";    // "auto", "all" or a count
    std::vector<sdk::DeviceInfo> gpus;  // from gpus_of(probe reports)
    double headroom = 0.1;              // fraction of each GPU kept free
};

struct ModelFit {
    gguf::ModelInfo model;
    MemoryEstimate estimate;
    LayerSplit split;
    uint64_t gpu_available = 0;  // free GPU memory less the headroom
    std::vector<sdk::DeviceInfo> gpus;
    std::string gpu_layers;  // as requested
};

// The request a model's server settings imply (context, cache types, layers, flash attention).
FitRequest fit_request_for(const sdk::ServerConfig& server, std::vector<sdk::DeviceInfo> gpus, double headroom);

// Throws gguf::FormatError (bad file), std::system_error (unreadable) or std::invalid_argument (a
// bad cache type or layer count).
ModelFit fit_model(const std::filesystem::path& gguf_path, const FitRequest& request);

boost::json::object to_json(const ModelFit& fit);

}  // namespace corral::fit
