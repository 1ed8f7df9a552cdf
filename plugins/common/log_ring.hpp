// The last N lines of a server's output, shared between the reader and whoever reports a failure.
#pragma once

#include "line_storage.hpp"

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace corral::plugin_common {

class LogRing {
public:
    explicit LogRing(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

    // Once the ring is full, a line overwrites the oldest one in place (overwrite_line).
    void push(std::string_view line) {
        std::lock_guard lock(mutex_);
        if (lines_.size() < capacity_) {
            lines_.emplace_back(line);
            return;
        }
        overwrite_line(lines_[oldest_], line);
        oldest_ = (oldest_ + 1) % capacity_;
    }

    // The last `n` lines joined with '\n'.
    std::string tail(std::size_t n) const {
        std::lock_guard lock(mutex_);
        std::string out;
        const std::size_t count = lines_.size();
        for (std::size_t i = count > n ? count - n : 0; i < count; ++i) {
            if (!out.empty()) out += '\n';
            out += at(i);
        }
        return out;
    }

    bool contains(std::string_view needle) const {
        std::lock_guard lock(mutex_);
        return std::any_of(lines_.begin(), lines_.end(), [&](const std::string& l) { return l.find(needle) != std::string::npos; });
    }

    // The bytes the kept lines' strings hold (their capacity), for tests and diagnostics.
    std::size_t bytes_held() const {
        std::lock_guard lock(mutex_);
        std::size_t total = 0;
        for (const auto& l : lines_) total += l.capacity();
        return total;
    }

private:
    // The i-th line, oldest first (the caller holds the lock).
    const std::string& at(std::size_t i) const { return lines_[(oldest_ + i) % lines_.size()]; }

    mutable std::mutex mutex_;
    std::size_t capacity_;
    std::vector<std::string> lines_;  // a ring once full: lines_[oldest_] is the oldest
    std::size_t oldest_ = 0;
};

}  // namespace corral::plugin_common
