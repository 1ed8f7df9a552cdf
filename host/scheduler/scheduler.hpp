// Which models are loaded, and who may use them. A request acquires a Lease on one of its model's
// replicas (servers): the model is started on demand (concurrent requests share one start), requests
// beyond every replica's concurrency wait in a bounded queue, and a server that does not fit
// (max_loaded, its machine's devices) evicts the least recently used idle servers; busy ones are
// never evicted. Requests go to the least busy replica, or by prompt prefix (replica_router.hpp);
// autoscaling models start another replica while every one has a backlog. Idle replicas unload after
// their ttl, never below the model's minimum. While a model waits for room that busy servers hold,
// those serve a bounded batch more and then yield (swap_policy.hpp). Everything runs on the serve
// thread.
#pragma once

#include "admin/event_bus.hpp"
#include "admin/metrics.hpp"
#include "config/config.hpp"
#include "fit/memory_planner.hpp"
#include "scheduler/machines.hpp"
#include "scheduler/placement.hpp"
#include "scheduler/replica_router.hpp"
#include "scheduler/swap_policy.hpp"
#include "serve/async_signal.hpp"
#include "serve/runner_set.hpp"
#include "serve/slot_cache_keeper.hpp"
#include "state/placement_records.hpp"
#include "supervisor/supervisor.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace corral::scheduler {

class Scheduler;
struct ModelEntry;
struct Replica;

// Why a request cannot be served now, as the HTTP answer to give.
struct Refusal {
    int status = 503;
    std::string message;
    std::string type = "server_error";  // OpenAI error type
    std::string code;                   // OpenAI error code
    std::optional<int> retry_after;     // seconds

    // 404 model_not_found: what a client is told about a model that is not here (or not for its key).
    static Refusal model_not_found(const std::string& model);
};

// The right to send one request to one of a model's servers; released when destroyed.
class Lease {
public:
    Lease() = default;
    Lease(Scheduler* scheduler, std::shared_ptr<ModelEntry> entry, std::shared_ptr<Replica> replica);
    ~Lease();
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    const std::string& endpoint() const;
    const std::string& model() const;
    const std::shared_ptr<supervisor::Instance>& instance() const noexcept { return instance_; }
    int32_t replica_index() const noexcept;
    // Whether another replica of the model serves now (a failed request may go there).
    bool another_serves() const noexcept;

private:
    void release();

    Scheduler* scheduler_ = nullptr;
    std::weak_ptr<void> alive_;  // the scheduler's liveness token: a lease outliving it releases nothing
    std::shared_ptr<ModelEntry> entry_;
    std::shared_ptr<Replica> replica_;
    std::shared_ptr<supervisor::Instance> instance_;
};

// Which replica a request prefers (prefix routing), and which it must avoid (a retry after a failure).
struct Affinity {
    std::optional<std::string> key;  // prompt prefix or X-Corral-Session; none: least busy
    bool session = false;            // `key` is a session: it pins even with least_busy routing
    std::optional<int32_t> avoid;    // a replica index that just failed this request
};

struct Waiter {
    explicit Waiter(const boost::asio::any_io_executor& ex) : signal(ex) {}
    serve::AsyncSignal signal;
    Affinity affinity;
    std::shared_ptr<Replica> granted;
    std::optional<Refusal> refusal;
};

// One server of a model. Its index is stable: the prefix ring and the status name it ("model#1").
struct Replica {
    Replica(const boost::asio::any_io_executor& ex, int32_t index) : index(index), ttl_timer(ex) {}

    int32_t index = 0;
    std::string runner;                              // where its server runs (one of the model's runners)
    std::string fingerprint;                         // the model's on that runner, at launch
    Reservation placement;                           // what its server holds, while it has one
    std::shared_ptr<supervisor::Instance> instance;  // its server, from launch until stopped
    int32_t in_flight = 0;
    std::chrono::steady_clock::time_point last_used{};
    boost::asio::steady_timer ttl_timer;
    bool pending_load = false;   // waiting for room
    bool wanted = false;         // placed even without waiting requests (explicit load, min, scale up)
    bool stale = false;          // the config changed: restart when idle
    std::optional<Yield> yield;  // another model waits for its room (swap_policy.hpp)
    Contender yield_to;          // the most urgent of those, while `yield` is set

    bool serving() const noexcept;
};

struct ModelEntry {
    explicit ModelEntry(const boost::asio::any_io_executor& ex) : scale_timer(ex) {}

