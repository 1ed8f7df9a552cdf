#include "serve/folder_watch.hpp"

#include "config/models_folder.hpp"

#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace corral::serve {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kFolderEvents =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

bool is_gguf(const char* name) {
    const std::size_t n = std::strlen(name);
    return n > 5 && strncasecmp(name + n - 5, ".gguf", 5) == 0;
}

}  // namespace

FolderWatch::FolderWatch(boost::asio::io_context& io, std::function<void()> changed, std::chrono::milliseconds settle)
    : changed_(std::move(changed)), settle_(settle), stream_(io), timer_(io) {}

FolderWatch::~FolderWatch() {
    boost::system::error_code ignored;
    stream_.close(ignored);  // closes fd_
}

std::vector<std::string> FolderWatch::watch(const std::vector<fs::path>& folders) {
    std::vector<std::string> problems;
    boost::system::error_code ignored;
    stream_.close(ignored);  // drops every watch with the descriptor
    fd_ = -1;
    watches_.clear();
    if (folders.empty()) return problems;
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) {
        problems.push_back(std::string("cannot watch the models_dir folders (inotify): ") + std::strerror(errno));
        return problems;
    }
    stream_.assign(fd_);
    for (const auto& f : folders) add_tree(f, problems);
    read_events();
    return problems;
}

void FolderWatch::add_tree(const fs::path& folder, std::vector<std::string>& problems) {
    const int wd = ::inotify_add_watch(fd_, folder.c_str(), kFolderEvents);
    if (wd < 0) {
        problems.push_back(folder.string() + ": cannot watch it: " + std::strerror(errno));
        return;
    }
    watches_[wd] = folder;
    std::error_code ec;
    for (fs::directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_directory(ec) && !it->is_symlink(ec) && !config::skipped_folder(it->path())) add_tree(it->path(), problems);
    }
}

void FolderWatch::read_events() {
    stream_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
        if (ec) return;  // closed (a new watch(), or the end)
        alignas(inotify_event) std::array<char, 16 * 1024> buffer;
        bool relevant = false;
        for (;;) {
            const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
            if (n <= 0) break;  // EAGAIN: all read
            for (ssize_t at = 0; at < n;) {
                const auto* e = reinterpret_cast<const inotify_event*>(buffer.data() + at);
                at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
                const bool folder = e->mask & IN_ISDIR;
                if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
                    watches_.erase(e->wd);
                    relevant = true;
                    continue;
                }
                if (e->mask & IN_Q_OVERFLOW) {  // events were lost: look at everything again
                    relevant = true;
                    continue;
                }
                if (folder && (e->mask & (IN_CREATE | IN_MOVED_TO))) {
                    if (auto it = watches_.find(e->wd); it != watches_.end() && !config::skipped_folder(it->second / e->name)) {
                        std::vector<std::string> ignored;
                        add_tree(it->second / e->name, ignored);
                    }
                    relevant = true;
                } else if (folder) {
                    relevant = relevant || (e->mask & (IN_DELETE | IN_MOVED_FROM));
                } else if (e->len > 0 && is_gguf(e->name) && (e->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE))) {
                    relevant = true;  // IN_CREATE alone is a file that is still being written
                }
            }
        }
        if (relevant) changed_soon();
        read_events();
    });
}

void FolderWatch::changed_soon() {
    timer_.expires_after(settle_);  // restarts the wait: one call after the burst
    timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) changed_();
    });
}

}  // namespace corral::serve
