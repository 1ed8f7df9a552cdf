#include "proxy/client_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace corral::proxy {

namespace asio = boost::asio;

void ClientStream::tls_read_some(BufferList<asio::mutable_buffer> buffers, IoHandler handler) {
    std::get<tls_stream>(stream_).async_read_some(buffers, std::move(handler));
}

void ClientStream::tls_write_some(BufferList<asio::const_buffer> buffers, IoHandler handler) {
    std::get<tls_stream>(stream_).async_write_some(buffers, std::move(handler));
}

asio::awaitable<boost::system::error_code> ClientStream::handshake() {
    auto* s = std::get_if<tls_stream>(&stream_);
    if (!s) co_return boost::system::error_code{};
    auto [ec] = co_await s->async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    co_return ec;
}

asio::awaitable<void> ClientStream::close(std::chrono::milliseconds grace) {
    boost::system::error_code ignored;
    if (auto* s = std::get_if<tls_stream>(&stream_)) {
        // close_notify, so the client knows the response was not cut short; a peer that does not
        // answer costs at most `grace`.
        tcp().expires_after(grace);
        co_await s->async_shutdown(asio::as_tuple(asio::use_awaitable));
    }
    tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    tcp().close();
}

}  // namespace corral::proxy
