// Models from a folder (models_dir) with the real llama-server: every whole *.gguf in it is served
// under its file's name with model_defaults' settings, an entry under "models" of the same name
// wins, a file still being written is left out (and said so), and a reload sees files added and
// removed.
#include "relay_fixture.hpp"

#include "nginx_server.hpp"
#include "process.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <fstream>

namespace corral::test {
namespace {

namespace json = boost::json;

class ModelsDir : public RelayFixture {
protected:
    // A config serving the models found in `models` with `defaults` as their model_defaults.
    std::string folder_config(const fs::path& models, const std::string& defaults) {
        return config_head(dir_) + R"(,
  "models_dir": ")" +
               models.string() + R"(",
  "model_defaults": )" +
               defaults + "\n}";
    }
    // corral trusting `web`'s certificate for its pulls.
    static std::vector<std::string> trusting(const NginxServer& web) {
        return {"/usr/bin/env", "CURL_CA_BUNDLE=" + web.certificate().string()};
    }
    std::vector<std::string> model_ids(Corral& corral) {
        std::vector<std::string> out;
        const auto list = json::parse(corral.get("/v1/models").body);  // named: the loop reads into it
        for (const auto& m : list.at("data").as_array()) out.emplace_back(m.at("id").as_string());
        std::sort(out.begin(), out.end());
        return out;
    }
    // A copy of `source` of `bytes` (all of it when 0) at `target`.
    static void copy(const fs::path& source, const fs::path& target, std::uintmax_t bytes = 0) {
        fs::create_directories(target.parent_path());
        std::ifstream in(source, std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (bytes) data.resize(bytes);
        std::ofstream(target, std::ios::binary) << data;
    }
};

TEST_F(ModelsDir, EveryWholeGgufIsServedByItsNameAndAReloadSeesNewAndRemovedFiles) {
    const auto models = dir_ / "models";
    copy(fs::path(kModels) / "tiny-a.gguf", models / "Tiny-A.gguf");
    copy(fs::path(kModels) / "tiny-b.gguf", models / "more" / "tiny-b.gguf");
    copy(fs::path(kModels) / "tiny-a.gguf", models / "half.gguf", fs::file_size(fs::path(kModels) / "tiny-a.gguf") / 2);
    Corral corral(dir_, config_head(dir_) + R"(,
  "models_dir": ")" + models.string() +
                            R"(",
  "model_defaults": {"runner": "local", "ctx_size": 1536, "ttl": "5m"},
  "models": {
    "tiny-b": {"path": ")" + kModels +
                            R"(/tiny-b.gguf", "runner": "local", "ctx_size": 1024}
  }
})");
    EXPECT_EQ(model_ids(corral), (std::vector<std::string>{"tiny-a", "tiny-b"})) << "half.gguf is still being written";

    // tiny-a comes from the folder with model_defaults' settings; tiny-b's own entry wins over the folder's file.
    auto chat =
        corral.post("/v1/chat/completions", R"({"model": "tiny-a", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]})");
    ASSERT_EQ(chat.status, 200) << chat.body;
    EXPECT_EQ(argument_after(corral.pid("tiny-a"), "--ctx-size"), "1536");
    EXPECT_EQ(argument_after(corral.pid("tiny-a"), "--model"), (models / "Tiny-A.gguf").string());
    ASSERT_EQ(corral.post("/corral/models/tiny-b/load").status, 200);
    EXPECT_EQ(argument_after(corral.pid("tiny-b"), "--ctx-size"), "1024");
    EXPECT_EQ(corral.model("tiny-a").at("ttl_seconds").as_double(), 300.0);
    EXPECT_TRUE(corral.model("tiny-a").at("from_models_dir").as_bool());
    EXPECT_FALSE(corral.model("tiny-b").contains("from_models_dir"));

    // A new file, the half-written one finished, one removed: a reload serves what is there now.
    copy(fs::path(kModels) / "tiny-b.gguf", models / "Extra.gguf");
    copy(fs::path(kModels) / "tiny-a.gguf", models / "half.gguf");
    auto reload = corral.post("/corral/reload");
    ASSERT_EQ(reload.status, 200) << reload.body;
    EXPECT_NE(reload.body.find("not served as \\\"tiny-b\\\": that name is taken under \\\"models\\\""), std::string::npos) << reload.body;
    EXPECT_EQ(model_ids(corral), (std::vector<std::string>{"extra", "half", "tiny-a", "tiny-b"}));
    EXPECT_EQ(corral.post("/v1/chat/completions", R"({"model": "extra", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})")
                  .status,
              200);

