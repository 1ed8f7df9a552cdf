#include "fit/model_fit.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace corral::fit {
namespace {

int32_t requested_layers(const std::string& gpu_layers, int32_t max_layers) {
    if (gpu_layers == "all") return max_layers;
    int32_t n = 0;
    auto [end, ec] = std::from_chars(gpu_layers.data(), gpu_layers.data() + gpu_layers.size(), n);
    if (ec != std::errc() || end != gpu_layers.data() + gpu_layers.size() || n < 0) {
        throw std::invalid_argument("gpu layers must be \"auto\", \"all\" or a count, not \"" + gpu_layers + "\"");
    }
    return n;
}

boost::json::array uint_array(const std::vector<uint64_t>& values) {
    boost::json::array a;
    for (auto v : values) a.push_back(v);
    return a;
}

}  // namespace

FitRequest fit_request_for(const sdk::ServerConfig& server, std::vector<sdk::DeviceInfo> gpus, double headroom) {
    FitRequest r;
    if (server.ctx_size) r.estimate.ctx_size = *server.ctx_size;
    if (server.cache_type_k) r.estimate.cache_type_k = *server.cache_type_k;
    if (server.cache_type_v) r.estimate.cache_type_v = *server.cache_type_v;
    if (server.batch_size && *server.batch_size > 0) r.estimate.ubatch = std::min<uint32_t>(512, static_cast<uint32_t>(*server.batch_size));
    r.estimate.flash_attention = server.flash_attn.value_or("auto") != "off";
    if (server.gpu_layers) r.gpu_layers = *server.gpu_layers;
    r.gpus = std::move(gpus);
    r.headroom = headroom;
    return r;
}

ModelFit fit_model(const std::filesystem::path& gguf_path, const FitRequest& request) {
    ModelFit fit;
    fit.model = gguf::describe(gguf::read_file(gguf_path));
    fit.estimate = estimate_memory(fit.model, request.estimate);
    fit.gpus = request.gpus;
    fit.gpu_layers = request.gpu_layers;
    fit.gpu_available = gpu_available(request.gpus, request.headroom);
    const int32_t max_layers = static_cast<int32_t>(fit.estimate.layer_count) + 1;
    if (request.gpus.empty()) {
        fit.split = split_layers(fit.estimate, 0);
    } else if (request.gpu_layers == "auto") {
        fit.split = plan_layers(fit.estimate, fit.gpu_available);
    } else {
        fit.split = split_layers(fit.estimate, requested_layers(request.gpu_layers, max_layers));
    }
    return fit;
}

boost::json::object to_json(const ModelFit& fit) {
    const auto& m = fit.model;
    boost::json::object model{{"architecture", m.architecture},
                              {"name", m.name},
                              {"block_count", m.block_count},
                              {"file_type", m.file_type_name},
                              {"has_chat_template", m.has_chat_template},
                              {"vocab_size", m.vocab_size},
                              {"parameter_count", m.parameter_count},
                              {"head_count", uint_array(m.head_count)},
                              {"head_count_kv", uint_array(m.head_count_kv)}};
    auto put = [](boost::json::object& o, const char* key, const std::optional<uint64_t>& v) {
        if (v) o[key] = *v;
    };
    put(model, "context_length", m.context_length);
    put(model, "embedding_length", m.embedding_length);
    put(model, "feed_forward_length", m.feed_forward_length);
    put(model, "key_length", m.key_length);
    put(model, "value_length", m.value_length);
    put(model, "sliding_window", m.sliding_window);
    const auto& e = fit.estimate;
    boost::json::object estimate{{"ctx_size", e.ctx_size},
                                 {"cache_type_k", e.cache_type_k},
                                 {"cache_type_v", e.cache_type_v},
                                 {"weights", e.weights},
                                 {"layer_weights", uint_array(e.layer_weights)},
                                 {"input_weights", e.input_weights},
                                 {"output_weights", e.output_weights},
                                 {"kv", e.kv},
                                 {"layer_kv", uint_array(e.layer_kv)},
                                 {"compute", e.compute},
                                 {"total", e.total()}};
    boost::json::array gpus;
    for (const auto& d : fit.gpus) gpus.push_back(sdk::to_json(d));
    boost::json::object plan{{"gpu_layers_requested", fit.gpu_layers}, {"gpu_layers", fit.split.gpu_layers},
                             {"max_layers", fit.split.max_layers},     {"gpu_bytes", fit.split.gpu_bytes},
                             {"host_bytes", fit.split.host_bytes},     {"gpu_available", fit.gpu_available}};
    return {{"model", std::move(model)}, {"estimate", std::move(estimate)}, {"gpus", std::move(gpus)}, {"plan", std::move(plan)}};
}

}  // namespace corral::fit
