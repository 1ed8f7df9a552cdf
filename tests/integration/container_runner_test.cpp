// The container runner's own cases on real podman (tests/container/podman_fixture.sh): the errors a
// user meets first, and the containers a crashed host leaves behind.
#include "event_log.hpp"
#include "plugins/plugin_registry.hpp"
#include "process.hpp"
#include "runner_test_support.hpp"
#include "sdk_error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>

namespace corral {
namespace {

namespace fs = std::filesystem;
using plugins::RunnerEvent;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kPodmanDir = CORRAL_TEST_PODMAN_DIR;
const std::string kModelA = CORRAL_TEST_MODELS "/tiny-a.gguf";
const std::map<std::string, std::string> kPodmanEnv = {{"CONTAINERS_CONF", kPodmanDir + "/containers.conf"},
                                                       {"CONTAINERS_STORAGE_CONF", kPodmanDir + "/storage.conf"}};
constexpr const char* kPrefix = "corral-itest-";

test::ProcessResult podman(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/podman");
    return test::run_process(args, kPodmanEnv);
}

class ContainerRunner : public ::testing::Test {
protected:
    void SetUp() override {
        plugin_ = plugins::PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR}).find("container");
        ASSERT_NE(plugin_, nullptr);
    }
    void TearDown() override {
        if (runner_) test::stop_all(*runner_);
        runner_.reset();
    }
    static boost::json::object options() {
        boost::json::object env;
        for (const auto& [k, v] : kPodmanEnv) env[k] = v;
        return {{"engine", "podman"}, {"image", CORRAL_TEST_IMAGE}, {"name_prefix", kPrefix}, {"engine_env", env}};
    }
    void make_runner(const boost::json::object& opts) { runner_ = plugin_->create_runner(opts, events_.handler()); }
    static sdk::ServerConfig config(const std::string& id) { return test::tiny_server_config(id, kModelA); }

    std::shared_ptr<plugins::Plugin> plugin_;
    test::EventLog events_;
    std::unique_ptr<sdk::ProcessRunner> runner_;
};

TEST_F(ContainerRunner, AMissingImageSaysHowToGetIt) {
    auto opts = options();
    opts["image"] = "corral-test/no-such-image:1";
    make_runner(opts);
    auto e = test::expect_sdk_error([&] { runner_->start(config("noimage")); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("podman pull corral-test/no-such-image:1"));
}

TEST_F(ContainerRunner, AMissingEngineIsAConfigurationError) {
    auto opts = options();
    opts["engine_command"] = "/nonexistent/podman";
    make_runner(opts);
    auto e = test::expect_sdk_error([&] { runner_->start(config("noengine")); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/podman"));
}

TEST_F(ContainerRunner, AModelPathThatCannotBeMountedIsAConfigurationError) {
    make_runner(options());
    auto dir = fs::temp_directory_path() / "corral-container-test, with comma";
    fs::create_directories(dir);
    fs::remove(dir / "m.gguf");
    fs::create_symlink(kModelA, dir / "m.gguf");
    auto c = config("comma");
    c.model_path = (dir / "m.gguf").string();
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
    EXPECT_THAT(e.what(), HasSubstr("with comma"));
    fs::remove_all(dir);
}

// What a restarted host finds: the running container of its predecessor (listed, adoptable), and a
// stopped one with corral's labels (removed).
// Below its default verbosity llama-server never logs that it listens: the runner checks /health
// from the start instead of waiting out the timeout, and with a key, that the server answering on
// the published port holds it.
TEST_F(ContainerRunner, AServerThatDoesNotLogThatItListensIsReadyAllTheSame) {
    auto opts = options();
    opts["log_verbosity"] = 1;
    opts["startup_timeout_ms"] = 30000;
    make_runner(opts);
    test::expect_quiet_start_serves(*runner_, config("quiet"));
    auto keyed = config("quiet-keyed");
    keyed.env["LLAMA_API_KEY"] = "quiet-key";
    test::expect_quiet_start_serves(*runner_, keyed);
}

TEST_F(ContainerRunner, ARestartedHostListsRunningContainersAndRemovesStoppedOnes) {
    make_runner(options());
    auto running = runner_->start(config("survivor"));
    ASSERT_EQ(podman({"create", "--name", std::string(kPrefix) + "ghost", "--label", std::string("io.corral.prefix=") + kPrefix, "--label",
                      "io.corral.instance=ghost", "--entrypoint", "llama-server", CORRAL_TEST_IMAGE, "--version"})
                  .exit_code,
              0);
    auto restarted = plugin_->create_runner(options(), nullptr);
    std::map<std::string, std::string> found;
    for (const auto& h : restarted->list_running()) found[h.instance_id] = h.endpoint;
    EXPECT_EQ(found["survivor"], running.endpoint);
    EXPECT_EQ(found.count("ghost"), 0u);
    EXPECT_NE(podman({"container", "exists", std::string(kPrefix) + "ghost"}).exit_code, 0) << "a stopped stray container was kept";
    auto adopted = restarted->adopt(running);
    EXPECT_EQ(adopted.endpoint, running.endpoint);
    EXPECT_EQ(restarted->health(adopted).state, sdk::HealthState::Ok);
    restarted->stop(adopted, 10s);
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Exited, "survivor")) << "the first runner did not see its container end";
}

}  // namespace
}  // namespace corral
