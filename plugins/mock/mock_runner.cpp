// The mock runner plugin: simulated model servers that really listen (on a Unix socket in the
// runner's socket directory, as llama_server's do, or on a loopback port), for tests and demos
// without a model. Options (runner-wide or per model): see mock_options.hpp.
#include "mock_options.hpp"
#include "mock_server.hpp"

#include "http_health.hpp"
#include "io_thread.hpp"
#include "socket_directory.hpp"

#include "clock.hpp"

#include <corral/sdk/sdk.hpp>

#include <boost/asio.hpp>

#include <future>
#include <map>
#include <mutex>
#include <thread>

namespace corral::mock {
namespace {

namespace asio = boost::asio;

class MockRunner final : public sdk::ProcessRunner {
public:
    MockRunner(sdk::Host host, const boost::json::object& options)
        : host_(host),
          base_options_(apply_options({}, server_options(options), "options")),
          machine_(machine_option(options, "options")),
          sockets_(socket_directory(options)) {
        // Servers live in the host's process: sockets there now are from a host that was killed.
        if (sockets_) sockets_->remove_stale();
    }

    ~MockRunner() override {
        std::map<std::string, Entry> servers;
        {
            std::lock_guard lock(mutex_);
            servers.swap(servers_);
        }
        for (auto& [id, entry] : servers) entry.server->stop();
    }

    sdk::ProcessHandle start(const sdk::ServerConfig& config) override {
        auto options = apply_options(base_options_, config.runner_options, "runner_options");
        if (options.fail_start) throw sdk::Error(sdk::ProcessError::StartFailed, *options.fail_start);
        {
            std::lock_guard lock(mutex_);
            if (servers_.count(config.instance_id)) {
                throw sdk::Error(sdk::ProcessError::StartFailed, "instance id " + config.instance_id + " is already running");
            }
        }
        std::string socket_path;
        const std::string unavailable = sockets_ ? ""
                                                 : "transport \"unix\" needs the runner's state_dir (the host sets it; set it yourself "
                                                   "when loading the plugin without corral serve)";
        if (plugin_common::listens_on_unix_socket(options.transport, config, unavailable))
            socket_path = sockets_->path_for(options.transport, host_).value_or("");
        // Outcome of the start: ready (true) or exited before ready (false). Set once.
        auto outcome = std::make_shared<std::promise<bool>>();
        auto settled = std::make_shared<std::once_flag>();
        const std::string id = config.instance_id;
        MockServer::Callbacks callbacks;
        callbacks.log = [host = host_, id](const std::string& line) { host.emit_log_line(id, "stdout", line); };
        callbacks.ready = [outcome, settled] { std::call_once(*settled, [&] { outcome->set_value(true); }); };
        // The socket goes with its server (stopped or crashed), as llama_server's runner removes a gone server's.
        callbacks.exited = [this, id, outcome, settled, socket_path](std::optional<int> code, std::optional<int> signal,
                                                                     const std::string& message) {
            if (!socket_path.empty()) sockets_->remove(socket_path);
            std::call_once(*settled, [&] { outcome->set_value(false); });
            host_.emit_exited(id, code, signal, message);
        };
        auto server = std::make_shared<MockServer>(io_.context(), config, options, std::move(callbacks));
        sdk::ProcessHandle handle;
        try {
            handle.endpoint = server->start(socket_path);
        } catch (...) {
            if (!socket_path.empty()) sockets_->remove(socket_path);
            throw;
        }
        handle.instance_id = id;
        handle.model_name = config.model_name;
        handle.runner = "mock";
        handle.started_at_ms = plugin_common::unix_time_ms();
        handle.runner_data =
            socket_path.empty() ? boost::json::object{{"port", server->port()}} : boost::json::object{{"socket", socket_path}};
        {
            std::lock_guard lock(mutex_);
            servers_.emplace(id, Entry{server, handle});
        }
        // Logged once the instance is listed, as llama-server logs it before its model has loaded.
        host_.emit_log_line(id, "stdout", "server is listening on " + handle.endpoint + " (loading model)");
        if (!outcome->get_future().get()) {
            forget(id);
            throw sdk::Error(sdk::ProcessError::StartFailed, "mock server " + id + " exited while loading");
        }
        host_.info("mock server ", id, " for ", config.model_name, " ready at ", handle.endpoint);
        host_.emit_ready(handle);
        return handle;
    }

    void stop(const sdk::ProcessHandle& handle, std::chrono::milliseconds) override {
        auto server = find(handle.instance_id);
        forget(handle.instance_id);
        if (!server || !server->alive())
            throw sdk::Error(sdk::ProcessError::NotRunning, "mock server " + handle.instance_id + " is not running");
        server->stop();
    }

    bool is_running(const sdk::ProcessHandle& handle) override {
        auto server = find(handle.instance_id);
        return server && server->alive();
    }

    sdk::ServerHealth health(const sdk::ProcessHandle& handle) override {
        return plugin_common::check_health_blocking(io_.context(), handle.endpoint, std::chrono::seconds(2));
    }

    std::vector<sdk::ProcessHandle> list_running() override {
        std::lock_guard lock(mutex_);
        std::vector<sdk::ProcessHandle> out;
        for (const auto& [id, entry] : servers_) {
            if (entry.server->alive()) out.push_back(entry.handle);
        }
        return out;
    }

    // The machine the "machine" option describes; without one the mock shares the host's machine.
    std::vector<sdk::MachineInfo> machines() override {
        if (!machine_) throw sdk::Error(sdk::ProcessError::NotSupported, "no \"machine\" option: the servers run on the host's machine");
        return {*machine_};
    }

private:
    struct Entry {
        std::shared_ptr<MockServer> server;
        sdk::ProcessHandle handle;
    };

    std::shared_ptr<MockServer> find(const std::string& id) {
        std::lock_guard lock(mutex_);
        auto it = servers_.find(id);
        return it == servers_.end() ? nullptr : it->second.server;
    }

    void forget(const std::string& id) {
        std::lock_guard lock(mutex_);
        servers_.erase(id);
    }

    // <state_dir>/sockets where the runner has a state_dir (the host gives it one).
    static std::optional<plugin_common::SocketDirectory> socket_directory(const boost::json::object& options) {
        auto dir = state_dir_option(options, "options");
        if (!dir) return std::nullopt;
        return std::optional<plugin_common::SocketDirectory>(std::in_place, *dir / "sockets");
    }

    sdk::Host host_;
    MockOptions base_options_;
    std::optional<sdk::MachineInfo> machine_;
    std::optional<plugin_common::SocketDirectory> sockets_;
    std::mutex mutex_;
    std::map<std::string, Entry> servers_;
    plugin_common::IoThread io_;  // last: its thread is joined before the members it uses go
};

}  // namespace
}  // namespace corral::mock

CORRAL_RUNNER_PLUGIN(corral::mock::MockRunner, "mock", CORRAL_SDK_VERSION,
                     "Simulated model servers on Unix sockets or loopback ports (for tests and demos without a model)",
                     corral::mock::kMockOptionsSchema, CORRAL_CAP_EXIT_EVENTS | CORRAL_CAP_LOG_EVENTS);
