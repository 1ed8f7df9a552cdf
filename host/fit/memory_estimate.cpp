#include "fit/memory_estimate.hpp"

#include "gguf/ggml_type.hpp"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace corral::fit {
namespace {

const gguf::GgmlType& cache_type(const std::string& name) {
    static constexpr const char* kKvTypes[] = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"};
    for (const char* t : kKvTypes) {
        if (const auto* type = gguf::ggml_type_by_name(name); type && type->name == t) return *type;
    }
    throw std::invalid_argument("unknown KV cache type \"" + name +
                                "\" (expected one of f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)");
}

// Bytes for `elements` values of a cache type, rounding a partial block up.
uint64_t row_bytes(const gguf::GgmlType& type, uint64_t elements) {
    return (elements + type.block_size - 1) / type.block_size * type.type_size;
}

}  // namespace

MemoryEstimate estimate_memory(const gguf::ModelInfo& model, const EstimateOptions& options) {
    const auto& type_k = cache_type(options.cache_type_k);
    const auto& type_v = cache_type(options.cache_type_v);
    MemoryEstimate e;
    e.ctx_size = options.ctx_size && *options.ctx_size ? *options.ctx_size : model.context_length.value_or(4096);
    e.cache_type_k = type_k.name;
    e.cache_type_v = type_v.name;
    e.layer_count = model.block_count;
    e.layer_weights = model.layer_bytes;
    e.input_weights = model.input_bytes;
    e.output_weights = model.output_bytes;
    e.weights = model.tensor_bytes;

    // KV cache: every cell holds, per layer, a K row (key width x KV heads) and a V row. llama-server
    // keeps one unified cache of ctx_size cells shared by its slots.
    e.layer_kv.resize(model.block_count);
    for (uint32_t il = 0; il < model.block_count; ++il) {
        // As llama.cpp refuses to create such a context: a quantized cache row is one head wide.
        for (auto [type, width, which] :
             {std::tuple{&type_k, model.key_length_of(il), "K"}, std::tuple{&type_v, model.value_length_of(il), "V"}}) {
            if (width % type->block_size != 0) {
                throw std::invalid_argument(std::string(which) + " cache type " + std::string(type->name) +
                                            " needs a head size divisible by " + std::to_string(type->block_size) + "; this model's is " +
                                            std::to_string(width));
            }
        }
        uint64_t kv_heads = il < model.head_count_kv.size() ? model.head_count_kv[il] : 0;
        uint64_t per_cell = row_bytes(type_k, model.key_length_of(il) * kv_heads) + row_bytes(type_v, model.value_length_of(il) * kv_heads);
        e.layer_kv[il] = per_cell * e.ctx_size;
        e.kv += e.layer_kv[il];
    }

    // Compute buffers: a ubatch of f32 activations through the widest parts of the graph (the
    // logits row per token, the FFN and attention projections), plus the attention score matrix when
    // flash attention is off. An allowance, not a measurement: the real figure from the server's log
    // replaces it after the first start.
    const uint64_t embd = model.embedding_length.value_or(0);
    const uint64_t ff = model.feed_forward_length.value_or(4 * embd);
    uint64_t per_token = model.vocab_size + 2 * std::max(ff, 4 * embd) + 4 * embd;
    e.compute = uint64_t{options.ubatch} * 4 * per_token;
    if (!options.flash_attention) {
        uint64_t heads = model.head_count.empty() ? 0 : *std::max_element(model.head_count.begin(), model.head_count.end());
        e.compute += uint64_t{options.ubatch} * e.ctx_size * heads * 4;
    }
    return e;
}

}  // namespace corral::fit
