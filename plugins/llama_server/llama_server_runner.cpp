// The llama_server runner plugin: runs llama.cpp's llama-server as local child processes.
//
// A start validates the binary and model first, gives the server a Unix socket in the runner's own
// directory where it can (server_socket.hpp) or else picks a port (retrying if another process takes
// it first), spawns the server in its own process group, and reports ready when the server has
// logged its "listening" line and answered GET /health with 200: no fixed sleeps. Output is kept per
// instance (ring buffer) and forwarded line by line as events; exits come from the OS and are pushed
// as events. Instance records let a restarted host adopt servers that outlived their host.
#include "child_process.hpp"
#include "clock.hpp"
#include "command_line.hpp"
#include "feature_cache.hpp"
#include "http_health.hpp"
#include "instance_records.hpp"
#include "io_thread.hpp"
#include "llama_options.hpp"
#include "llama_output.hpp"
#include "log_ring.hpp"
#include "port_allocator.hpp"
#include "port_retry.hpp"
#include "run_command.hpp"
#include "server_socket.hpp"
#include "start_signal.hpp"

#include <corral/sdk/sdk.hpp>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>

#include <unistd.h>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace corral::llama {
namespace {

namespace asio = boost::asio;
using plugin_common::StartOutcome;
using plugin_common::StartSignal;
using sdk::Error;
using sdk::ProcessError;

// The executable a name or path refers to, canonical. Configuration error when there is none.
std::filesystem::path resolve_binary(const std::string& binary) {
    if (auto found = plugin_common::find_executable(binary)) return *found;
    if (binary.find('/') != std::string::npos)
        throw Error(ProcessError::Configuration, "llama-server binary not found or not executable: " + binary);
    throw Error(ProcessError::Configuration, "llama-server binary \"" + binary + "\" not found in PATH (set \"binary\" to its path)");
}

// The server's environment: ours, then the runner's and the model's additions.
std::vector<std::string> server_environment(const std::map<std::string, std::string>& runner_env,
                                            const std::map<std::string, std::string>& model_env) {
    std::vector<std::pair<std::string, std::string>> extra(runner_env.begin(), runner_env.end());
    extra.insert(extra.end(), model_env.begin(), model_env.end());
    return plugin_common::environment_with(extra);
}

// The server's variable `name` (its log verbosity, its key), alone in a map: the model's, else the runner's, else
// corral's own (the server inherits it).
std::map<std::string, std::string> server_variable(const char* name, const std::map<std::string, std::string>& runner_env,
                                                   const std::map<std::string, std::string>& model_env) {
    std::map<std::string, std::string> env;
    if (auto it = model_env.find(name); it != model_env.end())
        env.insert(*it);
    else if (auto it = runner_env.find(name); it != runner_env.end())
        env.insert(*it);
    else if (const char* inherited = std::getenv(name))
        env.emplace(name, inherited);
    return env;
}

// The binary a pid runs now, canonical; empty when it is gone or unreadable.
std::filesystem::path exe_of(int64_t pid) {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
    return ec ? std::filesystem::path() : exe;
}

// The Unix socket a handle's server listens on ("" for TCP), from its runner_data.
std::string socket_of(const sdk::ProcessHandle& handle) {
    const auto* socket = handle.runner_data.is_object() ? handle.runner_data.as_object().if_contains("socket") : nullptr;
    return socket && socket->is_string() ? std::string(socket->as_string()) : std::string();
}

// Whether the handle's pid still runs the binary its runner_data names (not a reused pid).
bool runs_recorded_binary(const sdk::ProcessHandle& handle) {
    const auto* binary = handle.runner_data.is_object() ? handle.runner_data.as_object().if_contains("binary") : nullptr;
    return handle.pid && binary && binary->is_string() && exe_of(*handle.pid) == std::filesystem::path(std::string(binary->as_string()));
}

LlamaOptions default_options() {
    LlamaOptions o;
    o.state_dir = default_state_dir();
    return o;
}

class LlamaServerRunner final : public sdk::ProcessRunner {
public:
    LlamaServerRunner(sdk::Host host, const boost::json::object& options)
        : host_(host),
          options_(parse_options(default_options(), options, "options")),
          records_(options_.state_dir),
          sockets_(options_.state_dir / "sockets") {}

