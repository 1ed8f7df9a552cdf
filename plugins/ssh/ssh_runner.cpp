// The ssh runner plugin: llama-server on another machine, started and supervised over OpenSSH.
//
// One ControlMaster connection per runner carries everything: a launch command per start (the server
// runs detached in its own session on the remote host, so it outlives the connection and the host),
// a port forward to it (or direct access), and one long-lived "attach" session per server that
// streams its log and blocks on the server's lock file, so an exit arrives as soon as the remote
// kernel releases the lock. A lost connection is reported (health: unreachable) and re-established
// with backoff; on reconnection forwards and attach sessions come back, and a server that died
// meanwhile is reported as exited. Remote instance directories let a restarted host list and adopt
// the servers its predecessor left (remote_scripts.hpp).
#include "child_process.hpp"
#include "clock.hpp"
#include "command_line.hpp"
#include "http_health.hpp"
#include "instance_table.hpp"
#include "io_thread.hpp"
#include "llama_output.hpp"
#include "log_ring.hpp"
#include "once_per_key.hpp"
#include "port_allocator.hpp"
#include "port_listeners.hpp"
#include "port_retry.hpp"
#include "remote_scripts.hpp"
#include "server_features.hpp"
#include "ssh_connection.hpp"
#include "ssh_options.hpp"
#include "start_signal.hpp"
#include "stored_files.hpp"

#include <corral/sdk/sdk.hpp>

#include <boost/asio.hpp>

#include <atomic>
#include <charconv>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

namespace corral::ssh {
namespace {

namespace asio = boost::asio;
using plugin_common::ChildProcess;
using plugin_common::ExitStatus;
using plugin_common::LogRing;
using plugin_common::StartOutcome;
using plugin_common::StartSignal;
using sdk::Error;
using sdk::ProcessError;
using namespace std::chrono_literals;

constexpr auto kCommandTimeout = 30s;

// One remote server. Fields marked "I/O" are touched on the I/O thread only; the others are set
// before the instance is shared or read under the runner's mutex.
struct Instance {
    sdk::ProcessHandle handle;
    std::string dir;  // remote instance directory
    std::string bind;
    uint16_t remote_port = 0;
    std::optional<uint16_t> local_port;  // forward mode
    std::shared_ptr<LogRing> log;
    std::shared_ptr<StartSignal> start;  // while starting

    std::shared_ptr<ChildProcess> attach;           // I/O
    uint64_t log_bytes = 0;                         // I/O: log bytes received so far
    bool held_blank = false;                        // I/O: an empty line not yet delivered (see on_attach_line)
    std::optional<RemoteExit> exit_seen;            // I/O
    std::chrono::milliseconds reattach_delay{250};  // I/O

    std::atomic<bool> exited{false};
    std::string exit_text;  // how it ended: set on the I/O thread before the exit is announced
    std::promise<void> gone_promise;
    std::shared_future<void> gone = gone_promise.get_future().share();
    // Set once its remote directory is removed after the exit: a start retried under the same id
    // (another port) launches into that directory only then.
    std::promise<void> forgotten_promise;
    std::shared_future<void> forgotten = forgotten_promise.get_future().share();
};

std::string describe_exit(const RemoteExit& e) {
    return e.status ? e.status->describe() : "ended (its exit status was not recorded)";
}

class SshRunner final : public sdk::ProcessRunner {
public:
    SshRunner(sdk::Host host, const boost::json::object& options)
        : host_(host), options_(parse_runner_options(options, "options")), random_(std::random_device{}()) {
        connection_ = std::make_unique<SshConnection>(
            io_.context(), options_.target, [this](bool up) { on_connection(up); }, [this](const std::string& m) { host_.warn(m); });
    }

