// The mock runner plugin, loaded from its .so and driven through the host's ProcessRunner port,
// with real HTTP requests to the servers it starts.
#include "event_log.hpp"
#include "http_client.hpp"
#include "plugins/plugin_registry.hpp"
#include "sdk_error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>

namespace corral::plugins {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

using test::EventLog;

class MockRunnerTest : public ::testing::Test {
protected:
    std::unique_ptr<sdk::ProcessRunner> make(const boost::json::object& options = {}) {
        plugin_ = PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR}).find("mock");
        return plugin_->create_runner(options, events_.handler());
    }
    static sdk::ServerConfig config(const std::string& id, boost::json::object runner_options = {}) {
        sdk::ServerConfig c;
        c.instance_id = id;
        c.model_id = "toy";
        c.model_name = "toy";
        c.runner_options = std::move(runner_options);
        return c;
    }
    static test::HttpResult request(const sdk::ProcessHandle& h, const std::string& method, const std::string& target,
                                    const std::string& body = "") {
        std::string host;
        uint16_t port = 0;
        test::split_endpoint(h.endpoint, host, port);
        return test::http_request(host, port, method, target, body);
    }

    std::shared_ptr<Plugin> plugin_;
    EventLog events_;
};

// Through the ABI 1.1 machines() call: the host's machine by default, or the one the option describes.
TEST_F(MockRunnerTest, DescribesTheMachineItsOptionNames) {
    EXPECT_EQ(test::expect_sdk_error([&] { make()->machines(); }).code(), sdk::ProcessError::NotSupported);
    auto options = boost::json::parse(R"({"machine": {"name": "box9", "reports": [
        {"backend": "cuda", "available": true, "devices": [{"backend": "cuda", "index": 0, "uuid": "GPU-9", "memory_total": 1024}]},
        {"backend": "cpu", "available": true, "system": {"ram_total": 4096}}]}, "reply": "hi"})")
                       .as_object();
    auto machines = make(options)->machines();
    ASSERT_EQ(machines.size(), 1u);
    EXPECT_EQ(machines[0].name, "box9");
    ASSERT_EQ(machines[0].reports.size(), 2u);
    EXPECT_EQ(machines[0].reports[0].devices.at(0).uuid, "GPU-9");
    EXPECT_EQ(machines[0].reports[1].system->ram_total, 4096u);

    auto cluster = boost::json::parse(R"({"machine": {"name": "slurm", "capacity_managed_elsewhere": true}})").as_object();
    EXPECT_TRUE(make(cluster)->machines().at(0).capacity_managed_elsewhere);
    auto bad = boost::json::parse(R"({"machine": {"reports": []}})").as_object();
    EXPECT_THAT(test::expect_sdk_error([&] { make(bad); }).what(), HasSubstr("options.machine.name"));
}

TEST_F(MockRunnerTest, StartsAServerThatAnswersLikeLlamaServer) {
    auto runner = make();
    auto h = runner->start(config("i1"));
    EXPECT_EQ(h.runner, "mock");
    EXPECT_THAT(h.endpoint, HasSubstr("http://127.0.0.1:"));
    EXPECT_TRUE(runner->is_running(h));
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Ready, "i1"));

    EXPECT_EQ(request(h, "GET", "/health").status, 200);
    auto models = boost::json::parse(request(h, "GET", "/v1/models").body);
    EXPECT_EQ(models.at("data").at(0).at("id").as_string(), "toy");

    auto chat = request(h, "POST", "/v1/chat/completions", R"({"model":"toy","max_tokens":3,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(chat.status, 200);
    auto body = boost::json::parse(chat.body);
    EXPECT_EQ(body.at("choices").at(0).at("message").at("content").as_string(), "Hello from the");
    EXPECT_EQ(body.at("usage").at("completion_tokens").as_int64(), 3);
    // Deterministic: the same request gives the same text.
    auto again = boost::json::parse(request(h, "POST", "/v1/chat/completions", R"({"max_tokens":3,"messages":[]})").body);
    EXPECT_EQ(again.at("choices").at(0).at("message").at("content"), body.at("choices").at(0).at("message").at("content"));

    auto tokens = boost::json::parse(request(h, "POST", "/tokenize", R"({"content":"ab"})").body);
    EXPECT_EQ(tokens.at("tokens").as_array().size(), 2u);
    EXPECT_EQ(request(h, "POST", "/v1/chat/completions", "not json").status, 400);
    auto missing = request(h, "GET", "/nope");
    EXPECT_EQ(missing.status, 404);
    EXPECT_TRUE(boost::json::parse(missing.body).at("error").is_object());  // OpenAI error object
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::LogLine, "i1"));
    runner->stop(h, 1s);
}

