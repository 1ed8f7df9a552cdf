// When to restart a server that died: exponential backoff with a budget of attempts that is given
// back once an instance has stayed up long enough (defaults: 0.5 s doubling to 30 s, 3 tries, 30 s).
#pragma once

#include "config/config.hpp"

#include <chrono>
#include <optional>

namespace corral::supervisor {

class RestartPolicy {
public:
    using clock = std::chrono::steady_clock;

    explicit RestartPolicy(const config::SupervisorConfig& config) : config_(config) {}

    // A server that had been up since `started_at` died at `now`: the delay before the next
    // attempt, or nullopt when the budget is spent.
    std::optional<std::chrono::milliseconds> on_exit(clock::time_point started_at, clock::time_point now);

    // A start that the user asked for (a request, `corral load`) gets a full budget again.
    void reset() noexcept { attempts_ = 0; }

    int attempts() const noexcept { return attempts_; }

private:
    config::SupervisorConfig config_;
    int attempts_ = 0;
};

}  // namespace corral::supervisor
