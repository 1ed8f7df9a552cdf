#include "fit/server_memory_log.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace corral::fit {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
    return s;
}

// The last whitespace-separated word of `s`.
std::string_view last_word(std::string_view s) {
    s = trim(s);
    auto space = s.find_last_of(" \t");
    return space == std::string_view::npos ? s : s.substr(space + 1);
}

std::optional<uint64_t> mib_to_bytes(std::string_view text) {
    text = trim(text);
    auto unit = text.find("MiB");
    if (unit == std::string_view::npos) return std::nullopt;
    std::string number(trim(text.substr(0, unit)));
    char* end = nullptr;
    double mib = std::strtod(number.c_str(), &end);
    if (end == number.c_str() || !std::isfinite(mib) || mib < 0 || mib > 1e9) return std::nullopt;
    return static_cast<uint64_t>(std::llround(mib * 1024.0 * 1024.0));
}

}  // namespace

bool ServerMemoryLog::add_line(std::string_view line) {
    static constexpr std::string_view kBuffer = " buffer size =";
    if (auto at = line.find(kBuffer); at != std::string_view::npos) {
        // "... load_tensors:   CUDA0 model buffer size =  3745.00 MiB"
        auto before = trim(line.substr(0, at));
        auto kind = last_word(before);
        auto device = last_word(before.substr(0, before.size() - kind.size()));
        auto bytes = mib_to_bytes(line.substr(at + kBuffer.size()));
        if (!bytes || device.empty() || device.back() == ':') return false;
        auto it = std::find_if(devices.begin(), devices.end(), [&](const DeviceBuffers& d) { return d.device == device; });
        if (it == devices.end()) {
            devices.push_back({std::string(device)});
            it = devices.end() - 1;
        }
        if (kind == "model")
            it->model += *bytes;
        else if (kind == "KV")
            it->kv += *bytes;
        else if (kind == "compute")
            it->compute += *bytes;
        else if (kind == "output")
            it->output += *bytes;
        else
            return false;
        return true;
    }
    // "load_tensors: offloaded 33/33 layers to GPU"
    if (auto at = line.find("offloaded "); at != std::string_view::npos && line.find(" layers to GPU") != std::string_view::npos) {
        auto rest = line.substr(at + 10);
        int32_t done = 0, all = 0;
        auto [p1, e1] = std::from_chars(rest.data(), rest.data() + rest.size(), done);
        if (e1 != std::errc() || p1 == rest.data() + rest.size() || *p1 != '/') return false;
        auto [p2, e2] = std::from_chars(p1 + 1, rest.data() + rest.size(), all);
        if (e2 != std::errc()) return false;
        offloaded_layers = done;
        total_layers = all;
        return true;
    }
    return false;
}

uint64_t ServerMemoryLog::model() const {
    return sum(&DeviceBuffers::model);
}
uint64_t ServerMemoryLog::kv() const {
    return sum(&DeviceBuffers::kv);
}
uint64_t ServerMemoryLog::compute() const {
    return sum(&DeviceBuffers::compute);
}

uint64_t ServerMemoryLog::total() const {
    uint64_t total = 0;
    for (const auto& d : devices) total += d.total();
    return total;
}

uint64_t ServerMemoryLog::sum(uint64_t DeviceBuffers::*field) const {
    uint64_t total = 0;
    for (const auto& d : devices) total += d.*field;
    return total;
}

}  // namespace corral::fit
