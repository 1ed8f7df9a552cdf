#include "state/placement_records.hpp"

#include "logging/logging.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <sstream>
#include <system_error>

namespace corral::state {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<spdlog::logger> log() {
    return logging::get("state");
}

constexpr std::string_view kSuffix = ".json";

// Instance ids are file-name safe ("<model>.<fingerprint>.<pid>-<n>", the model name checked); an id
// that is not (a path separator, a leading dot) is simply not recorded.
bool usable(const std::string& id) {
    return !id.empty() && id.front() != '.' && id.find('/') == std::string::npos && id.find('\0') == std::string::npos;
}

}  // namespace

PlacementRecords::PlacementRecords(fs::path state_dir) : dir_(std::move(state_dir) / "placements") {}

void PlacementRecords::save(const std::string& instance_id, const scheduler::Reservation& r) const {
    if (!usable(instance_id)) return;
    boost::json::array devices;
    for (const auto& [id, bytes] : r.devices) devices.push_back(boost::json::array{boost::json::value(id), boost::json::value(bytes)});
    const auto text = boost::json::serialize(boost::json::object{{"machine", r.machine}, {"devices", devices}, {"ram", r.ram}});
    std::error_code ec;
    fs::create_directories(dir_, ec);
    const auto file = dir_ / (instance_id + std::string(kSuffix));
    const auto tmp = dir_ / (instance_id + ".tmp");
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out) {
            log()->warn("cannot write {}: the placement of {} will not survive a restart", tmp.string(), instance_id);
            return;
        }
    }
    fs::rename(tmp, file, ec);  // atomic: a crash leaves the old record or the new one
    if (ec) log()->warn("cannot write {}: {}", file.string(), ec.message());
}

std::optional<scheduler::Reservation> PlacementRecords::load(const std::string& instance_id) const {
    if (!usable(instance_id)) return std::nullopt;
    std::ifstream in(dir_ / (instance_id + std::string(kSuffix)), std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    try {
        const auto v = boost::json::parse(text.str()).as_object();
        scheduler::Reservation r;
        r.machine = std::string(v.at("machine").as_string());
        for (const auto& d : v.at("devices").as_array()) {
            const auto& pair = d.as_array();
            r.devices.push_back({std::string(pair.at(0).as_string()), pair.at(1).to_number<uint64_t>()});
        }
        r.ram = v.at("ram").to_number<uint64_t>();
        return r;
    } catch (const std::exception& e) {
        log()->warn("ignoring the unreadable placement record of {}: {}", instance_id, e.what());
        return std::nullopt;
    }
}

void PlacementRecords::forget(const std::string& instance_id) const {
    if (!usable(instance_id)) return;
    std::error_code ec;
    fs::remove(dir_ / (instance_id + std::string(kSuffix)), ec);
}

void PlacementRecords::prune(const std::set<std::string>& keep) const {
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        auto name = it->path().filename().string();
        if (name.size() > kSuffix.size() && name.ends_with(kSuffix)) name.resize(name.size() - kSuffix.size());
        std::error_code removed;
        if (!keep.count(name)) fs::remove(it->path(), removed);
    }
}

}  // namespace corral::state
