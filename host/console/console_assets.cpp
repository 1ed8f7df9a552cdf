#include "console/console_assets.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace corral::console {

const ConsoleAsset* find_console_asset(std::string_view path) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (path.empty()) path = "index.html";
    const auto assets = console_assets();
    auto it = std::lower_bound(assets.begin(), assets.end(), path, [](const ConsoleAsset& a, std::string_view p) { return a.name < p; });
    return it != assets.end() && it->name == path ? &*it : nullptr;
}

std::string_view content_type_for(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kTypes = {{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".webmanifest", "application/manifest+json"},
        {".txt", "text/plain; charset=utf-8"},
    }};
    for (const auto& [suffix, type] : kTypes) {
        if (name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix) return type;
    }
    return "application/octet-stream";
}

}  // namespace corral::console
