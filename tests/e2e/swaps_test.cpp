// Swaps users do not feel, end to end on the real llama-server: a model swapped out and back (an
// eviction, an unload) answers a repeated long prompt from the prompt cache its server saved before
// it stopped; a changed setting discards the saved cache; the disk budget prunes the least recently
// used; a model may opt out.
#include "http_client.hpp"
#include "process.hpp"
#include "serve_harness.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <thread>

namespace corral::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kModels = CORRAL_TEST_MODELS;

class Swaps : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::path(CORRAL_TEST_WORK_DIR) / ("swaps-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
    }

    // tiny-a and tiny-b with room for one of them; `kv_cache` is the top-level setting ("" for the
    // defaults), `a_settings` more keys for tiny-a.
    std::string config(const std::string& kv_cache = "", const std::string& a_settings = "", const std::string& b_settings = "") {
        return config_head(dir_) + R"(,
  "scheduler": {"max_loaded": 1},)" +
               (kv_cache.empty() ? "" : "\n  \"kv_cache\": " + kv_cache + ",") + R"(
  "models": {
    "tiny-a": {"path": ")" +
               kModels + R"(/tiny-a.gguf", "runner": "local", "ctx_size": 4096, "memory": "64MiB")" + a_settings + R"(},
    "tiny-b": {"path": ")" +
               kModels + R"(/tiny-b.gguf", "runner": "local", "ctx_size": 4096, "memory": "64MiB")" + b_settings + R"(}
  }
})";
    }

    // A ~1,800-token prompt (the tiny models' vocabulary splits it finely), answered with 2 tokens:
    // the server's timings say how much of it came from its cache.
    static json::object complete(Corral& corral, const std::string& model, const std::string& prompt) {
        auto r = corral.post("/completion", json::serialize(json::object{{"model", model}, {"prompt", prompt}, {"n_predict", 2}}));
        EXPECT_EQ(r.status, 200) << r.body;
        if (r.status != 200) return {};
        return json::parse(r.body).at("timings").as_object();
    }
    static int64_t cached(const json::object& timings) {
        return timings.contains("cache_n") ? timings.at("cache_n").to_number<int64_t>() : -1;
    }

    static std::string prefix(const std::string& word) {
        std::string p;
        for (int i = 0; i < 150; ++i) p += word + " world ";
        return p;
    }
    // Saved slot files of a model (every fingerprint).
    std::vector<fs::path> saved(const std::string& model) {
        std::vector<fs::path> out;
        std::error_code ec;
        for (fs::recursive_directory_iterator it(dir_ / "state" / "kv-cache" / model, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->is_regular_file() && it->path().extension() == ".bin") out.push_back(it->path());
        }
        return out;
    }
    static int64_t metric(Corral& corral, const std::string& series) {
        const auto text = corral.get("/metrics").body;
        const auto at = text.find("\n" + series + " ");  // a sample line, not its # HELP
        return at == std::string::npos ? 0 : std::stoll(text.substr(at + series.size() + 2));
    }
    template <class Pred>
    static bool wait_until(Pred done, std::chrono::milliseconds limit = 30s) {
        return test::wait_until(done, limit);
    }

    fs::path dir_;
};

TEST_F(Swaps, AModelSwappedOutAndBackAnswersARepeatedPrefixFromItsRestoredCache) {
    Corral corral(dir_, config());
    const auto prompt = prefix("hello");
    auto first = complete(corral, "tiny-a", prompt);
    ASSERT_EQ(cached(first), 0);
    ASSERT_GT(first.at("prompt_n").to_number<int64_t>(), 1000);

    // tiny-b takes the room: tiny-a's server saves its slot before it stops.
    complete(corral, "tiny-b", prefix("other"));
    EXPECT_EQ(corral.state("tiny-a"), "unloaded");
    ASSERT_EQ(saved("tiny-a").size(), 1u);
    EXPECT_EQ(saved("tiny-a")[0].filename().string().rfind("slot-0.", 0), 0u);
    EXPECT_EQ(metric(corral, R"(corral_slot_caches_total{model="tiny-a",action="save",result="ok"})"), 1);

    // Back again: restored before the request went in, the prefix is not evaluated again.
    auto again = complete(corral, "tiny-a", prompt);
    EXPECT_GT(cached(again), 1000) << json::serialize(again);
    EXPECT_LT(again.at("prompt_n").to_number<int64_t>(), 10);
    EXPECT_EQ(metric(corral, R"(corral_slot_caches_total{model="tiny-a",action="restore",result="ok"})"), 1);
    EXPECT_GT(metric(corral, R"(corral_slot_cache_tokens_total{model="tiny-a",action="restore"})"), 1000);

    // An unload saves too (tiny-b went the same way when tiny-a came back).
    ASSERT_EQ(saved("tiny-b").size(), 1u);
    ASSERT_EQ(corral.post("/corral/models/tiny-a/unload").status, 200);
    ASSERT_TRUE(wait_until([&] { return corral.state("tiny-a") == "unloaded"; }));
    EXPECT_EQ(metric(corral, R"(corral_slot_caches_total{model="tiny-a",action="save",result="ok"})"), 2);
    EXPECT_EQ(saved("tiny-a").size(), 1u);  // the newest per slot: the older file went
    EXPECT_GT(cached(complete(corral, "tiny-a", prompt)), 1000);
    EXPECT_EQ(corral.stop(), 0);
}

