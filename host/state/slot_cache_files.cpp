#include "state/slot_cache_files.hpp"

#include "logging/logging.hpp"
#include "percent_escape.hpp"

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

struct Found {
    fs::path path;
    uint64_t bytes = 0;
    fs::file_time_type used;
};

// Every cache file under root (model/fingerprint/file).
std::vector<Found> all_files(const fs::path& root) {
    std::vector<Found> out;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        if (it.depth() != 2 || !it->is_regular_file(ec) || !SlotCacheFiles::slot_of(it->path().filename().string())) continue;
        Found f{it->path(), it->file_size(ec), it->last_write_time(ec)};
        if (!ec) out.push_back(std::move(f));
        ec.clear();
    }
    return out;
}

// A model name may hold '/' or ':' (any printable character): escaped to one path component.
std::string model_directory_name(std::string_view model) {
    return plugin_common::percent_escape(model, [](unsigned char c, bool first) { return plain(c) && !(first && c == '.'); });
}

}  // namespace

SlotCacheFiles::SlotCacheFiles(fs::path state_dir) : root_(std::move(state_dir) / "kv-cache") {}

fs::path SlotCacheFiles::directory(std::string_view model, std::string_view fingerprint) const {
    return root_ / model_directory_name(model) / std::string(fingerprint);
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

std::map<int32_t, SlotCacheFile> SlotCacheFiles::newest(const fs::path& dir) {
    std::map<int32_t, std::pair<SlotCacheFile, fs::file_time_type>> best;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        const auto slot = slot_of(name);
        if (!slot || !it->is_regular_file(ec)) continue;
        const auto when = it->last_write_time(ec);
        if (ec) continue;
        auto found = best.find(*slot);
        if (found == best.end() || when > found->second.second) best[*slot] = {{*slot, name}, when};
    }
    std::map<int32_t, SlotCacheFile> out;
    for (auto& [slot, file] : best) out.emplace(slot, std::move(file.first));
    return out;
}

void SlotCacheFiles::drop_older(const fs::path& dir, int32_t slot, std::string_view kept) {
    std::error_code ec;
    std::vector<fs::path> doomed;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const auto name = it->path().filename().string();
        if (name != kept && slot_of(name) == slot) doomed.push_back(it->path());
    }
    for (const auto& p : doomed) fs::remove(p, ec);
}

void SlotCacheFiles::touch(const fs::path& file) {
    std::error_code ec;
    fs::last_write_time(file, fs::file_time_type::clock::now(), ec);
}

uint64_t SlotCacheFiles::total_bytes() const {
    uint64_t total = 0;
    for (const auto& f : all_files(root_)) total += f.bytes;
    return total;
}

uint64_t SlotCacheFiles::prune(uint64_t max_bytes) const {
    auto files = all_files(root_);
    uint64_t total = 0;
    for (const auto& f : files) total += f.bytes;
    if (total <= max_bytes) return 0;
    std::sort(files.begin(), files.end(), [](const Found& a, const Found& b) { return a.used < b.used; });
    uint64_t removed = 0;
    for (const auto& f : files) {
        if (total <= max_bytes) break;
        std::error_code ec;
        if (fs::remove(f.path, ec)) {
            total -= f.bytes;
            ++removed;
            log()->info("pruned {} ({} bytes; kv_cache.max_disk)", f.path.string(), f.bytes);
        }
    }
    return removed;
}

void SlotCacheFiles::retain(const std::map<std::string, std::set<std::string>>& keep) const {
    std::map<std::string, const std::set<std::string>*> by_dir;  // escaped model name -> its fingerprints
    for (const auto& [model, fingerprints] : keep) by_dir[model_directory_name(model)] = &fingerprints;
    std::error_code ec;
    std::vector<fs::path> doomed;
    for (fs::directory_iterator models(root_, ec), end; !ec && models != end; models.increment(ec)) {
        auto kept = by_dir.find(models->path().filename().string());
        if (kept == by_dir.end()) {
            doomed.push_back(models->path());
            continue;
        }
        std::error_code inner;
        for (fs::directory_iterator prints(models->path(), inner), none; !inner && prints != none; prints.increment(inner)) {
            if (!kept->second->count(prints->path().filename().string())) doomed.push_back(prints->path());
        }
    }
    for (const auto& p : doomed) {
        log()->info("dropping saved prompt caches {} (no configured model has those settings)", p.string());
        fs::remove_all(p, ec);
    }
}

}  // namespace corral::state
