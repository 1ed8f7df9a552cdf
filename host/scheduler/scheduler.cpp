#include "scheduler/scheduler.hpp"

#include "config/units.hpp"
#include "logging/logging.hpp"
#include "scheduler/server_devices.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <set>

namespace corral::scheduler {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
using supervisor::InstanceState;

std::shared_ptr<spdlog::logger> log() {
    return logging::get("scheduler");
}

// Coroutines return refusals made here: GCC 12 mishandles braced temporaries in co_return/co_await.
Refusal make_refusal(int status, std::string message, std::string type, std::string code, std::optional<int> retry_after) {
    Refusal r;
    r.status = status;
    r.message = std::move(message);
    r.type = std::move(type);
    r.code = std::move(code);
    r.retry_after = retry_after;
    return r;
}

}  // namespace

Refusal Refusal::model_not_found(const std::string& model) {
    return {404, "The model `" + model + "` does not exist (GET /v1/models lists the models served here).", "invalid_request_error",
            "model_not_found", std::nullopt};
}

// ---- Lease ----

Lease::Lease(Scheduler* scheduler, std::shared_ptr<ModelEntry> entry, std::shared_ptr<Replica> replica)
    : scheduler_(scheduler),
      alive_(scheduler->alive_),
      entry_(std::move(entry)),
      replica_(std::move(replica)),
      instance_(replica_ ? replica_->instance : nullptr) {}

Lease::~Lease() {
    release();
}

Lease::Lease(Lease&& other) noexcept
    : scheduler_(std::exchange(other.scheduler_, nullptr)),
      alive_(std::move(other.alive_)),
      entry_(std::move(other.entry_)),
      replica_(std::move(other.replica_)),
      instance_(std::move(other.instance_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        release();
        scheduler_ = std::exchange(other.scheduler_, nullptr);
        alive_ = std::move(other.alive_);
        entry_ = std::move(other.entry_);
        replica_ = std::move(other.replica_);
        instance_ = std::move(other.instance_);
    }
    return *this;
}

void Lease::release() {
    auto* scheduler = std::exchange(scheduler_, nullptr);
    if (scheduler && !alive_.expired()) scheduler->release(entry_, replica_);
}

const std::string& Lease::endpoint() const {
    static const std::string none;
    return instance_ && instance_->handle ? instance_->handle->endpoint : none;
}

const std::string& Lease::model() const {
    return entry_->config.name;
}

int32_t Lease::replica_index() const noexcept {
    return replica_ ? replica_->index : 0;
}

bool Lease::another_serves() const noexcept {
    if (!entry_) return false;
    return std::any_of(entry_->replicas.begin(), entry_->replicas.end(), [&](const auto& r) { return r != replica_ && r->serving(); });
}

// ---- Replicas ----

bool Replica::serving() const noexcept {
    return instance && instance->serving();
}

bool ModelEntry::serving() const noexcept {
    return std::any_of(replicas.begin(), replicas.end(), [](const auto& r) { return r->serving(); });
}

bool ModelEntry::loaded() const noexcept {
    return std::any_of(replicas.begin(), replicas.end(), [](const auto& r) { return r->instance != nullptr; });
}

std::shared_ptr<supervisor::Instance> ModelEntry::instance() const {
    const Replica* best = nullptr;
    for (const auto& r : replicas) {
        if (!r->instance) continue;
        if (!best || (r->serving() && (!best->serving() || r->in_flight < best->in_flight))) best = r.get();
    }
    return best ? best->instance : nullptr;
}

std::string replica_name(const std::string& model, int32_t index) {
    return index == 0 ? model : model + "#" + std::to_string(index);
}

// ---- Scheduler ----

Scheduler::Scheduler(asio::io_context& io, supervisor::Supervisor& supervisor, serve::RunnerSet& runners, admin::Metrics& metrics,
                     admin::EventBus& events, fit::MemoryPlanner& memory)
    : io_(io), supervisor_(supervisor), runners_(runners), metrics_(metrics), events_(events), memory_(memory), requests_timer_(io) {}

template <class Fn>
void Scheduler::for_each_entry(Fn fn) const {
    for (const auto& [name, e] : models_) fn(e);
    for (const auto& e : retired_) fn(e);
}

std::vector<std::string> Scheduler::runners_of(const ModelEntry& entry) const {
    return entry.config.runners.empty() ? std::vector<std::string>{entry.config.runner} : entry.config.runners;
}

std::string Scheduler::fingerprint_on(const ModelEntry& entry, const std::string& runner) const {
    if (runner == entry.config.runner) return entry.fingerprint;
    auto on = entry.config;
    on.runner = runner;
    return serve::model_fingerprint(on, config_.find_runner(runner));
}

// What the server really allocated replaces the estimate, for this and later placements.
void Scheduler::learn_memory(const std::shared_ptr<ModelEntry>& entry, const Replica& replica, const supervisor::Instance& instance) {
    if (instance.memory_log.empty()) return;
    memory_.record(entry->fingerprint, instance.memory_log);
    if (entry->config.memory) return;  // given by hand: the user's figure stands
    auto measured = memory_.size(entry->config, entry->fingerprint);
    const auto& figures = instance.memory_log;
    std::string layers;
    if (figures.offloaded_layers)
        layers = fmt::format(", {}/{} layers on the GPU", *figures.offloaded_layers, figures.total_layers.value_or(0));
    log()->info("{} uses {} (model {}, KV {}, compute {}{}); {} {} before", replica_name(entry->config.name, replica.index),
                config::format_size(measured.bytes), config::format_size(figures.model()), config::format_size(figures.kv()),
                config::format_size(figures.compute()), layers, entry->memory_source, config::format_size(entry->memory));
    entry->memory = measured.bytes;
    entry->memory_source = measured.source;
    entry->per_device_overhead = 0;  // the measurement has each device's own buffers
}

