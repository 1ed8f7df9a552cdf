#include "serve/runner_event_queue.hpp"

namespace corral::serve {

bool RunnerEventQueue::push(plugins::RunnerEvent&& event) {
    std::string_view stream, line;
    if (event.kind == plugins::RunnerEvent::Kind::LogLine && plugins::log_line_of(event, stream, line))
        return push_line(event.instance_id, stream, line);
    std::lock_guard lock(gate_);
    if (!open_) return false;
    pending_.events.emplace_back().event = std::move(event);
    return pending_.events.size() == 1;
}

bool RunnerEventQueue::push_line(std::string_view instance_id, std::string_view stream, std::string_view line) {
    std::lock_guard lock(gate_);
    if (!open_) return false;
    auto& pending = pending_.events.emplace_back();
    pending.log_line = true;
    pending.id_size = static_cast<uint32_t>(instance_id.size());
    pending.stream_size = static_cast<uint32_t>(stream.size());
    pending.line_size = static_cast<uint32_t>(line.size());
    pending_.text.append(instance_id).append(stream).append(line);
    return pending_.events.size() == 1;
}

void RunnerEventQueue::close() {
    std::lock_guard lock(gate_);
    open_ = false;
}

}  // namespace corral::serve
