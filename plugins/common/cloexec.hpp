// Every descriptor corral opens is close-on-exec, so no child (a model server, a probe, the ssh
// client, a third-party plugin's own child) inherits corral's sockets. Asio opens sockets without
// it; callers set it right after open or accept.
#pragma once

#include <fcntl.h>

namespace corral::plugin_common {

inline void set_cloexec(int fd) noexcept {
    if (fd < 0) return;
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

}  // namespace corral::plugin_common
