// The console's activity window: counts land in 10-second buckets, the window keeps the last ten
// minutes, buckets that left it are never counted again, and idle models drop out.
#include "admin/activity.hpp"

#include <gtest/gtest.h>

namespace corral::admin {
namespace {

using Count = ActivityWindow::Count;
using namespace std::chrono_literals;

const ActivityWindow::clock::time_point t0{std::chrono::hours(1000)};

std::vector<uint64_t> series(const boost::json::object& o, const char* model, const char* name) {
    std::vector<uint64_t> out;
    for (const auto& v : o.at("models").at(model).at(name).as_array()) out.push_back(v.to_number<uint64_t>());
    return out;
}

TEST(ActivityWindow, CountsEachKindInTheBucketOfItsTime) {
    ActivityWindow w;
    w.add("a", Count::Requests, 1, t0);
    w.add("a", Count::Requests, 1, t0 + 3s);
    w.add("a", Count::Errors, 1, t0 + 3s);
    w.add("a", Count::Tokens, 40, t0 + 12s);
    w.add("a", Count::Loads, 1, t0 + 25s);
    w.add("b", Count::Evictions, 1, t0 + 25s);
    auto o = w.to_json(t0 + 25s);
    EXPECT_EQ(o.at("bucket_seconds").as_int64(), 10);
    EXPECT_EQ(o.at("buckets").as_int64(), 60);
    auto requests = series(o, "a", "requests");
    ASSERT_EQ(requests.size(), 60u);
    // t0 is at a bucket start (1000 h); the last bucket holds t0+25s, so t0 is two buckets back.
    EXPECT_EQ(requests[57], 2u);
    EXPECT_EQ(series(o, "a", "errors")[57], 1u);
    EXPECT_EQ(series(o, "a", "tokens")[58], 40u);
    EXPECT_EQ(series(o, "a", "loads")[59], 1u);
    EXPECT_EQ(series(o, "b", "evictions")[59], 1u);
    EXPECT_EQ(series(o, "b", "requests")[59], 0u);
}

TEST(ActivityWindow, OldBucketsLeaveTheWindowAndAreNotCountedAgain) {
    ActivityWindow w;
    w.add("a", Count::Requests, 5, t0);
    EXPECT_EQ(series(w.to_json(t0 + 590s), "a", "requests")[0], 5u);  // still the oldest bucket
    // Ten minutes on, the model has nothing in the window: it is left out.
    EXPECT_FALSE(w.to_json(t0 + 600s).at("models").as_object().contains("a"));
    // The ring slot t0 used is reused by t0 + 600s: the new count starts from zero.
    w.add("a", Count::Requests, 1, t0 + 600s);
    auto s = series(w.to_json(t0 + 600s), "a", "requests");
    EXPECT_EQ(s[59], 1u);
    uint64_t total = 0;
    for (auto n : s) total += n;
    EXPECT_EQ(total, 1u);
}

TEST(ActivityWindow, AnEmptyWindowHasNoModels) {
    ActivityWindow w;
    EXPECT_TRUE(w.to_json(t0).at("models").as_object().empty());
}

}  // namespace
}  // namespace corral::admin
