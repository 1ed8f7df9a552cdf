// A datagram socket standing in for systemd's notify socket ($NOTIFY_SOCKET): a path, or a name
// starting with '@' in the abstract namespace. next() waits up to 10 s for the next message.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>

namespace corral::test {

class NotifyListener {
public:
    explicit NotifyListener(std::string name) : name_(std::move(name)) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (name_.empty() || name_.size() >= sizeof(a.sun_path)) return;
        std::memcpy(a.sun_path, name_.data(), name_.size());
        if (name_.front() == '@')
            a.sun_path[0] = '\0';
        else
            std::filesystem::remove(name_);
        bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size())) == 0;
        timeval limit{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    }
    ~NotifyListener() {
        ::close(fd_);
        if (!name_.empty() && name_.front() == '/') std::filesystem::remove(name_);
    }
    NotifyListener(const NotifyListener&) = delete;
    NotifyListener& operator=(const NotifyListener&) = delete;

    const std::string& name() const { return name_; }
    bool bound() const { return bound_; }
    // The next message; "" after 10 s without one.
    std::string next() {
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }

private:
    std::string name_;
    int fd_ = -1;
    bool bound_ = false;
};

}  // namespace corral::test
