// Config parsing: every error class names its JSON path, and all errors come back at once.
#include "config/config_loader.hpp"

#include <gmock/gmock.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace corral::config {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::SizeIs;

auto HasError(const std::string& path, const std::string& message_part) {
    return Contains(AllOf(Field(&ConfigError::path, path), Field(&ConfigError::message, HasSubstr(message_part))));
}

constexpr const char* kValid = R"({
  // comments and trailing commas are allowed
  "listen": "127.0.0.1:9090",
  "runners": {
    "local": {"plugin": "llama_server", "binary": "llama-server"},
    "fake": {"plugin": "mock", "load_delay_ms": 10},
  },
  "probes": ["cpu"],
  "scheduler": {"max_loaded": 2, "memory_headroom": 0.2, "memory_budget": "8GiB", "load_timeout": "2m"},
  "models": {
    "qwen3-4b": {"path": "models/qwen.gguf", "runner": "local", "ctx_size": 8192, "gpu_layers": "auto",
                 "ttl": "10m", "aliases": ["qwen"], "flash_attn": true, "sampling": {"temperature": 0.7},
                 "env": {"A": "1"}, "extra_args": ["--no-warmup"], "memory": "3GiB"},
    "toy": {"path": "/m/toy.gguf", "runner": "fake", "gpu_layers": 0, "runner_options": {"token_delay_ms": 5}},
  },
  "preload": ["qwen"],
})";

TEST(Config, ParsesAValidConfigIntoTypedValues) {
    auto r = parse_config(kValid, "/etc/corral");
    ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors.front().to_string());
    const Config& c = *r.config;
    EXPECT_EQ(c.listen.host, "127.0.0.1");
    EXPECT_EQ(c.listen.port, 9090);
    ASSERT_THAT(c.runners, SizeIs(2));
    EXPECT_EQ(c.find_runner("local")->plugin, "llama_server");
    EXPECT_EQ(c.find_runner("local")->options.at("binary").as_string(), "llama-server");
    EXPECT_FALSE(c.find_runner("local")->options.contains("plugin"));
    EXPECT_EQ(*c.scheduler.max_loaded, 2);
    EXPECT_DOUBLE_EQ(c.scheduler.memory_headroom, 0.2);
    EXPECT_EQ(*c.scheduler.memory_budget, 8ull << 30);
    EXPECT_EQ(c.scheduler.load_timeout, std::chrono::minutes(2));
    ASSERT_THAT(c.models, SizeIs(2));
    const ModelConfig* qwen = c.find_model("qwen");  // by alias
    ASSERT_NE(qwen, nullptr);
    EXPECT_EQ(qwen->name, "qwen3-4b");
    EXPECT_EQ(qwen->server.model_path, "/etc/corral/models/qwen.gguf");  // relative to the config's directory
    EXPECT_EQ(*qwen->server.ctx_size, 8192u);
    EXPECT_EQ(*qwen->server.gpu_layers, "auto");
    EXPECT_EQ(*qwen->server.flash_attn, "on");
    EXPECT_EQ(*qwen->ttl, std::chrono::minutes(10));
    EXPECT_EQ(*qwen->memory, 3ull << 30);
    EXPECT_DOUBLE_EQ(*qwen->server.sampling.temperature, 0.7);
    EXPECT_EQ(qwen->server.env.at("A"), "1");
    EXPECT_EQ(c.find_model("toy")->server.gpu_layers, "0");
    EXPECT_EQ(c.find_model("toy")->server.runner_options.at("token_delay_ms").as_int64(), 5);
}

TEST(Config, EmptyObjectIsValidWithSafeDefaults) {
    auto r = parse_config("{}", "");
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->listen.host, "127.0.0.1");  // loopback unless told otherwise
    EXPECT_EQ(r.config->listen.port, 8080);
}

// Found by fuzz.config: integers above INT64_MAX are Boost.JSON uint64s; they are out of range, not a throw.
TEST(Config, CountsAboveInt64AreOutOfRangeErrors) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}},
                             "models": {"q": {"path": "/m/q.gguf", "replicas": 11768579260231841113}},
                             "scheduler": {"swap_batch": 18446744073709551615}})",
                          "");
    EXPECT_FALSE(r.config);
    EXPECT_THAT(r.errors, Contains(Field(&ConfigError::path, "models.q.replicas")));
    EXPECT_THAT(r.errors, Contains(Field(&ConfigError::path, "scheduler.swap_batch")));
}

