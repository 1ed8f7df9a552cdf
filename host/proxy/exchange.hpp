// One HTTP request being answered: the client stream, the parsed request, and helpers to write
// whole responses (JSON, OpenAI error objects, text). Streaming handlers write to `stream` directly.
#pragma once

#include "proxy/client_stream.hpp"
#include "proxy/http_text.hpp"
#include "proxy/io_lane.hpp"
#include "proxy/nonblocking_io.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::config {
struct ApiKey;
}

namespace corral::proxy {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;

struct Exchange {
    ClientStream& stream;
    Request& request;
    std::chrono::steady_clock::time_point received;
    std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};  // a write to the client that makes no progress
    bool keep_alive = true;                                             // handlers clear it when the connection must close after them
    int status = 0;                                                     // the status sent, for logs and metrics
    std::shared_ptr<const config::ApiKey> key{};  // the api_keys entry the client presented (null: none needed, or the admin key)
    // Added to every response this exchange writes, corral's own and relayed ones (CORS).
    std::vector<std::pair<std::string, std::string>> extra_headers{};
    // The I/O thread the client's connection is served on (null: the main one), where forward()
    // relays the bytes with that thread's upstream pool.
    const IoLane* lane = nullptr;

    bool head() const { return request.method() == http::verb::head; }

    // The path without the query string, and one query parameter ("" when absent).
    std::string_view path() const;
    std::optional<std::string> query(std::string_view name) const;

    // Writes a whole response; for HEAD only its header (with the Content-Length the body would have).
    boost::asio::awaitable<void> write(http::response<http::string_body> response);
    boost::asio::awaitable<void> write_json(http::status status, const boost::json::value& body);
    boost::asio::awaitable<void> write_text(http::status status, std::string body, std::string content_type = "text/plain; charset=utf-8");
    // The header of a 200 chunked stream (SSE, followed logs); the body follows as chunks
    // (write_chunk / write_last_chunk). `may_keep_alive` false: the stream ends with the connection.
    boost::asio::awaitable<void> write_stream_header(const char* content_type, bool may_keep_alive);
    // One chunk of a chunked response whose header was sent (nothing for empty data), and the last.
    boost::asio::awaitable<void> write_chunk(std::string_view data);
    boost::asio::awaitable<void> write_last_chunk();
    // Every write to the client is bounded: called before each one (a stalled reader times out
    // with beast::error::timeout and its connection closes).
    void arm_write() { stream.expires_after(write_timeout); }
    // Writes the serializer's output to the client (up to the end of the body piece it holds):
    // at once when the socket takes it all, else waiting under the write deadline (TLS always
    // waits that way). An error is returned, not thrown; beast::error::timeout for a stalled reader.
    template <class Serializer>
    boost::asio::awaitable<boost::system::error_code> send(Serializer& serializer);
    // The same for raw bytes (chunk framing and data).
    template <class ConstBuffers>
    boost::asio::awaitable<boost::system::error_code> send_buffers(const ConstBuffers& buffers);
    // Its first step, for callers that want no coroutine when none is needed: writes what a plain
    // TCP socket takes at once. True when that ended it (`ec`: how); false when the caller must
    // co_await send_buffers for the rest (`written` bytes went; TLS always goes that way).
    template <class ConstBuffers>
    bool sent_at_once(const ConstBuffers& buffers, std::size_t& written, boost::system::error_code& ec);
    // What send_buffers waits to write, under the write deadline (on the lane's thread).
    template <class ConstBuffers>
    boost::asio::awaitable<boost::system::error_code> write_rest(const ConstBuffers& rest);
    // A response's header alone (HEAD, a stream's start), under the write deadline.
    template <class Response>
    boost::asio::awaitable<void> write_header_only(Response& response);
    // {"error":{"message","type","code"}}, with Retry-After when given.
    boost::asio::awaitable<void> write_error(int status, const std::string& message, const std::string& type, const std::string& code,
                                             std::optional<int> retry_after = std::nullopt);
};

template <class Serializer>
boost::asio::awaitable<boost::system::error_code> Exchange::send(Serializer& serializer) {
    boost::system::error_code ec;
    if (!stream.tls()) {
        NonBlockingSocket socket(stream.tcp().socket());
        http::write(socket, serializer, ec);
        if (ec == http::error::need_buffer) ec = {};
        if (ec != boost::asio::error::would_block) co_return ec;
    }
    if (lane && lane->elsewhere()) co_return co_await boost::asio::co_spawn(lane->executor, send(serializer), boost::asio::use_awaitable);
    arm_write();
    std::tie(ec, std::ignore) = co_await http::async_write(stream, serializer, boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    co_return ec;
}

template <class ConstBuffers>
bool Exchange::sent_at_once(const ConstBuffers& buffers, std::size_t& written, boost::system::error_code& ec) {
    written = 0;
    if (stream.tls()) return false;
    NonBlockingSocket socket(stream.tcp().socket());
    written = boost::asio::write(socket, buffers, ec);
    return ec != boost::asio::error::would_block;
}

template <class ConstBuffers>
boost::asio::awaitable<boost::system::error_code> Exchange::send_buffers(const ConstBuffers& buffers) {
    boost::beast::buffers_suffix<ConstBuffers> rest(buffers);
    boost::system::error_code ec;
    std::size_t written = 0;
    if (sent_at_once(buffers, written, ec)) co_return ec;
    rest.consume(written);
    if (lane && lane->elsewhere()) co_return co_await boost::asio::co_spawn(lane->executor, write_rest(rest), boost::asio::use_awaitable);
    co_return co_await write_rest(rest);
}

template <class ConstBuffers>
boost::asio::awaitable<boost::system::error_code> Exchange::write_rest(const ConstBuffers& rest) {
    arm_write();
    auto [ec, n] = co_await boost::asio::async_write(stream, rest, boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return ec;
}

}  // namespace corral::proxy
