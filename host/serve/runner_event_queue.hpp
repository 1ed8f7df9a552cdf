// Runner events on their way from plugin threads to the main thread, in order. A server's output
// lines are nearly all of them (llama-server: about ten per request, thousands a second), so a
// line is copied into one text that the queue reuses rather than queued as a RunnerEvent: each
// event's allocations are then freed by the plugin thread that made them. Freed on the main
// thread, each of them went back to the plugin thread's arena under its lock, and that thread's
// allocations all took glibc's slow path (with it: 22 -> 16 us of that thread's CPU per relayed
// chat request, bench/README.md).
#pragma once

#include "plugins/runner_events.hpp"

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::serve {

class RunnerEventQueue {
public:
    // Plugin threads: queues `event`. True when it is the first of a batch, so the caller posts
    // one delivery for the whole burst; false otherwise, and once closed (the event is dropped).
    bool push(plugins::RunnerEvent&& event);
    // Plugin threads: queues one output line (what a LogLine event carries), as push() does.
    bool push_line(std::string_view instance_id, std::string_view stream, std::string_view line);
    // Later events are dropped (the objects they would reach are going away).
    void close();

    // Main thread: hands every queued event, in order, to on_event(const RunnerEvent&) or, for an
    // output line, to on_log_line(instance_id, stream, line) (string_views valid for the call).
    template <class OnEvent, class OnLogLine>
    void deliver(OnEvent&& on_event, OnLogLine&& on_log_line);

private:
    struct Pending {
        plugins::RunnerEvent event{};  // a kind other than LogLine
        bool log_line = false;
        uint32_t id_size = 0, stream_size = 0, line_size = 0;  // a LogLine: its three parts, in order in the text
    };
    struct Batch {
        std::vector<Pending> events;
        std::string text;
    };
    std::mutex gate_;
    bool open_ = true;
    Batch pending_;     // guarded by gate_
    Batch delivering_;  // main thread; the two swap, each keeping its storage (no regrowth per burst)
};

template <class OnEvent, class OnLogLine>
void RunnerEventQueue::deliver(OnEvent&& on_event, OnLogLine&& on_log_line) {
    {
        std::lock_guard lock(gate_);
        delivering_.events.clear();  // left over only if a handler threw: dropped, never delivered twice
        delivering_.text.clear();
        std::swap(delivering_, pending_);
    }
    std::string_view text = delivering_.text;
    for (const auto& pending : delivering_.events) {
        if (!pending.log_line) {
            on_event(pending.event);
            continue;
        }
        const auto id = text.substr(0, pending.id_size);
        const auto stream = text.substr(pending.id_size, pending.stream_size);
        const auto line = text.substr(pending.id_size + pending.stream_size, pending.line_size);
        text.remove_prefix(pending.id_size + pending.stream_size + pending.line_size);
        on_log_line(id, stream, line);
    }
    delivering_.events.clear();
}

}  // namespace corral::serve
