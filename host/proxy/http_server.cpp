#include "proxy/http_server.hpp"

#include "cloexec.hpp"
#include "logging/logging.hpp"
#include "proxy/nonblocking_io.hpp"
#include "proxy/read_readiness.hpp"
#include "proxy/request_framing.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
// What a refused connection is told, written at once without waiting (the socket's buffer is empty).
const std::string& refusal() {
    static const std::string text = [] {
        const std::string body =
            R"({"error":{"message":"corral has too many connections open; retry later.","type":"server_error","code":"overloaded"}})";
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\nRetry-After: 1\r\n"
               "Connection: close\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    return text;
}

const std::string& plain_http_refusal() {
    static const std::string text = [] {
        const std::string body =
            R"({"error":{"message":"This port speaks HTTPS: use https:// to reach it.","type":"invalid_request_error","code":"https_required"}})";
        return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    return text;
}

// Whether a new connection on the TLS port starts with something other than a TLS handshake
// record (0x16): a plain HTTP request. Waits for its first byte (up to `deadline`) without reading it.
asio::awaitable<bool> sent_plain_http(beast::tcp_stream& stream, std::chrono::milliseconds deadline) {
    asio::steady_timer timer(stream.get_executor());
    timer.expires_after(deadline);
    timer.async_wait([&stream](boost::system::error_code ec) {
        if (!ec) stream.socket().cancel();
    });
    auto [ec] = co_await stream.socket().async_wait(tcp::socket::wait_read, tuple_awaitable);
    timer.cancel();
    if (ec) co_return false;  // the handshake that follows fails the same way
    unsigned char first = 0;
    const auto n = ::recv(stream.socket().native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
    co_return n == 1 && first != 0x16;
}

void refuse(tcp::socket& socket, const std::string& text = refusal()) {
    boost::system::error_code ec;
    [[maybe_unused]] auto sent = ::send(socket.native_handle(), text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
}

// An answer the listener gives itself, before any route: the request cannot be read or relayed
// (an invalid_request_error; the connection closes after it).
struct EarlyAnswer {
    int status;
    std::string message;
    std::string code;
};

EarlyAnswer unreadable_request(const boost::system::error_code& ec, uint64_t body_limit) {
    if (ec == http::error::body_limit) {
        return {413, "The request body is larger than max_request_body (" + std::to_string(body_limit) + " bytes).", "request_too_large"};
    }
    if (ec == http::error::header_limit) return {431, "The request headers are too large.", "headers_too_large"};
    return {400, "Malformed HTTP request: " + ec.message(), "bad_request"};
}

using Deadline = std::chrono::steady_clock::time_point;

constexpr std::size_t kReadSize = 16 * 1024;

// The first step of reading a client's next bytes into `buffer`: over plain TCP, what the
// socket holds now, when it may hold some (read_readiness.hpp). False when the caller awaits
// wait_for_bytes.
bool read_at_once(ClientStream& stream, beast::flat_buffer& buffer, boost::system::error_code& ec) {
    if (stream.tls()) return false;
    std::size_t n = 0;
    if (!read_now(stream.tcp().socket(), buffer.prepare(kReadSize), n, ec)) return false;
    buffer.commit(n);
    return true;
}

// The wait for them (without a deadline of its own: the caller sets it, or the idle sweep keeps it):
// the bytes the reactor reads when epoll reports them go into `buffer` with wait_done. Awaited
// through asio::deferred, which allocates nothing (use_awaitable makes a coroutine frame per wait).
auto wait_for_bytes(ClientStream& stream, beast::flat_buffer& buffer) {
    return stream.async_read_some(buffer.prepare(kReadSize), asio::as_tuple(asio::deferred));
}
boost::system::error_code wait_done(ClientStream& stream, beast::flat_buffer& buffer,
                                    std::tuple<boost::system::error_code, std::size_t> read) {
    const auto [ec, n] = read;
    if (!stream.tls()) read_waited(stream.tcp().socket(), kReadSize, n, ec);
    buffer.commit(n);
    return ec;
}

// Reads the next bytes into `buffer`, waiting for them until `deadline` (beast::error::timeout
// when none come by then).
asio::awaitable<boost::system::error_code> read_more(ClientStream& stream, beast::flat_buffer& buffer, Deadline deadline) {
    boost::system::error_code ec;
    if (read_at_once(stream, buffer, ec)) co_return ec;
    stream.expires_at(deadline);
    co_return wait_done(stream, buffer, co_await wait_for_bytes(stream, buffer));
}

// Beast's read algorithm (parse what is buffered, read more only when the parser needs it) over
// read_more, until `done(parser)` or `deadline` (for the whole part, however slowly it trickles in):
// a request that is already in the socket is read without a wait.
//
// parse_buffered is its first step, without a coroutine: true when what `buffer` holds settles it
// (done, or an error in `ec`), false when more bytes are needed.
template <class Done>
bool parse_buffered(beast::flat_buffer& buffer, http::request_parser<http::string_body>& parser, Done done, boost::system::error_code& ec) {
    for (;;) {
        if (done(parser)) return true;
        if (buffer.size() == 0) return false;
        buffer.consume(parser.put(buffer.data(), ec));
        if (ec == http::error::need_more) {
            ec = {};
            return false;
        }
        if (ec) return true;
    }
}

template <class Done>
asio::awaitable<boost::system::error_code> read_until(ClientStream& stream, beast::flat_buffer& buffer,
                                                      http::request_parser<http::string_body>& parser, Deadline deadline, Done done) {
    for (;;) {
        boost::system::error_code ec;
        if (parse_buffered(buffer, parser, done, ec)) co_return ec;
        ec = co_await read_more(stream, buffer, deadline);
        if (ec == asio::error::eof) {
            if (!parser.got_some()) co_return http::error::end_of_stream;
            ec = {};
            parser.put_eof(ec);  // a request cut short: partial_message
            if (ec) co_return ec;
            continue;
        }
        if (ec) co_return ec;
    }
}

int open_spare() {
    return ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

std::shared_ptr<spdlog::logger> log() {
    return logging::get("http");
}

}  // namespace

HttpServer::HttpServer(boost::asio::io_context& io, Handler handler)
    : io_(io), acceptor_(io), backoff_(io), handler_(std::move(handler)), spare_fd_(open_spare()) {
    lanes_.push_back(Lane{IoLane{io.get_executor(), nullptr, true}, body_limit_, timeouts_, {}, false});
}

template <class F>
void HttpServer::on_lane(std::size_t index, F f) {
    Lane& lane = lanes_[index];
    if (lane.io.main) {
        f(lane);
    } else {
        asio::post(lane.io.executor, [&lane, f = std::move(f)]() mutable { f(lane); });
    }
}

void HttpServer::set_lanes(std::vector<IoLane> lanes) {
    lanes_.clear();
    for (auto& io : lanes) lanes_.push_back(Lane{std::move(io), body_limit_, timeouts_, {}, false});
}

void HttpServer::set_body_limit(uint64_t bytes) {
    body_limit_ = bytes;
    for (std::size_t i = 0; i < lanes_.size(); ++i) on_lane(i, [bytes](Lane& lane) { lane.body_limit = bytes; });
}

void HttpServer::set_limits(uint32_t max_connections, const config::ClientTimeouts& timeouts) {
    max_connections_ = max_connections;
    timeouts_ = timeouts;
    for (std::size_t i = 0; i < lanes_.size(); ++i) on_lane(i, [timeouts](Lane& lane) { lane.timeouts = timeouts; });
}

void HttpServer::closed(const char* reason) {
    if (!on_closed_) return;
    if (io_.get_executor().running_in_this_thread()) {
        on_closed_(reason);
    } else {
        asio::post(io_, [this, reason] { on_closed_(reason); });
    }
}

HttpServer::~HttpServer() {
    if (spare_fd_ >= 0) ::close(spare_fd_);
}

void HttpServer::listen(const config::ListenAddress& address) {
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address.host, ec);
    if (ec) throw std::runtime_error("listen: \"" + address.host + "\" is not an IP address");
    tcp::endpoint endpoint(ip, address.port);
    plugin_common::open_cloexec(acceptor_, endpoint.protocol(), ec);
    if (ec) throw std::runtime_error("cannot listen on " + address.host + ":" + std::to_string(address.port) + ": " + ec.message());
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
    // Connections are taken close-on-exec from their birth (accept_cloexec: no window in which
    // another thread's child could inherit one, no fcntl per connection), each straight onto its
    // lane's reactor.
    boost::system::error_code ec;
    acceptor_.non_blocking(true, ec);
    if (ec) {
        log()->error("cannot accept connections: {}", ec.message());
        co_return;
    }
    const auto protocol = acceptor_.local_endpoint(ec).protocol();
    while (acceptor_.is_open()) {
        const auto [fd, accept_ec] = co_await plugin_common::accept_cloexec(acceptor_);
        if (fd < 0) {
            if (accept_ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
            if (accept_ec == asio::error::no_descriptors || accept_ec.value() == ENFILE || accept_ec == asio::error::no_buffer_space ||
                accept_ec == asio::error::no_memory) {
                co_await shed_when_out_of_descriptors();
            } else {
                // Not the connection's fault: wait a little rather than spin.
                log()->warn("accept failed: {}", accept_ec.message());
                backoff_.expires_after(std::chrono::milliseconds(50));
                co_await backoff_.async_wait(tuple_awaitable);
            }
            continue;
        }
        if (open_.load(std::memory_order_relaxed) >= max_connections_) {
            tcp::socket refused(io_);
            if (plugin_common::adopt_descriptor(refused, protocol, fd, ec)) refuse(refused);
            closed("max_connections");
            continue;
        }
        const std::size_t lane = next_lane_++ % lanes_.size();
        // The lane's own reactor watches it from the start (a failure drops this connection, never the loop).
        tcp::socket socket(lanes_[lane].io.executor);
        if (!plugin_common::adopt_descriptor(socket, protocol, fd, ec)) {
            log()->warn("cannot hand a connection to I/O thread {}: {}", lane, ec.message());
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        make_nonblocking(socket);
        open_.fetch_add(1, std::memory_order_relaxed);
        asio::co_spawn(lanes_[lane].io.executor, run_session(this, std::move(socket), tls_, lane), asio::detached);
    }
}

asio::awaitable<void> HttpServer::shed_when_out_of_descriptors() {
    ++refused_since_warning_;
    if (spare_fd_ >= 0) {
        ::close(spare_fd_);
        spare_fd_ = -1;
        boost::system::error_code ec;
        tcp::socket socket(io_);
        acceptor_.accept(socket, ec);  // the connection is waiting: this does not block
        if (!ec) refuse(socket);
        spare_fd_ = open_spare();
    }
    closed("out_of_descriptors");
    const auto now = std::chrono::steady_clock::now();
    if (now - last_exhaustion_warning_ >= std::chrono::seconds(10)) {
        log()->warn(
            "out of file descriptors with {} connections open: refused {} connection(s) with 503 (raise the open-file limit "
            "or lower max_connections)",
            connections(), refused_since_warning_);
        last_exhaustion_warning_ = now;
        refused_since_warning_ = 0;
    }
    // Accepting again at once would fail again: give connections time to close.
    backoff_.expires_after(std::chrono::milliseconds(50));
    co_await backoff_.async_wait(tuple_awaitable);
}

asio::awaitable<void> run_session(HttpServer* server, tcp::socket socket, std::shared_ptr<asio::ssl::context> tls, std::size_t lane_index) {
    ClientStream stream = tls ? ClientStream(std::move(socket), *tls) : ClientStream(std::move(socket));
    auto& lane = server->lanes_[lane_index];  // this thread's: its sessions and limits
    auto& session = lane.sessions.emplace_back();
    auto self = std::prev(lane.sessions.end());
    // Explicit on each way out (not RAII): a frame destroyed at shutdown must not touch the server.
    auto leave = [&] {
        lane.sessions.erase(self);
        server->open_.fetch_sub(1, std::memory_order_relaxed);
    };
    session.stream = &stream;
    beast::flat_buffer buffer;
    try {
        if (stream.tls()) {
            // The handshake is part of the request's header: the same deadline.
            stream.expires_after(lane.timeouts.header);
            if (co_await sent_plain_http(stream.tcp(), lane.timeouts.header)) {
                // As nginx does: a plain request on the HTTPS port is told so (in plain HTTP), not dropped.
                refuse(stream.tcp().socket(), plain_http_refusal());
                server->closed("plain_http_on_tls");
                leave();
                co_return;
            }
            if (auto ec = co_await stream.handshake()) {
                if (ec == beast::error::timeout)
                    server->closed("header_timeout");
                else
                    server->closed("tls_handshake_failed");
                log()->debug("TLS handshake failed: {}", ec.message());
                leave();
                co_return;
            }
        }
        for (;;) {
            if (server->draining_) break;
            http::request_parser<http::string_body> parser;
            parser.body_limit(lane.body_limit);
            parser.header_limit(64 * 1024);
            const auto& timeouts = lane.timeouts;
            if (buffer.size() == 0) {
                // Waiting for the next request: the idle deadline, kept by the lane's sweep (no timer
                // of this read's own). Its first byte starts the header's.
                stream.expires_never();
                session.idle_until = std::chrono::steady_clock::now() + timeouts.idle;
                if (!lane.sweeping) {
                    lane.sweeping = true;
                    asio::co_spawn(lane.io.executor, server->sweep_idle(lane_index), asio::detached);
                }
                boost::system::error_code read_ec;
                if (!read_at_once(stream, buffer, read_ec)) read_ec = wait_done(stream, buffer, co_await wait_for_bytes(stream, buffer));
                session.idle_until = std::chrono::steady_clock::time_point::max();
                if (read_ec) break;  // closed, drained, or idle too long: a normal end
            }
            parser.eager(false);
            // The steps that usually need no read go without a coroutine (parse_buffered).
            const auto header_done = [](const auto& p) { return p.is_header_done(); };
            boost::system::error_code ec;
            if (!parse_buffered(buffer, parser, header_done, ec))
                ec = co_await read_until(stream, buffer, parser, std::chrono::steady_clock::now() + timeouts.header, header_done);
            if (ec == beast::error::timeout) server->closed("header_timeout");
            // A request answered without reaching the router: an error, then the connection closes.
            std::optional<EarlyAnswer> early;
            if (!ec) {
                if (auto framing = framing_error(parser.get()))
                    early = EarlyAnswer{400, "Malformed HTTP request: " + *framing, "bad_request"};
            }
            if (!ec && !early && !parser.is_done()) {
                const auto& header = parser.get();
                if (parser.content_length() && *parser.content_length() > lane.body_limit) {
                    ec = http::error::body_limit;  // answered below, before the client sends the body
                } else if (auto expect = header.find(http::field::expect); expect != header.end()) {
                    // RFC 9110 10.1.1: corral answers the expectation itself (and never forwards it),
                    // so the client sends its body and no interim response is mistaken for the answer.
                    if (!beast::iequals(expect->value(), "100-continue")) {
                        early = EarlyAnswer{417, "Only `Expect: 100-continue` is supported.", "expectation_failed"};
                    } else {
                        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                        stream.expires_after(timeouts.write);
                        co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()), asio::use_awaitable);
                    }
                }
                if (!ec && !early) {
                    // The body: the header's deadline again, from now (a large body on a slow link may need a longer one).
                    parser.eager(true);
                    const auto body_done = [](const auto& p) { return p.is_done(); };
                    if (!parse_buffered(buffer, parser, body_done, ec))
                        ec = co_await read_until(stream, buffer, parser, std::chrono::steady_clock::now() + timeouts.header, body_done);
                    if (ec == beast::error::timeout) server->closed("header_timeout");
                }
            }
            stream.expires_never();
            if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
                ec == asio::error::connection_reset || ec == asio::error::eof) {
                break;
            }
            if (ec) early = unreadable_request(ec, lane.body_limit);
            session.busy = true;
            Request request = parser.release();
            request.erase(http::field::expect);
            Exchange ex{stream, request, std::chrono::steady_clock::now(), timeouts.write};
            ex.lane = &lane.io;
            if (early) {
                ex.keep_alive = false;
                co_await ex.write_error(early->status, early->message, "invalid_request_error", early->code);
                break;
            }
            if (lane.io.main) {
                co_await server->handler_(ex);
            } else {
                // The route and everything with state run on the main thread; forward() comes back
                // here to relay the bytes (ProxyRoutes::relay).
                co_await asio::co_spawn(server->io_, server->handler_(ex), asio::use_awaitable);
            }
            session.busy = false;
            if (!ex.keep_alive || !request.keep_alive()) break;
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() == beast::error::timeout) server->closed("write_timeout");  // the client stopped reading
        log()->debug("connection closed: {}", e.code().message());
    } catch (const std::exception& e) {
        log()->error("request failed: {}", e.what());
    }
    co_await stream.close(std::chrono::milliseconds(std::min<int64_t>(lane.timeouts.write.count(), 2000)));
    leave();
}

asio::awaitable<void> HttpServer::sweep_idle(std::size_t lane_index) {
    Lane& lane = lanes_[lane_index];
    asio::steady_timer timer(lane.io.executor);
    while (!lane.sessions.empty()) {
        const auto period =
            std::clamp<std::chrono::milliseconds>(std::chrono::duration_cast<std::chrono::milliseconds>(lane.timeouts.idle / 4),
                                                  std::chrono::milliseconds(10), std::chrono::seconds(1));
        timer.expires_after(period);
        auto [ec] = co_await timer.async_wait(tuple_awaitable);
        if (ec) break;
        const auto now = std::chrono::steady_clock::now();
        for (auto& s : lane.sessions) {
            if (s.idle_until > now) continue;
            s.idle_until = std::chrono::steady_clock::time_point::max();
            s.stream->cancel();  // its read ends (operation_aborted): a normal end, as the idle deadline is
        }
    }
    lane.sweeping = false;
}

void HttpServer::stop_accepting() {
    draining_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
        on_lane(i, [](Lane& lane) {
            for (auto& s : lane.sessions) {
                if (!s.busy) s.stream->cancel();
            }
        });
    }
}

void HttpServer::close_all() {
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
        on_lane(i, [](Lane& lane) {
            boost::system::error_code ignored;
            for (auto& s : lane.sessions) s.stream->tcp().socket().close(ignored);
        });
    }
}

}  // namespace corral::proxy
