// Parsing of Linux's /proc/cpuinfo, /proc/meminfo and cgroup limits, kept apart from the plugin
// so it can be tested on captured text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corral::cpu {

struct CpuInfo {
    std::string model;       // "model name" (x86) or "Model"/"CPU part" fallbacks
    int physical_cores = 0;  // distinct (physical id, core id) pairs; logical count when absent
    int logical_cpus = 0;    // "processor" entries
};

struct MemInfo {
    uint64_t total = 0;      // MemTotal, bytes
    uint64_t available = 0;  // MemAvailable, bytes
};

CpuInfo parse_cpuinfo(std::string_view text);
std::optional<MemInfo> parse_meminfo(std::string_view text);

// cgroup v2 memory.max ("max" or bytes): the limit, or nullopt when unlimited/unparsable.
std::optional<uint64_t> parse_cgroup_memory_max(std::string_view text);

}  // namespace corral::cpu
