// Watches the models_dir folders (inotify, recursively) and calls back, once per burst, when a
// *.gguf file in them was finished (closed after writing), moved in or out, or removed, or a folder
// came or went. No polling: the kernel says when; a file still being written is not a change yet.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace corral::serve {

class FolderWatch {
public:
    // `changed` runs on `io`'s thread, `settle` after the last event of a burst (a copy of many
    // files, a split set arriving part by part).
    FolderWatch(boost::asio::io_context& io, std::function<void()> changed,
                std::chrono::milliseconds settle = std::chrono::milliseconds(300));
    ~FolderWatch();
    FolderWatch(const FolderWatch&) = delete;
    FolderWatch& operator=(const FolderWatch&) = delete;

    // Watches these folders (and every folder below them) instead of the previous ones; none
    // stops watching. A folder that cannot be watched is returned with the reason.
    std::vector<std::string> watch(const std::vector<std::filesystem::path>& folders);

private:
    void add_tree(const std::filesystem::path& folder, std::vector<std::string>& problems);
    void read_events();
    void changed_soon();

    std::function<void()> changed_;
    std::chrono::milliseconds settle_;
    int fd_ = -1;
    boost::asio::posix::stream_descriptor stream_;
    boost::asio::steady_timer timer_;
    std::map<int, std::filesystem::path> watches_;  // watch descriptor -> folder
};

}  // namespace corral::serve
