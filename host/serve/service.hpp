// `corral serve`: the composition root. Owns the serve thread's io_context, the worker pool for
// blocking runner calls, and every component (runners, supervisor, scheduler, HTTP server, admin);
// handles start-up (lock, adoption of leftover servers, preload), SIGHUP/POST reloads and the
// SIGTERM/SIGINT drain.
#pragma once

#include "admin/admin_routes.hpp"
#include "admin/event_bus.hpp"
#include "admin/metrics.hpp"
#include "config/config.hpp"
#include "plugins/plugin_registry.hpp"
#include "proxy/auth.hpp"
#include "proxy/cors.hpp"
#include "proxy/http_server.hpp"
#include "proxy/key_policy.hpp"
#include "proxy/proxy_routes.hpp"
#include "proxy/upstream_pool.hpp"
#include "scheduler/scheduler.hpp"
#include "serve/connection_threads.hpp"
#include "serve/folder_watch.hpp"
#include "serve/runner_event_queue.hpp"
#include "serve/runner_set.hpp"
#include "serve/service_manager.hpp"
#include "serve/slot_cache_keeper.hpp"
#include "state/instance_lock.hpp"
#include "state/placement_records.hpp"
#include "state/server_keys.hpp"
#include "supervisor/supervisor.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace corral::serve {

class Service {
public:
    // `on_listening(port)` is called once the listener is up (the CLI prints the address).
    Service(config::Config config, plugins::PluginRegistry registry);
    ~Service();

    // Runs until a drain completes. Throws std::runtime_error for start-up failures (lock, bind, runners).
    void run(const std::function<void(uint16_t port)>& on_listening);

    // "serving N models on URL" (once the listener is up): the CLI prints it, the service manager shows it.
    std::string serving_status() const;

    // Who is told when corral is ready, reloads and stops (systemd; none by default).
    void set_service_manager(ServiceManager manager) { service_manager_ = std::move(manager); }

private:
    // Auth, the key's limits, then dispatch().
    boost::asio::awaitable<void> route(proxy::Exchange& ex);
    boost::asio::awaitable<void> dispatch(proxy::Exchange& ex, const proxy::Route& route);
    // A reload, with the service manager told before and after.
    admin::ReloadOutcome reload();
    admin::ReloadOutcome reload_config();
    // A models_dir folder changed: its models are read again and applied, the rest of the
    // configuration as it is (the file is not read again: edits wait for a reload).
    void rescan_models_dirs();
    void adopt_leftovers();
    void watch_signals();
    boost::asio::awaitable<void> drain();
    // The local machine (from the probes at start-up) and the machines the runners describe.
    scheduler::MachineMap machine_map(const config::Config& config) const;
    void post_runner_event(plugins::RunnerEvent&& event);
    void post_log_line(std::string_view instance_id, std::string_view stream, std::string_view line);
    void deliver_runner_events();
    void on_pull_event(uint64_t id, const pull::PullEvent& event);

    // Runner events stop being posted once the queue is closed. Declared before everything else: a
    // runner destroyed last (held by a coroutine frame that io_ destroys) may still emit events.
    RunnerEventQueue runner_events_;
    // The extra I/O threads (io_threads). Their pending work and io_'s hold each other's: ~Service
    // destroys both (ConnectionThreads::destroy_pending) before either context goes.
    std::unique_ptr<ConnectionThreads> connection_threads_;
    // Destroyed after everything that holds its timers and sockets.
    IoContext io_{1};
    config::Config config_;
    plugins::PluginRegistry registry_;
    ServiceManager service_manager_{""};
    uint16_t port_ = 0;  // the listener's, once it is up
    std::unique_ptr<state::InstanceLock> lock_;
    std::unique_ptr<state::ServerKeys> server_keys_;
    std::unique_ptr<state::PlacementRecords> placement_records_;
    std::unique_ptr<SlotCacheKeeper> slot_caches_;
    boost::asio::thread_pool workers_;
    admin::EventBus events_;
    admin::Metrics metrics_;
    supervisor::Supervisor supervisor_;
    RunnerSet runners_;
    fit::MemoryPlanner memory_;
    scheduler::Scheduler scheduler_;
    proxy::UpstreamPool pool_;
    proxy::Auth auth_;
    proxy::KeyLimiter key_limiter_;
    proxy::Cors cors_;
    proxy::ProxyRoutes proxy_routes_;
    pull::PullJobs pulls_;
    admin::AdminRoutes admin_routes_;
    proxy::HttpServer http_;
    boost::asio::signal_set signals_;
    FolderWatch folder_watch_;
    std::shared_ptr<AsyncSignal> drain_progress_;
    bool draining_ = false;
    std::vector<sdk::ProbeReport> local_reports_;  // the probes at start-up
};

}  // namespace corral::serve
