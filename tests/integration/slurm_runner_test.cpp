// The slurm runner on a real Slurm cluster (tests/slurm/slurm_fixture.sh: nodes c1..c3, one fake GPU
// each, KillWait 30 s, SlurmdTimeout 10 s): a job waiting for a GPU, a killed server, a lost node,
// hostile names and options, scancel's grace; then `corral serve` with a local model and two Slurm
// models, a swap between them, and adoption after corral is killed.
//
// The binary also plays a stand-in server for the grace cases (`--model ... --port N`, as a job
// starts llama-server): it answers /health and, on SIGTERM, serves on for CORRAL_TEST_TERM_GRACE_MS
// (or forever, "ignore") before it exits 0.
#include "event_log.hpp"
#include "held_log.hpp"
#include "hostile_words.hpp"
#include "plugins/plugin_registry.hpp"
#include "process.hpp"
#include "runner_test_support.hpp"
#include "sdk_error.hpp"
#include "serve_harness.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <thread>

namespace corral {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using plugins::RunnerEvent;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace std::chrono_literals;

const std::string kModelA = CORRAL_TEST_MODELS "/tiny-a.gguf";
const std::string kSlurmDir = CORRAL_TEST_SLURM_DIR;
const std::string kSlurmConf = kSlurmDir + "/etc/slurm.conf";

test::ProcessResult slurm_tool(const std::string& tool, std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/env", tool});
    return test::run_process(args, {{"SLURM_CONF", kSlurmConf}});
}

void fixture(const std::string& action, const std::string& node) {
    auto r = test::run_process({CORRAL_TEST_SLURM_FIXTURE, action, kSlurmDir, node});
    ASSERT_EQ(r.exit_code, 0) << r.err;
}

// No job waits, runs or completes on the cluster (a test starts from a free cluster); its jobs otherwise.
std::string jobs_left() {
    auto r = slurm_tool("squeue", {"-h", "-t", "PD,CF,R,CG,S", "-o", "%i %j %T %R"});
    return r.exit_code == 0 ? r.out : "squeue failed: " + r.err;
}

std::string node_of(const sdk::ProcessHandle& h) {
    return h.runner_data.is_object() && h.runner_data.as_object().contains("node") ? std::string(h.runner_data.at("node").as_string())
                                                                                   : std::string();
}

bool answers_health(const std::string& endpoint) {
    std::string host;
    uint16_t port = 0;
    test::split_endpoint(endpoint, host, port);
    try {
        return test::http_request(host, port, "GET", "/health", "").status == 200;
    } catch (const std::exception&) {
        return false;
    }
}

class SlurmRunner : public ::testing::Test {
protected:
    void SetUp() override {
        plugin_ = plugins::PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR}).find("slurm");
        ASSERT_NE(plugin_, nullptr);
        ASSERT_TRUE(test::eventually([&] { return jobs_left().empty(); }, 60s)) << "jobs left on the cluster:\n" << jobs_left();
    }
    void TearDown() override {
        if (runner_) test::stop_all(*runner_);
        runner_.reset();
    }
    static json::object options() {
        return {{"slurm_conf", kSlurmConf}, {"binary", CORRAL_TEST_LLAMA_SERVER}, {"cpus", 1},       {"memory", "300M"},
                {"poll_interval_ms", 1000}, {"job_name_prefix", "corral-itest-"}, {"log_lines", 200}};
    }
    void make_runner(const json::object& opts = options()) { runner_ = plugin_->create_runner(opts, events_.handler()); }
    static sdk::ServerConfig config(const std::string& id, json::object runner_options = {}) {
        auto c = test::tiny_server_config(id, kModelA);
        c.runner_options = std::move(runner_options);
        return c;
    }
    // The stand-in server (this binary) as the job's "llama-server".
    static json::object stand_in(const std::string& grace_ms) {
        return {{"binary", CORRAL_TEST_SELF}, {"env", json::object{{"CORRAL_TEST_TERM_GRACE_MS", grace_ms}}}};
    }

    std::shared_ptr<plugins::Plugin> plugin_;
    test::EventLog events_;
    std::unique_ptr<sdk::ProcessRunner> runner_;
};

