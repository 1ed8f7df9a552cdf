// The prompt caches model servers saved of their slots, on disk under the state directory:
// <state_dir>/kv-cache/<model, %-escaped>/<fingerprint>/slot-<N>.<launch>.bin. A directory per
// fingerprint: a server restores only what a server with the same settings saved. Pure file
// handling; the servers write and read the files themselves (llama-server --slot-save-path), corral
// names them, keeps the newest per slot, prunes the least recently used past the disk budget and
// drops what no configured model can use.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace corral::state {

struct SlotCacheFile {
    int32_t slot = 0;
    std::string name;  // the file name in its directory
};

class SlotCacheFiles {
public:
    explicit SlotCacheFiles(std::filesystem::path state_dir);

    const std::filesystem::path& root() const noexcept { return root_; }
    // The directory for a model's servers with `fingerprint` (not created).
    std::filesystem::path directory(std::string_view model, std::string_view fingerprint) const;
    // Creates `dir` if needed and empties it when `model_file` is not the file (size and time) its
    // caches were saved from (replaced under the same path); false (and logged) when it cannot.
    static bool prepare(const std::filesystem::path& dir, const std::filesystem::path& model_file);

    // Slot `slot`'s file for the launch `instance_id`: only [A-Za-z0-9._-], as llama-server requires.
    static std::string file_name(int32_t slot, std::string_view instance_id);
    // Which slot a file holds; nullopt for a name file_name() did not make.
    static std::optional<int32_t> slot_of(std::string_view file_name);

    // The newest file of each slot in `dir`, by slot.
    static std::map<int32_t, SlotCacheFile> newest(const std::filesystem::path& dir);
    // Removes the slot's files in `dir` other than `kept`.
    static void drop_older(const std::filesystem::path& dir, int32_t slot, std::string_view kept);
    // Marks a file used now (restored), so pruning keeps it longer.
    static void touch(const std::filesystem::path& file);

    // Deletes the least recently used files until all of them together take at most `max_bytes`;
    // returns how many were deleted.
    uint64_t prune(uint64_t max_bytes) const;
    // Bytes of every saved file.
    uint64_t total_bytes() const;
    // Deletes the directories of models not in `keep` and of fingerprints a kept model no longer has.
    void retain(const std::map<std::string, std::set<std::string>>& keep) const;

private:
    std::filesystem::path root_;
};

}  // namespace corral::state
