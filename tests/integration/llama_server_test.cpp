// The llama_server runner and `corral run` on a real llama-server with the tiny test models.
#include "fit/server_memory_log.hpp"
#include "foreign_liar.hpp"
#include "http_client.hpp"
#include "plugins/plugin_registry.hpp"
#include "process.hpp"
#include "runner_test_support.hpp"
#include "sdk_error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <mutex>

namespace corral {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kCorral = CORRAL_TEST_BINARY;
const std::string kLlamaServer = CORRAL_TEST_LLAMA_SERVER;
const std::string kModelA = CORRAL_TEST_MODELS "/tiny-a.gguf";
const std::string kStateDir = CORRAL_TEST_STATE_DIR;

bool process_exists(int64_t pid) {
    return ::kill(static_cast<pid_t>(pid), 0) == 0;
}

class LlamaServerRunner : public ::testing::Test {
protected:
    void SetUp() override {
        plugin_ = plugins::PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR}).find("llama_server");
        ASSERT_NE(plugin_, nullptr);
        runner_ = plugin_->create_runner({{"binary", kLlamaServer}, {"state_dir", kStateDir}}, nullptr);
    }
    static sdk::ServerConfig config(const std::string& id) { return test::tiny_server_config(id, kModelA); }
    std::shared_ptr<plugins::Plugin> plugin_;
    std::unique_ptr<sdk::ProcessRunner> runner_;
};

TEST_F(LlamaServerRunner, ServesChatCompletionsUnderItsAlias) {
    auto h = runner_->start(config("chat-1"));
    auto body = test::chat_completion(h.endpoint, 6);
    EXPECT_EQ(body.at("usage").at("completion_tokens").as_int64(), 6);
    EXPECT_EQ(body.at("model").as_string(), "tiny");  // --alias
    runner_->stop(h, 10s);
}

TEST_F(LlamaServerRunner, KeepsAnInstanceRecordWhileItRuns) {
    auto h = runner_->start(config("record-1"));
    const std::string record = std::string(h.runner_data.at("record").as_string());
    ASSERT_TRUE(std::filesystem::exists(record));
    std::ifstream in(record);
    auto saved = boost::json::parse(std::string(std::istreambuf_iterator<char>(in), {}));
    EXPECT_EQ(saved.at("pid").as_int64(), *h.pid);
    EXPECT_EQ(saved.at("runner_data").at("binary").as_string(), std::filesystem::canonical(kLlamaServer).string());
    runner_->stop(h, 10s);
    EXPECT_FALSE(std::filesystem::exists(record));
}

TEST_F(LlamaServerRunner, MissingBinaryIsReportedBeforeSpawning) {
    auto c = config("nobin");
    c.runner_options = {{"binary", "/nonexistent/llama-server"}};
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/llama-server"));
    c.runner_options = {{"binary", "no-such-llama-server-anywhere"}};
    EXPECT_THAT(test::expect_sdk_error([&] { runner_->start(c); }).what(), HasSubstr("not found in PATH"));
}

TEST_F(LlamaServerRunner, AServerThatDiesWhileStartingFailsAtOnceWithItsLog) {
    auto bad = std::filesystem::path(kStateDir) / "not-a-model.gguf";
    std::filesystem::create_directories(kStateDir);
    std::ofstream(bad) << "this is not a GGUF file";
    auto c = config("badmodel");
    c.model_path = bad.string();
    auto started = std::chrono::steady_clock::now();
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);  // not the startup timeout
    EXPECT_EQ(e.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(e.what(), HasSubstr("exited with status"));
    EXPECT_THAT(e.what(), HasSubstr("Last lines:"));
    EXPECT_TRUE(runner_->list_running().empty());
}

// Below its default verbosity llama-server never logs the "listening" line the runner waits for:
// the runner checks /health from the start instead (these waited out the startup timeout before).
TEST_F(LlamaServerRunner, AServerThatDoesNotLogThatItListensIsReadyAllTheSame) {
    auto quiet = config("quiet-1");
    quiet.runner_options = {{"log_verbosity", 1}, {"startup_timeout_ms", 30000}};
    test::expect_quiet_start_serves(*runner_, quiet);

    auto silent = config("silent-1");
    silent.extra_args = {"--log-disable"};
    silent.runner_options = {{"startup_timeout_ms", 30000}};
    test::expect_quiet_start_serves(*runner_, silent);
}

