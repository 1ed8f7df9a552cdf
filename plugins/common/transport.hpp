// How the host reaches a runner's local servers (the runners' "transport" option): a Unix socket in
// the runner's socket directory (socket_directory.hpp), or TCP on the ServerConfig's host and a
// port; "auto" lets each runner choose (a socket where nothing asks for a port).
#pragma once

#include <corral/sdk/error.hpp>

#include <string>

namespace corral::plugin_common {

enum class Transport { Auto, Unix, Tcp };

// "auto", "unix" or "tcp"; anything else throws sdk::JsonPathError naming `path` (the option's).
inline Transport parse_transport(const std::string& text, const std::string& path) {
    if (text == "auto") return Transport::Auto;
    if (text == "unix") return Transport::Unix;
    if (text == "tcp") return Transport::Tcp;
    throw sdk::JsonPathError(path, "expected \"auto\", \"unix\" or \"tcp\", got \"" + text + "\"");
}

}  // namespace corral::plugin_common
