#include "scheduler/scheduler.hpp"

#include "config/units.hpp"
#include "logging/logging.hpp"
#include "scheduler/server_devices.hpp"

#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <filesystem>

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

Lease::Lease(Scheduler* scheduler, std::shared_ptr<ModelEntry> entry, std::shared_ptr<supervisor::Instance> instance)
    : scheduler_(scheduler), alive_(scheduler->alive_), entry_(std::move(entry)), instance_(std::move(instance)) {}

Lease::~Lease() {
    release();
}

Lease::Lease(Lease&& other) noexcept
    : scheduler_(std::exchange(other.scheduler_, nullptr)),
      alive_(std::move(other.alive_)),
      entry_(std::move(other.entry_)),
      instance_(std::move(other.instance_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        release();
        scheduler_ = std::exchange(other.scheduler_, nullptr);
        alive_ = std::move(other.alive_);
        entry_ = std::move(other.entry_);
        instance_ = std::move(other.instance_);
    }
    return *this;
}

void Lease::release() {
    auto* scheduler = std::exchange(scheduler_, nullptr);
    if (scheduler && !alive_.expired()) scheduler->release(entry_);
}

const std::string& Lease::endpoint() const {
    static const std::string none;
    return instance_ && instance_->handle ? instance_->handle->endpoint : none;
}

const std::string& Lease::model() const {
    return entry_->config.name;
}

// ---- Scheduler ----

Scheduler::Scheduler(asio::io_context& io, supervisor::Supervisor& supervisor, serve::RunnerSet& runners, admin::Metrics& metrics,
                     admin::EventBus& events, fit::MemoryPlanner& memory)
    : io_(io), supervisor_(supervisor), runners_(runners), metrics_(metrics), events_(events), memory_(memory) {}

// What the server really allocated replaces the estimate, for this and later placements.
void Scheduler::learn_memory(const std::shared_ptr<ModelEntry>& entry, const supervisor::Instance& instance) {
    if (instance.memory_log.empty()) return;
    memory_.record(entry->fingerprint, instance.memory_log);
    if (entry->config.memory) return;  // given by hand: the user's figure stands
    auto measured = memory_.size(entry->config, entry->fingerprint);
    const auto& figures = instance.memory_log;
    std::string layers;
    if (figures.offloaded_layers)
        layers = fmt::format(", {}/{} layers on the GPU", *figures.offloaded_layers, figures.total_layers.value_or(0));
    log()->info("{} uses {} (model {}, KV {}, compute {}{}); {} {} before", entry->config.name, config::format_size(measured.bytes),
                config::format_size(figures.model()), config::format_size(figures.kv()), config::format_size(figures.compute()), layers,
                entry->memory_source, config::format_size(entry->memory));
    entry->memory = measured.bytes;
    entry->memory_source = measured.source;
    entry->per_device_overhead = 0;  // the measurement has each device's own buffers
    if (!machines_.of_runner(entry->config.runner).managed_elsewhere) entry->placement = measured_reservation(entry->placement, figures);
}

void Scheduler::apply_config(const config::Config& config, MachineMap machines) {
    config_ = config;
    limits_ = {config.scheduler.max_loaded};
    machines_ = std::move(machines);
    memory_.set_headroom(config.scheduler.memory_headroom);
    std::map<std::string, std::shared_ptr<ModelEntry>, std::less<>> next;
    for (const auto& m : config.models) {
        auto fingerprint = serve::model_fingerprint(m, config.find_runner(m.runner));
        auto it = models_.find(m.name);
        std::shared_ptr<ModelEntry> entry;
        if (it != models_.end()) {
            entry = it->second;
            if (entry->fingerprint != fingerprint && entry->instance) entry->stale = true;
        } else {
            entry = std::make_shared<ModelEntry>(io_.get_executor());
        }
        entry->config = m;
        entry->fingerprint = fingerprint;
        auto sized = memory_.size(m, fingerprint);
        entry->memory = sized.bytes;
        entry->memory_source = sized.source;
        entry->per_device_overhead = sized.per_device_overhead;
        next[m.name] = entry;
    }
    for (auto& [name, entry] : models_) {
        if (next.count(name)) continue;
        entry->retired = true;
        fail_waiters(entry, {404, "The model `" + name + "` was removed from the configuration.", "invalid_request_error",
                             "model_not_found", std::nullopt});
        if (entry->instance) retired_.push_back(entry);
    }
    models_ = std::move(next);
    for (auto& [name, entry] : models_) {
        if (entry->stale && entry->idle()) stop(entry, "configuration changed");
    }
    for (auto& entry : retired_) {
        if (entry->idle()) stop(entry, "removed from the configuration");
    }
    place_pending();
}