void Scheduler::apply_config(const config::Config& config, MachineMap machines) {
    config_ = config;
    limits_ = {config.scheduler.max_loaded};
    swap_ = {config.scheduler.swap_batch_requests, config.scheduler.swap_batch_time, config.scheduler.max_wait_for_swap};
    machines_ = std::move(machines);
    memory_.set_headroom(config.scheduler.memory_headroom);
    if (slot_caches_) slot_caches_->set_config(config.kv_cache);
    std::map<std::string, std::shared_ptr<ModelEntry>, std::less<>> next;
    for (const auto& m : config.models) {
        auto fingerprint = serve::model_fingerprint(m, config.find_runner(m.runner));
        auto it = models_.find(m.name);
        std::shared_ptr<ModelEntry> entry = it != models_.end() ? it->second : std::make_shared<ModelEntry>(io_.get_executor());
        entry->config = m;
        entry->fingerprint = fingerprint;
        auto sized = memory_.size(m, fingerprint);
        entry->memory = sized.bytes;
        entry->memory_source = sized.source;
        entry->per_device_overhead = sized.per_device_overhead;
        // Replicas beyond a lowered max stay until they are idle (then they are stale); the ring
        // covers the configured ones only.
        const auto want = static_cast<std::size_t>(std::max(1, m.replicas.max));
        std::vector<std::string> names;
        for (std::size_t i = 0; i < std::max(want, entry->replicas.size()); ++i) {
            if (i >= entry->replicas.size())
                entry->replicas.push_back(std::make_shared<Replica>(io_.get_executor(), static_cast<int32_t>(i)));
            if (i < want) names.push_back(replica_name(m.name, static_cast<int32_t>(i)));
        }
        entry->ring = HashRing(names);
        const auto runners = runners_of(*entry);
        for (std::size_t i = 0; i < entry->replicas.size(); ++i) {
            auto& r = *entry->replicas[i];
            if (!r.instance) continue;
            const bool listed = std::find(runners.begin(), runners.end(), r.runner) != runners.end();
            if (i >= want || !listed || r.fingerprint != fingerprint_on(*entry, r.runner)) r.stale = true;
        }
        next[m.name] = entry;
    }
    for (auto& [name, entry] : models_) {
        if (next.count(name)) continue;
        entry->retired = true;
        entry->scale_timer.cancel();
        fail_waiters(entry, {404, "The model `" + name + "` was removed from the configuration.", "invalid_request_error",
                             "model_not_found", std::nullopt});
        if (entry->loaded()) retired_.push_back(entry);
    }
    models_ = std::move(next);
    for (auto& [name, entry] : models_) {
        after_idle(entry);
        // Trim replicas past the ring once they have no server (the vector is indexed by replica).
        while (entry->replicas.size() > static_cast<std::size_t>(entry->ring.size()) && !entry->replicas.back()->instance &&
               !entry->replicas.back()->pending_load)
            entry->replicas.pop_back();
    }
    for (auto& entry : retired_) after_idle(entry);
    if (slot_caches_) {
        std::map<std::string, std::set<std::string>> fingerprints;  // the saved caches still usable
        for (const auto& [name, entry] : models_) {
            for (const auto& runner : runners_of(*entry)) fingerprints[name].insert(fingerprint_on(*entry, runner));
        }
        slot_caches_->retain(fingerprints);
    }
    place_pending();
    // The replicas kept running (`min`), and those a loaded model gained, start once the caller's
    // current step is over: at start-up that is the adoption of the servers a previous host left,
    // which take those places instead of new servers.
    asio::post(io_, [this, alive = std::weak_ptr<int>(alive_)] {
        if (alive.expired() || shutting_down_) return;
        for (auto& [name, entry] : models_) {
            if (entry->config.replicas.min > 0) ensure_loading(entry, entry->config.replicas.min, true);
            if (entry->serving()) ensure_loading(entry, entry->config.replicas.start, true);
        }
    });
}

std::shared_ptr<ModelEntry> Scheduler::find(std::string_view model) const {
    const auto* m = config_.find_model(model);
    if (!m) return nullptr;
    auto it = models_.find(m->name);
    return it == models_.end() ? nullptr : it->second;
}

Scheduler::ReplicaPtr Scheduler::pick(const ModelEntry& entry, const Affinity& affinity) const {
    const auto limit = entry.config.concurrency;
    const auto count = std::min(entry.replicas.size(), entry.ring.size());
    // Serving, current, below its concurrency limit and not yielding its room.
    const auto takes_request = [&](const Replica& r) {
        return r.serving() && !r.stale && (!limit || r.in_flight < *limit) && !closed(entry, r);
    };
    // One replica (most models): it takes the request if it can, whatever the affinity; else the
    // general way below decides (an avoided or a stale replica).
    if (count == 1 && takes_request(*entry.replicas[0])) return entry.replicas[0];
    std::vector<ReplicaState> states;
    states.reserve(count);
    bool avoided = false;  // the replica to avoid is the only one: take it rather than nothing
    for (std::size_t i = 0; i < count; ++i) {
        const auto& r = *entry.replicas[i];
        bool available = takes_request(r);
        if (available && affinity.avoid && *affinity.avoid == r.index) {
            available = false;
            avoided = true;
        }
        states.push_back(
            {replica_name(entry.config.name, r.index), r.in_flight, std::max(1, entry.config.server.parallel.value_or(1)), available});
    }
    const auto routing = entry.config.prefix_routing || affinity.session ? Routing::Prefix : Routing::LeastBusy;
    std::optional<std::string_view> key;
    if (affinity.key) key = *affinity.key;
    auto chosen = choose_replica(states, entry.ring, routing, key);
    if (!chosen && avoided) return entry.replicas[static_cast<std::size_t>(*affinity.avoid)];
    if (!chosen) {
        // Stale replicas (the config changed) serve when nothing else can, until they are idle.
        for (std::size_t i = 0; i < entry.replicas.size(); ++i) {
            const auto& r = entry.replicas[i];
            if (r->serving() && (!limit || r->in_flight < *limit) && !closed(entry, *r)) return r;
        }
        return nullptr;
    }
    return entry.replicas[*chosen];
}

