// ServerConfig -> llama-server flags.
#include "command_line.hpp"
#include "llama_output.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace corral::llama {
namespace {

using ::testing::ElementsAre;
using ::testing::IsSupersetOf;

// (Built out of line: GCC 12 warns "may be used uninitialized" on a local optional<string> assignment.)
sdk::ServerConfig auto_layers_config() {
    sdk::ServerConfig c;
    c.model_name = "m";
    c.gpu_layers.emplace("auto");
    return c;
}

bool has_pair(const std::vector<std::string>& a, const std::string& flag, const std::string& value) {
    auto it = std::find(a.begin(), a.end(), flag);
    return it != a.end() && it + 1 != a.end() && *(it + 1) == value;
}

TEST(LlamaCommandLine, MinimalConfig) {
    sdk::ServerConfig c;
    c.model_name = "qwen";
    c.model_path = "/m/q.gguf";
    EXPECT_THAT(server_arguments(c, 4242, {}),
                ElementsAre("--model", "/m/q.gguf", "--host", "127.0.0.1", "--port", "4242", "--alias", "qwen"));
}

TEST(LlamaCommandLine, EveryTypedSettingBecomesAFlag) {
    sdk::ServerConfig c;
    c.model_name = "m";
    c.model_path = "/m.gguf";
    c.ctx_size = 8192;
    c.gpu_layers = "auto";
    c.threads = 6;
    c.batch_size = 512;
    c.parallel = 2;
    c.flash_attn = "on";
    c.mlock = true;
    c.mmap = false;
    c.cache_type_k = "q8_0";
    c.cache_type_v = "q8_0";
    c.jinja = false;
    c.reasoning_format = "deepseek";
    c.reasoning_budget = 0;
    c.seed = 42;
    c.sampling.temperature = 0.7;
    c.sampling.top_k = 20;
    c.sampling.top_p = 0.95;
    c.sampling.min_p = 0.05;
    c.sampling.repeat_penalty = 1.1;
    c.extra_args = {"--no-warmup"};
    auto a = server_arguments(c, 1, {{.fit = true}, std::nullopt, {"--metrics"}});
    auto pair = [&](const std::string& flag, const std::string& value) { return has_pair(a, flag, value); };
    EXPECT_TRUE(pair("--ctx-size", "8192"));
    EXPECT_TRUE(pair("--n-gpu-layers", "auto"));
    EXPECT_TRUE(pair("--threads", "6"));
    EXPECT_TRUE(pair("--batch-size", "512"));
    EXPECT_TRUE(pair("--parallel", "2"));
    EXPECT_TRUE(pair("--flash-attn", "on"));
    EXPECT_TRUE(pair("--cache-type-k", "q8_0"));
    EXPECT_TRUE(pair("--cache-type-v", "q8_0"));
    EXPECT_TRUE(pair("--reasoning-format", "deepseek"));
    EXPECT_TRUE(pair("--reasoning-budget", "0"));
    EXPECT_TRUE(pair("--seed", "42"));
    EXPECT_TRUE(pair("--temp", "0.7"));
    EXPECT_TRUE(pair("--top-k", "20"));
    EXPECT_TRUE(pair("--top-p", "0.95"));
    EXPECT_TRUE(pair("--min-p", "0.05"));
    EXPECT_TRUE(pair("--repeat-penalty", "1.1"));
    EXPECT_THAT(a, IsSupersetOf({"--mlock", "--no-mmap", "--no-jinja"}));
    // Runner-wide extra args, then the model's, last, so they can override what corral set.
    EXPECT_EQ(a[a.size() - 2], "--metrics");
    EXPECT_EQ(a.back(), "--no-warmup");
}

TEST(LlamaCommandLine, DefaultsAreNotPassed) {
    sdk::ServerConfig c;
    c.mmap = true;
    c.mlock = false;
    auto a = server_arguments(c, 1, {});
    EXPECT_EQ(std::count(a.begin(), a.end(), "--no-mmap"), 0);
    EXPECT_EQ(std::count(a.begin(), a.end(), "--mlock"), 0);
}

TEST(LlamaCommandLine, ArgumentsAreNeverJoinedIntoAShellString) {
    sdk::ServerConfig c;
    c.model_name = "a b;$(rm -rf /)";
    c.model_path = "/models/my model's \"file\".gguf";
    auto a = server_arguments(c, 1, {});
    EXPECT_EQ(a[1], c.model_path);  // one argv element each, passed to execve as is
    EXPECT_EQ(a[7], c.model_name);
}

TEST(LlamaCommandLine, AutoLayersLetAFittingServerFitWithTheHostsTargets) {
    sdk::ServerConfig c = auto_layers_config();
    c.fit_gpu_layers = 12;
    c.fit_target_mib = {2048, 1024};
    auto a = server_arguments(c, 1, {{.fit = true}, std::nullopt, {}});
    EXPECT_TRUE(has_pair(a, "--n-gpu-layers", "auto"));
    EXPECT_TRUE(has_pair(a, "--fit", "on"));
    EXPECT_TRUE(has_pair(a, "--fit-target", "2048,1024"));
}

TEST(LlamaCommandLine, AutoLayersUseTheHostsPlanWhereTheServerCannotFit) {
    sdk::ServerConfig c = auto_layers_config();
    c.fit_gpu_layers = 12;
    c.fit_target_mib = {2048};
    auto a = server_arguments(c, 1, {});
    EXPECT_TRUE(has_pair(a, "--n-gpu-layers", "12"));
    EXPECT_EQ(std::count(a.begin(), a.end(), "--fit"), 0);
    EXPECT_EQ(std::count(a.begin(), a.end(), "--fit-target"), 0);
    // Without a plan (no GPU probed), such a server keeps its own default rather than get "auto".
    c.fit_gpu_layers.reset();
    a = server_arguments(c, 1, {});
    EXPECT_EQ(std::count(a.begin(), a.end(), "--n-gpu-layers"), 0);
}

TEST(LlamaCommandLine, TheHostsSplitBecomesTensorSplitUnlessTheUserSplits) {
    sdk::ServerConfig c;
    c.model_name = "m";
    c.tensor_split = {20480, 10240.5};
    EXPECT_TRUE(has_pair(server_arguments(c, 1, {}), "--tensor-split", "20480,10240.5"));
    c.extra_args = {"-ts", "1,1"};
    auto a = server_arguments(c, 1, {});
    EXPECT_EQ(std::count(a.begin(), a.end(), "--tensor-split"), 0);
    EXPECT_TRUE(has_pair(a, "-ts", "1,1"));
    c.extra_args.clear();
    c.tensor_split = {100};  // one device: nothing to split
    a = server_arguments(c, 1, {});
    EXPECT_EQ(std::count(a.begin(), a.end(), "--tensor-split"), 0);
}

TEST(LlamaCommandLine, LogVerbosityOnlyWhereSupported) {
    sdk::ServerConfig c;
    EXPECT_TRUE(has_pair(server_arguments(c, 1, {{.log_verbosity = true}, 4, {}}), "--log-verbosity", "4"));
    auto a = server_arguments(c, 1, {{}, 4, {}});
    EXPECT_EQ(std::count(a.begin(), a.end(), "--log-verbosity"), 0);
}

TEST(LlamaCommandLine, Verbosity4OnlyWhileTheHostMeasuresMemoryUnlessTheRunnerSaysOtherwise) {
    const ServerFeatures supported{.log_verbosity = true};
    sdk::ServerConfig c;
    ASSERT_TRUE(c.measure_memory);  // the default: the host reads the buffer sizes
    EXPECT_TRUE(has_pair(server_arguments(c, 1, {supported, std::nullopt, {}}), "--log-verbosity", "4"));
    c.measure_memory = false;  // memory given by hand: llama-server's own default, no flag
    auto a = server_arguments(c, 1, {supported, std::nullopt, {}});
    EXPECT_EQ(std::count(a.begin(), a.end(), "--log-verbosity"), 0);
    // The runner's log_verbosity option wins either way.
    EXPECT_TRUE(has_pair(server_arguments(c, 1, {supported, 2, {}}), "--log-verbosity", "2"));
    c.measure_memory = true;
    EXPECT_TRUE(has_pair(server_arguments(c, 1, {supported, 3, {}}), "--log-verbosity", "3"));
}

TEST(LlamaCommandLine, WhetherTheServerWillLogThatItListens) {
    using Env = std::map<std::string, std::string>;
    sdk::ServerConfig c;
    const ServerFeatures supported{.log_verbosity = true};
    c.measure_memory = false;
    EXPECT_TRUE(announces_listening(server_arguments(c, 1, {supported, std::nullopt, {}}), {}));  // its default, 3
    EXPECT_TRUE(announces_listening(server_arguments(c, 1, {supported, 3, {}}), {}));
    EXPECT_FALSE(announces_listening(server_arguments(c, 1, {supported, 2, {}}), {}));  // the runner's log_verbosity
    EXPECT_FALSE(announces_listening(server_arguments(c, 1, {supported, 0, {}}), {}));
    // The last flag wins, whatever its spelling; extra_args come after corral's own.
    EXPECT_TRUE(announces_listening(server_arguments(c, 1, {supported, 1, {"-lv", "4"}}), {}));
    EXPECT_FALSE(announces_listening(server_arguments(c, 1, {supported, 4, {"--verbosity", "2"}}), {}));
    EXPECT_TRUE(announces_listening({"-lv", "1", "--log-verbose"}, {}));
    EXPECT_TRUE(announces_listening({"-lv", "1", "-v"}, {}));
    EXPECT_FALSE(announces_listening({"-v", "--log-verbosity", "1"}, {}));
    // --log-disable silences it wherever it stands.
    EXPECT_FALSE(announces_listening({"--log-disable", "-v"}, {}));
    EXPECT_FALSE(announces_listening({"-lv", "5", "--log-disable"}, {}));
    // The environment, which the arguments override.
    EXPECT_FALSE(announces_listening({}, Env{{"LLAMA_ARG_LOG_VERBOSITY", "2"}}));
    EXPECT_TRUE(announces_listening({}, Env{{"LLAMA_ARG_LOG_VERBOSITY", "3"}}));
    EXPECT_TRUE(announces_listening({"-lv", "3"}, Env{{"LLAMA_ARG_LOG_VERBOSITY", "0"}}));
    EXPECT_TRUE(announces_listening({}, Env{{"OTHER", "0"}}));
    // What cannot be read counts as silent: the runner then checks /health from the start.
    EXPECT_FALSE(announces_listening({"-lv", "loud"}, {}));
    EXPECT_FALSE(announces_listening({"-lv", "3x"}, {}));
    EXPECT_FALSE(announces_listening({"--log-verbosity"}, {}));
    EXPECT_FALSE(announces_listening({}, Env{{"LLAMA_ARG_LOG_VERBOSITY", ""}}));
}

TEST(LlamaCommandLine, SlotSavePathIsADirectoryWithItsSlashWhereSupported) {
    sdk::ServerConfig c;
    auto a = server_arguments(c, 1, {{.slot_save_path = true}, std::nullopt, {}});
    EXPECT_EQ(std::count(a.begin(), a.end(), "--slot-save-path"), 0);  // the host keeps no caches for it
    c.slot_save_path = "/var/lib/corral/kv-cache/m/0123";
    // llama-server appends the file name to the path as it is.
    EXPECT_TRUE(has_pair(server_arguments(c, 1, {{.slot_save_path = true}, std::nullopt, {}}), "--slot-save-path",
                         "/var/lib/corral/kv-cache/m/0123/"));
    a = server_arguments(c, 1, {{}, std::nullopt, {}});  // a binary without it
    EXPECT_EQ(std::count(a.begin(), a.end(), "--slot-save-path"), 0);
    EXPECT_TRUE(parse_help("  --slot-save-path PATH   path to save slot kv cache (default: disabled)").slot_save_path);
    EXPECT_FALSE(parse_help("--slots").slot_save_path);
}

TEST(LlamaCommandLine, MeasureMemoryCrossesThePluginBoundaryOnlyWhenFalse) {
    sdk::ServerConfig c;
    c.instance_id = "i";
    c.model_id = c.model_name = "m";
    EXPECT_FALSE(sdk::to_json(c).as_object().contains("measure_memory"));  // older plugins see what they saw
    EXPECT_TRUE(sdk::from_json<sdk::ServerConfig>(sdk::to_json(c), "").measure_memory);
    c.measure_memory = false;
    EXPECT_FALSE(sdk::from_json<sdk::ServerConfig>(sdk::to_json(c), "").measure_memory);
    EXPECT_FALSE(sdk::to_json(c).as_object().contains("slot_save_path"));
    c.slot_save_path = "/state/kv-cache/m/f";
    EXPECT_EQ(sdk::from_json<sdk::ServerConfig>(sdk::to_json(c), "").slot_save_path, c.slot_save_path);
}

// The key the ready checks make a server prove (start_signal.hpp: OwnerProof), as llama-server reads it.
TEST(LlamaCommandLine, TheServersKeyIsReadAsLlamaServerReadsIt) {
    EXPECT_FALSE(server_key({"--port", "8080"}, {}));
    EXPECT_FALSE(server_key({"--api-key"}, {{"LLAMA_API_KEY", ""}}));
    EXPECT_EQ(server_key({"--port", "1"}, {{"LLAMA_API_KEY", "env-1,env-2"}}), "env-1");
    EXPECT_EQ(server_key({"--api-key", "arg-1,arg-2"}, {{"LLAMA_API_KEY", "env"}}), "arg-1");  // the argument wins
    EXPECT_EQ(server_key({"--api-key=arg"}, {}), "arg");
    const auto file = std::filesystem::temp_directory_path() / ("corral-llama-key-" + std::to_string(::getpid()));
    std::ofstream(file) << "\n \nfile-key \r\nsecond\n";
    EXPECT_EQ(server_key({"--api-key-file", file.string()}, {{"LLAMA_API_KEY", "env"}}), "file-key");
    EXPECT_EQ(server_key({"--api-key-file=" + file.string()}, {}), "file-key");
    std::filesystem::remove(file);
}

TEST(LlamaServerFeatures, ReadFromHelpText) {
    auto f = parse_help("-fitt, --fit-target MiB0,MiB1\n-lv,   --verbosity, --log-verbosity N   Set the verbosity");
    EXPECT_TRUE(f.fit);
    EXPECT_TRUE(f.log_verbosity);
    f = parse_help("-ngl, --n-gpu-layers N   number of layers to store in VRAM");
    EXPECT_FALSE(f.fit);
    EXPECT_FALSE(f.log_verbosity);
}

}  // namespace
}  // namespace corral::llama

