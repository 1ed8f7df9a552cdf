// The corral executable, run as a user runs it: exit codes, --help everywhere, --json shapes.
#include "process.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

namespace corral {
namespace {

using ::testing::HasSubstr;

const std::string kCorral = CORRAL_TEST_BINARY;
const std::string kPlugins = CORRAL_TEST_PLUGIN_DIR;
const std::string kFixtures = CORRAL_TEST_FIXTURE_DIR;

test::ProcessResult corral(std::vector<std::string> args) {
    args.insert(args.begin(), kCorral);
    return test::run_process(args);
}

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
    auto dir = std::filesystem::temp_directory_path() / ("corral-cli-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / name) << text;
    return dir / name;
}

TEST(Cli, EverySubcommandHasHelp) {
    for (auto cmd : std::vector<std::vector<std::string>>{{"--help"},
                                                          {"plugins", "--help"},
                                                          {"plugins", "inspect", "--help"},
                                                          {"config", "check", "--help"},
                                                          {"probe", "--help"},
                                                          {"version", "--help"},
                                                          {"pull", "--help"},
                                                          {"config", "--help"},
                                                          {"help", "probe"}}) {
        auto r = corral(cmd);
        EXPECT_EQ(r.exit_code, 0) << cmd.front() << ": " << r.err;
        EXPECT_THAT(r.out, HasSubstr("corral")) << cmd.front();
    }
}

TEST(Cli, UsageErrorsExitTwo) {
    EXPECT_EQ(corral({}).exit_code, 2);
    EXPECT_EQ(corral({"frobnicate"}).exit_code, 2);
    EXPECT_EQ(corral({"plugins", "--bogus"}).exit_code, 2);
    EXPECT_EQ(corral({"config", "check"}).exit_code, 2);
    EXPECT_EQ(corral({"--log-level", "loud", "version"}).exit_code, 2);
}

TEST(Cli, VersionJson) {
    auto r = corral({"version", "--json"});
    ASSERT_EQ(r.exit_code, 0);
    auto v = boost::json::parse(r.out);
    EXPECT_EQ(v.at("plugin_abi").as_string(), "1.3");
}

TEST(Cli, PluginsJsonListsTheBuiltInsFromTheDefaultDirectory) {
    auto r = corral({"plugins", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto v = boost::json::parse(r.out);
    std::set<std::string> names;
    for (const auto& p : v.at("plugins").as_array()) names.insert(std::string(p.at("name").as_string()));
    EXPECT_TRUE(names.count("mock"));
    EXPECT_TRUE(names.count("cpu"));
    EXPECT_EQ(v.at("plugin_dirs").at(0).as_string(), std::filesystem::canonical(kPlugins).string());
}

TEST(Cli, PluginsListsRefusedFilesWithReasons) {
    auto r = corral({"plugins", "--plugin-dir", kFixtures + "/abi_major2", "--plugin-dir", kFixtures + "/not_a_plugin"});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, HasSubstr("Refused:"));
    EXPECT_THAT(r.out, HasSubstr("abi_major2.so: built for plugin ABI 2."));
    EXPECT_THAT(r.out, HasSubstr("not_a_plugin.so: not a corral plugin"));
}

TEST(Cli, InspectShowsTheDescriptorOrTheRefusal) {
    auto ok = corral({"plugins", "inspect", kPlugins + "/corral-mock.so", "--json"});
    ASSERT_EQ(ok.exit_code, 0) << ok.err;
    auto v = boost::json::parse(ok.out);
    EXPECT_EQ(v.at("name").as_string(), "mock");
    EXPECT_TRUE(v.at("config_schema").at("properties").as_object().contains("load_delay_ms"));
    auto refused = corral({"plugins", "inspect", kFixtures + "/newer_minor/newer_minor.so"});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_THAT(refused.err, HasSubstr("newer than this host"));
}

TEST(Cli, ConfigCheckReportsAllThreeMistakesWithPathsAndExitsTwo) {
    auto file = write_temp("three-mistakes.json", R"({
      "runners": {"fake": {"plugin": "mock"}},
      "models": {
        "a": {"path": "/models/a.gguf", "ctx_size": "large"},
        "b": {"path": "/models/b.gguf", "ttl": "10x"},
        "c": {"path": "/models/c.gguf", "runner": "gpu9"}
      }
    })");
    auto r = corral({"config", "check", file.string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.out, HasSubstr("3 errors"));
    EXPECT_THAT(r.out, HasSubstr("models.a.ctx_size: expected integer, got string"));
    EXPECT_THAT(r.out, HasSubstr("models.b.ttl: expected a duration"));
    EXPECT_THAT(r.out, HasSubstr("models.c.runner: no runner named \"gpu9\""));

    auto j = corral({"config", "check", file.string(), "--json"});
    EXPECT_EQ(j.exit_code, 2);
    auto v = boost::json::parse(j.out);
    EXPECT_FALSE(v.at("valid").as_bool());
    EXPECT_EQ(v.at("errors").as_array().size(), 3u);
    EXPECT_EQ(v.at("errors").at(0).at("path").as_string(), "models.a.ctx_size");
}

TEST(Cli, ConfigCheckChecksPluginsAndTheirOptions) {
    auto file = write_temp("plugin-mistakes.json", R"({"runners": {"r": {"plugin": "mock", "load_delay": 5}, "s": {"plugin": "llama"}}})");
    auto r = corral({"config", "check", file.string()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.out, HasSubstr("runners.r.load_delay: unknown option"));
    EXPECT_THAT(r.out, HasSubstr("runners.s.plugin: no runner plugin named \"llama\""));
}

TEST(Cli, ExampleConfigsAreValid) {
    for (const auto& entry : std::filesystem::directory_iterator(std::string(CORRAL_TEST_SOURCE_DIR) + "/examples/configs")) {
        auto r = corral({"config", "check", "--no-plugins", entry.path().string()});
        EXPECT_EQ(r.exit_code, 0) << entry.path() << "\n" << r.out;
    }
}

TEST(Cli, ConfigCheckOfAValidFile) {
    auto file = write_temp("valid.json", R"({"runners": {"fake": {"plugin": "mock"}}, "models": {"toy": {"path": "/m.gguf"}}})");
    auto r = corral({"config", "check", file.string(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out;
    EXPECT_TRUE(boost::json::parse(r.out).at("valid").as_bool());
}

TEST(Cli, ProbeReportsTheCpu) {
    // The default plugin directory holds the vulkan probe too: its Mesa driver leaks under LSan.
    auto r = test::run_process({kCorral, "probe", "--json"}, test::kVulkanDriverLeaksAllowed);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto v = boost::json::parse(r.out);
    const auto& cpu = v.at("probes").at(0);
    EXPECT_EQ(cpu.at("backend").as_string(), "cpu");
    EXPECT_TRUE(cpu.at("available").as_bool());
    EXPECT_GT(cpu.at("system").at("ram_total").to_number<uint64_t>(), 0u);
    auto text = test::run_process({kCorral, "probe"}, test::kVulkanDriverLeaksAllowed);
    EXPECT_THAT(text.out, HasSubstr("cpu: available"));
}

}  // namespace
}  // namespace corral
