// Starts, watches and stops model servers through their runners. Each Instance moves through
// starting -> ready <-> unhealthy -> restarting -> ... -> stopping -> stopped, or failed when its
// restart budget is spent. Exits arrive as runner events (no polling); a periodic health check
// catches servers that hang. Runner calls block, so they run on the worker pool and their results
// come back to the serve thread, where all state lives.
#pragma once

#include "admin/event_bus.hpp"
#include "admin/metrics.hpp"
#include "config/config.hpp"
#include "plugins/runner_events.hpp"
#include "supervisor/instance.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace corral::supervisor {

class Supervisor {
public:
    // Called on the serve thread after every state change of an instance.
    using Listener = std::function<void(const std::shared_ptr<Instance>&)>;

    Supervisor(boost::asio::io_context& io, boost::asio::thread_pool& workers, const config::SupervisorConfig& config,
               admin::EventBus& events, admin::Metrics& metrics);

    void set_listener(Listener listener) { listener_ = std::move(listener); }
    void set_config(const config::SupervisorConfig& config) { config_ = config; }
    // Derives the key of each server corral starts or adopts from its instance id (serve sets it;
    // without one, servers get no key of corral's).
    using KeySource = std::function<std::string(const std::string& instance_id)>;
    void set_key_source(KeySource source) { key_source_ = std::move(source); }
    // Work on a live server around a stop or start (its prompt caches, kv_cache): `before_stop` runs
    // when a ready instance is asked to stop, before its runner stops it (the instance is stopping
    // meanwhile); `after_start` when a launched one is up, before it is ready (it stays starting).
    // Each must end by itself in bounded time; it is given the instance and its exceptions are ignored.
    using Hook = std::function<boost::asio::awaitable<void>(std::shared_ptr<Instance>)>;
    void set_hooks(Hook before_stop, Hook after_start) {
        before_stop_ = std::move(before_stop);
        after_start_ = std::move(after_start);
    }

    // Starts a server for `model`. The instance is returned in state starting.
    std::shared_ptr<Instance> launch(const config::ModelConfig& model, std::shared_ptr<RunnerSlot> runner, std::string fingerprint);

    // Takes over a server a previous host left running (from the runner's list_running()).
    std::shared_ptr<Instance> adopt(const config::ModelConfig& model, std::shared_ptr<RunnerSlot> runner, std::string fingerprint,
                                    sdk::ProcessHandle handle);

    // Stops the server (SIGTERM, SIGKILL after the grace); the instance ends in state stopped.
    // Instances are taken by value where a listener may drop the caller's reference.
    void stop(std::shared_ptr<Instance> instance, const std::string& reason);

    // A request could not connect to the server: asks it how it is, and unless it is healthy, stops
    // and restarts it at once instead of waiting for its exit event. Returns whether it is healthy.
    boost::asio::awaitable<bool> verify_running(std::shared_ptr<Instance> instance);

    // Runner events, already moved to the serve thread.
    void on_runner_event(const plugins::RunnerEvent& event);
    // A LogLine event's content (what on_runner_event does with one).
    void on_log_line(std::string_view instance_id, std::string_view stream, std::string_view line);

    void start_health_monitor();
    void stop_health_monitor();

    // Instances not yet stopped or failed.
    std::size_t active() const;
    std::shared_ptr<Instance> find(std::string_view instance_id) const;

    // A fresh instance id: "<model>.<fingerprint>.<host pid>-<n>", safe as a file name. The
    // fingerprint part lets a restarted host tell whether an adopted server matches the config.
    std::string next_instance_id(const std::string& model, const std::string& fingerprint);
    static std::string fingerprint_of_instance_id(const std::string& instance_id);

private:
    // Chooses the key of the instance's current launch and, when it is corral's own, puts it in
    // the server's environment.
    void assign_key(Instance& instance);
    std::shared_ptr<Instance> make_instance(const config::ModelConfig& model, std::shared_ptr<RunnerSlot> runner, std::string fingerprint);
    void begin_launch(const std::shared_ptr<Instance>& instance);
    // A runner's start() or adopt() ended: with no `error`, `handle` is the server's (moved from).
    void on_started(const std::shared_ptr<Instance>& instance, uint64_t generation, sdk::ProcessHandle& handle, std::string error);
    void on_died(const std::shared_ptr<Instance>& instance, const std::string& why);
    void restart_after_stop(std::shared_ptr<Instance> instance, const std::string& why);
    // Runs the runner's stop() on the worker pool (a server already gone counts as stopped), then
    // `done(error)` on the serve thread unless the instance moved on meanwhile.
    void stop_server(const std::shared_ptr<Instance>& instance, std::function<void(std::string error)> done);
    void set_state(std::shared_ptr<Instance> instance, InstanceState state, std::string message);
    // The instance is up (started or adopted): ready now, or stopped when a stop came meanwhile.
    void become_ready(const std::shared_ptr<Instance>& instance);
    void health_tick();
    void check_health(const std::shared_ptr<Instance>& instance);

    // Runs `work` on the worker pool and `done(error)` back on the serve thread ("" when it succeeded).
    template <class Work, class Done>
    void offload(Work work, Done done);

    boost::asio::io_context& io_;
    boost::asio::thread_pool& workers_;
    config::SupervisorConfig config_;
    admin::EventBus& events_;
    admin::Metrics& metrics_;
    Listener listener_;
    KeySource key_source_;
    Hook before_stop_;
    Hook after_start_;
    std::map<std::string, std::shared_ptr<Instance>, std::less<>> by_id_;  // current launch id -> instance
    std::vector<std::shared_ptr<Instance>> live_;
    boost::asio::steady_timer health_timer_;
    bool health_running_ = false;
    uint64_t id_counter_ = 0;
};

}  // namespace corral::supervisor
