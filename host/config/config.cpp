#include "config/config.hpp"

#include "config/config_error.hpp"

#include <algorithm>

namespace corral::config {

std::string ConfigError::to_string() const {
    std::string out = path.empty() ? std::string("(document)") : path;
    if (line > 0) out += " (line " + std::to_string(line) + ", column " + std::to_string(column) + ")";
    return out + ": " + message;
}

const RunnerConfig* Config::find_runner(std::string_view name) const {
    auto it = std::find_if(runners.begin(), runners.end(), [&](const RunnerConfig& r) { return r.name == name; });
    return it == runners.end() ? nullptr : &*it;
}

const ModelConfig* Config::find_model(std::string_view name_or_alias) const {
    for (const auto& m : models) {
        if (m.name == name_or_alias) return &m;
    }
    for (const auto& m : models) {
        if (std::find(m.aliases.begin(), m.aliases.end(), name_or_alias) != m.aliases.end()) return &m;
    }
    return nullptr;
}

}  // namespace corral::config