    config::ModelConfig config;
    std::string fingerprint;                              // on its first runner (memory figures are kept under it)
    uint64_t memory = 0;                                  // bytes one server needs (the whole footprint)
    uint64_t per_device_overhead = 0;                     // what each extra GPU of a split adds
    std::string memory_source;                            // fit::ModelMemory::source
    std::vector<std::shared_ptr<Replica>> replicas;       // replicas.max of them, by index
    HashRing ring{{}};                                    // over the replicas' names
    std::shared_ptr<supervisor::Instance> last_instance;  // the latest launched, kept after it stops, for its logs
    int32_t in_flight = 0;                                // over every replica
    std::deque<std::shared_ptr<Waiter>> queue;
    std::chrono::steady_clock::time_point last_used{};
    std::optional<std::chrono::steady_clock::time_point> backlog_since;  // autoscaling: since when every replica has a backlog
    boost::asio::steady_timer scale_timer;
    bool retired = false;  // removed from the config: unload when idle
    std::string last_error;

    bool idle() const noexcept { return in_flight == 0 && queue.empty(); }
    bool serving() const noexcept;  // some replica serves
    bool loaded() const noexcept;   // some replica has a server (in any state)
    // A replica that serves (the least loaded), else any with a server; null when none has one.
    std::shared_ptr<supervisor::Instance> instance() const;
};

// "model" for the first replica, "model#N" for the others: their names on the ring, in the ledger and in logs.
std::string replica_name(const std::string& model, int32_t index);

// What one server is doing: a replica's own status, and its model's (from the replica closest to serving).
struct ServerStatus {
    std::string runner;
    std::string state;  // "queued" (waiting for room) or an instance state; a model's also "unloaded"
    std::string message;
    std::string instance_id;
    std::string endpoint;
    std::optional<int64_t> pid;
    int32_t in_flight = 0;
    uint32_t restarts = 0;
    std::optional<double> idle_seconds;  // since the last request ended, while loaded
    std::optional<double> uptime_seconds;
    bool adopted = false;
    std::optional<Reservation> placement;  // while it has an instance
    boost::json::object runner_details;    // the runner's own facts (the handle's runner_data): a job id, a node
};

struct ReplicaStatus : ServerStatus {
    int32_t index = 0;
    std::string name;
};

// A model: its own figures, and the server fields of its replica closest to serving, with
// `in_flight` and `restarts` summed over its replicas.
struct ModelStatus : ServerStatus {
    std::string name;
    std::vector<std::string> aliases;
    int32_t queued = 0;
    uint64_t memory = 0;
    std::string memory_source;  // "config", "measured", "estimate", "file size" or "unknown"
    int32_t max_replicas = 1;
    std::optional<double> ttl_seconds;    // idle time before it unloads; empty: never (no ttl, or replicas.min kept)
    bool from_models_dir = false;         // found in a models_dir folder
    std::vector<ReplicaStatus> replicas;  // those with a server or waiting for room, by index
};

// One device's (or a machine's RAM's) share of the ledger, for status and metrics.
struct MachineStatus {
    const Machine* machine = nullptr;
    std::vector<std::string> runners;
    Ledger ledger;
};

class Scheduler {
public:
    Scheduler(boost::asio::io_context& io, supervisor::Supervisor& supervisor, serve::RunnerSet& runners, admin::Metrics& metrics,
              admin::EventBus& events, fit::MemoryPlanner& memory);

    // Takes the models and limits of `config` and the machines they run on (first call, and on every
    // reload). Replicas kept running (`min`) start after the caller's current step (see adopt()).
    void apply_config(const config::Config& config, MachineMap machines);

    // Waits until the model (name or alias) can take one more request, on the replica `affinity` prefers.
    boost::asio::awaitable<std::variant<Lease, Refusal>> acquire(std::string model, Affinity affinity = {});
    // The same when a replica can take the request now, without waiting (a serving model with room
    // and no queue: most requests); nullopt when acquire() must decide. No coroutine, so the common
    // case costs no frame.
    std::optional<Lease> acquire_now(const std::string& model, const Affinity& affinity = {});
    // The same for an entry the caller found already (find()); null: nullopt.
    std::optional<Lease> acquire_now(const std::shared_ptr<ModelEntry>& entry, const Affinity& affinity);

    // Starts the model if it is not loaded (`corral load`); nullopt, or why not.
    std::optional<Refusal> load(const std::string& model);
    // Stops the model's server now (requests in flight fail); nullopt, or why not.
    std::optional<Refusal> unload(const std::string& model);

    // Adopts a server a previous host left (from a runner's list_running()); false when it does not
    // match a configured model, and the caller stops it instead.
    bool adopt(sdk::ProcessHandle handle, const std::string& runner);

    // Drain: refuse new requests and fail waiting ones; requests in flight go on.
    void begin_drain();
    // Stops every server.
    void shutdown();
    // Called whenever a request ends or an instance changes state (the drain waits on it).
    void set_change_notifier(std::function<void()> notify) { notify_ = std::move(notify); }
    // Where each server's placement is kept for a restarted corral's adoption (serve sets it).
    void set_placement_records(const state::PlacementRecords* records) { records_ = records; }
    // Where servers keep their prompt caches across restarts (serve sets it; without: not kept).
    void set_slot_caches(serve::SlotCacheKeeper* caches) { slot_caches_ = caches; }
    // The clock swap decisions read (waits for room, batches); tests set a fake one.
    void set_clock(std::function<SwapClock::time_point()> now) { now_ = std::move(now); }
    bool all_stopped() const;

