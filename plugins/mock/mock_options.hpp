// Options of the mock runner: set for the whole runner in the config's "runners" entry, and
// overridable per model in the model's "runner_options".
#pragma once

#include "transport.hpp"

#include <corral/sdk/types.hpp>

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace corral::mock {

struct MockOptions {
    std::chrono::milliseconds load_delay{0};   // /health answers 503 this long before 200
    std::chrono::milliseconds token_delay{0};  // pause between streamed tokens
    std::optional<std::string> fail_start;     // start() fails with this message
    uint32_t crash_after_requests = 0;         // 0: never; N: request N+1 kills the server (connection reset)
    std::string reply = "Hello from the corral mock server. This reply is the same every time.";
    std::string reasoning;     // a chat answer's reasoning_content, streamed before its content; empty: none
    uint32_t max_tokens = 16;  // tokens generated when the request sets no max_tokens
    plugin_common::Transport transport = plugin_common::Transport::Auto;  // where a server listens: listens_on_unix_socket()
};

// JSON Schema of the options (kept beside the parser so the two agree).
extern const char* const kMockOptionsSchema;

// The runner's "machine" option: the machine it pretends its servers run on (for placement tests
// and demos of several machines), or nullopt. Throws sdk::JsonPathError for a malformed one.
std::optional<sdk::MachineInfo> machine_option(const boost::json::object& options, const std::string& path);
// The runner's "state_dir" option (the host sets it to the runner's own directory): its servers'
// sockets go in <state_dir>/sockets. nullopt without one; throws sdk::JsonPathError for a bad one.
std::optional<std::filesystem::path> state_dir_option(const boost::json::object& options, const std::string& path);
// The options without the runner-only ones ("machine", "state_dir").
boost::json::object server_options(boost::json::object options);

// Applies `options` over `base`; throws sdk::JsonPathError naming `path` + key for a bad value.
MockOptions apply_options(MockOptions base, const boost::json::object& options, const std::string& path);

}  // namespace corral::mock
