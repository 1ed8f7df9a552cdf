#include "supervisor/instance.hpp"

#include "line_storage.hpp"

namespace corral::supervisor {

std::string_view to_string(InstanceState s) noexcept {
    switch (s) {
        case InstanceState::Starting:
            return "starting";
        case InstanceState::Ready:
            return "ready";
        case InstanceState::Unhealthy:
            return "unhealthy";
        case InstanceState::Restarting:
            return "restarting";
        case InstanceState::Stopping:
            return "stopping";
        case InstanceState::Stopped:
            return "stopped";
        case InstanceState::Failed:
            return "failed";
    }
    return "failed";
}

void LogBuffer::append(std::string_view stream, std::string_view text) {
    if (lines_.size() < kLines) {
        lines_.push_back({next_seq_++, std::string(stream), std::string(text)});
    } else {
        auto& line = lines_[oldest_];
        line.seq = next_seq_++;
        line.stream.assign(stream.data(), stream.size());
        plugin_common::overwrite_line(line.text, text);
        oldest_ = (oldest_ + 1) % kLines;
    }
    wake_followers();
}

void LogBuffer::wake_followers() {
    for (auto& f : followers_) f->notify();
}

}  // namespace corral::supervisor
