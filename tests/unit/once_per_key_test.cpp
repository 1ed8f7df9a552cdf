// OncePerKey: one learning call per key however many callers ask at once; failures are not kept.
#include "once_per_key.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using corral::plugin_common::OncePerKey;

TEST(OncePerKey, ConcurrentCallersForOneKeyShareOneCall) {
    OncePerKey<std::string, int> cache;
    std::atomic<int> calls{0};
    std::promise<void> release;
    auto released = release.get_future().share();
    std::vector<std::thread> threads;
    std::vector<int> results(8, 0);
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            results[i] = cache.get("llama-server", [&] {
                ++calls;
                released.wait();  // every other caller arrives while this one is still learning
                return 42;
            });
        });
    }
    // Wait until the one learner is inside learn(); the others then find its pending entry.
    while (calls.load() == 0) std::this_thread::yield();
    release.set_value();
    for (auto& t : threads) t.join();
    EXPECT_EQ(calls.load(), 1);
    for (int r : results) EXPECT_EQ(r, 42);
    EXPECT_EQ(cache.get("llama-server", [] { return 0; }), 42);
    EXPECT_EQ(cache.get("other", [] { return 7; }), 7);
}

TEST(OncePerKey, AFailureReachesTheCallerAndIsTriedAgainNextTime) {
    OncePerKey<std::string, int> cache;
    EXPECT_THROW(cache.get("k", []() -> int { throw std::runtime_error("ssh gave no answer"); }), std::runtime_error);
    EXPECT_EQ(cache.get("k", [] { return 3; }), 3);
}
