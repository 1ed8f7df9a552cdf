#include "stored_files.hpp"

#include <corral/sdk/error.hpp>

#include <chrono>
#include <filesystem>
#include <system_error>

namespace corral::plugin_common {

namespace fs = std::filesystem;

std::vector<sdk::StoredFile> list_stored_files(const std::string& dir) {
    std::vector<sdk::StoredFile> out;
    std::error_code ec;
    const fs::path base(dir);
    for (fs::recursive_directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code entry;
        if (!it->is_regular_file(entry)) continue;
        sdk::StoredFile f{it->path().lexically_relative(base).generic_string(), it->file_size(entry), 0};
        if (entry) continue;
        const auto modified = it->last_write_time(entry);
        if (entry) continue;
        f.modified_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::file_clock::to_sys(modified).time_since_epoch()).count();
        out.push_back(std::move(f));
    }
    return out;
}

void remove_stored_files(const std::vector<std::string>& paths) {
    std::string failed;
    for (const auto& p : paths) {
        std::error_code ec;
        fs::remove_all(p, ec);
        if (ec) failed += (failed.empty() ? "" : "; ") + p + ": " + ec.message();
    }
    if (!failed.empty()) throw sdk::Error(sdk::ProcessError::Internal, "cannot remove " + failed);
}

bool path_within(std::string_view path, std::string_view root) {
    const auto p = fs::path(path).lexically_normal();
    const auto r = fs::path(root).lexically_normal();
    if (!p.is_absolute() || !r.is_absolute()) return false;
    const auto rel = p.lexically_relative(r);
    return !rel.empty() && *rel.begin() != ".." && rel != ".";
}

void keep_within(std::optional<std::string>& path, std::string_view root) {
    if (path && !path_within(*path, root)) path.reset();
}

void require_within(const std::vector<std::string>& paths, const std::string& root, bool or_root) {
    const auto same = [&](const std::string& p) {
        return !root.empty() && fs::path(p).lexically_normal() == fs::path(root).lexically_normal();
    };
    for (const auto& p : paths) {
        if (!path_within(p, root) && !(or_root && same(p)))
            throw sdk::Error(sdk::ProcessError::Configuration, "\"" + p + "\" is not under " + root);
    }
}

}  // namespace corral::plugin_common
