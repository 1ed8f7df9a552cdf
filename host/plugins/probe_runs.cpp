#include "plugins/probe_runs.hpp"

#include "logging/logging.hpp"

#include <boost/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

extern char** environ;

namespace corral::plugins {

std::vector<ProbeRun> run_probes(const PluginRegistry& registry, const std::vector<std::string>& wanted) {
    std::vector<ProbeRun> runs;
    for (const auto& plugin : registry.plugins()) {
        if (plugin->info().kind != PluginKind::Probe) continue;
        if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), plugin->info().name) == wanted.end()) continue;
        ProbeRun run;
        run.plugin = plugin->info().name;
        try {
            run.report = plugin->create_probe({})->probe();
        } catch (const std::exception& e) {
            // A broken probe is reported, never fatal: the other backends still count.
            run.failed = true;
            run.report.backend = plugin->info().name;
            run.report.available = false;
            run.report.reason = std::string("probe failed: ") + e.what();
        }
        runs.push_back(std::move(run));
    }
    return runs;
}

namespace {

// Runs argv, returns its stdout, or nullopt if it cannot run, dies, exits above 1 or takes over `timeout`.
std::optional<std::string> capture(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // the probe child inherits none of corral's sockets
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        return std::nullopt;
    }
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        pollfd p{fds[0], POLLIN, 0};
        int ready = left > 0 ? ::poll(&p, 1, static_cast<int>(left)) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            timed_out = true;
            break;
        }
        char buf[65536];
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // 1: it ran, and a probe broke (the report says which).
    if (timed_out || !WIFEXITED(status) || WEXITSTATUS(status) > 1) return std::nullopt;
    return out;
}

}  // namespace

std::vector<ProbeRun> run_probes_isolated(const PluginRegistry& registry, const std::vector<std::string>& wanted) {
    auto log = logging::get("probes");
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    std::vector<std::string> argv = {self.string(), "probe", "--json"};
    std::set<std::string> dirs;
    for (const auto& plugin : registry.plugins()) {
        if (plugin->info().kind == PluginKind::Probe) dirs.insert(plugin->info().path.parent_path().string());
    }
    for (const auto& d : dirs) argv.insert(argv.end(), {"--plugin-dir", d});
    for (const auto& w : wanted) argv.insert(argv.end(), {"--only", w});
    if (!ec && self.filename() == "corral" && !dirs.empty()) {
        if (auto out = capture(argv, std::chrono::seconds(60))) {
            try {
                std::vector<ProbeRun> runs;
                auto v = boost::json::parse(*out);
                for (const auto& item : v.at("probes").as_array()) {
                    ProbeRun run;
                    run.report = sdk::from_json<sdk::ProbeReport>(item, "probes[]");
                    if (const auto* p = item.as_object().if_contains("plugin"); p && p->is_string())
                        run.plugin = std::string(p->get_string());
                    run.failed = !run.report.available && run.report.reason.rfind("probe failed: ", 0) == 0;
                    runs.push_back(std::move(run));
                }
                return runs;
            } catch (const std::exception& e) {
                log->warn("cannot read the probe process's report ({}); probing in this process", e.what());
            }
        } else {
            log->warn("the probe process failed or hung; probing in this process");
        }
    }
    return run_probes(registry, wanted);
}

}  // namespace corral::plugins
