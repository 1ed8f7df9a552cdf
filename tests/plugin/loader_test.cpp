// The loader against real shared objects: the built-in plugins load; each broken fixture is refused
// with a reason that names what it was built for and what this host supports; nothing crashes.
#include "config/config_loader.hpp"
#include "plugins/plugin_registry.hpp"
#include "sdk_error.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace corral::plugins {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kPlugins = CORRAL_TEST_PLUGIN_DIR;
const std::filesystem::path kFixtures = CORRAL_TEST_FIXTURE_DIR;

std::string refusal_of(const std::string& fixture, const std::string& file) {
    auto outcome = load_plugin(kFixtures / fixture / file);
    auto* refusal = std::get_if<PluginRefusal>(&outcome);
    return refusal ? refusal->reason : std::string("(loaded)");
}

TEST(Loader, FindsTheBuiltInPlugins) {
    auto registry = PluginRegistry::scan({kPlugins});
    ASSERT_NE(registry.find("mock"), nullptr);
    ASSERT_NE(registry.find("cpu"), nullptr);
    EXPECT_EQ(registry.find("mock")->info().kind, PluginKind::Runner);
    EXPECT_EQ(registry.find("cpu")->info().kind, PluginKind::Probe);
    EXPECT_EQ(registry.find("mock")->info().abi_major, CORRAL_ABI_MAJOR);
    EXPECT_THAT(capability_names(registry.find("mock")->info().capabilities), ::testing::Contains("exit_events"));
    EXPECT_TRUE(registry.refused().empty()) << registry.refused().front().path << ": " << registry.refused().front().reason;
}

TEST(Loader, APluginWrittenInCLoadsAndRuns) {
    auto outcome = load_plugin(kFixtures / "c_runner" / "c_runner.so");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Plugin>>(outcome)) << std::get<PluginRefusal>(outcome).reason;
    auto plugin = std::get<std::shared_ptr<Plugin>>(outcome);
    EXPECT_EQ(plugin->info().name, "c_runner");
    auto runner = plugin->create_runner({}, nullptr);
    auto handle = runner->start(sdk::ServerConfig{});
    EXPECT_EQ(handle.instance_id, "c-1");
    EXPECT_FALSE(runner->is_running(handle));
    EXPECT_EQ(test::expect_sdk_error([&] { runner->stop(handle, std::chrono::seconds(1)); }).code(), sdk::ProcessError::NotRunning);
    EXPECT_THROW(runner->adopt(handle), sdk::Error);  // NULL adopt entry: NotSupported, not a crash
}

TEST(Loader, APluginBuiltForAbi10StillLoadsAndDescribesNoMachines) {
    auto outcome = load_plugin(kFixtures / "abi_minor0" / "abi_minor0.so");
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<Plugin>>(outcome)) << std::get<PluginRefusal>(outcome).reason;
    auto plugin = std::get<std::shared_ptr<Plugin>>(outcome);
    EXPECT_EQ(plugin->info().abi_minor, 0);
    auto runner = plugin->create_runner({}, nullptr);
    EXPECT_EQ(runner->start(sdk::ServerConfig{}).instance_id, "c-1");
    // Its vtable ends before machines(): the host never reads past it, and the call is NotSupported.
    EXPECT_EQ(test::expect_sdk_error([&] { runner->machines(); }).code(), sdk::ProcessError::NotSupported);
    // Nor the ABI 1.2 calls on a disk of its own for prompt caches.
    EXPECT_EQ(test::expect_sdk_error([&] { runner->slot_cache_root(); }).code(), sdk::ProcessError::NotSupported);
    EXPECT_EQ(test::expect_sdk_error([&] { runner->list_files("/x"); }).code(), sdk::ProcessError::NotSupported);
}

TEST(Loader, RefusesAnotherAbiMajorWithoutRunningIt) {
    EXPECT_THAT(refusal_of("abi_major2_entry", "abi_major2_entry.so"),
                HasSubstr("built for plugin ABI major 2; this host supports plugin ABI 1.0 to 1."));
}

TEST(Loader, RefusesAnotherAbiMajorInTheDescriptor) {
    auto reason = refusal_of("abi_major2", "abi_major2.so");
    EXPECT_THAT(reason, HasSubstr("built for plugin ABI 2."));
    EXPECT_THAT(reason, HasSubstr("this host supports plugin ABI 1.0"));
    EXPECT_THAT(reason, HasSubstr("C fixture"));  // the build fingerprint, for diagnosis
}

TEST(Loader, RefusesANewerMinor) {
    EXPECT_THAT(refusal_of("newer_minor", "newer_minor.so"), HasSubstr("newer than this host"));
}

TEST(Loader, RefusesTruncatedStructs) {
    EXPECT_THAT(refusal_of("truncated_vtable", "truncated_vtable.so"), HasSubstr("truncated runner vtable"));
    EXPECT_THAT(refusal_of("truncated_descriptor", "truncated_descriptor.so"), HasSubstr("truncated descriptor"));
}

