#include "server_features.hpp"

namespace corral::llama {

ServerFeatures parse_help(std::string_view help) {
    ServerFeatures f;
    f.fit = help.find("--fit-target") != std::string_view::npos;
    f.log_verbosity = help.find("--log-verbosity") != std::string_view::npos;
    f.slot_save_path = help.find("--slot-save-path") != std::string_view::npos;
    // "--host HOST  IP addresses to listen on, comma-separated, or UNIX socket paths ending in .sock"
    // (0.7.0), "ip address to listen, or bind to an UNIX socket if the address ends with .sock"
    // (builds from 2024 on; the help wraps it anywhere).
    f.unix_socket = help.find("UNIX socket") != std::string_view::npos;
    return f;
}

}  // namespace corral::llama
