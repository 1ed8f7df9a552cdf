// The one HTTP listener: accepts connections (up to max_connections; past that, or out of
// descriptors, a 503 and close, never a busy loop), reads requests (bounded by max_request_body,
// with header/idle deadlines) and hands each to the router; keep-alive, 413/431/400 for requests it
// cannot read, TLS when configured, and a drain mode that stops accepting and closes idle connections while requests in
// flight finish.
#pragma once

#include "config/config.hpp"
#include "proxy/exchange.hpp"
#include "proxy/io_lane.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <vector>

namespace corral::proxy {

class HttpServer {
public:
    using Handler = std::function<boost::asio::awaitable<void>(Exchange&)>;
    // Told why a connection was refused or closed early: "max_connections", "out_of_descriptors",
    // "header_timeout", "idle_timeout" (not counted: a normal end) or "write_timeout".
    using ClosedHandler = std::function<void(const char* reason)>;

    HttpServer(boost::asio::io_context& io, Handler handler);
    ~HttpServer();

    // Binds and listens; throws std::runtime_error with the address and reason when it cannot.
    void listen(const config::ListenAddress& address);
    void start();
    // The lanes connections are spread over, round robin (the first is the main thread's, the
    // default); set before start().
    void set_lanes(std::vector<IoLane> lanes);
    void set_body_limit(uint64_t bytes);
    void set_limits(uint32_t max_connections, const config::ClientTimeouts& timeouts);
    void on_closed(ClosedHandler handler) { on_closed_ = std::move(handler); }
    // TLS for the connections accepted from now on (null: plain HTTP); those open keep theirs.
    void set_tls(std::shared_ptr<boost::asio::ssl::context> tls) { tls_ = std::move(tls); }

    // Drain: no new connections; idle keep-alive connections close; busy ones close after their request.
    void stop_accepting();
    // Closes every connection (after the drain).
    void close_all();

    uint16_t port() const { return port_; }
    std::size_t connections() const { return open_.load(std::memory_order_relaxed); }

    struct Session {
        ClientStream* stream = nullptr;
        bool busy = false;
        // While it waits for its next request: when it is closed (the lane's sweep_idle does it).
        std::chrono::steady_clock::time_point idle_until = std::chrono::steady_clock::time_point::max();
    };

private:
    friend boost::asio::awaitable<void> run_session(HttpServer* server, boost::asio::ip::tcp::socket socket,
                                                    std::shared_ptr<boost::asio::ssl::context> tls, std::size_t lane);
    // What a lane's sessions read: its own copy of the limits (a reload posts the new ones to
    // each lane), its sessions, touched only on its thread.
    struct Lane {
        IoLane io;
        uint64_t body_limit = 32ull << 20;
        config::ClientTimeouts timeouts;
        std::list<Session> sessions;
        bool sweeping = false;  // sweep_idle runs
    };
    // Runs `f(lane)` on the lane's own thread (at once for the main lane).
    template <class F>
    void on_lane(std::size_t index, F f);
    boost::asio::awaitable<void> accept_loop();
    // The idle deadline of a lane's kept-alive connections, checked every quarter of it (at most a
    // second) while the lane has connections: one timer per lane rather than a timer armed and
    // cancelled around every request's first read (a timer update, an allocation and a posted
    // handler per request).
    boost::asio::awaitable<void> sweep_idle(std::size_t lane);
    // Out of descriptors: frees the spare one to accept and refuse the waiting connection, so
    // clients get an answer instead of hanging in the backlog; then waits before accepting again.
    boost::asio::awaitable<void> shed_when_out_of_descriptors();
    // From any lane: the handler runs on the main thread.
    void closed(const char* reason);

    boost::asio::io_context& io_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer backoff_;
    Handler handler_;
    ClosedHandler on_closed_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    uint64_t body_limit_ = 32ull << 20;
    uint32_t max_connections_ = 8192;
    config::ClientTimeouts timeouts_;
    uint16_t port_ = 0;
    std::atomic<bool> draining_ = false;
    std::atomic<std::size_t> open_ = 0;  // connections on every lane
    std::vector<Lane> lanes_;
    std::size_t next_lane_ = 0;
    int spare_fd_ = -1;  // /dev/null, held to be closed when descriptors run out
    std::chrono::steady_clock::time_point last_exhaustion_warning_{};
    uint64_t refused_since_warning_ = 0;
};

}  // namespace corral::proxy
