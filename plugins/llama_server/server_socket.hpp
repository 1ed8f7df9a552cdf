// Where a llama_server runner's server listens: a Unix socket in the runner's own directory, or a
// TCP port. A Unix socket leaves no port for another process to take before the server binds it
// (what the ready check's listener and key proofs are there to catch) nor to reach the server by
// (the directory is the runner's user's alone), and costs the kernel less per relayed request than
// loopback TCP (bench/README.md).
#pragma once

#include "llama_options.hpp"
#include "server_features.hpp"

#include <corral/sdk/types.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace corral::llama {

// Whether a start listens on a Unix socket. Auto: where the binary supports it, the start asks for
// no port of its own (ServerConfig::port), binds a loopback address (a server bound to another one
// is meant to be reached over the network) and no extra argument sets --host or --port (the user's
// own say on where it listens: they come last and would move it off the socket). Unix: throws
// sdk::Error(Configuration) where it cannot be. `extra_args`: the runner's and the model's. Pure.
bool listens_on_unix_socket(Transport transport, const sdk::ServerConfig& config, const ServerFeatures& features,
                            const std::vector<std::string>& extra_args);

// The runner's socket directory (<state_dir>/sockets).
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
    // Removes a server's socket once the server is gone: only a socket file in this directory.
    void remove(const std::string& path) const noexcept;
    const std::filesystem::path& dir() const { return dir_; }

private:
    void prepare() const;
    std::filesystem::path dir_;
    std::atomic<uint64_t> counter_{0};
};

}  // namespace corral::llama
