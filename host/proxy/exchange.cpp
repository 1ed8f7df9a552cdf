#include "proxy/exchange.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/json/serialize.hpp>

namespace corral::proxy {
std::string_view Exchange::path() const {
    std::string_view target(request.target().data(), request.target().size());
    return target.substr(0, target.find('?'));
}

std::optional<std::string> Exchange::query(std::string_view name) const {
    std::string_view target(request.target().data(), request.target().size());
    auto q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) return url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        rest = rest.substr(amp + 1);
    }
    return std::nullopt;
}

boost::asio::awaitable<void> Exchange::write(http::response<http::string_body> response) {
    status = response.result_int();
    response.version(11);
    response.keep_alive(keep_alive && request.keep_alive());
    if (!response.keep_alive()) keep_alive = false;
    response.set(http::field::server, "corral");
    for (const auto& [name, value] : extra_headers) response.set(name, value);
    response.prepare_payload();
    if (head()) {
        // RFC 9110 9.3.2: the same header as GET, never a body.
        co_await write_header_only(response);
        co_return;
    }
    http::response_serializer<http::string_body> sr(response);
    if (auto ec = co_await send(sr)) throw boost::system::system_error(ec);
}

boost::asio::awaitable<void> Exchange::write_json(http::status s, const boost::json::value& body) {
    http::response<http::string_body> response{s, 11};
    response.set(http::field::content_type, "application/json; charset=utf-8");
    response.body() = boost::json::serialize(body);
    co_await write(std::move(response));
}

boost::asio::awaitable<void> Exchange::write_text(http::status s, std::string body, std::string content_type) {
    http::response<http::string_body> response{s, 11};
    response.set(http::field::content_type, content_type);
    response.body() = std::move(body);
    co_await write(std::move(response));
}

boost::asio::awaitable<void> Exchange::write_stream_header(const char* content_type, bool may_keep_alive) {
    http::response<http::empty_body> header{http::status::ok, 11};
    header.set(http::field::server, "corral");
    header.set(http::field::content_type, content_type);
    header.set(http::field::cache_control, "no-cache");
    for (const auto& [name, value] : extra_headers) header.set(name, value);
    header.chunked(true);
    header.keep_alive(may_keep_alive && keep_alive && request.keep_alive());
    keep_alive = header.keep_alive();
    status = 200;
    co_await write_header_only(header);
}

template <class Response>
boost::asio::awaitable<void> Exchange::write_header_only(Response& response) {
    if (lane && lane->elsewhere()) {
        co_await boost::asio::co_spawn(lane->executor, write_header_only(response), boost::asio::use_awaitable);
        co_return;
    }
    http::response_serializer<typename Response::body_type> sr(response);
    arm_write();
    co_await http::async_write_header(stream, sr, boost::asio::use_awaitable);
}

boost::asio::awaitable<void> Exchange::write_chunk(std::string_view data) {
    if (data.empty()) co_return;
    if (auto ec = co_await send_buffers(http::make_chunk(boost::asio::const_buffer(data.data(), data.size()))))
        throw boost::system::system_error(ec);
}

boost::asio::awaitable<void> Exchange::write_last_chunk() {
    if (auto ec = co_await send_buffers(http::make_chunk_last())) throw boost::system::system_error(ec);
}

boost::asio::awaitable<void> Exchange::write_error(int s, const std::string& message, const std::string& type, const std::string& code,
                                                   std::optional<int> retry_after) {
    http::response<http::string_body> response{static_cast<http::status>(s), 11};
    response.set(http::field::content_type, "application/json; charset=utf-8");
    if (retry_after) response.set(http::field::retry_after, std::to_string(*retry_after));
    if (s == 401) response.set(http::field::www_authenticate, "Bearer");
    response.body() = boost::json::serialize(openai_error(message, type, code));
    co_await write(std::move(response));
}

}  // namespace corral::proxy
