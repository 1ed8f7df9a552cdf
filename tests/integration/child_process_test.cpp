// plugin_common::ChildProcess with a real child: a child that floods its output (the reader
// batches it) and is then killed still has every line delivered and its exit reported once.
#include "child_process.hpp"

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <future>
#include <thread>

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

}  // namespace
}  // namespace corral::plugin_common
