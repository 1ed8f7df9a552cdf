// The admin API under /corral/ (status, activity, load, unload, pull, events, logs, reload), GET /health and
// GET /metrics. `corral ps|load|unload|logs` are clients of these routes.
#pragma once

#include "admin/event_bus.hpp"
#include "admin/metrics.hpp"
#include "proxy/exchange.hpp"
#include "pull/pull_jobs.hpp"
#include "scheduler/scheduler.hpp"
#include "supervisor/supervisor.hpp"

#include <functional>

namespace corral::admin {

// What a reload did: nothing (errors) or applied.
struct ReloadOutcome {
    bool applied = false;
    std::vector<std::pair<std::string, std::string>> errors;  // JSON path, message
    std::vector<std::string> notes;                           // e.g. settings that need a restart
};

class AdminRoutes {
public:
    struct Hooks {
        std::function<ReloadOutcome()> reload;
        std::function<std::size_t()> connections;
        std::function<bool()> draining;
    };

    AdminRoutes(scheduler::Scheduler& scheduler, supervisor::Supervisor& supervisor, EventBus& events, Metrics& metrics,
                pull::PullJobs& pulls, Hooks hooks)
        : scheduler_(scheduler), supervisor_(supervisor), events_(events), metrics_(metrics), pulls_(pulls), hooks_(std::move(hooks)) {}

    boost::asio::awaitable<void> health(proxy::Exchange& ex);
    boost::asio::awaitable<void> metrics(proxy::Exchange& ex);
    // Everything under /corral/; 404 for unknown paths.
    boost::asio::awaitable<void> handle(proxy::Exchange& ex);

    boost::json::object status_json() const;

private:
    boost::asio::awaitable<void> load(proxy::Exchange& ex, const std::string& model);
    boost::asio::awaitable<void> unload(proxy::Exchange& ex, const std::string& model);
    boost::asio::awaitable<void> events(proxy::Exchange& ex);
    boost::asio::awaitable<void> logs(proxy::Exchange& ex, const std::string& name);
    boost::asio::awaitable<void> reload(proxy::Exchange& ex);
    // POST /corral/models/pull: a file fetched into a models_dir (pull/pull.hpp), its progress as
    // server-sent events when asked for, else the outcome when it ends (or 202 at once with wait=0).
    boost::asio::awaitable<void> pull(proxy::Exchange& ex);

    scheduler::Scheduler& scheduler_;
    supervisor::Supervisor& supervisor_;
    EventBus& events_;
    Metrics& metrics_;
    pull::PullJobs& pulls_;
    Hooks hooks_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

boost::json::object to_json(const scheduler::ModelStatus& s);
// A machine in /corral/status: its devices with their share of the ledger, and its RAM.
boost::json::object to_json(const scheduler::MachineStatus& s);

}  // namespace corral::admin
