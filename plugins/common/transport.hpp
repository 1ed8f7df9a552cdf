// How the host reaches a runner's local servers (the runners' "transport" option): a Unix socket in
// the runner's socket directory (socket_directory.hpp), or TCP on the ServerConfig's host and a
// port; "auto" lets each runner choose (a socket where nothing asks for a port).
#pragma once

#include <corral/sdk/types.hpp>

#include <string>

namespace corral::plugin_common {

enum class Transport { Auto, Unix, Tcp };

// "auto", "unix" or "tcp"; anything else throws sdk::JsonPathError naming `path` (the option's).
Transport parse_transport(const std::string& text, const std::string& path);

// Whether `host` names this machine's loopback (127.0.0.0/8, ::1, localhost): a server bound to
// another address is meant to be reached over the network, never through a socket file.
bool is_loopback_host(const std::string& host);

// The choice every runner with a socket directory makes for a start. Tcp: never. Auto: where the
// runner can put this server on a socket (`unavailable` empty), the start asks for no port of its
// own (ServerConfig::port) and binds a loopback address. Unix: always, and throws
// sdk::Error(Configuration) where it cannot: `unavailable` (why not: the runner's own reasons),
// then a fixed port. Pure.
bool listens_on_unix_socket(Transport transport, const sdk::ServerConfig& config, const std::string& unavailable);

}  // namespace corral::plugin_common