void Scheduler::grant(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica) {
    if (replica->yield) ++replica->yield->granted;
    ++replica->in_flight;
    ++entry->in_flight;
    replica->ttl_timer.cancel();
    requests_changed(*entry);
}

namespace {
constexpr std::chrono::milliseconds kRequestsEventDelay{250};
}  // namespace

void Scheduler::requests_changed(const ModelEntry& entry) {
    const bool armed = !requests_changed_.empty();
    requests_changed_.insert(entry.config.name);
    if (armed) return;
    requests_timer_.expires_after(kRequestsEventDelay);
    requests_timer_.async_wait([this](boost::system::error_code ec) {
        if (!ec) publish_requests();
    });
}

void Scheduler::publish_requests() {
    auto names = std::move(requests_changed_);
    requests_changed_.clear();
    for (const auto& name : names) {
        auto it = models_.find(name);
        if (it == models_.end()) continue;
        const auto& e = *it->second;
        events_.publish(
            {{"type", "requests"}, {"model", name}, {"in_flight", e.in_flight}, {"queued", static_cast<int64_t>(e.queue.size())}}, false);
    }
}

std::optional<Lease> Scheduler::acquire_now(const std::string& model, const Affinity& affinity) {
    return acquire_now(find(model), affinity);
}

std::optional<Lease> Scheduler::acquire_now(const std::shared_ptr<ModelEntry>& entry, const Affinity& affinity) {
    if (!entry || shutting_down_ || !entry->queue.empty()) return std::nullopt;
    auto replica = pick(*entry, affinity);
    if (!replica) return std::nullopt;
    grant(entry, replica);
    watch_backlog(entry);
    return Lease(this, entry, replica);
}

asio::awaitable<std::variant<Lease, Refusal>> Scheduler::acquire(std::string model, Affinity affinity) {
    if (auto lease = acquire_now(model, affinity)) co_return std::move(*lease);
    auto entry = find(model);
    if (!entry) co_return Refusal::model_not_found(model);
    if (shutting_down_) co_return make_refusal(503, "corral is shutting down", "server_error", "shutting_down", 5);
    if (entry->queue.size() >= static_cast<std::size_t>(config_.scheduler.max_queue)) {
        metrics_.rejected(entry->config.name, "queue_full");
        co_return make_refusal(429,
                               "Too many requests for `" + entry->config.name + "`: " + std::to_string(entry->queue.size()) +
                                   " are already waiting (scheduler.max_queue).",
                               "rate_limit_error", "queue_full", 1);
    }
    const bool loading = !entry->serving();
    auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
    waiter->affinity = std::move(affinity);
    entry->queue.push_back(waiter);
    requests_changed(*entry);
    const auto queued_at = clock::now();
    bool cold = loading || swapping_out(*entry);  // waits for a (re)load, not for a slot
    auto timeout = cold ? config_.scheduler.load_timeout : config_.scheduler.queue_timeout;
    if (loading) ensure_loading(entry, entry->config.replicas.start, false);
    watch_backlog(entry);
    co_await waiter->signal.wait(queued_at + timeout);
    // A model that gave its room to another meanwhile comes back like a cold one: load_timeout.
    if (!waiter->granted && !waiter->refusal && !cold && (!entry->serving() || swapping_out(*entry))) {
        cold = true;
        timeout = std::max(timeout, config_.scheduler.load_timeout);
        co_await waiter->signal.wait(queued_at + timeout);
    }
    if (waiter->granted) co_return Lease(this, entry, waiter->granted);
    if (waiter->refusal) co_return *waiter->refusal;

    entry->queue.erase(std::remove(entry->queue.begin(), entry->queue.end(), waiter), entry->queue.end());
    requests_changed(*entry);
    after_idle(entry);
    watch_backlog(entry);
    place_pending();  // a model no one waits for any more claims no room (nor asks others to yield)
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
    if (cold) {
        metrics_.rejected(entry->config.name, "load_timeout");
        const bool waiting_for_room =
            std::any_of(entry->replicas.begin(), entry->replicas.end(), [](const auto& r) { return r->pending_load; });
        co_return make_refusal(503,
                               "`" + entry->config.name + "` did not become ready within " + std::to_string(secs) +
                                   "s (scheduler.load_timeout)" + (waiting_for_room ? ": every loaded model is busy" : ""),
                               "server_error", "model_load_timeout", 5);
    }
    metrics_.rejected(entry->config.name, "queue_timeout");
    co_return make_refusal(503,
                           "Waited " + std::to_string(secs) + "s for a free slot of `" + entry->config.name + "` (scheduler.queue_timeout)",
                           "server_error", "queue_timeout", 1);
}

