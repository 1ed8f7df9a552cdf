#include "proxy/model_facts.hpp"

#include "gguf/gguf_file.hpp"
#include "gguf/model_info.hpp"
#include "gguf/split_files.hpp"
#include "http_health.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// Fields of a server's entry that describe corral's view instead (names, ownership, state).
bool corral_field(std::string_view key) {
    return key == "id" || key == "object" || key == "created" || key == "owned_by" || key == "aliases" || key == "status";
}

}  // namespace

asio::awaitable<std::optional<boost::json::value>> get_json(UpstreamPool& pool, const std::string& endpoint, const std::string& target,
                                                            const std::string& key, std::chrono::milliseconds timeout) {
    std::unique_ptr<UpstreamConnection> up;
    try {
        up = co_await pool.get(endpoint);
    } catch (const boost::system::system_error&) {
        co_return std::nullopt;
    }
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, plugin_common::host_header(endpoint));
    if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
    req.keep_alive(true);
    up->stream.expires_after(timeout);
    auto [wec, wn] = co_await http::async_write(up->stream, req, tuple_awaitable);
    if (wec) co_return std::nullopt;
    http::response_parser<http::string_body> parser;
    parser.body_limit(4 << 20);
    auto [rec, rn] = co_await http::async_read(up->stream, up->buffer, parser, tuple_awaitable);
    up->stream.expires_never();
    if (rec || parser.get().result() != http::status::ok) co_return std::nullopt;
    if (parser.keep_alive()) pool.put(endpoint, std::move(up));
    boost::system::error_code ec;
    auto value = boost::json::parse(parser.get().body(), ec);
    if (ec) co_return std::nullopt;
    co_return value;
}

asio::awaitable<std::optional<boost::json::object>> ModelFacts::of_server(UpstreamPool& pool, const std::string& instance_id,
                                                                          const std::string& endpoint, const std::string& key,
                                                                          std::chrono::milliseconds timeout) {
    if (auto it = servers_.find(instance_id); it != servers_.end()) co_return it->second;
    auto listed = co_await get_json(pool, endpoint, "/v1/models", key, timeout);
    if (!listed || !listed->is_object()) co_return std::nullopt;
    const auto* data = listed->get_object().if_contains("data");
    if (!data || !data->is_array() || data->get_array().empty() || !data->get_array().front().is_object()) co_return std::nullopt;
    boost::json::object facts;
    for (const auto& [k, v] : data->get_array().front().get_object()) {
        if (!corral_field(k)) facts[k] = v;
    }
    servers_[instance_id] = facts;
    co_return facts;
}

std::optional<std::filesystem::path> projector_argument(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "--mmproj" || args[i] == "-mm") && i + 1 < args.size()) return args[i + 1];
        if (args[i].starts_with("--mmproj=")) return args[i].substr(9);
    }
    return std::nullopt;
}

boost::json::object details_json(const FileSummary& f) {
    boost::json::object d{{"format", "gguf"},           {"architecture", f.architecture},
                          {"parameters", f.parameters}, {"parameter_size", gguf::parameter_size(f.parameters)},
                          {"file_size", f.file_size},   {"files", f.files}};
    if (!f.quantization.empty()) d["quantization"] = f.quantization;
    if (f.context_length) d["context_length"] = *f.context_length;
    return d;
}

std::vector<std::string> capabilities_of(const FileSummary& f, const std::optional<ProjectorSummary>& projector,
                                         const std::vector<std::string>& args) {
    auto has = [&](std::initializer_list<std::string_view> flags) {
        return std::any_of(args.begin(), args.end(),
                           [&](const std::string& a) { return std::find(flags.begin(), flags.end(), std::string_view(a)) != flags.end(); });
    };
    std::vector<std::string> out;
    if (!f.embedding_model) {
        out.emplace_back("completion");
        if (f.chat_template || has({"--chat-template", "--chat-template-file"})) out.emplace_back("chat");
    }
    // llama-server answers /v1/embeddings and /v1/rerank only when started for them.
    if (has({"--embedding", "--embeddings"})) out.emplace_back("embeddings");
    if (has({"--reranking", "--rerank"})) out.emplace_back("rerank");
    if (projector && !f.embedding_model) {
        if (projector->vision) out.emplace_back("vision");
        if (projector->audio) out.emplace_back("audio");
    }
    return out;
}

