#include "raw_http.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>

namespace corral::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;

RawHttp::RawHttp(const std::string& host, uint16_t port) {
    socket_.connect({asio::ip::make_address(host), port});
}

void RawHttp::send(const std::string& bytes) {
    asio::write(socket_, asio::buffer(bytes));
}

std::optional<RawResponse> RawHttp::read(bool head, std::chrono::milliseconds timeout) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    if (head) parser.skip(true);
    boost::system::error_code ec = asio::error::would_block;
    http::async_read(socket_, buffer_, parser, [&](boost::system::error_code e, std::size_t) { ec = e; });
    if (!complete_within(timeout) || ec) return std::nullopt;
    RawResponse r;
    const auto& msg = parser.get();
    r.status = msg.result_int();
    for (const auto& f : msg) {
        std::string name(f.name_string());
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        r.headers[name] = std::string(f.value());
    }
    r.body = msg.body();
    r.chunked = parser.chunked();
    r.keep_alive = parser.keep_alive();
    return r;
}

bool RawHttp::complete_within(std::chrono::milliseconds timeout) {
    io_.restart();
    io_.run_for(timeout);
    if (io_.stopped()) return true;
    socket_.cancel();  // the operation ends with operation_aborted
    io_.restart();
    io_.run();
    return false;
}

bool RawHttp::closes(std::chrono::milliseconds timeout) {
    char byte;
    boost::system::error_code ec = asio::error::would_block;
    if (buffer_.size() > 0) return false;
    socket_.async_read_some(asio::buffer(&byte, 1), [&](boost::system::error_code e, std::size_t) { ec = e; });
    if (!complete_within(timeout)) return false;
    return ec == asio::error::eof || ec == asio::error::connection_reset;
}

}  // namespace corral::test
