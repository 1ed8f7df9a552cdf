// Options of the llama_server runner (its "runners" entry); models may override `binary`, `env` and
// `extra_args` in their "runner_options".
#pragma once

#include "transport.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::llama {

// How the host reaches the servers: a Unix socket under <state_dir>/sockets, or TCP on the
// ServerConfig's host and a port (server_socket.hpp decides "auto").
using plugin_common::Transport;

struct LlamaOptions {
    std::string binary = "llama-server";  // a path, or a name looked up in PATH
    std::map<std::string, std::string> env;
    std::vector<std::string> extra_args;  // before the model's own extra_args
    std::filesystem::path state_dir;      // instance records live in <state_dir>/instances, sockets in <state_dir>/sockets
    Transport transport = Transport::Auto;
    std::chrono::milliseconds startup_timeout{std::chrono::minutes(10)};
    uint32_t log_lines = 5000;  // per-instance ring buffer
    // llama-server's --log-verbosity: 4 prints the per-device model/KV/compute buffer sizes the host
    // reads to learn a model's real memory use (and ~16 lines per request); 3 is llama-server's default.
    std::optional<uint32_t> log_verbosity;  // unset: 4 while the host measures memory, else the server's default
};

extern const char* const kLlamaOptionsSchema;

// `path` prefixes error paths ("options" or "runner_options"). Throws sdk::JsonPathError.
LlamaOptions parse_options(LlamaOptions base, const boost::json::object& options, const std::string& path);

// $XDG_STATE_HOME/corral/llama_server, else ~/.local/state/corral/llama_server.
std::filesystem::path default_state_dir();

}  // namespace corral::llama
