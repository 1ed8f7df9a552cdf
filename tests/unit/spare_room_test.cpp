// proxy::SpareRoom: room given back on a thread is what that thread's next take() gets, never another thread's.
#include "proxy/spare_room.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace corral::proxy {
namespace {

struct TestTag {};
using Spare = SpareRoom<std::string, TestTag>;

std::string fresh() {
    std::string s;
    s.reserve(1000);
    return s;
}

TEST(SpareRoom, TheRoomGivenBackIsTheNextTakesOnThatThreadOnly) {
    auto first = Spare::take(fresh);
    const char* room = first.data();
    Spare::give_back(std::move(first));
    const char* elsewhere = nullptr;
    std::thread([&] {
        auto other = Spare::take(fresh);  // this thread has none kept: a new one
        elsewhere = other.data();
        EXPECT_GE(other.capacity(), 1000u);
    }).join();
    EXPECT_NE(elsewhere, room);
    auto again = Spare::take(fresh);
    EXPECT_EQ(again.data(), room);
    Spare::give_back(std::move(again));
    Spare::take(fresh);  // empties the list again
}

TEST(SpareRoom, AtMostKKeptAreKept) {
    for (std::size_t i = 0; i < Spare::kKept + 5; ++i) Spare::give_back(fresh());
    int made = 0;
    auto counting = [&] {
        ++made;
        return fresh();
    };
    std::vector<std::string> taken;
    for (std::size_t i = 0; i < Spare::kKept + 5; ++i) taken.push_back(Spare::take(counting));
    EXPECT_EQ(made, 5);
}

}  // namespace
}  // namespace corral::proxy
