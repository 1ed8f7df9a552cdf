// One multiplexed OpenSSH connection to a remote host: a ControlMaster run as our child (its loss is
// learnt from its exit, not by polling), commands and port forwards through it, and reconnection
// with backoff once it has been up. The system ssh client is used as it is, so ~/.ssh/config, agents,
// ProxyJump and known_hosts behave as users expect; only BatchMode (no prompts) and the control
// socket are forced.
#pragma once

#include "child_process.hpp"
#include "run_command.hpp"
#include "ssh_options.hpp"

#include <corral/sdk/error.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace corral::ssh {

// A command's outcome; code 255 is ssh's own failure (connection, authentication).
using CommandResult = plugin_common::CommandOutput;

class SshConnection {
public:
    // `on_state(up)` runs on the I/O thread whenever the connection comes up or is lost.
    using StateHandler = std::function<void(bool up)>;
    using WarnHandler = std::function<void(const std::string&)>;

    SshConnection(boost::asio::io_context& io, SshTarget target, StateHandler on_state, WarnHandler warn);
    ~SshConnection();
    SshConnection(const SshConnection&) = delete;
    SshConnection& operator=(const SshConnection&) = delete;

    // Returns once the connection is up: at once, after the reconnection in progress, or after a new
    // attempt. Throws sdk::Error(`code`) naming the host and what ssh said. Not from the I/O thread.
    void wait_up(std::chrono::milliseconds timeout, sdk::ProcessError code);
    bool up() const;
    std::string describe() const;  // "ssh host" for messages

    // Runs `remote_command` through the connection; lines go to `on_line`, `on_exit` runs once at the end.
    std::shared_ptr<plugin_common::ChildProcess> spawn(const std::string& remote_command, plugin_common::ChildProcess::LineHandler on_line,
                                                       plugin_common::ChildProcess::ExitHandler on_exit);

    // Runs `remote_command` and waits for it (killed after `timeout`). Not from the I/O thread.
    // With `input`, the remote command reads it on its stdin.
    CommandResult run(const std::string& remote_command, std::chrono::milliseconds timeout,
                      const std::optional<std::string>& input = std::nullopt);

    // ssh -O forward (or cancel) -L 127.0.0.1:<local_port>:<remote_host>:<remote_port> on the master.
    // `done` runs on the I/O thread with the result.
    void forward(uint16_t local_port, const std::string& remote_host, uint16_t remote_port, bool cancel,
                 std::function<void(CommandResult)> done);
    // The same, waiting. Not from the I/O thread.
    CommandResult forward_blocking(uint16_t local_port, const std::string& remote_host, uint16_t remote_port, bool cancel);

private:
    std::vector<std::string> common_args(bool master) const;
    void start_master();  // I/O thread
    void on_master_exit(const std::shared_ptr<plugin_common::ChildProcess>& master);
    std::shared_ptr<plugin_common::ChildProcess> spawn_args(const std::vector<std::string>& args,
                                                            plugin_common::ChildProcess::LineHandler on_line,
                                                            plugin_common::ChildProcess::ExitHandler on_exit);
    CommandResult run_args(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                           const std::optional<std::string>& input = std::nullopt);

    boost::asio::io_context& io_;
    SshTarget target_;
    StateHandler on_state_;
    WarnHandler warn_;
    std::filesystem::path socket_dir_;  // private (0700) directory holding the control socket
    std::string socket_;
    std::vector<std::string> environment_;
    boost::asio::steady_timer reconnect_timer_;
    std::chrono::milliseconds backoff_{250};

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::shared_ptr<plugin_common::ChildProcess> master_;
    bool up_ = false;
    bool ever_up_ = false;
    bool reconnect_pending_ = false;
    bool closing_ = false;
    uint64_t failed_attempts_ = 0;
    std::vector<std::string> master_errors_;  // the current attempt's stderr
    std::string last_error_;
};

}  // namespace corral::ssh