TEST(Config, IoThreadsAreAutomaticOrOneToSixtyFour) {
    auto automatic = parse_config("{}", "");
    ASSERT_TRUE(automatic.config);
    EXPECT_EQ(automatic.config->io_threads, 0u);
    auto four = parse_config(R"({"io_threads": 4})", "");
    ASSERT_TRUE(four.config);
    EXPECT_EQ(four.config->io_threads, 4u);
    EXPECT_THAT(parse_config(R"({"io_threads": 0})", "").errors, HasError("io_threads", "must be at least 1"));
    EXPECT_THAT(parse_config(R"({"io_threads": 65})", "").errors, HasError("io_threads", "must be at most 64"));
    EXPECT_THAT(parse_config(R"({"io_threads": "many"})", "").errors, HasError("io_threads", "expected integer, got string"));
}

TEST(Config, SyntaxErrorIsLocatedByLineAndColumn) {
    auto r = parse_config("{\n  \"listen\": \"x\",\n  \"models\": {,}\n}", "");
    ASSERT_THAT(r.errors, SizeIs(1));
    EXPECT_THAT(r.errors[0].message, HasSubstr("invalid JSON"));
    EXPECT_EQ(r.errors[0].line, 3);
    EXPECT_FALSE(r.config);
}

TEST(Config, UnknownKeysAreErrorsWithASuggestion) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}},
                             "models": {"m": {"path": "/x", "ctx_sise": 4}}, "listne": "1.2.3.4:5"})",
                          "");
    EXPECT_THAT(r.errors, HasError("models.m.ctx_sise", "did you mean \"ctx_size\""));
    EXPECT_THAT(r.errors, HasError("listne", "did you mean \"listen\""));
}

TEST(Config, WrongTypesNameThePathAndBothTypes) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": 3}},
                             "models": {"m": {"path": "/x", "runner": "l", "ctx_size": "big", "aliases": ["a", 5]}}})",
                          "");
    EXPECT_THAT(r.errors, HasError("runners.l.plugin", "expected string, got integer"));
    EXPECT_THAT(r.errors, HasError("models.m.ctx_size", "expected integer, got string"));
    EXPECT_THAT(r.errors, HasError("models.m.aliases[1]", "expected string, got integer"));
}

TEST(Config, DevicesAreAutoCpuOrAListOfSelectors) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}},
                             "models": {"a": {"path": "/a"}, "b": {"path": "/b", "devices": "auto"}, "c": {"path": "/c", "devices": "cpu"},
                                        "d": {"path": "/d", "devices": ["cuda:1", "GPU-8f3c"]}}})",
                          "");
    ASSERT_TRUE(r.config) << r.errors.front().to_string();
    using Mode = DeviceRequest::Mode;
    EXPECT_EQ(r.config->models[0].devices.mode, Mode::Auto);
    EXPECT_EQ(r.config->models[1].devices.mode, Mode::Auto);
    EXPECT_EQ(r.config->models[2].devices.mode, Mode::Cpu);
    EXPECT_EQ(r.config->models[3].devices, (DeviceRequest{Mode::Pinned, {"cuda:1", "GPU-8f3c"}}));

    r = parse_config(R"({"runners": {"l": {"plugin": "mock"}},
                        "models": {"a": {"path": "/a", "devices": "gpu"}, "b": {"path": "/b", "devices": []},
                                   "c": {"path": "/c", "devices": ["cuda:0", 1, "", "cuda:0"]}, "d": {"path": "/d", "devices": 0}}})",
                     "");
    EXPECT_THAT(r.errors, HasError("models.a.devices", "expected \"auto\", \"cpu\" or a list of devices"));
    EXPECT_THAT(r.errors, HasError("models.b.devices", "got []"));
    EXPECT_THAT(r.errors, HasError("models.c.devices[1]", "expected a device such as \"cuda:0\""));
    EXPECT_THAT(r.errors, HasError("models.c.devices[2]", "got \"\""));
    EXPECT_THAT(r.errors, HasError("models.c.devices[3]", "\"cuda:0\" is listed twice"));
    EXPECT_THAT(r.errors, HasError("models.d.devices", "got 0"));
}

