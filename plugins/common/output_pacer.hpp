// How a child's output is read (ChildProcess::read_lines): the moment it comes, with the pipe in
// the reactor, or in batches, with the pipe out of it and a read after each wait. Every read the
// reactor announces wakes the runner's thread (and, through the log lines it passes on, the host's):
// a busy llama-server writes about fourteen lines per request, line by line, so reading as it comes
// costs the relay's thread a wake-up for every few tokens it relays (bench/README.md, streaming).
//
// - A flood (FloodDetector: past kFloodLines in each of two kFloodWindows in a row) is read every
//   kFloodDelay until a batch brings fewer than kQuietLines.
// - Once the process is settled (a runner's server is ready: no decision waits on its next line),
//   any read that brings a line starts batches every kSettledDelay (a flood's too), until a batch
//   brings none.
// - Otherwise (a start-up, whose "listening" line begins the ready checks; a quiet server's
//   occasional line) output is read as it comes.
// A line after a quiet spell is therefore read at once in every mode, and a process's last output
// is read at once too (its exit cuts the wait short: ChildProcess). No I/O and an injected clock,
// so the decisions are tested on their own.
#pragma once

#include "flood_detector.hpp"

#include <chrono>
#include <cstddef>
#include <optional>

namespace corral::plugin_common {

class OutputPacer {
public:
    using clock = FloodDetector::clock;
    static constexpr std::size_t kFloodLines = 100;  // per kFloodWindow: 1,000 lines a second
    static constexpr std::size_t kQuietLines = 10;   // a flood's batch with fewer ends the batches
    static constexpr auto kFloodWindow = std::chrono::milliseconds(100);
    static constexpr auto kFloodDelay = std::chrono::milliseconds(10);
    // At most 40 reads a second of a settled server's output: at llama-server's default verbosity a
    // pipe fills after seconds of this, never within one wait.
    static constexpr auto kSettledDelay = std::chrono::milliseconds(25);

    explicit OutputPacer(clock::time_point now) : flood_(kFloodLines, kFloodWindow, now) {}

    // The process is up and nothing waits on its next line.
    void settle() noexcept { settled_ = true; }

    // `lines` came in a read the reactor announced, at `now`: the wait before the first batch, or
    // nullopt to go on reading as output comes.
    std::optional<clock::duration> after_read(std::size_t lines, clock::time_point now) {
        if (flood_.read(lines, now))
            mode_ = Mode::Flood;
        else if (settled_ && lines > 0)
            mode_ = Mode::Settled;
        return delay();
    }

    // A batch brought `lines` at `now`: the wait before the next, or nullopt when the output has
    // quieted (the pipe goes back to the reactor, and a flood is counted afresh from `now`).
    std::optional<clock::duration> after_batch(std::size_t lines, clock::time_point now) {
        const std::size_t quiet = mode_ == Mode::Flood ? kQuietLines : 1;
        if (lines < quiet) {
            mode_ = Mode::AsItComes;
            flood_.reset(now);
        }
        return delay();
    }

private:
    enum class Mode { AsItComes, Flood, Settled };

    std::optional<clock::duration> delay() const {
        switch (mode_) {
            case Mode::Flood:
                return kFloodDelay;
            case Mode::Settled:
                return kSettledDelay;
            case Mode::AsItComes:
                break;
        }
        return std::nullopt;
    }

    FloodDetector flood_;
    bool settled_ = false;
    Mode mode_ = Mode::AsItComes;
};

}  // namespace corral::plugin_common
