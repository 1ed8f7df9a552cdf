// Restart backoff: 0.5 s doubling to the cap, a budget of attempts, reset by stable uptime.
#include "supervisor/restart_policy.hpp"

#include <gtest/gtest.h>

namespace corral::supervisor {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

TEST(RestartPolicy, BacksOffExponentiallyUpToTheBudget) {
    config::SupervisorConfig c;  // defaults: 500 ms, x2, 3 attempts, 30 s stable
    RestartPolicy p(c);
    auto t = clock::now();
    EXPECT_EQ(p.on_exit(t, t + 1s), 500ms);
    EXPECT_EQ(p.on_exit(t, t + 1s), 1000ms);
    EXPECT_EQ(p.on_exit(t, t + 1s), 2000ms);
    EXPECT_EQ(p.on_exit(t, t + 1s), std::nullopt);
}

TEST(RestartPolicy, DelayIsCapped) {
    config::SupervisorConfig c;
    c.restart_attempts = 10;
    c.restart_backoff_max = 3s;
    RestartPolicy p(c);
    auto t = clock::now();
    for (int i = 0; i < 3; ++i) p.on_exit(t, t);
    EXPECT_EQ(p.on_exit(t, t), 3000ms);
    EXPECT_EQ(p.on_exit(t, t), 3000ms);
}

TEST(RestartPolicy, StableUptimeGivesTheBudgetBack) {
    config::SupervisorConfig c;
    RestartPolicy p(c);
    auto t = clock::now();
    for (int i = 0; i < 3; ++i) p.on_exit(t, t + 1s);
    EXPECT_EQ(p.on_exit(t, t + 31s), 500ms);  // it ran 31 s before this crash
}

}  // namespace
}  // namespace corral::supervisor
