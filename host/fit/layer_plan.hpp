// Where a model's layers go: how many llama.cpp can offload to the GPUs (`-ngl`) within the memory
// they have free, and what then stays in host memory.
#pragma once

#include "fit/memory_estimate.hpp"

#include <corral/sdk/types.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace corral::fit {

struct LayerSplit {
    int32_t gpu_layers = 0;  // llama.cpp's -ngl: counted from the output layer backwards
    int32_t max_layers = 0;  // repeating layers + the output layer: "all"
    uint64_t gpu_bytes = 0;
    uint64_t host_bytes = 0;
};

// The memory on each side with `gpu_layers` offloaded (clamped to 0..max_layers). With none, the
// compute buffers are in host memory; with any, they are on the GPU (llama.cpp keeps a small host
// buffer too, inside the allowance).
LayerSplit split_layers(const MemoryEstimate& estimate, int32_t gpu_layers);

// The most layers whose GPU side fits in `gpu_available` bytes (free memory less the margin to keep).
LayerSplit plan_layers(const MemoryEstimate& estimate, uint64_t gpu_available);

// The GPUs a server will use, from probe reports: devices of the cuda, vulkan and metal backends
// that are not CPUs. (A machine with CUDA and Vulkan drivers reports the same GPU twice: CUDA wins.)
std::vector<sdk::DeviceInfo> gpus_of(const std::vector<sdk::ProbeReport>& reports);

// Free memory the server may use on the GPUs: free (or total) memory less `headroom` of the total.
uint64_t gpu_available(const std::vector<sdk::DeviceInfo>& gpus, double headroom);

// llama-server's --fit-target (MiB to leave free per device) for a headroom fraction, one per GPU,
// at least 256 MiB each (the driver's and other processes' share).
std::vector<uint64_t> fit_targets_mib(const std::vector<sdk::DeviceInfo>& gpus, double headroom);

}  // namespace corral::fit
