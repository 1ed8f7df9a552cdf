// Replicas end to end: one model on two real llama-servers, requests spread over both, routed by
// prompt prefix, and a replica killed -9 under load costs no client a request; autoscaling with the
// mock runner.
#include "http_client.hpp"
#include "process.hpp"
#include "serve_harness.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace corral::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

std::string chat(const std::string& model, const std::string& system, const std::string& user, int max_tokens = 4) {
    return json::serialize(json::object{{"model", model},
                                        {"max_tokens", max_tokens},
                                        {"ignore_eos", true},
                                        {"messages", json::array{json::object{{"role", "system"}, {"content", system}},
                                                                 json::object{{"role", "user"}, {"content", user}}}}});
}

class Replicas : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ =
            fs::path(CORRAL_TEST_WORK_DIR) / ("replicas-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
    }

    std::string config(const std::string& model_settings) {
        return config_head(dir_, R"(, "token_delay_ms": 50)") + R"(,
  "supervisor": {"restart_backoff": "100ms"},
  "models": {
    "tiny-a": {"path": ")" +
               std::string(CORRAL_TEST_MODELS) + R"(/tiny-a.gguf", "runner": "local", "ctx_size": 2048, "parallel": 2)" + model_settings +
               R"(},
    "toy": {"path": "/dev/null", "runner": "fake", "replicas": {"min": 1, "max": 2, "scale_up_after": "200ms"}, "ttl": "1s"}
  }
})";
    }

    // Replicas of `model` in state `state`.
    static int replicas_in(Corral& corral, const std::string& model, const std::string& state) {
        int n = 0;
        const auto status = corral.model(model);  // named: a range-for over a member of a temporary would dangle
        for (const auto& r : status.at("replicas").as_array()) n += r.at("state") == state.c_str();
        return n;
    }
    template <class Pred>
    static bool wait_until(Pred done, std::chrono::milliseconds limit = 60s) {
        return test::wait_until(done, limit);
    }
    // corral_replica_requests_total by replica name, for `model`, once they add up to `at_least`
    // (the requests a test has just had answered: Corral::metrics_once says why it waits).
    static std::map<std::string, int64_t> replica_requests(Corral& corral, const std::string& model, int64_t at_least = 0) {
        std::map<std::string, int64_t> out;
        corral.metrics_once([&](const std::string& text) {
            out.clear();
            const std::string prefix = "corral_replica_requests_total{model=\"" + model + "\",replica=\"";
            for (auto at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
                const auto name_end = text.find('"', at + prefix.size());
                const auto value = text.find("} ", name_end);
                if (name_end == std::string::npos || value == std::string::npos) break;
                out[text.substr(at + prefix.size(), name_end - at - prefix.size())] = std::stoll(text.substr(value + 2));
            }
            int64_t total = 0;
            for (const auto& [name, n] : out) total += n;
            return total >= at_least;
        });
        return out;
    }

    fs::path dir_;
};

