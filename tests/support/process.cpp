#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace corral::test {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

// Spawns argv with stdin from /dev/null and `actions` (destroyed here); returns posix_spawn's result.
int spawn_with(const std::vector<std::string>& argv, posix_spawn_file_actions_t& actions, int& pid) {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
    char out_path[] = "/tmp/corral-test-out-XXXXXX";
    char err_path[] = "/tmp/corral-test-err-XXXXXX";
    int out_fd = mkstemp(out_path);
    int err_fd = mkstemp(err_path);
    if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);

    std::vector<std::string> env_strings;
    // `env` replaces what the test's own environment has under the same names (the first one wins in getenv).
    for (char** e = environ; *e; ++e) {
        const std::string_view entry(*e);
        if (!env.count(std::string(entry.substr(0, entry.find('='))))) env_strings.emplace_back(entry);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_copy = argv;
    for (auto& a : argv_copy) args.push_back(a.data());
    args.push_back(nullptr);

    pid_t pid = 0;
    int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out_fd);
    close(err_fd);
    ProcessResult result;
    if (rc == 0) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    unlink(out_path);
    unlink(err_path);
    if (rc != 0) throw std::runtime_error("cannot spawn " + argv.at(0));
    return result;
}

SpawnedProcess::SpawnedProcess(const std::vector<std::string>& argv) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    int rc = spawn_with(argv, actions, pid_);
    close(fds[1]);
    out_fd_ = fds[0];
    if (rc != 0) throw std::runtime_error("cannot spawn " + argv.at(0));
}

SpawnedProcess::SpawnedProcess(const std::vector<std::string>& argv, const std::string& output_file) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (spawn_with(argv, actions, pid_) != 0) throw std::runtime_error("cannot spawn " + argv.at(0));
}

SpawnedProcess::~SpawnedProcess() {
    if (pid_ > 0) kill_and_wait(SIGKILL);
    if (out_fd_ >= 0) close(out_fd_);
}

std::string SpawnedProcess::read_line() {
    for (;;) {
        auto nl = buffer_.find('\n');
        if (nl != std::string::npos) {
            std::string line = buffer_.substr(0, nl);
            buffer_.erase(0, nl + 1);
            return line;
        }
        char chunk[4096];
        ssize_t n = read(out_fd_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            std::string rest;
            rest.swap(buffer_);
            return rest;
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
    }
}

int SpawnedProcess::stop(int sig, std::chrono::milliseconds grace) {
    if (pid_ <= 0) return -1;
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    ::kill(pid_, sig);
    if (pidfd >= 0) {
        pollfd p{pidfd, POLLIN, 0};
        while (::poll(&p, 1, static_cast<int>(grace.count())) < 0 && errno == EINTR) {
        }
        bool exited = p.revents & POLLIN;
        ::close(pidfd);
        if (exited) return kill_and_wait(0);  // signal 0: just reap
    }
    return kill_and_wait(SIGKILL);
}

int SpawnedProcess::kill_and_wait(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
}

std::vector<std::string> proc_list(int64_t pid, const char* file) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/" + file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> out;
    for (std::size_t start = 0; start < text.size();) {
        auto end = text.find('\0', start);
        if (end == std::string::npos) end = text.size();
        out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

std::optional<std::string> environ_of(int64_t pid, const std::string& name) {
    for (const auto& entry : proc_list(pid, "environ")) {
        if (entry.rfind(name + "=", 0) == 0) return entry.substr(name.size() + 1);
    }
    return std::nullopt;
}

std::optional<std::string> argument_after(int64_t pid, const std::string& flag) {
    auto args = proc_list(pid, "cmdline");
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == flag) return args[i + 1];
    }
    return std::nullopt;
}

}  // namespace corral::test
