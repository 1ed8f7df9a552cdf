// The cpu probe plugin: CPU model, cores and threads, system RAM (capped by a cgroup v2 memory
// limit when this process runs under one), reported as one "cpu" device with unified memory.
#include "proc_info.hpp"

#include <corral/sdk/sdk.hpp>

#include <sched.h>

#include <fstream>
#include <sstream>

namespace {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

// The cgroup v2 memory limit of this process, if any.
std::optional<uint64_t> cgroup_memory_limit() {
    auto self = read_file("/proc/self/cgroup");
    if (!self) return std::nullopt;
    // cgroup v2 line: "0::/path"
    auto pos = self->find("0::");
    if (pos == std::string::npos) return std::nullopt;
    auto end = self->find('\n', pos);
    std::string group = self->substr(pos + 3, end == std::string::npos ? std::string::npos : end - pos - 3);
    auto max = read_file("/sys/fs/cgroup" + group + "/memory.max");
    return max ? corral::cpu::parse_cgroup_memory_max(*max) : std::nullopt;
}

class CpuProbe final : public corral::sdk::SystemProbe {
public:
    CpuProbe(corral::sdk::Host host, const boost::json::object& options) : host_(host) {
        if (!options.empty()) throw corral::sdk::JsonPathError(std::string(options.begin()->key()), "the cpu probe takes no options");
    }

    corral::sdk::ProbeReport probe() override {
        corral::sdk::ProbeReport report;
        report.backend = "cpu";
        auto cpuinfo = read_file("/proc/cpuinfo");
        auto meminfo_text = read_file("/proc/meminfo");
        auto meminfo = meminfo_text ? corral::cpu::parse_meminfo(*meminfo_text) : std::nullopt;
        if (!cpuinfo || !meminfo) {
            report.available = false;
            report.reason = "cannot read /proc/cpuinfo or /proc/meminfo (not Linux, or /proc is not mounted)";
            return report;
        }
        auto cpu = corral::cpu::parse_cpuinfo(*cpuinfo);
        corral::sdk::SystemInfo system;
        system.cpu_model = cpu.model;
        system.cpu_cores = cpu.physical_cores;
        cpu_set_t set;
        CPU_ZERO(&set);
        system.cpu_threads = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : cpu.logical_cpus;
        system.ram_total = meminfo->total;
        system.ram_available = meminfo->available;
        if (auto limit = cgroup_memory_limit(); limit && *limit < system.ram_total) {
            report.reason = "memory capped by the cgroup limit";
            system.ram_total = *limit;
            system.ram_available = std::min(system.ram_available, *limit);
        }
        corral::sdk::DeviceInfo device;
        device.backend = "cpu";
        device.index = 0;
        device.name = cpu.model;
        device.type = "cpu";
        device.memory_total = system.ram_total;
        device.memory_free = system.ram_available;
        device.unified = true;
        report.devices.push_back(device);
        report.system = system;
        report.available = true;
        host_.debug("probed ", system.cpu_threads, " threads, ", system.ram_total, " bytes of RAM");
        return report;
    }

private:
    corral::sdk::Host host_;
};

constexpr const char* kSchema = R"({"type": "object", "additionalProperties": false, "properties": {}})";

}  // namespace

CORRAL_PROBE_PLUGIN(CpuProbe, "cpu", CORRAL_SDK_VERSION, "CPU model, cores and system RAM from /proc", kSchema);
