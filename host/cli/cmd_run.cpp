// corral run MODEL.gguf: one model server in the foreground, stopped cleanly on Ctrl-C.
#include "cli/commands.hpp"
#include "cli/json_output.hpp"
#include "cli/plugin_dirs_option.hpp"
#include "config/config_loader.hpp"
#include "plugins/plugin_registry.hpp"

#include <boost/json.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <mutex>

namespace corral::cli {
namespace {

// A file descriptor closed on scope exit.
class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// Whether a plugin's options schema offers {"transport": "tcp"}.
bool offers_tcp_transport(const std::string& schema) {
    boost::json::error_code ec;
    const auto parsed = boost::json::parse(schema, ec);
    if (ec || !parsed.is_object()) return false;
    const auto* properties = parsed.as_object().if_contains("properties");
    const auto* transport = properties && properties->is_object() ? properties->as_object().if_contains("transport") : nullptr;
    const auto* choices = transport && transport->is_object() ? transport->as_object().if_contains("enum") : nullptr;
    if (!choices || !choices->is_array()) return false;
    for (const auto& choice : choices->as_array())
        if (choice.is_string() && choice.as_string() == "tcp") return true;
    return false;
}

int run_model(const ParsedArgs& args) {
    const std::filesystem::path model = std::filesystem::absolute(args.positionals.at(0));
    // Signals are taken synchronously through a signalfd: block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // as corral serve: the server inherits it (ChildProcess)
    Fd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
    Fd exit_fd(::eventfd(0, EFD_CLOEXEC));

    // The runner: a runner named in --config, else a plugin by name with --binary / --runner-option.
    std::string runner_name = args.value("runner").value_or("llama_server");
    std::string plugin_name = runner_name;
    boost::json::object options;
    if (auto file = args.value("config")) {
        auto loaded = config::load_config_file(*file);
        if (!loaded.config) {
            std::cerr << "corral: " << *file << " is not a valid config (see 'corral config check')\n";
            return kExitUsage;
        }
        if (const auto* r = loaded.config->find_runner(runner_name)) {
            plugin_name = r->plugin;
            options = r->options;
        }
    }
    if (auto binary = args.value("binary")) options["binary"] = *binary;
    for (const auto& kv : args.values("runner-option")) {
        auto eq = kv.find('=');
        if (eq == std::string::npos) throw UsageError("--runner-option expects KEY=VALUE, got \"" + kv + "\"");
        boost::json::error_code ec;
        auto value = boost::json::parse(kv.substr(eq + 1), ec);
        options[kv.substr(0, eq)] = ec ? boost::json::value(kv.substr(eq + 1)) : value;  // JSON, or else a string
    }
    auto dirs = resolve_plugin_dirs(args);
    if (!dirs) return kExitUsage;
    auto registry = plugins::PluginRegistry::scan(*dirs);
    auto plugin = registry.find(plugin_name);
    if (!plugin || plugin->info().kind != plugins::PluginKind::Runner) {
        std::cerr << "corral: no runner plugin named \"" << plugin_name << "\" (see 'corral plugins')\n";
        return kExitUsage;
    }

    // `corral run` prints an address to use directly: a runner that can put its server on a Unix
    // socket (llama_server's "transport") is asked for TCP unless the options choose.
    if (!options.contains("transport") && offers_tcp_transport(plugin->info().config_schema)) options["transport"] = "tcp";

    const bool verbose = args.flag("verbose");
    const std::string instance_id = "run-" + std::to_string(::getpid());
    std::mutex output;
    std::string exit_message;
    auto on_event = [&](const plugins::RunnerEvent& ev) {
        if (ev.instance_id != instance_id) return;
        std::lock_guard lock(output);
        if (ev.kind == plugins::RunnerEvent::Kind::LogLine && verbose) {
            std::cerr << ev.payload.at("line").as_string().c_str() << "\n";
        } else if (ev.kind == plugins::RunnerEvent::Kind::Exited) {
            exit_message = std::string(ev.payload.at("message").as_string());
            uint64_t one = 1;
            (void)!::write(exit_fd.get(), &one, sizeof one);
        }
    };

    sdk::ServerConfig config;
    config.instance_id = instance_id;
    config.model_id = args.value("name").value_or(model.stem().string());
    config.model_name = config.model_id;
    config.model_path = model.string();
    config.host = args.value("host").value_or("127.0.0.1");
    if (auto port = args.integer("port")) config.port = static_cast<uint16_t>(*port);
    if (auto ctx = args.integer("ctx-size")) config.ctx_size = static_cast<uint32_t>(*ctx);
    config.gpu_layers = args.value("gpu-layers");
    config.threads = args.integer("threads");
    config.extra_args = args.values("arg");

    std::unique_ptr<sdk::ProcessRunner> runner;
    sdk::ProcessHandle handle;
    try {
        runner = plugin->create_runner(options, on_event);
        handle = runner->start(config);
    } catch (const sdk::Error& e) {
        std::cerr << "corral: " << e.what() << "\n";
        return e.code() == sdk::ProcessError::Configuration ? kExitUsage : kExitFailure;
    }
    {
        std::lock_guard lock(output);
        if (args.flag("json")) {
            std::cout << boost::json::serialize(sdk::to_json(handle)) << std::endl;
        } else {
            std::cout << config.model_name << " ready at " << handle.endpoint;
            if (handle.pid) std::cout << " (pid " << *handle.pid << ")";
            std::cout << "; Ctrl-C stops it" << std::endl;
        }
    }

    pollfd fds[2] = {{signal_fd.get(), POLLIN, 0}, {exit_fd.get(), POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
    }
    if (fds[1].revents & POLLIN) {
        std::lock_guard lock(output);
        std::cerr << "corral: the server stopped by itself: " << exit_message << "\n";
        return kExitFailure;
    }
    std::cerr << "corral: stopping " << config.model_name << "...\n";
    try {
        runner->stop(handle, std::chrono::seconds(10));
    } catch (const sdk::Error& e) {
        if (e.code() != sdk::ProcessError::NotRunning) {
            std::cerr << "corral: " << e.what() << "\n";
            return kExitFailure;
        }
    }
    return kExitOk;
}

}  // namespace

Command run_command() {
    CommandSpec spec{"run",
                     "Start one model server in the foreground, print its endpoint, stop it on Ctrl-C.",
                     {"MODEL.gguf"},
                     plugin_dir_options(),
                     "--config FILE also lets --runner name one of the file's runners, with its options.\n"
                     "Exit status: 0 stopped by Ctrl-C or SIGTERM, 1 the server failed or died, 2 bad arguments."};
    auto& o = spec.options;
    o.push_back({"runner", "NAME", "Runner plugin (or runner of --config) to use (default: llama_server)"});
    o.push_back({"binary", "PATH", "llama-server binary (the runner's \"binary\" option)"});
    o.push_back({"runner-option", "KEY=VALUE", "Another runner option; VALUE is JSON or a plain string", true});
    o.push_back({"name", "NAME", "Model name the server answers to (default: the file name without .gguf)"});
    o.push_back({"host", "ADDR", "Address to bind (default: 127.0.0.1)"});
    o.push_back({"port", "N", "Port (default: a free one)"});
    o.push_back({"ctx-size", "N", "Context size"});
    o.push_back({"gpu-layers", "N|auto|all", "Layers to offload to the GPU"});
    o.push_back({"threads", "N", "CPU threads"});
    o.push_back({"arg", "ARG", "Extra argument passed to the server verbatim", true});
    o.push_back({"verbose", "", "Stream the server's log to stderr"});
    o.push_back({"json", "", "Print the server's handle as JSON once it is ready"});
    return {spec, run_model};
}

}  // namespace corral::cli
