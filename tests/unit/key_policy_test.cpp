// Per-key policy: model patterns, the key a request presents, and the concurrency and rate limits
// (a token bucket) on an injected clock.
#include "proxy/key_policy.hpp"
#include "proxy/auth.hpp"

#include <gtest/gtest.h>

namespace corral::proxy {
namespace {

using namespace std::chrono_literals;
using clock = KeyLimiter::clock;

config::ApiKey scoped(std::vector<std::string> models, std::optional<uint32_t> concurrency = {}, std::optional<uint32_t> rpm = {}) {
    config::ApiKey k;
    k.key = "secret";
    k.name = "team";
    k.models = std::move(models);
    k.admin = false;
    k.max_concurrency = concurrency;
    k.requests_per_minute = rpm;
    return k;
}

TEST(KeyPolicy, GlobPatterns) {
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("llama-*", "llama-3-8b"));
    EXPECT_FALSE(glob_match("llama-*", "qwen-7b"));
    EXPECT_TRUE(glob_match("*-7b", "qwen-7b"));
    EXPECT_TRUE(glob_match("q?en*", "qwen-7b"));
    EXPECT_FALSE(glob_match("q?en", "qwen-7b"));
    EXPECT_TRUE(glob_match("a*b*c", "aXbYbZc"));
    EXPECT_FALSE(glob_match("a*b*c", "aXbYbZ"));
    EXPECT_TRUE(glob_match("exact", "exact"));
    EXPECT_FALSE(glob_match("exact", "exactly"));
    // A pattern with many stars against a long name ends quickly (no exponential backtracking).
    EXPECT_FALSE(glob_match(std::string(64, '*') + "x", std::string(10000, 'a')));
}

TEST(KeyPolicy, AKeySeesItsModelsByNameOrAlias) {
    EXPECT_TRUE(key_sees(nullptr, "anything", {}));
    auto all = scoped({});
    EXPECT_TRUE(key_sees(&all, "anything", {}));
    auto some = scoped({"tiny-*"});
    EXPECT_TRUE(key_sees(&some, "tiny-a", {}));
    EXPECT_FALSE(key_sees(&some, "toy", {}));
    EXPECT_TRUE(key_sees(&some, "toy", {"tiny-toy"}));
}

TEST(KeyPolicy, ConcurrencyIsHeldUntilThePermitGoes) {
    KeyLimiter limiter;
    const auto key = scoped({}, 2);
    const auto now = clock::now();
    std::optional<KeyPermit> first, second;
    ASSERT_FALSE(limiter.admit(key, now));
    first.emplace(&limiter, key.name);
    ASSERT_FALSE(limiter.admit(key, now));
    second.emplace(&limiter, key.name);
    EXPECT_EQ(limiter.in_flight("team"), 2u);
    auto refused = limiter.admit(key, now);
    ASSERT_TRUE(refused);
    EXPECT_STREQ(refused->reason, "max_concurrency");
    EXPECT_EQ(refused->retry_after, 1);
    first.reset();
    EXPECT_EQ(limiter.in_flight("team"), 1u);
    EXPECT_FALSE(limiter.admit(key, now)) << "a place freed is a place to take";
}

TEST(KeyPolicy, TheRateIsATokenBucketRefilledOverAMinute) {
    KeyLimiter limiter;
    const auto key = scoped({}, std::nullopt, 3);
    const auto t0 = clock::now();
    for (int i = 0; i < 3; ++i) {
        ASSERT_FALSE(limiter.admit(key, t0)) << "a burst up to the rate passes: " << i;
        limiter.release(key.name);
    }
    auto refused = limiter.admit(key, t0);
    ASSERT_TRUE(refused);
    EXPECT_STREQ(refused->reason, "requests_per_minute");
    EXPECT_EQ(refused->retry_after, 20) << "one token comes back every 60/3 s";
    // Refusals take no token: 20 s later, exactly one request passes.
    EXPECT_TRUE(limiter.admit(key, t0 + 10s));
    EXPECT_FALSE(limiter.admit(key, t0 + 20s));
    limiter.release(key.name);
    auto again = limiter.admit(key, t0 + 25s);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->retry_after, 15);
    // A long pause refills the bucket to its size, never more.
    for (int i = 0; i < 3; ++i) {
        ASSERT_FALSE(limiter.admit(key, t0 + 1h));
        limiter.release(key.name);
    }
    EXPECT_TRUE(limiter.admit(key, t0 + 1h));
}

TEST(KeyPolicy, KeysWithoutLimitsAreNotCounted) {
    KeyLimiter limiter;
    const auto key = scoped({});
    for (int i = 0; i < 1000; ++i) ASSERT_FALSE(limiter.admit(key, clock::now()));
    EXPECT_EQ(limiter.in_flight("team"), 0u);
}

Request with_key(const std::string& header, const std::string& value) {
    Request r{http::verb::get, "/v1/models", 11};
    if (!header.empty()) r.set(header, value);
    return r;
}

TEST(KeyPolicy, AuthNamesTheKeyPresentedAndKeepsScopedKeysOffTheAdminApi) {
    config::Config c;
    c.api_keys.push_back(scoped({"tiny-*"}));
    config::ApiKey plain;
    plain.key = "plain";
    plain.name = "key-2";
    c.api_keys.push_back(plain);
    Auth auth(c);

    auto d = auth.check(with_key("Authorization", "Bearer secret"), Access::Api);
    ASSERT_TRUE(d.allowed);
    ASSERT_TRUE(d.key);
    EXPECT_EQ(d.key->name, "team");
    EXPECT_FALSE(auth.check(with_key("Authorization", "Bearer secret"), Access::Admin).allowed) << "scoped keys are not admin keys";
    EXPECT_TRUE(auth.check(with_key("x-api-key", "plain"), Access::Admin).allowed) << "plain keys keep their old rights";
    EXPECT_FALSE(auth.check(with_key("x-api-key", "secre"), Access::Api).allowed);
    EXPECT_FALSE(auth.check(with_key("x-api-key", "secrets"), Access::Api).allowed);
    EXPECT_FALSE(auth.check(with_key("", ""), Access::Api).allowed);
    EXPECT_TRUE(auth.check(with_key("", ""), Access::Public).allowed);

    c.admin_api_key = "root";
    Auth with_admin(c);
    EXPECT_FALSE(with_admin.check(with_key("x-api-key", "plain"), Access::Admin).allowed);
    auto admin = with_admin.check(with_key("x-api-key", "root"), Access::Admin);
    EXPECT_TRUE(admin.allowed);
    EXPECT_FALSE(admin.key) << "the admin key is no api_keys entry: no scope, no limits";
    EXPECT_FALSE(with_admin.check(with_key("x-api-key", "root"), Access::Api).allowed);
}

}  // namespace
}  // namespace corral::proxy