    ~SshRunner() override {
        closing_ = true;
        for (auto& inst : instances_.running()) {
            try {
                stop_instance(inst, 5s);
            } catch (const std::exception& e) {
                host_.warn("could not stop ", inst->handle.instance_id, " on ", options_.target.host, ": ", e.what());
            }
        }
        // Attach sessions and forwards end with the connection.
        std::promise<void> detached;
        asio::post(io_.context(), [this, &detached] {
            for (auto& inst : instances_.all())
                if (inst->attach) inst->attach->kill_now();
            std::lock_guard lock(mutex_);
            for (auto& timer : timers_) timer->cancel();
            detached.set_value();
        });
        detached.get_future().wait();
        connection_.reset();
    }

    sdk::ProcessHandle start(const sdk::ServerConfig& config) override {
        auto options = parse_model_options(options_, config.runner_options, "runner_options");
        if (config.model_path.empty()) throw Error(ProcessError::Configuration, "no model path given");
        if (instances_.contains(config.instance_id))
            throw Error(ProcessError::StartFailed, "instance id " + config.instance_id + " is already running");
        connection_->wait_up(options.target.connect_timeout, ProcessError::StartFailed);
        auto features = features_of(options);
        return plugin_common::start_with_port_retries(config.port.has_value(), host_,
                                                      [&] { return start_once(config, options, features); });
    }

    void stop(const sdk::ProcessHandle& handle, std::chrono::milliseconds grace) override {
        auto inst = instances_.find(handle.instance_id);
        if (!inst) {
            // Left by a previous host and listed, not adopted: take it over to stop it properly.
            adopt(handle);  // NotRunning when it is gone
            inst = instances_.find(handle.instance_id);
        }
        if (!inst || inst->exited) {
            instances_.take(handle.instance_id);
            throw Error(ProcessError::NotRunning, "llama-server " + handle.instance_id + " on " + options_.target.host + " is not running");
        }
        stop_instance(inst, grace);
        instances_.take(handle.instance_id);
    }

    // The remote machine, for placement: what its /proc/meminfo and nvidia-smi say, or what the
    // "machine" option states.
    std::vector<sdk::MachineInfo> machines() override {
        const auto& m = options_.machine;
        if (!m.describe) throw Error(ProcessError::NotSupported, "the machine is not described (\"machine\": false)");
        const std::string name = m.name.empty() ? options_.host_name() : m.name;
        if (!m.probe) return {stated_machine(name, m)};
        connection_->wait_up(std::min<std::chrono::milliseconds>(options_.target.connect_timeout, 10s), ProcessError::Internal);
        auto r = connection_->run(machine_probe_command(m.nvidia_smi), kCommandTimeout);
        if (!r.ok()) throw Error(ProcessError::Internal, "cannot probe " + options_.target.host + ": " + r.error_text());
        return {parse_machine_probe(name, r.stdout_text(), m)};
    }

    // Prompt caches stay on the remote host, under the runner's state directory there.
    std::string slot_cache_root() override {
        auto dir = options_.remote_state_dir;
        if (dir.empty() || dir.front() != '/') {
            // Relative to the remote home: made absolute, since the server runs in its working_dir.
            connection_->wait_up(std::min<std::chrono::milliseconds>(options_.target.connect_timeout, 10s), ProcessError::Internal);
            auto r = connection_->run(home_command(), kCommandTimeout);
            if (!r.ok() || r.out.empty() || r.out.front().empty() || r.out.front().front() != '/')
                throw Error(ProcessError::Internal, "cannot learn the home directory on " + options_.target.host + ": " + r.error_text());
            dir = r.out.front() + "/" + dir;
        }
        std::lock_guard lock(mutex_);
        cache_root_ = dir + "/kv-cache";
        return cache_root_;
    }

    std::vector<sdk::StoredFile> list_files(const std::string& dir) override {
        plugin_common::require_within({dir}, cache_root(), true);
        auto r = connection_->run(list_files_command(dir), kCommandTimeout);
        if (!r.ok()) throw Error(ProcessError::Internal, "cannot list " + dir + " on " + options_.target.host + ": " + r.error_text());
        return parse_file_list(r.out);
    }

