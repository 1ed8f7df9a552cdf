#include "stream_load.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <optional>
#include <string_view>

namespace corral::bench {
namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

double ms_between(clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// Counts SSE token events ("data: {...}" lines) in the bytes of a chunked body. Chunk-size lines
// never start with "data: "; llama-server sends each event in one chunk.
struct EventCounter {
    std::string pending;  // an incomplete last line
    bool done = false;
    int count(const char* data, std::size_t n) {
        pending.append(data, n);
        int events = 0;
        std::size_t start = 0;
        for (auto nl = pending.find('\n'); nl != std::string::npos; nl = pending.find('\n', start)) {
            std::string_view line(pending.data() + start, nl - start);
            if (line.rfind("data: [DONE]", 0) == 0)
                done = true;
            else if (line.rfind("data: {", 0) == 0)
                ++events;
            start = nl + 1;
        }
        pending.erase(0, start);
        return events;
    }
};

asio::awaitable<void> client(asio::ip::tcp::endpoint endpoint, std::string request, StreamLoadResult& result) {
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::socket socket(ex);
    const auto started = clock::now();
    try {
        co_await socket.async_connect(endpoint, asio::use_awaitable);
        co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
        std::string head;
        char buf[8192];
        bool in_body = false;
        EventCounter counter;
        std::optional<clock::time_point> last_token;
        uint64_t tokens = 0;
        for (;;) {
            boost::system::error_code ec;
            auto n = co_await socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
            const auto now = clock::now();
            if (ec) break;
            const char* body = buf;
            std::size_t body_n = n;
            if (!in_body) {
                head.append(buf, n);
                auto end = head.find("\r\n\r\n");
                if (end == std::string::npos) continue;
                if (head.compare(0, 12, "HTTP/1.1 200") != 0) throw std::runtime_error(head.substr(0, head.find("\r\n")));
                in_body = true;
                std::string rest = head.substr(end + 4);
                int events = counter.count(rest.data(), rest.size());
                if (events) {
                    result.ttft_ms.push_back(ms_between(started, now));
                    last_token = now;
                    tokens += static_cast<uint64_t>(events);
                }
                body_n = 0;
            }
            int events = body_n ? counter.count(body, body_n) : 0;
            for (int i = 0; i < events; ++i) {
                if (!last_token) {
                    result.ttft_ms.push_back(ms_between(started, now));
                } else {
                    result.gap_ms.push_back(ms_between(*last_token, now));
                }
                last_token = now;
                ++tokens;
            }
            if (counter.done) break;
        }
        if (!counter.done) throw std::runtime_error("the stream ended without [DONE]");
        result.tokens += tokens;
    } catch (const std::exception& e) {
        ++result.errors;
        if (result.first_error.empty()) result.first_error = e.what();
    }
}

}  // namespace

StreamLoadResult run_stream_load(const std::string& host, uint16_t port, const std::string& body, int clients, const std::string& key,
                                 std::chrono::seconds timeout) {
    asio::io_context io(1);
    StreamLoadResult result;
    result.clients = clients;
    asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host), port);
    std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: " + host +
                          "\r\nContent-Type: application/json\r\nConnection: close\r\n" +
                          (key.empty() ? std::string() : "Authorization: Bearer " + key + "\r\n") +
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    const auto started = clock::now();
    for (int i = 0; i < clients; ++i) asio::co_spawn(io, client(endpoint, request, result), asio::detached);
    io.run_for(timeout);
    result.seconds = std::chrono::duration<double>(clock::now() - started).count();
    return result;
}

}  // namespace corral::bench
