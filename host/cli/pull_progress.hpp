// How `corral pull` shows a pull: a bar redrawn in place on a terminal (bytes, rate, ETA), plain
// lines otherwise (each 10% or 10 s), or one JSON object per event with --json. Progress goes to
// stderr (stdout for --json); times are injected so the decisions are unit-tested.
#pragma once

#include "pull/pull_events.hpp"

#include <chrono>
#include <ostream>
#include <string>

namespace corral::cli {

class PullProgress {
public:
    enum class Style { Bar, Lines, Json };
    PullProgress(Style style, std::ostream& out, std::ostream& err, std::string label)
        : style_(style), out_(out), err_(err), label_(std::move(label)) {}

    void show(const pull::PullEvent& event, std::chrono::steady_clock::time_point now);

private:
    void progress(const pull::PullEvent& event, std::chrono::steady_clock::time_point now);
    void end_bar();

    Style style_;
    std::ostream& out_;
    std::ostream& err_;
    std::string label_;
    bool bar_drawn_ = false;
    int last_step_ = -1;  // Lines: the last 10% step printed
    std::chrono::steady_clock::time_point last_line_{};
};

// " 45%  12.3 MiB / 27.0 MiB  5.1 MiB/s  ETA 3s" (the parts that are known).
std::string progress_text(const pull::PullEvent& event);
// "[=====>    ]  45%  12.3 MiB / 27.0 MiB  5.1 MiB/s  ETA 3s" (the parts that are known).
std::string progress_bar(const pull::PullEvent& event, int width = 24);
// "1h02m", "3m05s", "42s".
std::string format_eta(double seconds);

}  // namespace corral::cli