TEST_F(Replicas, TwoServersShareTheLoadAndAKilledOneCostsNoRequest) {
    Corral corral(dir_, config(R"(, "replicas": 2, "routing": "least_busy")"));
    ASSERT_EQ(corral.post("/corral/models/tiny-a/load").status, 200);
    ASSERT_TRUE(wait_until([&] { return replicas_in(corral, "tiny-a", "ready") == 2; })) << json::serialize(corral.model("tiny-a"));
    const auto replicas = corral.model("tiny-a").at("replicas").as_array();
    const auto pid0 = replicas.at(0).at("pid").as_int64();
    const auto pid1 = replicas.at(1).at("pid").as_int64();
    EXPECT_NE(pid0, pid1);

    // 32 requests at once reach both servers.
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 32; ++i) {
        clients.emplace_back([&, i] {
            if (corral.post("/v1/chat/completions", chat("tiny-a", "sys", "hello " + std::to_string(i))).status == 200) ++ok;
        });
    }
    for (auto& t : clients) t.join();
    clients.clear();
    EXPECT_EQ(ok.load(), 32);
    auto counts = replica_requests(corral, "tiny-a", 32);
    EXPECT_GT(counts["tiny-a"], 0);
    EXPECT_GT(counts["tiny-a#1"], 0);

    // A steady load of 8 clients; replica #1 is killed -9 after the first answers: every request is
    // answered, by the other replica when its own died under it.
    std::atomic<int> answered{0}, failed{0};
    std::mutex mutex;
    std::string first_failure;
    for (int c = 0; c < 8; ++c) {
        clients.emplace_back([&, c] {
            for (int i = 0; i < 12; ++i) {
                auto r = corral.post("/v1/chat/completions",
                                     chat("tiny-a", "sys", "client " + std::to_string(c) + " turn " + std::to_string(i), 8));
                if (r.status == 200) {
                    ++answered;
                } else {
                    ++failed;
                    std::lock_guard lock(mutex);
                    if (first_failure.empty()) first_failure = std::to_string(r.status) + " " + r.body;
                }
            }
        });
    }
    ASSERT_TRUE(wait_until([&] { return answered.load() >= 16; }));
    ASSERT_EQ(::kill(static_cast<pid_t>(pid1), SIGKILL), 0);
    for (auto& t : clients) t.join();
    clients.clear();
    EXPECT_EQ(failed.load(), 0) << first_failure;
    EXPECT_EQ(answered.load(), 96);

    // The killed replica restarts and takes traffic again.
    ASSERT_TRUE(wait_until([&] { return replicas_in(corral, "tiny-a", "ready") == 2; }));
    const auto after = corral.model("tiny-a").at("replicas").as_array();
    EXPECT_NE(after.at(1).at("pid").as_int64(), pid1);
    EXPECT_EQ(after.at(0).at("pid").as_int64(), pid0);
    const auto before = replica_requests(corral, "tiny-a", 32 + 96)["tiny-a#1"];
    for (int i = 0; i < 8; ++i) {
        clients.emplace_back([&, i] { corral.post("/v1/chat/completions", chat("tiny-a", "sys", "again " + std::to_string(i))); });
    }
    for (auto& t : clients) t.join();
    EXPECT_GT(replica_requests(corral, "tiny-a", 32 + 96 + 8)["tiny-a#1"], before);
    const auto metrics = corral.get("/metrics").body;
    EXPECT_NE(metrics.find("corral_prompt_tokens_evaluated_total{model=\"tiny-a\"}"), std::string::npos);
    EXPECT_EQ(corral.stop(), 0);
}

TEST_F(Replicas, AConversationStaysOnOneReplicaAndASessionHeaderPins) {
    Corral corral(dir_, config(R"(, "replicas": 2)"));
    ASSERT_EQ(corral.post("/corral/models/tiny-a/load").status, 200);
    ASSERT_TRUE(wait_until([&] { return replicas_in(corral, "tiny-a", "ready") == 2; }));
    // Six turns of one conversation (same system prompt and first message), one at a time.
    for (int turn = 0; turn < 6; ++turn) {
        auto body = json::parse(chat("tiny-a", "You are a terse assistant.", "first question"));
        auto& messages = body.at("messages").as_array();
        for (int t = 0; t < turn; ++t) {
            messages.push_back(json::object{{"role", "assistant"}, {"content", "answer " + std::to_string(t)}});
            messages.push_back(json::object{{"role", "user"}, {"content", "follow-up " + std::to_string(t)}});
        }
        ASSERT_EQ(corral.post("/v1/chat/completions", json::serialize(body)).status, 200);
    }
    auto counts = replica_requests(corral, "tiny-a", 6);
    EXPECT_TRUE((counts["tiny-a"] == 6 && counts["tiny-a#1"] == 0) || (counts["tiny-a"] == 0 && counts["tiny-a#1"] == 6))
        << counts["tiny-a"] << " / " << counts["tiny-a#1"];

    // Different prompts with one session header go to one replica too.
    const auto before = replica_requests(corral, "tiny-a");
    for (int i = 0; i < 6; ++i) {
        ASSERT_EQ(corral
                      .post("/v1/chat/completions", chat("tiny-a", "s" + std::to_string(i), "q" + std::to_string(i)),
                            {{"X-Corral-Session", "user-42"}})
                      .status,
                  200);
    }
    auto after = replica_requests(corral, "tiny-a", 12);
    const auto on0 = after["tiny-a"] - before.at("tiny-a");
    const auto on1 = after["tiny-a#1"] - (before.count("tiny-a#1") ? before.at("tiny-a#1") : 0);
    EXPECT_TRUE((on0 == 6 && on1 == 0) || (on0 == 0 && on1 == 6)) << on0 << " / " << on1;
    // One replica's server output, by its name.
    auto logs = corral.get("/corral/logs/tiny-a%231?lines=5");
    EXPECT_EQ(logs.status, 200) << logs.body;
    EXPECT_EQ(corral.stop(), 0);
}

