// What a pull reports as it goes, one vocabulary for `corral pull` (its bar, lines or --json) and
// the admin API's event stream: start, progress, retry, then done or error.
#pragma once

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace corral::pull {

struct PullEvent {
    enum class Kind { Start, Progress, Retry, Done, Error };
    Kind kind = Kind::Progress;

    std::string source;  // as given
    std::string path;    // the file it makes
    uint64_t bytes = 0;  // in the file so far (a resumed part included)
    std::optional<uint64_t> total;
    uint64_t resumed_from = 0;  // Start: bytes already there from an interrupted pull
    double bytes_per_second = 0;
    std::optional<double> eta_seconds;
    std::string expected_sha256;  // "" when none is known

    // Retry
    int attempt = 0;  // the one about to start (2 = the first retry)
    double retry_in_seconds = 0;

    // Done
    std::string sha256;
    bool verified = false;         // checked against an expected digest
    bool already_present = false;  // nothing was downloaded

    // Retry, Error: what went wrong; Error: a code a script can branch on (not_found, unauthorized,
    // http_error, tls, network, timeout, no_space, io, digest_mismatch, exists, cancelled)
    std::string error;
    std::string code;
    std::string quarantined;  // digest_mismatch: where the file went
};

std::string_view kind_name(PullEvent::Kind kind);
// {"event": "progress", ...}: only the fields the kind carries.
boost::json::object to_json(const PullEvent& event);

// Bytes per second over the last few seconds of samples (times injected).
class RateMeter {
public:
    explicit RateMeter(std::chrono::milliseconds window = std::chrono::seconds(5)) : window_(window) {}
    void sample(std::chrono::steady_clock::time_point now, uint64_t bytes);
    double bytes_per_second() const;
    void reset() { samples_.clear(); }

private:
    std::chrono::milliseconds window_;
    std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>> samples_;
};

// Seconds left at `rate` for the bytes still missing; nullopt when the total or the rate is unknown.
std::optional<double> eta_seconds(uint64_t bytes, std::optional<uint64_t> total, double rate);

}  // namespace corral::pull