void Scheduler::release(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica) {
    --entry->in_flight;
    entry->last_used = clock::now();
    if (replica) {
        --replica->in_flight;
        replica->last_used = entry->last_used;
    }
    requests_changed(*entry);
    dispatch(entry);
    after_idle(entry);
    watch_backlog(entry);
    place_pending();
    if (notify_) notify_();
}

// Idle replicas: those of a retired model stop, stale ones restart on the next request, the others
// start their ttl.
void Scheduler::after_idle(const std::shared_ptr<ModelEntry>& entry) {
    if (!entry->queue.empty()) return;
    for (const auto& replica : entry->replicas) {
        if (!replica->instance || replica->in_flight > 0) continue;
        if (entry->retired) {
            stop(replica, "removed from the configuration");
        } else if (replica->stale) {
            stop(replica, "configuration changed");
        } else {
            arm_ttl(entry, replica);
        }
    }
}

void Scheduler::dispatch(const std::shared_ptr<ModelEntry>& entry) {
    if (!pending_.empty()) update_yields();  // a replica that just became ready may owe room already
    while (!entry->queue.empty()) {
        auto waiter = entry->queue.front();
        auto replica = pick(*entry, waiter->affinity);
        if (!replica) break;
        entry->queue.pop_front();
        grant(entry, replica);
        waiter->granted = replica;
        waiter->signal.notify();
    }
}

void Scheduler::fail_waiters(const std::shared_ptr<ModelEntry>& entry, const Refusal& refusal) {
    auto queue = std::move(entry->queue);
    entry->queue.clear();
    for (auto& waiter : queue) {
        waiter->refusal = refusal;
        waiter->signal.notify();
    }
}

void Scheduler::ensure_loading(const std::shared_ptr<ModelEntry>& entry, int32_t count, bool wanted) {
    if (shutting_down_ || entry->retired) return;
    count = std::min<int32_t>(count, static_cast<int32_t>(entry->ring.size()));
    int32_t have = 0;
    for (const auto& r : entry->replicas) {
        if ((r->instance && !r->stale) || r->pending_load) ++have;
    }
    for (std::size_t i = 0; i < entry->ring.size() && have < count; ++i) {
        const auto& r = entry->replicas[i];
        if (r->instance || r->pending_load) {
            if (r->pending_load && wanted) r->wanted = true;
            continue;
        }
        r->pending_load = true;
        r->wanted = wanted;
        pending_.push_back({entry, r, {entry->config.priority, now_()}});
        ++have;
    }
    if (wanted) {
        for (const auto& r : entry->replicas) {
            if (r->pending_load) r->wanted = true;
        }
    }
    place_pending();
}

void Scheduler::place_pending() {
    // Nothing waits for room and no server was asked to make some: nothing to place or to undo
    // (every request's release comes here).
    if (pending_.empty() && !yields_asked_) return;
    // The most urgent first (swap_policy.hpp: starved, then priority, then arrival).
    const auto now = now_();
    std::stable_sort(pending_.begin(), pending_.end(),
                     [&](const Pending& a, const Pending& b) { return goes_before(a.contender, b.contender, now, swap_); });
    for (std::size_t i = 0; i < pending_.size();) {
        auto [entry, replica, contender] = pending_[i];
        const bool needed = replica->wanted || !entry->queue.empty();
        bool done = replica->instance || entry->retired || shutting_down_ || !needed || place(entry, replica);
        if (done) {
            replica->pending_load = false;
            replica->wanted = false;
            // place() may have changed pending_ (a failed model's other replicas): find it again.
            // (A capture by name: Clang before 16 cannot capture a structured binding.)
            auto it = std::find_if(pending_.begin(), pending_.end(), [placed = replica](const Pending& p) { return p.replica == placed; });
            if (it != pending_.end()) pending_.erase(it);
        } else {
            ++i;
        }
    }
    update_yields();
}

std::vector<std::string> Scheduler::blocking(const std::shared_ptr<ModelEntry>& entry) const {
    auto all = residents(entry.get());
    std::set<std::string> own;
    for (const auto& r : entry->replicas) own.insert(replica_name(entry->config.name, r->index));
    for (auto& r : all) {
        if (!r.stopping && !own.count(r.name)) r.idle = true;  // as if every other busy server were done
    }
    for (const auto& runner : runners_of(*entry)) {
        auto plan = plan_placement(machines_.of_runner(runner), all, demand_of(*entry), limits_);
        if (plan.kind == Plan::Kind::Evict) return plan.evict;
        if (plan.kind == Plan::Kind::Place) return {};
    }
    return {};
}

void Scheduler::update_yields() {
    const auto now = now_();
    std::map<const Replica*, Contender> asked;
    for (const auto& p : pending_) {
        if (p.replica->instance || p.entry->retired || !(p.replica->wanted || !p.entry->queue.empty())) continue;
        for (const auto& name : blocking(p.entry)) {
            auto [holder_entry, holder] = replica_named(name);
            if (!holder || holder_entry == p.entry) continue;
            auto [it, inserted] = asked.emplace(holder.get(), p.contender);
            if (!inserted) it->second = most_urgent(it->second, p.contender, now, swap_);
        }
    }
    std::vector<std::shared_ptr<ModelEntry>> reopened;  // no one waits for their room any more
    yields_asked_ = false;
    for_each_entry([&](const std::shared_ptr<ModelEntry>& e) {
        for (const auto& r : e->replicas) {
            auto it = asked.find(r.get());
            if (it == asked.end() || !r->serving()) {
                if (r->yield && !e->queue.empty()) reopened.push_back(e);
                r->yield.reset();
                continue;
            }
            if (!r->yield) r->yield = Yield{now, 0};
            r->yield_to = it->second;
            yields_asked_ = true;
        }
    });
    for (const auto& e : reopened) dispatch(e);  // their queued requests go in again
}