TEST(Loader, RefusesAWrongKindAndABadName) {
    EXPECT_THAT(refusal_of("wrong_kind", "wrong_kind.so"), HasSubstr("unknown kind 7"));
    EXPECT_THAT(refusal_of("bad_name", "bad_name.so"), HasSubstr("invalid plugin name \"Bad Name!\""));
}

TEST(Loader, RefusesAFileThatIsNotAPlugin) {
    EXPECT_THAT(refusal_of("not_a_plugin", "not_a_plugin.so"), HasSubstr("not a corral plugin"));
}

TEST(Loader, ReportsAMissingDependencyWithDlerrorText) {
    auto reason = refusal_of("missing_dependency", "missing_dependency.so");
    EXPECT_THAT(reason, HasSubstr("cannot load"));
    EXPECT_THAT(reason, HasSubstr("libcorral_fixture_gone.so"));
    EXPECT_THAT(reason, HasSubstr("cannot open shared object file"));
}

TEST(Loader, RefusesADuplicateName) {
    auto registry = PluginRegistry::scan({kPlugins, kFixtures / "duplicate"});
    ASSERT_NE(registry.find("mock"), nullptr);
    EXPECT_EQ(registry.find("mock")->info().kind, PluginKind::Runner);  // the first one wins
    ASSERT_EQ(registry.refused().size(), 1u);
    EXPECT_THAT(registry.refused()[0].reason, HasSubstr("duplicate plugin name \"mock\""));
}

TEST(Loader, AMissingDirectoryIsReportedNotFatal) {
    auto registry = PluginRegistry::scan({"/nonexistent/plugins", kPlugins});
    EXPECT_NE(registry.find("mock"), nullptr);
    ASSERT_FALSE(registry.refused().empty());
    EXPECT_THAT(registry.refused()[0].reason, HasSubstr("does not exist"));
}

TEST(Loader, AThrowingCreateIsAnErrorNotACrash) {
    auto plugin = std::get<std::shared_ptr<Plugin>>(load_plugin(kFixtures / "throwing" / "throwing.so"));
    auto e = test::expect_sdk_error([&] { plugin->create_runner({{"throw_in_create", true}}, nullptr); });
    EXPECT_EQ(e.code(), sdk::ProcessError::Internal);
    EXPECT_THAT(e.what(), HasSubstr("plugin throwing: create: constructor exploded on purpose"));
}

TEST(Loader, ThrowingMethodsAreErrorsNotCrashes) {
    auto plugin = std::get<std::shared_ptr<Plugin>>(load_plugin(kFixtures / "throwing" / "throwing.so"));
    auto runner = plugin->create_runner({}, nullptr);
    EXPECT_THAT(test::expect_sdk_error([&] { runner->start(sdk::ServerConfig{}); }).what(), HasSubstr("start exploded on purpose"));
    EXPECT_THAT(test::expect_sdk_error([&] { runner->stop(sdk::ProcessHandle{}, std::chrono::seconds(0)); }).what(),
                HasSubstr("unknown exception"));
    EXPECT_EQ(test::expect_sdk_error([&] { runner->health(sdk::ProcessHandle{}); }).code(), sdk::ProcessError::HealthCheckFailed);
}

TEST(Loader, KindMismatchOnCreate) {
    auto registry = PluginRegistry::scan({kPlugins});
    EXPECT_THROW(registry.find("cpu")->create_runner({}, nullptr), sdk::Error);
    EXPECT_THROW(registry.find("mock")->create_probe({}), sdk::Error);
}

TEST(Loader, ConfigReferencesAreCheckedAgainstPluginsAndSchemas) {
    auto registry = PluginRegistry::scan({kPlugins});
    auto loaded = config::parse_config(R"({
      "runners": {"a": {"plugin": "mock", "load_dealy_ms": 5}, "b": {"plugin": "nope"}, "c": {"plugin": "cpu"}},
      "probes": ["cpu", "mock"],
      "models": {"m": {"path": "/x", "runner": "a", "runner_options": {"token_delay_ms": "slow"}}}})",
                                       "");
    ASSERT_TRUE(loaded.config);
    auto errors = check_plugin_references(*loaded.config, registry);
    std::string all;
    for (const auto& e : errors) all += e.to_string() + "\n";
    EXPECT_THAT(all, HasSubstr("runners.a.load_dealy_ms: unknown option"));
    EXPECT_THAT(all, HasSubstr("runners.b.plugin: no runner plugin named \"nope\" (available: "));
    EXPECT_THAT(all, HasSubstr("runners.c.plugin: \"cpu\" is a probe plugin"));
    EXPECT_THAT(all, HasSubstr("models.m.runner_options.token_delay_ms: expected integer, got string"));
    EXPECT_THAT(all, HasSubstr("probes[1]: no probe plugin named \"mock\""));
    EXPECT_EQ(errors.size(), 5u);
}

}  // namespace
}  // namespace corral::plugins
