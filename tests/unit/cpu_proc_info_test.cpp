#include "proc_info.hpp"

#include <gtest/gtest.h>

namespace corral::cpu {
namespace {

TEST(CpuProcInfo, CountsPhysicalCoresAndThreads) {
    // Two sockets... collapsed: 1 socket, 2 cores, 2 threads each.
    std::string text;
    int cpu = 0;
    for (int core = 0; core < 2; ++core) {
        for (int thread = 0; thread < 2; ++thread) {
            text += "processor\t: " + std::to_string(cpu++) +
                    "\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: " + std::to_string(core) + "\n\n";
        }
    }
    auto info = parse_cpuinfo(text);
    EXPECT_EQ(info.model, "Test CPU 9000");
    EXPECT_EQ(info.logical_cpus, 4);
    EXPECT_EQ(info.physical_cores, 2);
}

TEST(CpuProcInfo, ArmStyleCpuinfoWithoutCoreIds) {
    auto info = parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 48.00\n\nprocessor\t: 1\n\nModel\t: Raspberry Pi 4\n");
    EXPECT_EQ(info.model, "Raspberry Pi 4");
    EXPECT_EQ(info.logical_cpus, 2);
    EXPECT_EQ(info.physical_cores, 2);
}

TEST(CpuProcInfo, Meminfo) {
    auto mem = parse_meminfo("MemTotal:       16384 kB\nMemFree:   100 kB\nMemAvailable:    8192 kB\n");
    ASSERT_TRUE(mem);
    EXPECT_EQ(mem->total, 16384ull * 1024);
    EXPECT_EQ(mem->available, 8192ull * 1024);
    EXPECT_FALSE(parse_meminfo("garbage"));
}

TEST(CpuProcInfo, CgroupLimit) {
    EXPECT_FALSE(parse_cgroup_memory_max("max\n"));
    EXPECT_EQ(parse_cgroup_memory_max("1073741824\n"), 1073741824ull);
    EXPECT_FALSE(parse_cgroup_memory_max(""));
}

}  // namespace
}  // namespace corral::cpu
