#include "server_socket.hpp"

#include <corral/sdk/error.hpp>

namespace corral::llama {

using sdk::Error;
using sdk::ProcessError;

namespace {

// The first of `args` that says where llama-server listens (--host, --port, or their KEY=VALUE form); "" for none.
std::string listen_argument(const std::vector<std::string>& args) {
    for (const auto& arg : args)
        for (const char* flag : {"--host", "--port"})
            if (arg == flag || arg.rfind(std::string(flag) + "=", 0) == 0) return flag;
    return "";
}

}  // namespace

bool listens_on_unix_socket(Transport transport, const sdk::ServerConfig& config, const ServerFeatures& features,
                            const std::vector<std::string>& extra_args) {
    const std::string own = listen_argument(extra_args);
    std::string unavailable;
    if (!own.empty())
        unavailable =
            "transport \"unix\" and " + own + " in extra_args exclude each other (the argument would move the server off its socket)";
    else if (!features.unix_socket)
        unavailable =
            "transport \"unix\": this llama-server build cannot listen on a Unix socket (its --help does not offer --host PATH.sock); use "
            "\"tcp\"";
    return plugin_common::listens_on_unix_socket(transport, config, unavailable);
}

}  // namespace corral::llama