TEST_F(Swaps, AChangedSettingDiscardsTheSavedCacheAndAModelMayOptOut) {
    Corral corral(dir_, config("", "", R"(, "kv_cache": {"keep": false})"));
    const auto prompt = prefix("hello");
    complete(corral, "tiny-a", prompt);
    complete(corral, "tiny-b", prompt);
    ASSERT_EQ(saved("tiny-a").size(), 1u);
    // tiny-b keeps nothing: its server was not even given a place to save in.
    EXPECT_EQ(argument_after(corral.model("tiny-b").at("pid").to_number<int64_t>(), "--slot-save-path"), std::nullopt);
    EXPECT_TRUE(saved("tiny-b").empty());

    // A different batch size makes a different server: the cache saved by the old one is dropped.
    corral.rewrite_config(config("", R"(, "batch_size": 256)", R"(, "kv_cache": {"keep": false})"));
    ASSERT_EQ(corral.post("/corral/reload").status, 200);
    EXPECT_TRUE(saved("tiny-a").empty());
    auto again = complete(corral, "tiny-a", prompt);
    EXPECT_EQ(cached(again), 0);
    EXPECT_EQ(metric(corral, R"(corral_slot_caches_total{model="tiny-a",action="restore",result="ok"})"), 0);
    EXPECT_EQ(corral.stop(), 0);
}

TEST_F(Swaps, TheDiskBudgetPrunesTheLeastRecentlyUsedCache) {
    // One slot of ~1,800 tokens of a tiny model is ~0.9 MiB: room for one.
    Corral corral(dir_, config(R"({"max_disk": "1500KiB"})"));
    const auto prompt = prefix("hello");
    complete(corral, "tiny-a", prompt);
    complete(corral, "tiny-b", prompt);  // tiny-a saved
    ASSERT_EQ(saved("tiny-a").size(), 1u);
    complete(corral, "tiny-a", prefix("third"));  // tiny-b saved: together past the budget, tiny-a's older file goes
    EXPECT_EQ(saved("tiny-b").size(), 1u);
    EXPECT_EQ(metric(corral, "corral_slot_cache_files_pruned_total"), 1);
    EXPECT_TRUE(saved("tiny-a").empty());
    EXPECT_EQ(corral.stop(), 0);
}

// The container runner's servers save into the same directory, mounted at the same path.
TEST_F(Swaps, AContainerModelKeepsItsPromptCacheToo) {
    const std::string podman_dir = CORRAL_TEST_PODMAN_DIR;
    auto text = config("", "", "");
    const std::string runners = R"("runners": {)";
    text.replace(text.find(runners), runners.size(),
                 runners + R"(
    "boxed": {"plugin": "container", "engine": "podman", "image": ")" CORRAL_TEST_IMAGE R"(", "name_prefix": "corral-swaps-",
              "engine_env": {"CONTAINERS_CONF": ")" +
                     podman_dir + R"(/containers.conf", "CONTAINERS_STORAGE_CONF": ")" + podman_dir + R"(/storage.conf"}},)");
    const std::string local_a = R"("tiny-a": {"path": ")" + kModels + R"(/tiny-a.gguf", "runner": "local")";
    text.replace(text.find(local_a), local_a.size(), R"("tiny-a": {"path": ")" + kModels + R"(/tiny-a.gguf", "runner": "boxed")");
    Corral corral(dir_, text);
    const auto prompt = prefix("hello");
    ASSERT_EQ(cached(complete(corral, "tiny-a", prompt)), 0);
    EXPECT_EQ(corral.model("tiny-a").at("runner"), "boxed");
    complete(corral, "tiny-b", prompt);  // the container stops; its server saved first
    ASSERT_EQ(saved("tiny-a").size(), 1u);
    auto again = complete(corral, "tiny-a", prompt);
    EXPECT_GT(cached(again), 1000) << json::serialize(again);
    EXPECT_EQ(corral.stop(), 0);
}

