#include "supervisor/restart_policy.hpp"

#include <algorithm>

namespace corral::supervisor {

std::optional<std::chrono::milliseconds> RestartPolicy::on_exit(clock::time_point started_at, clock::time_point now) {
    if (now - started_at >= config_.stable_after) attempts_ = 0;
    if (attempts_ >= config_.restart_attempts) return std::nullopt;
    auto delay = config_.restart_backoff;
    for (int i = 0; i < attempts_ && delay < config_.restart_backoff_max; ++i) delay *= 2;
    ++attempts_;
    return std::min(delay, config_.restart_backoff_max);
}

}  // namespace corral::supervisor