bool Scheduler::closed(const ModelEntry& entry, const Replica& replica) const {
    return replica.yield && !may_take_request(*replica.yield, entry.config.priority, replica.yield_to, now_(), swap_);
}

bool Scheduler::swapping_out(const ModelEntry& entry) const {
    bool any = false;
    for (const auto& r : entry.replicas) {
        if (!r->serving()) continue;
        if (!closed(entry, *r)) return false;
        any = true;
    }
    return any;
}

std::vector<Resident> Scheduler::residents(const ModelEntry* placing) const {
    std::vector<Resident> out;
    for_each_entry([&](const std::shared_ptr<ModelEntry>& e) {
        for (const auto& r : e->replicas) {
            if (!r->instance || r->instance->gone()) continue;
            // A replica that yields is idle once its requests are done, whatever its model has queued.
            const bool idle = e.get() != placing && r->in_flight == 0 && (e->queue.empty() || closed(*e, *r)) && r->instance->serving();
            out.push_back(
                {replica_name(e->config.name, r->index), r->placement, idle, r->instance->state == InstanceState::Stopping, r->last_used});
        }
    });
    return out;
}

Demand Scheduler::demand_of(const ModelEntry& entry) const {
    const auto& layers = entry.config.server.gpu_layers;
    return {entry.config.name, entry.memory, entry.per_device_overhead, entry.config.devices, !(layers && *layers == "all")};
}

std::pair<std::shared_ptr<ModelEntry>, Scheduler::ReplicaPtr> Scheduler::replica_named(std::string_view name) const {
    std::pair<std::shared_ptr<ModelEntry>, ReplicaPtr> found;
    for_each_entry([&](const std::shared_ptr<ModelEntry>& e) {
        for (const auto& r : e->replicas) {
            if (!found.second && r->instance && replica_name(e->config.name, r->index) == name) found = {e, r};
        }
    });
    return found;
}

// The first of the model's runners whose machine takes the replica now, in order of free capacity
// (the config's order between equals); else the first that makes room by evicting idle servers.
bool Scheduler::place(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica) {
    const auto all = residents(entry.get());
    struct Candidate {
        std::string runner;
        const Machine* machine;
        uint64_t free;
    };
    std::vector<Candidate> candidates;
    for (const auto& runner : runners_of(*entry)) {
        const auto& machine = machines_.of_runner(runner);
        uint64_t capacity = machine.managed_elsewhere ? UINT64_MAX : machine.ram_capacity.value_or(UINT64_MAX);
        if (!machine.managed_elsewhere && !machine.devices.empty()) {
            capacity = 0;
            for (const auto& d : machine.devices) capacity += d.capacity;
        }
        const auto reserved = ledger_of(machine, all).total_reserved;
        candidates.push_back({runner, &machine, capacity > reserved ? capacity - reserved : 0});
    }
    std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.free > b.free; });
    const auto name = replica_name(entry->config.name, replica->index);
    std::optional<std::pair<Plan, std::string>> eviction;
    std::string waiting, impossible;
    for (const auto& c : candidates) {
        auto plan = plan_placement(*c.machine, all, demand_of(*entry), limits_);
        switch (plan.kind) {
            case Plan::Kind::Place:
                log()->info("placing {} on {}: {} ({})", name, c.machine->name, plan.reason, config::format_size(plan.reservation.total()));
                replica->runner = c.runner;
                replica->placement = std::move(plan.reservation);
                start(entry, replica);
                return true;
            case Plan::Kind::Evict:
                if (!eviction) eviction.emplace(std::move(plan), c.machine->name);
                break;
            case Plan::Kind::Wait:
                if (waiting.empty()) waiting = c.machine->name + ": " + plan.reason;
                break;
            case Plan::Kind::Impossible:
                impossible += (impossible.empty() ? "" : "; ") + plan.reason;
                break;
        }
    }
    if (eviction) {
        for (const auto& victim_name : eviction->first.evict) {
            auto [victim_entry, victim] = replica_named(victim_name);
            if (!victim) continue;
            metrics_.eviction(victim_entry->config.name, "lru");
            stop(victim, "evicted to make room for " + name);
        }
        return false;
    }
    if (!waiting.empty()) {
        log()->debug("{} waits for room on {}", name, waiting);
        return false;
    }
    if (entry->loaded()) {  // the model runs elsewhere: only this replica is given up
        log()->warn("replica {} cannot be placed: {}", name, impossible);
        return true;
    }
    log()->error("{} cannot be placed: {}", entry->config.name, impossible);
    entry->last_error = impossible;
    for (const auto& r : entry->replicas) r->wanted = false;
    fail_waiters(entry,
                 {503, "`" + entry->config.name + "` cannot be placed: " + impossible, "server_error", "model_unplaceable", std::nullopt});
    return true;
}

