// A runner's directory of its servers' Unix sockets (<state_dir>/sockets): llama_server's and the
// mock's. A Unix socket leaves no port for another process to take before the server binds it nor
// to reach the server by (the directory is the runner's user's alone), and costs the kernel less
// per connection and per request than loopback TCP (bench/README.md).
#pragma once

#include "transport.hpp"

#include <corral/sdk/host.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace corral::plugin_common {

class SocketDirectory {
public:
    // Made absolute: an endpoint names an absolute path (a relative state_dir would otherwise give
    // the host a socket it resolves against its own working directory).
    explicit SocketDirectory(const std::filesystem::path& dir) : dir_(std::filesystem::absolute(dir).lexically_normal()) {}

    // A path for a new server's socket where no socket is: "<pid>-<n>.sock". Creates the directory
    // first (mode 0700); one that is not a directory of this process's user throws
    // sdk::Error(StartFailed), and a wider mode is narrowed. A socket left there by a server that
    // is gone (nothing accepts on it) is removed; a live one is passed over. nullopt when the path is
    // longer than a Unix socket address holds.
    std::optional<std::string> fresh_path();
    // fresh_path() for a start that listens_on_unix_socket() put on a socket, where a path too long
    // is the directory's fault: `transport` "unix" then throws sdk::Error(Configuration), "auto"
    // returns nullopt (TCP instead) and warns through `host` once per directory.
    std::optional<std::string> path_for(Transport transport, const sdk::Host& host);
    // Removes a server's socket once the server is gone: only a socket file in this directory.
    void remove(const std::string& path) const noexcept;
    // Removes every socket in this directory that nothing accepts on (left by servers that went
    // with an earlier host process, as a runner whose servers live in its process leaves them when
    // the host is killed). Returns how many; a missing directory has none.
    std::size_t remove_stale() const noexcept;
    const std::filesystem::path& dir() const { return dir_; }

private:
    void prepare() const;
    std::filesystem::path dir_;
    std::atomic<uint64_t> counter_{0};
    std::atomic<bool> warned_long_{false};
};

}  // namespace corral::plugin_common
