// ServerConfig -> llama-server's command line. Pure, so the mapping is tested without a server.
#pragma once

#include <corral/sdk/types.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace corral::llama {

// The arguments after the program name. `extra_args` (runner-wide, then the model's) come last so
// they can override anything corral sets.
std::vector<std::string> server_arguments(const sdk::ServerConfig& config, uint16_t port,
                                          const std::vector<std::string>& runner_extra_args);

// Shortest round-trip text for a double ("0.7", not "0.700000").
std::string format_number(double v);

}  // namespace corral::llama
