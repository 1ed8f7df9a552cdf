// Files on the disk a runner's servers keep prompt caches on (ABI 1.2: slot_cache_root, list_files,
// remove_files): listing and removing them where that disk is mounted here (corral's own state
// directory, a cluster's shared filesystem), and the rule every runner applies to the host's paths.
#pragma once

#include <corral/sdk/types.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::plugin_common {

// Every regular file under `dir`, at any depth (paths relative to it, '/'-separated); empty when
// `dir` does not exist.
std::vector<sdk::StoredFile> list_stored_files(const std::string& dir);

// Removes files and directories (with their contents); missing ones are no error. Tries every path,
// then throws sdk::Error (Internal) naming those it could not remove.
void remove_stored_files(const std::vector<std::string>& paths);

// Whether absolute `path` names something strictly inside absolute `root`, lexically ("a/../b" is
// resolved; symbolic links are not followed).
bool path_within(std::string_view path, std::string_view root);

// Clears `path` unless it is within `root` (a cache directory a runner did not name: its servers keep
// none there).
void keep_within(std::optional<std::string>& path, std::string_view root);

// Throws sdk::Error (Configuration) naming the first path not within `root` (nor `root` itself,
// when `or_root`).
void require_within(const std::vector<std::string>& paths, const std::string& root, bool or_root = false);

}  // namespace corral::plugin_common
