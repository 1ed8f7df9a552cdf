#include "gguf/model_info.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace corral::gguf {
namespace {

constexpr uint64_t kMaxLayers = 1u << 16;

std::optional<uint64_t> optional_uint(const File& file, const std::string& key) {
    const auto* v = file.find(key);
    if (!v) return std::nullopt;
    auto u = v->as_uint();
    if (!u) throw FormatError("GGUF: " + key + " must be a non-negative integer, not " + std::string(value_type_name(v->type)));
    return u;
}

// A scalar or a per-layer array, expanded to one value per layer.
std::vector<uint64_t> per_layer(const File& file, const std::string& key, uint32_t layers) {
    const auto* v = file.find(key);
    if (!v) return {};
    if (!v->is_array()) {
        auto u = v->as_uint();
        if (!u) throw FormatError("GGUF: " + key + " must be a non-negative integer, not " + std::string(value_type_name(v->type)));
        return std::vector<uint64_t>(layers, *u);
    }
    if (v->count != layers || v->items.size() != layers) {
        throw FormatError("GGUF: " + key + " has " + std::to_string(v->count) + " entries for " + std::to_string(layers) + " layers");
    }
    std::vector<uint64_t> out;
    for (const auto& item : v->items) {
        auto u = item.as_uint();
        if (!u) throw FormatError("GGUF: " + key + " entries must be non-negative integers");
        out.push_back(*u);
    }
    return out;
}

// "blk.12.attn_q.weight" -> 12
std::optional<uint64_t> layer_of(std::string_view tensor) {
    if (tensor.substr(0, 4) != "blk.") return std::nullopt;
    tensor.remove_prefix(4);
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(tensor.data(), tensor.data() + tensor.size(), n);
    if (ec != std::errc() || end == tensor.data() || end == tensor.data() + tensor.size() || *end != '.') return std::nullopt;
    return n;
}

}  // namespace

std::string file_type_name(uint32_t t) {
    switch (t) {
        case 0:
            return "F32";
        case 1:
            return "F16";
        case 2:
            return "Q4_0";
        case 3:
            return "Q4_1";
        case 7:
            return "Q8_0";
        case 8:
            return "Q5_0";
        case 9:
            return "Q5_1";
        case 10:
            return "Q2_K";
        case 11:
            return "Q3_K_S";
        case 12:
            return "Q3_K_M";
        case 13:
            return "Q3_K_L";
        case 14:
            return "Q4_K_S";
        case 15:
            return "Q4_K_M";
        case 16:
            return "Q5_K_S";
        case 17:
            return "Q5_K_M";
        case 18:
            return "Q6_K";
        case 19:
            return "IQ2_XXS";
        case 20:
            return "IQ2_XS";
        case 21:
            return "Q2_K_S";
        case 22:
            return "IQ3_XS";
        case 23:
            return "IQ3_XXS";
        case 24:
            return "IQ1_S";
        case 25:
            return "IQ4_NL";
        case 26:
            return "IQ3_S";
        case 27:
            return "IQ3_M";
        case 28:
            return "IQ2_S";
        case 29:
            return "IQ2_M";
        case 30:
            return "IQ4_XS";
        case 31:
            return "IQ1_M";
        case 32:
            return "BF16";
        case 36:
            return "TQ1_0";
        case 37:
            return "TQ2_0";
        case 38:
            return "MXFP4_MOE";
        default:
            return "";
    }
}

uint64_t ModelInfo::key_length_of(std::size_t il) const {
    if (key_length) return *key_length;
    uint64_t heads = il < head_count.size() ? head_count[il] : 0;
    return heads && embedding_length ? *embedding_length / heads : 0;
}

uint64_t ModelInfo::value_length_of(std::size_t il) const {
    if (value_length) return *value_length;
    uint64_t heads = il < head_count.size() ? head_count[il] : 0;
    return heads && embedding_length ? *embedding_length / heads : 0;
}

std::string parameter_size(uint64_t parameters) {
    constexpr std::pair<double, const char*> units[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
    for (const auto& [scale, unit] : units) {
        if (static_cast<double>(parameters) >= scale) {
            char text[32];
            std::snprintf(text, sizeof text, "%.1f%s", static_cast<double>(parameters) / scale, unit);
            return text;
        }
    }
    return std::to_string(parameters);
}

uint64_t parameter_count_of(const TensorInfo& tensor) {
    uint64_t n = tensor.dims.empty() ? 0 : 1;
    for (auto d : tensor.dims) n *= d;
    return n;
}

ModelInfo describe(const File& file) {
    ModelInfo m;
    const auto* arch = file.find("general.architecture");
    if (!arch || !arch->as_string() || arch->str.empty()) throw FormatError("GGUF: general.architecture is missing (not a model file?)");
    m.architecture = arch->str;
    if (const auto* name = file.find("general.name"); name && name->as_string()) m.name = name->str;
    const std::string a = m.architecture + ".";

    auto blocks = optional_uint(file, a + "block_count");
    if (!blocks) throw FormatError("GGUF: " + a + "block_count is missing");
    if (*blocks > kMaxLayers) throw FormatError("GGUF: " + a + "block_count " + std::to_string(*blocks) + " is not plausible");
    m.block_count = static_cast<uint32_t>(*blocks);
    m.context_length = optional_uint(file, a + "context_length");
    m.embedding_length = optional_uint(file, a + "embedding_length");
    if (auto ff = per_layer(file, a + "feed_forward_length", m.block_count); !ff.empty()) {
        m.feed_forward_length = *std::max_element(ff.begin(), ff.end());
    }
    m.head_count = per_layer(file, a + "attention.head_count", m.block_count);
    m.head_count_kv = per_layer(file, a + "attention.head_count_kv", m.block_count);
    if (m.head_count_kv.empty()) m.head_count_kv = m.head_count;  // no GQA
    m.key_length = optional_uint(file, a + "attention.key_length");
    m.value_length = optional_uint(file, a + "attention.value_length");
    m.sliding_window = optional_uint(file, a + "attention.sliding_window");
    if (auto ft = optional_uint(file, "general.file_type")) {
        m.file_type = static_cast<uint32_t>(*ft);
        m.file_type_name = file_type_name(*m.file_type);
    }
    m.has_chat_template = file.find("tokenizer.chat_template") != nullptr;
    if (const auto* tokens = file.find("tokenizer.ggml.tokens"); tokens && tokens->is_array()) m.vocab_size = tokens->count;

    if (auto pooling = optional_uint(file, a + "pooling_type")) m.pooling_type = static_cast<uint32_t>(*pooling);
    if (const auto* causal = file.find(a + "attention.causal"); causal && causal->type == ValueType::Bool)
        m.causal_attention = causal->uint != 0;

    m.layer_bytes.assign(m.block_count, 0);
    for (const auto& t : file.tensors) {
        m.parameter_count += parameter_count_of(t);
        m.tensor_bytes += t.bytes;
        if (auto layer = layer_of(t.name); layer && *layer < m.block_count) {
            m.layer_bytes[*layer] += t.bytes;
        } else if (t.name.rfind("output", 0) == 0) {
            m.output_bytes += t.bytes;
        } else {
            m.input_bytes += t.bytes;
        }
    }
    return m;
}

}  // namespace corral::gguf
