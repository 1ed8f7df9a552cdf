#include "remote_machine.hpp"

#include "proc_info.hpp"
#include "shell_quote.hpp"

#include <charconv>
#include <sstream>

namespace corral::ssh {

using plugin_common::shell_join;
using plugin_common::shell_quote;
namespace {

constexpr std::string_view kGpuMarker = "@corral-gpus";
constexpr std::string_view kEndMarker = "@corral-nvidia-smi ";

constexpr const char* kProbe = R"sh(cat /proc/meminfo 2>/dev/null
echo "@corral-gpus"
if command -v "$1" >/dev/null 2>&1; then
  "$1" --query-gpu=index,uuid,name,memory.total,memory.free --format=csv,noheader,nounits 2>&1
  echo "@corral-nvidia-smi $?"
else
  echo "@corral-nvidia-smi absent"
fi
)sh";

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

std::optional<uint64_t> number(const std::string& s) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

// "0, GPU-8f3c..., NVIDIA H100 80GB HBM3, 81559, 80871" (MiB); nullopt for anything else.
std::optional<sdk::DeviceInfo> parse_gpu_line(std::string_view line) {
    std::vector<std::string> fields;
    for (std::size_t start = 0;;) {
        auto comma = line.find(',', start);
        fields.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (fields.size() != 5) return std::nullopt;
    auto index = number(fields[0]);
    auto total = number(fields[3]);
    if (!index || !total || fields[1].empty()) return std::nullopt;
    sdk::DeviceInfo d;
    d.backend = "cuda";
    d.index = static_cast<int32_t>(*index);
    d.uuid = fields[1];
    d.name = fields[2];
    d.type = "discrete";
    d.memory_total = *total << 20;
    if (auto free = number(fields[4])) d.memory_free = *free << 20;
    return d;
}

}  // namespace

std::string machine_probe_command(const std::string& nvidia_smi) {
    return shell_join({"sh", "-c", kProbe, "corral-machine", nvidia_smi});
}

sdk::MachineInfo stated_machine(const std::string& name, const MachineOptions& options) {
    sdk::MachineInfo m;
    m.name = name;
    sdk::ProbeReport cpu;
    cpu.backend = "cpu";
    cpu.available = options.ram_total.has_value();
    cpu.reason = options.ram_total ? "stated in the runner's options" : "RAM not stated";
    if (options.ram_total) cpu.system = sdk::SystemInfo{*options.ram_total, *options.ram_total, "", 0, 0};
    m.reports.push_back(std::move(cpu));
    if (!options.devices.empty()) {
        sdk::ProbeReport gpus;
        gpus.backend = options.devices.front().backend;
        gpus.available = true;
        gpus.reason = "stated in the runner's options";
        gpus.devices = options.devices;
        m.reports.push_back(std::move(gpus));
    }
    return m;
}

sdk::MachineInfo parse_machine_probe(const std::string& name, std::string_view output, const MachineOptions& options) {
    auto m = stated_machine(name, options);
    const auto marker = output.find(kGpuMarker);
    if (!options.ram_total) {
        auto meminfo = corral::cpu::parse_meminfo(output.substr(0, marker));
        auto& cpu = m.reports.front();
        if (meminfo && meminfo->total) {
            cpu.available = true;
            cpu.reason.clear();
            cpu.system = sdk::SystemInfo{meminfo->total, meminfo->available, "", 0, 0};
        } else {
            cpu.reason = "no /proc/meminfo on the remote machine";
        }
    }
    if (!options.devices.empty() || marker == std::string_view::npos) return m;

    sdk::ProbeReport cuda;
    cuda.backend = "cuda";
    std::istringstream lines(std::string(output.substr(marker + kGpuMarker.size())));
    std::string unread;
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) continue;
        if (line.rfind(kEndMarker, 0) == 0) {
            auto how = trim(std::string_view(line).substr(kEndMarker.size()));
            if (how == "absent")
                cuda.reason = "no " + options.nvidia_smi + " on the remote machine";
            else if (how != "0")
                cuda.reason = options.nvidia_smi + " failed (exit " + how + ")" + (unread.empty() ? "" : ": " + unread);
            break;
        }
        if (auto d = parse_gpu_line(line))
            cuda.devices.push_back(std::move(*d));
        else if (unread.empty())
            unread = trim(line);
    }
    cuda.available = !cuda.devices.empty();
    if (!cuda.available && cuda.reason.empty()) cuda.reason = "nvidia-smi listed no GPU";
    m.reports.push_back(std::move(cuda));
    return m;
}

}  // namespace corral::ssh
