// Prometheus text from the metrics registry: bucket bounds and sums as the shortest exact numbers.
#include "admin/metrics.hpp"

#include <gtest/gtest.h>

namespace corral::admin {
namespace {

TEST(Metrics, BucketBoundsReadAsWritten) {
    Metrics m;
    m.request("m", "/v1/chat/completions", 200, 0.25);
    const auto text = m.render({}, {}, 0, 0);
    EXPECT_NE(text.find("le=\"0.005\""), std::string::npos) << text;
    EXPECT_EQ(text.find("0.0050000000000000001"), std::string::npos) << text;
    EXPECT_NE(text.find("corral_request_duration_seconds_sum{model=\"m\"} 0.25"), std::string::npos) << text;
}

TEST(Metrics, LabelSetsAreEscapedAndCountedOnce) {
    Metrics m;
    m.request("a\"b\\c\nd", "/tokenize", 200, 0.1);
    m.request("a\"b\\c\nd", "/tokenize", 200, 0.1);
    m.request("a\"b\\c\nd", "/tokenize", 404, 0.1);
    m.tokens("plain", 3, 4);
    m.tokens("plain", 1, 1);
    m.key_request("k", 429);
    const auto text = m.render({}, {}, 0, 0);
    EXPECT_NE(text.find(R"(corral_requests_total{model="a\"b\\c\nd",endpoint="/tokenize",code="200"} 2)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(corral_requests_total{model="a\"b\\c\nd",endpoint="/tokenize",code="404"} 1)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(corral_request_duration_seconds_count{model="a\"b\\c\nd"} 3)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(corral_prompt_tokens_total{model="plain"} 4)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(corral_completion_tokens_total{model="plain"} 5)"), std::string::npos) << text;
    EXPECT_NE(text.find(R"(corral_key_requests_total{key="k",code="429"} 1)"), std::string::npos) << text;
}

TEST(Metrics, ManyLabelSetsInTurnEachKeepTheirOwnCounts) {
    // More label sets than the renderings kept between calls, and sets that differ in one value or
    // one name only: each count lands on its own.
    Metrics m;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 9; ++i) {
            const std::string model = "m" + std::to_string(i);
            m.request(model, "/tokenize", 200 + i % 2, 0.1);
            m.tokens(model, 1, 2);
            m.key_limited(model, "max_concurrency");
            m.rejected(model, "max_concurrency");
        }
    }
    const auto text = m.render({}, {}, 0, 0);
    for (int i = 0; i < 9; ++i) {
        const std::string model = "\"m" + std::to_string(i) + "\"";
        EXPECT_NE(
            text.find("corral_requests_total{model=" + model + ",endpoint=\"/tokenize\",code=\"" + std::to_string(200 + i % 2) + "\"} 3"),
            std::string::npos)
            << text;
        EXPECT_NE(text.find("corral_prompt_tokens_total{model=" + model + "} 3"), std::string::npos) << text;
        EXPECT_NE(text.find("corral_completion_tokens_total{model=" + model + "} 6"), std::string::npos) << text;
        EXPECT_NE(text.find("corral_key_limited_total{key=" + model + ",reason=\"max_concurrency\"} 3"), std::string::npos) << text;
        EXPECT_NE(text.find("{model=" + model + ",reason=\"max_concurrency\"} 3"), std::string::npos) << text;
    }
}

TEST(Metrics, OneModelsRequestsInTurnOnEndpointsCodesAndReplicasEachKeepTheirOwnCounts) {
    // A model's series are found once and its last endpoint, code and replica are kept: requests
    // that alternate between them, and between models, still land on their own series.
    Metrics m;
    for (int i = 0; i < 6; ++i) {
        m.request("a", i % 2 ? "/tokenize" : "/v1/chat/completions", i % 3 ? 200 : 500, 0.1);
        m.replica_request("a", i % 2 ? "a#1" : "a");
        m.first_byte("a", 0.01);
        m.prompt_cache("a", 1, 2);
        m.request("b", "/tokenize", 200, 0.1);
        m.replica_request("b", "b");
    }
    const auto text = m.render({}, {}, 0, 0);
    for (const char* line :
         {R"(corral_requests_total{model="a",endpoint="/tokenize",code="200"} 2)",
          R"(corral_requests_total{model="a",endpoint="/tokenize",code="500"} 1)",
          R"(corral_requests_total{model="a",endpoint="/v1/chat/completions",code="200"} 2)",
          R"(corral_requests_total{model="a",endpoint="/v1/chat/completions",code="500"} 1)",
          R"(corral_requests_total{model="b",endpoint="/tokenize",code="200"} 6)",
          R"(corral_replica_requests_total{model="a",replica="a"} 3)", R"(corral_replica_requests_total{model="a",replica="a#1"} 3)",
          R"(corral_replica_requests_total{model="b",replica="b"} 6)", R"(corral_request_duration_seconds_count{model="a"} 6)",
          R"(corral_request_duration_seconds_count{model="b"} 6)", R"(corral_time_to_first_byte_seconds_count{model="a"} 6)",
          R"(corral_prompt_tokens_cached_total{model="a"} 6)", R"(corral_prompt_tokens_evaluated_total{model="a"} 12)"}) {
        EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
    }
}

TEST(Metrics, RequestsTokensLoadsAndEvictionsFeedTheActivityWindow) {
    Metrics m;
    m.request("a", "/v1/chat/completions", 200, 0.1);
    m.request("a", "/v1/chat/completions", 502, 0.1);
    m.request("a", "/v1/chat/completions", 499, 0.1);  // the client left or pressed stop: not an error
    m.tokens("a", 30, 7);
    m.load("a", 1.0, true);
    m.load("a", 1.0, false);  // a failed load is an error too
    m.eviction("a", "ttl");
    const auto o = m.activity().to_json(ActivityWindow::clock::now());
    const auto& a = o.at("models").at("a").as_object();
    auto total = [&](const char* name) {
        uint64_t n = 0;
        for (const auto& v : a.at(name).as_array()) n += v.to_number<uint64_t>();
        return n;
    };
    EXPECT_EQ(total("requests"), 3u);
    EXPECT_EQ(total("errors"), 2u);
    EXPECT_EQ(total("tokens"), 7u);
    EXPECT_EQ(total("loads"), 2u);
    EXPECT_EQ(total("evictions"), 1u);
}

TEST(Metrics, TheLedgerPerMachineAndDevice) {
    Metrics m;
    const auto text = m.render({}, {{"local", "cuda:0", 8ull << 30, 6ull << 30}, {"box2", "ram", 0, 1024}}, 0, 0);
    EXPECT_NE(text.find("corral_device_memory_reserved_bytes{machine=\"local\",device=\"cuda:0\"} 6442450944"), std::string::npos) << text;
    EXPECT_NE(text.find("corral_device_memory_capacity_bytes{machine=\"local\",device=\"cuda:0\"} 8589934592"), std::string::npos);
    EXPECT_NE(text.find("corral_device_memory_reserved_bytes{machine=\"box2\",device=\"ram\"} 1024"), std::string::npos);
}

}  // namespace
}  // namespace corral::admin
