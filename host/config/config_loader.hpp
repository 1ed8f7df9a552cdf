// Reads a config file into a Config, reporting every mistake at once with its JSON path.
#pragma once

#include "config/config.hpp"
#include "config/config_error.hpp"

#include <filesystem>
#include <optional>
#include <string_view>

namespace corral::config {

struct LoadResult {
    std::optional<Config> config;  // set only when errors is empty
    ConfigErrors errors;
};

// `base_dir` resolves relative paths in the file (plugin_dirs, state_dir, model paths).
LoadResult parse_config(std::string_view text, const std::filesystem::path& base_dir);

// Reads the file; relative paths resolve against the file's directory.
LoadResult load_config_file(const std::filesystem::path& file);

}  // namespace corral::config
