#include "cli/pull_progress.hpp"

#include "config/units.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <filesystem>

namespace corral::cli {

using config::format_size;
using pull::PullEvent;

std::string format_eta(double seconds) {
    const auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
    char text[32];
    if (s >= 3600) {
        std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, (s / 60) % 60);
    } else if (s >= 60) {
        std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
    } else {
        std::snprintf(text, sizeof text, "%llds", s);
    }
    return text;
}

std::string progress_text(const PullEvent& e) {
    std::string out;
    if (e.total && *e.total > 0) {
        char percent[8];
        std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(std::min<uint64_t>(100, e.bytes * 100 / *e.total)));
        out = std::string(percent) + "  " + format_size(e.bytes) + " / " + format_size(*e.total);
    } else {
        out = format_size(e.bytes);
    }
    if (e.bytes_per_second > 0) out += "  " + format_size(static_cast<uint64_t>(e.bytes_per_second)) + "/s";
    if (e.eta_seconds) out += "  ETA " + format_eta(*e.eta_seconds);
    return out;
}

std::string progress_bar(const PullEvent& e, int width) {
    if (!e.total || *e.total == 0) return progress_text(e);
    const double share = std::min(1.0, static_cast<double>(e.bytes) / static_cast<double>(*e.total));
    const int filled = static_cast<int>(share * width);
    return "[" + std::string(static_cast<std::size_t>(filled), '=') + (filled < width ? ">" : "") +
           std::string(static_cast<std::size_t>(std::max(0, width - filled - 1)), ' ') + "] " + progress_text(e);
}

void PullProgress::end_bar() {
    if (bar_drawn_) err_ << "\n";
    bar_drawn_ = false;
}

void PullProgress::progress(const PullEvent& e, std::chrono::steady_clock::time_point now) {
    if (style_ == Style::Bar) {
        err_ << "\r\033[K" << label_ << " " << progress_bar(e) << std::flush;
        bar_drawn_ = true;
        return;
    }
    const int step = e.total && *e.total ? static_cast<int>(e.bytes * 10 / *e.total) : -1;
    if (step == last_step_ && now - last_line_ < std::chrono::seconds(10)) return;
    last_step_ = step;
    last_line_ = now;
    err_ << label_ << ": " << progress_text(e) << std::endl;
}

void PullProgress::show(const PullEvent& e, std::chrono::steady_clock::time_point now) {
    if (style_ == Style::Json) {
        out_ << boost::json::serialize(pull::to_json(e)) << std::endl;
        return;
    }
    switch (e.kind) {
        case PullEvent::Kind::Start:
            label_ = std::filesystem::path(e.path).filename().string();  // each part of a split set in turn
            last_step_ = -1;
            err_ << "pulling " << e.source << " into " << e.path;
            if (e.resumed_from) err_ << " (resuming after " << format_size(e.resumed_from) << ")";
            err_ << "\n"
                 << (e.expected_sha256.empty() ? "no SHA-256 given or published: the file will not be verified"
                                               : "SHA-256 to match: " + e.expected_sha256)
                 << std::endl;
            last_line_ = now;
            break;
        case PullEvent::Kind::Progress:
            progress(e, now);
            break;
        case PullEvent::Kind::Retry:
            end_bar();
            err_ << "attempt " << (e.attempt - 1) << " failed: " << e.error << "; retrying in " << format_eta(e.retry_in_seconds)
                 << std::endl;
            break;
        case PullEvent::Kind::Done:
            end_bar();
            if (e.already_present) err_ << "already there" << (e.verified ? " and verified" : " (not verified)") << std::endl;
            out_ << e.path << "  " << format_size(e.bytes) << "  sha256 " << e.sha256 << (e.verified ? " (verified)" : " (not verified)")
                 << std::endl;
            break;
        case PullEvent::Kind::Error:
            end_bar();
            err_ << "corral pull: " << e.error << std::endl;
            if (e.code == "digest_mismatch")
                err_ << "  expected sha256 " << e.expected_sha256 << "\n  actual sha256   " << e.sha256 << std::endl;
            break;
    }
}

}  // namespace corral::cli
