// The container runner plugin: llama-server in podman or docker containers, driven through the
// engine's CLI (engine_cli.hpp) and its JSON answers.
//
// A start checks the engine, the image and the model file, runs the container detached with labels
// naming corral and the instance, and reports ready when the server has logged its "listening" line
// and answered GET /health through the published port. Two engine commands follow each container:
// `logs --follow` (its output, as log events) and `wait` (its exit status, as soon as the engine
// knows: no polling). Stop is `stop --time <grace>`, then the container is removed. The labels let
// a restarted host list and adopt its containers, and clean the stray ones a crash left.
#include "child_process.hpp"
#include "clock.hpp"
#include "command_line.hpp"
#include "container_options.hpp"
#include "engine_cli.hpp"
#include "http_health.hpp"
#include "instance_table.hpp"
#include "io_thread.hpp"
#include "llama_output.hpp"
#include "log_ring.hpp"
#include "once_per_key.hpp"
#include "port_allocator.hpp"
#include "port_retry.hpp"
#include "run_command.hpp"
#include "server_features.hpp"
#include "start_signal.hpp"

#include <corral/sdk/sdk.hpp>

#include <boost/asio.hpp>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>

namespace corral::container {
namespace {

namespace asio = boost::asio;
using plugin_common::ChildProcess;
using plugin_common::CommandOutput;
using plugin_common::ExitStatus;
using plugin_common::LogRing;
using plugin_common::StartOutcome;
using plugin_common::StartSignal;
using sdk::Error;
using sdk::ProcessError;
using namespace std::chrono_literals;

constexpr auto kEngineTimeout = 120s;  // a run may unpack an image

bool contains(const std::string& text, const char* needle) {
    return text.find(needle) != std::string::npos;
}

// Whether this machine can hand NVIDIA GPUs to the engine: a CDI spec for podman, the driver's
// control device for docker (whose --gpus needs the NVIDIA container toolkit).
bool gpus_available(Engine engine) {
    std::error_code ec;
    if (engine == Engine::Docker) return std::filesystem::exists("/dev/nvidiactl", ec);
    for (const char* spec : {"/etc/cdi/nvidia.yaml", "/etc/cdi/nvidia.json", "/var/run/cdi/nvidia.yaml", "/var/run/cdi/nvidia.json"})
        if (std::filesystem::exists(spec, ec)) return true;
    return false;
}

struct Instance {
    sdk::ProcessHandle handle;
    std::string name;  // the container's
    std::optional<uint16_t> reserved_port;
    std::shared_ptr<LogRing> log;
    std::shared_ptr<StartSignal> start;  // while starting
    std::shared_ptr<ChildProcess> logs;  // I/O: `logs --follow`
    std::shared_ptr<ChildProcess> wait;  // I/O: `wait`
    std::optional<int> wait_code;        // I/O: what `wait` printed

    std::atomic<bool> exited{false};
    std::promise<void> gone_promise;
    std::shared_future<void> gone = gone_promise.get_future().share();
};

class ContainerRunner final : public sdk::ProcessRunner {
public:
    ContainerRunner(sdk::Host host, const boost::json::object& options) : host_(host), options_(parse_runner_options(options, "options")) {
        std::vector<std::pair<std::string, std::string>> extra(options_.engine_env.begin(), options_.engine_env.end());
        env_ = plugin_common::environment_with(extra);
    }

    ~ContainerRunner() override {
        for (auto& inst : instances_.running()) {
            try {
                stop_instance(inst, 5s);
            } catch (const std::exception& e) {
                host_.warn("could not stop container ", inst->name, ": ", e.what());
            }
        }
        std::promise<void> detached;
        asio::post(io_.context(), [this, &detached] {
            for (auto& inst : instances_.all()) {
                if (inst->logs) inst->logs->kill_now();
                if (inst->wait) inst->wait->kill_now();
            }
            detached.set_value();
        });
        detached.get_future().wait();
    }