TEST_F(SlurmRunner, AJobWaitingForAGpuSaysWhyAndRunsWhenOneFrees) {
    make_runner();
    std::vector<sdk::ProcessHandle> gpu_servers;
    std::set<std::string> nodes;
    for (int i = 0; i < 3; ++i) {
        gpu_servers.push_back(runner_->start(config("gpu" + std::to_string(i), {{"gpus", 1}})));
        nodes.insert(node_of(gpu_servers.back()));
        EXPECT_EQ(gpu_servers.back().runner_data.at("gpus"), "0");  // the node's only GPU
    }
    EXPECT_EQ(nodes.size(), 3u) << "one GPU per node: three GPU servers on three nodes";

    auto fourth = std::async(std::launch::async, [&] { return runner_->start(config("gpu3", {{"gpus", 1}})); });
    auto waiting = events_.wait_for(RunnerEvent::Kind::LogLine, "gpu3", 30s, [](const RunnerEvent& ev) {
        return ev.payload.at("stream") == "status" && std::string(ev.payload.at("line").as_string()).find("Resources") != std::string::npos;
    });
    ASSERT_TRUE(waiting) << "no status line with the queue's reason";
    EXPECT_THAT(std::string(waiting->payload.at("line").as_string()), HasSubstr("waits in the queue (PENDING: Resources)"));
    EXPECT_EQ(fourth.wait_for(2s), std::future_status::timeout) << "it cannot run while every GPU is taken";

    runner_->stop(gpu_servers[1], 10s);
    auto h = fourth.get();
    EXPECT_EQ(node_of(h), node_of(gpu_servers[1])) << "the freed GPU's node";
    EXPECT_EQ(runner_->health(h).state, sdk::HealthState::Ok);
    test::chat_completion(h.endpoint, 4);
}

TEST_F(SlurmRunner, AKilledServerIsReportedWithItsSignal) {
    make_runner();
    auto h = runner_->start(config("kill9"));
    std::string host;
    uint16_t port = 0;
    test::split_endpoint(h.endpoint, host, port);
    auto found = test::run_process({"/usr/bin/pgrep", "-f", "--", "--port " + std::to_string(port)});
    ASSERT_EQ(found.exit_code, 0) << "no server process listening on " << port;
    ASSERT_EQ(::kill(std::stoi(found.out), SIGKILL), 0);
    auto exited = events_.wait_for(RunnerEvent::Kind::Exited, "kill9", 30s);
    ASSERT_TRUE(exited) << "no exit event after kill -9";
    EXPECT_EQ(exited->payload.at("signal"), SIGKILL) << json::serialize(exited->payload);
    EXPECT_FALSE(runner_->is_running(h));
    EXPECT_EQ(test::expect_sdk_error([&] { runner_->stop(h, 1s); }).code(), sdk::ProcessError::NotRunning);
}

// slurmd killed -9: the job's processes live on, but Slurm declares the node down after
// SlurmdTimeout and ends the job NODE_FAIL (--no-requeue: never a second copy by Slurm). The
// instance ends, the next start runs on another node, and the returning slurmd kills the orphan.
TEST_F(SlurmRunner, ALostNodeEndsTheInstanceAndTheNextStartRunsElsewhere) {
    make_runner();
    auto h = runner_->start(config("lost", {{"gpus", 1}}));
    const auto lost = node_of(h);
    ASSERT_FALSE(lost.empty());
    fixture("kill-node", lost);
    struct NodeBack {  // whatever happens, the node comes back for the next tests
        std::string node;
        ~NodeBack() { fixture("start-node", node); }
    } back{lost};
    auto exited = events_.wait_for(RunnerEvent::Kind::Exited, "lost", 90s);
    ASSERT_TRUE(exited) << "no exit event within SlurmdTimeout and a margin";
    EXPECT_THAT(std::string(exited->payload.at("message").as_string()), HasSubstr("NODE_FAIL"));
    auto jobs = slurm_tool("squeue", {"-h", "-t", "all", "-n", "corral-itest-lost", "-o", "%T %R"});
    EXPECT_EQ(jobs.out.find("PENDING"), std::string::npos) << "Slurm requeued the job: " << jobs.out;

    // The node is down: the next start runs on another one.
    auto again = runner_->start(config("lost-again", {{"gpus", 1}}));
    EXPECT_NE(node_of(again), lost);
    test::chat_completion(again.endpoint, 4);
    // Only one copy stays: the returning slurmd ends the orphan on the lost node, which serves again.
    fixture("start-node", lost);
    EXPECT_TRUE(test::eventually([&] { return !answers_health(h.endpoint); }, 60s)) << "the orphan on " << lost << " still serves";
}

