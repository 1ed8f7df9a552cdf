// The ssh runner against a real sshd on loopback (tests/ssh/sshd_fixture.sh) and the real
// llama-server: a lost connection, a remote server killed behind its back, names built to break a
// shell, and host keys that do not match.
#include "event_log.hpp"
#include "foreign_liar.hpp"
#include "http_client.hpp"
#include "plugins/plugin_registry.hpp"
#include "runner_test_support.hpp"
#include "sdk_error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace corral {
namespace {

namespace fs = std::filesystem;
using plugins::RunnerEvent;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::string kSshdDir = CORRAL_TEST_SSHD_DIR;
const std::string kLlamaServer = CORRAL_TEST_LLAMA_SERVER;
const std::string kModelA = CORRAL_TEST_MODELS "/tiny-a.gguf";

// "" when it cannot be read: a /proc file of a process that ended meanwhile fails with ESRCH, which
// libstdc++'s filebuf reports by throwing.
std::string read_file(const fs::path& p) {
    try {
        std::ifstream in(p);
        return std::string(std::istreambuf_iterator<char>(in), {});
    } catch (const std::exception&) {
        return "";
    }
}

// Our children whose command line has `needle` (the runner's ssh processes are its children).
std::vector<pid_t> children_with(const std::string& needle) {
    std::vector<pid_t> out;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto stat = read_file(entry.path() / "stat");
        auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(stat.substr(close + 2));
        char state = 0;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid != ::getpid() || state == 'Z') continue;
        auto cmdline = read_file(entry.path() / "cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        if (cmdline.find(needle) != std::string::npos) out.push_back(static_cast<pid_t>(std::stoi(name)));
    }
    return out;
}

class SshRunner : public ::testing::Test {
protected:
    void SetUp() override {
        plugin_ = plugins::PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR}).find("ssh");
        ASSERT_NE(plugin_, nullptr);
        scratch_ = fs::path(CORRAL_TEST_WORK_DIR) / ::testing::UnitTest::GetInstance()->current_test_info()->name();
        fs::remove_all(scratch_);
        fs::create_directories(scratch_);
    }
    void TearDown() override {
        if (runner_) test::stop_all(*runner_);
        runner_.reset();
    }
    boost::json::object options() const {
        return {{"host", "corral-test"},
                {"ssh_config", kSshdDir + "/ssh_config"},
                {"binary", kLlamaServer},
                {"working_dir", scratch_.string()},
                {"remote_state_dir", (scratch_ / "remote-state").string()}};
    }
    void make_runner(boost::json::object opts) { runner_ = plugin_->create_runner(opts, events_.handler()); }
    static sdk::ServerConfig config(const std::string& id) { return test::tiny_server_config(id, kModelA); }
    static pid_t remote_pid(const sdk::ProcessHandle& h) { return static_cast<pid_t>(h.runner_data.at("remote_pid").as_int64()); }
    bool canary() const { return fs::exists(scratch_ / "CANARY"); }

    std::shared_ptr<plugins::Plugin> plugin_;
    test::EventLog events_;
    std::unique_ptr<sdk::ProcessRunner> runner_;
    fs::path scratch_;
};

TEST_F(SshRunner, ServesThroughTheForwardedPortAndReportsNoLocalPid) {
    make_runner(options());
    auto h = runner_->start(config("fwd"));
    EXPECT_FALSE(h.pid) << "a remote pid must not pass for a local one";
    EXPECT_THAT(h.endpoint, HasSubstr("http://127.0.0.1:"));
    EXPECT_NE(std::to_string(h.runner_data.at("remote_port").as_int64()), h.endpoint.substr(h.endpoint.rfind(':') + 1));
    EXPECT_EQ(test::chat_completion(h.endpoint, 4).at("model").as_string(), "tiny");
    runner_->stop(h, 10s);
}

// Below its default verbosity the remote llama-server never logs that it listens: the runner
// checks /health (through the forward) from the start instead of waiting out the timeout, and with
// a key, that the server answering through the forward holds it.
TEST_F(SshRunner, AServerThatDoesNotLogThatItListensIsReadyAllTheSame) {
    auto opts = options();
    opts["log_verbosity"] = 1;
    opts["startup_timeout_ms"] = 30000;
    make_runner(opts);
    test::expect_quiet_start_serves(*runner_, config("quiet"));
    auto keyed = config("quiet-keyed");
    keyed.env["LLAMA_API_KEY"] = "quiet-key";
    test::expect_quiet_start_serves(*runner_, keyed);
}

