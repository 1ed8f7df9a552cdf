// One `corral serve` per state directory: an flock on <state_dir>/corral.lock, held for the
// process's lifetime (the kernel drops it when the process dies, so a crash never leaves it stale).
#pragma once

#include <filesystem>
#include <string>

namespace corral::state {

class InstanceLock {
public:
    // Creates the directory if needed and takes the lock. Throws std::runtime_error naming the
    // holder's pid when another host has it, and refuses a lock file that is a symlink.
    explicit InstanceLock(const std::filesystem::path& state_dir);
    ~InstanceLock();
    InstanceLock(const InstanceLock&) = delete;
    InstanceLock& operator=(const InstanceLock&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
    int fd_ = -1;
};

// $STATE_DIRECTORY (set by systemd for corral.service), else $XDG_STATE_HOME/corral, else
// ~/.local/state/corral.
std::filesystem::path default_state_dir();

}  // namespace corral::state