TEST(Config, ReplicasAreACountOrARangeAndRunnersMayBeAList) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}, "box2": {"plugin": "mock"}},
                             "models": {"a": {"path": "/a", "runner": "l"},
                                        "b": {"path": "/b", "runner": ["l", "box2"], "replicas": 2, "routing": "least_busy"},
                                        "c": {"path": "/c", "runner": "l", "replicas": {"min": 1, "max": 4, "scale_up_after": "5s"}},
                                        "d": {"path": "/d", "runner": "l", "replicas": {"max": 3}}}})",
                          "");
    ASSERT_TRUE(r.config) << r.errors.front().to_string();
    const auto& m = r.config->models;
    EXPECT_EQ(m[0].replicas, ReplicaPolicy{});
    EXPECT_EQ(m[0].runners, std::vector<std::string>{"l"});
    EXPECT_TRUE(m[0].prefix_routing);
    EXPECT_EQ(m[1].runner, "l");
    EXPECT_EQ(m[1].runners, (std::vector<std::string>{"l", "box2"}));
    EXPECT_EQ(m[1].replicas, (ReplicaPolicy{0, 2, 2, std::chrono::seconds(2)}));
    EXPECT_FALSE(m[1].prefix_routing);
    EXPECT_EQ(m[2].replicas, (ReplicaPolicy{1, 1, 4, std::chrono::seconds(5)}));
    EXPECT_TRUE(m[2].replicas.autoscales());
    EXPECT_EQ(m[3].replicas, (ReplicaPolicy{0, 1, 3, std::chrono::seconds(2)}));

    r = parse_config(R"({"runners": {"l": {"plugin": "mock"}},
                        "models": {"a": {"path": "/a", "replicas": 0}, "b": {"path": "/b", "replicas": {"min": 3, "max": 2}},
                                   "c": {"path": "/c", "replicas": {"min": 1}}, "d": {"path": "/d", "replicas": "two"},
                                   "e": {"path": "/e", "runner": ["l", "l", "x", 3]}, "f": {"path": "/f", "routing": "random"},
                                   "g": {"path": "/g", "runner": []}}})",
                     "");
    EXPECT_THAT(r.errors, HasError("models.a.replicas", "expected 1 to 64 replicas, got 0"));
    EXPECT_THAT(r.errors, HasError("models.b.replicas.min", "must not be above \"max\" (2)"));
    EXPECT_THAT(r.errors, HasError("models.c.replicas.max", "required key is missing"));
    EXPECT_THAT(r.errors, HasError("models.d.replicas", "expected a number of replicas or {\"min\": 0, \"max\": 4}"));
    EXPECT_THAT(r.errors, HasError("models.e.runner[1]", "\"l\" is listed twice"));
    EXPECT_THAT(r.errors, HasError("models.e.runner[2]", "no runner named \"x\""));
    EXPECT_THAT(r.errors, HasError("models.e.runner[3]", "expected a runner's name, got 3"));
    EXPECT_THAT(r.errors, HasError("models.f.routing", "expected one of prefix, least_busy"));
    EXPECT_THAT(r.errors, HasError("models.g.runner", "non-empty list"));
}

TEST(Config, MissingRunnerAndPluginAreReported) {
    auto r = parse_config(R"({"runners": {"a": {}, "b": {"plugin": "mock"}},
                             "models": {"m": {"path": "/x", "runner": "nope"}, "n": {"path": "/y"}, "o": {"runner": "b"}}})",
                          "");
    EXPECT_THAT(r.errors, HasError("runners.a.plugin", "required key is missing"));
    EXPECT_THAT(r.errors, HasError("models.m.runner", "no runner named \"nope\""));
    EXPECT_THAT(r.errors, HasError("models.n.runner", "several runners are configured"));
    EXPECT_THAT(r.errors, HasError("models.o.path", "required key is missing"));
}

TEST(Config, TheOnlyRunnerIsTheDefault) {
    auto r = parse_config(R"({"runners": {"only": {"plugin": "mock"}}, "models": {"m": {"path": "/x"}}})", "");
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->models[0].runner, "only");
}

TEST(Config, DuplicateNamesAndAliasesAreReported) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}},
                             "models": {"a": {"path": "/x", "aliases": ["b", "shared"]},
                                        "b": {"path": "/y"},
                                        "c": {"path": "/z", "aliases": ["shared"]}}})",
                          "");
    EXPECT_THAT(r.errors, HasError("models.b", "\"b\" is already used by models.a.aliases[0]"));
    EXPECT_THAT(r.errors, HasError("models.c.aliases[0]", "\"shared\" is already used by models.a.aliases[1]"));
}

