// When a child's output switches to batched reads (plugin_common::FloodDetector), on an injected clock.
#include "flood_detector.hpp"

#include <gtest/gtest.h>

namespace corral::plugin_common {
namespace {

using namespace std::chrono_literals;
using clock = FloodDetector::clock;

TEST(FloodDetector, ABurstWithinOneWindowIsReadAsItComes) {
    const auto t0 = clock::time_point{};
    FloodDetector flood(100, 100ms, t0);
    // A start-up at a high verbosity: 5,000 lines within 80 ms, then a line now and then.
    for (int i = 1; i <= 50; ++i) EXPECT_FALSE(flood.read(100, t0 + i * 1600us));
    EXPECT_FALSE(flood.read(1, t0 + 150ms));
    EXPECT_FALSE(flood.read(1, t0 + 400ms));
    // Even a second burst long after the first (its window ended long ago) is no flood.
    for (int i = 1; i <= 50; ++i) EXPECT_FALSE(flood.read(100, t0 + 2s + i * 1ms));
}

TEST(FloodDetector, OutputPastTheRateInTwoWindowsInARowIsAFlood) {
    const auto t0 = clock::time_point{};
    FloodDetector flood(100, 100ms, t0);
    // 11 lines a millisecond (a busy server): the first window only counts.
    auto t = t0;
    for (; t < t0 + 101ms; t += 1ms) EXPECT_FALSE(flood.read(11, t));
    // The next window is flooded once it is past 100 lines too.
    bool switched = false;
    for (int i = 0; i < 20 && !switched; ++i, t += 1ms) switched = flood.read(11, t);
    EXPECT_TRUE(switched);
    EXPECT_LE(t - t0, 115ms);
}

TEST(FloodDetector, ARateJustUnderTheLimitIsNoFloodAndAResetCountsAfresh) {
    const auto t0 = clock::time_point{};
    FloodDetector flood(100, 100ms, t0);
    for (auto t = t0; t < t0 + 1s; t += 10ms) EXPECT_FALSE(flood.read(9, t));  // 900 a second
    auto t = t0 + 1s;
    for (; t < t0 + 1101ms; t += 1ms) flood.read(11, t);
    EXPECT_TRUE(flood.read(11, t));
    flood.reset(t);
    EXPECT_FALSE(flood.read(11, t + 1ms));  // after the batches ended, two windows again
}

}  // namespace
}  // namespace corral::plugin_common
