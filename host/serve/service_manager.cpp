#include "serve/service_manager.hpp"

#include "logging/logging.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace corral::serve {
namespace {

std::shared_ptr<spdlog::logger> log() {
    return logging::get("serve");
}

}  // namespace

ServiceManager ServiceManager::from_environment() {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    ServiceManager manager(socket ? socket : "");
    ::unsetenv("NOTIFY_SOCKET");
    return manager;
}

void ServiceManager::reloading(std::string_view status) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL + static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + one_line(status));
}

std::string ServiceManager::one_line(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c == '\n' || c == '\r') c = ' ';
    return out;
}

bool ServiceManager::send(const std::string& message) {
    if (socket_.empty()) return false;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (socket_.size() >= sizeof(address.sun_path) || (socket_.front() != '/' && socket_.front() != '@')) {
        if (!warned_) log()->warn("NOTIFY_SOCKET={} is not a unix socket path: the service manager is not told", socket_);
        warned_ = true;
        return false;
    }
    std::memcpy(address.sun_path, socket_.data(), socket_.size());
    if (socket_.front() == '@') address.sun_path[0] = '\0';  // the abstract namespace
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return false;
    const auto sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address), length);
    const int error = errno;
    ::close(fd);
    if (sent == static_cast<ssize_t>(message.size())) return true;
    if (!warned_) log()->warn("cannot tell the service manager ({}): {}", socket_, std::strerror(error));
    warned_ = true;
    return false;
}

}  // namespace corral::serve