TEST(Config, DuplicateKeysAreReportedWithTheirLine) {
    auto r = parse_config(
        "{\"runners\": {\"l\": {\"plugin\": \"mock\"}},\n \"models\": {\"a\": {\"path\": \"/x\"},\n  \"a\": {\"path\": \"/y\"}}}", "");
    ASSERT_THAT(r.errors, SizeIs(1));
    EXPECT_EQ(r.errors[0].path, "models.a");
    EXPECT_THAT(r.errors[0].message, HasSubstr("duplicate key"));
    EXPECT_EQ(r.errors[0].line, 3);
}

TEST(Config, BadDurationsSizesAndChoicesAreReported) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}},
                             "scheduler": {"max_loaded": 0, "memory_headroom": 1.5, "queue_timeout": "soon"},
                             "models": {"m": {"path": "/x", "ttl": "10x", "memory": "lots", "cache_type_k": "q3",
                                              "gpu_layers": "most", "flash_attn": "maybe"}}})",
                          "");
    EXPECT_THAT(r.errors, HasError("models.m.ttl", "expected a duration"));
    EXPECT_THAT(r.errors, HasError("models.m.memory", "expected a size"));
    EXPECT_THAT(r.errors, HasError("models.m.cache_type_k", "expected one of"));
    EXPECT_THAT(r.errors, HasError("models.m.gpu_layers", "\"auto\", \"all\" or a number"));
    EXPECT_THAT(r.errors, HasError("models.m.flash_attn", "expected one of on, off, auto"));
    EXPECT_THAT(r.errors, HasError("scheduler.max_loaded", "at least 1"));
    EXPECT_THAT(r.errors, HasError("scheduler.memory_headroom", "fraction"));
    EXPECT_THAT(r.errors, HasError("scheduler.queue_timeout", "expected a duration"));
}

// A number of seconds too large for a clock (the config fuzzer's find: converting it was undefined
// behaviour) is a bad duration like any other.
TEST(Config, ADurationBeyondTheClocksIsReported) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}}, "scheduler": {"queue_timeout": 1e300},
                             "models": {"m": {"path": "/x", "ttl": 1e16}}})",
                          "");
    EXPECT_THAT(r.errors, HasError("models.m.ttl", "expected a duration"));
    EXPECT_THAT(r.errors, HasError("scheduler.queue_timeout", "expected a duration"));
    auto fine = parse_config(R"({"runners": {"l": {"plugin": "mock"}}, "models": {"m": {"path": "/x", "ttl": 1.5}}})", "");
    EXPECT_TRUE(fine.errors.empty());
}

TEST(Config, ListenAndPreloadAreChecked) {
    auto r = parse_config(R"({"listen": "localhost", "preload": ["ghost"], "api_keys": [""]})", "");
    EXPECT_THAT(r.errors, HasError("listen", "expected \"host:port\""));
    EXPECT_THAT(r.errors, HasError("preload[0]", "no model or alias named \"ghost\""));
    EXPECT_THAT(r.errors, HasError("api_keys[0]", "must not be empty"));
}

TEST(Config, ApiKeysAreStringsOrScopedObjects) {
    const auto dir = std::filesystem::temp_directory_path() / ("corral-config-keys-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "team.key") << "from-file\n";
    ::setenv("CORRAL_TEST_KEY", "from-env", 1);
    auto r = parse_config(R"({
      "runners": {"m": {"plugin": "mock"}},
      "models": {"tiny-a": {"path": "/dev/null"}, "toy": {"path": "/dev/null", "aliases": ["t"]}},
      "api_keys": ["plain",
                   {"key": "k2", "name": "ci", "models": ["tiny-*", "t"], "max_concurrency": 2, "requests_per_minute": 60},
                   {"key_file": "team.key", "admin": true},
                   {"key_env": "CORRAL_TEST_KEY", "name": "env"}]})",
                          dir);
    ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors.front().to_string());
    const auto& keys = r.config->api_keys;
    ASSERT_EQ(keys.size(), 4u);
    EXPECT_EQ(keys[0].key, "plain");
    EXPECT_EQ(keys[0].name, "key-1");
    EXPECT_TRUE(keys[0].admin) << "plain strings keep their old rights";
    EXPECT_EQ(keys[1].name, "ci");
    EXPECT_EQ(keys[1].models, (std::vector<std::string>{"tiny-*", "t"}));
    EXPECT_FALSE(keys[1].admin) << "a scoped key is not an admin key unless it says so";
    EXPECT_EQ(keys[1].max_concurrency, 2u);
    EXPECT_EQ(keys[1].requests_per_minute, 60u);
    EXPECT_EQ(keys[2].key, "from-file") << "the file's trailing newline is not part of the key";
    EXPECT_EQ(keys[2].name, "key-3");
    EXPECT_TRUE(keys[2].admin);
    EXPECT_EQ(keys[3].key, "from-env");
    std::filesystem::remove_all(dir);
}

