// Instance records: one small JSON file per running server under <state_dir>/instances, written
// atomically (temp file + rename), so a host that restarts after a crash can adopt or clean up the
// servers its predecessor left.
#pragma once

#include <corral/sdk/types.hpp>

#include <filesystem>
#include <vector>

namespace corral::llama {

class InstanceRecords {
public:
    explicit InstanceRecords(std::filesystem::path state_dir);

    // Throws sdk::Error(Internal) when the directory or file cannot be written.
    void write(const sdk::ProcessHandle& handle) const;
    void remove(const std::string& instance_id) const noexcept;
    // Every readable record; unreadable ones are skipped.
    std::vector<sdk::ProcessHandle> read_all() const;
    std::filesystem::path path_of(const std::string& instance_id) const;

private:
    std::filesystem::path dir_;
};

}  // namespace corral::llama
