// What each model did over the last minutes, in fixed time buckets: requests, errors, generated
// tokens, loads and evictions. It feeds GET /corral/activity (the console's activity page); the
// Prometheus counters in metrics.hpp stay the totals. The time comes from the caller, so the
// bucketing is tested without waiting.
#pragma once

#include <boost/json/object.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace corral::admin {

class ActivityWindow {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kBucket{10};
    static constexpr std::size_t kBuckets = 60;  // ten minutes

    enum class Count { Requests, Errors, Tokens, Loads, Evictions };

    void add(const std::string& model, Count what, uint64_t n, clock::time_point now);

    // {"bucket_seconds": 10, "buckets": 60, "models": {NAME: {"requests": [...], "errors": [...],
    // "tokens": [...], "loads": [...], "evictions": [...]}}}: oldest bucket first, the last one is
    // the current (partial) bucket; models without anything in the window are left out.
    boost::json::object to_json(clock::time_point now) const;

private:
    struct Bucket {
        int64_t index = -1;  // which kBucket-long stretch of the clock it counts
        std::array<uint64_t, 5> counts{};
    };
    using Ring = std::array<Bucket, kBuckets>;

    static int64_t bucket_index(clock::time_point t);

    std::map<std::string, Ring> models_;
};

}  // namespace corral::admin
