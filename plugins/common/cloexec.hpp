// Every descriptor corral opens is close-on-exec, so no child (a model server, a probe, the ssh
// client, a third-party plugin's own child) inherits corral's sockets. Asio opens sockets without
// it: open_cloexec opens them with it from their birth (no window in which another thread's child
// could inherit one, and no fcntl after); a socket Asio's accept returns gets it right after
// (set_cloexec).
#pragma once

#include <boost/system/error_code.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace corral::plugin_common {

inline void set_cloexec(int fd) noexcept {
    if (fd < 0) return;
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

// Opens `socket` (an Asio socket or acceptor, closed) for `protocol`, close-on-exec.
template <class Socket, class Protocol>
void open_cloexec(Socket& socket, const Protocol& protocol, boost::system::error_code& ec) {
    const int fd = ::socket(protocol.family(), protocol.type() | SOCK_CLOEXEC, protocol.protocol());
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
        return;
    }
    socket.assign(protocol, fd, ec);
    if (ec) ::close(fd);
}

}  // namespace corral::plugin_common
