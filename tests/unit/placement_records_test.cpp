// Placement records in the state directory: what a restarted corral reads when it adopts servers.
#include "state/placement_records.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corral::state {
namespace {

namespace fs = std::filesystem;

class PlacementRecordsTest : public ::testing::Test {
protected:
    void SetUp() override { fs::remove_all(dir_); }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_ = fs::temp_directory_path() / ("corral-placement-records-" + std::to_string(::getpid()));
};

TEST_F(PlacementRecordsTest, SavedRecordsComeBackUntilForgotten) {
    PlacementRecords records(dir_);
    const scheduler::Reservation r{"local", {{"cuda:2", 20ull << 30}, {"cuda:0", 5}}, 7};
    records.save("b.0a8c.42-2", r);
    EXPECT_EQ(records.load("b.0a8c.42-2"), r);
    EXPECT_EQ(PlacementRecords(dir_).load("b.0a8c.42-2"), r);  // another host process reads it
    EXPECT_FALSE(records.load("other"));
    records.forget("b.0a8c.42-2");
    EXPECT_FALSE(records.load("b.0a8c.42-2"));
}

TEST_F(PlacementRecordsTest, PruneKeepsOnlyTheAdopted) {
    PlacementRecords records(dir_);
    records.save("kept", {"local", {}, 1});
    records.save("gone", {"local", {}, 2});
    records.prune({"kept"});
    EXPECT_TRUE(records.load("kept"));
    EXPECT_FALSE(records.load("gone"));
}

TEST_F(PlacementRecordsTest, UnreadableRecordsAndUnsafeIdsAreIgnored) {
    PlacementRecords records(dir_);
    fs::create_directories(dir_ / "placements");
    std::ofstream(dir_ / "placements" / "broken.json") << "{\"machine\": 3";
    EXPECT_FALSE(records.load("broken"));
    records.save("../escape", {"local", {}, 1});
    EXPECT_FALSE(fs::exists(dir_ / "escape.json"));
    EXPECT_FALSE(records.load("../escape"));
}

}  // namespace
}  // namespace corral::state