namespace {

template <class Entry, class Read>
const auto& cached(std::map<std::filesystem::path, Entry>& cache, const std::filesystem::path& path, Read read) {
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(path, ec);
    const auto size = ec ? 0 : std::filesystem::file_size(path, ec);
    auto& entry = cache[path];
    if (!entry.read || entry.mtime != mtime || entry.size != size || ec) {
        entry.read = !ec;  // a file that cannot be parsed is not read again until it changes
        entry.mtime = mtime;
        entry.size = size;
        entry.value.reset();
        if (!ec) entry.value = read();
    }
    return entry.value;
}

}  // namespace

const std::optional<FileSummary>& ModelFacts::file(const std::filesystem::path& path) {
    return cached(files_, path, [&]() -> std::optional<FileSummary> {
        try {
            const auto info = gguf::describe(gguf::read_file(path));
            FileSummary f;
            f.architecture = info.architecture;
            f.parameters = info.parameter_count;
            f.quantization = info.file_type_name;
            f.context_length = info.context_length;
            f.chat_template = info.has_chat_template;
            f.embedding_model = info.pooling_type.has_value() || !info.causal_attention;
            uint64_t tensor_bytes = info.tensor_bytes;
            const auto parts = gguf::split_parts(path);
            f.files = static_cast<int>(parts.size());
            for (const auto& part : parts) {
                f.file_size += std::filesystem::file_size(part);
                if (part == path) continue;
                for (const auto& t : gguf::read_file(part).tensors) {  // the other parts hold only tensors
                    f.parameters += gguf::parameter_count_of(t);
                    tensor_bytes += t.bytes;
                }
            }
            if (info.vocab_size) f.meta["n_vocab"] = info.vocab_size;
            if (info.context_length) f.meta["n_ctx_train"] = *info.context_length;
            if (info.embedding_length) f.meta["n_embd"] = *info.embedding_length;
            f.meta["n_params"] = f.parameters;
            f.meta["n_layer"] = info.block_count;
            f.meta["size"] = tensor_bytes;
            if (!info.file_type_name.empty()) f.meta["file_type"] = info.file_type_name;
            f.meta["general_architecture"] = info.architecture;
            return f;
        } catch (const std::exception&) {
            return std::nullopt;  // not a GGUF corral can read (a mock model, a remote path, a part missing)
        }
    });
}

const std::optional<ProjectorSummary>& ModelFacts::projector(const std::filesystem::path& path) {
    return cached(projectors_, path, [&]() -> std::optional<ProjectorSummary> {
        try {
            const auto file = gguf::read_file(path);
            auto flag = [&](const char* key) -> std::optional<bool> {
                const auto* v = file.find(key);
                if (!v || v->type != gguf::ValueType::Bool) return std::nullopt;
                return v->uint != 0;
            };
            ProjectorSummary p;
            const auto vision = flag("clip.has_vision_encoder");
            const auto audio = flag("clip.has_audio_encoder");
            p.audio = audio.value_or(false);
            p.vision = vision.value_or(!audio.has_value());  // older projectors are vision ones and say nothing
            return p;
        } catch (const std::exception&) {
            return std::nullopt;
        }
    });
}

boost::json::object ModelFacts::of_model(const config::ModelConfig& model) {
    const auto& f = file(model.server.model_path);
    if (!f) return {};
    std::optional<ProjectorSummary> proj;
    if (auto path = projector_argument(model.server.extra_args)) proj = projector(*path);
    boost::json::array capabilities;
    for (auto& c : capabilities_of(*f, proj, model.server.extra_args)) capabilities.push_back(boost::json::value(c));
    return {{"details", details_json(*f)}, {"capabilities", std::move(capabilities)}, {"meta", f->meta}};
}

}  // namespace corral::proxy
