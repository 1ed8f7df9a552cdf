// ServerConfig -> llama-server's command line. Pure, so the mapping is tested without a server.
#pragma once

#include "server_features.hpp"

#include <corral/sdk/types.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace corral::llama {

struct ArgumentOptions {
    ServerFeatures features;  // what the binary supports
    // --log-verbosity, where supported: the runner's option; unset, 4 while the host measures the
    // server's memory (ServerConfig::measure_memory: the buffer sizes are printed only there), else
    // llama-server's own default (3). 4 also lists the prompt cache on every request, which makes a
    // busy server about a third slower (bench/README.md, streaming).
    std::optional<uint32_t> log_verbosity;
    std::vector<std::string> runner_extra_args;
    // Not empty: the server listens on this Unix socket (--host PATH.sock) instead of the config's host and a port.
    std::string socket_path{};
};

// The arguments after the program name. `extra_args` (runner-wide, then the model's) come last so
// they can override anything corral sets. gpu_layers "auto" becomes `-ngl auto --fit on` with the
// host's --fit-target where the binary fits itself, else the host's own layer plan (fit_gpu_layers).
std::vector<std::string> server_arguments(const sdk::ServerConfig& config, uint16_t port, const ArgumentOptions& options);

// Whether llama-server run with `args` and `env` logs its "listening on" line: it does at its
// default verbosity (3) and above, not below (-lv/--verbosity/--log-verbosity N, or
// LLAMA_ARG_LOG_VERBOSITY, the arguments winning) nor with --log-disable. A value that is not a
// number counts as not announcing. The runners check /health from the start for a server that will
// not say when it listens, instead of waiting for a line that never comes.
bool announces_listening(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

// The key llama-server run with `args` and `env` demands of its clients, as llama-server reads it:
// --api-key (the first of a comma-separated list) or --api-key-file (its first non-empty line, read
// from this machine's disk) wins over LLAMA_API_KEY; nullopt when none is set.
std::optional<std::string> server_key(const std::vector<std::string>& args, const std::map<std::string, std::string>& env);

// Shortest round-trip text for a double ("0.7", not "0.700000").
std::string format_number(double v);

}  // namespace corral::llama
