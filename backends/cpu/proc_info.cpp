#include "proc_info.hpp"

#include <charconv>
#include <set>
#include <sstream>
#include <utility>

namespace corral::cpu {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

// Splits "key : value" lines; calls f(key, value) for each.
template <class F>
void for_each_field(std::string_view text, F&& f) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        auto line = text.substr(pos, end - pos);
        if (auto colon = line.find(':'); colon != std::string_view::npos)
            f(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
        else
            f(trim(line), std::string_view());
        pos = end + 1;
    }
}

std::optional<uint64_t> to_u64(std::string_view s) {
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc()) return std::nullopt;
    (void)ptr;
    return v;
}

}  // namespace

CpuInfo parse_cpuinfo(std::string_view text) {
    CpuInfo info;
    std::set<std::pair<std::string, std::string>> cores;
    std::string physical_id, core_id;
    std::string fallback_model;
    auto flush = [&] {
        if (!core_id.empty()) cores.emplace(physical_id, core_id);
        physical_id.clear();
        core_id.clear();
    };
    for_each_field(text, [&](std::string_view key, std::string_view value) {
        if (key == "processor") {
            flush();
            ++info.logical_cpus;
        } else if (key == "model name" && info.model.empty()) {
            info.model = value;
        } else if ((key == "Model" || key == "Hardware" || key == "cpu model") && fallback_model.empty()) {
            fallback_model = value;
        } else if (key == "physical id") {
            physical_id = value;
        } else if (key == "core id") {
            core_id = value;
        }
    });
    flush();
    if (info.model.empty()) info.model = fallback_model.empty() ? "unknown CPU" : fallback_model;
    info.physical_cores = cores.empty() ? info.logical_cpus : static_cast<int>(cores.size());
    return info;
}

std::optional<MemInfo> parse_meminfo(std::string_view text) {
    std::optional<uint64_t> total, available;
    for_each_field(text, [&](std::string_view key, std::string_view value) {
        // Values are "<n> kB".
        auto number = value.substr(0, value.find(' '));
        if (key == "MemTotal") {
            if (auto v = to_u64(number)) total = *v * 1024;
        } else if (key == "MemAvailable") {
            if (auto v = to_u64(number)) available = *v * 1024;
        }
    });
    if (!total) return std::nullopt;
    return MemInfo{*total, available.value_or(0)};
}

std::optional<uint64_t> parse_cgroup_memory_max(std::string_view text) {
    auto value = trim(text);
    if (value.empty() || value == "max") return std::nullopt;
    return to_u64(value);
}

}  // namespace corral::cpu
