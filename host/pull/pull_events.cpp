#include "pull/pull_events.hpp"

namespace corral::pull {

std::string_view kind_name(PullEvent::Kind kind) {
    switch (kind) {
        case PullEvent::Kind::Start:
            return "start";
        case PullEvent::Kind::Progress:
            return "progress";
        case PullEvent::Kind::Retry:
            return "retry";
        case PullEvent::Kind::Done:
            return "done";
        case PullEvent::Kind::Error:
            return "error";
    }
    return "progress";
}

boost::json::object to_json(const PullEvent& e) {
    using Kind = PullEvent::Kind;
    boost::json::object o{{"event", kind_name(e.kind)}};
    auto put_total = [&] {
        if (e.total) o["total"] = *e.total;
    };
    switch (e.kind) {
        case Kind::Start:
            o["source"] = e.source;
            o["path"] = e.path;
            o["resumed_from"] = e.resumed_from;
            put_total();
            if (!e.expected_sha256.empty()) o["expected_sha256"] = e.expected_sha256;
            break;
        case Kind::Progress:
            o["bytes"] = e.bytes;
            put_total();
            o["bytes_per_second"] = static_cast<uint64_t>(e.bytes_per_second);
            if (e.eta_seconds) o["eta_seconds"] = static_cast<uint64_t>(*e.eta_seconds + 0.5);
            break;
        case Kind::Retry:
            o["attempt"] = e.attempt;
            o["in_seconds"] = e.retry_in_seconds;
            o["error"] = e.error;
            o["bytes"] = e.bytes;
            break;
        case Kind::Done:
            o["path"] = e.path;
            o["bytes"] = e.bytes;
            o["sha256"] = e.sha256;
            o["verified"] = e.verified;
            o["already_present"] = e.already_present;
            break;
        case Kind::Error:
            o["error"] = e.error;
            o["code"] = e.code;
            o["path"] = e.path;
            o["bytes"] = e.bytes;
            if (!e.expected_sha256.empty()) o["expected_sha256"] = e.expected_sha256;
            if (!e.sha256.empty()) o["sha256"] = e.sha256;
            if (!e.quarantined.empty()) o["quarantined"] = e.quarantined;
            break;
    }
    return o;
}

void RateMeter::sample(std::chrono::steady_clock::time_point now, uint64_t bytes) {
    samples_.emplace_back(now, bytes);
    while (samples_.size() > 2 && now - samples_.front().first > window_) samples_.pop_front();
}

double RateMeter::bytes_per_second() const {
    if (samples_.size() < 2) return 0;
    const auto& [t0, b0] = samples_.front();
    const auto& [t1, b1] = samples_.back();
    const double seconds = std::chrono::duration<double>(t1 - t0).count();
    if (seconds <= 0 || b1 < b0) return 0;
    return static_cast<double>(b1 - b0) / seconds;
}

std::optional<double> eta_seconds(uint64_t bytes, std::optional<uint64_t> total, double rate) {
    if (!total || rate <= 0) return std::nullopt;
    if (bytes >= *total) return 0.0;
    return static_cast<double>(*total - bytes) / rate;
}

}  // namespace corral::pull