TEST_F(SlurmRunner, HostileNamesReachTheServerAndBadOptionsAreRefused) {
    make_runner();
    auto dir = fs::path(CORRAL_TEST_WORK_DIR) / "it's $(touch CANARY) dir";
    fs::create_directories(dir);
    fs::copy_file(kModelA, dir / "m; touch CANARY.gguf", fs::copy_options::overwrite_existing);
    auto c = config("hostile");
    c.model_path = (dir / "m; touch CANARY.gguf").string();
    c.model_name = c.model_id = test::kHostile[4] + " " + test::kHostile[2];  // $(touch CANARY) it's
    auto h = runner_->start(c);
    EXPECT_EQ(runner_->health(h).state, sdk::HealthState::Ok);
    bool listed = false;
    for (const auto& l : runner_->list_running()) listed = listed || (l.instance_id == "hostile" && l.model_name == c.model_name);
    EXPECT_TRUE(listed) << "the model's name did not survive the job's comment";
    EXPECT_FALSE(fs::exists(dir / "CANARY"));
    EXPECT_FALSE(fs::exists(fs::path("/tmp") / "CANARY"));

    auto e = test::expect_sdk_error([&] { runner_->start(config("requeue", {{"sbatch_args", json::array{"--requeue"}}})); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration);
    EXPECT_THAT(e.what(), HasSubstr("runner_options.sbatch_args[0]: --requeue is not allowed"));
    e = test::expect_sdk_error([&] { runner_->start(config("partition", {{"partition", "nosuch"}})); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Configuration) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("nvalid partition"));
    e = test::expect_sdk_error([&] { runner_->start(config("partition", {{"partition", "-w c1"}})); });
    EXPECT_THAT(e.what(), HasSubstr("runner_options.partition"));
}

// A loaded node can take seconds between the script publishing its port and srun making step 0, and
// `sattach JOB.0` fails at once until then: the runner tries it again until the step is there, so the
// server's output still arrives (here srun itself starts 3 s late: a wrapper first in the job's PATH).
TEST_F(SlurmRunner, TheServersOutputIsFollowedWhenStepZeroComesLate) {
    auto dir = fs::path(CORRAL_TEST_WORK_DIR) / "late-srun";
    fs::create_directories(dir);
    {
        std::ofstream srun(dir / "srun");
        srun << "#!/bin/sh\nsleep 3\nexec /usr/bin/srun \"$@\"\n";
    }
    fs::permissions(dir / "srun", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    make_runner();
    const char* path = std::getenv("PATH");
    auto h = runner_->start(config("late-step", {{"env", json::object{{"PATH", dir.string() + ":" + (path ? path : "/usr/bin:/bin")}}}}));
    auto line = events_.wait_for(RunnerEvent::Kind::LogLine, "late-step", 30s,
                                 [](const RunnerEvent& ev) { return ev.payload.at("stream") != "status"; });
    ASSERT_TRUE(line) << "no line of the server's output";
    for (const auto& ev : events_.all_of(RunnerEvent::Kind::LogLine, "late-step"))
        EXPECT_THAT(std::string(ev.payload.at("line").as_string()), Not(StartsWith("sattach:"))) << "sattach's errors are not the server's";
    EXPECT_EQ(runner_->health(h).state, sdk::HealthState::Ok);
}

// sattach that attaches in the instant srun makes the step ends at once with status 0 and no output
// (seen here about once in 60 tries 50 ms apart), as if the step had ended. The runner follows the
// job again while Slurm says it runs (here sattach's first call does that on purpose: a wrapper in
// commands_dir, the real commands beside it).
TEST_F(SlurmRunner, AFollowerThatEndsAtOnceWhileTheJobRunsIsStartedAgain) {
    auto dir = fs::path(CORRAL_TEST_WORK_DIR) / "sattach-ends-at-once";
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const char* tool : {"sbatch", "squeue", "scancel", "sinfo"}) fs::create_symlink(fs::path("/usr/bin") / tool, dir / tool);
    {
        std::ofstream sattach(dir / "sattach");
        sattach << "#!/bin/sh\n[ -e \"$0.called\" ] && exec /usr/bin/sattach \"$@\"\n: > \"$0.called\"\nexit 0\n";
    }
    fs::permissions(dir / "sattach", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
    auto opts = options();
    opts["commands_dir"] = dir.string();
    make_runner(opts);
    auto h = runner_->start(config("ends-at-once"));
    auto line = events_.wait_for(RunnerEvent::Kind::LogLine, "ends-at-once", 30s,
                                 [](const RunnerEvent& ev) { return ev.payload.at("stream") != "status"; });
    ASSERT_TRUE(line) << "no line of the server's output after the follower's first end";
    EXPECT_TRUE(fs::exists(dir / "sattach.called"));
    EXPECT_TRUE(runner_->is_running(h));
    EXPECT_EQ(runner_->health(h).state, sdk::HealthState::Ok);
    runner_->stop(h, 10s);
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Exited, "ends-at-once", 10s)) << "the real end is still seen";
}