    ~LlamaServerRunner() override {
        std::map<std::string, Instance> instances;
        {
            std::lock_guard lock(mutex_);
            instances.swap(instances_);
        }
        for (auto& [id, instance] : instances) {
            if (!instance.process->exited()) {
                instance.process->stop(std::chrono::seconds(5));
                records_.remove(id);
                sockets_.remove(instance.socket_path);
            }
        }
        instances.clear();
    }

    sdk::ProcessHandle start(const sdk::ServerConfig& config) override {
        auto options = parse_options(options_, config.runner_options, "runner_options");
        auto binary = resolve_binary(options.binary);
        std::error_code ec;
        if (config.model_path.empty()) throw Error(ProcessError::Configuration, "no model path given");
        if (!std::filesystem::is_regular_file(config.model_path, ec) || ::access(config.model_path.c_str(), R_OK) != 0) {
            throw Error(ProcessError::Configuration, "model file not found or not readable: " + config.model_path);
        }
        {
            std::lock_guard lock(mutex_);
            if (instances_.count(config.instance_id))
                throw Error(ProcessError::StartFailed, "instance id " + config.instance_id + " is already running");
        }
        const auto features = features_.of(io_.context(), binary, server_environment(options.env, config.env));
        auto extra_args = options.extra_args;
        extra_args.insert(extra_args.end(), config.extra_args.begin(), config.extra_args.end());
        if (listens_on_unix_socket(options.transport, config, features, extra_args)) {
            if (auto socket = sockets_.path_for(options.transport, host_)) return start_once(config, options, binary, features, 0, *socket);
        }
        const bool fixed_port = config.port.has_value();
        return plugin_common::start_with_port_retries(fixed_port, host_, [&] {
            uint16_t port = fixed_port ? *config.port : ports_.allocate(config.host);
            try {
                auto handle = start_once(config, options, binary, features, port);
                if (!fixed_port) ports_.release(port);  // the server holds it now
                return handle;
            } catch (...) {
                if (!fixed_port) ports_.release(port);
                throw;
            }
        });
    }

    void stop(const sdk::ProcessHandle& handle, std::chrono::milliseconds grace) override {
        auto instance = take(handle.instance_id);
        if (!instance && runs_recorded_binary(handle)) {
            // Left by a previous host and listed, not adopted: take it over to stop it properly.
            adopt(handle);
            instance = take(handle.instance_id);
        }
        if (!instance || instance->process->exited()) {
            records_.remove(handle.instance_id);
            sockets_.remove(socket_of(handle));
            throw Error(ProcessError::NotRunning, "llama-server " + handle.instance_id + " is not running");
        }
        instance->process->stop(grace);
        records_.remove(handle.instance_id);
        sockets_.remove(instance->socket_path);
    }

    bool is_running(const sdk::ProcessHandle& handle) override {
        {
            std::lock_guard lock(mutex_);
            if (auto it = instances_.find(handle.instance_id); it != instances_.end()) return !it->second.process->exited();
        }
        // A server this runner does not supervise (say, from an instance record).
        return runs_recorded_binary(handle);
    }

    sdk::ServerHealth health(const sdk::ProcessHandle& handle) override {
        return plugin_common::check_health_blocking(io_.context(), handle.endpoint, std::chrono::seconds(5));
    }

