// The bridge across the C ABI, both halves: the SDK's noexcept trampolines (plugin side) turn
// results and exceptions into status + sink text, and the host turns those back into values or
// sdk::Error. A GoogleMock ProcessRunner stands in for a plugin's class.
#include "plugins/abi_call.hpp"
#include "plugins/host_api.hpp"
#include "sdk_error.hpp"

#include <corral/sdk/plugin.hpp>

#include "mock_process_runner.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace corral {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Return;
using ::testing::Throw;

using MockRunner = test::MockProcessRunner;

using Trampolines = sdk::detail::RunnerTrampolines<MockRunner>;

corral_str str(const std::string& s) {
    return {s.data(), s.size()};
}

const std::string kConfig = R"({"instance_id":"i1","model_id":"m","model_name":"m","model_path":"/m.gguf","ctx_size":512})";
const std::string kHandle = R"({"instance_id":"i1","endpoint":"http://127.0.0.1:1","started_at":5})";

TEST(AbiBridge, StartRoundTripsTypedValues) {
    MockRunner runner;
    sdk::ProcessHandle handle;
    handle.instance_id = "i1";
    handle.endpoint = "http://127.0.0.1:4242";
    handle.pid = 77;
    EXPECT_CALL(runner, start(_)).WillOnce([&](const sdk::ServerConfig& c) {
        EXPECT_EQ(c.model_path, "/m.gguf");
        EXPECT_EQ(*c.ctx_size, 512u);
        return handle;
    });
    auto text = plugins::call_plugin("mockrunner", "start", [&](corral_sink* s) { return Trampolines::start(&runner, str(kConfig), s); });
    auto back = sdk::from_json<sdk::ProcessHandle>(sdk::parse_json(text, "t"), "t");
    EXPECT_EQ(back.endpoint, "http://127.0.0.1:4242");
    EXPECT_EQ(*back.pid, 77);
}

TEST(AbiBridge, SdkErrorsKeepTheirCodeAndMessage) {
    MockRunner runner;
    EXPECT_CALL(runner, stop(_, std::chrono::milliseconds(1500)))
        .WillOnce(Throw(sdk::Error(sdk::ProcessError::NotRunning, "already gone")));
    auto e = test::expect_sdk_error([&] {
        plugins::call_plugin("mockrunner", "stop", [&](corral_sink* s) { return Trampolines::stop(&runner, str(kHandle), 1500, s); });
    });
    EXPECT_EQ(e.code(), sdk::ProcessError::NotRunning);
    EXPECT_STREQ(e.what(), "plugin mockrunner: stop: already gone");
}

TEST(AbiBridge, ForeignExceptionsBecomeInternalErrors) {
    MockRunner runner;
    EXPECT_CALL(runner, list_running()).WillOnce(Throw(std::out_of_range("index 9")));
    EXPECT_CALL(runner, is_running(_)).WillOnce(Throw(17));
    plugins::OutputSink out;
    EXPECT_EQ(Trampolines::list_running(&runner, out.get()), CORRAL_INTERNAL);
    EXPECT_EQ(out.text(), "index 9");
    plugins::OutputSink out2;
    int32_t running = -1;
    EXPECT_EQ(Trampolines::is_running(&runner, str(kHandle), &running, out2.get()), CORRAL_INTERNAL);
    EXPECT_EQ(out2.text(), "unknown exception");
}

TEST(AbiBridge, MalformedInputIsAConfigurationErrorNamingThePath) {
    MockRunner runner;
    EXPECT_CALL(runner, start(_)).Times(0);
    plugins::OutputSink out;
    std::string bad = R"({"instance_id":"i1","model_id":"m","model_name":"m","ctx_size":"big"})";
    EXPECT_EQ(Trampolines::start(&runner, str(bad), out.get()), CORRAL_CONFIGURATION);
    EXPECT_EQ(out.text(), "server_config.ctx_size: expected integer, got string");
}

