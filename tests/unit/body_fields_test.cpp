// The "model" and "stream" corral reads from request bodies, however deep the rest nests.
#include "proxy/body_fields.hpp"

#include <gtest/gtest.h>

namespace corral::proxy {
namespace {

std::string nested(int depth, const std::string& inner = "1") {
    return std::string(depth, '[') + inner + std::string(depth, ']');
}

TEST(BodyFields, ReadsModelAndStreamAtTheTopLevelOnly) {
    auto f = read_body_fields(R"({"messages":[{"model":"inner","stream":false}],"model":"tiny-a","stream":true})");
    EXPECT_EQ(f.error, "");
    EXPECT_EQ(f.model, "tiny-a");
    EXPECT_TRUE(f.stream);
    f = read_body_fields(R"({"a":{"model":"x","stream":true}})");
    EXPECT_FALSE(f.model);
    EXPECT_FALSE(f.stream);
    f = read_body_fields(R"({"model":"caf\u00e9 \"q\""})");
    EXPECT_EQ(f.model, "caf\xc3\xa9 \"q\"");
}

TEST(BodyFields, DeepSchemasAreNotRefused) {
    // A response_format schema nesting 15 levels (33 levels of JSON), and far deeper.
    std::string schema = R"({"type":"string"})";
    for (int i = 0; i < 15; ++i) schema = R"({"type":"object","properties":{"p":)" + schema + "}}";
    auto f = read_body_fields(R"({"model":"m","response_format":{"type":"json_schema","json_schema":{"schema":)" + schema + "}}}");
    EXPECT_EQ(f.error, "");
    EXPECT_EQ(f.model, "m");
    f = read_body_fields(R"({"x":)" + nested(900) + R"(,"model":"deep"})");
    EXPECT_EQ(f.error, "");
    EXPECT_EQ(f.model, "deep");
    // Past 1000 levels: a clear refusal, not a stack overflow (the parser recurses per level).
    f = read_body_fields(R"({"model":"deep","x":)" + nested(1000000) + "}");
    EXPECT_EQ(f.error, "The request body nests deeper than 1000 levels.");
    EXPECT_FALSE(f.model);
}

TEST(BodyFields, ErrorsSayWhatIsWrong) {
    EXPECT_NE(read_body_fields("{\"model\":").error.find("Invalid JSON"), std::string::npos);
    EXPECT_NE(read_body_fields("not json").error.find("Invalid JSON"), std::string::npos);
    EXPECT_EQ(read_body_fields("[1]").error, "The request body must be a JSON object.");
    EXPECT_EQ(read_body_fields("\"m\"").error, "The request body must be a JSON object.");
    EXPECT_EQ(read_body_fields("3").error, "The request body must be a JSON object.");
    for (const char* bad : {R"({"model":3})", R"({"model":null})", R"({"model":["a"]})", R"({"model":{"id":"a"}})", R"({"model":true})"}) {
        auto f = read_body_fields(bad);
        EXPECT_EQ(f.error, "`model` must be a string.") << bad;
        EXPECT_FALSE(f.model) << bad;
    }
    EXPECT_NE(read_body_fields(R"({"model":"a"} trailing)").error, "");
}

}  // namespace
}  // namespace corral::proxy
