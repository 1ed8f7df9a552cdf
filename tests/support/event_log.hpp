// Collects runner events so a test can wait for one instead of sleeping.
#pragma once

#include "plugins/runner_events.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace corral::test {

class EventLog {
public:
    plugins::RunnerEventHandler handler() {
        return [this](const plugins::RunnerEvent& ev) {
            std::lock_guard lock(mutex_);
            events_.push_back(ev);
            cv_.notify_all();
        };
    }

    // The first event of `kind` for `instance` (that `matches`, when given), waiting up to `timeout` for it.
    std::optional<plugins::RunnerEvent> wait_for(plugins::RunnerEvent::Kind kind, const std::string& instance,
                                                 std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                                 const std::function<bool(const plugins::RunnerEvent&)>& matches = nullptr) {
        std::unique_lock lock(mutex_);
        std::optional<plugins::RunnerEvent> found;
        cv_.wait_for(lock, timeout, [&] {
            for (const auto& ev : events_) {
                if (ev.kind == kind && ev.instance_id == instance && (!matches || matches(ev))) {
                    found = ev;
                    return true;
                }
            }
            return false;
        });
        return found;
    }

    // The event of `kind` for `instance` after the first `seen` of them, waiting up to `timeout` for
    // it: with `seen` counted (all_of) before an action, the one that action causes. (A start that
    // retried after a taken port has already reported its first try's exit, for the same instance.)
    std::optional<plugins::RunnerEvent> wait_for_next(plugins::RunnerEvent::Kind kind, const std::string& instance, std::size_t seen,
                                                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
        std::unique_lock lock(mutex_);
        std::optional<plugins::RunnerEvent> found;
        cv_.wait_for(lock, timeout, [&] {
            std::size_t n = 0;
            for (const auto& ev : events_) {
                if (ev.kind == kind && ev.instance_id == instance && n++ == seen) {
                    found = ev;
                    return true;
                }
            }
            return false;
        });
        return found;
    }

    // Every event of `kind` for `instance` so far.
    std::vector<plugins::RunnerEvent> all_of(plugins::RunnerEvent::Kind kind, const std::string& instance) {
        std::lock_guard lock(mutex_);
        std::vector<plugins::RunnerEvent> out;
        for (const auto& ev : events_)
            if (ev.kind == kind && ev.instance_id == instance) out.push_back(ev);
        return out;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<plugins::RunnerEvent> events_;
};

}  // namespace corral::test