    void remove_files(const std::vector<std::string>& paths) override {
        plugin_common::require_within(paths, cache_root());
        if (paths.empty()) return;
        auto r = connection_->run(remove_command(paths), kCommandTimeout);
        if (!r.ok()) throw Error(ProcessError::Internal, "cannot remove files on " + options_.target.host + ": " + r.error_text());
    }

    bool is_running(const sdk::ProcessHandle& handle) override {
        if (auto inst = instances_.find(handle.instance_id)) return !inst->exited;
        if (!connection_->up()) return false;
        auto r = connection_->run(status_command(instance_dir_of(handle)), kCommandTimeout);
        return r.ok() && !r.out.empty() && r.out.front().rfind("running", 0) == 0;
    }

    sdk::ServerHealth health(const sdk::ProcessHandle& handle) override {
        if (!connection_->up() && options_.connect == ConnectMode::Forward) {
            return {sdk::HealthState::Unreachable, std::nullopt,
                    "the ssh connection to " + options_.target.host + " is down; reconnecting"};
        }
        return plugin_common::check_health_blocking(io_.context(), handle.endpoint, 5s);
    }

    // The servers this runner supervises, and those the remote instance directories show running
    // (left by a host that died: the host adopts them).
    std::vector<sdk::ProcessHandle> list_running() override {
        std::set<std::string> known;
        auto out = instances_.running_handles(known);
        try {
            connection_->wait_up(options_.target.connect_timeout, ProcessError::StartFailed);
        } catch (const Error& e) {
            host_.warn("cannot list the servers on ", options_.target.host, ": ", e.what());
            return out;
        }
        auto r = connection_->run(list_command(options_.remote_state_dir), kCommandTimeout);
        if (!r.ok()) {
            host_.warn("cannot list the servers on ", options_.target.host, ": ", r.error_text());
            return out;
        }
        for (const auto& line : r.out) {
            try {
                auto handle = sdk::from_json<sdk::ProcessHandle>(boost::json::parse(line), "handle.json");
                if (!known.count(handle.instance_id)) out.push_back(std::move(handle));
            } catch (const std::exception& e) {
                host_.debug("skipping an unreadable instance record on ", options_.target.host, ": ", e.what());
            }
        }
        return out;
    }