void Scheduler::start(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica) {
    auto runner = runners_.find(replica->runner);
    if (!runner) {
        fail_waiters(entry, {500, "no runner named \"" + replica->runner + "\"", "server_error", "runner_missing", std::nullopt});
        return;
    }
    replica->stale = false;
    replica->fingerprint = fingerprint_on(*entry, replica->runner);
    auto launch = entry->config;
    launch.runner = replica->runner;
    const auto& machine = machines_.of_runner(replica->runner);
    for (const auto& note : apply_placement(launch, machine, replica->placement))
        log()->warn("{}: {}", replica_name(entry->config.name, replica->index), note);
    std::vector<sdk::DeviceInfo> gpus;
    for (const auto& [id, bytes] : replica->placement.devices) {
        if (const auto* d = machine.device(id)) gpus.push_back(device_info(*d, bytes, config_.scheduler.memory_headroom));
    }
    memory_.prepare_launch(launch, gpus);
    // A model whose memory is given by hand needs no measurement (nor the slower logging it costs).
    launch.server.measure_memory = !launch.memory;
    if (slot_caches_) launch.server.slot_save_path = slot_caches_->save_path(launch, replica->fingerprint, *runner);
    replica->instance = supervisor_.launch(launch, runner, replica->fingerprint);
    entry->last_instance = replica->instance;
}

void Scheduler::stop(const ReplicaPtr& replica, const std::string& reason) {
    replica->ttl_timer.cancel();
    if (replica->instance) supervisor_.stop(replica->instance, reason);
}

void Scheduler::stop_all(const std::shared_ptr<ModelEntry>& entry, const std::string& reason) {
    entry->scale_timer.cancel();
    entry->backlog_since.reset();
    for (const auto& r : entry->replicas) {
        r->wanted = false;
        stop(r, reason);
    }
}

// A replica unloads after the model's ttl without requests: its own requests when the model
// autoscales (extra replicas go first), any of the model's otherwise (a model of N replicas runs N
// while it is used at all), never below the model's minimum.
void Scheduler::arm_ttl(const std::shared_ptr<ModelEntry>& entry, const ReplicaPtr& replica) {
    const auto ttl = entry->config.ttl;
    if (!ttl || !replica->serving() || replica->in_flight > 0 || !entry->queue.empty()) return;
    const auto last_use = entry->config.replicas.autoscales() ? replica->last_used : std::max(replica->last_used, entry->last_used);
    const auto deadline = last_use + *ttl;
    if (deadline > clock::now()) {
        replica->ttl_timer.expires_at(deadline);
        replica->ttl_timer.async_wait(
            [this, weak_entry = std::weak_ptr<ModelEntry>(entry), weak = std::weak_ptr<Replica>(replica)](boost::system::error_code ec) {
                auto entry = weak_entry.lock();
                auto replica = weak.lock();
                if (!ec && entry && replica) arm_ttl(entry, replica);  // the deadline may have moved meanwhile
            });
        return;
    }
    int32_t running = 0;  // the lowest-numbered replicas are the ones that stay
    for (const auto& r : entry->replicas) {
        if (r->instance && r->instance->state != InstanceState::Stopping) ++running;
    }
    if (running <= entry->config.replicas.min) return;
    metrics_.eviction(entry->config.name, "ttl");
    stop(replica, "idle for its ttl");
}

// Autoscaling: while every serving replica has a backlog for replicas.scale_up_after, one more starts.
void Scheduler::watch_backlog(const std::shared_ptr<ModelEntry>& entry) {
    const auto& policy = entry->config.replicas;
    if (!policy.autoscales() || shutting_down_ || entry->retired) return;
    std::vector<ReplicaState> serving;
    int32_t starting = 0, loaded = 0;
    for (std::size_t i = 0; i < std::min(entry->replicas.size(), entry->ring.size()); ++i) {
        const auto& r = *entry->replicas[i];
        if (r.pending_load || (r.instance && !r.serving() && !r.instance->gone() && r.instance->state != InstanceState::Stopping))
            ++starting;
        if (r.instance || r.pending_load) ++loaded;
        if (r.serving()) serving.push_back({"", r.in_flight, std::max(1, entry->config.server.parallel.value_or(1)), true});
    }
    if (!wants_another_replica(serving, entry->queue.size(), starting, loaded, policy.max)) {
        entry->backlog_since.reset();
        entry->scale_timer.cancel();
        return;
    }
    if (entry->backlog_since) return;  // the timer runs
    entry->backlog_since = clock::now();
    entry->scale_timer.expires_after(policy.scale_up_after);
    entry->scale_timer.async_wait([this, weak = std::weak_ptr<ModelEntry>(entry)](boost::system::error_code ec) {
        auto entry = weak.lock();
        if (ec || !entry || !entry->backlog_since) return;
        entry->backlog_since.reset();
        int32_t loaded = 0;
        for (const auto& r : entry->replicas) {
            if (r->instance || r->pending_load) ++loaded;
        }
        log()->info("{}: every replica has had a backlog for {} ms: starting replica {} of at most {}", entry->config.name,
                    entry->config.replicas.scale_up_after.count(), loaded + 1, entry->config.replicas.max);
        ensure_loading(entry, loaded + 1, true);
        watch_backlog(entry);
    });
}

std::pair<std::shared_ptr<ModelEntry>, Scheduler::ReplicaPtr> Scheduler::replica_of(const supervisor::Instance& instance) const {
    std::pair<std::shared_ptr<ModelEntry>, ReplicaPtr> found;
    for_each_entry([&](const std::shared_ptr<ModelEntry>& e) {
        for (const auto& r : e->replicas) {
            if (r->instance.get() == &instance) found = {e, r};
        }
    });
    return found;
}