// Stop is SIGTERM to the server: one that takes 2 s to exit after it exits by itself; one that ignores
// it is killed once corral's grace (2 s) is over, long before the cluster's KillWait (30 s here).
TEST_F(SlurmRunner, ScancelGivesTheServerItsGraceAndCorralsGraceBoundsIt) {
    make_runner();
    auto polite = runner_->start(config("polite", stand_in("2000")));
    auto started = std::chrono::steady_clock::now();
    runner_->stop(polite, 20s);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 1500ms) << "the server was not given its time";
    auto exited = events_.wait_for(RunnerEvent::Kind::Exited, "polite", 10s);
    ASSERT_TRUE(exited);
    EXPECT_TRUE(exited->payload.at("signal").is_null()) << json::serialize(exited->payload);

    auto stubborn = runner_->start(config("stubborn", stand_in("ignore")));
    started = std::chrono::steady_clock::now();
    runner_->stop(stubborn, 2s);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 20s) << "corral's grace did not bound the cluster's";
    EXPECT_FALSE(answers_health(stubborn.endpoint));
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Exited, "stubborn", 10s));
}

// ---- corral serve --------------------------------------------------------------------------------

class SlurmServe : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::path(CORRAL_TEST_WORK_DIR) / ("serve-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
        fs::remove_all(dir_);
        ASSERT_TRUE(test::eventually([&] { return jobs_left().empty(); }, 60s)) << "jobs left on the cluster:\n" << jobs_left();
    }
    std::string config() {
        auto head = test::config_head(dir_);
        head.erase(head.rfind('}'));  // "runners" goes on
        return head + R"(,
    "cluster": {"plugin": "slurm", "slurm_conf": ")" +
               kSlurmConf + R"(", "binary": ")" + CORRAL_TEST_LLAMA_SERVER +
               R"(", "cpus": 1, "memory": "300M", "gpus": 1, "poll_interval_ms": 1000, "job_name_prefix": "corral-serve-",
                "slot_cache_dir": ")" +
               (dir_ / "shared-kv").string() + R"("}
  },
  "scheduler": {"max_loaded": 2},
  "supervisor": {"restart_backoff": "100ms"},
  "models": {
    "local": {"path": ")" +
               kModelA + R"(", "runner": "local", "ctx_size": 512},
    "remote-a": {"path": ")" +
               kModelA + R"(", "runner": "cluster", "ctx_size": 512},
    "remote-b": {"path": ")" +
               kModelA + R"(", "runner": "cluster", "ctx_size": 512}
  }
})";
    }
    static std::string chat(const std::string& model) {
        return R"({"model": ")" + model + R"(", "max_tokens": 4, "ignore_eos": true, "messages": [{"role": "user", "content": "hi"}]})";
    }
    fs::path dir_;
};