    sdk::ProcessHandle adopt(const sdk::ProcessHandle& record) override {
        if (auto inst = instances_.find(record.instance_id); inst && !inst->exited) return inst->handle;
        connection_->wait_up(options_.target.connect_timeout, ProcessError::StartFailed);
        const auto dir = instance_dir_of(record);
        auto r = connection_->run(status_command(dir), kCommandTimeout);
        if (!r.ok() || r.out.empty()) throw Error(ProcessError::StartFailed, "cannot reach " + record.instance_id + ": " + r.error_text());
        std::istringstream status(r.out.front());
        std::string word;
        int64_t pid = 0;
        uint64_t log_size = 0;
        status >> word >> pid >> log_size;
        if (word != "running") {
            throw Error(ProcessError::NotRunning, "llama-server " + record.instance_id + " on " + options_.target.host +
                                                      " is no longer running: its record was cleaned");
        }
        const auto* data = record.runner_data.is_object() ? &record.runner_data.as_object() : nullptr;
        auto number = [&](const char* key) -> int64_t {
            const auto* v = data ? data->if_contains(key) : nullptr;
            return v && v->is_int64() ? v->as_int64() : 0;
        };
        auto inst = std::make_shared<Instance>();
        inst->handle = record;
        inst->handle.runner = "ssh";
        inst->handle.pid.reset();
        inst->dir = dir;
        inst->bind = options_.bind_address();
        inst->remote_port = static_cast<uint16_t>(number("remote_port"));
        inst->log = std::make_shared<LogRing>(options_.log_lines);
        inst->log_bytes = log_size;
        if (inst->remote_port == 0) throw Error(ProcessError::NotRunning, "the record of " + record.instance_id + " names no remote port");
        if (options_.connect == ConnectMode::Forward) {
            inst->local_port = ports_.allocate("127.0.0.1");
            auto f = connection_->forward_blocking(*inst->local_port, forward_target(inst->bind), inst->remote_port, false);
            if (!f.ok()) {
                ports_.release(*inst->local_port);
                throw Error(ProcessError::StartFailed, "cannot forward a port to " + record.instance_id + ": " + f.error_text());
            }
            inst->handle.endpoint = plugin_common::format_http_endpoint("127.0.0.1", *inst->local_port);
        }
        auto& rd = inst->handle.runner_data;
        if (!rd.is_object()) rd = boost::json::object();
        rd.as_object()["remote_pid"] = pid;
        instances_.take(record.instance_id);  // an exited one of the same id
        instances_.insert(record.instance_id, inst);
        asio::post(io_.context(), [this, inst] { attach(inst); });
        host_.info("adopted llama-server ", record.instance_id, " on ", options_.target.host, " (remote pid ", pid, ") at ",
                   inst->handle.endpoint);
        return inst->handle;
    }

private:
    // The remote binary's features (its --help), learnt once per binary and environment.
    llama::ServerFeatures features_of(const SshOptions& options) {
        std::string key = options.binary;
        for (const auto& [k, v] : options.env) key += "\n" + k + "=" + v;
        return features_.get(key, [&] {
            auto r = connection_->run(help_command(options.binary, options.env), kCommandTimeout);
            if (r.code == 127) {
                throw Error(ProcessError::Configuration,
                            "remote llama-server binary not found or not executable on " + options.target.host + ": " + options.binary);
            }
            if (r.code == 255 || !r.code) throw Error(ProcessError::StartFailed, "ssh " + options.target.host + ": " + r.error_text());
            std::string text;
            for (const auto& line : r.out) text += line + "\n";
            return llama::parse_help(text);
        });
    }

    uint16_t pick_remote_port() {
        std::lock_guard lock(mutex_);
        std::uniform_int_distribution<uint32_t> pick(options_.remote_port_first, options_.remote_port_last);
        return static_cast<uint16_t>(pick(random_));
    }