std::shared_ptr<ModelEntry> Scheduler::find(std::string_view model) const {
    const auto* m = config_.find_model(model);
    if (!m) return nullptr;
    auto it = models_.find(m->name);
    return it == models_.end() ? nullptr : it->second;
}

asio::awaitable<std::variant<Lease, Refusal>> Scheduler::acquire(std::string model) {
    auto entry = find(model);
    if (!entry) co_return Refusal::model_not_found(model);
    if (shutting_down_) co_return make_refusal(503, "corral is shutting down", "server_error", "shutting_down", 5);
    const auto limit = entry->config.concurrency;
    auto& inst = entry->instance;
    if (inst && inst->serving() && entry->queue.empty() && (!limit || entry->in_flight < *limit)) {
        ++entry->in_flight;
        entry->ttl_timer.cancel();
        co_return Lease(this, entry, inst);
    }
    if (entry->queue.size() >= static_cast<std::size_t>(config_.scheduler.max_queue)) {
        metrics_.rejected(entry->config.name, "queue_full");
        co_return make_refusal(429,
                               "Too many requests for `" + entry->config.name + "`: " + std::to_string(entry->queue.size()) +
                                   " are already waiting (scheduler.max_queue).",
                               "rate_limit_error", "queue_full", 1);
    }
    const bool loading = !(inst && inst->serving());
    auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
    entry->queue.push_back(waiter);
    entry->ttl_timer.cancel();
    const auto timeout = loading ? config_.scheduler.load_timeout : config_.scheduler.queue_timeout;
    if (loading) ensure_loading(entry);
    co_await waiter->signal.wait(clock::now() + timeout);
    if (waiter->granted) co_return Lease(this, entry, waiter->granted);
    if (waiter->refusal) co_return *waiter->refusal;

    entry->queue.erase(std::remove(entry->queue.begin(), entry->queue.end(), waiter), entry->queue.end());
    after_idle(entry);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
    if (loading) {
        metrics_.rejected(entry->config.name, "load_timeout");
        co_return make_refusal(503,
                               "`" + entry->config.name + "` did not become ready within " + std::to_string(secs) +
                                   "s (scheduler.load_timeout)" + (entry->pending_load ? ": every loaded model is busy" : ""),
                               "server_error", "model_load_timeout", 5);
    }
    metrics_.rejected(entry->config.name, "queue_timeout");
    co_return make_refusal(503,
                           "Waited " + std::to_string(secs) + "s for a free slot of `" + entry->config.name + "` (scheduler.queue_timeout)",
                           "server_error", "queue_timeout", 1);
}

void Scheduler::release(const std::shared_ptr<ModelEntry>& entry) {
    --entry->in_flight;
    entry->last_used = clock::now();
    dispatch(entry);
    after_idle(entry);
    place_pending();
    if (notify_) notify_();
}

void Scheduler::after_idle(const std::shared_ptr<ModelEntry>& entry) {
    if (!entry->idle() || !entry->instance) return;
    if (entry->retired) {
        stop(entry, "removed from the configuration");
    } else if (entry->stale) {
        stop(entry, "configuration changed");
    } else {
        arm_ttl(entry);
    }
}

