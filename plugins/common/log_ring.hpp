// The last N lines of a server's output, shared between the reader and whoever reports a failure.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>

namespace corral::plugin_common {

class LogRing {
public:
    explicit LogRing(std::size_t capacity) : capacity_(capacity) {}

    void push(std::string line) {
        std::lock_guard lock(mutex_);
        if (lines_.size() == capacity_) lines_.pop_front();
        lines_.push_back(std::move(line));
    }

    // The last `n` lines joined with '\n'.
    std::string tail(std::size_t n) const {
        std::lock_guard lock(mutex_);
        std::string out;
        std::size_t start = lines_.size() > n ? lines_.size() - n : 0;
        for (std::size_t i = start; i < lines_.size(); ++i) out += (out.empty() ? "" : "\n") + lines_[i];
        return out;
    }

    bool contains(const std::string& needle) const {
        std::lock_guard lock(mutex_);
        for (const auto& l : lines_) {
            if (l.find(needle) != std::string::npos) return true;
        }
        return false;
    }

private:
    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::deque<std::string> lines_;
};

}  // namespace corral::plugin_common
