// The prompt caches model servers saved of their slots: <root>/<model, %-escaped>/<fingerprint>/
// slot-<N>.<launch>.bin, where root is <state_dir>/kv-cache on corral's disk, or a directory on the
// disk a runner's servers write (a remote or cluster runner's slot_cache_root). A directory per
// fingerprint: a server restores only what a server with the same settings saved. File handling
// only; the servers write and read the files themselves (llama-server --slot-save-path), corral
// names them, keeps the newest per slot, prunes the least recently used past the disk budget and
// drops what no configured model can use.
#pragma once

#include <corral/sdk/types.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace corral::state {

// Where the files are. Paths are absolute and '/'-separated. A disk reached through a runner may
// throw (sdk::Error) where corral's own reports nothing: callers log what they cannot do.
class CacheDisk {
public:
    virtual ~CacheDisk() = default;
    // Every regular file under `dir`, at any depth (paths relative to it); empty when it is missing.
    virtual std::vector<sdk::StoredFile> list(const std::string& dir) = 0;
    // Removes files and directories (with their contents); missing ones are no error.
    virtual void remove(const std::vector<std::string>& paths) = 0;
    // Marks a file used now, so pruning keeps it longer (a disk may not support it).
    virtual void touch(const std::string& file) = 0;
};

// corral's own disk.
class LocalCacheDisk final : public CacheDisk {
public:
    std::vector<sdk::StoredFile> list(const std::string& dir) override;
    void remove(const std::vector<std::string>& paths) override;
    void touch(const std::string& file) override;
};

struct SlotCacheFile {
    int32_t slot = 0;
    std::string name;  // the file name in its directory
};

class SlotCacheFiles {
public:
    // The caches under <state_dir>/kv-cache on corral's disk.
    explicit SlotCacheFiles(const std::filesystem::path& state_dir);
    // The caches under `root` on `disk`.
    SlotCacheFiles(std::string root, std::shared_ptr<CacheDisk> disk);

    const std::string& root() const noexcept { return root_; }
    // The directory for a model's servers with `fingerprint` (not created), under this root or `root`.
    std::string directory(std::string_view model, std::string_view fingerprint) const { return directory(root_, model, fingerprint); }
    static std::string directory(std::string_view root, std::string_view model, std::string_view fingerprint);
    // On corral's disk: creates `dir` if needed and empties it when `model_file` is not the file
    // (size and time) its caches were saved from (replaced under the same path); false (and logged)
    // when it cannot.
    static bool prepare(const std::filesystem::path& dir, const std::filesystem::path& model_file);

    // Slot `slot`'s file for the launch `instance_id`: only [A-Za-z0-9._-], as llama-server requires.
    static std::string file_name(int32_t slot, std::string_view instance_id);
    // Which slot a file holds; nullopt for a name file_name() did not make.
    static std::optional<int32_t> slot_of(std::string_view file_name);

    // The newest file of each slot in `dir`, by slot.
    std::map<int32_t, SlotCacheFile> newest(const std::string& dir) const;
    // Removes the files in `dir` of each slot in `kept` other than the one named there (slot -> file
    // name): one listing, one removal.
    void drop_older(const std::string& dir, const std::map<int32_t, std::string>& kept) const;
    // Removes one file (a save that failed half way must not be restored).
    void remove(const std::string& file) const { disk_->remove({file}); }
    // Marks a file used now (restored), so pruning keeps it longer.
    void touch(const std::string& file) const { disk_->touch(file); }

    // Deletes the least recently used files until all of them together take at most `max_bytes`;
    // returns how many were deleted.
    uint64_t prune(uint64_t max_bytes) const;
    // Bytes of every saved file.
    uint64_t total_bytes() const;
    // Deletes the directories of models not in `keep` and of fingerprints a kept model no longer has
    // (those holding files; a remote disk may keep empty ones).
    void retain(const std::map<std::string, std::set<std::string>>& keep) const;

private:
    std::string root_;
    std::shared_ptr<CacheDisk> disk_;
};

}  // namespace corral::state
