// io_threads: how many an automatic setting means, and the extra threads' lanes.
#include "serve/connection_threads.hpp"

#include <gtest/gtest.h>
#include <boost/asio/post.hpp>

#include <future>

namespace corral::serve {
namespace {

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
    boost::asio::io_context main;
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

}  // namespace
}  // namespace corral::serve