TEST(Config, ApiKeyMistakesNameTheirPathAndNeverTheKey) {
    ::unsetenv("CORRAL_TEST_NO_SUCH_KEY");
    auto r = parse_config(R"({
      "runners": {"m": {"plugin": "mock"}},
      "models": {"toy": {"path": "/dev/null"}},
      "api_keys": [{"key": "sekrit", "key_env": "X"},
                   {"key_env": "CORRAL_TEST_NO_SUCH_KEY"},
                   {"key_file": "/nonexistent/key"},
                   {"key": "a", "models": ["toyy", ""], "max_concurrency": 0, "requests_per_minute": 0, "name": "bad name"},
                   {"key": "a"},
                   {"key": "b", "name": "key-5"},
                   7,
                   {"key_file": "/dev/zero"}]})",
                          "");
    EXPECT_THAT(r.errors, HasError("api_keys[0]", "exactly one of \"key\", \"key_file\""));
    EXPECT_THAT(r.errors, HasError("api_keys[1].key_env", "CORRAL_TEST_NO_SUCH_KEY is not set"));
    EXPECT_THAT(r.errors, HasError("api_keys[2].key_file", "cannot read /nonexistent/key"));
    EXPECT_THAT(r.errors, HasError("api_keys[3].models[0]", "no model or alias named \"toyy\""));
    EXPECT_THAT(r.errors, HasError("api_keys[3].models[1]", "must not be empty"));
    EXPECT_THAT(r.errors, HasError("api_keys[3].max_concurrency", "at least 1"));
    EXPECT_THAT(r.errors, HasError("api_keys[3].requests_per_minute", "at least 1"));
    EXPECT_THAT(r.errors, HasError("api_keys[3].name", "letters, digits"));
    EXPECT_THAT(r.errors, HasError("api_keys[4]", "the same key as api_keys entry"));
    EXPECT_THAT(r.errors, HasError("api_keys[5].name", "another key is named \"key-5\""));
    EXPECT_THAT(r.errors, HasError("api_keys[6]", "expected a key (string) or an object"));
    EXPECT_THAT(r.errors, HasError("api_keys[7].key_file", "not a regular file")) << "a device is never read";
    for (const auto& e : r.errors) EXPECT_EQ(e.to_string().find("sekrit"), std::string::npos) << e.to_string();
}

TEST(Config, TlsNeedsACertificateAndAKey) {
    auto r = parse_config(R"({"tls": {"cert": "/nonexistent/cert.pem"}})", "");
    EXPECT_THAT(r.errors, HasError("tls.key", "required key is missing"));
    auto missing = parse_config(R"({"tls": {"cert": "/nonexistent/cert.pem", "key": "/nonexistent/key.pem"}})", "");
    EXPECT_THAT(missing.errors, HasError("tls.cert", "no such file: /nonexistent/cert.pem"));
    EXPECT_THAT(missing.errors, HasError("tls.key", "no such file: /nonexistent/key.pem"));
}

