// Events runner plugins report about their servers, as the host sees them.
#pragma once

#include <boost/json/value.hpp>

#include <functional>
#include <string>

namespace corral::plugins {

struct RunnerEvent {
    enum class Kind { Ready, Exited, LogLine };
    Kind kind;
    std::string runner;  // the runner plugin's name
    std::string instance_id;
    boost::json::value payload;  // as documented in plugin_abi.h for each kind
};

// Called from plugin threads; implementations must be thread-safe and must not block for long. The
// event is the handler's to keep (a server's output comes as thousands of them a second).
using RunnerEventHandler = std::function<void(RunnerEvent&&)>;

}  // namespace corral::plugins