    sdk::ProcessHandle start(const sdk::ServerConfig& config) override {
        auto options = parse_model_options(options_, config.runner_options, "runner_options");
        if (options.image.empty())
            throw Error(ProcessError::Configuration, "no image: set \"image\" on the runner or in the model's runner_options");
        if (config.model_path.empty()) throw Error(ProcessError::Configuration, "no model path given");
        std::error_code ec;
        if (!std::filesystem::is_regular_file(config.model_path, ec) || ::access(config.model_path.c_str(), R_OK) != 0)
            throw Error(ProcessError::Configuration, "model file not found or not readable: " + config.model_path);
        if (config.model_path.find(',') != std::string::npos)
            throw Error(ProcessError::Configuration, "a model path with ',' cannot be mounted into a container: " + config.model_path);
        auto engine = engine_binary(options);
        ensure_image(options, engine);
        if (instances_.contains(config.instance_id))
            throw Error(ProcessError::StartFailed, "instance id " + config.instance_id + " is already running");
        auto features = features_of(options, engine);
        return plugin_common::start_with_port_retries(config.port.has_value(), host_,
                                                      [&] { return start_once(config, options, engine, features); });
    }

    void stop(const sdk::ProcessHandle& handle, std::chrono::milliseconds grace) override {
        auto inst = instances_.find(handle.instance_id);
        if (!inst) {
            adopt(handle);  // left by a previous host: take it over to stop it (NotRunning when gone)
            inst = instances_.find(handle.instance_id);
        }
        if (!inst || inst->exited) {
            instances_.take(handle.instance_id);
            throw Error(ProcessError::NotRunning, "container for " + handle.instance_id + " is not running");
        }
        stop_instance(inst, grace);
        instances_.take(handle.instance_id);
    }

    bool is_running(const sdk::ProcessHandle& handle) override {
        if (auto inst = instances_.find(handle.instance_id)) return !inst->exited;
        auto state = inspect_one(name_of(handle));
        return state && state->running;
    }

    sdk::ServerHealth health(const sdk::ProcessHandle& handle) override {
        return plugin_common::check_health_blocking(io_.context(), handle.endpoint, 5s);
    }

    // The containers this runner supervises, and the running ones its labels mark as corral's (left
    // by a host that died: the host adopts them). Stopped corral containers are removed on the way.
    std::vector<sdk::ProcessHandle> list_running() override {
        std::set<std::string> known;
        auto out = instances_.running_handles(known);
        auto engine = plugin_common::find_executable(options_.command());
        if (!engine) return out;
        auto ids = engine_run(*engine, engine_args(options_, {"ps", "--all", "--quiet", "--no-trunc", "--filter",
                                                              std::string("label=") + kLabelPrefix + "=" + options_.name_prefix}));
        if (!ids.ok()) {
            host_.warn("cannot list containers: ", ids.error_text());
            return out;
        }
        if (ids.out.empty()) return out;
        std::vector<std::string> inspect = {"inspect"};
        for (const auto& id : ids.out)
            if (!id.empty()) inspect.push_back(id);
        auto r = engine_run(*engine, engine_args(options_, inspect));
        std::vector<ContainerState> states;
        try {
            states = parse_inspect(r.stdout_text());
        } catch (const std::exception& e) {
            host_.warn("cannot read the engine's inspect output: ", e.what());
            return out;
        }
        for (const auto& state : states) {
            auto handle = handle_from_labels(state);
            if (!handle || known.count(handle->instance_id)) continue;
            if (state.running) {
                out.push_back(std::move(*handle));
            } else {
                host_.info("removing stopped container ", state.name, " left by an earlier host");
                engine_run(*engine, engine_args(options_, {"rm", "--force", state.id}));
            }
        }
        return out;
    }

    sdk::ProcessHandle adopt(const sdk::ProcessHandle& record) override {
        if (auto inst = instances_.find(record.instance_id); inst && !inst->exited) return inst->handle;
        const auto name = name_of(record);
        auto state = inspect_one(name);
        if (!state || !state->running) {
            if (state) engine_run(engine_binary(options_), engine_args(options_, {"rm", "--force", name}));
            throw Error(ProcessError::NotRunning, "container " + name + " is no longer running" + (state ? ": removed" : ""));
        }
        auto handle = handle_from_labels(*state);
        if (!handle) throw Error(ProcessError::NotRunning, "container " + name + " carries no corral labels");
        auto inst = std::make_shared<Instance>();
        inst->handle = *handle;
        inst->name = state->name;
        inst->log = std::make_shared<LogRing>(options_.log_lines);
        instances_.take(inst->handle.instance_id);  // an exited one of the same id
        instances_.insert(inst->handle.instance_id, inst);
        follow(inst, engine_binary(options_), true);
        host_.info("adopted container ", name, " for ", inst->handle.model_name, " at ", inst->handle.endpoint);
        return inst->handle;
    }

private:
    std::filesystem::path engine_binary(const ContainerOptions& options) {
        if (auto found = plugin_common::find_executable(options.command())) return *found;
        throw Error(ProcessError::Configuration, "container engine command \"" + options.command() + "\" not found: install " +
                                                     options.engine_name() + " or set \"engine_command\" to its path");
    }

