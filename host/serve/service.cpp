#include "serve/service.hpp"

#include "proxy/tls_context.hpp"

#include "config/config_loader.hpp"
#include "config/units.hpp"
#include "console/console_routes.hpp"
#include "fit/layer_plan.hpp"
#include "http_health.hpp"
#include "logging/logging.hpp"
#include "plugins/probe_runs.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <csignal>
#include <map>
#include <set>
#include <thread>

namespace corral::serve {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> log() {
    return logging::get("serve");
}

std::filesystem::path state_dir_of(const config::Config& config) {
    return config.state_dir ? *config.state_dir : state::default_state_dir();
}

// Blocking runner calls (start waits for readiness) each hold a worker: enough for many models
// starting at once without one slow start holding up the others.
std::size_t worker_count() {
    return std::max<std::size_t>(16, std::thread::hardware_concurrency() * 2);
}

}  // namespace

Service::Service(config::Config config, plugins::PluginRegistry registry)
    : config_(std::move(config)),
      registry_(std::move(registry)),
      workers_(worker_count()),
      events_(io_.get_executor()),
      supervisor_(io_, workers_, config_.supervisor, events_, metrics_),
      runners_(
          registry_, state_dir_of(config_), [this](plugins::RunnerEvent&& e) { post_runner_event(std::move(e)); },
          [this](std::string_view id, std::string_view stream, std::string_view line) { post_log_line(id, stream, line); }),
      scheduler_(io_, supervisor_, runners_, metrics_, events_, memory_),
      auth_(config_),
      cors_(config_.cors_origins),
      proxy_routes_(scheduler_, supervisor_, pool_, metrics_),
      pulls_(io_.get_executor(), [this](uint64_t id, const pull::PullEvent& e) { on_pull_event(id, e); }),
      admin_routes_(scheduler_, supervisor_, events_, metrics_, pulls_,
                    {[this] { return reload(); }, [this] { return http_.connections(); }, [this] { return draining_; }}),
      http_(io_, [this](proxy::Exchange& ex) { return route(ex); }),
      signals_(io_),
      folder_watch_(io_, [this] { rescan_models_dirs(); }),
      drain_progress_(std::make_shared<AsyncSignal>(io_.get_executor())) {
    supervisor_.set_listener([this](const std::shared_ptr<supervisor::Instance>& instance) {
        // Connections to a server that is going away must not be reused (its port may be reused too).
        if (!instance->serving() && !instance->endpoint.empty()) {
            pool_.drop(instance->endpoint);
            if (connection_threads_) connection_threads_->drop(instance->endpoint);
        }
        if (!instance->serving()) proxy_routes_.forget_instance(instance->server.instance_id);
        scheduler_.on_instance_changed(instance);
    });
    scheduler_.set_change_notifier([this] { drain_progress_->notify(); });
}

Service::~Service() {
    runner_events_.close();
    workers_.join();
    // Every component still exists while the coroutines that refer to them are destroyed.
    if (connection_threads_) connection_threads_->destroy_pending();
}

void Service::on_pull_event(uint64_t id, const pull::PullEvent& e) {
    auto event = pull::to_json(e);
    event["type"] = "pull";
    event["id"] = id;
    if (e.kind == pull::PullEvent::Kind::Done) {
        log()->info("pull {}: {} saved as {} (sha256 {}{})", id, e.source, e.path, e.sha256, e.verified ? ", verified" : ", not verified");
    } else if (e.kind == pull::PullEvent::Kind::Error) {
        log()->warn("pull {}: {}: {}", id, e.source, e.error);
    } else if (e.kind == pull::PullEvent::Kind::Start) {
        log()->info("pull {}: {} into {}", id, e.source, e.path);
    }
    // Progress is frequent: delivered, but kept out of the history that late subscribers replay.
    events_.publish(std::move(event), e.kind != pull::PullEvent::Kind::Progress);
}

// A busy server writes thousands of lines a second (llama-server: about ten per request at its
// default verbosity). They queue here in order with the other events, and only the first into an
// empty queue posts: a burst wakes the main thread once, not once per line.
void Service::post_runner_event(plugins::RunnerEvent&& event) {
    if (runner_events_.push(std::move(event))) asio::post(io_, [this] { deliver_runner_events(); });
}

void Service::post_log_line(std::string_view instance_id, std::string_view stream, std::string_view line) {
    if (runner_events_.push_line(instance_id, stream, line)) asio::post(io_, [this] { deliver_runner_events(); });
}

