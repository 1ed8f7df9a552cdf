// The upstream pool's keep-or-close rule, against a local listener: once a new connection to a
// server has waited kStuckAfter for its first header, the server's idle connections are closed, and
// so is one that finishes there meanwhile (each would hold one of llama-server's HTTP threads while
// the new one sits in its backlog); otherwise connections are kept.
#include "proxy/upstream_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;

class UpstreamPoolTest : public ::testing::Test {
protected:
    UpstreamPoolTest() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
        endpoint_ = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }

    std::unique_ptr<UpstreamConnection> get() {
        auto future = asio::co_spawn(io_, pool_.get(endpoint_), asio::use_future);
        io_.restart();
        while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) io_.run_one();
        auto c = future.get();
        accepted_.push_back(acceptor_.accept());  // the server's side of it
        return c;
    }
    // Whether the server's side of the n-th connection saw it closed.
    bool closed_by_corral(std::size_t n) {
        char byte;
        boost::system::error_code ec;
        accepted_[n].non_blocking(true);
        accepted_[n].read_some(asio::buffer(&byte, 1), ec);
        return ec == asio::error::eof;
    }

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::string endpoint_;
    UpstreamPool pool_;
    std::vector<asio::ip::tcp::socket> accepted_;
};

TEST_F(UpstreamPoolTest, ANewConnectionWaitingForItsHeaderGetsTheServerThreadsOfIdleOnes) {
    auto first = get();
    auto second = get();  // the server has not answered it: it may be in the server's backlog
    EXPECT_FALSE(first->reused);
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 2u);
    first->head_received();
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 1u);
    pool_.put(endpoint_, std::move(first));

    // The pool's timer: once the second has waited kStuckAfter, the idle first one is closed.
    io_.restart();
    io_.run_for(UpstreamPool::kStuckAfter * 3);
    EXPECT_EQ(pool_.idle(endpoint_), 0u);
    EXPECT_TRUE(closed_by_corral(0));

    // One that finishes while the second still waits is closed at once.
    auto third = get();
    third->head_received();
    pool_.put(endpoint_, std::move(third));
    EXPECT_EQ(pool_.idle(endpoint_), 0u);
    EXPECT_TRUE(closed_by_corral(2));

    // No one waits any more: connections are kept and reused.
    second->head_received();
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 0u);
    pool_.put(endpoint_, std::move(second));
    EXPECT_EQ(pool_.idle(endpoint_), 1u);
    EXPECT_FALSE(closed_by_corral(1));
    auto again = asio::co_spawn(io_, pool_.get(endpoint_), asio::use_future);
    io_.restart();
    io_.run_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(again.get()->reused);
}

TEST_F(UpstreamPoolTest, AConnectionThatFailsBeforeItsHeaderStopsCounting) {
    auto first = get();
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 1u);
    first.reset();  // the request failed: the connection goes without a header
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 0u);
}

}  // namespace
}  // namespace corral::proxy
