// When a child's output is a flood worth reading in batches (OutputPacer, for
// ChildProcess::read_lines): more than `lines` lines in each of two windows in a row. A burst within
// one window (a server's start-up at a high log verbosity, which holds the line that says it
// listens) is read as it comes; a sustained flood (a busy server logging every request) wakes its
// reader once a batch instead of once a line.
// No I/O and an injected clock, so the decision is tested on its own.
#pragma once

#include <chrono>
#include <cstddef>

namespace corral::plugin_common {

class FloodDetector {
public:
    using clock = std::chrono::steady_clock;

    FloodDetector(std::size_t lines, clock::duration window, clock::time_point now) : lines_(lines), window_(window), start_(now) {}

    // `n` lines were read at `now`: true when the reader should switch to batches.
    bool read(std::size_t n, clock::time_point now) {
        if (now - start_ > window_) {
            // The window that ended counts only if it ended just now: output that stopped long ago
            // was no flood, however much of it there was.
            last_flooded_ = count_ > lines_ && now - start_ <= 2 * window_;
            start_ = now;
            count_ = 0;
        }
        count_ += n;
        return last_flooded_ && count_ > lines_;
    }

    // The batches ended (the output quieted): count afresh from `now`.
    void reset(clock::time_point now) {
        start_ = now;
        count_ = 0;
        last_flooded_ = false;
    }

private:
    std::size_t lines_;
    clock::duration window_;
    clock::time_point start_;
    std::size_t count_ = 0;
    bool last_flooded_ = false;
};

}  // namespace corral::plugin_common