void Scheduler::on_instance_changed(std::shared_ptr<supervisor::Instance> instance) {
    auto [entry, replica] = replica_of(*instance);
    if (notify_) notify_();
    if (!entry) return;
    const auto& id = instance->server.instance_id;
    switch (instance->state) {
        case InstanceState::Ready:
            replica->last_used = clock::now();
            entry->last_error.clear();
            learn_memory(entry, *replica, *instance);
            // What the server logged replaces the plan, unless the user gave the model's memory by hand.
            if (!entry->config.memory && !machines_.of_runner(replica->runner).managed_elsewhere && !instance->memory_log.empty())
                replica->placement = measured_reservation(replica->placement, instance->memory_log);
            if (records_) records_->save(id, replica->placement);  // with the measured figures
            [[fallthrough]];
        case InstanceState::Unhealthy:
            dispatch(entry);
            after_idle(entry);
            watch_backlog(entry);
            break;
        case InstanceState::Starting:  // every launch, restarts included, has an id of its own
            if (records_) records_->save(id, replica->placement);
            break;
        case InstanceState::Restarting:  // the launch that ended
            if (records_) records_->forget(id);
            break;
        case InstanceState::Stopping:
            break;
        case InstanceState::Stopped:
        case InstanceState::Failed: {
            if (records_) records_->forget(id);
            replica->instance = nullptr;
            replica->placement = {};
            replica->ttl_timer.cancel();
            replica->stale = false;
            if (instance->state == InstanceState::Failed) {
                entry->last_error = instance->message;
                if (!entry->loaded()) {
                    for (const auto& r : entry->replicas) r->wanted = false;
                    fail_waiters(entry, {503, "`" + entry->config.name + "` failed: " + instance->message, "server_error", "model_failed",
                                         std::nullopt});
                }
            }
            if (entry->retired) {
                if (!entry->loaded()) retired_.erase(std::remove(retired_.begin(), retired_.end(), entry), retired_.end());
            } else {
                if (!entry->serving() && !entry->queue.empty())
                    ensure_loading(entry, entry->config.replicas.start, false);  // requests arrived while it was stopping
                if (instance->state == InstanceState::Stopped && entry->config.replicas.min > 0 && !shutting_down_)
                    ensure_loading(entry, entry->config.replicas.min, true);
                dispatch(entry);  // a stale replica's waiters may go to the others
                watch_backlog(entry);
            }
            place_pending();
            break;
        }
    }
}

std::optional<Refusal> Scheduler::load(const std::string& model) {
    auto entry = find(model);
    if (!entry) return Refusal::model_not_found(model);
    if (shutting_down_) return Refusal{503, "corral is shutting down", "server_error", "shutting_down", 5};
    for (const auto& r : entry->replicas) {
        if (r->instance && r->instance->state == InstanceState::Failed) r->instance = nullptr;
    }
    ensure_loading(entry, std::max(entry->config.replicas.start, entry->config.replicas.min), true);
    return std::nullopt;
}

std::optional<Refusal> Scheduler::unload(const std::string& model) {
    auto entry = find(model);
    if (!entry) return Refusal::model_not_found(model);
    if (entry->loaded()) metrics_.eviction(entry->config.name, "admin");
    stop_all(entry, "unloaded on request");
    return std::nullopt;
}

bool Scheduler::adopt(sdk::ProcessHandle handle, const std::string& runner) {
    auto it = models_.find(handle.model_name);
    if (it == models_.end()) return false;
    auto entry = it->second;
    const auto runners = runners_of(*entry);
    if (std::find(runners.begin(), runners.end(), runner) == runners.end()) return false;
    ReplicaPtr replica;
    for (std::size_t i = 0; i < entry->ring.size() && !replica; ++i) {
        if (!entry->replicas[i]->instance && !entry->replicas[i]->pending_load) replica = entry->replicas[i];
    }
    if (!replica) return false;  // more servers than replicas: the caller stops this one
    auto fingerprint = supervisor::Supervisor::fingerprint_of_instance_id(handle.instance_id);
    const auto expected = fingerprint_on(*entry, runner);
    if (fingerprint.empty() || fingerprint != expected.substr(0, fingerprint.size())) return false;
    auto slot = runners_.find(runner);
    if (!slot) return false;
    // Where the previous host placed it, from its record; without one (a record lost, or a server
    // of an older corral), the place a new instance would get, so the ledger counts it somewhere.
    const auto& machine = machines_.of_runner(runner);
    auto recorded = records_ ? records_->load(handle.instance_id) : std::nullopt;
    if (recorded && recorded->machine == machine.name) {
        replica->placement = std::move(*recorded);
    } else {
        auto plan = plan_placement(machine, residents(), demand_of(*entry), {});
        if (plan.kind != Plan::Kind::Place) plan = plan_placement(machine, {}, demand_of(*entry), {});
        replica->placement = plan.kind == Plan::Kind::Place ? plan.reservation : Reservation{machine.name, {}, entry->memory};
        log()->warn("{}: no placement record for adopted server {}: assuming {}", entry->config.name, handle.instance_id,
                    plan.reason.empty() ? "its place" : plan.reason);
    }
    replica->runner = runner;
    replica->fingerprint = expected;
    auto launch = entry->config;
    launch.runner = runner;
    // Started by a previous host with the same settings: its caches go where that host put them.
    if (slot_caches_) launch.server.slot_save_path = slot_caches_->save_path(launch, expected, *slot);
    replica->instance = supervisor_.adopt(launch, slot, expected, std::move(handle));
    entry->last_instance = replica->instance;
    return true;
}

