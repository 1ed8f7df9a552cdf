// The benchmarks' verdict on interleaved rounds (bench/paired_verdict.hpp): when rounds resolve a
// side of the threshold and when they do not.
#include "paired_verdict.hpp"

#include <gtest/gtest.h>

namespace corral::bench {
namespace {

using Side = PairedVerdict::Side;

TEST(PairedVerdictTest, FiveRoundsAllOnOneSideResolveIt) {
    const auto v = paired_verdict({1.04, 1.10, 1.02, 1.07, 1.01}, 1.0, true);
    EXPECT_DOUBLE_EQ(v.median, 1.04);
    EXPECT_DOUBLE_EQ(v.low, 1.01);  // five rounds: [min, max], 1 - 2/32
    EXPECT_DOUBLE_EQ(v.high, 1.10);
    EXPECT_DOUBLE_EQ(v.confidence, 0.9375);
    EXPECT_EQ(v.side, Side::Ahead);
    EXPECT_EQ(paired_verdict({0.97, 0.95, 0.99, 0.90, 0.98}, 1.0, true).side, Side::Behind);
}

TEST(PairedVerdictTest, OneRoundAcrossTheThresholdLeavesItLevelWhateverTheMedian) {
    // A median of 0.90, as one run's table would show it, from rounds that do not agree.
    const auto v = paired_verdict({0.90, 0.85, 1.12, 0.88, 0.93}, 1.0, true);
    EXPECT_DOUBLE_EQ(v.median, 0.90);
    EXPECT_EQ(v.side, Side::Level);
    EXPECT_STREQ(to_string(v.side), "level");
}

TEST(PairedVerdictTest, NineRoundsTolerateOneOutlierEachSide) {
    // [x(2), x(8)]: 1 - 2 (1 + 9) / 512.
    const auto v = paired_verdict({1.05, 0.80, 1.03, 1.08, 1.02, 1.30, 1.04, 1.06, 1.01}, 1.0, true);
    EXPECT_DOUBLE_EQ(v.low, 1.01);
    EXPECT_DOUBLE_EQ(v.high, 1.08);
    EXPECT_NEAR(v.confidence, 0.9609, 1e-4);
    EXPECT_EQ(v.side, Side::Ahead);
    EXPECT_DOUBLE_EQ(v.median, 1.04);
}

TEST(PairedVerdictTest, LowerIsBetterForLatencyDifferences) {
    // corral's p99 less nginx's, in ms: below zero on every round is corral ahead.
    EXPECT_EQ(paired_verdict({-0.2, -0.1, -0.3, -0.05, -0.4}, 0.0, false).side, Side::Ahead);
    EXPECT_EQ(paired_verdict({0.2, 0.1, 0.3, 0.05, 0.4}, 0.0, false).side, Side::Behind);
    EXPECT_STREQ(to_string(Side::Behind), "behind");
}

TEST(PairedVerdictTest, TooFewRoundsResolveNothing) {
    // Four rounds reach 1 - 2/16 = 87.5 % at most: never a side, however far from the threshold.
    const auto four = paired_verdict({1.5, 1.6, 1.7, 1.8}, 1.0, true);
    EXPECT_EQ(four.side, Side::Level);
    EXPECT_DOUBLE_EQ(four.confidence, 0.875);
    EXPECT_DOUBLE_EQ(four.median, 1.65);
    EXPECT_EQ(paired_verdict({2.0}, 1.0, true).side, Side::Level);
    EXPECT_EQ(paired_verdict({}, 1.0, true).side, Side::Level);
}

TEST(PairedVerdictTest, TheNotesSayHowSureTheIntervalsAre) {
    EXPECT_EQ(interval_note(9), "96 % confidence: the sign test's order statistics of the rounds' figures");
    EXPECT_EQ(interval_note(5), "94 % confidence: the sign test's order statistics of the rounds' figures");
    EXPECT_EQ(interval_note(2), "2 round(s) are too few for a 90 % interval: no side is resolved");
    EXPECT_EQ(interval_note(0), "0 round(s) are too few for a 90 % interval: no side is resolved");
}

}  // namespace
}  // namespace corral::bench
