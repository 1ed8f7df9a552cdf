#include "socket_directory.hpp"

#include <corral/sdk/error.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace corral::plugin_common {

using sdk::Error;
using sdk::ProcessError;

namespace {

// Whether a server accepts connections on the socket at `path` (a refused or failed connect: no).
// Non-blocking: a live server whose backlog is full answers EAGAIN at once (counted as live) instead
// of holding the start until it accepts. A path no address holds cannot be asked: counted as live.
bool accepts(const std::string& path) {
    if (path.size() >= sizeof(sockaddr_un::sun_path)) return true;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return true;  // cannot tell: leave it
    const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    const bool unknown = !connected && errno != ECONNREFUSED && errno != ENOENT;
    ::close(fd);
    return connected || unknown;
}

// Removes the file at `path` (`st`: its lstat) where it is a socket nothing accepts on, a server's
// that is gone; true when it did.
bool removed_if_dead(const std::string& path, const struct stat& st) {
    return S_ISSOCK(st.st_mode) && !accepts(path) && ::unlink(path.c_str()) == 0;
}

}  // namespace

void SocketDirectory::prepare() const {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    struct stat st {};
    if (::lstat(dir_.c_str(), &st) != 0)
        throw Error(ProcessError::StartFailed, "cannot create the socket directory " + dir_.string() + ": " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid())
        throw Error(ProcessError::StartFailed, "the socket directory " + dir_.string() + " is not a directory of this user (uid " +
                                                   std::to_string(::geteuid()) + "): servers' sockets are not put there");
    if ((st.st_mode & 077) != 0 && ::chmod(dir_.c_str(), 0700) != 0)
        throw Error(ProcessError::StartFailed, "cannot make the socket directory " + dir_.string() + " private: " + std::strerror(errno));
}

std::optional<std::string> SocketDirectory::fresh_path() {
    prepare();
    for (;;) {
        const auto path = (dir_ / (std::to_string(::getpid()) + "-" + std::to_string(++counter_) + ".sock")).string();
        if (path.size() >= sizeof(sockaddr_un::sun_path)) return std::nullopt;
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) return path;
        // Left by an earlier process of the same pid: reused if its server is gone.
        if (removed_if_dead(path, st)) return path;
    }
}

std::optional<std::string> SocketDirectory::path_for(Transport transport, const sdk::Host& host) {
    if (auto path = fresh_path()) return path;
    const std::string why = "a socket under " + dir_.string() + " would be longer than a Unix socket address holds";
    if (transport == Transport::Unix) throw Error(ProcessError::Configuration, "transport \"unix\": " + why + " (set a shorter state_dir)");
    if (!warned_long_.exchange(true)) host.warn(why, ": servers listen on TCP ports instead (a shorter state_dir gives them Unix sockets)");
    return std::nullopt;
}

void SocketDirectory::remove(const std::string& path) const noexcept {
    if (path.empty() || std::filesystem::path(path).parent_path() != (dir_ / "x").parent_path()) return;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
}

std::size_t SocketDirectory::remove_stale() const noexcept {
    std::size_t removed = 0;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string path = it->path().string();
        struct stat st {};
        if (::lstat(path.c_str(), &st) == 0 && removed_if_dead(path, st)) ++removed;
    }
    return removed;
}

}  // namespace corral::plugin_common
