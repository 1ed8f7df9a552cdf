// One model's supervised server: its state machine, handle, restart budget and recent output.
// Owned by the Supervisor; read by the scheduler, proxy and admin API on the serve thread.
#pragma once

#include "config/config.hpp"
#include "fit/server_memory_log.hpp"
#include "serve/async_signal.hpp"
#include "supervisor/restart_policy.hpp"

#include <corral/sdk/runner.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::supervisor {

enum class InstanceState { Starting, Ready, Unhealthy, Restarting, Stopping, Stopped, Failed };

std::string_view to_string(InstanceState s) noexcept;

// A configured runner: the plugin instance and what it was made from (to notice changes on reload).
struct RunnerSlot {
    std::string name;    // key under "runners"
    std::string plugin;  // plugin name
    boost::json::object options;
    std::unique_ptr<sdk::ProcessRunner> runner;
    bool can_adopt = false;
    bool remote = false;                     // CORRAL_CAP_REMOTE
    bool slot_cache = false;                 // CORRAL_CAP_SLOT_CACHE
    std::string slot_cache_root;             // its servers' prompt caches go under it (slot_cache_root()); empty: corral's disk
    std::vector<sdk::MachineInfo> machines;  // what it said at creation (ProcessRunner::machines); empty: nothing
};

// The last lines a server printed, with followers for `logs -f`. A busy server writes about ten
// lines per request: once full, a line overwrites the oldest in place (plugin_common's
// overwrite_line), so a line costs the main thread no allocation or free.
class LogBuffer {
public:
    static constexpr std::size_t kLines = 2000;

    struct Line {
        uint64_t seq;
        std::string stream;
        std::string text;
    };

    void append(std::string_view stream, std::string_view text);
    // The lines kept, oldest first: at(0) to at(size() - 1).
    std::size_t size() const noexcept { return lines_.size(); }
    const Line& at(std::size_t i) const { return lines_[(oldest_ + i) % lines_.size()]; }
    uint64_t next_seq() const noexcept { return next_seq_; }

    // Followers are woken on every new line and when the instance goes away.
    void add_follower(const std::shared_ptr<serve::AsyncSignal>& s) { followers_.push_back(s); }
    void remove_follower(const std::shared_ptr<serve::AsyncSignal>& s) { followers_.remove(s); }
    void wake_followers();

private:
    std::vector<Line> lines_;  // a ring once full: lines_[oldest_] is the oldest
    std::size_t oldest_ = 0;
    uint64_t next_seq_ = 0;
    std::list<std::shared_ptr<serve::AsyncSignal>> followers_;
};

struct Instance {
    using clock = std::chrono::steady_clock;

    Instance(const boost::asio::any_io_executor& ex, const config::SupervisorConfig& supervision)
        : restart(supervision), restart_timer(ex) {}

    std::string model;  // the model's config key
    std::string fingerprint;
    std::shared_ptr<RunnerSlot> runner;
    sdk::ServerConfig server;                      // server.instance_id is the current launch's id
    std::optional<sdk::ProcessHandle> handle;      // set while a server runs
    std::string endpoint;                          // of the latest server, kept after it stops (to drop its pooled connections)
    std::string upstream_key;                      // sent to the server with every relayed request ("": none)
    bool derived_key = false;                      // upstream_key is corral's, set in server.env (not the user's)
    InstanceState state = InstanceState::Stopped;  // until launch() or adopt() starts it
    std::string message;                           // why it is in this state (errors, exit status)
    clock::time_point state_since = clock::now();
    clock::time_point launched_at = clock::now();
    std::optional<clock::time_point> ready_at;
    uint64_t generation = 0;  // bumped per launch: results of an older launch are ignored
    int health_failures = 0;
    bool health_pending = false;
    bool adopted = false;
    bool relaunching = false;     // the current launch is a restart after a crash
    bool stop_requested = false;  // stop as soon as the current start returns
    bool after_start = false;     // up, running the supervisor's after_start hook before it is ready
    uint32_t restarts = 0;
    RestartPolicy restart;
    boost::asio::steady_timer restart_timer;
    LogBuffer logs;
    fit::ServerMemoryLog memory_log;  // buffer sizes the server logged while starting

    bool serving() const noexcept { return state == InstanceState::Ready || state == InstanceState::Unhealthy; }
    bool gone() const noexcept { return state == InstanceState::Stopped || state == InstanceState::Failed; }
};

}  // namespace corral::supervisor