    fs::remove(models / "Extra.gguf");
    copy(fs::path(kModels) / "tiny-a.gguf", models / "HALF.gguf");  // now two files give "half": neither is served
    reload = corral.post("/corral/reload");
    ASSERT_EQ(reload.status, 200) << reload.body;
    EXPECT_NE(reload.body.find("the name \\\"half\\\" is given by several files"), std::string::npos) << reload.body;
    EXPECT_EQ(model_ids(corral), (std::vector<std::string>{"tiny-a", "tiny-b"}));
}

TEST_F(ModelsDir, MistakesNameTheirJsonPath) {
    auto check = [&](const std::string& extra) {
        std::ofstream(dir_ / "bad.json") << config_head(dir_) + extra + "}";
        return run_process({CORRAL_TEST_BINARY, "config", "check", (dir_ / "bad.json").string(), "--no-plugins"});
    };
    fs::create_directories(dir_);
    auto r = check(R"(, "models_dir": 7)");
    EXPECT_NE(r.out.find("models_dir: expected a folder's path or a list of them, got 7"), std::string::npos) << r.out;
    r = check(R"(, "models_dir": ")" + dir_.string() + R"(", "model_defaults": {"path": "x.gguf"})");
    EXPECT_NE(r.out.find("model_defaults.path: unknown key"), std::string::npos) << r.out;
    r = check(R"(, "models_dir": ")" + dir_.string() + R"(")");
    EXPECT_NE(r.out.find("model_defaults.runner: required key is missing (several runners are configured: name one)"), std::string::npos)
        << r.out;
    r = check(R"(, "model_defaults": {"ctx_size": 512})");
    EXPECT_NE(r.out.find("model_defaults: applies to the models found in \"models_dir\""), std::string::npos) << r.out;
}

}  // namespace
}  // namespace corral::test

namespace corral::test {
namespace {

TEST_F(ModelsDir, AFileDroppedInIsServedOnceWholeWithoutAReloadAndARemovedOneGoes) {
    const auto models = dir_ / "models";
    copy(fs::path(kModels) / "tiny-a.gguf", models / "tiny-a.gguf");
    Corral corral(dir_, folder_config(models, R"({"runner": "local", "ctx_size": 1024})"));
    ASSERT_EQ(model_ids(corral), (std::vector<std::string>{"tiny-a"}));
    auto events = corral.stream("GET", "/corral/events");
    const auto source = fs::path(kModels) / "tiny-b.gguf";

    // Half a file, closed (a copy interrupted, or one written in two goes): seen, and left out.
    copy(source, models / "sub" / "Fresh.gguf", fs::file_size(source) / 2);
    ASSERT_TRUE(events->read_until("Fresh.gguf: left out for now")) << events->received();
    EXPECT_EQ(model_ids(corral), (std::vector<std::string>{"tiny-a"}));

    // The whole file: served, without a reload, under its name.
    copy(source, models / "sub" / "Fresh.gguf");
    ASSERT_TRUE(events->read_until(R"("added":["fresh"])")) << events->received();
    EXPECT_EQ(model_ids(corral), (std::vector<std::string>{"fresh", "tiny-a"}));
    auto chat =
        corral.post("/v1/chat/completions", R"({"model": "fresh", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})");
    EXPECT_EQ(chat.status, 200) << chat.body;

    // Moved away: no longer served (it stops, being idle).
    fs::rename(models / "sub" / "Fresh.gguf", dir_ / "Fresh.gguf");
    ASSERT_TRUE(events->read_until(R"("removed":["fresh"])")) << events->received();
    EXPECT_EQ(model_ids(corral), (std::vector<std::string>{"tiny-a"}));
    EXPECT_TRUE(wait_until(
        [&] {
            return !corral.get("/corral/status").body.empty() && corral.get("/corral/status").body.find("\"fresh\"") == std::string::npos;
        },
        std::chrono::seconds(10)));
}

// POST /corral/models/pull: the file comes from Debian's nginx over HTTPS into the models_dir,
// its progress as server-sent events, and the watch serves it once it is renamed into place.
TEST_F(ModelsDir, APullThroughTheAdminApiIsVerifiedAndServedOnceWhole) {
    const auto source = fs::path(kModels) / "tiny-b.gguf";
    NginxServer web(dir_ / "web");
    copy(source, web.www() / "Pulled.gguf");
    const auto digest = run_process({"/usr/bin/env", "sha256sum", source.string()}).out.substr(0, 64);
    const auto models = dir_ / "models";
    fs::create_directories(models);
    Corral corral(dir_, folder_config(models, R"({"runner": "local", "ctx_size": 1024})"), trusting(web));
    auto events = corral.stream("GET", "/corral/events");

    auto pulled = corral.post("/corral/models/pull", R"({"source": ")" + web.url("/Pulled.gguf") + R"(", "sha256": ")" + digest + R"("})",
                              {{"Accept", "text/event-stream"}});
    ASSERT_EQ(pulled.status, 200) << pulled.body;
    const auto stream = sse_data(pulled.body);
    ASSERT_GE(stream.size(), 2u) << pulled.body;
    EXPECT_NE(stream.front().find(R"("event":"start")"), std::string::npos) << stream.front();
    EXPECT_NE(stream.back().find(R"("event":"done")"), std::string::npos) << stream.back();
    EXPECT_NE(stream.back().find(R"("verified":true)"), std::string::npos) << stream.back();
    ASSERT_TRUE(events->read_until(R"("added":["pulled"])")) << events->received();
    auto chat =
        corral.post("/v1/chat/completions", R"({"model": "pulled", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]})");
    EXPECT_EQ(chat.status, 200) << chat.body;
    EXPECT_EQ(json::parse(corral.get("/corral/pulls").body).at("pulls").as_array().size(), 0u);

    // A wrong digest: an OpenAI error naming the code, the file quarantined, nothing new served.
    auto wrong = corral.post("/corral/models/pull", R"({"source": ")" + web.url("/Pulled.gguf") + R"(", "name": "other", "sha256": ")" +
                                                        std::string(64, '0') + R"("})");
    EXPECT_EQ(wrong.status, 502) << wrong.body;
    EXPECT_EQ(json::parse(wrong.body).at("error").at("code"), "digest_mismatch");
    EXPECT_FALSE(fs::exists(models / "other.gguf"));
    EXPECT_TRUE(fs::exists(models / "quarantine"));
    // Mistakes in the request say what is expected.
    EXPECT_EQ(corral.post("/corral/models/pull", R"({"sha256": "x"})").status, 400);
    auto elsewhere = corral.post("/corral/models/pull", R"({"source": ")" + web.url("/Pulled.gguf") + R"(", "dir": "/tmp"})");
    EXPECT_EQ(elsewhere.status, 400);
    EXPECT_NE(elsewhere.body.find("configured models_dir"), std::string::npos) << elsewhere.body;
    EXPECT_EQ(model_ids(corral), (std::vector<std::string>{"pulled"}));
}