    // The servers this runner supervises, and those its instance records show still running the
    // recorded binary (left by a host that died: the host adopts them). Records of servers that are
    // gone are cleaned on the way.
    std::vector<sdk::ProcessHandle> list_running() override {
        std::vector<sdk::ProcessHandle> out;
        std::set<std::string> known;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [id, instance] : instances_) {
                known.insert(id);
                if (!instance.process->exited()) out.push_back(instance.handle);
            }
        }
        for (auto& record : records_.read_all()) {
            if (known.count(record.instance_id)) continue;
            if (runs_recorded_binary(record)) {
                out.push_back(std::move(record));
            } else {
                records_.remove(record.instance_id);
                sockets_.remove(socket_of(record));
            }
        }
        return out;
    }

    sdk::ProcessHandle adopt(const sdk::ProcessHandle& record) override {
        {
            std::lock_guard lock(mutex_);
            if (auto it = instances_.find(record.instance_id); it != instances_.end() && !it->second.process->exited())
                return it->second.handle;
        }
        if (!runs_recorded_binary(record)) {
            records_.remove(record.instance_id);
            sockets_.remove(socket_of(record));
            throw Error(ProcessError::NotRunning, "llama-server " + record.instance_id + " (pid " +
                                                      (record.pid ? std::to_string(*record.pid) : std::string("unknown")) +
                                                      ") is no longer running its recorded binary: its record was cleaned");
        }
        auto id = record.instance_id;
        auto process = plugin_common::ChildProcess::adopt(io_.context(), static_cast<int>(*record.pid),
                                                          [this, id](const plugin_common::ExitStatus& status) { on_exit(id, status); });
        sdk::ProcessHandle handle = record;
        handle.runner = "llama_server";
        {
            std::lock_guard lock(mutex_);
            instances_[id] = Instance{handle, process, std::make_shared<plugin_common::LogRing>(options_.log_lines), socket_of(handle)};
        }
        records_.write(handle);
        host_.info("adopted llama-server ", id, " (pid ", *record.pid, ") at ", handle.endpoint);
        return handle;
    }

