// When a child's output is read as it comes and when in batches (plugin_common::OutputPacer), on an
// injected clock.
#include "output_pacer.hpp"

#include <gtest/gtest.h>

namespace corral::plugin_common {
namespace {

using namespace std::chrono_literals;
using clock = OutputPacer::clock;

TEST(OutputPacer, AStartingServersOutputIsReadAsItComesUnlessItFloods) {
    const auto t0 = clock::time_point{};
    OutputPacer pacer(t0);
    // A start-up: a burst within one window, then the "listening" line: each read at once.
    for (int i = 1; i <= 20; ++i) EXPECT_EQ(pacer.after_read(50, t0 + i * 1ms), std::nullopt);
    EXPECT_EQ(pacer.after_read(1, t0 + 300ms), std::nullopt);
    EXPECT_EQ(pacer.after_read(1, t0 + 301ms), std::nullopt);
}

TEST(OutputPacer, ASettledServersLinesComeInBatchesUntilABatchBringsNone) {
    const auto t0 = clock::time_point{};
    OutputPacer pacer(t0);
    pacer.settle();
    // Part of a line is no reason to wait.
    EXPECT_EQ(pacer.after_read(0, t0), std::nullopt);
    // A line after a quiet spell was read at once; what follows waits for its batch.
    EXPECT_EQ(pacer.after_read(1, t0 + 1ms), OutputPacer::kSettledDelay);
    EXPECT_EQ(pacer.after_batch(14, t0 + 26ms), OutputPacer::kSettledDelay);
    EXPECT_EQ(pacer.after_batch(5000, t0 + 51ms), OutputPacer::kSettledDelay);  // a flood too
    EXPECT_EQ(pacer.after_batch(1, t0 + 76ms), OutputPacer::kSettledDelay);
    // A batch that brings nothing: the pipe goes back to the reactor.
    EXPECT_EQ(pacer.after_batch(0, t0 + 101ms), std::nullopt);
    EXPECT_EQ(pacer.after_read(2, t0 + 2s), OutputPacer::kSettledDelay);
}

TEST(OutputPacer, AStartingServersFloodIsReadInBatchesUntilABatchIsQuiet) {
    const auto t0 = clock::time_point{};
    OutputPacer pacer(t0);
    // 11 lines a millisecond (--log-verbosity 4 under load), read as they come until the second
    // window floods too.
    auto t = t0;
    for (; t < t0 + 101ms; t += 1ms) EXPECT_EQ(pacer.after_read(11, t), std::nullopt);
    std::optional<clock::duration> wait;
    for (int i = 0; i < 20 && !wait; ++i, t += 1ms) wait = pacer.after_read(11, t);
    ASSERT_EQ(wait, OutputPacer::kFloodDelay);
    EXPECT_LE(t - t0, 115ms);
    EXPECT_EQ(pacer.after_batch(110, t + 10ms), OutputPacer::kFloodDelay);
    // Fewer than kQuietLines: the flood is over, and counted afresh (a window's worth is no flood).
    EXPECT_EQ(pacer.after_batch(OutputPacer::kQuietLines - 1, t + 20ms), std::nullopt);
    EXPECT_EQ(pacer.after_read(11, t + 21ms), std::nullopt);
}

}  // namespace
}  // namespace corral::plugin_common
