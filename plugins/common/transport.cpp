#include "transport.hpp"

#include <corral/sdk/error.hpp>

namespace corral::plugin_common {

Transport parse_transport(const std::string& text, const std::string& path) {
    if (text == "auto") return Transport::Auto;
    if (text == "unix") return Transport::Unix;
    if (text == "tcp") return Transport::Tcp;
    throw sdk::JsonPathError(path, "expected \"auto\", \"unix\" or \"tcp\", got \"" + text + "\"");
}

bool is_loopback_host(const std::string& host) {
    return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

bool listens_on_unix_socket(Transport transport, const sdk::ServerConfig& config, const std::string& unavailable) {
    switch (transport) {
        case Transport::Tcp:
            return false;
        case Transport::Auto:
            return unavailable.empty() && !config.port && is_loopback_host(config.host);
        case Transport::Unix:
            if (!unavailable.empty()) throw sdk::Error(sdk::ProcessError::Configuration, unavailable);
            if (config.port)
                throw sdk::Error(sdk::ProcessError::Configuration,
                                 "transport \"unix\" and a fixed port " + std::to_string(*config.port) + " exclude each other");
            return true;
    }
    return false;
}

}  // namespace corral::plugin_common