TEST(Config, CorsOriginsAreOriginsOrAStar) {
    auto r = parse_config(R"({"cors_origins": ["*", "https://app.example.com", "http://[::1]:5173", "http://localhost:3000"]})", "");
    ASSERT_TRUE(r.config) << (r.errors.empty() ? "" : r.errors.front().to_string());
    EXPECT_EQ(r.config->cors_origins.size(), 4u);
    r = parse_config(R"({"cors_origins": ["https://app.example.com/", "app.example.com", "https://a/b", ""]})", "");
    EXPECT_THAT(r.errors, HasError("cors_origins[0]", "scheme://host[:port], no path"));
    EXPECT_THAT(r.errors, HasError("cors_origins[1]", "expected \"*\" or an origin"));
    EXPECT_THAT(r.errors, HasError("cors_origins[2]", "no path"));
    EXPECT_THAT(r.errors, HasError("cors_origins[3]", "expected \"*\" or an origin"));
}

TEST(Config, IPv6ListenAddress) {
    auto r = parse_config(R"({"listen": "[::1]:8081"})", "");
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->listen.host, "::1");
    EXPECT_EQ(r.config->listen.port, 8081);
}

TEST(Config, ServeSettingsAreParsedAndChecked) {
    auto r = parse_config(R"({"max_request_body": "1MiB", "shutdown_grace": "5s", "send_loading_state": true,
        "scheduler": {"max_queue": 3},
        "supervisor": {"health_interval": "2s", "restart_attempts": 5, "restart_backoff": "250ms", "stop_grace": 3}})",
                          "");
    ASSERT_TRUE(r.config) << r.errors.front().to_string();
    EXPECT_EQ(r.config->max_request_body, 1u << 20);
    EXPECT_EQ(r.config->shutdown_grace, std::chrono::seconds(5));
    EXPECT_TRUE(r.config->send_loading_state);
    EXPECT_EQ(r.config->scheduler.max_queue, 3);
    EXPECT_EQ(r.config->supervisor.health_interval, std::chrono::seconds(2));
    EXPECT_EQ(r.config->supervisor.restart_attempts, 5);
    EXPECT_EQ(r.config->supervisor.restart_backoff, std::chrono::milliseconds(250));
    EXPECT_EQ(r.config->supervisor.stop_grace, std::chrono::seconds(3));

    auto bad = parse_config(R"({"max_request_body": "10", "supervisor": {"health_interval": "1ms", "restart_atempts": 1}})", "");
    EXPECT_THAT(bad.errors, HasError("max_request_body", "at least 1KiB"));
    EXPECT_THAT(bad.errors, HasError("supervisor.health_interval", "at least 100ms"));
    EXPECT_THAT(bad.errors, HasError("supervisor.restart_atempts", "did you mean \"restart_attempts\""));
}

TEST(Config, TheConsoleIsOnUnlessTurnedOff) {
    auto defaults = parse_config("{}", "");
    ASSERT_TRUE(defaults.config);
    EXPECT_TRUE(defaults.config->console);
    auto off = parse_config(R"({"console": false})", "");
    ASSERT_TRUE(off.config);
    EXPECT_FALSE(off.config->console);
    EXPECT_THAT(parse_config(R"({"console": "no"})", "").errors, HasError("console", "boolean"));
    EXPECT_THAT(parse_config(R"({"consle": true})", "").errors, HasError("consle", "did you mean \"console\""));
}