// DELETE /corral/pulls/ID stops a pull, and so does shutting corral down, at once, keeping what it
// fetched for the next pull of the same file.
TEST_F(ModelsDir, ACancelOrADrainStopsAPullAndKeepsItsPartForTheNextOne) {
    NginxServer web(dir_ / "web",
                    [](const NginxServer& s) { return "    location /slow/ { alias " + s.www().string() + "/; limit_rate 64k; }\n"; });
    copy(fs::path(kModels) / "tiny-b.gguf", web.www() / "slow.gguf");
    const auto models = dir_ / "models";
    fs::create_directories(models);
    Corral corral(dir_, folder_config(models, R"({"runner": "local"})"), trusting(web));
    auto events = corral.stream("GET", "/corral/events");
    auto started = corral.post("/corral/models/pull?wait=0", R"({"source": ")" + web.url("/slow/slow.gguf") + R"("})");
    ASSERT_EQ(started.status, 202) << started.body;
    ASSERT_TRUE(events->read_until(R"("event":"progress")")) << events->received();
    auto pulls = json::parse(corral.get("/corral/pulls").body).at("pulls").as_array();
    ASSERT_EQ(pulls.size(), 1u);
    EXPECT_EQ(pulls[0].at("path").as_string(), (models / "slow.gguf").string());
    EXPECT_GT(pulls[0].at("bytes").to_number<uint64_t>(), 0u);
    const auto id = std::to_string(pulls[0].at("id").to_number<uint64_t>());
    ASSERT_EQ(corral.request("DELETE", "/corral/pulls/" + id).status, 200);
    ASSERT_TRUE(events->read_until(R"("code":"cancelled")")) << events->received();
    EXPECT_EQ(corral.request("DELETE", "/corral/pulls/" + id).status, 404);
    const auto kept = fs::file_size(models / "slow.gguf.partial");
    EXPECT_GT(kept, 0u);

    // Pulled again: it goes on from there.
    ASSERT_EQ(corral.post("/corral/models/pull?wait=0", R"({"source": ")" + web.url("/slow/slow.gguf") + R"("})").status, 202);
    ASSERT_TRUE(events->read_until(R"("resumed_from":)" + std::to_string(kept))) << events->received();
    // The file takes several seconds at 64 KiB/s: the drain does not wait for it.
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(corral.stop(SIGTERM), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));
    EXPECT_FALSE(fs::exists(models / "slow.gguf"));
    EXPECT_GT(fs::file_size(models / "slow.gguf.partial"), 0u);
}

}  // namespace
}  // namespace corral::test