    // The model entry for a name or alias; null if unknown.
    std::shared_ptr<ModelEntry> find(std::string_view model) const;
    std::vector<ModelStatus> status() const;  // every configured model, in config order
    ModelStatus describe(const ModelEntry& entry) const;
    std::vector<admin::ModelGauges> gauges() const;
    // The local machine's budget: scheduler.memory_budget, else its GPUs' capacity, else its RAM's.
    std::optional<uint64_t> memory_budget() const;
    const MachineMap& machines() const noexcept { return machines_; }
    std::vector<MachineStatus> machine_status() const;
    int32_t in_flight() const;
    const config::Config& config() const noexcept { return config_; }

    void on_instance_changed(std::shared_ptr<supervisor::Instance> instance);

private:
    friend class Lease;
    using ReplicaPtr = std::shared_ptr<Replica>;
    void release(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica);
    // The replica the next request with `affinity` goes to now; null when none can take one.
    ReplicaPtr pick(const ModelEntry& entry, const Affinity& affinity) const;
    void grant(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica);
    void dispatch(const std::shared_ptr<ModelEntry>& entry);
    // At least `count` replicas have a server or wait for room (`wanted`: placed without waiters too).
    void ensure_loading(const std::shared_ptr<ModelEntry>& entry, int32_t count, bool wanted);
    void place_pending();
    // Marks the servers that models waiting for room need (Replica::yield), and clears the others.
    void update_yields();
    // The servers that would have to go for one more of `entry`'s replicas to fit, busy or not.
    std::vector<std::string> blocking(const std::shared_ptr<ModelEntry>& entry) const;
    // Whether the replica takes no more requests: it yields to a model waiting for its room.
    bool closed(const ModelEntry& entry, const Replica& replica) const;
    // Whether every serving replica is closed: requests wait for the model's next turn.
    bool swapping_out(const ModelEntry& entry) const;
    bool place(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica);
    void start(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica);
    void stop(const ReplicaPtr& replica, const std::string& reason);
    void stop_all(const std::shared_ptr<ModelEntry>& entry, const std::string& reason);
    void fail_waiters(const std::shared_ptr<ModelEntry>& entry, const Refusal& refusal);
    void arm_ttl(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica);
    void after_idle(const std::shared_ptr<ModelEntry>& entry);
    void watch_backlog(const std::shared_ptr<ModelEntry>& entry);
    std::pair<std::shared_ptr<ModelEntry>, ReplicaPtr> replica_of(const supervisor::Instance& instance) const;
    std::pair<std::shared_ptr<ModelEntry>, ReplicaPtr> replica_named(std::string_view name) const;
    void learn_memory(const std::shared_ptr<ModelEntry>& entry, const Replica& replica, const supervisor::Instance& instance);
    // Every server and what it holds; `placing`'s own replicas count as busy (a model never evicts itself).
    std::vector<Resident> residents(const ModelEntry* placing = nullptr) const;
    Demand demand_of(const ModelEntry& entry) const;
    std::vector<std::string> runners_of(const ModelEntry& entry) const;
    std::string fingerprint_on(const ModelEntry& entry, const std::string& runner) const;
    ReplicaStatus describe(const ModelEntry& entry, const Replica& replica) const;
    // A model's requests in flight or waiting changed: a "requests" event follows within
    // kRequestsEventDelay, one per model for all the changes meanwhile (bounded under load).
    void requests_changed(const ModelEntry& entry);
    void publish_requests();
    template <class Fn>
    void for_each_entry(Fn fn) const;

    boost::asio::io_context& io_;
    supervisor::Supervisor& supervisor_;
    serve::RunnerSet& runners_;
    admin::Metrics& metrics_;
    admin::EventBus& events_;
    fit::MemoryPlanner& memory_;
    config::Config config_;
    Limits limits_;
    MachineMap machines_;
    std::map<std::string, std::shared_ptr<ModelEntry>, std::less<>> models_;  // by name
    std::vector<std::shared_ptr<ModelEntry>> retired_;                        // removed by a reload, still loaded
    struct Pending {
        std::shared_ptr<ModelEntry> entry;
        ReplicaPtr replica;
        Contender contender;
    };
    std::deque<Pending> pending_;  // waiting for room, in order of arrival
    bool yields_asked_ = false;    // some serving replica was asked to make room (update_yields)
    SwapSettings swap_;
    std::function<SwapClock::time_point()> now_ = [] { return SwapClock::now(); };
    std::function<void()> notify_;
    const state::PlacementRecords* records_ = nullptr;
    std::set<std::string> requests_changed_;
    boost::asio::steady_timer requests_timer_;
    serve::SlotCacheKeeper* slot_caches_ = nullptr;
    bool shutting_down_ = false;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace corral::scheduler
