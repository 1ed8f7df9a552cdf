#include "proxy/http_server.hpp"

#include "logging/logging.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kIdleTimeout{120};  // a keep-alive connection with no request

std::shared_ptr<spdlog::logger> log() {
    return logging::get("http");
}

}  // namespace

void HttpServer::listen(const config::ListenAddress& address) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address.host, ec);
    if (ec) throw std::runtime_error("listen: \"" + address.host + "\" is not an IP address");
    tcp::endpoint endpoint(ip, address.port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address.host + ":" + std::to_string(address.port) + ": " + ec.message());
    acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + address.host + ":" + std::to_string(address.port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
}

void HttpServer::start() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
}

asio::awaitable<void> HttpServer::accept_loop() {
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(tuple_awaitable);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
            log()->warn("accept failed: {}", ec.message());  // e.g. out of file descriptors: keep serving the others
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        asio::co_spawn(io_, run_session(this, std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> run_session(HttpServer* server, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    auto& session = server->sessions_.emplace_back();
    auto self = std::prev(server->sessions_.end());
    session.stream = &stream;
    beast::flat_buffer buffer;
    try {
        for (;;) {
            if (server->draining_) break;
            http::request_parser<http::string_body> parser;
            parser.body_limit(server->body_limit_);
            parser.header_limit(64 * 1024);
            stream.expires_after(kIdleTimeout);
            auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
            stream.expires_never();
            if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
                ec == asio::error::connection_reset || ec == asio::error::eof) {
                break;
            }
            session.busy = true;
            Request request = parser.release();
            Exchange ex{stream, request, std::chrono::steady_clock::now()};
            if (ec) {
                ex.keep_alive = false;
                if (ec == http::error::body_limit) {
                    co_await ex.write_error(
                        413, "The request body is larger than max_request_body (" + std::to_string(server->body_limit_) + " bytes).",
                        "invalid_request_error", "request_too_large");
                } else if (ec == http::error::header_limit) {
                    co_await ex.write_error(431, "The request headers are too large.", "invalid_request_error", "headers_too_large");
                } else {
                    co_await ex.write_error(400, "Malformed HTTP request: " + ec.message(), "invalid_request_error", "bad_request");
                }
                break;
            }
            co_await server->handler_(ex);
            session.busy = false;
            if (!ex.keep_alive || !request.keep_alive()) break;
        }
    } catch (const boost::system::system_error& e) {
        log()->debug("connection closed: {}", e.code().message());
    } catch (const std::exception& e) {
        log()->error("request failed: {}", e.what());
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
    server->sessions_.erase(self);
}

void HttpServer::stop_accepting() {
    draining_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& s : sessions_) {
        if (!s.busy) s.stream->cancel();
    }
}

void HttpServer::close_all() {
    for (auto& s : sessions_) s.stream->socket().close();
}

}  // namespace corral::proxy