    CommandOutput engine_run(const std::filesystem::path& engine, const std::vector<std::string>& args,
                             std::chrono::milliseconds timeout = kEngineTimeout) {
        return plugin_common::run_command(io_.context(), engine, args, env_, timeout);
    }
    // `run`, with the model's environment added to the engine CLI's (see RunRequest::server_env_names).
    CommandOutput engine_run_with(const std::filesystem::path& engine, const std::vector<std::string>& args,
                                  const ContainerOptions& options, const std::map<std::string, std::string>& server_env) {
        if (server_env.empty()) return engine_run(engine, args);
        std::vector<std::pair<std::string, std::string>> extra(options.engine_env.begin(), options.engine_env.end());
        extra.insert(extra.end(), server_env.begin(), server_env.end());
        return plugin_common::run_command(io_.context(), engine, args, plugin_common::environment_with(extra), kEngineTimeout);
    }

    // With pull "never", an image that is not here is a configuration error that says how to get it.
    void ensure_image(const ContainerOptions& options, const std::filesystem::path& engine) {
        if (options.pull != "never") return;
        {
            std::lock_guard lock(mutex_);
            if (images_.count(options.image)) return;
        }
        auto r = engine_run(engine, engine_args(options, {"image", "inspect", options.image}));
        if (!r.ok()) {
            if (r.code && !contains(r.error_text(), "Cannot connect") && !contains(r.error_text(), "cannot connect")) {
                throw Error(ProcessError::Configuration, "image " + options.image + " is not available to " + options.engine_name() +
                                                             " (pull policy \"never\"): run `" + options.command() + " pull " +
                                                             options.image + "`, or set \"pull\": \"missing\"");
            }
            throw Error(ProcessError::StartFailed, options.engine_name() + " does not answer: " + r.error_text());
        }
        std::lock_guard lock(mutex_);
        images_.insert(options.image);
    }

    // What the image's llama-server supports, from its --help in a throwaway container, once per image.
    llama::ServerFeatures features_of(const ContainerOptions& options, const std::filesystem::path& engine) {
        return features_.get(options.image + "\n" + options.binary, [&] {
            auto r = engine_run(engine, engine_args(options, {"run", "--rm", "--pull", options.pull, "--network", "none", "--entrypoint",
                                                              options.binary, options.image, "--help"}));
            if (!r.ok())
                host_.debug("`", options.binary, " --help` in ", options.image, " failed (", r.error_text(),
                            "); assuming no optional features");
            return llama::parse_help(r.all_text());
        });
    }

