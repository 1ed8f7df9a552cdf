// The replica routing core (prefix affinity on a ring with bounded load, least busy) and the prompt
// prefix it hashes.
#include "scheduler/replica_router.hpp"
#include "proxy/prompt_prefix.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace corral::scheduler {
namespace {

std::vector<ReplicaState> replicas(std::vector<int32_t> in_flight, int32_t slots = 4) {
    std::vector<ReplicaState> out;
    for (std::size_t i = 0; i < in_flight.size(); ++i) out.push_back({"m#" + std::to_string(i), in_flight[i], slots, true});
    return out;
}

std::vector<std::string> ids(const std::vector<ReplicaState>& r) {
    std::vector<std::string> out;
    for (const auto& x : r) out.push_back(x.id);
    return out;
}

TEST(ReplicaRouter, TheSamePrefixGoesToTheSameReplica) {
    auto r = replicas({0, 0, 0});
    HashRing ring(ids(r));
    std::map<std::size_t, int> share;
    for (int conversation = 0; conversation < 60; ++conversation) {
        const std::string key = "system\nYou are helpful.\nuser\nquestion " + std::to_string(conversation);
        auto first = choose_replica(r, ring, Routing::Prefix, key);
        ASSERT_TRUE(first);
        for (int turn = 0; turn < 5; ++turn) EXPECT_EQ(choose_replica(r, ring, Routing::Prefix, key), first);
        ++share[*first];
    }
    // Every replica gets a fair part of the conversations (virtual nodes spread the key space).
    ASSERT_EQ(share.size(), 3u);
    for (const auto& [replica, n] : share) EXPECT_GE(n, 8) << "replica " << replica;
}

TEST(ReplicaRouter, ABusyReplicaSpillsToTheNextOnTheRingNotAnywhere) {
    auto r = replicas({0, 0, 0, 0});
    HashRing ring(ids(r));
    const std::string key = "hot prefix";
    const auto home = *choose_replica(r, ring, Routing::Prefix, key);
    const auto order = ring.walk(stable_hash(key));
    ASSERT_EQ(order.front(), home);
    // Its home holds far more than the mean: the request goes to the next replica on the ring.
    r[home].in_flight = 6;
    EXPECT_EQ(choose_replica(r, ring, Routing::Prefix, key), order[1]);
    // Within the bound (1.25 x the mean, this request included) it stays home.
    r = replicas({1, 1, 1, 1});
    EXPECT_EQ(choose_replica(r, ring, Routing::Prefix, key), home);
}

TEST(ReplicaRouter, UnavailableReplicasAreSkipped) {
    auto r = replicas({0, 0});
    HashRing ring(ids(r));
    const auto home = *choose_replica(r, ring, Routing::Prefix, "k");
    r[home].available = false;  // dead, or the one a retry moves away from
    EXPECT_EQ(choose_replica(r, ring, Routing::Prefix, "k"), 1 - home);
    r[1 - home].available = false;
    EXPECT_FALSE(choose_replica(r, ring, Routing::Prefix, "k"));
    EXPECT_FALSE(choose_replica(r, ring, Routing::LeastBusy, std::nullopt));
}

TEST(ReplicaRouter, LeastBusyCountsRequestsPerSlot) {
    auto r = replicas({3, 1, 2});
    HashRing ring(ids(r));
    EXPECT_EQ(choose_replica(r, ring, Routing::LeastBusy, "ignored"), 1u);
    r[1].slots = 1;  // 1 of 1 busy is fuller than 2 of 4
    r[0].slots = 8;  // 3 of 8
    EXPECT_EQ(choose_replica(r, ring, Routing::LeastBusy, std::nullopt), 0u);
    // Prefix routing without a prefix is least busy too.
    EXPECT_EQ(choose_replica(r, ring, Routing::Prefix, std::nullopt), 0u);
}

TEST(ReplicaRouter, TheRingIsStableWhenAReplicaIsAdded) {
    auto two = replicas({0, 0});
    auto three = replicas({0, 0, 0});
    HashRing ring2(ids(two)), ring3(ids(three));
    int moved = 0;
    for (int k = 0; k < 300; ++k) {
        const auto key = "prefix " + std::to_string(k);
        auto before = *choose_replica(two, ring2, Routing::Prefix, key);
        auto after = *choose_replica(three, ring3, Routing::Prefix, key);
        if (after != before) {
            ++moved;
            EXPECT_EQ(after, 2u) << "a key moved between the old replicas";
        }
    }
    EXPECT_GT(moved, 50);   // the new replica takes its share...
    EXPECT_LT(moved, 160);  // ...and only about a third of the keys move
}

TEST(PromptPrefix, AConversationKeepsItsKeyFromTurnToTurn) {
    const std::string turn1 = R"({"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]})";
    const std::string turn3 = R"({"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
        {"role":"assistant","content":"Hello"},{"role":"user","content":"More"}]})";
    auto a = proxy::prompt_prefix(turn1);
    ASSERT_TRUE(a);
    EXPECT_EQ(*a, "system\nBe brief.\nuser\nHi\n");
    EXPECT_EQ(proxy::prompt_prefix(turn3), a);
    const std::string other = R"({"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Bye"}]})";
    EXPECT_NE(proxy::prompt_prefix(other), a);
}

TEST(PromptPrefix, EveryApiShapeHasAPrefix) {
    // Content parts, Anthropic's top-level system, the Responses API, completions (text and tokens).
    EXPECT_EQ(proxy::prompt_prefix(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]})"),
              "user\nab\n");
    EXPECT_EQ(proxy::prompt_prefix(R"({"system":"S","messages":[{"role":"user","content":"q"}]})"), "system\nS\nuser\nq\n");
    EXPECT_EQ(proxy::prompt_prefix(R"({"instructions":"I","input":"hello"})"), "system\nI\nhello");
    EXPECT_EQ(proxy::prompt_prefix(R"({"prompt":"Once upon a time"})"), "Once upon a time");
    EXPECT_EQ(proxy::prompt_prefix(R"({"prompt":[1,2,3]})"), "[1,2,3]");
    EXPECT_EQ(proxy::prompt_prefix(R"({"prompt":"abcdef"})", 3), "abc");
    EXPECT_FALSE(proxy::prompt_prefix(R"({"model":"m"})"));
    EXPECT_FALSE(proxy::prompt_prefix("not json"));
    EXPECT_FALSE(proxy::prompt_prefix(std::string(2000, '[')));  // deeper than any body: refused, not a crash
}

TEST(ReplicaScaling, AnotherReplicaOnlyWhenEveryServingOneHasABacklog) {
    const std::vector<ReplicaState> busy = {{"a", 3, 2, true}, {"b", 5, 4, true}};  // both above their slots
    EXPECT_TRUE(wants_another_replica(busy, 0, 0, 2, 3));
    EXPECT_FALSE(wants_another_replica(busy, 0, 0, 3, 3));  // at max
    EXPECT_FALSE(wants_another_replica(busy, 0, 1, 2, 3));  // one is starting: wait for it
    const std::vector<ReplicaState> one_free = {{"a", 3, 2, true}, {"b", 4, 4, true}};
    EXPECT_FALSE(wants_another_replica(one_free, 0, 0, 2, 3));
    EXPECT_TRUE(wants_another_replica(one_free, 1, 0, 2, 3));  // corral queues requests: every slot is taken
    EXPECT_FALSE(wants_another_replica({}, 5, 0, 0, 3));       // nothing serves yet: that is loading, not backlog
}

}  // namespace
}  // namespace corral::scheduler
