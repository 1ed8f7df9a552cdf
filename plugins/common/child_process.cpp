#include "child_process.hpp"

#include "output_pacer.hpp"

#include <corral/sdk/error.hpp>

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <fcntl.h>

#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>

namespace corral::plugin_common {

namespace asio = boost::asio;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxLine = 64 * 1024;

// posix_spawn, not fork: a forked child of a multithreaded process may only call async-signal-safe
// functions before exec, and Boost.Process v2 allocates there (seen: children hung before exec on an
// allocator or Asio reactor lock another thread held at fork time). glibc's posix_spawn runs the child
// without allocating. The child gets its own process group (a stop reaches everything it starts, and a
// Ctrl-C aimed at the host's group does not reach it behind the host's back), an empty signal mask
// and default dispositions (a host that blocks SIGTERM to read it from a signalfd must not pass that
// on), except SIGPIPE, which the child ignores: a server whose host died then survives logging into
// the broken pipe, and a restarted host can adopt it. posix_spawn cannot set a signal to be ignored,
// but a child keeps an ignored signal it is not told to reset: where this process ignores SIGPIPE
// (`corral serve` and `corral run` do), a child named by its path is spawned as it is; else /bin/sh ignores it
// and execs the child (1.6 ms more per start here). The arguments reach the child as "$@": the shell
// never interprets them.
constexpr const char* kTrampoline = "trap '' PIPE; exec \"$0\" \"$@\"";

bool ignoring_sigpipe() {
    struct sigaction current {};
    return ::sigaction(SIGPIPE, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_IGN;
}

// Spawns `binary args...` with stdout/stderr on the given descriptors; returns the pid or throws.
int spawn_child(const std::filesystem::path& binary, const std::vector<std::string>& args, const std::vector<std::string>& env, int in_fd,
                int out_fd, int err_fd) {
    // A name without a '/' is looked up in the child's PATH, which the shell's exec does.
    const bool direct = ignoring_sigpipe() && binary.string().find('/') != std::string::npos;
    std::vector<std::string> argv_strings = {binary.string()};
    if (!direct) argv_strings.insert(argv_strings.begin(), {"/bin/sh", "-c", kTrampoline});
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (auto& a : argv_strings) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings = env;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in_fd >= 0)
        posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
    else
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    // The child inherits nothing above stderr, whether or not its opener set close-on-exec.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (direct) sigdelset(&all, SIGPIPE);  // kept ignored
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, direct ? binary.c_str() : "/bin/sh", &actions, &attr, argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw sdk::Error(sdk::ProcessError::StartFailed, "cannot start " + binary.string() + ": " + std::strerror(rc));
    return pid;
}

void signal_group(int pid, int sig) noexcept {
    if (pid <= 0) return;
    // Our servers lead their own group; for a foreign pid fall back to the process alone.
    if (::getpgid(pid) == pid)
        ::kill(-pid, sig);
    else
        ::kill(pid, sig);
}

}  // namespace

ExitStatus exit_status_from_code(int code) {
    ExitStatus s;
    if (code > 128 && code < 128 + 65)
        s.signal = code - 128;
    else
        s.code = code;
    return s;
}

std::string ExitStatus::describe() const {
    if (signal) return "killed by signal " + std::to_string(*signal) + " (" + ::strsignal(*signal) + ")";
    if (code) return "exited with status " + std::to_string(*code);
    return "exited";
}

struct ChildProcess::Impl {
    asio::io_context& ioc;
    bool is_child = false;                                // we started it (and so reap it), or adopted it
    std::optional<asio::posix::stream_descriptor> pidfd;  // readable once the process has exited
    asio::readable_pipe out{ioc};
    asio::readable_pipe err{ioc};
    // A flooded pipe's wait for its next batch (read_lines); cut short when the process exits, so
    // its last output and the exit are reported at once.
    asio::steady_timer out_batch{ioc}, err_batch{ioc};
    asio::steady_timer kill_timer{ioc};
    LineHandler on_line;
    ExitHandler on_exit;
    std::atomic<int> stdin_fd{-1};     // our end of the child's stdin pipe, when it has one
    std::atomic<bool> settled{false};  // settle_output(): its output may wait for its batch

    mutable std::mutex mutex;
    std::optional<ExitStatus> status;  // set once the process is gone
    std::promise<void> gone;
    std::shared_future<void> gone_future = gone.get_future().share();
    int open_streams = 0;              // I/O thread only
    std::optional<ExitStatus> reaped;  // I/O thread only: exit seen, output maybe still draining

    explicit Impl(asio::io_context& io) : ioc(io) {}

    void finish_if_done() {
        if (!reaped || open_streams > 0) return;
        {
            std::lock_guard lock(mutex);
            if (status) return;
            status = reaped;
        }
        kill_timer.cancel();
        // Its descriptors go with it (the object may be kept for its status): nothing is waiting on them now.
        boost::system::error_code ignored;
        out.close(ignored);
        err.close(ignored);
        if (pidfd) pidfd->close(ignored);
        if (on_exit) on_exit(*reaped);
        gone.set_value();
    }
};

