#include "mock_options.hpp"

#include "options.hpp"

#include <corral/sdk/error.hpp>
#include <corral/sdk/json.hpp>
#include <corral/sdk/types.hpp>

namespace corral::mock {

const char* const kMockOptionsSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "load_delay_ms": {"type": "integer", "minimum": 0, "description": "time /health answers 503 before the server is ready"},
    "token_delay_ms": {"type": "integer", "minimum": 0, "description": "pause between streamed tokens"},
    "fail_start": {"type": ["boolean", "string"], "description": "make start() fail (with this message when a string)"},
    "crash_after_requests": {"type": "integer", "minimum": 0, "description": "the request after this many kills the server"},
    "reply": {"type": "string", "minLength": 1, "description": "the text the server generates, one token per word"},
    "reasoning": {"type": "string", "description": "a chat answer's reasoning (reasoning_content), streamed before the reply"},
    "max_tokens": {"type": "integer", "minimum": 1, "description": "tokens generated when a request sets no max_tokens"},
    "transport": {"type": "string", "enum": ["auto", "unix", "tcp"], "description": "where a server listens: unix (a socket in state_dir), tcp (a port on the model's host), auto (default: unix where state_dir is known and no port is asked for)"},
    "state_dir": {"type": "string", "minLength": 1, "description": "runner only (the host sets it): the servers' Unix sockets go in its sockets directory"},
    "machine": {"type": "object", "description": "runner only: pretend the servers run on this machine (a MachineInfo: name, capacity_managed_elsewhere, reports)"}
  }
})json";

std::optional<sdk::MachineInfo> machine_option(const boost::json::object& options, const std::string& path) {
    const auto* m = options.if_contains("machine");
    if (!m) return std::nullopt;
    auto machine = sdk::from_json<sdk::MachineInfo>(*m, sdk::json_path_join(path, "machine"));
    if (machine.name.empty()) throw sdk::JsonPathError(sdk::json_path_join(path, "machine.name"), "must not be empty");
    return machine;
}

std::optional<std::filesystem::path> state_dir_option(const boost::json::object& options, const std::string& path) {
    boost::json::value v = options;
    std::optional<std::string> dir;
    sdk::FieldReader(v, path).optional("state_dir", dir);
    if (dir && dir->empty()) throw sdk::JsonPathError(sdk::json_path_join(path, "state_dir"), "must not be empty");
    return dir ? std::optional<std::filesystem::path>(*dir) : std::nullopt;
}

boost::json::object server_options(boost::json::object options) {
    options.erase("machine");
    options.erase("state_dir");
    return options;
}

MockOptions apply_options(MockOptions base, const boost::json::object& options, const std::string& path) {
    plugin_common::reject_unknown_keys(
        options, {"load_delay_ms", "token_delay_ms", "fail_start", "crash_after_requests", "reply", "reasoning", "max_tokens", "transport"},
        path, "mock");
    boost::json::value v = options;
    sdk::FieldReader r(v, path);
    std::optional<uint32_t> ms;
    r.optional("load_delay_ms", ms);
    if (ms) base.load_delay = std::chrono::milliseconds(*ms);
    ms.reset();
    r.optional("token_delay_ms", ms);
    if (ms) base.token_delay = std::chrono::milliseconds(*ms);
    if (const auto* fail = options.if_contains("fail_start")) {
        if (fail->is_bool()) {
            base.fail_start = fail->get_bool() ? std::optional<std::string>("start failed as configured (fail_start)") : std::nullopt;
        } else {
            base.fail_start = r.required<std::string>("fail_start");
        }
    }
    r.optional_or_keep("crash_after_requests", base.crash_after_requests);
    r.optional_or_keep("reply", base.reply);
    if (base.reply.empty()) throw sdk::JsonPathError(sdk::json_path_join(path, "reply"), "must not be empty");
    r.optional_or_keep("reasoning", base.reasoning);
    r.optional_or_keep("max_tokens", base.max_tokens);
    if (base.max_tokens == 0) throw sdk::JsonPathError(sdk::json_path_join(path, "max_tokens"), "must be at least 1");
    std::optional<std::string> transport;
    r.optional("transport", transport);
    if (transport) base.transport = plugin_common::parse_transport(*transport, sdk::json_path_join(path, "transport"));
    return base;
}

}  // namespace corral::mock
