// Finds and loads plugin shared objects, checking the ABI handshake before anything is created.
#pragma once

#include "plugins/plugin.hpp"

#include <filesystem>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace corral::plugins {

// Why a file was not loaded, in words a user can act on (names the file, what it was built for,
// what this host supports).
struct PluginRefusal {
    std::filesystem::path path;
    std::string reason;
};

using LoadOutcome = std::variant<std::shared_ptr<Plugin>, PluginRefusal>;

// Lists the candidate files of a directory (regular files ending in the platform's shared-library
// suffix), sorted by name. Does not open them.
std::vector<std::filesystem::path> list_plugin_files(const std::filesystem::path& dir);

// Reads the file's "corral" section without running its code, then loads it with
// RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE and checks magic, struct sizes, ABI version, kind, name
// and the vtable's required entries.
LoadOutcome load_plugin(const std::filesystem::path& file);

}  // namespace corral::plugins
