#include "instance_records.hpp"

#include <corral/sdk/error.hpp>

#include <boost/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace corral::llama {

namespace {

// Instance ids come from the host; keep them from naming files outside the directory.
std::string safe_file_name(const std::string& id) {
    std::string out;
    for (char c : id) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') && c != '/' ? c : '_';
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

}  // namespace

InstanceRecords::InstanceRecords(std::filesystem::path state_dir) : dir_(std::move(state_dir) / "instances") {}

std::filesystem::path InstanceRecords::path_of(const std::string& instance_id) const {
    return dir_ / (safe_file_name(instance_id) + ".json");
}

void InstanceRecords::write(const sdk::ProcessHandle& handle) const {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw sdk::Error(sdk::ProcessError::Internal, "cannot create " + dir_.string() + ": " + ec.message());
    auto target = path_of(handle.instance_id);
    auto tmp = target;
    tmp += ".tmp." + std::to_string(::getpid());
    const std::string text = boost::json::serialize(sdk::to_json(handle));
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok || ::rename(tmp.c_str(), target.c_str()) != 0) {
        ::unlink(tmp.c_str());
        throw sdk::Error(sdk::ProcessError::Internal, "cannot write instance record " + target.string());
    }
}

void InstanceRecords::remove(const std::string& instance_id) const noexcept {
    std::error_code ec;
    std::filesystem::remove(path_of(instance_id), ec);
}

std::vector<sdk::ProcessHandle> InstanceRecords::read_all() const {
    std::vector<sdk::ProcessHandle> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() != ".json") continue;
        std::ifstream in(it->path());
        std::ostringstream text;
        text << in.rdbuf();
        try {
            out.push_back(sdk::from_json<sdk::ProcessHandle>(sdk::parse_json(text.str(), "record"), "record"));
        } catch (const std::exception&) {
            // A torn or foreign file: not ours to adopt.
        }
    }
    return out;
}

}  // namespace corral::llama
