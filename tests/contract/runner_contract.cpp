// corral-plugin-test: the contract every runner plugin must honour, run against any plugin file.
//
//   corral-plugin-test PLUGIN.so [--options JSON] [--model PATH]... [--verbose] [--gtest_filter=...]
//
// --options is the runner's options object (as in the config's "runners" entry); --model gives
// model files for runners that need them (one is enough; two distinct ones are used when given).
// The plugin's log lines of a test are printed when it fails (--verbose: all of them, as they come).
// Third-party authors run it on their own plugin to certify it; CTest runs it on ours.
#include "event_log.hpp"
#include "held_log.hpp"
#include "plugins/plugin_loader.hpp"
#include "process.hpp"
#include "runner_test_support.hpp"
#include "sdk_error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <set>

namespace corral::contract {
namespace {

using namespace std::chrono_literals;
using plugins::RunnerEvent;
using ::testing::HasSubstr;

struct Target {
    std::filesystem::path plugin;
    boost::json::object options;
    std::vector<std::string> models;
    std::string self;  // this executable, for the adoption helper
};

Target g_target;

using test::EventLog;

std::shared_ptr<plugins::Plugin> load_target() {
    auto outcome = plugins::load_plugin(g_target.plugin);
    if (auto* refusal = std::get_if<plugins::PluginRefusal>(&outcome)) throw std::runtime_error("plugin refused: " + refusal->reason);
    return std::get<std::shared_ptr<plugins::Plugin>>(outcome);
}

sdk::ServerConfig server_config(const std::string& id, std::size_t model = 0) {
    sdk::ServerConfig c;
    c.instance_id = id;
    c.model_id = "model-" + std::to_string(model);
    c.model_name = c.model_id;
    if (!g_target.models.empty()) c.model_path = g_target.models[model % g_target.models.size()];
    c.ctx_size = 512;
    return c;
}

std::string unique_id(const std::string& base) {
    return base + "-" + std::to_string(::getpid());
}

// Alive and not a zombie: an orphaned server that exited stays a zombie until its new parent (often
// PID 1) reaps it, and kill(pid, 0) still succeeds on a zombie.
bool process_alive(int64_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), {});
    auto close = text.rfind(')');
    return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z' && text[close + 2] != 'X';
}

class RunnerContract : public ::testing::Test {
protected:
    void SetUp() override {
        plugin_ = load_target();
        ASSERT_EQ(plugin_->info().kind, plugins::PluginKind::Runner) << g_target.plugin << " is not a runner plugin";
        runner_ = plugin_->create_runner(g_target.options, events_.handler());
    }
    void TearDown() override {
        if (runner_) test::stop_all(*runner_);
    }
    bool can(uint64_t capability) const { return plugin_->info().capabilities & capability; }

    // A helper process plays a first host: it starts server `id` with the target's options, prints its
    // handle, and is SIGKILLed, leaving the server behind. The handle (empty if none was printed).
    static sdk::ProcessHandle orphan_of_a_dead_host(const std::string& id) {
        std::vector<std::string> argv = {g_target.self,
                                         "--internal-start-and-hang",
                                         g_target.plugin.string(),
                                         "--options",
                                         boost::json::serialize(g_target.options),
                                         "--instance-id",
                                         id};
        for (const auto& m : g_target.models) argv.insert(argv.end(), {"--model", m});
        test::SpawnedProcess first_host(argv);
        auto line = first_host.read_line();
        first_host.kill_and_wait(SIGKILL);
        return line.empty() ? sdk::ProcessHandle{} : sdk::from_json<sdk::ProcessHandle>(boost::json::parse(line), "handle");
    }

    std::shared_ptr<plugins::Plugin> plugin_;
    EventLog events_;
    std::unique_ptr<sdk::ProcessRunner> runner_;
};

TEST_F(RunnerContract, StartReturnsAReadyServer) {
    auto id = unique_id("ready");
    auto h = runner_->start(server_config(id));
    EXPECT_EQ(h.instance_id, id);
    EXPECT_EQ(h.runner, plugin_->info().name);
    EXPECT_FALSE(h.endpoint.empty());
    EXPECT_TRUE(runner_->is_running(h));
    auto health = runner_->health(h);
    EXPECT_EQ(health.state, sdk::HealthState::Ok) << health.message;  // ready means ready, not spawned
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Ready, id));
}

// ABI 1.1: machines() is optional. A runner that answers names each machine once and reports
// devices with their memory; one that does not says NotSupported (not an error of another kind).
TEST_F(RunnerContract, MachinesAreNotSupportedOrDescribed) {
    std::vector<sdk::MachineInfo> machines;
    try {
        machines = runner_->machines();
    } catch (const sdk::Error& e) {
        ASSERT_EQ(e.code(), sdk::ProcessError::NotSupported) << e.what();
        return;
    }
    ASSERT_FALSE(machines.empty()) << "machines() answered an empty list: throw NotSupported instead";
    std::set<std::string> names;
    for (const auto& m : machines) {
        EXPECT_FALSE(m.name.empty());
        EXPECT_TRUE(names.insert(m.name).second) << "machine " << m.name << " listed twice";
        for (const auto& r : m.reports) {
            for (const auto& d : r.devices) EXPECT_GT(d.memory_total, 0u) << m.name << ": " << d.backend << ":" << d.index;
        }
    }
}

