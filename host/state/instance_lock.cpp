#include "state/instance_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace corral::state {

InstanceLock::InstanceLock(const std::filesystem::path& state_dir) : path_(state_dir / "corral.lock") {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec) throw std::runtime_error("cannot create state directory " + state_dir.string() + ": " + ec.message());
    // O_NOFOLLOW: a symlink planted at the lock path must not make us open (and truncate) its target.
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        if (errno == ELOOP) throw std::runtime_error("refusing lock file " + path_.string() + ": it is a symbolic link");
        throw std::runtime_error("cannot open lock file " + path_.string() + ": " + std::strerror(errno));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char buf[32] = {};
        ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
        ::close(fd_);
        fd_ = -1;
        if (err == EWOULDBLOCK) {
            throw std::runtime_error("another corral serve (pid " + (holder.empty() ? std::string("unknown") : holder) +
                                     ") is using the state directory " + state_dir.string());
        }
        throw std::runtime_error("cannot lock " + path_.string() + ": " + std::strerror(err));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
        // The pid is only informational; the lock itself is held.
    }
}

InstanceLock::~InstanceLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::filesystem::path default_state_dir() {
    // systemd's StateDirectory= (corral.service: /var/lib/corral); the first when it names several.
    if (const char* systemd = std::getenv("STATE_DIRECTORY"); systemd && *systemd) {
        const std::string_view dirs(systemd);
        return std::filesystem::path(std::string(dirs.substr(0, dirs.find(':'))));
    }
    if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "corral";
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/tmp") / ".local" / "state" / "corral";
}

}  // namespace corral::state