TEST_F(MockRunnerTest, StreamsServerSentEventsTokenByToken) {
    auto runner = make({{"token_delay_ms", 1}});
    auto h = runner->start(config("s1"));
    auto res = request(h, "POST", "/v1/chat/completions", R"({"stream":true,"max_tokens":5,"messages":[]})");
    ASSERT_EQ(res.status, 200);
    EXPECT_EQ(res.content_type, "text/event-stream");
    auto data = test::sse_data(res.body);
    ASSERT_EQ(data.size(), 7u);  // 5 tokens, the closing chunk, [DONE]
    std::string text;
    for (std::size_t i = 0; i < 5; ++i) text += boost::json::parse(data[i]).at("choices").at(0).at("delta").at("content").as_string();
    EXPECT_EQ(text, "Hello from the corral mock");
    const auto closing = boost::json::parse(data[5]);
    EXPECT_EQ(closing.at("choices").at(0).at("finish_reason").as_string(), "stop");
    // Like llama-server's, the closing chunk reports the usage (corral's metrics and activity count it).
    EXPECT_EQ(closing.at("usage").at("completion_tokens").as_int64(), 5);
    EXPECT_GT(closing.at("usage").at("prompt_tokens").as_int64(), 0);
    EXPECT_EQ(data[6], "[DONE]");
    runner->stop(h, 1s);
}

TEST_F(MockRunnerTest, HealthIs503WhileLoadingAndStartWaitsForReady) {
    auto runner = make();
    auto started = std::async(std::launch::async, [&] { return runner->start(config("l1", {{"load_delay_ms", 3000}})); });
    // The server logs its "listening" line (as llama-server does) before it has loaded.
    ASSERT_TRUE(events_.wait_for(RunnerEvent::Kind::LogLine, "l1"));
    auto listed = runner->list_running();
    ASSERT_EQ(listed.size(), 1u);
    std::optional<sdk::ProcessHandle> early = listed.front();
    ASSERT_TRUE(early);
    EXPECT_EQ(request(*early, "GET", "/health").status, 503);
    EXPECT_EQ(runner->health(*early).state, sdk::HealthState::Loading);
    EXPECT_EQ(started.wait_for(0s), std::future_status::timeout);  // start() has not returned yet
    auto h = started.get();
    EXPECT_EQ(runner->health(h).state, sdk::HealthState::Ok);
    runner->stop(h, 1s);
}

TEST_F(MockRunnerTest, StopThenStopAgainIsNotRunning) {
    auto runner = make();
    auto h = runner->start(config("x1"));
    runner->stop(h, 1s);
    EXPECT_FALSE(runner->is_running(h));
    auto exited = events_.wait_for(RunnerEvent::Kind::Exited, "x1");
    ASSERT_TRUE(exited);
    EXPECT_EQ(exited->payload.at("exit_code").as_int64(), 0);
    EXPECT_EQ(runner->health(h).state, sdk::HealthState::Unreachable);
    EXPECT_EQ(test::expect_sdk_error([&] { runner->stop(h, 1s); }).code(), sdk::ProcessError::NotRunning);
    EXPECT_TRUE(runner->list_running().empty());
}

