// llama.cpp's split models (gguf-split): NAME-00001-of-00003.gguf, NAME-00002-of-00003.gguf, ...
// served from the first part. The naming rule, and the paths of a set's parts.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::gguf {

// (part, count) from a file stem ending in "-00001-of-00003"; nullopt for any other stem.
std::optional<std::pair<int, int>> split_suffix(std::string_view stem);

// Every part of the set `path` belongs to, in order (just `path` when it is not a split file).
std::vector<std::filesystem::path> split_parts(const std::filesystem::path& path);

}  // namespace corral::gguf
