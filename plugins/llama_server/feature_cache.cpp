#include "feature_cache.hpp"

#include "child_process.hpp"

#include <chrono>
#include <future>
#include <memory>

namespace corral::llama {

ServerFeatures ServerFeatureCache::of(boost::asio::io_context& io, const std::filesystem::path& binary,
                                      const std::vector<std::string>& env) {
    std::error_code ec;
    auto key = std::make_pair(binary.string(), std::filesystem::last_write_time(binary, ec));
    return known_.get(key, [&] {
        auto text = std::make_shared<std::string>();
        auto done = std::make_shared<std::promise<void>>();
        auto finished = done->get_future();
        try {
            auto process = plugin_common::ChildProcess::spawn(
                io, binary, {"--help"}, env, [text](const char*, const std::string& line) { *text += line + "\n"; },
                [done](const plugin_common::ExitStatus&) { done->set_value(); });
            if (finished.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
                process->kill_now();
                finished.wait();
            }
            return parse_help(*text);  // the exit handler ran after the last line was read
        } catch (const std::exception&) {
            return ServerFeatures{};  // cannot run it: the start itself will report why
        }
    });
}

}  // namespace corral::llama
