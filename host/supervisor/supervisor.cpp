#include "supervisor/supervisor.hpp"

#include "supervisor/server_key.hpp"

#include "logging/logging.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>

#include <unistd.h>

#include <algorithm>

namespace corral::supervisor {
namespace {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> log() {
    return logging::get("supervisor");
}

double seconds_since(clock::time_point t) {
    return std::chrono::duration<double>(clock::now() - t).count();
}

}  // namespace

Supervisor::Supervisor(asio::io_context& io, asio::thread_pool& workers, const config::SupervisorConfig& config, admin::EventBus& events,
                       admin::Metrics& metrics)
    : io_(io), workers_(workers), config_(config), events_(events), metrics_(metrics), health_timer_(io) {}

template <class Work, class Done>
void Supervisor::offload(Work work, Done done) {
    asio::post(workers_, [this, work = std::move(work), done = std::move(done)]() mutable {
        std::string error;
        try {
            work();
        } catch (const std::exception& e) {
            error = e.what();
            if (error.empty()) error = "unknown error";
        } catch (...) {
            error = "unknown error";
        }
        asio::post(io_, [done = std::move(done), error = std::move(error)]() mutable { done(std::move(error)); });
    });
}

std::string Supervisor::next_instance_id(const std::string& model, const std::string& fingerprint) {
    std::string safe;
    for (char c : model.substr(0, 48)) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
    return safe + "." + fingerprint.substr(0, 12) + "." + std::to_string(::getpid()) + "-" + std::to_string(++id_counter_);
}

std::string Supervisor::fingerprint_of_instance_id(const std::string& instance_id) {
    auto last = instance_id.rfind('.');
    if (last == std::string::npos || last == 0) return "";
    auto before = instance_id.rfind('.', last - 1);
    if (before == std::string::npos) return "";
    return instance_id.substr(before + 1, last - before - 1);
}

std::shared_ptr<Instance> Supervisor::make_instance(const config::ModelConfig& model, std::shared_ptr<RunnerSlot> runner,
                                                    std::string fingerprint) {
    auto instance = std::make_shared<Instance>(io_.get_executor(), config_);
    instance->model = model.name;
    instance->fingerprint = std::move(fingerprint);
    instance->runner = std::move(runner);
    instance->server = model.server;
    return instance;
}

std::shared_ptr<Instance> Supervisor::launch(const config::ModelConfig& model, std::shared_ptr<RunnerSlot> runner,
                                             std::string fingerprint) {
    auto instance = make_instance(model, std::move(runner), std::move(fingerprint));
    live_.push_back(instance);
    begin_launch(instance);
    return instance;
}

void Supervisor::assign_key(Instance& instance) {
    // A restart gets a new instance id, so a new derived key: the previous one in the environment
    // is corral's own, not a key the user configured (an adopting host derives the key from the id).
    if (instance.derived_key) {
        instance.server.env.erase("LLAMA_API_KEY");
        instance.derived_key = false;
    }
    if (auto configured = configured_server_key(instance.server)) {
        instance.upstream_key = *configured;
    } else if (key_source_) {
        instance.upstream_key = key_source_(instance.server.instance_id);
        instance.server.env["LLAMA_API_KEY"] = instance.upstream_key;
        instance.derived_key = true;
    }
}

void Supervisor::begin_launch(const std::shared_ptr<Instance>& instance) {
    if (!instance->server.instance_id.empty()) by_id_.erase(instance->server.instance_id);
    instance->server.instance_id = next_instance_id(instance->model, instance->fingerprint);
    assign_key(*instance);
    by_id_[instance->server.instance_id] = instance;
    instance->handle.reset();
    instance->ready_at.reset();
    instance->health_failures = 0;
    instance->memory_log = {};
    instance->launched_at = clock::now();
    const uint64_t generation = ++instance->generation;
    set_state(instance, InstanceState::Starting,
              instance->relaunching ? "restart " + std::to_string(instance->restart.attempts()) + " after: " + instance->message : "");
    auto result = std::make_shared<sdk::ProcessHandle>();
    auto slot = instance->runner;
    auto server = instance->server;
    offload([slot, server, result] { *result = slot->runner->start(server); },
            [this, instance, generation, result](std::string error) { on_started(instance, generation, *result, std::move(error)); });
}

std::shared_ptr<Instance> Supervisor::adopt(const config::ModelConfig& model, std::shared_ptr<RunnerSlot> runner, std::string fingerprint,
                                            sdk::ProcessHandle handle) {
    auto instance = make_instance(model, std::move(runner), std::move(fingerprint));
    instance->server.instance_id = handle.instance_id;
    assign_key(*instance);
    instance->adopted = true;
    by_id_[handle.instance_id] = instance;
    live_.push_back(instance);
    const uint64_t generation = ++instance->generation;
    set_state(instance, InstanceState::Starting, "adopting a server left by a previous host");
    auto result = std::make_shared<sdk::ProcessHandle>(std::move(handle));
    auto slot = instance->runner;
    offload([slot, result] { *result = slot->runner->adopt(*result); },
            [this, instance, generation, result](std::string error) { on_started(instance, generation, *result, std::move(error)); });
    return instance;
}

void Supervisor::on_started(const std::shared_ptr<Instance>& instance, uint64_t generation, sdk::ProcessHandle& handle, std::string error) {
    if (generation != instance->generation) return;
    if (error.empty()) {
        instance->handle = std::move(handle);
        instance->endpoint = instance->handle->endpoint;
        instance->ready_at = clock::now();
        metrics_.load(instance->model, seconds_since(instance->launched_at), true);
        if (after_start_ && !instance->adopted && !instance->stop_requested) {
            instance->after_start = true;
            asio::co_spawn(io_, after_start_(instance), [this, instance, generation](std::exception_ptr) {
                if (generation != instance->generation) return;  // it died meanwhile (on_died took over)
                instance->after_start = false;
                become_ready(instance);
            });
            return;
        }
        become_ready(instance);
        return;
    }
    metrics_.load(instance->model, 0, false);
    if (instance->stop_requested) {
        by_id_.erase(instance->server.instance_id);
        set_state(instance, InstanceState::Stopped, "start failed while a stop was pending: " + error);
    } else if (instance->relaunching) {
        on_died(instance, "restart failed: " + error);
    } else {
        by_id_.erase(instance->server.instance_id);
        set_state(instance, InstanceState::Failed, std::move(error));
    }
}

void Supervisor::become_ready(const std::shared_ptr<Instance>& instance) {
    if (instance->stop_requested) {
        instance->state = InstanceState::Ready;  // it runs now, so stop() can stop it
        stop(instance, "stop requested while it was starting");
        return;
    }
    instance->relaunching = false;
    set_state(instance, InstanceState::Ready, instance->adopted ? "adopted " + instance->handle->endpoint : instance->handle->endpoint);
}

void Supervisor::stop(std::shared_ptr<Instance> instance, const std::string& reason) {
    switch (instance->state) {
        case InstanceState::Stopping:
        case InstanceState::Stopped:
        case InstanceState::Failed:
            return;
        case InstanceState::Starting:
            instance->stop_requested = true;  // the runner's start() cannot be interrupted; stop when it returns
            return;
        case InstanceState::Restarting:
            instance->restart_timer.cancel();
            ++instance->generation;
            by_id_.erase(instance->server.instance_id);
            set_state(instance, InstanceState::Stopped, reason);
            return;
        case InstanceState::Ready:
        case InstanceState::Unhealthy:
            break;
    }
    const bool was_ready = instance->state == InstanceState::Ready;
    const uint64_t generation = ++instance->generation;
    set_state(instance, InstanceState::Stopping, reason);
    auto stop_now = [this, instance, reason] {
        stop_server(instance, [this, instance, reason](std::string error) {
            by_id_.erase(instance->server.instance_id);
            instance->handle.reset();
            if (!error.empty()) log()->error("stopping {} failed: {}", instance->server.instance_id, error);
            set_state(instance, InstanceState::Stopped, error.empty() ? reason : reason + " (stop failed: " + error + ")");
        });
    };
    if (before_stop_ && was_ready) {
        asio::co_spawn(io_, before_stop_(instance), [instance, generation, stop_now](std::exception_ptr) {
            if (generation == instance->generation) stop_now();
        });
        return;
    }
    stop_now();
}

asio::awaitable<bool> Supervisor::verify_running(std::shared_ptr<Instance> instance) {
    if (!instance->serving() || !instance->handle) co_return false;
    struct Check {
        explicit Check(const asio::any_io_executor& ex) : done(ex) {}
        serve::AsyncSignal done;
        sdk::ServerHealth health;
    };
    auto check = std::make_shared<Check>(io_.get_executor());
    auto slot = instance->runner;
    auto handle = *instance->handle;
    const uint64_t generation = instance->generation;
    // Health, not is_running(): the runner may not have processed the exit yet, and a server that
    // refuses connections is of no use even if its process lingers.
    offload([slot, handle, check] { check->health = slot->runner->health(handle); }, [check](std::string) { check->done.notify(); });
    co_await check->done.wait();
    if (check->health.state == sdk::HealthState::Ok) co_return true;
    if (generation == instance->generation && instance->serving()) {
        restart_after_stop(instance, "the server does not accept connections (" + std::string(sdk::to_string(check->health.state)) + ")");
    }
    co_return false;
}

void Supervisor::on_log_line(std::string_view instance_id, std::string_view stream, std::string_view line) {
    auto it = by_id_.find(instance_id);
    if (it == by_id_.end()) return;
    // Not a copy of the pointer, but for a state change (its listeners may touch by_id_): thousands
    // of lines a second each paid its two atomic updates.
    Instance& instance = *it->second;
    if (instance.state == InstanceState::Starting) {
        // The buffer sizes are logged while the model loads; later lines are requests.
        instance.memory_log.add_line(line);
        // The runner's word on a start under way (a queue's reason) is its message too.
        if (stream == "status") {
            const auto kept = it->second;
            set_state(kept, InstanceState::Starting, std::string(line));
            kept->logs.append(stream, line);
            return;
        }
    }
    instance.logs.append(stream, line);
}

void Supervisor::on_runner_event(const plugins::RunnerEvent& event) {
    if (event.kind == plugins::RunnerEvent::Kind::LogLine) {
        std::string_view stream, line;
        if (plugins::log_line_of(event, stream, line)) on_log_line(event.instance_id, stream, line);  // it finds the instance
        return;
    }
    auto it = by_id_.find(event.instance_id);
    if (it == by_id_.end()) return;
    auto instance = it->second;
    switch (event.kind) {
        case plugins::RunnerEvent::Kind::LogLine:
            break;  // above
        case plugins::RunnerEvent::Kind::Exited: {
            // A stop or restart we asked for, or a start that will report itself; but a server that
            // dies while the after_start hook talks to it has died.
            if (!instance->serving() && !instance->after_start) break;
            const auto* o = event.payload.if_object();
            const auto* message = o ? o->if_contains("message") : nullptr;
            on_died(instance, message && message->is_string() ? std::string(message->get_string()) : "the server exited");
            break;
        }
        case plugins::RunnerEvent::Kind::Ready:
            break;  // start() returning is what counts
    }
}

void Supervisor::on_died(const std::shared_ptr<Instance>& instance, const std::string& why) {
    instance->handle.reset();
    instance->after_start = false;
    ++instance->generation;
    auto delay = instance->restart.on_exit(instance->launched_at, clock::now());
    if (!delay || instance->stop_requested) {
        by_id_.erase(instance->server.instance_id);
        set_state(instance, InstanceState::Failed,
                  instance->stop_requested ? why : why + " (gave up after " + std::to_string(instance->restart.attempts()) + " restarts)");
        return;
    }
    log()->warn("{}: {}; restarting in {} ms", instance->model, why, delay->count());
    ++instance->restarts;
    metrics_.restart(instance->model);
    instance->relaunching = true;
    set_state(instance, InstanceState::Restarting, why);
    instance->restart_timer.expires_after(*delay);
    const uint64_t generation = instance->generation;
    instance->restart_timer.async_wait([this, instance, generation](boost::system::error_code ec) {
        if (ec || generation != instance->generation || instance->state != InstanceState::Restarting) return;
        begin_launch(instance);
    });
}

void Supervisor::restart_after_stop(std::shared_ptr<Instance> instance, const std::string& why) {
    ++instance->generation;
    set_state(instance, InstanceState::Restarting, why);
    stop_server(instance, [this, instance, why](std::string error) {
        if (!error.empty()) log()->error("stopping unhealthy {} failed: {}", instance->server.instance_id, error);
        instance->state = InstanceState::Ready;  // on_died expects a server that was serving
        on_died(instance, why);
    });
}

void Supervisor::stop_server(const std::shared_ptr<Instance>& instance, std::function<void(std::string error)> done) {
    const uint64_t generation = instance->generation;
    auto slot = instance->runner;
    auto handle = *instance->handle;
    auto grace = config_.stop_grace;
    offload(
        [slot, handle, grace] {
            try {
                slot->runner->stop(handle, grace);
            } catch (const sdk::Error& e) {
                if (e.code() != sdk::ProcessError::NotRunning) throw;  // already gone is stopped
            }
        },
        [instance, generation, done = std::move(done)](std::string error) {
            if (generation == instance->generation) done(std::move(error));  // else it moved on meanwhile
        });
}

void Supervisor::set_state(std::shared_ptr<Instance> instance, InstanceState state, std::string message) {
    const bool changed = instance->state != state || instance->message != message;
    instance->state = state;
    instance->message = std::move(message);
    instance->state_since = clock::now();
    if (instance->gone()) {
        instance->logs.wake_followers();
        live_.erase(std::remove(live_.begin(), live_.end(), instance), live_.end());
    }
    if (changed) {
        boost::json::object event{{"type", "state"},
                                  {"model", instance->model},
                                  {"instance", instance->server.instance_id},
                                  {"state", std::string(to_string(state))}};
        if (!instance->message.empty()) event["message"] = instance->message;
        if (instance->handle) event["endpoint"] = instance->handle->endpoint;
        auto level = state == InstanceState::Failed || state == InstanceState::Unhealthy || state == InstanceState::Restarting
                         ? spdlog::level::warn
                         : spdlog::level::info;
        log()->log(level, "{} [{}]: {}{}{}", instance->model, instance->server.instance_id, to_string(state),
                   instance->message.empty() ? "" : ": ", instance->message);
        events_.publish(std::move(event));
    }
    if (listener_) listener_(instance);
}

void Supervisor::start_health_monitor() {
    health_running_ = true;
    health_timer_.expires_after(config_.health_interval);
    health_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || !health_running_) return;
        health_tick();
        start_health_monitor();
    });
}

