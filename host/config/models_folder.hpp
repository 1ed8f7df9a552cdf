// Models found in folders ("models_dir"): every *.gguf below a folder is a model named after its
// file. The rule, stable and documented in README.md:
//   - the name is the file name in lower case, without ".gguf" and without a split suffix
//     ("-00001-of-00003"); spaces become "-";
//   - a split model ("NAME-00001-of-00003.gguf", ...) is one model, served from its first part once
//     every part is there;
//   - "mmproj*.gguf" files are multimodal projectors, not models: one goes to the model of its folder
//     ("mmproj-NAME.gguf" to the model NAME when the folder holds several) as its --mmproj;
//   - two files that give the same name are both left out and reported: never one silently chosen;
//   - folders named "quarantine" (where `corral pull` puts files that failed verification) and
//     hidden ones (".name") are not looked into.
// discover_models() decides from a listing (no I/O, unit-tested); list_model_files() makes the listing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::config {

// Whether discovery and the watch leave this folder (below a models_dir) out.
bool skipped_folder(const std::filesystem::path& folder);

struct FolderFile {
    std::filesystem::path path;             // absolute
    std::optional<std::string> unfinished;  // why it is not a whole GGUF file yet (being written, truncated)
};

struct FolderModel {
    std::string name;
    std::filesystem::path path;                   // the file, or a split model's first part
    std::optional<std::filesystem::path> mmproj;  // its projector
};

struct FolderProblem {
    std::filesystem::path path;
    std::string message;
};

struct FolderDiscovery {
    std::vector<FolderModel> models;  // by name
    std::vector<FolderProblem> problems;
};

// The model name a file gives ("Qwen2.5-7B-Q4_K_M-00001-of-00003.gguf" -> "qwen2.5-7b-q4_k_m").
std::string model_name_for_file(std::string_view file_name);

FolderDiscovery discover_models(const std::vector<FolderFile>& files);

// Every *.gguf below `dir` (recursively, following no symlinked folders), each checked for being a
// whole GGUF file (header readable, tensor data all there). A folder that cannot be read is a problem.
std::vector<FolderFile> list_model_files(const std::filesystem::path& dir, std::vector<FolderProblem>& problems);

}  // namespace corral::config