void Service::deliver_runner_events() {
    runner_events_.deliver(
        [this](const plugins::RunnerEvent& event) { supervisor_.on_runner_event(event); },
        [this](std::string_view id, std::string_view stream, std::string_view line) { supervisor_.on_log_line(id, stream, line); });
}

scheduler::MachineMap Service::machine_map(const config::Config& config) const {
    const double headroom = config.scheduler.memory_headroom;
    auto local =
        scheduler::describe_machine(std::string(scheduler::kLocalMachine), local_reports_, headroom, config.scheduler.memory_budget);
    std::vector<scheduler::RunnerMachine> runners;
    for (const auto& [name, slot] : runners_.slots()) runners.push_back({name, slot->remote, slot->machines});
    return scheduler::MachineMap(std::move(local), runners, headroom);
}

void Service::run(const std::function<void(uint16_t port)>& on_listening) {
    const auto state_dir = state_dir_of(config_);
    lock_ = std::make_unique<state::InstanceLock>(state_dir);
    server_keys_ = std::make_unique<state::ServerKeys>(state_dir);
    supervisor_.set_key_source([keys = server_keys_.get()](const std::string& id) { return keys->key_for(id); });
    placement_records_ = std::make_unique<state::PlacementRecords>(state_dir);
    scheduler_.set_placement_records(placement_records_.get());
    slot_caches_ = std::make_unique<SlotCacheKeeper>(state_dir, workers_, runners_, metrics_, events_);
    supervisor_.set_hooks([caches = slot_caches_.get()](std::shared_ptr<supervisor::Instance> i) { return caches->save(std::move(i)); },
                          [caches = slot_caches_.get()](std::shared_ptr<supervisor::Instance> i) { return caches->restore(std::move(i)); });
    scheduler_.set_slot_caches(slot_caches_.get());
    log()->info("state directory {}", state_dir.string());

    // The local machine: its GPUs (each with its own budget) and RAM, as the probes see them.
    for (auto& run : plugins::run_probes_isolated(registry_, config_.probes)) {
        if (run.failed) log()->warn("probe {}: {}", run.plugin, run.report.reason);
        if (run.report.available) local_reports_.push_back(std::move(run.report));
    }
    for (const auto& d : fit::gpus_of(local_reports_)) {
        log()->info("GPU {}:{} [{}] {}: {} total, {} free", d.backend, d.index, d.name, d.uuid, config::format_size(d.memory_total),
                    d.memory_free ? config::format_size(*d.memory_free) : "?");
    }

    // Bind before touching any server: an address in use must not cost the servers a crashed host left.
    http_.set_body_limit(config_.max_request_body);
    http_.set_limits(config_.max_connections, config_.client_timeouts);
    http_.on_closed([this](const char* reason) { metrics_.connection_closed(reason); });
    if (config_.tls) http_.set_tls(proxy::make_tls_context(*config_.tls));
    http_.listen(config_.listen);
    runners_.apply(config_);
    scheduler_.apply_config(config_, machine_map(config_));
    for (const auto& m : scheduler_.machines().machines()) {
        uint64_t gpus = 0;
        for (const auto& d : m.devices) gpus += d.capacity;
        log()->info("machine {}: {} GPU(s) with {} for models, RAM {} for models{}{}", m.name, m.devices.size(), config::format_size(gpus),
                    m.ram_capacity ? config::format_size(*m.ram_capacity) : "unknown",
                    m.overall_cap ? ", at most " + config::format_size(*m.overall_cap) + " in all (scheduler.memory_budget)" : "",
                    m.managed_elsewhere ? " (capacity managed elsewhere)" : "");
    }
    adopt_leftovers();
    const auto io_threads = io_threads_for(config_.io_threads, std::thread::hardware_concurrency());
    connection_threads_ = std::make_unique<ConnectionThreads>(io_, pool_, io_threads);
    http_.set_lanes(connection_threads_->lanes());
    log()->debug("serving connections on {} I/O thread(s)", io_threads);
    http_.start();
    for (const auto& note : config_.models_dir_notes) log()->warn("models_dir: {}", note);
    for (const auto& problem : folder_watch_.watch(config_.models_dirs)) log()->warn("models_dir: {}", problem);
    supervisor_.start_health_monitor();
    watch_signals();
    for (const auto& name : config_.preload) {
        if (auto refusal = scheduler_.load(name)) log()->error("preload {}: {}", name, refusal->message);
    }
    port_ = http_.port();
    on_listening(port_);
    service_manager_.ready(serving_status());
    io_.run();
    connection_threads_->stop();

    // The drain ended (or io_ was stopped): no more runner calls, then the runners go (they stop
    // any server still running) before the objects their events would reach.
    runner_events_.close();
    workers_.join();
}

