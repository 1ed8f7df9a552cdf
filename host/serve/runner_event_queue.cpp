#include "serve/runner_event_queue.hpp"

namespace corral::serve {

bool RunnerEventQueue::push(plugins::RunnerEvent&& event) {
    std::string_view stream, line;
    const bool log_line = event.kind == plugins::RunnerEvent::Kind::LogLine && plugins::log_line_of(event, stream, line);
    std::lock_guard lock(gate_);
    if (!open_) return false;
    auto& pending = pending_.events.emplace_back();
    if (log_line) {
        pending.log_line = true;
        pending.id_size = static_cast<uint32_t>(event.instance_id.size());
        pending.stream_size = static_cast<uint32_t>(stream.size());
        pending.line_size = static_cast<uint32_t>(line.size());
        pending_.text.append(event.instance_id).append(stream).append(line);
    } else {
        pending.event = std::move(event);
    }
    return pending_.events.size() == 1;
}

void RunnerEventQueue::close() {
    std::lock_guard lock(gate_);
    open_ = false;
}

}  // namespace corral::serve
