// The scheduler's placement decision: max_loaded, the memory budget, LRU among idle models only.
#include "scheduler/placement.hpp"

#include <gtest/gtest.h>

namespace corral::scheduler {
namespace {

using clock = std::chrono::steady_clock;
using Kind = Placement::Kind;

LoadedModel model(std::string name, uint64_t memory, bool idle, int age_seconds, bool stopping = false) {
    return {std::move(name), memory, idle, stopping, clock::time_point{} + std::chrono::seconds(1000 - age_seconds)};
}

TEST(Placement, FitsWhenUnderEveryLimit) {
    EXPECT_EQ(plan_placement({}, 10, {1, 100}).kind, Kind::Fits);
    EXPECT_EQ(plan_placement({model("a", 50, true, 5)}, 50, {2, 100}).kind, Kind::Fits);
    EXPECT_EQ(plan_placement({model("a", 50, true, 5)}, 50, {std::nullopt, std::nullopt}).kind, Kind::Fits);
}

TEST(Placement, EvictsTheLeastRecentlyUsedIdleModel) {
    auto plan = plan_placement({model("new", 10, true, 1), model("old", 10, true, 100), model("mid", 10, true, 50)}, 10, {3, std::nullopt});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_EQ(plan.evict, std::vector<std::string>{"old"});
}

TEST(Placement, EvictsAsManyAsTheMemoryBudgetNeeds) {
    auto plan = plan_placement({model("a", 40, true, 30), model("b", 40, true, 20), model("c", 10, true, 10)}, 70, {std::nullopt, 100});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_EQ(plan.evict, (std::vector<std::string>{"a", "b"}));
}

TEST(Placement, NeverEvictsABusyModel) {
    auto plan = plan_placement({model("busy", 10, false, 100), model("idle", 10, true, 1)}, 10, {2, std::nullopt});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_EQ(plan.evict, std::vector<std::string>{"idle"});
    EXPECT_EQ(plan_placement({model("busy", 10, false, 100)}, 10, {1, std::nullopt}).kind, Kind::Wait);
}

TEST(Placement, WaitsForModelsAlreadyStopping) {
    auto plan = plan_placement({model("going", 10, true, 5, true)}, 10, {1, std::nullopt});
    EXPECT_EQ(plan.kind, Kind::Wait);
    EXPECT_TRUE(plan.evict.empty());
}

TEST(Placement, AModelBiggerThanTheBudgetLoadsAlone) {
    EXPECT_EQ(plan_placement({}, 200, {std::nullopt, 100}).kind, Kind::Fits);
    auto plan = plan_placement({model("a", 10, true, 5), model("b", 10, true, 9)}, 200, {std::nullopt, 100});
    ASSERT_EQ(plan.kind, Kind::Evict);
    EXPECT_EQ(plan.evict, (std::vector<std::string>{"b", "a"}));
    EXPECT_EQ(plan_placement({model("busy", 10, false, 5)}, 200, {std::nullopt, 100}).kind, Kind::Wait);
}

}  // namespace
}  // namespace corral::scheduler