    sdk::ProcessHandle start_once(const sdk::ServerConfig& config, const SshOptions& options, const llama::ServerFeatures& features) {
        const std::string id = config.instance_id;
        auto inst = std::make_shared<Instance>();
        inst->dir = options.remote_state_dir + "/" + instance_dir_name(id);
        inst->bind = options.bind_address();
        inst->remote_port = config.port ? *config.port : pick_remote_port();
        inst->log = std::make_shared<LogRing>(options.log_lines);
        inst->start = std::make_shared<StartSignal>();
        auto outcome = inst->start->future();
        if (options.connect == ConnectMode::Forward) inst->local_port = ports_.allocate("127.0.0.1");

        auto& handle = inst->handle;
        handle.instance_id = id;
        handle.model_name = config.model_name;
        handle.runner = "ssh";
        handle.endpoint = inst->local_port ? plugin_common::format_http_endpoint("127.0.0.1", *inst->local_port)
                                           : plugin_common::format_http_endpoint(options.direct_address(), inst->remote_port);
        handle.started_at_ms = plugin_common::unix_time_ms();
        handle.runner_data = boost::json::object{{"host", options.target.host},
                                                 {"dir", inst->dir},
                                                 {"remote_port", inst->remote_port},
                                                 {"binary", options.binary},
                                                 {"model_path", config.model_path}};

        auto server = config;
        server.host = inst->bind;
        // Only under the root this runner named (the host puts every cache directory there).
        plugin_common::keep_within(server.slot_save_path, cache_root());
        llama::ArgumentOptions argument_options{features, options.log_verbosity, options.extra_args};
        auto env = options.env;  // the runner's, then the model's (its server key among them)
        for (const auto& [k, v] : config.env) env[k] = v;
        LaunchRequest launch{inst->dir,
                             options.working_dir,
                             options.binary,
                             config.model_path,
                             std::move(env),
                             llama::server_arguments(server, inst->remote_port, argument_options),
                             boost::json::serialize(sdk::to_json(handle)),
                             server.slot_save_path && features.slot_save_path ? *server.slot_save_path : std::string()};
        if (!instances_.insert(id, inst)) {
            if (inst->local_port) ports_.release(*inst->local_port);
            throw Error(ProcessError::StartFailed, "instance id " + id + " is already running");
        }
        host_.debug("starting ", options.binary, " on ", options.target.host, " for ", config.model_name, " on remote port ",
                    inst->remote_port);
        std::string input;
        try {
            input = launch_input(launch);
        } catch (const std::invalid_argument& e) {
            instances_.take(id);
            if (inst->local_port) ports_.release(*inst->local_port);
            throw Error(ProcessError::Configuration, e.what());
        }
        auto r = connection_->run(launch_command(launch), kCommandTimeout, input);
        if (!r.ok() || r.out.empty() || r.out.back().rfind("pid ", 0) != 0) {
            instances_.take(id);
            if (inst->local_port) ports_.release(*inst->local_port);
            auto code = r.code == kLaunchModelMissing || r.code == kLaunchBinaryMissing || r.code == kLaunchWorkingDirMissing ||
                                r.code == kLaunchToolsMissing || r.code == kLaunchStateDirUnusable
                            ? ProcessError::Configuration
                            : ProcessError::StartFailed;
            throw Error(code, "cannot start llama-server for " + config.model_name + " on " + options.target.host + ": " + r.error_text());
        }
        handle.runner_data.as_object()["remote_pid"] = std::stoll(r.out.back().substr(4));
        asio::post(io_.context(), [this, inst] { attach(inst); });
        if (inst->local_port) {
            auto f = connection_->forward_blocking(*inst->local_port, forward_target(inst->bind), inst->remote_port, false);
            if (!f.ok()) {
                kill_after_failed_start(inst);
                throw Error(ProcessError::StartFailed, "cannot forward local port " + std::to_string(*inst->local_port) + " to " +
                                                           options.target.host + ":" + std::to_string(inst->remote_port) + ": " +
                                                           f.error_text());
            }
        }

        // (The remote login's own environment is not known here: the runner's and the model's are.)
        if (!llama::announces_listening(launch.args, launch.env))
            plugin_common::check_ready(
                io_.context(), inst->handle.endpoint, inst->start,
                plugin_common::owner_proof(llama::server_key(launch.args, launch.env), host_, id, remote_listener_check(inst)));

        auto waited = outcome.wait_for(options.startup_timeout);
        auto kind = waited == std::future_status::ready ? outcome.get().kind : StartOutcome::Kind::TimedOut;
        if (kind == StartOutcome::Kind::Ready) {
            host_.info("llama-server ", id, " for ", config.model_name, " ready on ", options.target.host, " at ", handle.endpoint,
                       " (remote pid ", handle.runner_data.at("remote_pid").as_int64(), ")");
            host_.emit_ready(handle);
            return handle;
        }
        kill_after_failed_start(inst);
        if (kind == StartOutcome::Kind::TimedOut) {
            throw Error(ProcessError::StartFailed, "llama-server for " + config.model_name + " on " + options.target.host +
                                                       " was not ready after " + std::to_string(options.startup_timeout.count()) +
                                                       " ms. Last lines:\n" + inst->log->tail(20));
        }
        if (inst->log->contains(plugin_common::kPortTakenLine))
            throw plugin_common::PortTaken("remote port " + std::to_string(inst->remote_port) + " on " + options.target.host +
                                           " is in use");
        throw Error(ProcessError::StartFailed, "llama-server for " + config.model_name + " on " + options.target.host + " " +
                                                   inst->exit_text + " while starting. Last lines:\n" + inst->log->tail(20));
    }

