#include "llama_options.hpp"

#include "options.hpp"

#include <corral/sdk/json.hpp>

#include <algorithm>
#include <cstdlib>

namespace corral::llama {

const char* const kLlamaOptionsSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "binary": {"type": "string", "minLength": 1, "description": "llama-server path, or a name looked up in PATH"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "added to the server's environment"},
    "extra_args": {"type": "array", "items": {"type": "string"}, "description": "arguments added to every server"},
    "state_dir": {"type": "string", "minLength": 1, "description": "where instance records (for adoption) and the servers' Unix sockets are kept"},
    "transport": {"type": "string", "enum": ["auto", "unix", "tcp"], "description": "how corral reaches its servers: unix (a socket in state_dir: no port for another process to take or reach), tcp (a port on the model's host), auto (default: unix where the llama-server build supports it and no port is asked for)"},
    "startup_timeout_ms": {"type": "integer", "minimum": 1, "description": "longest wait for a server to become ready"},
    "log_lines": {"type": "integer", "minimum": 1, "description": "lines of server output kept while an instance starts (a failed start quotes the last 20)"},
    "log_verbosity": {"type": "integer", "minimum": 0, "description": "llama-server --log-verbosity (default: 4 while corral measures the model's memory from the buffer sizes printed there, else llama-server's own)"}
  }
})json";

std::filesystem::path default_state_dir() {
    if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "corral" / "llama_server";
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/tmp") / ".local" / "state" / "corral" / "llama_server";
}

LlamaOptions parse_options(LlamaOptions base, const boost::json::object& options, const std::string& path) {
    plugin_common::reject_unknown_keys(
        options, {"binary", "env", "extra_args", "state_dir", "transport", "startup_timeout_ms", "log_lines", "log_verbosity"}, path,
        "llama_server");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    r.optional_or_keep("binary", base.binary);
    plugin_common::read_env(r, "env", base.env);
    plugin_common::append_strings(r, "extra_args", base.extra_args);
    std::optional<std::string> state_dir;
    r.optional("state_dir", state_dir);
    if (state_dir) base.state_dir = *state_dir;
    std::optional<std::string> transport;
    r.optional("transport", transport);
    if (transport) base.transport = plugin_common::parse_transport(*transport, sdk::json_path_join(path, "transport"));
    std::optional<uint32_t> timeout;
    r.optional("startup_timeout_ms", timeout);
    if (timeout) base.startup_timeout = std::chrono::milliseconds(*timeout);
    r.optional_or_keep("log_lines", base.log_lines);
    r.optional("log_verbosity", base.log_verbosity);
    if (base.binary.empty()) throw sdk::JsonPathError(sdk::json_path_join(path, "binary"), "must not be empty");
    if (base.log_lines == 0) throw sdk::JsonPathError(sdk::json_path_join(path, "log_lines"), "must be at least 1");
    return base;
}

}  // namespace corral::llama
