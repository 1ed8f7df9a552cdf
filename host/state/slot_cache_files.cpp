#include "state/slot_cache_files.hpp"

#include "logging/logging.hpp"
#include "percent_escape.hpp"
#include "stored_files.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <system_error>
#include <vector>

namespace corral::state {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<spdlog::logger> log() {
    return logging::get("kv-cache");
}

constexpr std::string_view kPrefix = "slot-";
constexpr std::string_view kSuffix = ".bin";

bool plain(unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
}

// A cache file under the root: <model>/<fingerprint>/<file>.
struct Found {
    std::string path;  // absolute
    uint64_t bytes = 0;
    int64_t used_ms = 0;
};

std::string join(std::string_view dir, std::string_view name) {
    std::string out(dir);
    if (out.empty() || out.back() != '/') out += '/';
    out += name;
    return out;
}

// The components of a relative path.
std::vector<std::string_view> components(std::string_view path) {
    std::vector<std::string_view> out;
    while (!path.empty()) {
        const auto slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

// A model name may hold '/' or ':' (any printable character): escaped to one path component.
std::string model_directory_name(std::string_view model) {
    return plugin_common::percent_escape(model, [](unsigned char c, bool first) { return plain(c) && !(first && c == '.'); });
}

// Every cache file under the root (model/fingerprint/file).
std::vector<Found> all_files(const std::string& root, CacheDisk& disk) {
    std::vector<Found> out;
    for (auto& f : disk.list(root)) {
        const auto parts = components(f.path);
        if (parts.size() != 3 || !SlotCacheFiles::slot_of(parts[2])) continue;
        out.push_back({join(root, f.path), f.bytes, f.modified_ms});
    }
    return out;
}

}  // namespace

std::vector<sdk::StoredFile> LocalCacheDisk::list(const std::string& dir) {
    return plugin_common::list_stored_files(dir);
}

void LocalCacheDisk::remove(const std::vector<std::string>& paths) {
    try {
        plugin_common::remove_stored_files(paths);
    } catch (const std::exception& e) {
        log()->warn("{}", e.what());
    }
}

void LocalCacheDisk::touch(const std::string& file) {
    std::error_code ec;
    fs::last_write_time(file, fs::file_time_type::clock::now(), ec);
}

SlotCacheFiles::SlotCacheFiles(const fs::path& state_dir)
    : root_((state_dir / "kv-cache").string()), disk_(std::make_shared<LocalCacheDisk>()) {}

SlotCacheFiles::SlotCacheFiles(std::string root, std::shared_ptr<CacheDisk> disk) : root_(std::move(root)), disk_(std::move(disk)) {}

std::string SlotCacheFiles::directory(std::string_view root, std::string_view model, std::string_view fingerprint) {
    return join(join(root, model_directory_name(model)), fingerprint);
}

bool SlotCacheFiles::prepare(const fs::path& dir, const fs::path& model_file) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
        log()->warn("cannot create {}: {}", dir.string(), ec.message());
        return false;
    }
    // A KV cache belongs to the weights it was computed with: the model file's identity is kept next
    // to the caches, and caches of another file are dropped.
    std::string identity;
    const auto size = fs::file_size(model_file, ec);
    const auto time = ec ? fs::file_time_type{} : fs::last_write_time(model_file, ec);
    if (!ec) identity = std::to_string(size) + " " + std::to_string(time.time_since_epoch().count());
    const auto marker = dir / "model-file";
    std::string recorded;
    std::getline(std::ifstream(marker), recorded);
    if (recorded != identity) {
        std::vector<fs::path> doomed;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            if (slot_of(it->path().filename().string())) doomed.push_back(it->path());
        }
        if (!recorded.empty() && !doomed.empty()) log()->info("dropping the prompt caches in {}: the model file changed", dir.string());
        for (const auto& p : doomed) fs::remove(p, ec);
        std::ofstream(marker) << identity << "\n";
    }
    return true;
}

