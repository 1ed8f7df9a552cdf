#include "cli/args.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace corral::cli {
namespace {

using ::testing::HasSubstr;

const CommandSpec kSpec{
    "config check", "Check a config.", {"FILE"}, {{"json", "", "Print JSON"}, {"plugin-dir", "DIR", "Plugins", true}}, ""};

TEST(Args, ParsesFlagsValuesAndPositionals) {
    auto a = parse_args(kSpec, {"--json", "f.json", "--plugin-dir", "a", "--plugin-dir=b"});
    EXPECT_TRUE(a.flag("json"));
    EXPECT_EQ(a.positionals, std::vector<std::string>{"f.json"});
    EXPECT_EQ(a.values("plugin-dir"), (std::vector<std::string>{"a", "b"}));
}

TEST(Args, HelpStopsParsing) {
    EXPECT_TRUE(parse_args(kSpec, {"--help", "--bogus"}).help);
}

TEST(Args, RejectsMistakesWithUsefulMessages) {
    EXPECT_THROW(parse_args(kSpec, {}), UsageError);
    EXPECT_THROW(parse_args(kSpec, {"a", "b"}), UsageError);
    EXPECT_THROW(parse_args(kSpec, {"f", "--nope"}), UsageError);
    EXPECT_THROW(parse_args(kSpec, {"f", "--plugin-dir"}), UsageError);
    EXPECT_THROW(parse_args(kSpec, {"f", "--json", "--json"}), UsageError);
    EXPECT_THROW(parse_args(kSpec, {"f", "--json=1"}), UsageError);
    try {
        parse_args(kSpec, {"f", "--nope"});
    } catch (const UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("unknown option --nope for 'corral config check'"));
    }
}

TEST(Args, IntegerValuesAreCheckedWhole) {
    ParsedArgs a;
    a.options = {{"ctx", {"4096"}}, {"port", {"80x"}}, {"threads", {"lots"}}};
    EXPECT_EQ(a.integer("ctx"), 4096);
    EXPECT_FALSE(a.integer("absent"));
    EXPECT_THROW(a.integer("port"), UsageError);
    try {
        a.integer("threads");
        ADD_FAILURE() << "no error";
    } catch (const UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("--threads expects an integer, got \"lots\""));
    }
}

TEST(Args, HelpTextListsEveryOption) {
    auto text = help_text(kSpec);
    EXPECT_THAT(text, HasSubstr("Usage: corral config check [OPTIONS] FILE"));
    EXPECT_THAT(text, HasSubstr("--plugin-dir DIR"));
    EXPECT_THAT(text, HasSubstr("(repeatable)"));
    EXPECT_THAT(text, HasSubstr("-h, --help"));
}

}  // namespace
}  // namespace corral::cli