// A squatter of another user that fakes holding any key, on the port a quiet server is given on
// the remote host (this machine, through the test's sshd): the remote host's socket tables tell it
// apart before the key goes through the forward, and the start ends with our server's exit.
TEST_F(SshRunner, AQuietServerIsNotTakenForAnotherUsersListenerOnItsPort) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
    test::ForeignLiar liar;
    auto opts = options();
    opts["log_verbosity"] = 1;
    opts["startup_timeout_ms"] = 30000;
    make_runner(opts);
    auto c = config("quiet-squatted");
    c.port = liar.port;
    c.env["LLAMA_API_KEY"] = "quiet-squatted-key";
    const auto started = std::chrono::steady_clock::now();
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_LT(std::chrono::steady_clock::now() - started, 25s);  // its exit ended it, not the timeout
    EXPECT_EQ(e.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(e.what(), HasSubstr("in use"));
}

TEST_F(SshRunner, DirectModeConnectsToTheRemoteAddress) {
    auto opts = options();
    opts["connect"] = "direct";
    opts["direct_host"] = "127.0.0.1";  // the "remote" host is this machine
    opts["bind"] = "127.0.0.1";
    opts["remote_ports"] = boost::json::array{41000, 41999};
    make_runner(opts);
    auto h = runner_->start(config("direct"));
    const auto port = h.runner_data.at("remote_port").as_int64();
    EXPECT_GE(port, 41000);
    EXPECT_LE(port, 41999);
    EXPECT_EQ(h.endpoint, "http://127.0.0.1:" + std::to_string(port));  // no forward in between
    EXPECT_EQ(test::chat_completion(h.endpoint, 4).at("model").as_string(), "tiny");
    runner_->stop(h, 10s);
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Exited, "direct"));
}

TEST_F(SshRunner, ARemoteServerKilledIsReportedAsExited) {
    make_runner(options());
    auto h = runner_->start(config("kill9"));
    // A start that met a taken remote port reported its first try's exit: the kill's comes after.
    const auto earlier_exits = events_.all_of(RunnerEvent::Kind::Exited, "kill9").size();
    ASSERT_EQ(::kill(remote_pid(h), SIGKILL), 0);  // the "remote" host is this machine
    auto exited = events_.wait_for_next(RunnerEvent::Kind::Exited, "kill9", earlier_exits);
    ASSERT_TRUE(exited) << "no exit event after kill -9 on the remote host";
    EXPECT_EQ(exited->payload.at("signal").to_number<int>(), SIGKILL);
    EXPECT_FALSE(runner_->is_running(h));
    EXPECT_EQ(runner_->health(h).state, sdk::HealthState::Unreachable);
    EXPECT_EQ(test::expect_sdk_error([&] { runner_->stop(h, 1s); }).code(), sdk::ProcessError::NotRunning);
    // Its remote directory is cleaned once it is reported.
    EXPECT_TRUE(test::eventually([&] { return !fs::exists(h.runner_data.at("dir").as_string().c_str()); }, 20s));
}

TEST_F(SshRunner, ALostConnectionIsReportedAndRestoredWithoutTouchingTheServer) {
    make_runner(options());
    auto h = runner_->start(config("lost"));
    // A start that met a taken remote port reported its first try's exit: the kill's comes after.
    const auto earlier_exits = events_.all_of(RunnerEvent::Kind::Exited, "lost").size();
    auto masters = children_with("ControlMaster=yes");
    ASSERT_EQ(masters.size(), 1u);
    ASSERT_EQ(::kill(masters[0], SIGKILL), 0);

    // Reported as unreachable while down (the host then sees it unhealthy), then back on its own.
    EXPECT_TRUE(test::eventually([&] { return runner_->health(h).state != sdk::HealthState::Ok; }, 5s));
    EXPECT_TRUE(test::eventually(
        [&] {
            auto now = children_with("ControlMaster=yes");
            return now.size() == 1 && now[0] != masters[0] && runner_->health(h).state == sdk::HealthState::Ok;
        },
        20s))
        << "the connection was not re-established";
    EXPECT_TRUE(runner_->is_running(h));
    EXPECT_EQ(::kill(remote_pid(h), 0), 0) << "the server must survive the connection";
    EXPECT_EQ(test::chat_completion(h.endpoint, 4).at("usage").at("completion_tokens").as_int64(), 4);  // same endpoint, forward restored

    // The exit watch came back too: a kill now is reported.
    ASSERT_EQ(::kill(remote_pid(h), SIGKILL), 0);
    auto exited = events_.wait_for_next(RunnerEvent::Kind::Exited, "lost", earlier_exits);
    ASSERT_TRUE(exited);
    EXPECT_EQ(exited->payload.at("signal").to_number<int>(), SIGKILL);
}