TEST_F(MockRunnerTest, CrashAfterNRequestsResetsTheConnectionAndReportsTheExit) {
    auto runner = make({{"crash_after_requests", 1}});
    auto h = runner->start(config("c1"));
    EXPECT_EQ(request(h, "GET", "/health").status, 200);
    EXPECT_THROW(request(h, "POST", "/v1/chat/completions", R"({"messages":[]})"), boost::system::system_error);
    auto exited = events_.wait_for(RunnerEvent::Kind::Exited, "c1");
    ASSERT_TRUE(exited);
    EXPECT_EQ(exited->payload.at("signal").as_int64(), 9);
    EXPECT_THAT(std::string(exited->payload.at("message").as_string()), HasSubstr("simulated crash"));
    EXPECT_FALSE(runner->is_running(h));
    EXPECT_THROW(runner->stop(h, 1s), sdk::Error);
}

TEST_F(MockRunnerTest, FailingStartAndBadOptionsAreClearErrors) {
    auto runner = make();
    auto failed = test::expect_sdk_error([&] { runner->start(config("f1", {{"fail_start", "no GPU for you"}})); });
    EXPECT_EQ(failed.code(), sdk::ProcessError::StartFailed);
    EXPECT_THAT(failed.what(), HasSubstr("no GPU for you"));
    auto bad = test::expect_sdk_error([&] { runner->start(config("f2", {{"load_delay_ms", "soon"}})); });
    EXPECT_EQ(bad.code(), sdk::ProcessError::Configuration);
    EXPECT_THAT(bad.what(), HasSubstr("runner_options.load_delay_ms: expected integer, got string"));
    EXPECT_THROW(make({{"bogus", 1}}), sdk::Error);
}

TEST_F(MockRunnerTest, ManyConcurrentStartsGetDistinctPorts) {
    auto runner = make();
    std::vector<std::future<sdk::ProcessHandle>> starts;
    for (int i = 0; i < 8; ++i)
        starts.push_back(std::async(std::launch::async, [&, i] { return runner->start(config("p" + std::to_string(i))); }));
    std::set<std::string> endpoints;
    for (auto& f : starts) endpoints.insert(f.get().endpoint);
    EXPECT_EQ(endpoints.size(), 8u);
    EXPECT_EQ(runner->list_running().size(), 8u);
    for (const auto& h : runner->list_running()) runner->stop(h, 1s);
}