void Scheduler::begin_drain() {
    shutting_down_ = true;
    pending_.clear();
    for (auto& [name, entry] : models_) {
        entry->scale_timer.cancel();
        for (const auto& r : entry->replicas) {
            r->pending_load = false;
            r->wanted = false;
        }
        fail_waiters(entry, {503, "corral is shutting down", "server_error", "shutting_down", 5});
    }
}

void Scheduler::shutdown() {
    begin_drain();
    for (auto& [name, entry] : models_) stop_all(entry, "corral is shutting down");
    for (auto& entry : retired_) stop_all(entry, "corral is shutting down");
}

bool Scheduler::all_stopped() const {
    return supervisor_.active() == 0;
}

int32_t Scheduler::in_flight() const {
    int32_t n = 0;
    for_each_entry([&](const std::shared_ptr<ModelEntry>& e) { n += e->in_flight; });
    return n;
}

ReplicaStatus Scheduler::describe(const ModelEntry& e, const Replica& r) const {
    const auto now = clock::now();
    ReplicaStatus s;
    s.index = r.index;
    s.name = replica_name(e.config.name, r.index);
    s.runner = r.runner;
    s.in_flight = r.in_flight;
    if (!r.instance) {
        s.state = "queued";
        return s;
    }
    const auto& inst = *r.instance;
    s.state = std::string(supervisor::to_string(inst.state));
    s.message = inst.message;
    s.instance_id = inst.server.instance_id;
    s.restarts = inst.restarts;
    s.adopted = inst.adopted;
    if (inst.handle) {
        s.endpoint = inst.handle->endpoint;
        s.pid = inst.handle->pid;
        if (const auto* details = inst.handle->runner_data.if_object()) s.runner_details = *details;
    }
    s.placement = r.placement;
    if (inst.ready_at) s.uptime_seconds = std::chrono::duration<double>(now - *inst.ready_at).count();
    if (r.in_flight == 0 && e.queue.empty() && inst.serving()) s.idle_seconds = std::chrono::duration<double>(now - r.last_used).count();
    return s;
}

namespace {

// Which replica's state stands for the model's: the one closest to serving.
int state_rank(std::string_view state) {
    static constexpr std::array<std::string_view, 8> order = {"ready",    "unhealthy", "starting", "restarting",
                                                              "stopping", "queued",    "failed",   "stopped"};
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (order[i] == state) return static_cast<int>(i);
    }
    return static_cast<int>(order.size());
}

}  // namespace

ModelStatus Scheduler::describe(const ModelEntry& e) const {
    ModelStatus s;
    s.name = e.config.name;
    s.aliases = e.config.aliases;
    s.runner = e.config.runner;
    s.in_flight = e.in_flight;
    s.queued = static_cast<int32_t>(e.queue.size());
    s.memory = e.memory;
    s.memory_source = e.memory_source;
    s.message = e.last_error;
    s.max_replicas = e.config.replicas.max;
    s.from_models_dir = e.config.from_models_dir;
    if (e.config.ttl && e.config.replicas.min == 0) s.ttl_seconds = std::chrono::duration<double>(*e.config.ttl).count();
    for (const auto& r : e.replicas) {
        if (r->instance || r->pending_load) s.replicas.push_back(describe(e, *r));
    }
    const ReplicaStatus* primary = nullptr;
    for (const auto& r : s.replicas) {
        if (r.state != "queued" && (!primary || state_rank(r.state) < state_rank(primary->state))) primary = &r;
    }
    if (!primary) {
        s.state = s.replicas.empty() ? "unloaded" : "queued";
        return s;
    }
    static_cast<ServerStatus&>(s) = *primary;
    s.in_flight = e.in_flight;
    s.idle_seconds.reset();
    if (e.idle()) {  // since the last request anywhere ended: the most recently idle replica's
        for (const auto& r : s.replicas) {
            if (r.idle_seconds && (!s.idle_seconds || *r.idle_seconds < *s.idle_seconds)) s.idle_seconds = r.idle_seconds;
        }
    }
    s.restarts = 0;
    for (const auto& r : s.replicas) s.restarts += r.restarts;
    return s;
}

std::vector<ModelStatus> Scheduler::status() const {
    std::vector<ModelStatus> out;
    for (const auto& m : config_.models) {
        if (auto it = models_.find(m.name); it != models_.end()) out.push_back(describe(*it->second));
    }
    return out;
}

std::optional<uint64_t> Scheduler::memory_budget() const {
    if (machines_.machines().empty()) return std::nullopt;
    const auto& local = machines_.machines().front();
    if (local.overall_cap) return local.overall_cap;
    if (local.devices.empty()) return local.ram_capacity;
    uint64_t sum = 0;
    for (const auto& d : local.devices) sum += d.capacity;
    return sum;
}

std::vector<MachineStatus> Scheduler::machine_status() const {
    const auto all = residents();
    std::vector<MachineStatus> out;
    for (const auto& m : machines_.machines()) out.push_back({&m, machines_.runners_on(m.name), ledger_of(m, all)});
    return out;
}

std::vector<admin::ModelGauges> Scheduler::gauges() const {
    std::vector<admin::ModelGauges> out;
    for (const auto& s : status()) {
        admin::ModelGauges g{s.name, s.state, s.in_flight, s.queued, 0, {}};
        for (const auto& r : s.replicas) {
            if (r.state == "queued") continue;
            g.memory += s.memory;
            g.replicas.push_back({r.name, r.state, r.in_flight});
        }
        out.push_back(std::move(g));
    }
    return out;
}

}  // namespace corral::scheduler
