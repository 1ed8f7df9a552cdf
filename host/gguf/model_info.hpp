// What corral needs to know about a model from its GGUF metadata and tensor table: shape (layers,
// heads, embedding width), context length, file type, chat template presence and tensor bytes per
// layer, which host/fit turns into memory estimates.
#pragma once

#include "gguf/gguf_file.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace corral::gguf {

struct ModelInfo {
    std::string architecture;  // general.architecture, e.g. "llama", "qwen3"
    std::string name;          // general.name ("" when absent)
    uint32_t block_count = 0;  // repeating layers
    std::optional<uint64_t> context_length;
    std::optional<uint64_t> embedding_length;
    std::optional<uint64_t> feed_forward_length;
    // Per layer (block_count entries; a scalar in the file is repeated). Empty for models without
    // attention metadata.
    std::vector<uint64_t> head_count;
    std::vector<uint64_t> head_count_kv;
    std::optional<uint64_t> key_length;    // per head; default embedding_length / head_count
    std::optional<uint64_t> value_length;  // per head; default embedding_length / head_count
    std::optional<uint64_t> sliding_window;
    std::optional<uint32_t> file_type;  // general.file_type (llama_ftype)
    std::string file_type_name;         // "Q4_K_M", "F16", ... ("" when unknown)
    bool has_chat_template = false;
    uint64_t vocab_size = 0;  // tokenizer.ggml.tokens entries (0 when absent)
    // An embedding or reranking model: <arch>.pooling_type is set, or attention is not causal
    // (BERT and its kin). It makes vectors, not text.
    std::optional<uint32_t> pooling_type;
    bool causal_attention = true;
    uint64_t parameter_count = 0;  // elements of all tensors (this file's, for one part of a split set)

    uint64_t tensor_bytes = 0;          // all tensors
    std::vector<uint64_t> layer_bytes;  // blk.N.* per layer N
    uint64_t output_bytes = 0;          // output.*, output_norm.* (offloaded with the last layer)
    uint64_t input_bytes = 0;           // token_embd.* and everything else (kept in host memory)

    // Key / value width per head for layer `il`, with llama.cpp's defaults.
    uint64_t key_length_of(std::size_t il) const;
    uint64_t value_length_of(std::size_t il) const;
};

// Reads the model description out of a parsed file. Throws FormatError when the metadata the
// architecture needs is missing or of the wrong type (naming the key).
ModelInfo describe(const File& file);

std::string file_type_name(uint32_t file_type);

// The elements of a tensor: the product of its dimensions.
uint64_t parameter_count_of(const TensorInfo& tensor);
// "2.4M", "7.6B", "950": a parameter count as people say it (Ollama's parameter_size).
std::string parameter_size(uint64_t parameters);

}  // namespace corral::gguf
