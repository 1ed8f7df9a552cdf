// Writes that complete at once when they can. On a busy relay nearly all do: a request fits the
// server's socket buffer, a response fits the client's. Beast's synchronous algorithms run on a
// socket in non-blocking mode (it answers would_block where it would wait), and only then does the
// caller await readiness: no reactor round, no composed operation and no timer for the writes that
// need none (bench/README.md, proxy section, measured what this saves).
//
// Reads do not go this way: a read tried first fails whenever the answer is not there yet (most of
// the time for a server's answer), and awaiting readiness with async_wait costs an epoll_ctl per
// wait in Asio. Asio's own async reads track readiness from epoll's events instead (no read that can
// only fail once a read drained the socket), so the relay reads with them (forward.cpp,
// http_server.cpp).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>

namespace corral::proxy {

// A SyncReadStream/SyncWriteStream over a connected socket (a client's TCP one, a model server's
// TCP or Unix one) in non-blocking mode (set with `make_nonblocking` once, after connect or
// accept): read_some and write_some end with asio::error::would_block instead of waiting.
template <class Socket>
class NonBlockingSocket {
public:
    using executor_type = typename Socket::executor_type;
    explicit NonBlockingSocket(Socket& socket) : socket_(socket) {}
    executor_type get_executor() { return socket_.get_executor(); }

    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& buffers, boost::system::error_code& ec) {
        return socket_.read_some(buffers, ec);
    }
    template <class MutableBuffers>
    std::size_t read_some(const MutableBuffers& buffers) {
        return socket_.read_some(buffers);
    }
    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& buffers, boost::system::error_code& ec) {
        return socket_.write_some(buffers, ec);
    }
    template <class ConstBuffers>
    std::size_t write_some(const ConstBuffers& buffers) {
        return socket_.write_some(buffers);
    }

private:
    Socket& socket_;
};

// Puts a socket in non-blocking mode for NonBlockingSocket (its asynchronous operations work as before).
template <class Socket>
void make_nonblocking(Socket& socket) {
    boost::system::error_code ignored;
    socket.non_blocking(true, ignored);
}

// Runs `attempt(ec)`, a synchronous operation on `socket` in non-blocking mode, until it ends
// other than with would_block, awaiting the socket's readiness (`wait`) between tries. No
// deadline: for connections whose waits are bounded elsewhere (the model servers').
template <class Socket, class Attempt>
boost::asio::awaitable<boost::system::error_code> when_ready(Socket& socket, boost::asio::socket_base::wait_type wait, Attempt attempt) {
    for (;;) {
        boost::system::error_code ec;
        attempt(ec);
        if (ec != boost::asio::error::would_block) co_return ec;
        auto [wait_ec] = co_await socket.async_wait(wait, boost::asio::as_tuple(boost::asio::use_awaitable));
        if (wait_ec) co_return wait_ec;
    }
}

}  // namespace corral::proxy