TEST(Config, SwapBatchesPrioritiesAndPromptCaches) {
    auto defaults = parse_config("{}", "");
    ASSERT_TRUE(defaults.config);
    EXPECT_EQ(defaults.config->scheduler.swap_batch_requests, 8);
    EXPECT_EQ(defaults.config->scheduler.swap_batch_time, std::chrono::seconds(10));
    EXPECT_EQ(defaults.config->scheduler.max_wait_for_swap, std::chrono::seconds(30));
    EXPECT_TRUE(defaults.config->kv_cache.keep);
    EXPECT_EQ(defaults.config->kv_cache.max_disk, 10ull << 30);

    auto by_count = parse_config(R"({"scheduler": {"swap_batch": 1, "max_wait_for_swap": "2m"}})", "");
    ASSERT_TRUE(by_count.config) << by_count.errors.front().to_string();
    EXPECT_EQ(by_count.config->scheduler.swap_batch_requests, 1);
    EXPECT_FALSE(by_count.config->scheduler.swap_batch_time);  // a number bounds requests only
    EXPECT_EQ(by_count.config->scheduler.max_wait_for_swap, std::chrono::minutes(2));
    auto by_time = parse_config(R"({"scheduler": {"swap_batch": "5s"}})", "");
    ASSERT_TRUE(by_time.config);
    EXPECT_FALSE(by_time.config->scheduler.swap_batch_requests);
    EXPECT_EQ(by_time.config->scheduler.swap_batch_time, std::chrono::seconds(5));
    auto both = parse_config(R"({"scheduler": {"swap_batch": {"requests": 4, "time": "1m"}},
        "kv_cache": {"keep": false, "max_disk": "2GiB", "timeout": "3s"},
        "runners": {"l": {"plugin": "llama_server"}},
        "models": {"m": {"path": "/m.gguf", "priority": -2, "kv_cache": {"keep": true}}, "n": {"path": "/n.gguf"}}})",
                             "");
    ASSERT_TRUE(both.config) << both.errors.front().to_string();
    EXPECT_EQ(both.config->scheduler.swap_batch_requests, 4);
    EXPECT_EQ(both.config->scheduler.swap_batch_time, std::chrono::minutes(1));
    EXPECT_FALSE(both.config->kv_cache.keep);
    EXPECT_EQ(both.config->kv_cache.max_disk, 2ull << 30);
    EXPECT_EQ(both.config->kv_cache.timeout, std::chrono::seconds(3));
    EXPECT_EQ(both.config->models[0].priority, -2);
    EXPECT_EQ(both.config->models[0].keep_kv_cache, true);
    EXPECT_EQ(both.config->models[1].keep_kv_cache, std::nullopt);

    auto bad = parse_config(R"({"scheduler": {"swap_batch": 0, "max_wait_for_swap": "soon"},
        "kv_cache": {"keep": "yes", "max_disk": "lots", "timeout": "1ms", "kep": 1},
        "runners": {"l": {"plugin": "llama_server"}},
        "models": {"m": {"path": "/m.gguf", "priority": 1.5, "kv_cache": {"keep": 1}}}})",
                            "");
    EXPECT_THAT(bad.errors, HasError("scheduler.swap_batch", "1 to 1000000 requests"));
    EXPECT_THAT(bad.errors, HasError("scheduler.max_wait_for_swap", "expected a duration"));
    EXPECT_THAT(bad.errors, HasError("kv_cache.keep", "expected bool"));
    EXPECT_THAT(bad.errors, HasError("kv_cache.max_disk", "expected a size"));
    EXPECT_THAT(bad.errors, HasError("kv_cache.timeout", "at least 100ms"));
    EXPECT_THAT(bad.errors, HasError("kv_cache.kep", "did you mean \"keep\""));
    EXPECT_THAT(bad.errors, HasError("models.m.priority", "expected"));
    EXPECT_THAT(bad.errors, HasError("models.m.kv_cache.keep", "expected bool"));
    auto shape = parse_config(R"({"scheduler": {"swap_batch": [1]}})", "");
    EXPECT_THAT(shape.errors, HasError("scheduler.swap_batch", "a number of requests, a duration"));
}

TEST(Config, ListenPortZeroPicksAFreePort) {
    auto r = parse_config(R"({"listen": "127.0.0.1:0"})", "");
    ASSERT_TRUE(r.config);
    EXPECT_EQ(r.config->listen.port, 0);
}

TEST(Config, ErrorsMentionLineWhenKnownInTheirText) {
    ConfigError e{"models.m", "duplicate key", 4, 7};
    EXPECT_EQ(e.to_string(), "models.m (line 4, column 7): duplicate key");
    EXPECT_EQ((ConfigError{"", "invalid JSON", 0, 0}.to_string()), "(document): invalid JSON");
}

TEST(Config, MissingFileIsAnError) {
    auto r = load_config_file("/nonexistent/corral.json");
    ASSERT_THAT(r.errors, SizeIs(1));
    EXPECT_THAT(r.errors[0].message, HasSubstr("cannot read config file"));
}

}  // namespace
}  // namespace corral::config

namespace corral::config {
namespace {

TEST(ConfigModelsDir, ParsingReadsTheFoldersAndTheDefaultsButNoFile) {
    auto r = parse_config(R"({"runners": {"l": {"plugin": "mock"}}, "models_dir": ["models", "/srv/more"],
        "model_defaults": {"ctx_size": 512, "ttl": "2m", "concurrency": 2}})",
                          "/base");
    ASSERT_TRUE(r.config) << r.errors.front().to_string();
    EXPECT_EQ(r.config->models_dirs, (std::vector<std::filesystem::path>{"/base/models", "/srv/more"}));
    ASSERT_TRUE(r.config->model_defaults);
    EXPECT_EQ(r.config->model_defaults->server.ctx_size, 512);
    EXPECT_EQ(r.config->model_defaults->ttl, std::chrono::minutes(2));
    EXPECT_EQ(r.config->model_defaults->runner, "l") << "the one runner, as for a model entry";
    EXPECT_TRUE(r.config->models.empty()) << "the folders are listed by add_models_from_dirs, not by parsing";