// By default a server listens on a Unix socket in the runner's private directory (no port another
// process could take or reach it by), gone with the server; "tcp" gives it a port as before.
TEST_F(LlamaServerRunner, ListensOnAUnixSocketInItsOwnDirectoryUnlessToldTcp) {
    auto h = runner_->start(config("socket-1"));
    ASSERT_THAT(h.endpoint, ::testing::StartsWith("unix://" + kStateDir + "/sockets/"));
    const std::string socket = h.endpoint.substr(7);
    EXPECT_EQ(std::string(h.runner_data.at("socket").as_string()), socket);
    EXPECT_FALSE(h.runner_data.as_object().contains("port"));
    struct stat st {};
    ASSERT_EQ(::lstat(socket.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    ASSERT_EQ(::stat((kStateDir + "/sockets").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    // The server has no TCP port: its command line names the socket and no --port.
    std::ifstream cmdline("/proc/" + std::to_string(*h.pid) + "/cmdline");
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    EXPECT_THAT(args, HasSubstr(std::string("--host") + '\0' + socket + '\0'));
    EXPECT_THAT(args, ::testing::Not(HasSubstr("--port")));
    EXPECT_EQ(test::chat_completion(h.endpoint, 3).at("usage").at("completion_tokens").as_int64(), 3);
    EXPECT_EQ(runner_->health(h).state, sdk::HealthState::Ok);
    runner_->stop(h, 10s);
    EXPECT_FALSE(std::filesystem::exists(socket));

    auto c = config("tcp-1");
    c.runner_options = {{"transport", "tcp"}};
    auto t = runner_->start(c);
    EXPECT_THAT(t.endpoint, ::testing::StartsWith("http://127.0.0.1:"));
    EXPECT_EQ(test::chat_completion(t.endpoint, 2).at("usage").at("completion_tokens").as_int64(), 2);
    runner_->stop(t, 10s);
}

TEST_F(LlamaServerRunner, AFixedPortInUseIsAClearError) {
    auto tcp = config("port-1");
    tcp.runner_options = {{"transport", "tcp"}};
    auto first = runner_->start(tcp);
    auto c = config("port-2");
    c.port = static_cast<uint16_t>(std::stoi(first.endpoint.substr(first.endpoint.rfind(':') + 1)));
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_EQ(e.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(e.what(), HasSubstr("in use"));
    runner_->stop(first, 10s);
}

// A server that will not say it listens is checked from its start, so while another process holds
// its port (ours fails to bind and exits) that process answers the checks: it must not pass for the
// server started, which holds the key it was given and the process on the port does not.
TEST_F(LlamaServerRunner, AQuietServerIsNotTakenForAnotherOnItsPort) {
    auto holder_config = config("holder-1");  // no key: it answers everyone
    holder_config.runner_options = {{"transport", "tcp"}};
    auto holder = runner_->start(holder_config);
    auto c = config("quiet-2");
    c.port = static_cast<uint16_t>(std::stoi(holder.endpoint.substr(holder.endpoint.rfind(':') + 1)));
    c.env = {{"LLAMA_API_KEY", "quiet-2-key"}};
    c.runner_options = {{"log_verbosity", 1}, {"startup_timeout_ms", 30000}};
    const auto started = std::chrono::steady_clock::now();
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_LT(std::chrono::steady_clock::now() - started, 25s);  // its exit ended it, not the timeout
    EXPECT_EQ(e.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(e.what(), HasSubstr("in use"));
    // And a quiet server on a port of its own proves itself and serves (with its key).
    c.port.reset();
    c.instance_id = "quiet-3";
    auto h = runner_->start(c);
    EXPECT_EQ(test::chat_completion(h.endpoint, 2, "quiet-2-key").at("usage").at("completion_tokens").as_int64(), 2);
    runner_->stop(h, 10s);
    runner_->stop(holder, 10s);
}

// The same with a squatter that fakes holding any key, of another user: told apart by the kernel's
// socket table before the key is sent to it, and the start ends with our server's exit.
TEST_F(LlamaServerRunner, AQuietServerIsNotTakenForAnotherUsersListenerOnItsPort) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
    test::ForeignLiar liar;
    auto c = config("quiet-4");
    c.port = liar.port;
    c.env = {{"LLAMA_API_KEY", "quiet-4-key"}};
    c.runner_options = {{"log_verbosity", 1}, {"startup_timeout_ms", 30000}};
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_EQ(e.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(e.what(), HasSubstr("in use"));
}

// `corral fit`'s weights and KV cache against the buffer sizes the real llama-server logs (read
// from the runner's log events, as `corral serve` reads them), for two cache types. (The tiny model's
// heads are 16 wide: quantized caches, 32-wide blocks, are refused by llama-server and corral fit alike.)
TEST(FitAgainstLlamaServer, WeightsAndKvCacheMatchTheServersOwnFiguresWithinTenPercent) {
    std::mutex mutex;
    fit::ServerMemoryLog logged;
    auto plugin = plugins::PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR}).find("llama_server");
    ASSERT_NE(plugin, nullptr);
    auto runner = plugin->create_runner({{"binary", kLlamaServer}, {"state_dir", kStateDir}}, [&](const plugins::RunnerEvent& ev) {
        if (ev.kind != plugins::RunnerEvent::Kind::LogLine) return;
        std::lock_guard lock(mutex);
        logged.add_line(std::string(ev.payload.at("line").as_string()));
    });
    for (const char* cache_type : {"f16", "f32"}) {
        SCOPED_TRACE(cache_type);
        {
            std::lock_guard lock(mutex);
            logged = {};
        }
        sdk::ServerConfig c;
        c.instance_id = std::string("fit-") + cache_type;
        c.model_id = c.model_name = "tiny";
        c.model_path = kModelA;
        c.ctx_size = 1024;
        c.cache_type_k = c.cache_type_v = cache_type;
        auto h = runner->start(c);
        runner->stop(h, 10s);

        auto r = test::run_process({kCorral, "fit", kModelA, "--ctx", "1024", "--cache-type", cache_type, "--no-probe", "--json"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto estimate = boost::json::parse(r.out).at("estimate");
        std::lock_guard lock(mutex);
        ASSERT_FALSE(logged.empty()) << "no buffer sizes in the server's log (is --log-verbosity 4 passed?)";
        auto within = [](uint64_t ours, uint64_t theirs) {
            return std::abs(static_cast<double>(ours) - static_cast<double>(theirs)) <= 0.1 * static_cast<double>(theirs);
        };
        auto weights = estimate.at("weights").to_number<uint64_t>(), kv = estimate.at("kv").to_number<uint64_t>();
        EXPECT_TRUE(within(weights, logged.model())) << "corral " << weights << " B, llama-server " << logged.model() << " B";
        EXPECT_TRUE(within(kv, logged.kv())) << "corral " << kv << " B, llama-server " << logged.kv() << " B";
        EXPECT_GT(logged.compute(), 0u);
    }
}

TEST(FitAgainstLlamaServer, ACacheTypeTheServerRefusesIsRefused) {
    auto r = test::run_process({kCorral, "fit", kModelA, "--cache-type", "q8_0", "--no-probe"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.err, HasSubstr("K cache type q8_0 needs a head size divisible by 32; this model's is 16"));
}

TEST(CorralRun, ServesAModelAndCtrlCLeavesNoServerBehind) {
    test::SpawnedProcess run({kCorral, "run", kModelA, "--binary", kLlamaServer, "--ctx-size", "512", "--json"});
    auto line = run.read_line();
    ASSERT_FALSE(line.empty()) << "corral run printed nothing";
    auto handle = boost::json::parse(line);
    const auto pid = handle.at("pid").as_int64();
    // An address to use directly: TCP, though the runner's default would be a Unix socket.
    EXPECT_THAT(std::string(handle.at("endpoint").as_string()), ::testing::StartsWith("http://127.0.0.1:"));
    auto body = test::chat_completion(std::string(handle.at("endpoint").as_string()), 4);
    EXPECT_EQ(body.at("usage").at("completion_tokens").as_int64(), 4);
    EXPECT_FALSE(std::string(body.at("choices").at(0).at("message").at("content").as_string()).empty());

    int status = run.kill_and_wait(SIGINT);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_FALSE(process_exists(pid)) << "llama-server " << pid << " survived corral run";
}

TEST(CorralRun, AServerThatDiesEndsCorralRunWithStatusOne) {
    test::SpawnedProcess run({kCorral, "run", kModelA, "--binary", kLlamaServer, "--ctx-size", "512", "--json"});
    auto handle = boost::json::parse(run.read_line());
    ASSERT_EQ(::kill(static_cast<pid_t>(handle.at("pid").as_int64()), SIGKILL), 0);
    EXPECT_EQ(run.read_line(), "");  // corral run exits: its stdout closes
    int status = run.kill_and_wait(0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1);
}

}  // namespace
}  // namespace corral
