// One child process of a runner (a llama-server, an ssh client): spawned in its own process group with
// its output read line by line, or adopted from a previous host. Its exit is learnt from the OS (pidfd), never by polling. All
// asynchronous work runs on the runner's I/O context; public methods are safe from other threads.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/readable_pipe.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral::plugin_common {

struct ExitStatus {
    std::optional<int> code;    // exit code, when it exited normally
    std::optional<int> signal;  // signal, when one killed it
    std::string describe() const;
};

// A status as a shell's `$?` or a container engine reports it: 128 + N means killed by signal N.
ExitStatus exit_status_from_code(int code);

class ChildProcess : public std::enable_shared_from_this<ChildProcess> {
public:
    using LineHandler = std::function<void(const char* stream, const std::string& line)>;
    using ExitHandler = std::function<void(const ExitStatus&)>;

    // Starts `binary args...` (a path, or a name looked up in PATH) with `env` (the complete
    // environment, "KEY=VALUE"). `on_line` gets every line of stdout/stderr (valid for the call: its
    // storage is reused for the next line); `on_exit` runs once when the process is gone and its
    // output is read. Both run on the I/O thread. Its stdin is /dev/null, or with `open_stdin` a pipe
    // that stays open until close_stdin() (for a child that must run until told, such as an ssh
    // master). Throws sdk::Error(StartFailed) if it cannot be spawned.
    static std::shared_ptr<ChildProcess> spawn(boost::asio::io_context& ioc, const std::filesystem::path& binary,
                                               const std::vector<std::string>& args, const std::vector<std::string>& env,
                                               LineHandler on_line, ExitHandler on_exit, bool open_stdin = false);

    // Watches a process this host did not start. Throws sdk::Error(NotRunning) if it is gone.
    static std::shared_ptr<ChildProcess> adopt(boost::asio::io_context& ioc, int pid, ExitHandler on_exit);

    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    int pid() const noexcept { return pid_; }
    bool exited() const;
    std::optional<ExitStatus> exit_status() const;

    // SIGTERM to the process group, SIGKILL after `grace`; returns once the process is gone.
    // Not from the I/O thread.
    void stop(std::chrono::milliseconds grace);

    // SIGKILL to the process group, without waiting.
    void kill_now() noexcept;

    // Writes all of `data` to the stdin pipe (blocking; not from the I/O thread). False when there
    // is no pipe or the child closed it. A closed pipe never raises SIGPIPE in the host.
    bool write_stdin(std::string_view data) noexcept;
    // Closes the stdin pipe (EOF for the child); nothing without one.
    void close_stdin() noexcept;

    // The process is up and nothing waits on its next line (a runner's server is ready): from now on
    // output that keeps coming is read in batches, at most every 25 ms, so a busy server's log wakes
    // the runner's thread and the host some 40 times a second instead of every few lines. A line after
    // a quiet spell and the output before an exit are still read at once (OutputPacer).
    void settle_output() noexcept;

private:
    struct Impl;
    explicit ChildProcess(std::unique_ptr<Impl> impl);
    void start_watching();
    static boost::asio::awaitable<void> read_lines(std::shared_ptr<ChildProcess> self, boost::asio::readable_pipe& pipe,
                                                   boost::asio::steady_timer& batch, const char* name);

    std::unique_ptr<Impl> impl_;
    int pid_ = -1;
};

}  // namespace corral::plugin_common
