// Per-key policy through corral with real clients: a key sees and reaches only its models (others
// are 404, as if absent), its concurrency and rate are enforced with 429 + Retry-After, the admin
// API stays closed to scoped keys, and metrics carry the key's name, never the key.
#include "relay_fixture.hpp"

#include "process.hpp"

#include <boost/json.hpp>

namespace corral::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class Keys : public RelayFixture {
protected:
    static std::string chat(const std::string& model, int max_tokens = 4, bool stream = false) {
        return R"({"model": ")" + model + R"(", "messages": [{"role": "user", "content": "hi"}], "max_tokens": )" +
               std::to_string(max_tokens) + (stream ? R"(, "stream": true)" : "") + "}";
    }
    static Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
};

TEST_F(Keys, AScopedKeySeesAndReachesOnlyItsModels) {
    Corral corral(dir_, config(R"(, "api_keys": ["plain", {"key": "team-key", "name": "team", "models": ["to?", "tiny-b"]}])"));
    auto r = run_process({"/usr/bin/env", "node", CORRAL_TEST_SOURCE_DIR "/tests/e2e/keys_client.cjs",
                          "http://127.0.0.1:" + std::to_string(corral.port) + "/v1", "team-key", "toy,tiny-b", "tiny-a"},
                         {{"NODE_PATH", CORRAL_TEST_NODE_MODULES}});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("hidden 404"), std::string::npos) << r.out;

    // Every way to name a hidden model gets the same 404 as a model that is not here, and starts nothing.
    const auto absent = json::parse(corral.post("/v1/chat/completions", chat("ghost"), bearer("team-key")).body);
    const auto hidden = corral.post("/v1/chat/completions", chat("tiny-a"), bearer("team-key"));
    EXPECT_EQ(hidden.status, 404);
    auto expected = std::string(absent.at("error").at("message").as_string());
    expected.replace(expected.find("ghost"), 5, "tiny-a");
    EXPECT_EQ(json::parse(hidden.body).at("error").at("message").as_string(), expected);
    EXPECT_EQ(corral.get("/upstream/tiny-a/props", bearer("team-key")).status, 404);
    EXPECT_EQ(corral.get("/props?model=tiny-a", bearer("team-key")).status, 404);
    EXPECT_EQ(corral.get("/v1/models/tiny-a", bearer("team-key")).status, 404);
    EXPECT_EQ(corral.get("/corral/status", bearer("team-key")).status, 401) << "a scoped key is no admin key";
    EXPECT_NE(
        corral.get("/corral/status", bearer("plain")).body.find(R"("name":"tiny-a","aliases":[],"runner":"local","state":"unloaded")"),
        std::string::npos);
    // The plain key sees everything, as before.
    auto all = json::parse(corral.get("/v1/models", bearer("plain")).body).at("data").as_array();
    EXPECT_EQ(all.size(), 3u);
    EXPECT_EQ(corral.get("/corral/status", bearer("plain")).status, 200);

    // Metrics count by the key's name; no key appears in them.
    const std::string not_found = R"(corral_key_requests_total{key="team",code="404"})",
                      found = R"(corral_key_requests_total{key="team",code="200"})";
    auto metrics = corral.metrics_once(
        [&](const std::string& text) { return text.find(not_found) != std::string::npos && text.find(found) != std::string::npos; },
        std::chrono::seconds(10), bearer("plain"));
    EXPECT_NE(metrics.find(not_found), std::string::npos) << metrics;
    EXPECT_NE(metrics.find(found), std::string::npos) << metrics;
    EXPECT_EQ(metrics.find("team-key"), std::string::npos);
}

TEST_F(Keys, ConcurrencyAndRateAreEnforcedWith429AndRetryAfter) {
    Corral corral(dir_, config(R"(, "api_keys": [{"key": "one-at-a-time", "name": "slow", "max_concurrency": 1},
                                                 {"key": "three-a-minute", "name": "rare", "requests_per_minute": 3}])",
                               "", R"(, "runner_options": {"token_delay_ms": 200})"));
    // One stream in flight (its header came: corral holds the key's place until its end).
    HttpStream first("127.0.0.1", corral.port, "POST", "/v1/chat/completions", chat("toy", 16, true),
                     {{"Authorization", "Bearer one-at-a-time"}, {"Content-Type", "application/json"}});
    ASSERT_EQ(first.status(), 200);
    auto second = corral.post("/v1/chat/completions", chat("toy"), bearer("one-at-a-time"));
    EXPECT_EQ(second.status, 429);
    EXPECT_EQ(json::parse(second.body).at("error").at("code"), "concurrency_limit_exceeded");
    EXPECT_EQ(second.headers["retry-after"], "1");
    EXPECT_EQ(corral.post("/v1/chat/completions", chat("toy"), bearer("three-a-minute")).status, 200) << "other keys are not limited by it";
    while (first.next()) {
    }
    EXPECT_FALSE(first.broken());
    EXPECT_EQ(corral.post("/v1/chat/completions", chat("toy"), bearer("one-at-a-time")).status, 200) << "its place is free again";

    // Three a minute: the first came above, two more pass, the fourth waits for a token (20 s).
    EXPECT_EQ(corral.get("/v1/models", bearer("three-a-minute")).status, 200);
    EXPECT_EQ(corral.get("/v1/models", bearer("three-a-minute")).status, 200);
    auto limited = corral.get("/v1/models", bearer("three-a-minute"));
    EXPECT_EQ(limited.status, 429);
    EXPECT_EQ(json::parse(limited.body).at("error").at("code"), "rate_limit_exceeded");
    const int retry = std::stoi(limited.headers["retry-after"]);
    EXPECT_GE(retry, 1);  // 20 s less the time since the first (the arithmetic is unit-tested)
    EXPECT_LE(retry, 20);
}

TEST_F(Keys, LimitsAreCountedPerKeyName) {
    Corral corral(dir_, config(R"(, "admin_api_key": "root", "api_keys": [{"key": "k", "name": "burst", "requests_per_minute": 1}])"));
    EXPECT_EQ(corral.get("/v1/models", bearer("k")).status, 200);
    EXPECT_EQ(corral.get("/v1/models", bearer("k")).status, 429);
    auto metrics = corral.metrics_with(R"(corral_key_requests_total{key="burst",code="429"} 1)", bearer("root"));
    EXPECT_NE(metrics.find(R"(corral_key_limited_total{key="burst",reason="requests_per_minute"} 1)"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find(R"(corral_key_requests_total{key="burst",code="429"} 1)"), std::string::npos) << metrics;
    EXPECT_EQ(corral.get("/v1/models", bearer("root")).status, 401) << "the admin key is not an api key";
}

}  // namespace
}  // namespace corral::test
