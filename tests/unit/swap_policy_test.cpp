// The swap rules alone: which waiting model goes first, and when a loaded one stops taking requests.
#include "scheduler/swap_policy.hpp"

#include <gtest/gtest.h>

namespace corral::scheduler {
namespace {

using namespace std::chrono_literals;
const SwapClock::time_point t0{};

SwapSettings settings(std::optional<int32_t> requests, std::optional<std::chrono::milliseconds> time, std::chrono::milliseconds max_wait) {
    return {requests, time, max_wait};
}

TEST(SwapPolicy, WaitingModelsGoByPriorityThenArrivalAndAStarvedOneFirst) {
    const auto s = settings(8, 10s, 30s);
    const Contender early_low{0, t0}, late_high{5, t0 + 1s}, late_low{0, t0 + 2s};
    EXPECT_TRUE(goes_before(late_high, early_low, t0 + 5s, s));  // priority first
    EXPECT_TRUE(goes_before(early_low, late_low, t0 + 5s, s));   // then arrival
    EXPECT_FALSE(goes_before(late_low, early_low, t0 + 5s, s));
    // 30 s later the low one has waited max_wait_for_swap: it goes before any priority.
    EXPECT_TRUE(goes_before(early_low, late_high, t0 + 30s, s));
    EXPECT_FALSE(goes_before(late_high, early_low, t0 + 30s, s));
    // Two starved ones: the longer waiting first, priority aside.
    EXPECT_TRUE(goes_before(early_low, late_high, t0 + 60s, s));
    EXPECT_EQ(&most_urgent(late_high, early_low, t0 + 5s, s), &late_high);
    EXPECT_EQ(&most_urgent(late_high, early_low, t0 + 30s, s), &early_low);
}

TEST(SwapPolicy, AYieldingServerTakesItsBatchByCountThenStops) {
    const auto s = settings(3, std::nullopt, 1h);
    const Contender waiting{0, t0};
    Yield y{t0, 0};
    for (int i = 0; i < 3; ++i, ++y.granted) EXPECT_TRUE(may_take_request(y, 0, waiting, t0 + 1s, s)) << i;
    EXPECT_FALSE(may_take_request(y, 0, waiting, t0 + 1s, s));
}

TEST(SwapPolicy, AYieldingServerTakesItsBatchByTimeThenStops) {
    const auto s = settings(std::nullopt, 10s, 1h);
    const Contender waiting{0, t0};
    const Yield y{t0 + 2s, 100};  // asked at 2 s (when it became ready), 100 requests since
    EXPECT_TRUE(may_take_request(y, 0, waiting, t0 + 11s, s));
    EXPECT_FALSE(may_take_request(y, 0, waiting, t0 + 12s, s));
}

TEST(SwapPolicy, ALowerPriorityWaiterDoesNotHurryAServerUntilItStarves) {
    const auto s = settings(1, 1s, 30s);
    const Contender low{0, t0};
    const Yield y{t0, 50};
    EXPECT_TRUE(may_take_request(y, 1, low, t0 + 29s, s));   // the batch is long spent, but the server ranks higher
    EXPECT_FALSE(may_take_request(y, 1, low, t0 + 30s, s));  // max_wait_for_swap
    EXPECT_FALSE(may_take_request(y, 0, low, t0 + 2s, s));   // an equal priority: the batch counts
}

TEST(SwapPolicy, AServerAlwaysTakesOneRequestPerTurnEvenForAStarvedWaiter) {
    // Two models that both waited long must not swap each other out without serving anything.
    const auto s = settings(8, 10s, 30s);
    const Contender starved{0, t0};
    EXPECT_TRUE(may_take_request({t0 + 100s, 0}, 0, starved, t0 + 100s, s));
    EXPECT_FALSE(may_take_request({t0 + 100s, 1}, 0, starved, t0 + 100s, s));
}

}  // namespace
}  // namespace corral::scheduler