    // After a start that failed once the server was launched: make sure it is gone, forget it.
    void kill_after_failed_start(const std::shared_ptr<Instance>& inst) {
        if (!inst->exited) {
            connection_->run(signal_command(inst->dir, "KILL"), kCommandTimeout);
            inst->gone.wait_for(10s);
        }
        // Its directory is removed after the exit; a retry under the same id (a port that was taken)
        // must not launch into it meanwhile (the removal took the new server's files: flaky starts).
        if (inst->exited) inst->forgotten.wait_for(10s);
        instances_.take(inst->handle.instance_id);
    }

    void stop_instance(const std::shared_ptr<Instance>& inst, std::chrono::milliseconds grace) {
        const auto& id = inst->handle.instance_id;
        connection_->wait_up(options_.target.connect_timeout, ProcessError::StopFailed);
        auto r = connection_->run(signal_command(inst->dir, "TERM"), kCommandTimeout);
        if (r.code == 3) {
            // It ended by itself just now: the attach session reports it.
            inst->gone.wait_for(5s);
            throw Error(ProcessError::NotRunning, "llama-server " + id + " on " + options_.target.host + " is not running");
        }
        if (!r.ok()) throw Error(ProcessError::StopFailed, "cannot signal " + id + " on " + options_.target.host + ": " + r.error_text());
        if (inst->gone.wait_for(grace) == std::future_status::ready) return;
        host_.warn("llama-server ", id, " on ", options_.target.host, " did not end within ", grace.count(), " ms; killing it");
        connection_->run(signal_command(inst->dir, "KILL"), kCommandTimeout);
        if (inst->gone.wait_for(30s) != std::future_status::ready)
            throw Error(ProcessError::StopFailed, "llama-server " + id + " on " + options_.target.host + " did not end after SIGKILL");
    }

    // ---- I/O thread ------------------------------------------------------------------------------

    void attach(const std::shared_ptr<Instance>& inst) {
        if (inst->attach || inst->exit_seen || closing()) return;
        try {
            inst->attach = connection_->spawn(
                attach_command(inst->dir, inst->log_bytes),
                [this, inst](const char* stream, const std::string& line) { on_attach_line(inst, stream, line); },
                [this, inst](const ExitStatus&) { on_attach_exit(inst); });
        } catch (const std::exception& e) {
            host_.warn("cannot follow ", inst->handle.instance_id, " on ", options_.target.host, ": ", e.what());
        }
    }

    void deliver(const std::shared_ptr<Instance>& inst, const std::string& line) {
        inst->log_bytes += line.size() + 1;
        if (plugin_common::pass_on_server_line(host_, inst->handle.instance_id, "stderr", line, *inst->log, inst->start.get()) &&
            plugin_common::begins_ready_checks(inst->start.get(), line))
            plugin_common::check_ready(io_.context(), inst->handle.endpoint, inst->start);
        plugin_common::settle_once_started(inst->attach.get(), inst->start.get());
    }

    void on_attach_line(const std::shared_ptr<Instance>& inst, const char* stream, const std::string& line) {
        if (std::string_view(stream) == "stderr") {  // ssh's own messages, or the remote shell's
            if (!line.empty()) host_.debug("ssh ", options_.target.host, " (", inst->handle.instance_id, "): ", line);
            return;
        }
        if (auto e = parse_exit_marker(line)) {
            inst->held_blank = false;  // the marker's own leading newline
            inst->exit_seen = *e;
            return;
        }
        // An empty line is held back: it may be the newline the attach script prints before the marker.
        if (inst->held_blank) {
            inst->held_blank = false;
            deliver(inst, "");
        }
        if (line.empty()) {
            inst->held_blank = true;
            return;
        }
        deliver(inst, line);
    }

