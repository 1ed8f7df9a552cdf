// The one HTTP listener: accepts connections, reads requests (bounded by max_request_body) and
// hands each to the router; keep-alive, 413/431/400 for requests it cannot read, and a drain mode
// that stops accepting and closes idle connections while requests in flight finish.
#pragma once

#include "config/config.hpp"
#include "proxy/exchange.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <list>
#include <memory>

namespace corral::proxy {

class HttpServer {
public:
    using Handler = std::function<boost::asio::awaitable<void>(Exchange&)>;

    HttpServer(boost::asio::io_context& io, Handler handler) : io_(io), acceptor_(io), handler_(std::move(handler)) {}

    // Binds and listens; throws std::runtime_error with the address and reason when it cannot.
    void listen(const config::ListenAddress& address);
    void start();
    void set_body_limit(uint64_t bytes) { body_limit_ = bytes; }

    // Drain: no new connections; idle keep-alive connections close; busy ones close after their request.
    void stop_accepting();
    // Closes every connection (after the drain).
    void close_all();

    uint16_t port() const { return port_; }
    std::size_t connections() const { return sessions_.size(); }

    struct Session {
        boost::beast::tcp_stream* stream = nullptr;
        bool busy = false;
    };

private:
    friend boost::asio::awaitable<void> run_session(HttpServer* server, boost::asio::ip::tcp::socket socket);
    boost::asio::awaitable<void> accept_loop();

    boost::asio::io_context& io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    Handler handler_;
    uint64_t body_limit_ = 32ull << 20;
    uint16_t port_ = 0;
    bool draining_ = false;
    std::list<Session> sessions_;
};

}  // namespace corral::proxy
