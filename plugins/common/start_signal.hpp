// How a server's start ends, decided once by whichever comes first: ready, exited, or timed out;
// and the readiness check the runners share once a server has logged that it listens.
#pragma once

#include "child_process.hpp"
#include "http_health.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>

namespace corral::plugin_common {

struct StartOutcome {
    enum class Kind { Ready, Exited, TimedOut } kind;
    ExitStatus exit;  // Exited: how, where the runner knows
};

class StartSignal {
public:
    void settle(StartOutcome outcome) {
        std::call_once(once_, [&] {
            settled_ = true;
            promise_.set_value(std::move(outcome));
        });
    }
    bool settled() const { return settled_; }
    std::future<StartOutcome> future() { return promise_.get_future(); }
    bool listening = false;  // the runner's I/O thread only: the "listening" line was seen

private:
    std::once_flag once_;
    std::atomic<bool> settled_{false};
    std::promise<StartOutcome> promise_;
};

// After llama-server's "listening" line: GET /health until 200 (a server answers 503 while it
// loads), with backoff from 5 ms to 500 ms; settles Ready. Ends once the start is settled otherwise
// (the server's exit or the runner's timeout).
boost::asio::awaitable<void> confirm_ready(HttpEndpoint endpoint, std::shared_ptr<StartSignal> signal);

// True when a log line is llama-server announcing its HTTP listener.
inline bool is_listening_line(const std::string& line) {
    return line.find("listening on http") != std::string::npos;
}

}  // namespace corral::plugin_common