    void on_attach_exit(const std::shared_ptr<Instance>& inst) {
        inst->attach.reset();
        if (inst->exit_seen) {
            finish(inst, *inst->exit_seen);
            return;
        }
        // The session ended without the marker: the connection went (on_connection re-attaches), or
        // the remote side failed; try again with backoff while the connection is up.
        if (closing() || !connection_->up()) return;
        auto timer = std::make_shared<asio::steady_timer>(io_.context(), inst->reattach_delay);
        inst->reattach_delay = std::min<std::chrono::milliseconds>(inst->reattach_delay * 2, 30s);
        track(timer);
        timer->async_wait([this, inst, timer](boost::system::error_code ec) {
            untrack(timer);
            if (!ec && connection_->up()) attach(inst);
        });
    }

    // The server ended: deliver what the attach session had not streamed yet, then report it.
    void finish(const std::shared_ptr<Instance>& inst, RemoteExit exit) {
        if (exit.log_size <= inst->log_bytes || closing()) {
            finalize(inst, exit);
            return;
        }
        try {
            connection_->spawn(
                read_log_command(inst->dir, inst->log_bytes),
                [this, inst](const char* stream, const std::string& line) {
                    if (std::string_view(stream) == "stdout") deliver(inst, line);
                },
                [this, inst, exit](const ExitStatus&) { finalize(inst, exit); });
        } catch (const std::exception&) {
            finalize(inst, exit);  // the exit matters more than the last lines
        }
    }

    void finalize(const std::shared_ptr<Instance>& inst, const RemoteExit& exit) {
        const auto& id = inst->handle.instance_id;
        if (inst->exited) return;  // I/O thread only: no race with itself
        auto how = describe_exit(exit);
        inst->exit_text = how;
        inst->exited = true;
        if (inst->start) inst->start->settle({StartOutcome::Kind::Exited, {}});
        auto status = exit.status.value_or(ExitStatus{});
        host_.emit_exited(id, status.code, status.signal, "llama-server on " + options_.target.host + " " + how);
        if (inst->local_port) {
            auto port = *inst->local_port;
            connection_->forward(port, forward_target(inst->bind), inst->remote_port, true,
                                 [this, port](const CommandResult&) { ports_.release(port); });
        }
        try {
            connection_->spawn(forget_command(inst->dir), nullptr, [inst](const ExitStatus&) { inst->forgotten_promise.set_value(); });
        } catch (const std::exception& e) {
            host_.debug("cannot remove ", inst->dir, " on ", options_.target.host, ": ", e.what());
            inst->forgotten_promise.set_value();
        }
        inst->gone_promise.set_value();
    }

