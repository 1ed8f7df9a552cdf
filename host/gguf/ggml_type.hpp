// ggml tensor types: block size and bytes per block, the facts needed to size tensors and KV caches.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace corral::gguf {

struct GgmlType {
    uint32_t id;
    std::string_view name;  // as llama.cpp spells it: "f16", "q8_0", "q4_K", ...
    uint32_t block_size;    // elements per block
    uint32_t type_size;     // bytes per block
};

// The traits of a ggml type id, or nullptr for ids that are unknown or were removed from ggml.
const GgmlType* ggml_type(uint32_t id);

// By name, case-insensitive ("q8_0", "F16", "q4_k"): for KV cache types from config and the CLI.
const GgmlType* ggml_type_by_name(std::string_view name);

// Bytes of `elements` values of a type, or empty when `elements` is not a whole number of blocks or
// the size overflows.
std::optional<uint64_t> ggml_row_bytes(const GgmlType& type, uint64_t elements);

}  // namespace corral::gguf