void Scheduler::dispatch(const std::shared_ptr<ModelEntry>& entry) {
    const auto& inst = entry->instance;
    if (!inst || !inst->serving()) return;
    const auto limit = entry->config.concurrency;
    while (!entry->queue.empty() && (!limit || entry->in_flight < *limit)) {
        auto waiter = entry->queue.front();
        entry->queue.pop_front();
        waiter->granted = inst;
        ++entry->in_flight;
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

void Scheduler::ensure_loading(const std::shared_ptr<ModelEntry>& entry) {
    if (entry->instance || shutting_down_) return;
    if (!entry->pending_load) {
        entry->pending_load = true;
        pending_.push_back(entry);
    }
    place_pending();
}

void Scheduler::place_pending() {
    for (auto it = pending_.begin(); it != pending_.end();) {
        auto entry = *it;
        bool done = entry->instance || entry->retired || shutting_down_ || (entry->queue.empty() && !entry->wanted) || place(entry);
        if (done) {
            entry->pending_load = false;
            it = pending_.erase(it);
        } else {
            ++it;
        }
    }
}

std::vector<Resident> Scheduler::residents() const {
    std::vector<Resident> out;
    auto add = [&](const std::shared_ptr<ModelEntry>& e) {
        if (!e->instance || e->instance->gone()) return;
        out.push_back({e->config.name, e->placement, e->idle() && e->instance->serving(), e->instance->state == InstanceState::Stopping,
                       e->last_used});
    };
    for (const auto& [name, e] : models_) add(e);
    for (const auto& e : retired_) add(e);
    return out;
}

Demand Scheduler::demand_of(const ModelEntry& entry) const {
    const auto& layers = entry.config.server.gpu_layers;
    return {entry.config.name, entry.memory, entry.per_device_overhead, entry.config.devices, !(layers && *layers == "all")};
}

bool Scheduler::place(const std::shared_ptr<ModelEntry>& entry) {
    const auto& machine = machines_.of_runner(entry->config.runner);
    auto plan = plan_placement(machine, residents(), demand_of(*entry), limits_);
    switch (plan.kind) {
        case Plan::Kind::Place:
            log()->info("placing {} on {}: {} ({})", entry->config.name, machine.name, plan.reason,
                        config::format_size(plan.reservation.total()));
            entry->placement = std::move(plan.reservation);
            start(entry);
            return true;
        case Plan::Kind::Evict:
            for (const auto& name : plan.evict) {
                auto victim = models_.count(name) ? models_.at(name) : nullptr;
                if (!victim) {
                    for (const auto& e : retired_) {
                        if (e->config.name == name) victim = e;
                    }
                }
                if (!victim) continue;
                metrics_.eviction(name, "lru");
                stop(victim, "evicted to make room for " + entry->config.name);
            }
            return false;
        case Plan::Kind::Wait:
            log()->debug("{} waits for room on {}: {}", entry->config.name, machine.name, plan.reason);
            return false;
        case Plan::Kind::Impossible:
            log()->error("{} cannot be placed on {}: {}", entry->config.name, machine.name, plan.reason);
            entry->wanted = false;
            entry->last_error = plan.reason;
            fail_waiters(entry, {503, "`" + entry->config.name + "` cannot be placed: " + plan.reason, "server_error", "model_unplaceable",
                                 std::nullopt});
            return true;
    }
    return false;
}

void Scheduler::start(const std::shared_ptr<ModelEntry>& entry) {
    auto runner = runners_.find(entry->config.runner);
    if (!runner) {
        fail_waiters(entry, {500, "no runner named \"" + entry->config.runner + "\"", "server_error", "runner_missing", std::nullopt});
        return;
    }
    entry->stale = false;
    entry->wanted = false;  // the explicit load is under way; from here on the model is an ordinary loaded one
    auto launch = entry->config;
    const auto& machine = machines_.of_runner(entry->config.runner);
    for (const auto& note : apply_placement(launch, machine, entry->placement)) log()->warn("{}: {}", entry->config.name, note);
    std::vector<sdk::DeviceInfo> gpus;
    for (const auto& [id, bytes] : entry->placement.devices) {
        if (const auto* d = machine.device(id)) gpus.push_back(device_info(*d, bytes, config_.scheduler.memory_headroom));
    }
    memory_.prepare_launch(launch, gpus);
    entry->instance = supervisor_.launch(launch, runner, entry->fingerprint);
    entry->last_instance = entry->instance;
}

void Scheduler::stop(const std::shared_ptr<ModelEntry>& entry, const std::string& reason) {
    entry->ttl_timer.cancel();
    if (entry->instance) supervisor_.stop(entry->instance, reason);
}

void Scheduler::arm_ttl(const std::shared_ptr<ModelEntry>& entry) {
    const auto ttl = entry->config.ttl;
    if (!ttl || !entry->instance || !entry->instance->serving()) return;
    entry->ttl_timer.expires_after(*ttl);
    entry->ttl_timer.async_wait([this, weak = std::weak_ptr<ModelEntry>(entry)](boost::system::error_code ec) {
        auto entry = weak.lock();
        if (ec || !entry || !entry->idle() || !entry->instance || !entry->instance->serving()) return;
        if (!entry->config.ttl || clock::now() - entry->last_used < *entry->config.ttl) return;
        metrics_.eviction(entry->config.name, "ttl");
        stop(entry, "idle for its ttl");
    });
}

std::shared_ptr<ModelEntry> Scheduler::entry_of(const supervisor::Instance& instance) const {
    for (const auto& [name, e] : models_) {
        if (e->instance.get() == &instance) return e;
    }
    for (const auto& e : retired_) {
        if (e->instance.get() == &instance) return e;
    }
    return nullptr;
}

void Scheduler::on_instance_changed(std::shared_ptr<supervisor::Instance> instance) {
    auto entry = entry_of(*instance);
    if (notify_) notify_();
    if (!entry) return;
    const auto& id = instance->server.instance_id;
    switch (instance->state) {
        case InstanceState::Ready:
            entry->last_used = clock::now();
            entry->last_error.clear();
            learn_memory(entry, *instance);
            if (records_) records_->save(id, entry->placement);  // with the measured figures
            [[fallthrough]];
        case InstanceState::Unhealthy:
            dispatch(entry);
            after_idle(entry);
            break;
        case InstanceState::Starting:  // every launch, restarts included, has an id of its own
            if (records_) records_->save(id, entry->placement);
            break;
        case InstanceState::Restarting:  // the launch that ended
            if (records_) records_->forget(id);
            break;
        case InstanceState::Stopping:
            break;
        case InstanceState::Stopped:
        case InstanceState::Failed: {
            if (records_) records_->forget(id);
            entry->instance = nullptr;
            entry->placement = {};
            entry->ttl_timer.cancel();
            if (instance->state == InstanceState::Failed) {
                entry->wanted = false;
                entry->last_error = instance->message;
                fail_waiters(entry, {503, "`" + entry->config.name + "` failed: " + instance->message, "server_error", "model_failed",
                                     std::nullopt});
            }
            if (entry->retired) {
                retired_.erase(std::remove(retired_.begin(), retired_.end(), entry), retired_.end());
            } else if (!entry->queue.empty() || entry->wanted) {
                ensure_loading(entry);  // requests arrived while it was stopping
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
    if (entry->instance && entry->instance->state == InstanceState::Failed) entry->instance = nullptr;
    entry->wanted = true;
    ensure_loading(entry);
    return std::nullopt;
}

std::optional<Refusal> Scheduler::unload(const std::string& model) {
    auto entry = find(model);
    if (!entry) return Refusal::model_not_found(model);
    entry->wanted = false;
    if (entry->instance) {
        metrics_.eviction(entry->config.name, "admin");
        stop(entry, "unloaded on request");
    }
    return std::nullopt;
}

bool Scheduler::adopt(sdk::ProcessHandle handle, const std::string& runner) {
    auto it = models_.find(handle.model_name);
    if (it == models_.end()) return false;
    auto entry = it->second;
    if (entry->instance || entry->config.runner != runner) return false;
    auto fingerprint = supervisor::Supervisor::fingerprint_of_instance_id(handle.instance_id);
    if (fingerprint.empty() || fingerprint != entry->fingerprint.substr(0, fingerprint.size())) return false;
    auto slot = runners_.find(runner);
    if (!slot) return false;
    // Where the previous host placed it, from its record; without one (a record lost, or a server
    // of an older corral), the place a new instance would get, so the ledger counts it somewhere.
    const auto& machine = machines_.of_runner(runner);
    auto recorded = records_ ? records_->load(handle.instance_id) : std::nullopt;
    if (recorded && recorded->machine == machine.name) {
        entry->placement = std::move(*recorded);
    } else {
        auto plan = plan_placement(machine, residents(), demand_of(*entry), {});
        if (plan.kind != Plan::Kind::Place) plan = plan_placement(machine, {}, demand_of(*entry), {});
        entry->placement = plan.kind == Plan::Kind::Place ? plan.reservation : Reservation{machine.name, {}, entry->memory};
        log()->warn("{}: no placement record for adopted server {}: assuming {}", entry->config.name, handle.instance_id,
                    plan.reason.empty() ? "its place" : plan.reason);
    }
    entry->instance = supervisor_.adopt(entry->config, slot, entry->fingerprint, std::move(handle));
    entry->last_instance = entry->instance;
    return true;
}

void Scheduler::begin_drain() {
    shutting_down_ = true;
    pending_.clear();
    for (auto& [name, entry] : models_) {
        entry->pending_load = false;
        entry->wanted = false;
        fail_waiters(entry, {503, "corral is shutting down", "server_error", "shutting_down", 5});
    }
}

void Scheduler::shutdown() {
    begin_drain();
    for (auto& [name, entry] : models_) stop(entry, "corral is shutting down");
    for (auto& entry : retired_) stop(entry, "corral is shutting down");
}

bool Scheduler::all_stopped() const {
    return supervisor_.active() == 0;
}

int32_t Scheduler::in_flight() const {
    int32_t n = 0;
    for (const auto& [name, e] : models_) n += e->in_flight;
    for (const auto& e : retired_) n += e->in_flight;
    return n;
}

ModelStatus Scheduler::describe(const ModelEntry& e) const {
    const auto now = clock::now();
    ModelStatus s;
    s.name = e.config.name;
    s.aliases = e.config.aliases;
    s.runner = e.config.runner;
    s.in_flight = e.in_flight;
    s.queued = static_cast<int32_t>(e.queue.size());
    s.memory = e.memory;
    s.memory_source = e.memory_source;
    s.message = e.last_error;
    if (e.instance) {
        const auto& inst = *e.instance;
        s.state = std::string(supervisor::to_string(inst.state));
        s.message = inst.message;
        s.instance_id = inst.server.instance_id;
        s.restarts = inst.restarts;
        s.adopted = inst.adopted;
        if (inst.handle) {
            s.endpoint = inst.handle->endpoint;
            s.pid = inst.handle->pid;
        }
        s.placement = e.placement;
        if (inst.ready_at) s.uptime_seconds = std::chrono::duration<double>(now - *inst.ready_at).count();
        if (e.idle() && inst.serving()) s.idle_seconds = std::chrono::duration<double>(now - e.last_used).count();
    } else {
        s.state = e.pending_load ? "queued" : "unloaded";
    }
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
        out.push_back({s.name, s.state, s.in_flight, s.queued, s.state == "unloaded" || s.state == "queued" ? 0 : s.memory});
    }
    return out;
}

}  // namespace corral::scheduler