    void on_connection(bool up) {
        if (!up) return;  // attach sessions and forwards went with it; health says unreachable meanwhile
        if (closing_) return;
        auto live = instances_.running();
        if (!live.empty()) host_.info("reconnected to ", options_.target.host, "; re-attaching ", live.size(), " server(s)");
        for (auto& inst : live) {
            if (inst->local_port) {
                auto id = inst->handle.instance_id;
                connection_->forward(*inst->local_port, forward_target(inst->bind), inst->remote_port, false,
                                     [this, id](const CommandResult& r) {
                                         if (!r.ok()) host_.warn("cannot restore the port forward to ", id, ": ", r.error_text());
                                     });
            }
            inst->reattach_delay = 250ms;
            attach(inst);
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    // The ready checks' look at the remote host's listeners (start_signal.hpp): another user's on the
    // server's port there is not our server. Where they cannot be listed (not Linux, the connection
    // down) the key proof decides alone.
    plugin_common::ListenerCheck remote_listener_check(const std::shared_ptr<Instance>& inst) {
        return [this, address = inst->bind, port = inst->remote_port](const plugin_common::HttpEndpoint&,
                                                                      std::function<void(std::optional<uid_t>)> done) {
            auto out = std::make_shared<std::string>();
            // Bounded like every remote call: a listing that has not ended in 5 s is killed (its exit
            // then gives no listing, and the key proof decides alone).
            auto deadline = std::make_shared<asio::steady_timer>(io_.context(), 5s);
            try {
                auto listing = connection_->spawn(
                    listeners_command(),
                    [out](const char* stream, const std::string& line) {
                        if (std::string_view(stream) == "stdout") *out += line + "\n";
                    },
                    [out, done, address, port, deadline](const ExitStatus& exit) {
                        deadline->cancel();
                        const auto uid_end = out->find('\n');
                        const auto split = out->find("\n@\n");
                        uid_t self = 0;
                        if (exit.code != 0 || uid_end == std::string::npos || split == std::string::npos ||
                            std::from_chars(out->data(), out->data() + uid_end, self).ec != std::errc())
                            return done(std::nullopt);
                        const std::string_view text(*out);
                        done(plugin_common::foreign_listener_in(text.substr(uid_end + 1, split - uid_end), text.substr(split + 3), address,
                                                                port, self));
                    });
                track(deadline);
                deadline->async_wait([this, deadline, running = std::weak_ptr(listing)](boost::system::error_code ec) {
                    untrack(deadline);
                    if (auto child = running.lock(); child && !ec) child->kill_now();
                });
            } catch (const std::exception&) {
                done(std::nullopt);
            }
        };
    }

    // Where the forward connects on the remote host: the server's bind address, loopback for a wildcard.
    static std::string forward_target(const std::string& bind) {
        if (bind == "0.0.0.0" || bind.empty()) return "127.0.0.1";
        if (bind == "::") return "::1";
        return bind;
    }

    std::string instance_dir_of(const sdk::ProcessHandle& handle) const {
        if (handle.runner_data.is_object()) {
            if (const auto* dir = handle.runner_data.as_object().if_contains("dir"); dir && dir->is_string())
                return std::string(dir->as_string());
        }
        return options_.remote_state_dir + "/" + instance_dir_name(handle.instance_id);
    }

    bool closing() const { return closing_; }

    void track(const std::shared_ptr<asio::steady_timer>& timer) {
        std::lock_guard lock(mutex_);
        timers_.insert(timer);
    }
    void untrack(const std::shared_ptr<asio::steady_timer>& timer) {
        std::lock_guard lock(mutex_);
        timers_.erase(timer);
    }

    sdk::Host host_;
    // The root slot_cache_root() named ("" until the host asked).
    std::string cache_root() {
        std::lock_guard lock(mutex_);
        return cache_root_;
    }

    SshOptions options_;
    std::string cache_root_;  // guarded by mutex_
    plugin_common::PortAllocator ports_;
    std::mutex mutex_;
    std::mt19937 random_;
    plugin_common::OncePerKey<std::string, llama::ServerFeatures> features_;
    plugin_common::InstanceTable<Instance> instances_;
    std::set<std::shared_ptr<asio::steady_timer>> timers_;
    std::atomic<bool> closing_{false};
    plugin_common::IoThread io_;                 // after the state its handlers use: joined before it goes
    std::unique_ptr<SshConnection> connection_;  // last: closed while the I/O thread still runs
};

}  // namespace
}  // namespace corral::ssh

CORRAL_RUNNER_PLUGIN(corral::ssh::SshRunner, "ssh", CORRAL_SDK_VERSION, "llama-server on another machine over OpenSSH",
                     corral::ssh::kSshOptionsSchema,
                     CORRAL_CAP_ADOPT | CORRAL_CAP_EXIT_EVENTS | CORRAL_CAP_LOG_EVENTS | CORRAL_CAP_REMOTE | CORRAL_CAP_SLOT_CACHE);