// With a state_dir (the host gives every runner one) servers listen on Unix sockets in its private
// sockets directory, as llama_server's do: no port for another process to take, less kernel work
// per connection; each socket goes with its server.
TEST_F(MockRunnerTest, ServesOnAUnixSocketInItsStateDirectory) {
    const fs::path dir = fs::temp_directory_path() / ("corral-mock-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    auto runner = make({{"state_dir", dir.string()}, {"token_delay_ms", 1}});
    auto h = runner->start(config("u1"));
    EXPECT_THAT(h.endpoint, ::testing::StartsWith("unix://" + (dir / "sockets").string() + "/"));
    const std::string socket(h.runner_data.at("socket").as_string());
    EXPECT_EQ("unix://" + socket, h.endpoint);
    EXPECT_FALSE(h.runner_data.as_object().contains("port"));
    EXPECT_EQ(fs::status(dir / "sockets").permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_EQ(fs::status(socket).type(), fs::file_type::socket);

    EXPECT_EQ(runner->health(h).state, sdk::HealthState::Ok);
    auto chat = request(h, "POST", "/v1/chat/completions", R"({"max_tokens":3,"messages":[]})");
    ASSERT_EQ(chat.status, 200);
    EXPECT_EQ(boost::json::parse(chat.body).at("choices").at(0).at("message").at("content").as_string(), "Hello from the");
    auto stream = request(h, "POST", "/v1/chat/completions", R"({"stream":true,"max_tokens":4,"messages":[]})");
    EXPECT_EQ(test::sse_data(stream.body).size(), 6u);  // 4 tokens, the closing chunk, [DONE]
    runner->stop(h, 1s);
    EXPECT_FALSE(fs::exists(socket));
    EXPECT_EQ(runner->health(h).state, sdk::HealthState::Unreachable);

    // A crash takes its socket with it too, and a client mid-request meets the end of the connection.
    auto crashing = runner->start(config("u2", {{"crash_after_requests", 1}}));
    const std::string crashing_socket(crashing.runner_data.at("socket").as_string());
    EXPECT_NE(crashing_socket, socket);
    EXPECT_EQ(request(crashing, "GET", "/health").status, 200);
    EXPECT_THROW(request(crashing, "POST", "/v1/chat/completions", R"({"messages":[]})"), boost::system::system_error);
    ASSERT_TRUE(events_.wait_for(RunnerEvent::Kind::Exited, "u2"));
    EXPECT_FALSE(fs::exists(crashing_socket));
    // A host killed with its servers leaves their sockets behind: the next runner clears them.
    const std::string left = (dir / "sockets" / "1-1.sock").string();
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, left.c_str(), left.size() + 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    ::close(fd);
    runner.reset();
    ASSERT_TRUE(fs::exists(left));
    make({{"state_dir", dir.string()}});
    EXPECT_FALSE(fs::exists(left));
    fs::remove_all(dir);
}

TEST_F(MockRunnerTest, TransportFollowsTheOptionsAndTheStartsAsk) {
    const fs::path dir = fs::temp_directory_path() / ("corral-mock-t-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    auto runner = make({{"state_dir", dir.string()}});
    // "tcp" (runner-wide or per model), a fixed port, or an address that is not loopback: a TCP port.
    auto tcp = runner->start(config("t1", {{"transport", "tcp"}}));
    EXPECT_THAT(tcp.endpoint, ::testing::StartsWith("http://127.0.0.1:"));
    EXPECT_GT(tcp.runner_data.at("port").as_int64(), 0);
    EXPECT_EQ(request(tcp, "GET", "/health").status, 200);
    auto fixed = config("t2");
    fixed.port = static_cast<uint16_t>(tcp.runner_data.at("port").as_int64());
    runner->stop(tcp, 1s);
    auto on_port = runner->start(fixed);
    EXPECT_EQ(on_port.endpoint, "http://127.0.0.1:" + std::to_string(*fixed.port));
    runner->stop(on_port, 1s);
    auto everywhere = config("t2b");
    everywhere.host = "0.0.0.0";
    auto network = runner->start(everywhere);
    EXPECT_THAT(network.endpoint, ::testing::StartsWith("http://0.0.0.0:"));
    runner->stop(network, 1s);
    // "unix" cannot be had with a fixed port, nor without a socket directory.
    auto both = config("t3", {{"transport", "unix"}});
    both.port = fixed.port;
    auto refused = test::expect_sdk_error([&] { runner->start(both); });
    EXPECT_EQ(refused.code(), sdk::ProcessError::Configuration);
    EXPECT_THAT(refused.what(), HasSubstr("transport \"unix\" and a fixed port"));
    auto no_dir = test::expect_sdk_error([&] { make({{"transport", "unix"}})->start(config("t4")); });
    EXPECT_EQ(no_dir.code(), sdk::ProcessError::Configuration);
    EXPECT_THAT(no_dir.what(), HasSubstr("needs the runner's state_dir"));
    // Without a state_dir, "auto" listens on a port, as before there were sockets.
    auto plain = make();
    auto h = plain->start(config("t5"));
    EXPECT_THAT(h.endpoint, ::testing::StartsWith("http://127.0.0.1:"));
    plain->stop(h, 1s);
    // Bad values name their JSON path; state_dir is the runner's alone.
    EXPECT_THAT(test::expect_sdk_error([&] {
                    make({{"transport", "pipe"}});
                }).what(),
                HasSubstr("options.transport: expected \"auto\", \"unix\" or \"tcp\", got \"pipe\""));
    EXPECT_THAT(test::expect_sdk_error([&] { runner->start(config("t6", {{"state_dir", "/tmp"}})); }).what(), HasSubstr("runner_options"));
    runner.reset();
    fs::remove_all(dir);
}

TEST_F(MockRunnerTest, DestroyingTheRunnerStopsItsServers) {
    auto runner = make();
    auto h = runner->start(config("d1"));
    runner.reset();
    EXPECT_TRUE(events_.wait_for(RunnerEvent::Kind::Exited, "d1"));
    EXPECT_THROW(request(h, "GET", "/health"), boost::system::system_error);
}

}  // namespace
}  // namespace corral::plugins
