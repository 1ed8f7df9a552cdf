// What corral reads from the end of a relayed body for its metrics: the last "usage" and
// "timings" objects, in JSON bodies and in SSE streams.
#include "proxy/response_tail.hpp"

#include <gtest/gtest.h>

namespace corral::proxy {
namespace {

TEST(ResponseTail, UsageComesFromTheLastUsageObject) {
    uint64_t prompt = 0, completion = 0;
    read_usage(R"({"usage":{"prompt_tokens":1,"completion_tokens":2}} {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":34}})",
               prompt, completion);
    EXPECT_EQ(prompt, 12u);
    EXPECT_EQ(completion, 34u);
}

TEST(ResponseTail, SseStreamsCarryUsageAndTimingsInTheirLastChunk) {
    const std::string tail =
        "data: {\"choices\":[{\"delta\":{\"content\":\"usage is u\"}}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5},"
        "\"timings\":{\"cache_n\":3,\"prompt_n\":4}}\n\ndata: [DONE]\n\n";
    uint64_t prompt = 0, completion = 0, cached = 0, evaluated = 0;
    read_usage(tail, prompt, completion);
    read_timings(tail, cached, evaluated);
    EXPECT_EQ(prompt, 7u);
    EXPECT_EQ(completion, 5u);
    EXPECT_EQ(cached, 3u);
    EXPECT_EQ(evaluated, 4u);
}

TEST(ResponseTail, NothingIsReadWhereThereIsNoObject) {
    for (std::string_view tail :
         {"", "u", "\"usage\"", R"({"tokens":[1,2,3]})", "usage", R"("usage": 3)", R"({"usage":{"prompt_tokens":)"}) {
        uint64_t prompt = 9, completion = 9;
        read_usage(tail, prompt, completion);
        EXPECT_EQ(prompt, 9u) << tail;
        EXPECT_EQ(completion, 9u) << tail;
    }
}

TEST(ResponseTail, AKeyAtTheVeryStartOrEndIsFound) {
    uint64_t cached = 0, evaluated = 0;
    read_timings(R"("timings":{"cache_n":1,"prompt_n":2})", cached, evaluated);
    EXPECT_EQ(cached, 1u);
    EXPECT_EQ(evaluated, 2u);
}

TEST(ResponseTail, OnlyTheObjectsOwnNonNegativeIntegersCount) {
    uint64_t prompt = 9, completion = 9;
    // A nested member of the same name, a fraction, a negative: not counts; a missing one is zero.
    read_usage(R"({"usage":{"details":{"prompt_tokens":5},"prompt_tokens":2.5,"completion_tokens":-1}})", prompt, completion);
    EXPECT_EQ(prompt, 0u);
    EXPECT_EQ(completion, 0u);
    read_usage(R"({"usage":{"a_key_longer_than_thirty_two_characters_prompt_tokens":4,"prompt_tokens":3.0,"completion_tokens":1e2}})",
               prompt, completion);
    EXPECT_EQ(prompt, 3u);
    EXPECT_EQ(completion, 100u);
    // Escapes in a key are the key's characters.
    read_usage(R"({"usage":{"prompt\u005ftokens":6,"completion_tokens":7}})", prompt, completion);
    EXPECT_EQ(prompt, 6u);
    EXPECT_EQ(completion, 7u);
    // A count that is missing is zero; what follows the object is not read.
    read_usage(R"({"usage":{"prompt_tokens":3}}, "x" ]])", prompt, completion);
    EXPECT_EQ(prompt, 3u);
    EXPECT_EQ(completion, 0u);
    read_usage(R"({"usage":{"prompt_tokens":6,"completion_tokens":7}})", prompt, completion);
    // Something that is not JSON changes nothing.
    read_usage(R"({"usage":{"prompt_tokens":1,,}})", prompt, completion);
    EXPECT_EQ(prompt, 6u);
    EXPECT_EQ(completion, 7u);
}

}  // namespace
}  // namespace corral::proxy