ChildProcess::ChildProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ChildProcess::~ChildProcess() {
    close_stdin();
    // A child must not outlive the object that supervises it unless it exited already.
    if (impl_ && impl_->is_child && !exited()) {
        kill_now();
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
    }
}

namespace {

// Opens a pidfd for `pid`: readable once the process exits (zombie or gone).
int open_pidfd(int pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

std::shared_ptr<ChildProcess> ChildProcess::spawn(asio::io_context& ioc, const std::filesystem::path& binary,
                                                  const std::vector<std::string>& args, const std::vector<std::string>& env,
                                                  LineHandler on_line, ExitHandler on_exit, bool open_stdin) {
    auto impl = std::make_unique<Impl>(ioc);
    impl->is_child = true;
    impl->on_line = std::move(on_line);
    impl->on_exit = std::move(on_exit);
    // Our own pipes, close-on-exec, so a server started at the same time on another thread never
    // inherits them (it would hold this server's output open after it exits).
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
        throw sdk::Error(sdk::ProcessError::ResourceExhausted, "pipe2 failed: " + std::string(std::strerror(errno)));
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(out[0]), ::close(out[1]);
        throw sdk::Error(sdk::ProcessError::ResourceExhausted, "pipe2 failed: " + std::string(std::strerror(errno)));
    }
    // Room for the output written while the reader batches a flood (read_lines); where the
    // system's pipe-max-size allows less, the default stays.
    ::fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
    ::fcntl(err[0], F_SETPIPE_SZ, 1 << 20);
    impl->out.assign(out[0]);
    impl->err.assign(err[0]);
    int in[2] = {-1, -1};
    if (open_stdin && ::pipe2(in, O_CLOEXEC) != 0) {
        ::close(out[1]), ::close(err[1]);
        throw sdk::Error(sdk::ProcessError::ResourceExhausted, "pipe2 failed: " + std::string(std::strerror(errno)));
    }
    int pid = -1;
    try {
        pid = spawn_child(binary, args, env, in[0], out[1], err[1]);
    } catch (...) {
        for (int fd : {in[0], in[1], out[1], err[1]})
            if (fd >= 0) ::close(fd);
        throw;
    }
    for (int fd : {in[0], out[1], err[1]})
        if (fd >= 0) ::close(fd);
    impl->stdin_fd = in[1];
    int fd = open_pidfd(pid);
    if (fd < 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw sdk::Error(sdk::ProcessError::StartFailed, "pidfd_open failed: " + std::string(std::strerror(errno)));
    }
    impl->pidfd.emplace(ioc, fd);
    auto self = std::shared_ptr<ChildProcess>(new ChildProcess(std::move(impl)));
    self->pid_ = pid;
    self->start_watching();
    return self;
}

std::shared_ptr<ChildProcess> ChildProcess::adopt(asio::io_context& ioc, int pid, ExitHandler on_exit) {
    int fd = open_pidfd(pid);
    if (fd < 0) throw sdk::Error(sdk::ProcessError::NotRunning, "process " + std::to_string(pid) + " is gone");
    auto impl = std::make_unique<Impl>(ioc);
    impl->on_exit = std::move(on_exit);
    impl->pidfd.emplace(ioc, fd);
    auto self = std::shared_ptr<ChildProcess>(new ChildProcess(std::move(impl)));
    self->pid_ = pid;
    self->start_watching();
    return self;
}

// Not a lambda: a coroutine's frame keeps its parameters, while a lambda's captures die with the closure.
asio::awaitable<void> ChildProcess::read_lines(std::shared_ptr<ChildProcess> self, asio::readable_pipe& pipe, asio::steady_timer& batch,
                                               const char* name) {
    // Whatever the pipe holds in one read (a chatty server writes line by line), split here: every
    // complete line is delivered, the rest waits for its end (an over-long one is cut at kMaxLine).
    std::array<char, 64 * 1024> chunk;
    std::string buffer;
    std::string line;  // each line handed on, in storage that is reused (no allocation per line)
    auto deliver = [&](std::string_view text) {
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
        line.assign(text.data(), text.size());
        if (self->impl_->on_line) self->impl_->on_line(name, line);
    };
    // Every complete line in `buffer` is delivered; an over-long one is cut at kMaxLine.
    auto take = [&](std::size_t n) {
        buffer.append(chunk.data(), n);
        std::size_t start = 0, lines = 0;
        for (auto nl = buffer.find('\n'); nl != std::string::npos; nl = buffer.find('\n', start)) {
            deliver(std::string_view(buffer).substr(start, nl + 1 - start));
            start = nl + 1;
            ++lines;
        }
        buffer.erase(0, start);
        if (buffer.size() >= kMaxLine) {
            deliver(buffer);
            buffer.clear();
        }
        return lines;
    };
    // When to read as output comes and when in batches (with the pipe out of the reactor, so the
    // lines written meanwhile wake no one): OutputPacer.
    OutputPacer pacer(std::chrono::steady_clock::now());
    std::optional<OutputPacer::clock::duration> wait;
    for (;;) {
        if (wait) {
            struct Released {  // the descriptor, out of the reactor; closed if the reader is destroyed with it
                int fd;
                ~Released() {
                    if (fd >= 0) ::close(fd);
                }
            } released{pipe.release()};
            ::fcntl(released.fd, F_SETFL, ::fcntl(released.fd, F_GETFL) | O_NONBLOCK);
            bool ended = false;
            while (wait && !ended) {
                if (!self->impl_->reaped) {  // an exited process's output is read to its end now
                    batch.expires_after(*wait);
                    co_await batch.async_wait(kAwait);
                }
                std::size_t lines = 0;
                for (;;) {
                    const auto n = ::read(released.fd, chunk.data(), chunk.size());
                    if (n > 0) {
                        lines += take(static_cast<std::size_t>(n));
                        continue;
                    }
                    ended = n == 0 || (errno != EAGAIN && errno != EINTR);
                    if (n < 0 && errno == EINTR) continue;
                    break;
                }
                wait = pacer.after_batch(lines, std::chrono::steady_clock::now());
            }
            boost::system::error_code ignored;
            pipe.assign(std::exchange(released.fd, -1), ignored);  // the pipe closes it with the process
            if (ended) break;
        }
        auto [ec, n] = co_await pipe.async_read_some(asio::buffer(chunk), kAwait);
        if (ec) break;
        if (self->impl_->settled.load(std::memory_order_relaxed)) pacer.settle();
        wait = pacer.after_read(take(n), std::chrono::steady_clock::now());
    }
    if (!buffer.empty() && self->impl_->on_line) self->impl_->on_line(name, buffer);
    --self->impl_->open_streams;
    self->impl_->finish_if_done();
}

void ChildProcess::start_watching() {
    auto self = shared_from_this();
    asio::post(impl_->ioc, [self] {
        Impl& d = *self->impl_;
        if (d.is_child) {
            d.open_streams = 2;
            asio::co_spawn(d.ioc, read_lines(self, d.out, d.out_batch, "stdout"), asio::detached);
            asio::co_spawn(d.ioc, read_lines(self, d.err, d.err_batch, "stderr"), asio::detached);
        }
        d.pidfd->async_wait(asio::posix::stream_descriptor::wait_read, [self](boost::system::error_code) {
            Impl& i = *self->impl_;
            ExitStatus s;
            if (i.is_child) {
                // Our child: reap it, which also gives its status.
                int native = 0;
                pid_t r;
                while ((r = ::waitpid(self->pid_, &native, 0)) < 0 && errno == EINTR) {
                }
                if (r == self->pid_ && WIFSIGNALED(native))
                    s.signal = WTERMSIG(native);
                else if (r == self->pid_ && WIFEXITED(native))
                    s.code = WEXITSTATUS(native);
            }
            // An adopted process is not our child: its status went to its real parent.
            i.reaped = s;
            i.out_batch.cancel();
            i.err_batch.cancel();
            i.finish_if_done();
        });
    });
}

bool ChildProcess::exited() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->status.has_value();
}