TEST_F(SshRunner, AServerThatDiesWhileTheConnectionIsDownIsReportedOnReconnection) {
    make_runner(options());
    auto h = runner_->start(config("died-offline"));
    // A start that met a taken remote port reported its first try's exit: the kill's comes after.
    const auto earlier_exits = events_.all_of(RunnerEvent::Kind::Exited, "died-offline").size();
    auto masters = children_with("ControlMaster=yes");
    ASSERT_EQ(masters.size(), 1u);
    ASSERT_EQ(::kill(masters[0], SIGKILL), 0);
    ASSERT_EQ(::kill(remote_pid(h), SIGKILL), 0);
    auto exited = events_.wait_for_next(RunnerEvent::Kind::Exited, "died-offline", earlier_exits);
    ASSERT_TRUE(exited);
    EXPECT_EQ(exited->payload.at("signal").to_number<int>(), SIGKILL);
    EXPECT_FALSE(runner_->is_running(h));
}

TEST_F(SshRunner, NamesAndPathsMadeToBreakAShellAreOnlyNames) {
    // Everything here reaches the remote shell; a "CANARY" file in the working directory means one ran.
    const auto model_dir = scratch_ / "models; $(touch CANARY)";
    fs::create_directories(model_dir);
    const auto model = model_dir / "it's a `touch CANARY` & model.gguf";
    fs::create_symlink(kModelA, model);
    auto opts = options();
    opts["env"] = boost::json::object{{"CORRAL_TEST_VALUE", "$(touch CANARY); 'x' \"y\""}};
    make_runner(opts);
    auto c = config("hostile id $(touch CANARY)");
    c.model_path = model.string();
    c.model_name = "name with 'quotes' \"and\" $(touch CANARY); `touch CANARY`";
    auto h = runner_->start(c);
    EXPECT_EQ(test::chat_completion(h.endpoint, 4).at("model").as_string(), c.model_name);  // --alias arrived intact
    bool listed = false;
    for (const auto& l : runner_->list_running()) listed = listed || l.instance_id == c.instance_id;
    EXPECT_TRUE(listed);
    runner_->stop(h, 10s);
    EXPECT_FALSE(canary()) << "a name was executed by the remote shell";
}

TEST_F(SshRunner, AnUnknownHostKeyIsRefused) {
    std::ofstream(scratch_ / "empty_known_hosts").close();
    auto opts = options();
    opts["known_hosts"] = (scratch_ / "empty_known_hosts").string();
    make_runner(opts);
    auto e = test::expect_sdk_error([&] { runner_->start(config("hostkey")); });
    EXPECT_EQ(e.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(e.what(), HasSubstr("corral-test"));
    EXPECT_THAT(e.what(), HasSubstr("Host key verification failed"));
}

TEST_F(SshRunner, AMissingRemoteBinaryIsAConfigurationError) {
    auto opts = options();
    opts["binary"] = "/nonexistent/llama-server";
    make_runner(opts);
    auto e = test::expect_sdk_error([&] { runner_->start(config("nobinary")); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/llama-server"));
}

TEST_F(SshRunner, AnUnreachableHostFailsTheStartWithTheReason) {
    auto opts = options();
    opts["port"] = 1;  // nothing listens there
    opts["connect_timeout_ms"] = 5000;
    make_runner(opts);
    auto e = test::expect_sdk_error([&] { runner_->start(config("unreachable")); });
    EXPECT_EQ(e.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(e.what(), HasSubstr("cannot connect to corral-test"));
}

}  // namespace
}  // namespace corral
