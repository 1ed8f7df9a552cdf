#include "proxy/model_facts.hpp"

#include "gguf/gguf_file.hpp"
#include "gguf/model_info.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

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
    req.set(http::field::host, host_header_of(endpoint));
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

boost::json::object ModelFacts::of_file(const std::filesystem::path& path) {
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(path, ec);
    const auto size = ec ? 0 : std::filesystem::file_size(path, ec);
    if (ec || !std::filesystem::is_regular_file(path)) return {};
    if (auto it = files_.find(path); it != files_.end() && it->second.mtime == mtime && it->second.size == size) return it->second.facts;
    boost::json::object facts;
    try {
        auto info = gguf::describe(gguf::read_file(path));
        boost::json::object meta;
        if (info.vocab_size) meta["n_vocab"] = info.vocab_size;
        if (info.context_length) meta["n_ctx_train"] = *info.context_length;
        if (info.embedding_length) meta["n_embd"] = *info.embedding_length;
        meta["n_layer"] = info.block_count;
        meta["size"] = info.tensor_bytes;
        if (!info.file_type_name.empty()) meta["file_type"] = info.file_type_name;
        meta["general_architecture"] = info.architecture;
        facts["meta"] = std::move(meta);
    } catch (const std::exception&) {
        // Not a GGUF corral can read (a mock model, a remote path): no facts.
    }
    files_[path] = {mtime, size, facts};
    return facts;
}

}  // namespace corral::proxy
