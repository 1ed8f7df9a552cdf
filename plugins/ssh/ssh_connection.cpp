#include "ssh_connection.hpp"

#include <boost/asio/post.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <future>

namespace corral::ssh {

namespace asio = boost::asio;
using plugin_common::ChildProcess;
using plugin_common::ExitStatus;

namespace {

constexpr const char* kReadyLine = "corral-ready";
constexpr auto kMaxBackoff = std::chrono::seconds(30);

}  // namespace

SshConnection::SshConnection(asio::io_context& io, SshTarget target, StateHandler on_state, WarnHandler warn)
    : io_(io),
      target_(std::move(target)),
      on_state_(std::move(on_state)),
      warn_(std::move(warn)),
      environment_(plugin_common::environment_with()),
      reconnect_timer_(io) {
    // The control socket's path must fit sockaddr_un (108 bytes): a short private directory under
    // $XDG_RUNTIME_DIR or /tmp, never the (possibly long) state directory.
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    std::string base = runtime && *runtime && std::string(runtime).size() < 60 ? runtime : "/tmp";
    std::string templ = base + "/corral-ssh-XXXXXX";
    if (!::mkdtemp(templ.data()))
        throw sdk::Error(sdk::ProcessError::Internal, "cannot create a directory for the ssh control socket under " + base);
    socket_dir_ = templ;
    socket_ = (socket_dir_ / "master").string();
}

SshConnection::~SshConnection() {
    std::shared_ptr<ChildProcess> master;
    {
        std::lock_guard lock(mutex_);
        closing_ = true;
        master = master_;
    }
    std::promise<void> cancelled;
    asio::post(io_, [this, &cancelled] {
        reconnect_timer_.cancel();
        cancelled.set_value();
    });
    cancelled.get_future().wait();
    if (master) {
        master->close_stdin();
        master->stop(std::chrono::seconds(2));
    }
    std::error_code ec;
    std::filesystem::remove_all(socket_dir_, ec);
}

std::string SshConnection::describe() const {
    return "ssh " + target_.host + (target_.port ? " port " + std::to_string(*target_.port) : "");
}

bool SshConnection::up() const {
    std::lock_guard lock(mutex_);
    return up_;
}

std::vector<std::string> SshConnection::common_args(bool master) const {
    // ssh keeps the first value it gets for an option: ours that must hold come first, then the
    // user's, then defaults the user may override.
    std::vector<std::string> a = {
        target_.ssh_binary, "-o", "BatchMode=yes", "-o", "ControlPath=" + socket_, "-o", master ? "ControlMaster=yes" : "ControlMaster=no"};
    if (master) a.insert(a.end(), {"-o", "ControlPersist=no", "-o", "ExitOnForwardFailure=no"});
    if (!target_.config_file.empty()) a.insert(a.end(), {"-F", target_.config_file});
    if (target_.port) a.insert(a.end(), {"-p", std::to_string(*target_.port)});
    if (!target_.user.empty()) a.insert(a.end(), {"-l", target_.user});
    if (!target_.identity_file.empty()) a.insert(a.end(), {"-i", target_.identity_file});
    if (!target_.known_hosts.empty()) a.insert(a.end(), {"-o", "UserKnownHostsFile=" + target_.known_hosts});
    for (const auto& o : target_.options) a.insert(a.end(), {"-o", o});
    auto seconds = std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::seconds>(target_.connect_timeout).count());
    a.insert(a.end(), {"-o", "ConnectTimeout=" + std::to_string(seconds), "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"});
    return a;
}

std::shared_ptr<ChildProcess> SshConnection::spawn_args(const std::vector<std::string>& args, ChildProcess::LineHandler on_line,
                                                        ChildProcess::ExitHandler on_exit) {
    std::vector<std::string> rest(args.begin() + 1, args.end());
    return ChildProcess::spawn(io_, args.front(), rest, environment_, std::move(on_line), std::move(on_exit));
}

void SshConnection::start_master() {
    {
        std::lock_guard lock(mutex_);
        if (closing_ || master_) return;
        master_errors_.clear();
    }
    // A master killed hard leaves its socket behind, and ssh would then run without one.
    std::error_code ec;
    std::filesystem::remove(socket_, ec);
    auto args = common_args(true);
    // The master's own session only tells us it is up, then waits for our stdin to close.
    args.insert(args.end(), {"--", target_.host, std::string("echo ") + kReadyLine + "; exec cat >/dev/null"});
    auto holder = std::make_shared<std::weak_ptr<ChildProcess>>();
    try {
        auto master = ChildProcess::spawn(
            io_, args.front(), std::vector<std::string>(args.begin() + 1, args.end()), environment_,
            [this](const char* stream, const std::string& line) {
                if (std::string_view(stream) == "stdout" && line == kReadyLine) {
                    {
                        std::lock_guard lock(mutex_);
                        up_ = true;
                        ever_up_ = true;
                        backoff_ = std::chrono::milliseconds(250);
                        last_error_.clear();
                    }
                    changed_.notify_all();
                    if (on_state_) on_state_(true);
                } else if (std::string_view(stream) == "stderr" && !line.empty()) {
                    std::lock_guard lock(mutex_);
                    if (master_errors_.size() < 20) master_errors_.push_back(line);
                }
            },
            [this, holder](const ExitStatus&) {
                if (auto m = holder->lock()) on_master_exit(m);
            },
            true);
        *holder = master;
        std::lock_guard lock(mutex_);
        master_ = master;
    } catch (const std::exception& e) {
        {
            std::lock_guard lock(mutex_);
            last_error_ = e.what();
            ++failed_attempts_;
        }
        changed_.notify_all();
    }
}

