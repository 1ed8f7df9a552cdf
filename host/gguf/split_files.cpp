#include "gguf/split_files.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

namespace corral::gguf {

std::optional<std::pair<int, int>> split_suffix(std::string_view stem) {
    constexpr std::size_t kLength = 15;  // "-" 5 digits "-of-" 5 digits
    if (stem.size() <= kLength) return std::nullopt;
    const auto s = stem.substr(stem.size() - kLength);
    auto digits = [](std::string_view d) { return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; }); };
    if (s[0] != '-' || s.substr(6, 4) != "-of-" || !digits(s.substr(1, 5)) || !digits(s.substr(10, 5))) return std::nullopt;
    const int part = std::stoi(std::string(s.substr(1, 5)));
    const int count = std::stoi(std::string(s.substr(10, 5)));
    if (part < 1 || count < 1 || part > count) return std::nullopt;
    return std::pair{part, count};
}

std::vector<std::filesystem::path> split_parts(const std::filesystem::path& path) {
    const auto stem = path.stem().string();
    const auto split = split_suffix(stem);
    if (!split) return {path};
    const auto base = stem.substr(0, stem.size() - 15);
    std::vector<std::filesystem::path> parts;
    for (int i = 1; i <= split->second; ++i) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "-%05d-of-%05d", i, split->second);
        parts.push_back(path.parent_path() / (base + suffix + path.extension().string()));
    }
    return parts;
}

}  // namespace corral::gguf