std::optional<ExitStatus> ChildProcess::exit_status() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->status;
}

bool ChildProcess::write_stdin(std::string_view data) noexcept {
    const int fd = impl_ ? impl_->stdin_fd.load() : -1;
    if (fd < 0) return false;
    // SIGPIPE is blocked in this thread while writing, and one raised by it is consumed.
    sigset_t pipe_set, old_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    ::sigpending(&pending);
    const bool already_pending = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    bool ok = true;
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    if (!ok && errno == EPIPE && !already_pending) {
        const timespec zero{0, 0};
        ::sigtimedwait(&pipe_set, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
    return ok;
}

void ChildProcess::close_stdin() noexcept {
    int fd = impl_ ? impl_->stdin_fd.exchange(-1) : -1;
    if (fd >= 0) ::close(fd);
}

void ChildProcess::settle_output() noexcept {
    impl_->settled.store(true, std::memory_order_relaxed);
}

void ChildProcess::kill_now() noexcept {
    signal_group(pid_, SIGKILL);
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
    if (exited()) return;
    auto self = shared_from_this();
    asio::post(impl_->ioc, [self, grace] {
        if (self->exited()) return;
        signal_group(self->pid_, SIGTERM);
        self->impl_->kill_timer.expires_after(grace);
        self->impl_->kill_timer.async_wait([self](boost::system::error_code ec) {
            if (!ec && !self->exited()) signal_group(self->pid_, SIGKILL);
        });
    });
    impl_->gone_future.wait();
}

}  // namespace corral::plugin_common