TEST_F(RunnerContract, ListRunningShowsWhatRuns) {
    auto a = runner_->start(server_config(unique_id("list-a")));
    auto b = runner_->start(server_config(unique_id("list-b"), 1));
    std::set<std::string> ids;
    for (const auto& h : runner_->list_running()) ids.insert(h.instance_id);
    EXPECT_TRUE(ids.count(a.instance_id));
    EXPECT_TRUE(ids.count(b.instance_id));
    runner_->stop(a, 10s);
    ids.clear();
    for (const auto& h : runner_->list_running()) ids.insert(h.instance_id);
    EXPECT_FALSE(ids.count(a.instance_id));
    EXPECT_TRUE(ids.count(b.instance_id));
}

TEST_F(RunnerContract, StopWithGraceEndsTheServerAndReportsIt) {
    auto id = unique_id("stop");
    auto h = runner_->start(server_config(id));
    runner_->stop(h, 10s);
    EXPECT_FALSE(runner_->is_running(h));
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Exited, id));
    auto health = runner_->health(h);  // an unhealthy server is a state, not an exception
    EXPECT_EQ(health.state, sdk::HealthState::Unreachable);
    if (h.pid) {
        EXPECT_FALSE(process_alive(*h.pid)) << "process " << *h.pid << " is still there";
    }
}

TEST_F(RunnerContract, DoubleStopIsNotRunning) {
    auto h = runner_->start(server_config(unique_id("double")));
    runner_->stop(h, 10s);
    EXPECT_EQ(test::expect_sdk_error([&] { runner_->stop(h, 1s); }).code(), sdk::ProcessError::NotRunning);
}

TEST_F(RunnerContract, KilledServerIsReportedAndStopSaysNotRunning) {
    auto id = unique_id("kill9");
    auto h = runner_->start(server_config(id));
    if (!h.pid) GTEST_SKIP() << "the runner reports no pid: nothing to kill -9";
    if (!can(CORRAL_CAP_EXIT_EVENTS)) GTEST_SKIP() << "the runner does not declare exit events";
    ASSERT_EQ(::kill(static_cast<pid_t>(*h.pid), SIGKILL), 0);
    auto exited = events_.wait_for(RunnerEvent::Kind::Exited, id);
    ASSERT_TRUE(exited) << "no exit event after kill -9";
    EXPECT_EQ(exited->payload.at("signal").to_number<int>(), SIGKILL);
    EXPECT_FALSE(runner_->is_running(h));
    EXPECT_EQ(test::expect_sdk_error([&] { runner_->stop(h, 1s); }).code(), sdk::ProcessError::NotRunning);
}

TEST_F(RunnerContract, EightConcurrentStarts) {
    std::vector<std::future<sdk::ProcessHandle>> starts;
    for (int i = 0; i < 8; ++i) {
        starts.push_back(
            std::async(std::launch::async, [&, i] { return runner_->start(server_config(unique_id("c" + std::to_string(i)), i)); }));
    }
    std::set<std::string> endpoints;
    std::vector<sdk::ProcessHandle> handles;
    for (auto& f : starts) handles.push_back(f.get());
    for (const auto& h : handles) {
        endpoints.insert(h.endpoint);
        EXPECT_EQ(runner_->health(h).state, sdk::HealthState::Ok) << h.endpoint;
    }
    EXPECT_EQ(endpoints.size(), 8u);
    std::vector<std::future<void>> stops;
    for (const auto& h : handles) stops.push_back(std::async(std::launch::async, [&, h] { runner_->stop(h, 10s); }));
    for (auto& f : stops) f.get();
    EXPECT_TRUE(runner_->list_running().empty());
}

TEST_F(RunnerContract, ServerOutputArrivesAsLogEvents) {
    if (!can(CORRAL_CAP_LOG_EVENTS)) GTEST_SKIP() << "the runner does not declare log events";
    auto id = unique_id("log");
    auto h = runner_->start(server_config(id));
    // The server's own output; a runner may add "status" lines about the start (a queue's reason).
    auto line = events_.wait_for(RunnerEvent::Kind::LogLine, id, 30s,
                                 [](const RunnerEvent& ev) { return ev.payload.at("stream").as_string() != "status"; });
    ASSERT_TRUE(line);
    for (const auto& ev : events_.all_of(RunnerEvent::Kind::LogLine, id)) {
        EXPECT_TRUE(ev.payload.at("line").is_string());
        auto stream = std::string(ev.payload.at("stream").as_string());
        EXPECT_TRUE(stream == "stdout" || stream == "stderr" || stream == "status") << stream;
    }
}

TEST_F(RunnerContract, BadConfigIsAConfigurationError) {
    auto c = server_config(unique_id("bad"));
    c.runner_options = {{"definitely_not_an_option", 1}};
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("definitely_not_an_option"));
    EXPECT_TRUE(runner_->list_running().empty());
}