// Lines from llama-server 0.7.0 at --log-verbosity 4 serving 16 streaming clients.
TEST(LlamaOutput, PromptCacheListingsAreDroppedButNotTheirSummaryOrTheRequestLines) {
    using corral::plugin_common::is_prompt_cache_listing;
    EXPECT_TRUE(is_prompt_cache_listing(
        "0.01.023.101 I srv          load:    - prompt with length     29, lcp =     28, f_keep = 0.966, f_sim = 0.966"));
    EXPECT_TRUE(is_prompt_cache_listing(
        "0.01.023.109 I srv        update:    - prompt 0x55d1c3a2b0c0:      29 tokens, checkpoints:  0,     0.406 MiB"));
    EXPECT_TRUE(is_prompt_cache_listing("0.01.021.648 I slot get_availabl: id  0 | task -1 |  - skipping, slot is empty"));
    EXPECT_TRUE(is_prompt_cache_listing("0.01.021.649 I slot get_availabl: id  1 | task 12 |  - skipping, is_processing = 1"));
    EXPECT_FALSE(is_prompt_cache_listing("0.01.021.986 I srv        update:  - cache state: 3 prompts, 1.219 MiB (limits: 8192.000 MiB)"));
    EXPECT_FALSE(
        is_prompt_cache_listing("0.01.021.922 I srv          load:  - looking for better prompt, base f_keep = -1.000, f_sim = 0.000"));
    EXPECT_FALSE(
        is_prompt_cache_listing("1.25.106.633 I slot      release: id  2 | task 6940 | stop processing: n_tokens = 45, truncated = 0"));
    EXPECT_FALSE(is_prompt_cache_listing("0.00.048.351 I sched_reserve:        CPU compute buffer size =     3.14 MiB"));
    EXPECT_FALSE(is_prompt_cache_listing("main: server is listening on http://127.0.0.1:8080"));
    EXPECT_FALSE(is_prompt_cache_listing("user text:    - prompt injection attempt"));
}
