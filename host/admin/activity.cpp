#include "admin/activity.hpp"

#include <boost/json/array.hpp>

namespace corral::admin {
namespace {

constexpr std::array<const char*, 5> kNames = {"requests", "errors", "tokens", "loads", "evictions"};

}  // namespace

int64_t ActivityWindow::bucket_index(clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count() / kBucket.count();
}

void ActivityWindow::add(const std::string& model, Count what, uint64_t n, clock::time_point now) {
    const int64_t index = bucket_index(now);
    auto& bucket = models_[model][static_cast<std::size_t>(index) % kBuckets];
    if (bucket.index != index) bucket = Bucket{index, {}};  // a stretch that left the window
    bucket.counts[static_cast<std::size_t>(what)] += n;
}

boost::json::object ActivityWindow::to_json(clock::time_point now) const {
    const int64_t last = bucket_index(now);
    const int64_t first = last - static_cast<int64_t>(kBuckets) + 1;
    boost::json::object models;
    for (const auto& [name, ring] : models_) {
        std::array<boost::json::array, 5> series;
        bool any = false;
        for (int64_t i = first; i <= last; ++i) {
            const auto& bucket = ring[static_cast<std::size_t>(i) % kBuckets];
            for (std::size_t c = 0; c < series.size(); ++c) {
                const uint64_t n = bucket.index == i ? bucket.counts[c] : 0;
                any = any || n > 0;
                series[c].push_back(n);
            }
        }
        if (!any) continue;
        boost::json::object o;
        for (std::size_t c = 0; c < series.size(); ++c) o[kNames[c]] = std::move(series[c]);
        models[name] = std::move(o);
    }
    return {{"bucket_seconds", kBucket.count()}, {"buckets", static_cast<int64_t>(kBuckets)}, {"models", std::move(models)}};
}

}  // namespace corral::admin