void Supervisor::stop_health_monitor() {
    health_running_ = false;
    health_timer_.cancel();
}

void Supervisor::health_tick() {
    for (const auto& instance : live_) {
        if (instance->serving() && !instance->health_pending) check_health(instance);
    }
}

void Supervisor::check_health(const std::shared_ptr<Instance>& instance) {
    instance->health_pending = true;
    const uint64_t generation = instance->generation;
    auto slot = instance->runner;
    auto handle = *instance->handle;
    auto health = std::make_shared<sdk::ServerHealth>();
    offload([slot, handle, health] { *health = slot->runner->health(handle); },
            [this, instance, generation, health](std::string error) {
                instance->health_pending = false;
                if (generation != instance->generation || !instance->serving()) return;
                if (error.empty() && health->state == sdk::HealthState::Ok) {
                    instance->health_failures = 0;
                    if (instance->state == InstanceState::Unhealthy) set_state(instance, InstanceState::Ready, "healthy again");
                    return;
                }
                std::string why = !error.empty() ? error
                                                 : "health check: " + std::string(sdk::to_string(health->state)) +
                                                       (health->message.empty() ? "" : " (" + health->message + ")");
                ++instance->health_failures;
                if (instance->health_failures >= config_.unhealthy_after) {
                    restart_after_stop(instance, why + " (" + std::to_string(instance->health_failures) + " checks in a row)");
                } else {
                    set_state(instance, InstanceState::Unhealthy, why);
                }
            });
}

std::size_t Supervisor::active() const {
    return live_.size();
}

std::shared_ptr<Instance> Supervisor::find(std::string_view instance_id) const {
    auto it = by_id_.find(instance_id);
    return it == by_id_.end() ? nullptr : it->second;
}

}  // namespace corral::supervisor
