// Events runner plugins report about their servers, as the host sees them.
#pragma once

#include <boost/json/value.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace corral::plugins {

struct RunnerEvent {
    enum class Kind { Ready, Exited, LogLine };
    Kind kind;
    std::string runner;  // the runner plugin's name
    std::string instance_id;
    boost::json::value payload;  // as documented in plugin_abi.h for each kind
};

// A LogLine event's stream ("stdout" when it names none) and line, pointing into its payload.
// False when the payload has no line.
inline bool log_line_of(const RunnerEvent& event, std::string_view& stream, std::string_view& line) {
    const auto* o = event.payload.if_object();
    const auto* l = o ? o->if_contains("line") : nullptr;
    if (!l || !l->is_string()) return false;
    const auto* s = o->if_contains("stream");
    stream = s && s->is_string() ? std::string_view(s->get_string()) : std::string_view("stdout");
    line = l->get_string();
    return true;
}

// Called from plugin threads; implementations must be thread-safe and must not block for long. The
// event is the handler's to keep (a server's output comes as thousands of them a second).
using RunnerEventHandler = std::function<void(RunnerEvent&&)>;

// One line of a server's output, as it came through corral_host_api.log_line (ABI 1.3): the views
// are valid for the call only. The same rules as a RunnerEventHandler. Without one, such a line
// reaches the RunnerEventHandler as a LogLine event.
using RunnerLineHandler = std::function<void(std::string_view instance_id, std::string_view stream, std::string_view line)>;

}  // namespace corral::plugins
