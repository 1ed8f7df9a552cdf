#include "config/units.hpp"

#include <gtest/gtest.h>

namespace corral::config {
namespace {

using std::chrono::milliseconds;

TEST(Units, Durations) {
    EXPECT_EQ(parse_duration("10m"), milliseconds(600'000));
    EXPECT_EQ(parse_duration("1h30m"), milliseconds(5'400'000));
    EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
    EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
    EXPECT_EQ(parse_duration("2d"), milliseconds(172'800'000));
    EXPECT_EQ(parse_duration("0s"), milliseconds(0));
    for (auto bad : {"", "10x", "10", "-5s", "m", "5 m", "1h-2m"}) EXPECT_FALSE(parse_duration(bad)) << bad;
}

TEST(Units, Sizes) {
    EXPECT_EQ(parse_size("4GiB"), 4ull << 30);
    EXPECT_EQ(parse_size("4gib"), 4ull << 30);
    EXPECT_EQ(parse_size("512MB"), 512'000'000ull);
    EXPECT_EQ(parse_size("1.5 GiB"), 3ull << 29);
    EXPECT_EQ(parse_size("1024"), 1024ull);
    EXPECT_EQ(parse_size("2G"), 2ull << 30);
    for (auto bad : {"", "lots", "GiB", "4 XB", "-1GiB"}) EXPECT_FALSE(parse_size(bad)) << bad;
}

}  // namespace
}  // namespace corral::config