void Service::adopt_leftovers() {
    std::set<std::string> adopted;
    bool every_runner_listed = true;
    for (const auto& [name, slot] : runners_.slots()) {
        std::vector<sdk::ProcessHandle> running;
        try {
            running = slot->runner->list_running();
        } catch (const std::exception& e) {
            log()->warn("runner {}: cannot list running servers: {}", name, e.what());
            every_runner_listed = false;
            continue;
        }
        for (auto& handle : running) {
            if (supervisor_.find(handle.instance_id)) continue;
            const std::string id = handle.instance_id;
            if (slot->can_adopt && scheduler_.adopt(handle, name)) {
                log()->info("adopting {} ({}) left running by a previous host", id, handle.model_name);
                adopted.insert(id);
                continue;
            }
            log()->warn("stopping {} ({}) left running by a previous host: it no longer matches the configuration", id, handle.model_name);
            try {
                slot->runner->stop(handle, config_.supervisor.stop_grace);
            } catch (const std::exception& e) {
                log()->error("stopping leftover {} failed: {}", id, e.what());
            }
        }
    }
    // The records of servers that are gone (a runner that could not list keeps its own for later).
    if (every_runner_listed) placement_records_->prune(adopted);
}

asio::awaitable<void> Service::route(proxy::Exchange& ex) {
    using proxy::http::verb;
    const auto method = ex.request.method();
    const bool allowed_origin = cors_.apply(ex);
    if (method == verb::options) {
        // A CORS preflight (answered without a key: browsers send none) or a plain OPTIONS.
        co_await cors_.preflight(ex, allowed_origin);
        co_return;
    }
    auto route = proxy::route_for(method, std::string_view(ex.request.target().data(), ex.request.target().size()));
    if (route.kind == proxy::RouteKind::Console && !config_.console) route = proxy::Route{};
    if (route.kind == proxy::RouteKind::Index && config_.console && console::wants_html(ex.request)) {
        // A browser opening corral's address gets the console (the default model's own page
        // stays at /upstream/MODEL/); API clients keep reaching the default model at /.
        route.kind = proxy::RouteKind::Console;
        route.access = proxy::Access::Public;
    }
    auto decision = auth_.check(ex.request, route.access);
    if (!decision.allowed) {
        co_await ex.write_error(401, "Missing or invalid API key (send `Authorization: Bearer KEY` or `x-api-key: KEY`).",
                                "invalid_request_error", "invalid_api_key");
        co_return;
    }
    ex.key = std::move(decision.key);
    proxy::KeyPermit permit;
    if (ex.key) {
        if (auto limited = key_limiter_.admit(*ex.key, clock::now())) {
            const bool rate = std::string_view(limited->reason) == "requests_per_minute";
            metrics_.key_limited(ex.key->name, limited->reason);
            log()->debug("key {}: {} {} refused by its {}", ex.key->name, ex.request.method_string(), ex.path(), limited->reason);
            // Named: GCC 12 destroys temporaries in co_await expressions twice.
            const std::string message = rate ? "This API key sent more than its " + std::to_string(*ex.key->requests_per_minute) +
                                                   " requests per minute; retry after the Retry-After seconds."
                                             : "This API key already has " + std::to_string(*ex.key->max_concurrency) +
                                                   " requests in flight (its max_concurrency); retry when one ends.";
            const std::string code = rate ? "rate_limit_exceeded" : "concurrency_limit_exceeded";
            co_await ex.write_error(429, message, "rate_limit_error", code, limited->retry_after);
            metrics_.key_request(ex.key->name, 429);
            co_return;
        }
        permit = proxy::KeyPermit(&key_limiter_, ex.key->name);
    }
    if (route.kind == proxy::RouteKind::Model)
        co_await proxy_routes_.forward_to_model(ex, route);  // most requests: one coroutine frame fewer than dispatch
    else
        co_await dispatch(ex, route);
    if (ex.key) {
        metrics_.key_request(ex.key->name, ex.status);
        log()->debug("key {}: {} {} answered {}", ex.key->name, ex.request.method_string(), ex.path(), ex.status);
    }
}