TEST(AbiBridge, ResultsAreWrittenOnlyOnSuccess) {
    MockRunner runner;
    sdk::ServerHealth h;
    h.state = sdk::HealthState::Loading;
    h.http_status = 503;
    EXPECT_CALL(runner, health(_)).WillOnce(Return(h));
    plugins::OutputSink out;
    ASSERT_EQ(Trampolines::health(&runner, str(kHandle), out.get()), CORRAL_OK);
    auto back = sdk::from_json<sdk::ServerHealth>(sdk::parse_json(out.text(), "h"), "h");
    EXPECT_EQ(back.state, sdk::HealthState::Loading);
    EXPECT_EQ(*back.http_status, 503);
}

TEST(AbiBridge, AdoptDefaultsToNotSupported) {
    MockRunner runner;
    plugins::OutputSink out;
    EXPECT_EQ(Trampolines::adopt(&runner, str(kHandle), out.get()), CORRAL_NOT_SUPPORTED);
}

// A runner with a disk of its own for prompt caches (ABI 1.2).
class CacheDiskRunner : public MockRunner {
public:
    MOCK_METHOD(std::string, slot_cache_root, (), (override));
    MOCK_METHOD(std::vector<sdk::StoredFile>, list_files, (const std::string&), (override));
    MOCK_METHOD(void, remove_files, (const std::vector<std::string>&), (override));
};
using CacheDiskTrampolines = sdk::detail::RunnerTrampolines<CacheDiskRunner>;

TEST(AbiBridge, CacheDiskCallsRoundTripAndDefaultToNotSupported) {
    CacheDiskRunner runner;
    EXPECT_CALL(runner, slot_cache_root()).WillOnce(Return("/srv/caches"));
    EXPECT_CALL(runner, list_files("/srv/caches/m"))
        .WillOnce(Return(std::vector<sdk::StoredFile>{{"fp/slot-0.a.bin", 1234, 1700000000123}}));
    EXPECT_CALL(runner, remove_files(std::vector<std::string>{"/srv/caches/m/fp", "/srv/caches/x y"}));
    auto root =
        plugins::call_plugin("r", "slot_cache_root", [&](corral_sink* s) { return CacheDiskTrampolines::slot_cache_root(&runner, s); });
    EXPECT_EQ(root, R"("/srv/caches")");
    const std::string dir = "/srv/caches/m";
    auto listed =
        plugins::call_plugin("r", "list_files", [&](corral_sink* s) { return CacheDiskTrampolines::list_files(&runner, str(dir), s); });
    auto files = sdk::parse_json(listed, "l").as_array();
    ASSERT_EQ(files.size(), 1u);
    auto file = sdk::from_json<sdk::StoredFile>(files[0], "l[0]");
    EXPECT_EQ(file.path, "fp/slot-0.a.bin");
    EXPECT_EQ(file.bytes, 1234u);
    EXPECT_EQ(file.modified_ms, 1700000000123);
    const std::string paths = R"(["/srv/caches/m/fp","/srv/caches/x y"])";
    plugins::call_plugin("r", "remove_files", [&](corral_sink* s) { return CacheDiskTrampolines::remove_files(&runner, str(paths), s); });
    plugins::OutputSink bad;
    EXPECT_EQ(CacheDiskTrampolines::remove_files(&runner, str(R"(["/a", 3])"), bad.get()), CORRAL_CONFIGURATION);
    EXPECT_THAT(bad.text(), HasSubstr("paths[1]"));

    MockRunner plain;  // a runner that keeps the defaults
    plugins::OutputSink out;
    EXPECT_EQ(Trampolines::slot_cache_root(&plain, out.get()), CORRAL_NOT_SUPPORTED);
    EXPECT_EQ(Trampolines::list_files(&plain, str(dir), out.get()), CORRAL_NOT_SUPPORTED);
}

TEST(AbiBridge, EventsFromTheSdkHostReachTheHostHandler) {
    ::testing::MockFunction<void(const plugins::RunnerEvent&)> handler;
    EXPECT_CALL(handler, Call(_)).WillOnce([](const plugins::RunnerEvent& ev) {
        EXPECT_EQ(ev.kind, plugins::RunnerEvent::Kind::Exited);
        EXPECT_EQ(ev.runner, "fake");
        EXPECT_EQ(ev.instance_id, "i7");
        EXPECT_EQ(ev.payload.at("signal").as_int64(), 9);
        EXPECT_TRUE(ev.payload.at("exit_code").is_null());
        EXPECT_EQ(ev.payload.at("message").as_string(), "killed");
    });
    plugins::PluginHostApi api("fake", handler.AsStdFunction());
    sdk::Host host(api.api());
    host.emit_exited("i7", std::nullopt, 9, "killed");
    host.info("logging works too: ", 42);
}