    auto one = parse_config(R"({"runners": {"l": {"plugin": "mock"}}, "models_dir": "m"})", "/base");
    ASSERT_TRUE(one.config);
    EXPECT_EQ(one.config->models_dirs, (std::vector<std::filesystem::path>{"/base/m"}));

    EXPECT_THAT(parse_config(R"({"models_dir": [1]})", "").errors, HasError("models_dir", "a folder's path or a list of them"));
    EXPECT_THAT(parse_config(R"({"models_dir": "m", "model_defaults": {"aliases": ["x"]}})", "").errors,
                HasError("model_defaults.aliases", "unknown key"));
    EXPECT_THAT(
        parse_config(R"({"runners": {"l": {"plugin": "mock"}}, "models_dir": "m", "model_defaults": {"ctx_size": "big"}})", "").errors,
        HasError("model_defaults.ctx_size", ""));
}

TEST(ConfigModelsDir, TheFoldersModelsTakeTheDefaultsAndAnEntryOfTheSameNameWins) {
    const auto dir = std::filesystem::temp_directory_path() / ("corral-config-models-dir-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "m");
    // The smallest whole GGUF file: a header with no tensors.
    const std::string header("GGUF\x03\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 24);
    for (const char* name : {"Alpha.gguf", "beta.gguf", "mmproj-alpha.gguf", "Gamma-00001-of-00002.gguf"})
        std::ofstream(dir / "m" / name, std::ios::binary) << header;
    std::ofstream(dir / "config.json") << R"({"runners": {"l": {"plugin": "mock"}}, "models_dir": "m",
        "model_defaults": {"ctx_size": 512, "extra_args": ["--verbose"]},
        "models": {"beta": {"path": "elsewhere.gguf", "ctx_size": 64}},
        "preload": ["alpha"], "api_keys": [{"key": "k", "models": ["alpha"]}]})";
    auto r = load_config_file(dir / "config.json");
    ASSERT_TRUE(r.config) << r.errors.front().to_string();
    ASSERT_EQ(r.config->models.size(), 2u);
    EXPECT_EQ(r.config->models[0].name, "beta");
    EXPECT_EQ(r.config->models[0].server.ctx_size, 64);
    EXPECT_FALSE(r.config->models[0].from_models_dir);
    const auto& alpha = r.config->models[1];
    EXPECT_EQ(alpha.name, "alpha");
    EXPECT_TRUE(alpha.from_models_dir);
    EXPECT_EQ(alpha.server.model_path, (dir / "m" / "Alpha.gguf").string());
    EXPECT_EQ(alpha.server.model_name, "alpha");
    EXPECT_EQ(alpha.server.ctx_size, 512);
    EXPECT_EQ(alpha.server.extra_args, (std::vector<std::string>{"--verbose", "--mmproj", (dir / "m" / "mmproj-alpha.gguf").string()}));
    std::string notes;
    for (const auto& n : r.config->models_dir_notes) notes += n + "\n";
    EXPECT_THAT(notes, HasSubstr("not served as \"beta\": that name is taken under \"models\""));
    EXPECT_THAT(notes, HasSubstr("1 of the 2 parts of \"gamma\""));

    // preload and key scopes may name the folders' models; a name found nowhere is still an error.
    std::ofstream(dir / "config.json") << R"({"runners": {"l": {"plugin": "mock"}}, "models_dir": "m",
        "preload": ["gamma"], "api_keys": [{"key": "k", "models": ["ghost", "a*"]}]})";
    auto bad = load_config_file(dir / "config.json");
    EXPECT_FALSE(bad.config);
    EXPECT_THAT(bad.errors, HasError("preload[0]", "no model or alias named \"gamma\" under \"models\" or in \"models_dir\""));
    EXPECT_THAT(bad.errors, HasError("api_keys[0].models[0]", "no model or alias named \"ghost\""));
    EXPECT_EQ(bad.errors.size(), 2u);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace corral::config
