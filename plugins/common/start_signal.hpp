// How a server's start ends, decided once by whichever comes first: ready, exited, or timed out;
// and the readiness check the runners share once a server has logged that it listens (or from the
// start, for a server whose log will not say so).
#pragma once

#include "child_process.hpp"
#include "http_health.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>

namespace corral::plugin_common {

struct StartOutcome {
    enum class Kind { Ready, Exited, TimedOut } kind;
    ExitStatus exit;  // Exited: how, where the runner knows
};

class StartSignal {
public:
    void settle(StartOutcome outcome) {
        std::call_once(once_, [&] {
            ready_ = outcome.kind == StartOutcome::Kind::Ready;
            settled_ = true;
            promise_.set_value(std::move(outcome));
        });
    }
    bool settled() const { return settled_; }
    // Settled Ready: the start is over and nothing reads the lines kept for a failed one, so the
    // runners keep no more (a busy server writes thousands a second).
    bool ready() const { return ready_; }
    std::future<StartOutcome> future() { return promise_.get_future(); }
    bool listening = false;  // the runner's I/O thread only: the ready checks have begun (check_ready)

private:
    std::once_flag once_;
    std::atomic<bool> settled_{false};
    std::atomic<bool> ready_{false};
    std::promise<StartOutcome> promise_;
};

// Once llama-server listens (check_ready): GET /health until 200 (a server answers 503 while it
// loads), with backoff from 5 ms to 500 ms; settles Ready. Ends once the start is settled otherwise
// (the server's exit or the runner's timeout).
boost::asio::awaitable<void> confirm_ready(HttpEndpoint endpoint, std::shared_ptr<StartSignal> signal);

// Starts confirm_ready on `io`'s thread, once per start: when the server has logged that it listens,
// or at once for a server that will not say so (its log verbosity hides the line).
void check_ready(boost::asio::io_context& io, HttpEndpoint endpoint, std::shared_ptr<StartSignal> signal);
// The same for a handle's endpoint ("http://host:port"); nothing for one that does not parse.
void check_ready(boost::asio::io_context& io, const std::string& endpoint, std::shared_ptr<StartSignal> signal);

// True when a log line is llama-server announcing its HTTP listener.
inline bool is_listening_line(const std::string& line) {
    return line.find("listening on http") != std::string::npos;
}

}  // namespace corral::plugin_common