asio::awaitable<void> Service::dispatch(proxy::Exchange& ex, const proxy::Route& route) {
    switch (route.kind) {
        case proxy::RouteKind::Health:
            co_await admin_routes_.health(ex);
            break;
        case proxy::RouteKind::Metrics:
            co_await admin_routes_.metrics(ex);
            break;
        case proxy::RouteKind::Admin:
            co_await admin_routes_.handle(ex);
            break;
        case proxy::RouteKind::ListModels:
            co_await proxy_routes_.list_models(ex);
            break;
        case proxy::RouteKind::ModelInfo:
            co_await proxy_routes_.describe_model(ex, route);
            break;
        case proxy::RouteKind::Index:
            co_await proxy_routes_.index(ex);
            break;
        case proxy::RouteKind::Model:
            co_await proxy_routes_.forward_to_model(ex, route);
            break;
        case proxy::RouteKind::Upstream:
            co_await proxy_routes_.forward_upstream(ex, route);
            break;
        case proxy::RouteKind::Console:
            if (ex.path() == "/")
                co_await console::redirect_to_console(ex);
            else
                co_await console::serve_console(ex);
            break;
        case proxy::RouteKind::NotFound:
            co_await ex.write_error(404, "No route " + std::string(ex.request.method_string()) + " " + std::string(ex.path()) + ".",
                                    "invalid_request_error", "not_found");
            break;
    }
}

std::string Service::serving_status() const {
    const auto n = config_.models.size();
    return "serving " + std::to_string(n) + " model" + (n == 1 ? "" : "s") + " on " +
           plugin_common::format_http_endpoint(config_.listen.host, port_, config_.tls.has_value());
}

admin::ReloadOutcome Service::reload() {
    if (draining_) {
        admin::ReloadOutcome outcome;
        outcome.errors.push_back({"", "corral is shutting down"});
        return outcome;
    }
    service_manager_.reloading("reloading " + config_.source.string());
    auto outcome = reload_config();
    if (outcome.applied)
        service_manager_.ready(serving_status());
    else
        service_manager_.ready("reload rejected (" + (outcome.errors.empty() ? std::string("?") : outcome.errors.front().second) + "); " +
                               serving_status());
    return outcome;
}

admin::ReloadOutcome Service::reload_config() {
    admin::ReloadOutcome outcome;
    if (config_.source.empty()) {
        outcome.errors.push_back({"", "the configuration did not come from a file"});
        return outcome;
    }
    auto loaded = config::load_config_file(config_.source);
    for (const auto& e : loaded.errors) outcome.errors.push_back({e.path, e.to_string()});
    if (!loaded.config) return outcome;
    auto next = std::move(*loaded.config);
    // The certificate and key are read again (renewed files in place), before anything changes.
    std::shared_ptr<boost::asio::ssl::context> tls;
    if (next.tls) {
        try {
            tls = proxy::make_tls_context(*next.tls);
        } catch (const std::exception& e) {
            outcome.errors.push_back({"tls", e.what()});
            return outcome;
        }
    }
    for (const auto& e : plugins::check_plugin_references(next, registry_)) outcome.errors.push_back({e.path, e.to_string()});
    if (!outcome.errors.empty()) return outcome;
    try {
        runners_.apply(next);
    } catch (const std::exception& e) {
        outcome.errors.push_back({"runners", e.what()});
        return outcome;
    }
    if (next.listen.host != config_.listen.host || next.listen.port != config_.listen.port) {
        outcome.notes.push_back("listen changed: restart corral to use it");
        next.listen = config_.listen;
    }
    if (next.plugin_dirs != config_.plugin_dirs) outcome.notes.push_back("plugin_dirs changed: restart corral to rescan plugins");
    if (next.io_threads != config_.io_threads) {
        outcome.notes.push_back("io_threads changed: restart corral to use it");
        next.io_threads = config_.io_threads;
    }
    if (next.state_dir != config_.state_dir) {
        outcome.notes.push_back("state_dir changed: restart corral to use it");
        next.state_dir = config_.state_dir;
    }
    if (next.api_keys != config_.api_keys || next.admin_api_key != config_.admin_api_key) auth_ = proxy::Auth(next);
    if (bool(next.tls) != bool(config_.tls))
        outcome.notes.push_back(next.tls ? "tls added: new connections use HTTPS" : "tls removed: new connections use plain HTTP");
    http_.set_tls(std::move(tls));
    cors_ = proxy::Cors(next.cors_origins);
    http_.set_body_limit(next.max_request_body);
    http_.set_limits(next.max_connections, next.client_timeouts);
    supervisor_.set_config(next.supervisor);
    for (const auto& note : next.models_dir_notes) outcome.notes.push_back("models_dir: " + note);
    const bool rewatch = next.models_dirs != config_.models_dirs;
    config_ = std::move(next);
    scheduler_.apply_config(config_, machine_map(config_));
    if (rewatch) {
        for (const auto& problem : folder_watch_.watch(config_.models_dirs)) outcome.notes.push_back("models_dir: " + problem);
    }
    outcome.applied = true;
    events_.publish({{"type", "reload"}, {"message", "configuration reloaded from " + config_.source.string()}});
    log()->info("configuration reloaded from {}", config_.source.string());
    return outcome;
}