    sdk::ProcessHandle start_once(const sdk::ServerConfig& config, const ContainerOptions& options, const std::filesystem::path& engine,
                                  const llama::ServerFeatures& features) {
        const std::string id = config.instance_id;
        auto inst = std::make_shared<Instance>();
        inst->name = container_name(options.name_prefix, id);
        inst->log = std::make_shared<LogRing>(options.log_lines);
        inst->start = std::make_shared<StartSignal>();
        auto outcome = inst->start->future();
        uint16_t port = config.port ? *config.port : ports_.allocate("127.0.0.1");
        if (!config.port) inst->reserved_port = port;
        auto release = [&] {
            if (inst->reserved_port) ports_.release(*inst->reserved_port);
        };

        auto& handle = inst->handle;
        handle.instance_id = id;
        handle.model_name = config.model_name;
        handle.runner = "container";
        handle.endpoint = plugin_common::format_http_endpoint("127.0.0.1", port);
        handle.started_at_ms = plugin_common::unix_time_ms();

        const bool host_network = options.network == Network::Host;
        auto server = config;
        server.model_path = model_path_inside(options, config.model_path);
        // The host's cache directory, mounted at the same path (a ',' would split --mount's value).
        if (server.slot_save_path && server.slot_save_path->find(',') != std::string::npos) server.slot_save_path.reset();
        server.host = host_network ? "127.0.0.1" : "0.0.0.0";
        llama::ArgumentOptions argument_options{features, options.log_verbosity, options.extra_args};
        RunRequest run{inst->name,
                       id,
                       config.model_name,
                       config.model_path,
                       handle.endpoint,
                       port,
                       handle.started_at_ms,
                       llama::server_arguments(server, host_network ? port : kContainerPort, argument_options),
                       options.gpus == Gpus::All || (options.gpus == Gpus::Auto && gpus_available(options.engine)),
                       {},
                       server.slot_save_path && features.slot_save_path ? *server.slot_save_path : std::string()};
        for (const auto& [k, v] : config.env) run.server_env_names.push_back(k);
        host_.debug("starting ", inst->name, " from ", options.image, " for ", config.model_name, " on port ", port);
        auto r = engine_run_with(engine, run_args(options, run), options, config.env);
        if (!r.ok() && contains(r.error_text(), "already in use")) {
            // A container of that name from an earlier host: gone if stopped (list_running cleans those too).
            auto old = inspect_one(inst->name);
            if (old && !old->running) {
                engine_run(engine, engine_args(options, {"rm", "--force", inst->name}));
                r = engine_run_with(engine, run_args(options, run), options, config.env);
            }
        }
        if (!r.ok() || r.out.empty()) {
            release();
            engine_run(engine, engine_args(options, {"rm", "--force", inst->name}));  // a container created but not started
            auto text = r.error_text();
            if (contains(text, "address already in use") || contains(text, "port is already allocated"))
                throw plugin_common::PortTaken("port " + std::to_string(port) + " is in use");
            throw Error(ProcessError::StartFailed, "cannot start a container for " + config.model_name + ": " + text);
        }
        handle.runner_data = boost::json::object{{"container", inst->name}, {"id", r.out.back()}, {"image", options.image}};
        if (auto state = inspect_one(inst->name); state && state->pid) handle.pid = state->pid;
        if (!instances_.insert(id, inst)) {
            engine_run(engine, engine_args(options, {"rm", "--force", inst->name}));
            release();
            throw Error(ProcessError::StartFailed, "instance id " + id + " is already running");
        }
        follow(inst, engine, false);
        // The image's own environment is not known here: only the model's is.
        if (!llama::announces_listening(run.server_args, config.env))
            plugin_common::check_ready(io_.context(), inst->handle.endpoint, inst->start,
                                       plugin_common::owner_proof(llama::server_key(run.server_args, config.env), host_, id));

        auto waited = outcome.wait_for(options.startup_timeout);
        auto result = waited == std::future_status::ready ? outcome.get() : StartOutcome{StartOutcome::Kind::TimedOut, {}};
        if (result.kind == StartOutcome::Kind::Ready) {
            host_.info("container ", inst->name, " for ", config.model_name, " ready at ", handle.endpoint);
            host_.emit_ready(handle);
            return handle;
        }
        if (result.kind == StartOutcome::Kind::TimedOut) {
            try {
                stop_instance(inst, 2s);
            } catch (const std::exception&) {
            }
            instances_.take(id);
            throw Error(ProcessError::StartFailed, "llama-server in " + inst->name + " was not ready after " +
                                                       std::to_string(options.startup_timeout.count()) + " ms. Last lines:\n" +
                                                       inst->log->tail(20));
        }
        inst->gone.wait_for(10s);  // the rest of its output
        instances_.take(id);
        if (inst->log->contains(plugin_common::kPortTakenLine))
            throw plugin_common::PortTaken("port " + std::to_string(port) + " is in use");
        throw Error(ProcessError::StartFailed, "llama-server in " + inst->name + " " + result.exit.describe() +
                                                   " while starting. Last lines:\n" + inst->log->tail(20));
    }

    // Follows a container: its output (from now on when adopting) and its exit. On the I/O thread, so
    // an exit reported at once finds both followers in place.
    void follow(const std::shared_ptr<Instance>& inst, const std::filesystem::path& engine, bool adopted) {
        asio::post(io_.context(), [this, inst, engine, adopted] { start_followers(inst, engine, adopted); });
    }

    void start_followers(const std::shared_ptr<Instance>& inst, const std::filesystem::path& engine, bool adopted) {
        std::vector<std::string> logs = {"logs", "--follow"};
        if (adopted) logs.insert(logs.end(), {"--tail", "0"});
        logs.push_back(inst->name);
        try {
            inst->logs = ChildProcess::spawn(
                io_.context(), engine, engine_args(options_, logs), env_,
                [this, inst](const char* stream, const std::string& line) { deliver(inst, stream, line); }, nullptr);
            inst->wait = ChildProcess::spawn(
                io_.context(), engine, engine_args(options_, {"wait", inst->name}), env_,
                [inst](const char* stream, const std::string& line) {
                    if (std::string_view(stream) != "stdout") return;
                    try {
                        inst->wait_code = std::stoi(line);
                    } catch (const std::exception&) {
                    }
                },
                [this, inst](const ExitStatus&) { finalize(inst); });
        } catch (const std::exception& e) {
            host_.warn("cannot follow container ", inst->name, ": ", e.what());
        }
    }

