#include "proxy/forward.hpp"

#include "logging/logging.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/json.hpp>

#include <array>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kTail = 16 * 1024;

// Headers that describe one connection (RFC 9110 7.6.1), never relayed either way, plus those corral
// sets itself: framing, Host, the client's credentials (the server gets corral's key instead) and
// Expect (answered by corral's listener).
bool hop_by_hop(http::field f, std::string_view name) {
    switch (f) {
        case http::field::connection:
        case http::field::keep_alive:
        case http::field::proxy_authenticate:
        case http::field::proxy_authorization:
        case http::field::proxy_connection:
        case http::field::te:
        case http::field::trailer:
        case http::field::transfer_encoding:
        case http::field::upgrade:
        case http::field::content_length:
        case http::field::host:
        case http::field::expect:
        case http::field::authorization:
            return true;
        default:
            return beast::iequals(name, "x-api-key");
    }
}

// The header names a Connection header lists are hop-by-hop too.
template <class Fields>
std::vector<std::string> connection_options(const Fields& fields) {
    std::vector<std::string> names;
    for (auto it = fields.find(http::field::connection); it != fields.end() && it->name() == http::field::connection; ++it) {
        for (const auto& token : http::token_list(it->value())) names.emplace_back(token);
    }
    return names;
}

bool listed(const std::vector<std::string>& names, std::string_view name) {
    for (const auto& n : names) {
        if (beast::iequals(n, name)) return true;
    }
    return false;
}

http::request<http::string_body> upstream_request(Exchange& ex, const ForwardOptions& options) {
    const auto target = options.target.empty() ? std::string(ex.request.target()) : options.target;
    http::request<http::string_body> up{ex.request.method(), target, 11};
    const auto connection_listed = connection_options(ex.request);
    for (const auto& f : ex.request) {
        if (hop_by_hop(f.name(), f.name_string()) || listed(connection_listed, f.name_string())) continue;
        up.insert(f.name_string(), f.value());
    }
    up.set(http::field::host, host_header_of(options.endpoint));
    if (!options.upstream_key.empty()) up.set(http::field::authorization, "Bearer " + options.upstream_key);
    up.keep_alive(true);
    up.body() = ex.request.body();
    if (!up.body().empty() || ex.request.method() == http::verb::post || ex.request.method() == http::verb::put ||
        ex.request.method() == http::verb::patch) {
        up.prepare_payload();
    }
    return up;
}

void keep_tail(std::string& tail, const char* data, std::size_t n) {
    tail.append(data, n);
    if (tail.size() > 2 * kTail) tail.erase(0, tail.size() - kTail);
}

std::string sse_error_event(const std::string& message) {
    return "data: " + boost::json::serialize(openai_error(message, "server_error", "upstream_failed")) + "\n\n";
}

}  // namespace

namespace {

// The last JSON object that is the value of `"key"` in a body's tail.
std::optional<boost::json::object> last_object_named(std::string_view tail, std::string_view key) {
    auto pos = tail.rfind(key);
    if (pos == std::string_view::npos) return std::nullopt;
    auto open = tail.find('{', pos);
    if (open == std::string_view::npos) return std::nullopt;
    int depth = 0;
    for (std::size_t i = open; i < tail.size(); ++i) {
        if (tail[i] == '{') ++depth;
        if (tail[i] == '}' && --depth == 0) {
            boost::system::error_code ec;
            auto v = boost::json::parse(tail.substr(open, i - open + 1), ec);
            if (ec || !v.is_object()) return std::nullopt;
            return std::move(v.get_object());
        }
    }
    return std::nullopt;
}

uint64_t number_of(const boost::json::object& o, const char* key) {
    const auto* n = o.if_contains(key);
    return n && n->is_number() && n->to_number<double>() >= 0 ? n->to_number<uint64_t>() : 0;
}

}  // namespace

void read_usage(std::string_view tail, uint64_t& prompt_tokens, uint64_t& completion_tokens) {
    if (auto usage = last_object_named(tail, "\"usage\"")) {
        prompt_tokens = number_of(*usage, "prompt_tokens");
        completion_tokens = number_of(*usage, "completion_tokens");
    }
}

