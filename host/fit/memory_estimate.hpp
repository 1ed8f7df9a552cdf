// How much memory a model server will take: weights per layer (from the GGUF tensor table), the KV
// cache for a context size and cache types, and an allowance for llama.cpp's compute buffers.
#pragma once

#include "gguf/model_info.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace corral::fit {

struct EstimateOptions {
    std::optional<uint64_t> ctx_size;  // empty or 0: the model's training context (llama-server's default)
    std::string cache_type_k = "f16";
    std::string cache_type_v = "f16";
    uint32_t ubatch = 512;        // llama-server's default --ubatch-size
    bool flash_attention = true;  // llama-server's "auto" turns it on where the backend has it
};

struct MemoryEstimate {
    uint64_t ctx_size = 0;
    std::string cache_type_k, cache_type_v;
    uint32_t layer_count = 0;
    std::vector<uint64_t> layer_weights;  // per repeating layer
    uint64_t input_weights = 0;           // token embeddings and other non-layer tensors (host memory)
    uint64_t output_weights = 0;          // output head (goes to the GPU with the last layer)
    uint64_t weights = 0;                 // all of the above
    std::vector<uint64_t> layer_kv;       // per layer, K and V
    uint64_t kv = 0;
    uint64_t compute = 0;  // compute buffer allowance (per device that runs layers)

    uint64_t total() const { return weights + kv + compute; }
};

// Throws std::invalid_argument for an unknown cache type (the message names it and the known ones).
MemoryEstimate estimate_memory(const gguf::ModelInfo& model, const EstimateOptions& options);

}  // namespace corral::fit
