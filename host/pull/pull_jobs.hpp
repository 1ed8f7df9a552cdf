// Pulls run in the background for `corral serve` (POST /corral/models/pull): each on its own
// thread (a download holds it for minutes, so not the runner workers), its events handed to the
// serve thread, at most kMaxRunning at once and one per target file. Used from the serve
// io_context's thread only; stop_all() (the drain) stops every pull, keeping what it fetched for
// the next pull of the same file to resume.
#pragma once

#include "pull/pull.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <variant>

namespace corral::pull {

class PullJobs {
public:
    static constexpr std::size_t kMaxRunning = 2;

    struct Refused {
        int status;
        std::string message;
        std::string code;
    };

    using Listener = std::function<void(uint64_t id, const PullEvent& event)>;
    PullJobs(boost::asio::any_io_executor executor, Listener listener);
    ~PullJobs();
    PullJobs(const PullJobs&) = delete;
    PullJobs& operator=(const PullJobs&) = delete;

    // Starts the pull (its on_event and stop are set here); its id, or why not.
    std::variant<uint64_t, Refused> start(PullOptions options);
    // Stops one pull (its error event, "cancelled", follows); false when no pull has that id.
    bool stop(uint64_t id);
    void stop_all();
    // The pulls under way: id, source, path and their last progress.
    boost::json::array running() const;

private:
    struct Job {
        std::string source;
        std::string target;
        PullEvent last;
        std::jthread thread;
    };
    void deliver(uint64_t id, const PullEvent& event);

    boost::asio::any_io_executor executor_;
    Listener listener_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // events posted after the end are dropped
    uint64_t next_id_ = 1;
    std::map<uint64_t, Job> jobs_;
};

}  // namespace corral::pull
