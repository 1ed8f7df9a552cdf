// A client's connection, plain TCP or TLS: one stream type for the listener, Exchange and forward,
// so the request path is the same either way. It models Asio's AsyncReadStream and
// AsyncWriteStream; deadlines live on the TCP layer underneath (Beast's tcp_stream timer).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <utility>
#include <variant>

namespace corral::proxy {

class ClientStream {
public:
    using executor_type = boost::asio::any_io_executor;
    using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

    explicit ClientStream(boost::asio::ip::tcp::socket socket) : stream_(std::in_place_type<boost::beast::tcp_stream>, std::move(socket)) {}
    ClientStream(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls)
        : stream_(std::in_place_type<tls_stream>, boost::beast::tcp_stream(std::move(socket)), tls) {}

    bool tls() const { return std::holds_alternative<tls_stream>(stream_); }
    executor_type get_executor() { return tcp().get_executor(); }
    boost::beast::tcp_stream& tcp() {
        return std::visit([](auto& s) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(s); }, stream_);
    }

    template <class Duration>
    void expires_after(Duration d) {
        tcp().expires_after(d);
    }
    void expires_at(std::chrono::steady_clock::time_point t) { tcp().expires_at(t); }
    void expires_never() { tcp().expires_never(); }
    void cancel() { tcp().cancel(); }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token) {
        return std::visit([&](auto& s) { return s.async_read_some(buffers, std::forward<Token>(token)); }, stream_);
    }
    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token) {
        return std::visit([&](auto& s) { return s.async_write_some(buffers, std::forward<Token>(token)); }, stream_);
    }

    // The TLS server handshake (nothing for plain TCP), under the deadline set before it.
    boost::asio::awaitable<boost::system::error_code> handshake();
    // Ends the connection: TLS sends close_notify first (bounded by `grace`), then the socket closes.
    boost::asio::awaitable<void> close(std::chrono::milliseconds grace);

private:
    std::variant<boost::beast::tcp_stream, tls_stream> stream_;
};

}  // namespace corral::proxy