void read_timings(std::string_view tail, uint64_t& cached, uint64_t& evaluated) {
    if (auto timings = last_object_named(tail, "\"timings\"")) {
        cached = number_of(*timings, "cache_n");
        evaluated = number_of(*timings, "prompt_n");
    }
}

asio::awaitable<ForwardResult> forward(Exchange& ex, UpstreamPool& pool, const ForwardOptions& options) {
    ForwardResult result;
    auto request = upstream_request(ex, options);
    std::unique_ptr<UpstreamConnection> up;
    std::optional<http::response_parser<http::buffer_body>> parser_storage;
    auto fresh_parser = [&]() -> http::response_parser<http::buffer_body>& {
        auto& p = parser_storage.emplace();
        p.body_limit(boost::none);
        p.header_limit(64 * 1024);
        return p;
    };

    // Send the request and read the response header; a pooled connection that turns out to be
    // closed gets one retry on a fresh connection (nothing reached the server).
    for (int attempt = 0;; ++attempt) {
        try {
            up = co_await pool.get(options.endpoint, attempt > 0);
        } catch (const boost::system::system_error& e) {
            result.outcome = ForwardResult::Outcome::UpstreamFailed;
            // Only a first, fresh connection that failed proves the request never reached a server;
            // after a reused connection broke, the server may have crashed while reading it.
            result.connect_failed = attempt == 0;
            result.error = "cannot connect to the model server: " + e.code().message();
            co_return result;
        }
        auto [wec, wn] = co_await http::async_write(up->stream, request, tuple_awaitable);
        boost::system::error_code rec = wec;
        auto* fresh = &fresh_parser();
        if (ex.head()) fresh->skip(true);  // a response to HEAD has no body, whatever its Content-Length says
        if (!rec) std::tie(rec, std::ignore) = co_await http::async_read_header(up->stream, up->buffer, *fresh, tuple_awaitable);
        // Interim responses (RFC 9110 15.2) are not the answer: read on until the final one. 101 would
        // switch protocols, which corral does not relay.
        while (!rec && fresh->get().result_int() >= 100 && fresh->get().result_int() < 200) {
            if (fresh->get().result_int() == 101) {
                rec = http::error::bad_status;
                break;
            }
            fresh = &fresh_parser();
            if (ex.head()) fresh->skip(true);
            std::tie(rec, std::ignore) = co_await http::async_read_header(up->stream, up->buffer, *fresh, tuple_awaitable);
        }
        if (!rec) break;
        if (up->reused && attempt == 0 &&
            (rec == http::error::end_of_stream || rec == asio::error::connection_reset || rec == asio::error::eof ||
             rec == asio::error::broken_pipe)) {
            continue;
        }
        result.outcome = ForwardResult::Outcome::UpstreamFailed;
        result.error = "the model server failed before answering: " + rec.message();
        co_return result;
    }
    auto& parser = *parser_storage;
    if (parser.get().result() == http::status::unauthorized && !options.upstream_key.empty()) {
        // The server refuses the key corral sent it: one corral did not start with that key (adopted
        // after the state's key secret changed, or given a key corral does not see). Not the
        // client's fault, so not its 401 to see.
        result.outcome = ForwardResult::Outcome::UpstreamFailed;
        result.error = "the model server refused corral's key for it (unload the model to restart its server with a new key)";
        co_return result;
    }
    result.status = parser.get().result_int();
    result.first_byte_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ex.received).count();
    const bool sse = beast::iequals(parser.get()[http::field::content_type].substr(0, 17), "text/event-stream");

    http::response<http::buffer_body> out;
    std::optional<http::response_serializer<http::buffer_body>> serializer;
    const bool own_header = !options.headers_already_sent;
    if (own_header) {
        out.result(parser.get().result());
        out.version(11);
        const auto connection_listed = connection_options(parser.get());
        for (const auto& f : parser.get()) {
            if (hop_by_hop(f.name(), f.name_string()) || listed(connection_listed, f.name_string())) continue;
            // CORS is corral's policy (cors_origins), not each server's.
            if (f.name_string().size() > 15 && beast::iequals(f.name_string().substr(0, 15), "access-control-")) continue;
            out.insert(f.name_string(), f.value());
        }
        for (const auto& [name, value] : ex.extra_headers) out.set(name, value);
        out.keep_alive(ex.keep_alive && ex.request.keep_alive());
        ex.keep_alive = out.keep_alive();
        if (!parser.chunked() && parser.content_length()) {
            out.content_length(*parser.content_length());
        } else if (ex.request.method() != http::verb::head && result.status != 204 && result.status != 304) {
            out.chunked(true);
        }
        ex.status = result.status;
        serializer.emplace(out);
        out.body().data = nullptr;
        out.body().more = true;
        // The header goes out with the first piece of body (one send instead of two per response;
        // a server's header is followed at once by its body, or for SSE by its first event).
    } else if (result.status != 200) {
        // The client already has a 200 SSE header (loading progress): report the failure as an event.
        co_await ex.write_chunk(sse_error_event("the model server answered " + std::to_string(result.status)));
    }

    std::array<char, 16 * 1024> buf;
    std::string tail;
    bool upstream_ok = true;
    while (!parser.is_done()) {
        parser.get().body().data = buf.data();
        parser.get().body().size = buf.size();
        auto [rec, rn] = co_await http::async_read_some(up->stream, up->buffer, parser, tuple_awaitable);
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
            upstream_ok = false;
            result.error = "the model server failed mid-response: " + rec.message();
            break;
        }
        const std::size_t got = buf.size() - parser.get().body().size;
        if (got == 0) continue;
        keep_tail(tail, buf.data(), got);
        boost::system::error_code wec;
        if (own_header) {
            out.body().data = buf.data();
            out.body().size = got;
            out.body().more = true;
            ex.arm_write();
            std::tie(wec, std::ignore) = co_await http::async_write(ex.stream, *serializer, tuple_awaitable);
            if (wec == http::error::need_buffer) wec = {};
        } else if (result.status == 200) {
            ex.arm_write();
            std::tie(wec, std::ignore) =
                co_await asio::async_write(ex.stream, http::make_chunk(asio::const_buffer(buf.data(), got)), tuple_awaitable);
        }
        if (wec) {
            result.outcome = ForwardResult::Outcome::ClientGone;  // `up` closes with this scope: the server stops generating
            result.client_timed_out = wec == beast::error::timeout;
            co_return result;
        }
    }
    read_usage(tail, result.prompt_tokens, result.completion_tokens);
    read_timings(tail, result.prompt_cached, result.prompt_evaluated);

    if (!upstream_ok) {
        result.outcome = ForwardResult::Outcome::UpstreamFailed;
        ex.keep_alive = false;
        if (own_header && !serializer->is_header_done()) {
            // Nothing was relayed yet: the header still goes first, then the same endings as below.
            out.body().data = nullptr;
            out.body().more = true;
            ex.arm_write();
            auto [hec, hn] = co_await http::async_write_header(ex.stream, *serializer, tuple_awaitable);
            if (hec) {
                result.outcome = ForwardResult::Outcome::ClientGone;
                result.client_timed_out = hec == beast::error::timeout;
                co_return result;
            }
        }
        if (sse || !own_header) {
            // End the event stream with an error the client libraries understand, then close.
            std::string event = sse_error_event(result.error);
            if (!own_header || out.chunked()) {
                co_await ex.write_chunk(event);
                co_await ex.write_last_chunk();
            }
        }
        // Otherwise closing the connection without the terminating chunk tells the client the body is incomplete.
        co_return result;
    }
    if (own_header) {
        out.body().data = nullptr;
        out.body().size = 0;
        out.body().more = false;
        ex.arm_write();
        auto [fec, fn] = co_await http::async_write(ex.stream, *serializer, tuple_awaitable);
        if (fec) {
            result.outcome = ForwardResult::Outcome::ClientGone;
            result.client_timed_out = fec == beast::error::timeout;
            co_return result;
        }
    } else {
        co_await ex.write_last_chunk();
    }
    // Only a response read to its end leaves the connection ready for the next request.
    if (parser.is_done() && parser.keep_alive()) pool.put(options.endpoint, std::move(up));
    co_return result;
}

}  // namespace corral::proxy