// The ssh runner's servers save on the remote host (here the private sshd on this machine), under
// the runner's remote state directory: corral lists, prunes and drops them there through the runner.
TEST_F(Swaps, AnSshModelKeepsItsPromptCacheOnTheRemoteHost) {
    const std::string sshd = CORRAL_TEST_SSHD_DIR;
    const auto remote_state = dir_ / "remote-state";
    // Both models on the ssh runner.
    const auto ssh_config = [&](const std::string& kv_cache, const std::string& a_settings) {
        auto text = config(kv_cache, a_settings);
        const std::string runners = R"("runners": {)";
        text.replace(text.find(runners), runners.size(),
                     runners + R"(
    "gpu-box": {"plugin": "ssh", "host": "corral-test", "ssh_config": ")" +
                         sshd + R"(/ssh_config", "binary": ")" + std::string(CORRAL_TEST_LLAMA_SERVER) + R"(", "remote_state_dir": ")" +
                         remote_state.string() + R"("},)");
        for (const std::string model : {"tiny-a", "tiny-b"}) {
            const auto local = "/" + model + R"(.gguf", "runner": "local")";
            text.replace(text.find(local), local.size(), "/" + model + R"(.gguf", "runner": "gpu-box")");
        }
        return text;
    };
    // Saved slot files of a model on the remote host.
    const auto remote_saved = [&](const std::string& model) {
        std::vector<fs::path> out;
        std::error_code ec;
        for (fs::recursive_directory_iterator it(remote_state / "kv-cache" / model, ec), end; !ec && it != end; it.increment(ec)) {
            if (it->is_regular_file() && it->path().extension() == ".bin") out.push_back(it->path());
        }
        return out;
    };
    Corral corral(dir_, ssh_config("", ""));
    const auto prompt = prefix("hello");
    ASSERT_EQ(cached(complete(corral, "tiny-a", prompt)), 0);
    EXPECT_EQ(corral.model("tiny-a").at("runner"), "gpu-box");
    const auto pid = corral.model("tiny-a").at("runner_details").at("remote_pid").to_number<int64_t>();
    const auto save_path = argument_after(pid, "--slot-save-path");
    ASSERT_TRUE(save_path);
    EXPECT_EQ(save_path->rfind((remote_state / "kv-cache" / "tiny-a").string() + "/", 0), 0u) << *save_path;

    complete(corral, "tiny-b", prefix("other"));  // tiny-a's server saves on the remote host, then stops
    ASSERT_EQ(remote_saved("tiny-a").size(), 1u);
    EXPECT_TRUE(saved("tiny-a").empty());  // nothing on corral's own disk
    auto again = complete(corral, "tiny-a", prompt);
    EXPECT_GT(cached(again), 1000) << json::serialize(again);
    EXPECT_EQ(metric(corral, R"(corral_slot_caches_total{model="tiny-a",action="restore",result="ok"})"), 1);
    ASSERT_EQ(remote_saved("tiny-b").size(), 1u);

    // A budget for one file: tiny-a's next save takes that disk past it, and the least recently saved
    // file there (tiny-b's) goes.
    corral.rewrite_config(ssh_config(R"({"max_disk": "1000KiB"})", ""));
    ASSERT_EQ(corral.post("/corral/reload").status, 200);
    complete(corral, "tiny-b", prefix("other"));
    EXPECT_EQ(remote_saved("tiny-a").size(), 1u);
    EXPECT_TRUE(remote_saved("tiny-b").empty());
    EXPECT_EQ(metric(corral, "corral_slot_cache_files_pruned_total"), 1);

    // A changed setting: the caches tiny-a's old settings saved are dropped on the remote host too.
    corral.rewrite_config(ssh_config(R"({"max_disk": "1000KiB"})", R"(, "batch_size": 256)"));
    ASSERT_EQ(corral.post("/corral/reload").status, 200);
    EXPECT_TRUE(wait_until([&] { return remote_saved("tiny-a").empty(); }));
    EXPECT_EQ(corral.stop(), 0);
}

}  // namespace
}  // namespace corral::test
