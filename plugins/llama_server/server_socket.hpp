// Where a llama_server runner's server listens: a Unix socket in the runner's own directory
// (plugin_common::SocketDirectory), or a TCP port. On a socket the ready check's listener and key
// proofs have nothing to catch: no other process can take the server's place there.
#pragma once

#include "llama_options.hpp"
#include "server_features.hpp"
#include "socket_directory.hpp"

#include <corral/sdk/types.hpp>

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

}  // namespace corral::llama