std::string SlotCacheFiles::file_name(int32_t slot, std::string_view instance_id) {
    // The launch part of the id (after the model and fingerprint) is unique per launch.
    auto launch = instance_id.substr(instance_id.rfind('.') == std::string_view::npos ? 0 : instance_id.rfind('.') + 1);
    std::string safe;
    for (unsigned char c : launch) safe += plain(c) && c != '.' ? static_cast<char>(c) : '_';
    return std::string(kPrefix) + std::to_string(slot) + "." + (safe.empty() ? "0" : safe) + std::string(kSuffix);
}

std::optional<int32_t> SlotCacheFiles::slot_of(std::string_view name) {
    if (name.size() <= kPrefix.size() + kSuffix.size() || name.substr(0, kPrefix.size()) != kPrefix ||
        name.substr(name.size() - kSuffix.size()) != kSuffix)
        return std::nullopt;
    int32_t slot = -1;
    auto rest = name.substr(kPrefix.size());
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), slot);
    if (ec != std::errc() || slot < 0 || end == rest.data() || *end != '.') return std::nullopt;
    return slot;
}

std::map<int32_t, SlotCacheFile> SlotCacheFiles::newest(const std::string& dir) const {
    std::map<int32_t, std::pair<SlotCacheFile, int64_t>> best;
    for (const auto& f : disk_->list(dir)) {
        const auto slot = f.path.find('/') == std::string::npos ? slot_of(f.path) : std::nullopt;
        if (!slot) continue;
        auto found = best.find(*slot);
        if (found == best.end() || f.modified_ms > found->second.second) best[*slot] = {{*slot, f.path}, f.modified_ms};
    }
    std::map<int32_t, SlotCacheFile> out;
    for (auto& [slot, file] : best) out.emplace(slot, std::move(file.first));
    return out;
}

void SlotCacheFiles::drop_older(const std::string& dir, const std::map<int32_t, std::string>& kept) const {
    if (kept.empty()) return;
    std::vector<std::string> doomed;
    for (const auto& f : disk_->list(dir)) {
        const auto slot = f.path.find('/') == std::string::npos ? slot_of(f.path) : std::nullopt;
        const auto it = slot ? kept.find(*slot) : kept.end();
        if (it != kept.end() && f.path != it->second) doomed.push_back(join(dir, f.path));
    }
    if (!doomed.empty()) disk_->remove(doomed);
}

uint64_t SlotCacheFiles::total_bytes() const {
    uint64_t total = 0;
    for (const auto& f : all_files(root_, *disk_)) total += f.bytes;
    return total;
}

uint64_t SlotCacheFiles::prune(uint64_t max_bytes) const {
    auto files = all_files(root_, *disk_);
    uint64_t total = 0;
    for (const auto& f : files) total += f.bytes;
    if (total <= max_bytes) return 0;
    std::sort(files.begin(), files.end(), [](const Found& a, const Found& b) { return a.used_ms < b.used_ms; });
    std::vector<std::string> doomed;
    for (const auto& f : files) {
        if (total <= max_bytes) break;
        total -= f.bytes;
        doomed.push_back(f.path);
        log()->info("pruning {} ({} bytes; kv_cache.max_disk)", f.path, f.bytes);
    }
    disk_->remove(doomed);
    return doomed.size();
}

void SlotCacheFiles::retain(const std::map<std::string, std::set<std::string>>& keep) const {
    std::map<std::string, const std::set<std::string>*> by_dir;  // escaped model name -> its fingerprints
    for (const auto& [model, fingerprints] : keep) by_dir[model_directory_name(model)] = &fingerprints;
    std::set<std::string> doomed;
    for (const auto& f : disk_->list(root_)) {
        const auto parts = components(f.path);
        if (parts.size() < 2) continue;
        auto kept = by_dir.find(std::string(parts[0]));
        if (kept == by_dir.end())
            doomed.insert(join(root_, parts[0]));
        else if (parts.size() >= 3 && !kept->second->count(std::string(parts[1])))
            doomed.insert(join(join(root_, parts[0]), parts[1]));
    }
    if (doomed.empty()) return;
    for (const auto& p : doomed) log()->info("dropping saved prompt caches {} (no configured model has those settings)", p);
    disk_->remove({doomed.begin(), doomed.end()});
}

}  // namespace corral::state
