// The secret key each model server corral starts must be sent (llama-server's LLAMA_API_KEY), so
// a local user who finds a server's port cannot go around corral's keys and limits.
// Keys are derived, not stored: HMAC-SHA256(<state_dir>/server-keys.secret, instance id). A host
// that restarts after a crash derives the same key for each server it adopts.
#pragma once

#include <filesystem>
#include <string>

namespace corral::state {

class ServerKeys {
public:
    // Reads the secret, or creates it (32 random bytes, mode 0600, never through a symlink).
    // Throws std::runtime_error naming the file when it cannot.
    explicit ServerKeys(const std::filesystem::path& state_dir);

    // 64 hex digits for this instance id.
    std::string key_for(const std::string& instance_id) const;

private:
    std::string secret_;
};

}  // namespace corral::state
