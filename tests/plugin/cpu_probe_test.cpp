// The cpu probe plugin against this machine's real /proc.
#include "plugins/plugin_registry.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace corral::plugins {
namespace {

TEST(CpuProbe, ReportsThisMachine) {
    auto registry = PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR});
    auto report = registry.find("cpu")->create_probe({})->probe();
    ASSERT_TRUE(report.available) << report.reason;
    EXPECT_EQ(report.backend, "cpu");
    ASSERT_TRUE(report.system);
    EXPECT_GT(report.system->cpu_threads, 0);
    EXPECT_LE(report.system->cpu_threads, static_cast<int>(std::thread::hardware_concurrency()));
    EXPECT_GE(report.system->cpu_threads, report.system->cpu_cores > 0 ? 1 : 0);
    EXPECT_FALSE(report.system->cpu_model.empty());
    // RAM matches /proc/meminfo's MemTotal (or a smaller cgroup limit).
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    uint64_t kb = 0;
    meminfo >> key >> kb;
    ASSERT_EQ(key, "MemTotal:");
    EXPECT_LE(report.system->ram_total, kb * 1024);
    EXPECT_GT(report.system->ram_total, 0u);
    EXPECT_LE(report.system->ram_available, report.system->ram_total);
    ASSERT_EQ(report.devices.size(), 1u);
    EXPECT_TRUE(report.devices[0].unified);
    EXPECT_EQ(report.devices[0].memory_total, report.system->ram_total);
}

TEST(CpuProbe, RejectsOptions) {
    auto registry = PluginRegistry::scan({CORRAL_TEST_PLUGIN_DIR});
    EXPECT_THROW(registry.find("cpu")->create_probe({{"verbose", true}}), sdk::Error);
}

}  // namespace
}  // namespace corral::plugins