TEST_F(Replicas, ARestartedHostAdoptsEveryReplica) {
    // min 2: both run from start-up; a restarted host adopts them instead of starting two more.
    const auto text = config(R"(, "replicas": {"min": 2, "max": 2})");
    std::set<int64_t> pids;
    {
        Corral corral(dir_, text);
        ASSERT_TRUE(wait_until([&] { return replicas_in(corral, "tiny-a", "ready") == 2; }));
        const auto status = corral.model("tiny-a");
        for (const auto& r : status.at("replicas").as_array()) pids.insert(r.at("pid").as_int64());
        corral.stop(SIGKILL);
    }
    ASSERT_EQ(pids.size(), 2u);
    Corral corral(dir_, text);
    ASSERT_TRUE(wait_until([&] { return replicas_in(corral, "tiny-a", "ready") == 2; }));
    const auto status = corral.model("tiny-a");
    std::set<int64_t> adopted;
    for (const auto& r : status.at("replicas").as_array()) {
        adopted.insert(r.at("pid").as_int64());
        EXPECT_TRUE(r.as_object().contains("adopted")) << json::serialize(r);
    }
    EXPECT_EQ(adopted, pids);
    EXPECT_EQ(status.at("replicas").as_array().size(), 2u);
    EXPECT_EQ(corral.post("/v1/chat/completions", chat("tiny-a", "sys", "after the restart")).status, 200);
    EXPECT_EQ(corral.stop(), 0);
    for (auto pid : pids) EXPECT_FALSE(process_alive(pid));
}

TEST_F(Replicas, ABacklogStartsASecondMockReplicaThatUnloadsWhenIdle) {
    Corral corral(dir_, config(""));
    // min 1: toy's first replica starts with the host.
    ASSERT_TRUE(wait_until([&] { return replicas_in(corral, "toy", "ready") == 1; }, 10s));
    // Four slow streams on one slot: a backlog, and after 200 ms a second replica.
    std::vector<std::thread> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([&] {
            corral.post("/v1/chat/completions",
                        R"({"model":"toy","max_tokens":40,"stream":true,"messages":[{"role":"user","content":"hi"}]})");
        });
    }
    EXPECT_TRUE(wait_until([&] { return replicas_in(corral, "toy", "ready") == 2; }, 10s)) << json::serialize(corral.model("toy"));
    for (auto& t : clients) t.join();
    // Idle for its ttl: back to the minimum of one.
    EXPECT_TRUE(wait_until([&] { return corral.model("toy").at("replicas").as_array().size() == 1; }, 10s));
    EXPECT_EQ(replicas_in(corral, "toy", "ready"), 1);
    EXPECT_EQ(corral.stop(), 0);
}

}  // namespace
}  // namespace corral::test
