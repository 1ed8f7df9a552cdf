// io_threads: how many an automatic setting means, and the extra threads' lanes.
#include "serve/connection_threads.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>

namespace corral::serve {
namespace {

namespace asio = boost::asio;
using Executor = asio::io_context::executor_type;

// Counts the coroutine frames destroyed (one of these lives in each).
struct FrameCount {
    std::atomic<int>* destroyed;
    ~FrameCount() { ++*destroyed; }
};

// Waits on `here` for a timer that never fires; `waiting` says it got there.
asio::awaitable<void> wait_forever(Executor here, std::atomic<int>* destroyed, std::atomic<bool>* waiting) {
    FrameCount frame{destroyed};
    asio::steady_timer timer(here, asio::steady_timer::time_point::max());
    *waiting = true;
    co_await timer.async_wait(asio::use_awaitable);
}

// Waits for wait_forever() on `there`, as a session waits for its route on the main lane.
asio::awaitable<void> wait_elsewhere(Executor there, std::atomic<int>* destroyed, std::atomic<bool>* waiting) {
    FrameCount frame{destroyed};
    co_await asio::co_spawn(there, wait_forever(there, destroyed, waiting), asio::use_awaitable);
}

// Waits for wait_elsewhere(`back`) on `there`: three coroutines, crossing lanes twice.
asio::awaitable<void> wait_across(Executor there, Executor back, std::atomic<int>* destroyed, std::atomic<bool>* waiting) {
    FrameCount frame{destroyed};
    co_await asio::co_spawn(there, wait_elsewhere(back, destroyed, waiting), asio::use_awaitable);
}

TEST(IoThreads, AutomaticIsHalfTheCoresFromOneToEight) {
    EXPECT_EQ(io_threads_for(0, 0), 1u);  // hardware_concurrency() may not know
    EXPECT_EQ(io_threads_for(0, 1), 1u);
    EXPECT_EQ(io_threads_for(0, 2), 1u);
    EXPECT_EQ(io_threads_for(0, 4), 2u);
    EXPECT_EQ(io_threads_for(0, 16), 8u);
    EXPECT_EQ(io_threads_for(0, 128), 8u);
    EXPECT_EQ(io_threads_for(3, 2), 3u);  // what the config says goes
}

TEST(IoThreads, LaneZeroIsTheMainThreadAndTheOthersRunTheirOwn) {
    IoContext main;
    proxy::UpstreamPool main_pool;
    ConnectionThreads threads(main, main_pool, 3);
    const auto& lanes = threads.lanes();
    ASSERT_EQ(lanes.size(), 3u);
    EXPECT_TRUE(lanes[0].main);
    EXPECT_EQ(lanes[0].pool, &main_pool);
    for (std::size_t i = 1; i < lanes.size(); ++i) {
        EXPECT_FALSE(lanes[i].main);
        EXPECT_NE(lanes[i].pool, &main_pool);
        std::promise<std::thread::id> ran;
        boost::asio::post(lanes[i].executor, [&] { ran.set_value(std::this_thread::get_id()); });
        auto id = ran.get_future();
        ASSERT_EQ(id.wait_for(std::chrono::seconds(5)), std::future_status::ready);
        EXPECT_NE(id.get(), std::this_thread::get_id());
    }
    threads.drop("http://127.0.0.1:1");  // posted to each lane: no pool is touched from here
    threads.stop();
    threads.stop();  // twice is fine (the destructor stops too)
}

// What ~Service does at exit: coroutines on either side of a lane's hop (a session on an extra lane
// waiting for its route on the main one, that route waiting for forward() back on the extra lane,
// and the other way round) are all destroyed while both contexts exist. Destroying the contexts one
// after the other instead frees a context the other's frames still hold work on (ASan sees it).
TEST(IoThreads, WorkThatCrossesLanesIsDestroyedWhileEveryContextExists) {
    proxy::UpstreamPool main_pool;
    std::unique_ptr<ConnectionThreads> threads;  // destroyed after `main`, as in Service
    IoContext main{1};
    threads = std::make_unique<ConnectionThreads>(main, main_pool, 2);
    const auto extra = threads->lanes()[1].executor;
    std::atomic<int> destroyed = 0;
    std::atomic<bool> from_extra = false, from_main = false;
    // Extra -> main -> extra, ending on the extra lane's timer; main -> extra -> main, on main's.
    asio::co_spawn(extra, wait_across(main.get_executor(), extra, &destroyed, &from_extra), asio::detached);
    asio::co_spawn(main, wait_across(extra, main.get_executor(), &destroyed, &from_main), asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(from_extra && from_main) && std::chrono::steady_clock::now() < deadline) {
        if (main.stopped()) main.restart();
        main.run_one_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(from_extra && from_main);

    threads->destroy_pending();
    EXPECT_EQ(destroyed.load(), 6) << "every frame of both chains";
}

}  // namespace
}  // namespace corral::serve