private:
    struct Instance {
        sdk::ProcessHandle handle;
        std::shared_ptr<plugin_common::ChildProcess> process;
        std::shared_ptr<plugin_common::LogRing> log;
        std::string socket_path;  // its Unix socket, removed when it is gone; "" on TCP
    };

    // One try at a start on `port`, or on the Unix socket `socket_path` when that is not empty, with
    // the binary's `features` as start() learnt them.
    sdk::ProcessHandle start_once(const sdk::ServerConfig& config, const LlamaOptions& options, const std::filesystem::path& binary,
                                  const ServerFeatures& features, uint16_t port, const std::string& socket_path = {}) {
        const std::string id = config.instance_id;
        auto log = std::make_shared<plugin_common::LogRing>(options.log_lines);
        auto signal = std::make_shared<StartSignal>();
        auto outcome = signal->future();
        plugin_common::HttpEndpoint endpoint;
        if (!socket_path.empty()) {
            endpoint.socket_path = socket_path;
        } else {
            endpoint.host = config.host == "0.0.0.0" ? "127.0.0.1" : config.host == "::" ? "::1" : config.host;
            endpoint.port = port;
        }

        sdk::ProcessHandle handle;
        handle.instance_id = id;
        handle.model_name = config.model_name;
        handle.runner = "llama_server";
        handle.endpoint = plugin_common::format_http_endpoint(endpoint);
        handle.started_at_ms = plugin_common::unix_time_ms();

        auto on_line = [this, id, log, signal, endpoint](const char* stream, const std::string& line) {
            if (plugin_common::pass_on_server_line(host_, id, stream, line, *log, signal.get()) &&
                plugin_common::begins_ready_checks(signal.get(), line))
                plugin_common::check_ready(io_.context(), endpoint, signal);
        };
        auto on_exit = [this, id, signal](const plugin_common::ExitStatus& status) {
            signal->settle({StartOutcome::Kind::Exited, status});
            this->on_exit(id, status);
        };
        auto env = server_environment(options.env, config.env);
        ArgumentOptions argument_options{features, options.log_verbosity, options.extra_args, socket_path};
        auto args = server_arguments(config, port, argument_options);
        host_.debug("starting ", binary.string(), " for ", config.model_name, " on ", handle.endpoint);
        auto process = plugin_common::ChildProcess::spawn(io_.context(), binary, args, env, on_line, on_exit);
        handle.pid = process->pid();
        boost::json::object data{{"binary", binary.string()}, {"model_path", config.model_path}, {"record", records_.path_of(id).string()}};
        if (socket_path.empty())
            data["port"] = port;
        else
            data["socket"] = socket_path;
        handle.runner_data = std::move(data);
        {
            std::lock_guard lock(mutex_);
            instances_[id] = Instance{handle, process, log, socket_path};
        }
        if (!announces_listening(args, server_variable("LLAMA_ARG_LOG_VERBOSITY", options.env, config.env)))
            plugin_common::check_ready(
                io_.context(), endpoint, signal,
                plugin_common::owner_proof(server_key(args, server_variable("LLAMA_API_KEY", options.env, config.env)), host_, id,
                                           plugin_common::local_listener_check()));

        auto waited = outcome.wait_for(options.startup_timeout);
        StartOutcome result = waited == std::future_status::ready ? outcome.get() : StartOutcome{StartOutcome::Kind::TimedOut, {}};
        if (result.kind == StartOutcome::Kind::Ready) {
            records_.write(handle);
            host_.info("llama-server ", id, " for ", config.model_name, " ready at ", handle.endpoint, " (pid ", *handle.pid, ")");
            process->settle_output();  // nothing waits on its next line now
            host_.emit_ready(handle);
            return handle;
        }
        take(id);
        if (result.kind == StartOutcome::Kind::TimedOut) {
            process->stop(std::chrono::seconds(2));
            sockets_.remove(socket_path);
            throw Error(ProcessError::StartFailed, "llama-server for " + config.model_name + " was not ready after " +
                                                       std::to_string(options.startup_timeout.count()) + " ms. Last lines:\n" +
                                                       log->tail(20));
        }
        sockets_.remove(socket_path);
        if (socket_path.empty() && log->contains(plugin_common::kPortTakenLine))
            throw plugin_common::PortTaken("port " + std::to_string(port) + " is in use");
        throw Error(ProcessError::StartFailed, "llama-server for " + config.model_name + " " + result.exit.describe() +
                                                   " while starting. Last lines:\n" + log->tail(20));
    }

    void on_exit(const std::string& id, const plugin_common::ExitStatus& status) {
        host_.emit_exited(id, status.code, status.signal, "llama-server " + status.describe());
        records_.remove(id);
        // A server that is gone is forgotten (a crash-looping model must not pile up entries); start()
        // still holds what it needs of one that failed while starting.
        if (auto gone = take(id)) sockets_.remove(gone->socket_path);
    }

    std::optional<Instance> take(const std::string& id) {
        std::lock_guard lock(mutex_);
        auto it = instances_.find(id);
        if (it == instances_.end()) return std::nullopt;
        Instance out = std::move(it->second);
        instances_.erase(it);
        return out;
    }

    sdk::Host host_;
    LlamaOptions options_;
    InstanceRecords records_;
    plugin_common::SocketDirectory sockets_;
    plugin_common::PortAllocator ports_;
    ServerFeatureCache features_;
    std::mutex mutex_;
    std::map<std::string, Instance> instances_;
    plugin_common::IoThread io_;  // last: its thread is joined before the members it uses go
};

}  // namespace
}  // namespace corral::llama

CORRAL_RUNNER_PLUGIN(corral::llama::LlamaServerRunner, "llama_server", CORRAL_SDK_VERSION, "llama.cpp's llama-server as local processes",
                     corral::llama::kLlamaOptionsSchema,
                     CORRAL_CAP_ADOPT | CORRAL_CAP_EXIT_EVENTS | CORRAL_CAP_LOG_EVENTS | CORRAL_CAP_SLOT_CACHE);