void Service::rescan_models_dirs() {
    if (draining_) return;
    auto next = config_;
    std::erase_if(next.models, [](const config::ModelConfig& m) { return m.from_models_dir; });
    next.models_dir_notes.clear();
    config::add_models_from_dirs(next);
    // What changed: a model added or gone, or served from another file or with another projector.
    auto served = [](const config::Config& c) {
        std::map<std::string, std::pair<std::string, std::vector<std::string>>> out;
        for (const auto& m : c.models) {
            if (m.from_models_dir) out[m.name] = {m.server.model_path, m.server.extra_args};
        }
        return out;
    };
    const auto before = served(config_);
    const auto after = served(next);
    if (before == after && next.models_dir_notes == config_.models_dir_notes) return;
    boost::json::array added;
    boost::json::array removed;
    for (const auto& [name, how] : after) {
        auto it = before.find(name);
        if (it == before.end() || it->second != how) added.push_back(boost::json::value(name));
    }
    for (const auto& [name, how] : before) {
        if (!after.count(name)) removed.push_back(boost::json::value(name));
    }
    for (const auto& note : next.models_dir_notes) {
        if (std::find(config_.models_dir_notes.begin(), config_.models_dir_notes.end(), note) == config_.models_dir_notes.end())
            log()->warn("models_dir: {}", note);
    }
    config_ = std::move(next);
    scheduler_.apply_config(config_, machine_map(config_));
    const std::string message =
        "models_dir changed: " + std::to_string(added.size()) + " added or replaced, " + std::to_string(removed.size()) + " removed";
    log()->info("{} (added: {}; removed: {})", message, boost::json::serialize(added), boost::json::serialize(removed));
    boost::json::array notes;
    for (const auto& note : config_.models_dir_notes) notes.push_back(boost::json::value(note));
    events_.publish({{"type", "reload"}, {"message", message}, {"added", added}, {"removed", removed}, {"notes", notes}});
}

void Service::watch_signals() {
    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    signals_.add(SIGHUP);
    signals_.async_wait([this](boost::system::error_code ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP) {
            auto outcome = reload();
            for (const auto& [path, message] : outcome.errors) log()->error("reload rejected: {}", message);
            for (const auto& note : outcome.notes) log()->warn("reload: {}", note);
            watch_signals();
            return;
        }
        if (draining_) {
            log()->warn("second signal: stopping servers now");
            scheduler_.shutdown();
            return;
        }
        log()->info("{}: draining", signal == SIGINT ? "SIGINT" : "SIGTERM");
        asio::co_spawn(io_, drain(), asio::detached);
        watch_signals();
    });
}

asio::awaitable<void> Service::drain() {
    draining_ = true;
    service_manager_.stopping("draining: no new requests; stopping the model servers once those in flight end");
    events_.publish({{"type", "draining"}, {"message", "no new requests; waiting for those in flight"}});
    http_.stop_accepting();
    pulls_.stop_all();  // what they fetched stays for the next pull to resume
    scheduler_.begin_drain();
    const auto deadline = clock::now() + config_.shutdown_grace;
    for (;;) {
        drain_progress_->rearm();
        if (scheduler_.in_flight() == 0) break;
        if (!co_await drain_progress_->wait(deadline)) {
            log()->warn("{} requests still in flight after shutdown_grace: stopping their servers", scheduler_.in_flight());
            break;
        }
    }
    scheduler_.shutdown();
    supervisor_.stop_health_monitor();
    const auto stop_deadline = clock::now() + config_.supervisor.stop_grace + std::chrono::seconds(5);
    for (;;) {
        drain_progress_->rearm();
        if (scheduler_.all_stopped()) break;
        if (!co_await drain_progress_->wait(stop_deadline)) {
            log()->error("servers still stopping after stop_grace; exiting anyway");
            break;
        }
    }
    events_.publish({{"type", "stopped"}, {"message", "corral stopped"}});
    http_.close_all();
    signals_.cancel();
    io_.stop();
}

}  // namespace corral::serve