TEST_F(SlurmServe, TwoClusterModelsOnTwoNodesALocalOneAndSwapsBetweenThem) {
    test::Corral corral(dir_, config());
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("remote-a")).status, 200);
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("remote-b")).status, 200);
    auto a = corral.model("remote-a");
    auto b = corral.model("remote-b");
    ASSERT_TRUE(a.contains("runner_details")) << json::serialize(a);
    EXPECT_NE(a.at("runner_details").at("node"), b.at("runner_details").at("node")) << "one GPU each: two nodes";
    EXPECT_FALSE(a.at("runner_details").at("job_id").as_string().empty());
    EXPECT_EQ(a.at("runner_details").at("gpus"), "0");
    EXPECT_EQ(a.at("placement").at("machine"), "slurm");

    // max_loaded 2: the local model swaps one cluster model out, and that one swaps back in.
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("local")).status, 200);
    EXPECT_EQ(corral.state("remote-a"), "unloaded");
    EXPECT_EQ(corral.state("remote-b"), "ready");
    // Its server saved its prompt cache in slot_cache_dir (the filesystem the nodes share), not in
    // corral's state directory, and restores it when it is back.
    std::size_t shared = 0;
    for (const auto& f : fs::recursive_directory_iterator(dir_ / "shared-kv" / "remote-a")) shared += f.path().extension() == ".bin";
    EXPECT_EQ(shared, 1u);
    EXPECT_FALSE(fs::exists(dir_ / "state" / "kv-cache" / "remote-a"));
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("remote-a")).status, 200);
    EXPECT_NE(corral.get("/metrics").body.find(R"(corral_slot_caches_total{model="remote-a",action="restore",result="ok"} 1)"),
              std::string::npos);
    EXPECT_EQ(corral.state("remote-a"), "ready");
    EXPECT_EQ(corral.state("local"), "ready");
    EXPECT_EQ(corral.state("remote-b"), "unloaded");

    // corral killed -9: the job runs on; a new corral adopts it instead of submitting another.
    const auto job = std::string(corral.model("remote-a").at("runner_details").at("job_id").as_string());
    EXPECT_EQ(corral.stop(SIGKILL), -1);
    corral.start();
    ASSERT_TRUE(test::eventually([&] { return corral.state("remote-a") == "ready"; }, 30s));
    auto adopted = corral.model("remote-a");
    EXPECT_TRUE(adopted.contains("adopted")) << json::serialize(adopted);
    EXPECT_EQ(adopted.at("runner_details").at("job_id").as_string(), job);
    EXPECT_EQ(corral.post("/v1/chat/completions", chat("remote-a")).status, 200);
}

// A node lost under a serving model: Slurm ends the job NODE_FAIL after SlurmdTimeout, the supervisor
// restarts the model, and the cluster runs it on another node; requests work again.
TEST_F(SlurmServe, ALostNodeMovesTheModelToAnotherNode) {
    test::Corral corral(dir_, config());
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("remote-a")).status, 200);
    const auto before = corral.model("remote-a");
    const auto lost = std::string(before.at("runner_details").at("node").as_string());
    const auto job = std::string(before.at("runner_details").at("job_id").as_string());
    fixture("kill-node", lost);
    struct NodeBack {
        std::string node;
        ~NodeBack() { fixture("start-node", node); }
    } back{lost};
    ASSERT_TRUE(test::eventually(
        [&] {
            const auto m = corral.model("remote-a");
            return m.at("state") == "ready" && m.contains("runner_details") && m.at("runner_details").at("job_id").as_string() != job;
        },
        120s))
        << json::serialize(corral.model("remote-a"));
    const auto after = corral.model("remote-a");
    EXPECT_NE(after.at("runner_details").at("node").as_string(), lost);
    EXPECT_GE(after.at("restarts").as_int64(), 1);
    EXPECT_EQ(corral.post("/v1/chat/completions", chat("remote-a")).status, 200);
}

// ---- the stand-in server -------------------------------------------------------------------------

volatile sig_atomic_t g_term = 0;

int stand_in_server(int argc, char** argv) {
    uint16_t port = 0;
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], "--port") == 0) port = static_cast<uint16_t>(std::atoi(argv[i + 1]));
    const char* grace_text = std::getenv("CORRAL_TEST_TERM_GRACE_MS");
    const std::string grace = grace_text ? grace_text : "0";
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_term = 1; };
    ::sigaction(SIGTERM, &sa, nullptr);
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
        std::cerr << "stand-in: couldn't bind HTTP server socket on " << port << std::endl;
        return 1;
    }
    std::cout << "stand-in: listening on http://0.0.0.0:" << port << std::endl;
    std::optional<std::chrono::steady_clock::time_point> leave;
    for (;;) {
        if (g_term && !leave) {
            std::cout << "stand-in: SIGTERM, " << (grace == "ignore" ? "ignored" : "leaving in " + grace + " ms") << std::endl;
            leave = grace == "ignore" ? std::chrono::steady_clock::time_point::max()
                                      : std::chrono::steady_clock::now() + std::chrono::milliseconds(std::stoi(grace));
        }
        if (leave && std::chrono::steady_clock::now() >= *leave) return 0;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
        int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        char buffer[4096];
        (void)!::read(client, buffer, sizeof buffer);
        const char reply[] =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"ok\"}";
        (void)!::write(client, reply, sizeof reply - 1);
        ::close(client);
    }
}

}  // namespace
}  // namespace corral

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0) return 0;  // the runner reads the "server's" features
        if (std::strcmp(argv[i], "--model") == 0) return corral::stand_in_server(argc, argv);
    }
    ::testing::InitGoogleTest(&argc, argv);
    corral::test::hold_logs_unless_verbose(argc, argv);
    return RUN_ALL_TESTS();
}