    // ---- I/O thread ------------------------------------------------------------------------------

    void deliver(const std::shared_ptr<Instance>& inst, const char* stream, const std::string& line) {
        if (plugin_common::pass_on_server_line(host_, inst->handle.instance_id, stream, line, *inst->log, inst->start.get()) &&
            plugin_common::begins_ready_checks(inst->start.get(), line))
            plugin_common::check_ready(io_.context(), inst->handle.endpoint, inst->start);
        plugin_common::settle_once_started(inst->logs.get(), inst->start.get());
    }

    void finalize(const std::shared_ptr<Instance>& inst) {
        if (inst->exited) return;  // I/O thread only: no race with itself
        auto status = inst->wait_code ? plugin_common::exit_status_from_code(*inst->wait_code) : ExitStatus{};
        inst->exited = true;
        if (inst->start) inst->start->settle({StartOutcome::Kind::Exited, status});
        host_.emit_exited(inst->handle.instance_id, status.code, status.signal,
                          "llama-server in container " + inst->name + " " +
                              (inst->wait_code ? status.describe() : "ended (the engine reported no exit status)"));
        if (inst->reserved_port) ports_.release(*inst->reserved_port);
        // The followers' callbacks hold the instance: let them go (each lives on until its output is read).
        inst->logs.reset();
        inst->wait.reset();
        // Gone once removed (docker's `logs` ends with the container; podman's may need the removal).
        try {
            ChildProcess::spawn(io_.context(), options_.command(), engine_args(options_, {"rm", "--force", inst->name}), env_, nullptr,
                                [inst](const ExitStatus&) { inst->gone_promise.set_value(); });
        } catch (const std::exception&) {
            inst->gone_promise.set_value();
        }
    }

    void stop_instance(const std::shared_ptr<Instance>& inst, std::chrono::milliseconds grace) {
        auto seconds = (grace.count() + 999) / 1000;
        auto engine = engine_binary(options_);
        auto r = engine_run(engine, engine_args(options_, {"stop", "--time", std::to_string(seconds), inst->name}), grace + kEngineTimeout);
        if (!r.ok()) {
            auto text = r.error_text();
            if (contains(text, "no such container") || contains(text, "No such container")) {
                inst->gone.wait_for(10s);
                throw Error(ProcessError::NotRunning, "container " + inst->name + " is not running");
            }
            throw Error(ProcessError::StopFailed, "cannot stop container " + inst->name + ": " + text);
        }
        if (inst->gone.wait_for(30s) != std::future_status::ready)
            throw Error(ProcessError::StopFailed, "container " + inst->name + " stopped but its end was not reported");
    }

    std::optional<ContainerState> inspect_one(const std::string& name) {
        auto engine = plugin_common::find_executable(options_.command());
        if (!engine) return std::nullopt;
        auto r = engine_run(*engine, engine_args(options_, {"container", "inspect", name}));
        if (!r.ok()) return std::nullopt;
        try {
            auto states = parse_inspect(r.stdout_text());
            if (!states.empty()) return states.front();
        } catch (const std::exception&) {
        }
        return std::nullopt;
    }

    std::string name_of(const sdk::ProcessHandle& handle) const {
        if (handle.runner_data.is_object()) {
            if (const auto* c = handle.runner_data.as_object().if_contains("container"); c && c->is_string())
                return std::string(c->as_string());
        }
        return container_name(options_.name_prefix, handle.instance_id);
    }

    sdk::Host host_;
    ContainerOptions options_;
    std::vector<std::string> env_;  // the engine CLI's environment
    plugin_common::PortAllocator ports_;
    std::mutex mutex_;
    std::set<std::string> images_;  // images known to be present
    plugin_common::OncePerKey<std::string, llama::ServerFeatures> features_;
    plugin_common::InstanceTable<Instance> instances_;
    plugin_common::IoThread io_;  // last: its thread is joined before the members it uses go
};

}  // namespace
}  // namespace corral::container

CORRAL_RUNNER_PLUGIN(corral::container::ContainerRunner, "container", CORRAL_SDK_VERSION, "llama-server in podman or docker containers",
                     corral::container::kContainerOptionsSchema,
                     CORRAL_CAP_ADOPT | CORRAL_CAP_EXIT_EVENTS | CORRAL_CAP_LOG_EVENTS | CORRAL_CAP_SLOT_CACHE);
