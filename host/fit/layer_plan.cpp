#include "fit/layer_plan.hpp"

#include <algorithm>
#include <cmath>

namespace corral::fit {

LayerSplit split_layers(const MemoryEstimate& e, int32_t gpu_layers) {
    LayerSplit s;
    s.max_layers = static_cast<int32_t>(e.layer_count) + 1;
    s.gpu_layers = std::clamp(gpu_layers, 0, s.max_layers);
    // llama.cpp offloads the output layer first, then repeating layers from the last one down.
    const int32_t first_gpu_layer = s.max_layers - s.gpu_layers;
    for (uint32_t il = 0; il < e.layer_count; ++il) {
        uint64_t bytes = e.layer_weights[il] + e.layer_kv[il];
        (static_cast<int32_t>(il) >= first_gpu_layer ? s.gpu_bytes : s.host_bytes) += bytes;
    }
    (s.gpu_layers > 0 ? s.gpu_bytes : s.host_bytes) += e.output_weights;
    (s.gpu_layers > 0 ? s.gpu_bytes : s.host_bytes) += e.compute;
    s.host_bytes += e.input_weights;
    return s;
}

LayerSplit plan_layers(const MemoryEstimate& e, uint64_t gpu_available) {
    LayerSplit best = split_layers(e, 0);
    for (int32_t n = 1; n <= best.max_layers; ++n) {
        auto s = split_layers(e, n);
        if (s.gpu_bytes > gpu_available) break;
        best = s;
    }
    return best;
}

std::vector<sdk::DeviceInfo> gpus_of(const std::vector<sdk::ProbeReport>& reports) {
    std::vector<sdk::DeviceInfo> gpus;
    for (const char* backend : {"cuda", "metal", "vulkan"}) {
        for (const auto& r : reports) {
            if (r.backend != backend || !r.available) continue;
            for (const auto& d : r.devices) {
                if (d.type == "cpu") continue;  // llvmpipe and friends: llama.cpp does not offload to them
                gpus.push_back(d);
            }
        }
        if (!gpus.empty()) break;
    }
    return gpus;
}

uint64_t gpu_available(const std::vector<sdk::DeviceInfo>& gpus, double headroom) {
    uint64_t available = 0;
    for (const auto& d : gpus) {
        uint64_t keep = static_cast<uint64_t>(std::ceil(static_cast<double>(d.memory_total) * headroom));
        uint64_t free = d.memory_free.value_or(d.memory_total);
        available += free > keep ? free - keep : 0;
    }
    return available;
}

std::vector<uint64_t> fit_targets_mib(const std::vector<sdk::DeviceInfo>& gpus, double headroom) {
    std::vector<uint64_t> targets;
    for (const auto& d : gpus) {
        auto mib = static_cast<uint64_t>(std::ceil(static_cast<double>(d.memory_total) * headroom / (1024.0 * 1024.0)));
        targets.push_back(std::max<uint64_t>(mib, 256));
    }
    return targets;
}

}  // namespace corral::fit
