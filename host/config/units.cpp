#include "config/units.hpp"

#include <cstdio>
#include <iterator>

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

namespace corral::config {
namespace {

// Reads a non-negative decimal number (digits with an optional fraction) at `pos`.
std::optional<double> read_number(std::string_view text, std::size_t& pos) {
    std::size_t start = pos;
    while (pos < text.size() && (std::isdigit(static_cast<unsigned char>(text[pos])) || text[pos] == '.')) ++pos;
    if (pos == start) return std::nullopt;
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + pos, value);
    if (ec != std::errc() || ptr != text.data() + pos) return std::nullopt;
    return value;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    static constexpr std::pair<std::string_view, double> kUnits[] = {
        {"ms", 1.0}, {"s", 1000.0}, {"m", 60'000.0}, {"h", 3'600'000.0}, {"d", 86'400'000.0}};
    if (text.empty()) return std::nullopt;
    double total_ms = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto value = read_number(text, pos);
        if (!value) return std::nullopt;
        std::size_t unit_start = pos;
        while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
        auto unit = text.substr(unit_start, pos - unit_start);
        bool known = false;
        for (const auto& [name, factor] : kUnits) {
            if (unit == name) {
                total_ms += *value * factor;
                known = true;
            }
        }
        if (!known) return std::nullopt;
    }
    return duration_of_ms(total_ms);
}

std::optional<std::chrono::milliseconds> duration_of_ms(double total_ms) {
    if (!(total_ms >= 0) || total_ms > static_cast<double>(std::numeric_limits<int64_t>::max() / 2)) return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

std::optional<uint64_t> parse_size(std::string_view text) {
    static constexpr std::pair<std::string_view, double> kUnits[] = {
        {"", 1.0},     {"b", 1.0},       {"kb", 1e3},         {"mb", 1e6},           {"gb", 1e9},
        {"tb", 1e12},  {"kib", 1024.0},  {"mib", 1048576.0},  {"gib", 1073741824.0}, {"tib", 1099511627776.0},
        {"k", 1024.0}, {"m", 1048576.0}, {"g", 1073741824.0}, {"t", 1099511627776.0}};
    std::size_t pos = 0;
    auto value = read_number(text, pos);
    if (!value) return std::nullopt;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    auto unit = lower(text.substr(pos));
    for (const auto& [name, factor] : kUnits) {
        if (unit == name) {
            double bytes = *value * factor;
            if (bytes > 1.8e19) return std::nullopt;
            return static_cast<uint64_t>(bytes + 0.5);
        }
    }
    return std::nullopt;
}

std::string format_size(uint64_t bytes) {
    static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    std::size_t u = 0;
    while (v >= 1024.0 && u + 1 < std::size(units)) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

}  // namespace corral::config
