// Every descriptor corral opens is close-on-exec, so no child (a model server, a probe, the ssh
// client, a third-party plugin's own child) inherits corral's sockets. Asio opens sockets without
// it: open_cloexec opens them with it from their birth (no window in which another thread's child
// could inherit one, and no fcntl after), accept_cloexec takes connections with it.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace corral::plugin_common {

// Gives `fd` (a descriptor opened or accepted close-on-exec) to `socket` (an Asio socket or
// acceptor, closed) for `protocol`; where Asio refuses it, closes it, so it never leaks. False then.
template <class Socket, class Protocol>
bool adopt_descriptor(Socket& socket, const Protocol& protocol, int fd, boost::system::error_code& ec) {
    socket.assign(protocol, fd, ec);
    if (ec) ::close(fd);
    return !ec;
}

// Opens `socket` (an Asio socket or acceptor, closed) for `protocol`, close-on-exec.
template <class Socket, class Protocol>
void open_cloexec(Socket& socket, const Protocol& protocol, boost::system::error_code& ec) {
    const int fd = ::socket(protocol.family(), protocol.type() | SOCK_CLOEXEC, protocol.protocol());
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
        return;
    }
    adopt_descriptor(socket, protocol, fd, ec);
}

// The next connection waiting on `acceptor` (in non-blocking mode), taken with accept4 so it is
// close-on-exec from its birth (Asio's accept has no flags): its descriptor, or -1 and why (the
// wait aborted: the acceptor was closed or cancelled). Tries at once and waits for the listener's
// readiness only when none is waiting, so every connection one readiness announced is taken
// before the next wait (the reactor's readiness is edge-triggered).
template <class Acceptor>
boost::asio::awaitable<std::pair<int, boost::system::error_code>> accept_cloexec(Acceptor& acceptor) {
    for (;;) {
        const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) co_return std::pair<int, boost::system::error_code>{fd, {}};
        const int error = errno;
        if (error == EINTR || error == ECONNABORTED) continue;  // that one is gone; others may wait
        if (error != EAGAIN && error != EWOULDBLOCK)
            co_return std::pair<int, boost::system::error_code>{-1, boost::system::error_code(error, boost::system::system_category())};
        auto [ec] = co_await acceptor.async_wait(Acceptor::wait_read, boost::asio::as_tuple(boost::asio::use_awaitable));
        if (ec) co_return std::pair<int, boost::system::error_code>{-1, ec};
    }
}

}  // namespace corral::plugin_common
