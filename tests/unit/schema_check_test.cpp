#include "config/schema_check.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace corral::config {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

const auto kSchema = boost::json::parse(R"({
  "type": "object", "additionalProperties": false, "required": ["binary"],
  "properties": {
    "binary": {"type": "string", "minLength": 1},
    "port_range": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 65535}},
    "mode": {"enum": ["fast", "safe"]},
    "flag": {"type": ["boolean", "string"]}
  }})");

ConfigErrors check(const char* json) {
    ConfigErrors errors;
    check_against_schema(boost::json::parse(json), kSchema, "runners.r", errors);
    return errors;
}

TEST(SchemaCheck, AcceptsValidOptions) {
    EXPECT_THAT(check(R"({"binary": "x", "port_range": [1, 2], "mode": "safe", "flag": "yes"})"), SizeIs(0));
}

TEST(SchemaCheck, ReportsEachProblemWithItsPath) {
    auto errors = check(R"({"port_range": [0, "a"], "mode": "slow", "flag": 1, "bianry": "x"})");
    ASSERT_THAT(errors, SizeIs(6));
    std::string all;
    for (const auto& e : errors) all += e.to_string() + "\n";
    EXPECT_THAT(all, HasSubstr("runners.r.binary: required option is missing"));
    EXPECT_THAT(all, HasSubstr("runners.r.port_range[0]: must be at least 1"));
    EXPECT_THAT(all, HasSubstr("runners.r.port_range[1]: expected integer, got string"));
    EXPECT_THAT(all, HasSubstr("runners.r.mode: expected one of \"fast\", \"safe\""));
    EXPECT_THAT(all, HasSubstr("runners.r.flag: expected boolean or string, got integer"));
    EXPECT_THAT(all, HasSubstr("runners.r.bianry: unknown option (expected one of: binary, port_range, mode, flag)"));
}

}  // namespace
}  // namespace corral::config
