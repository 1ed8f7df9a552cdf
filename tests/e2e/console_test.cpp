// The web console in a real browser: tests/e2e/console_browser.cjs drives Debian's chromium
// (puppeteer-core) against `corral serve` with the demo's models, and this test restarts corral
// when the script asks (to see the page reconnect). Screenshots land in the test's directory.
// Also the console's HTTP surface with a plain client: redirects, ETag/304, gzip, CSP, the
// setting that turns it off.
#include "relay_fixture.hpp"

#include "nginx_server.hpp"
#include "process.hpp"

#include <boost/json.hpp>

#include <fstream>

namespace corral::test {
namespace {

namespace json = boost::json;

class Console : public RelayFixture {
protected:
    // tiny-a and tiny-b on the real llama-server; toy streams its reasoning, then its reply, a word every 20 ms.
    std::string demo_config(const std::string& extra = "") {
        auto text = config(extra, "", R"(, "runner_options": {"token_delay_ms": 20, "reasoning": "Let me think about it first."})");
        const auto at = text.find("127.0.0.1:0");
        port_ = free_port();
        text.replace(at, 11, "127.0.0.1:" + std::to_string(port_));
        return text;
    }

    // Runs the browser script; `restart` is called when it prints RESTART. The script's output is
    // the failure message.
    void run_browser(const std::vector<std::string>& args, const std::function<void()>& restart = {}) {
        std::vector<std::string> argv = {"/usr/bin/env", "NODE_PATH=" CORRAL_TEST_NODE_MODULES, "node",
                                         CORRAL_TEST_SOURCE_DIR "/tests/e2e/console_browser.cjs"};
        argv.insert(argv.end(), args.begin(), args.end());
        SpawnedProcess node(argv);
        std::string output;
        for (std::string line = node.read_line(); !line.empty(); line = node.read_line()) {
            output += line + "\n";
            if (line == "RESTART") {
                ASSERT_TRUE(restart) << output;
                restart();
                std::ofstream(dir_ / "browser" / "restarted") << "yes\n";
            }
        }
        const int status = node.kill_and_wait(0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
        EXPECT_NE(output.find("PASSED"), std::string::npos) << output;
    }

    uint16_t port_ = 0;
};

TEST_F(Console, APersonLoadsChatsWatchesAndUnloadsEveryModelInABrowser) {
    // A web server to pull a model from (a copy of tiny-b), into the models_dir.
    NginxServer web(dir_ / "web",
                    [](const NginxServer& s) { return "    location /slow/ { alias " + s.www().string() + "/; limit_rate 32k; }\n"; });
    fs::copy_file(fs::path(kModels) / "tiny-b.gguf", web.www() / "Pulled-B.gguf");
    const auto digest = run_process({"/usr/bin/env", "sha256sum", kModels + "/tiny-b.gguf"}).out.substr(0, 64);
    fs::create_directories(dir_ / "models");
    auto corral = std::make_unique<Corral>(
        dir_,
        demo_config(R"(, "models_dir": ")" + (dir_ / "models").string() + R"(", "model_defaults": {"runner": "local", "ctx_size": 1024})"),
        std::vector<std::string>{"/usr/bin/env", "CURL_CA_BUNDLE=" + web.certificate().string()});
    ASSERT_EQ(corral->port, port_);
    run_browser({"full", "http://127.0.0.1:" + std::to_string(port_), (dir_ / "browser").string(), web.url("/Pulled-B.gguf"), digest,
                 web.url("/slow/Pulled-B.gguf")},
                [&] {
                    EXPECT_EQ(corral->stop(SIGTERM), 0);
                    corral->start();
                    EXPECT_EQ(corral->port, port_) << "corral came back on another port";
                });
    for (const char* shot : {"models", "logs", "playground", "activity", "models-pulled"}) {
        EXPECT_TRUE(fs::exists(dir_ / "browser" / (std::string(shot) + ".png"))) << shot;
    }
}

TEST_F(Console, AsksForTheAdminKeyOnceAndTheApiKeyForThePlayground) {
    Corral corral(dir_, demo_config(R"(, "admin_api_key": "admin-secret", "api_keys": ["model-secret"])"));
    // The console's files need no key (they hold no data); what they call does.
    EXPECT_EQ(corral.get("/ui/").status, 200);
    EXPECT_EQ(corral.get("/corral/status").status, 401);
    run_browser({"keys", "http://127.0.0.1:" + std::to_string(port_), (dir_ / "browser").string(), "admin-secret", "model-secret"});
}

TEST_F(Console, ServesItsFilesWithValidatorsCompressionAndAStrictPolicy) {
    Corral corral(dir_, demo_config(R"(, "api_keys": ["model-secret"])"));
    // A browser opening corral's address goes to the console; an API client still reaches the
    // default model's server at / (here several models: corral's list of their pages).
    auto browser = corral.get("/", {{"Accept", "text/html,application/xhtml+xml"}});
    EXPECT_EQ(browser.status, 302);
    EXPECT_EQ(browser.headers["location"], "/ui/");
    EXPECT_EQ(corral.get("/").status, 401) << "without Accept: text/html, / is the model's page and needs a key";
    auto bare = corral.get("/ui");
    EXPECT_EQ(bare.status, 301);
    EXPECT_EQ(bare.headers["location"], "/ui/");

    auto page = corral.get("/ui/");
    ASSERT_EQ(page.status, 200);
    EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
    EXPECT_NE(page.body.find(R"(<script type="module" src="js/app.js">)"), std::string::npos);
    EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script";
    const auto csp = page.headers["content-security-policy"];
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
    EXPECT_EQ(page.headers["x-content-type-options"], "nosniff");
    EXPECT_EQ(corral.get("/ui/index.html").body, page.body);

    // Revalidation: the same ETag gives 304 without a body; HEAD gives GET's header.
    const auto etag = page.headers["etag"];
    ASSERT_FALSE(etag.empty());
    auto again = corral.get("/ui/", {{"If-None-Match", etag}});
    EXPECT_EQ(again.status, 304);
    EXPECT_TRUE(again.body.empty());
    EXPECT_EQ(corral.get("/ui/", {{"If-None-Match", "\"other\""}}).status, 200);

    // gzip when accepted (and smaller), with its own ETag; the same bytes once inflated (checked by curl).
    auto js = corral.get("/ui/js/models.js", {{"Accept-Encoding", "gzip, br"}});
    ASSERT_EQ(js.status, 200);
    EXPECT_EQ(js.headers["content-encoding"], "gzip");
    EXPECT_EQ(js.headers["content-type"], "text/javascript; charset=utf-8");
    EXPECT_EQ(js.headers["vary"], "Accept-Encoding");
    EXPECT_NE(js.headers["etag"], corral.get("/ui/js/models.js").headers["etag"]);
    auto curl =
        run_process({"/usr/bin/env", "curl", "-sS", "--compressed", "http://127.0.0.1:" + std::to_string(port_) + "/ui/js/models.js"});
    EXPECT_EQ(curl.out, corral.get("/ui/js/models.js").body);
    EXPECT_EQ(corral.get("/ui/js/models.js", {{"Accept-Encoding", "gzip;q=0"}}).headers.count("content-encoding"), 0u);

    EXPECT_EQ(corral.get("/ui/console.css").headers["content-type"], "text/css; charset=utf-8");
    EXPECT_EQ(corral.get("/ui/favicon.svg").headers["content-type"], "image/svg+xml");
    EXPECT_EQ(corral.get("/ui/nothing.js").status, 404);
    EXPECT_EQ(corral.get("/ui/../config.json").status, 404);
    EXPECT_EQ(corral.post("/ui/", "x", {{"Authorization", "Bearer model-secret"}}).status, 404);

    // The activity the console charts.
    auto activity = json::parse(corral.get("/corral/activity", {{"Authorization", "Bearer model-secret"}}).body).as_object();
    EXPECT_EQ(activity.at("bucket_seconds").as_int64(), 10);
    EXPECT_EQ(activity.at("buckets").as_int64(), 60);
}

TEST_F(Console, CanBeTurnedOff) {
    Corral corral(dir_, demo_config(R"(, "console": false)"));
    EXPECT_EQ(corral.get("/ui/").status, 404);
    // A browser's GET / is the default model's page again (several models here: corral's list of them).
    auto index = corral.get("/", {{"Accept", "text/html"}});
    EXPECT_EQ(index.status, 200);
    EXPECT_NE(index.body.find("/upstream/tiny-a/"), std::string::npos);
}

}  // namespace
}  // namespace corral::test