TEST_F(RunnerContract, MissingModelFileIsAConfigurationError) {
    if (g_target.models.empty()) GTEST_SKIP() << "the runner takes no model files";
    auto c = server_config(unique_id("nomodel"));
    c.model_path = "/nonexistent/model.gguf";
    auto e = test::expect_sdk_error([&] { runner_->start(c); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/model.gguf"));
}

TEST_F(RunnerContract, AdoptsAServerWhoseHostDied) {
    if (!can(CORRAL_CAP_ADOPT)) GTEST_SKIP() << "the runner does not declare adoption";
    auto id = unique_id("adopt");
    auto record = orphan_of_a_dead_host(id);
    ASSERT_FALSE(record.instance_id.empty()) << "the helper host printed no handle";

    // A restarted host finds the orphan through list_running(), then adopts it.
    auto listed = runner_->list_running();
    auto found = std::find_if(listed.begin(), listed.end(), [&](const sdk::ProcessHandle& h) { return h.instance_id == id; });
    ASSERT_NE(found, listed.end()) << "list_running() does not report the server the dead host left";
    record = *found;

    auto adopted = runner_->adopt(record);
    EXPECT_EQ(adopted.instance_id, id);
    EXPECT_TRUE(runner_->is_running(adopted));
    EXPECT_EQ(runner_->health(adopted).state, sdk::HealthState::Ok);
    runner_->stop(adopted, 10s);
    EXPECT_FALSE(runner_->is_running(adopted));
    if (record.pid) {
        EXPECT_FALSE(process_alive(*record.pid)) << "the adopted server survived stop()";
    }
    // The record of a server that is gone is cleaned, not adopted.
    EXPECT_EQ(test::expect_sdk_error([&] { runner_->adopt(record); }).code(), sdk::ProcessError::NotRunning);
}

TEST_F(RunnerContract, StopsAServerWhoseHostDiedWithoutAdoptingIt) {
    if (!can(CORRAL_CAP_ADOPT)) GTEST_SKIP() << "the runner does not declare adoption";
    auto id = unique_id("orphan");
    auto record = orphan_of_a_dead_host(id);
    ASSERT_FALSE(record.instance_id.empty()) << "the helper host printed no handle";
    runner_->stop(record, 10s);  // a host that cleans up instead of adopting
    if (record.pid) {
        EXPECT_FALSE(process_alive(*record.pid)) << "the orphan survived stop()";
    }
    for (const auto& h : runner_->list_running()) EXPECT_NE(h.instance_id, id);
}

// The helper for the adoption test: start one server, print its handle, wait to be killed.
int start_and_hang(const std::string& instance_id) {
    auto runner = load_target()->create_runner(g_target.options, nullptr);
    auto handle = runner->start(server_config(instance_id));
    std::cout << boost::json::serialize(sdk::to_json(handle)) << std::endl;
    for (;;) ::pause();
}

}  // namespace
}  // namespace corral::contract

int main(int argc, char** argv) {
    using corral::contract::g_target;
    ::testing::InitGoogleTest(&argc, argv);  // removes the --gtest_* flags
    std::vector<std::string> args(argv + 1, argv + argc);
    g_target.self = std::filesystem::canonical("/proc/self/exe").string();
    bool hang = false;
    bool verbose = false;
    std::string instance_id;
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                std::cerr << "corral-plugin-test: " << args[i] << " needs a value\n";
                std::exit(2);
            }
            return args[++i];
        };
        if (args[i] == "--options") {
            auto v = boost::json::parse(value());
            if (!v.is_object()) {
                std::cerr << "corral-plugin-test: --options must be a JSON object\n";
                return 2;
            }
            g_target.options = v.as_object();
        } else if (args[i] == "--model") {
            g_target.models.push_back(value());
        } else if (args[i] == "--verbose") {
            verbose = true;
        } else if (args[i] == "--internal-start-and-hang") {
            hang = true;
        } else if (args[i] == "--instance-id") {
            instance_id = value();
        } else if (args[i] == "--help" || args[i] == "-h") {
            std::cout << "Usage: corral-plugin-test PLUGIN.so [--options JSON] [--model PATH]... [--verbose] [--gtest_filter=...]\n\n"
                         "Runs the runner contract suite against a runner plugin file. The plugin's log lines\n"
                         "of a test are printed when it fails, warnings at once; --verbose prints them all.\n";
            return 0;
        } else if (g_target.plugin.empty()) {
            g_target.plugin = std::filesystem::absolute(args[i]);
        } else {
            std::cerr << "corral-plugin-test: unexpected argument " << args[i] << "\n";
            return 2;
        }
    }
    if (g_target.plugin.empty()) {
        std::cerr << "usage: corral-plugin-test PLUGIN.so [--options JSON] [--model PATH]... [--verbose]\n";
        return 2;
    }
    if (hang) return corral::contract::start_and_hang(instance_id);
    if (!verbose) corral::test::hold_logs_until_a_test_fails();
    return RUN_ALL_TESTS();
}
