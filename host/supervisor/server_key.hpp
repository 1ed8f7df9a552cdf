// The key corral sends to a model server: the one its configuration already gives it (the model's
// `env.LLAMA_API_KEY`, or `--api-key` / `--api-key-file` in `extra_args`, also under its
// `runner_options`), else a key of corral's own that the server receives in its environment
// (never on its command line). A key set only in a runner's own options is not seen: set it per model.
#pragma once

#include <corral/sdk/types.hpp>

#include <optional>
#include <string>

namespace corral::supervisor {

// The configured key, if any: `--api-key` (the first of a comma-separated list) wins over the
// environment, as in llama-server; `--api-key-file` is read (its first non-empty line).
std::optional<std::string> configured_server_key(const sdk::ServerConfig& server);

}  // namespace corral::supervisor
