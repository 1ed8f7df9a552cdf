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

// `base_dir` resolves relative paths in the file (plugin_dirs, state_dir, model paths). Reads no
// other file: the models of `models_dir` are not added, and with a models_dir the names in
// `preload` and key scopes are not checked (load_config_file does both).
LoadResult parse_config(std::string_view text, const std::filesystem::path& base_dir);

// Reads the file; relative paths resolve against the file's directory; the models of its
// models_dir folders are added (before the names that must name a model are checked).
LoadResult load_config_file(const std::filesystem::path& file);

// Lists `config.models_dirs` and adds each model found there (models_folder.hpp) that no entry
// under "models" names, with `config.model_defaults`; what was left out goes to models_dir_notes.
void add_models_from_dirs(Config& config);

}  // namespace corral::config
