#include "http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <stdexcept>

#include <poll.h>

namespace corral::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

http::request<http::string_body> make_request(const std::string& host, const std::string& method, const std::string& target,
                                              const std::string& body, const Headers& headers) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, host);
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
    }
    for (const auto& [name, value] : headers) req.set(name, value);
    req.prepare_payload();
    return req;
}

// `host` is an IP address, or a Unix socket's path (with port 0: split_endpoint's form of "unix:///path").
asio::generic::stream_protocol::endpoint target_of(const std::string& host, uint16_t port) {
    if (port == 0 && !host.empty() && host.front() == '/') return asio::local::stream_protocol::endpoint(host);
    return asio::ip::tcp::endpoint(asio::ip::make_address(host), port);
}

std::string host_header(const std::string& host, uint16_t port) {
    return port == 0 ? "localhost" : host;
}

}  // namespace

HttpResult http_request(const std::string& host, uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body, const Headers& headers) {
    asio::io_context ioc;
    asio::generic::stream_protocol::socket socket(ioc);
    socket.connect(target_of(host, port));
    auto req = make_request(host_header(host, port), method, target, body, headers);
    http::write(socket, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket, buffer, parser);
    HttpResult result;
    result.status = static_cast<int>(parser.get().result_int());
    result.content_type = std::string(parser.get()[http::field::content_type]);
    result.body = parser.get().body();
    for (const auto& f : parser.get()) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        result.headers[name] = std::string(f.value());
    }
    boost::system::error_code ec;
    socket.shutdown(asio::socket_base::shutdown_both, ec);
    return result;
}

HttpStream::HttpStream(const std::string& host, uint16_t port, const std::string& method, const std::string& target,
                       const std::string& body, const Headers& headers) {
    socket_.connect(target_of(host, port));
    auto req = make_request(host_header(host, port), method, target, body, headers);
    http::write(socket_, req);
    parser_.body_limit(boost::none);
    http::read_header(socket_, buffer_, parser_);
}

int HttpStream::status() const {
    return static_cast<int>(parser_.get().result_int());
}

std::optional<std::string> HttpStream::next(std::chrono::milliseconds timeout) {
    if (parser_.is_done() || broken_ || !socket_.is_open()) return std::nullopt;
    char buf[8192];
    for (;;) {
        // Asio's blocking reads wait in poll() themselves (SO_RCVTIMEO does not bound them): wait here.
        if (buffer_.size() == 0) {
            pollfd pfd{socket_.native_handle(), POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
        }
        parser_.get().body().data = buf;
        parser_.get().body().size = sizeof buf;
        boost::system::error_code ec;
        http::read_some(socket_, buffer_, parser_, ec);
        if (ec == http::error::need_buffer) ec = {};
        std::size_t got = sizeof buf - parser_.get().body().size;
        if (got) {
            received_.append(buf, got);
            return std::string(buf, got);
        }
        if (ec) {
            broken_ = true;
            return std::nullopt;
        }
        if (parser_.is_done()) return std::nullopt;
    }
}

bool HttpStream::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.find(needle) == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !next(left)) return received_.find(needle) != std::string::npos;
    }
    return true;
}

void HttpStream::close() {
    boost::system::error_code ec;
    socket_.close(ec);
}

void split_endpoint(const std::string& endpoint, std::string& host, uint16_t& port) {
    if (endpoint.rfind("unix://", 0) == 0) {
        host = endpoint.substr(7);
        port = 0;
        return;
    }
    auto rest = endpoint.substr(endpoint.find("://") + 3);
    auto colon = rest.rfind(':');
    host = rest.substr(0, colon);
    port = static_cast<uint16_t>(std::stoi(rest.substr(colon + 1)));
}

std::vector<std::string> sse_data(const std::string& body) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < body.size()) {
        auto end = body.find("\n\n", pos);
        if (end == std::string::npos) end = body.size();
        auto event = body.substr(pos, end - pos);
        if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
        pos = end + 2;
    }
    return out;
}

}  // namespace corral::test