void SshConnection::on_master_exit(const std::shared_ptr<ChildProcess>& master) {
    bool was_up = false, retry = false;
    {
        std::lock_guard lock(mutex_);
        if (master_ != master) return;
        master_.reset();
        was_up = up_;
        up_ = false;
        auto why = plugin_common::join_nonempty_lines(master_errors_);
        auto status = master->exit_status();
        last_error_ = !why.empty() ? why : "ssh " + (status ? status->describe() : std::string("ended"));
        if (!was_up) ++failed_attempts_;
        retry = ever_up_ && !closing_ && !reconnect_pending_;
        if (retry) reconnect_pending_ = true;
    }
    changed_.notify_all();
    if (was_up && retry) {
        if (warn_) warn_("lost the connection to " + target_.host + " (" + last_error_ + "); reconnecting");
        if (on_state_) on_state_(false);
    }
    if (!retry) return;
    reconnect_timer_.expires_after(backoff_);
    backoff_ = std::min<std::chrono::milliseconds>(backoff_ * 2, kMaxBackoff);
    reconnect_timer_.async_wait([this](boost::system::error_code ec) {
        {
            std::lock_guard lock(mutex_);
            reconnect_pending_ = false;
        }
        if (!ec) start_master();
    });
}

void SshConnection::wait_up(std::chrono::milliseconds timeout, sdk::ProcessError code) {
    std::unique_lock lock(mutex_);
    if (up_) return;
    if (closing_) throw sdk::Error(code, describe() + ": the runner is shutting down");
    const auto attempts = failed_attempts_;
    if (!master_ && !reconnect_pending_) asio::post(io_, [this] { start_master(); });
    bool done = changed_.wait_for(lock, timeout, [&] { return up_ || closing_ || failed_attempts_ != attempts; });
    if (up_) return;
    std::string why = !done ? "no connection after " + std::to_string(timeout.count()) + " ms" : last_error_;
    throw sdk::Error(code, "cannot connect to " + target_.host + " over ssh: " + why);
}

std::shared_ptr<ChildProcess> SshConnection::spawn(const std::string& remote_command, ChildProcess::LineHandler on_line,
                                                   ChildProcess::ExitHandler on_exit) {
    auto args = common_args(false);
    args.insert(args.end(), {"--", target_.host, remote_command});
    return spawn_args(args, std::move(on_line), std::move(on_exit));
}

CommandResult SshConnection::run_args(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                                      const std::optional<std::string>& input) {
    return plugin_common::run_command(io_, args.front(), std::vector<std::string>(args.begin() + 1, args.end()), environment_, timeout,
                                      input);
}

CommandResult SshConnection::run(const std::string& remote_command, std::chrono::milliseconds timeout,
                                 const std::optional<std::string>& input) {
    auto args = common_args(false);
    args.insert(args.end(), {"--", target_.host, remote_command});
    return run_args(args, timeout, input);
}

namespace {

std::vector<std::string> forward_args(std::vector<std::string> args, const std::string& host, uint16_t local_port,
                                      const std::string& remote_host, uint16_t remote_port, bool cancel) {
    bool v6 = remote_host.find(':') != std::string::npos;
    args.insert(args.end(), {"-O", cancel ? "cancel" : "forward", "-L",
                             "127.0.0.1:" + std::to_string(local_port) + ":" + (v6 ? "[" + remote_host + "]" : remote_host) + ":" +
                                 std::to_string(remote_port),
                             "--", host});
    return args;
}

}  // namespace

void SshConnection::forward(uint16_t local_port, const std::string& remote_host, uint16_t remote_port, bool cancel,
                            std::function<void(CommandResult)> done) {
    auto result = std::make_shared<CommandResult>();
    auto args = forward_args(common_args(false), target_.host, local_port, remote_host, remote_port, cancel);
    try {
        spawn_args(
            args, [result](const char*, const std::string& line) { result->err.push_back(line); },
            [result, done](const ExitStatus& status) {
                result->code = status.code;
                if (done) done(*result);
            });
    } catch (const std::exception& e) {
        result->err.push_back(e.what());
        if (done) asio::post(io_, [done, result] { done(*result); });
    }
}

CommandResult SshConnection::forward_blocking(uint16_t local_port, const std::string& remote_host, uint16_t remote_port, bool cancel) {
    return run_args(forward_args(common_args(false), target_.host, local_port, remote_host, remote_port, cancel), std::chrono::seconds(10));
}

}  // namespace corral::ssh