// ABI 1.3: a server's output line crosses as three strings (no JSON); a host of ABI 1.2 (its
// corral_host_api ends before log_line) gets the same line as a LogLine event.
TEST(AbiBridge, OutputLinesCrossWithoutJsonAndAsEventsToAnOlderHost) {
    const std::string line = std::string(R"(slot "0" | "quoted" \ and a tab)") + "\t" + "end";
    ::testing::MockFunction<void(std::string_view, std::string_view, std::string_view)> on_line;
    ::testing::MockFunction<void(const plugins::RunnerEvent&)> on_event;
    EXPECT_CALL(on_line, Call(std::string_view("i3"), std::string_view("stderr"), std::string_view(line)));
    EXPECT_CALL(on_event, Call(_)).Times(0);
    plugins::PluginHostApi api("fake", on_event.AsStdFunction(), on_line.AsStdFunction());
    sdk::Host(api.api()).emit_log_line("i3", "stderr", line);
    ::testing::Mock::VerifyAndClearExpectations(&on_line);

    // Without a line handler, the host hands the line on as a LogLine event.
    ::testing::MockFunction<void(const plugins::RunnerEvent&)> events_only;
    EXPECT_CALL(events_only, Call(_)).WillOnce([&](const plugins::RunnerEvent& ev) {
        EXPECT_EQ(ev.kind, plugins::RunnerEvent::Kind::LogLine);
        EXPECT_EQ(ev.runner, "fake");
        EXPECT_EQ(ev.instance_id, "i3");
        std::string_view stream, text;
        ASSERT_TRUE(plugins::log_line_of(ev, stream, text));
        EXPECT_EQ(stream, "stdout");
        EXPECT_EQ(text, line);
    });
    plugins::PluginHostApi events_api("fake", events_only.AsStdFunction());
    sdk::Host(events_api.api()).emit_log_line("i3", "stdout", line);

    // A host of ABI 1.2: the plugin writes the JSON event, and the line arrives whole.
    corral_host_api older = *api.api();
    older.struct_size = offsetof(corral_host_api, log_line);
    EXPECT_CALL(on_line, Call(_, _, _)).Times(0);
    EXPECT_CALL(on_event, Call(_)).WillOnce([&](const plugins::RunnerEvent& ev) {
        std::string_view stream, text;
        ASSERT_TRUE(plugins::log_line_of(ev, stream, text));
        EXPECT_EQ(stream, "stderr");
        EXPECT_EQ(text, line);
    });
    sdk::Host(&older).emit_log_line("i3", "stderr", line);
}

TEST(AbiBridge, AThrowingEventHandlerDoesNotEscapeIntoThePlugin) {
    plugins::PluginHostApi api("fake", [](const plugins::RunnerEvent&) { throw std::runtime_error("handler bug"); });
    sdk::Host host(api.api());
    EXPECT_NO_THROW(host.emit_log_line("i1", "stderr", "a line"));
    EXPECT_NO_THROW(host.emit_exited("i1", 1, std::nullopt, "gone"));
    plugins::PluginHostApi lines("fake", nullptr,
                                 [](std::string_view, std::string_view, std::string_view) { throw std::runtime_error("handler bug"); });
    EXPECT_NO_THROW(sdk::Host(lines.api()).emit_log_line("i1", "stderr", "a line"));
}

TEST(AbiBridge, AnOlderHostApiWithoutEmitIsSafe) {
    plugins::PluginHostApi api("fake", nullptr);
    corral_host_api old = *api.api();
    old.struct_size = offsetof(corral_host_api, emit);  // as a host of an earlier minor would pass
    sdk::Host host(&old);
    EXPECT_NO_THROW(host.emit_ready(sdk::ProcessHandle{}));
}

}  // namespace
}  // namespace corral
