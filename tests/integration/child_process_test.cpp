// plugin_common::ChildProcess with a real child: a child that floods its output (the reader
// batches it) and is then killed still has every line delivered and its exit reported once; a
// settled child's lines come in batches.
#include "child_process.hpp"
#include "output_pacer.hpp"

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace corral::plugin_common {
namespace {

TEST(ChildProcess, AFloodingChildThatIsKilledHasAllItsLinesAndItsExitReportedOnce) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    std::atomic<int> lines{0}, exits{0};
    std::promise<ExitStatus> exited;
    auto child = ChildProcess::spawn(
        io, "/bin/sh", {"-c", "seq 1 20000; exec sleep 30"}, {"PATH=/usr/bin:/bin"}, [&](const char*, const std::string&) { ++lines; },
        [&](const ExitStatus& s) {
            if (++exits == 1) exited.set_value(s);
        });
    // 20,000 lines at once: far past the flood threshold, so the pipe is being read in batches.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (lines < 20000 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(lines, 20000);
    ::kill(child->pid(), SIGKILL);
    auto status = exited.get_future();
    ASSERT_EQ(status.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_EQ(status.get().signal, SIGKILL);
    EXPECT_TRUE(child->exited());
    EXPECT_EQ(lines, 20000);
    work.reset();
    io.stop();
    runner.join();
    EXPECT_EQ(exits, 1);
}

// Once settled, a line that follows another waits for its batch: it comes no sooner than
// kSettledDelay after the read before it (a lower bound: a slow machine only makes it later). The
// child echoes what the test writes to its stdin, so each line is written when the test says.
// Measured after the first line only, which the reactor's single read brought: a batch reads until
// the pipe is empty, so a line written while it drains (the test answers each line at once, and
// on a loaded machine the child echoes within that loop) rightly comes with it.
TEST(ChildProcess, ASettledChildsLinesThatFollowEachOtherComeInBatches) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    using clock = std::chrono::steady_clock;
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::pair<std::string, clock::time_point>> lines;
    std::promise<void> exited;
    auto child = ChildProcess::spawn(
        io, "/bin/sh", {"-c", "while read -r l; do echo \"$l\"; done"}, {"PATH=/usr/bin:/bin"},
        [&](const char*, const std::string& line) {
            std::lock_guard lock(mutex);
            lines.emplace_back(line, clock::now());
            changed.notify_all();
        },
        [&](const ExitStatus&) { exited.set_value(); }, true);
    child->settle_output();
    auto echo = [&](const std::string& text) {
        ASSERT_TRUE(child->write_stdin(text + "\n"));
        std::unique_lock lock(mutex);
        ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(20), [&] { return !lines.empty() && lines.back().first == text; }));
    };
    echo("a");  // after a quiet spell: read at once (not measurable here: an upper bound)
    echo("b");
    echo("c");
    child->close_stdin();  // the shell's read ends, and so does the child
    const bool done = exited.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready;
    work.reset();
    io.stop();
    runner.join();
    ASSERT_TRUE(done);
    std::lock_guard lock(mutex);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_GE(lines[1].second - lines[0].second, OutputPacer::kSettledDelay);
    EXPECT_EQ(lines[2].first, "c");  // batches go on, and every line comes
}

// A child ignores SIGPIPE (a server outlives a host that died, writing its log into the broken
// pipe), whether this process ignores it (corral serve and run: the child is spawned as it is) or
// not (a shell ignores it, then execs the child).
TEST(ChildProcess, AChildIgnoresSigpipeWhetherTheHostDoesOrNot) {
    for (const bool host_ignores : {false, true}) {
        SCOPED_TRACE(host_ignores ? "host ignores SIGPIPE" : "host does not");
        const auto previous = std::signal(SIGPIPE, host_ignores ? SIG_IGN : SIG_DFL);
        boost::asio::io_context io;
        auto work = boost::asio::make_work_guard(io);
        std::thread runner([&] { io.run(); });
        std::mutex mutex;
        std::string ignored;
        std::promise<void> exited;
        auto child = ChildProcess::spawn(
            io, "/bin/grep", {"^SigIgn:", "/proc/self/status"}, {"PATH=/usr/bin:/bin"},
            [&](const char*, const std::string& line) {
                std::lock_guard lock(mutex);
                ignored = line.substr(line.find_first_not_of(" \t", 7));
            },
            [&](const ExitStatus&) { exited.set_value(); });
        const bool done = exited.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready;
        std::signal(SIGPIPE, previous);
        work.reset();
        io.stop();
        runner.join();
        ASSERT_TRUE(done);
        std::lock_guard lock(mutex);
        ASSERT_FALSE(ignored.empty());
        EXPECT_TRUE(std::stoull(ignored, nullptr, 16) & (1ull << (SIGPIPE - 1))) << "SigIgn: " << ignored;
    }
}

}  // namespace
}  // namespace corral::plugin_common
