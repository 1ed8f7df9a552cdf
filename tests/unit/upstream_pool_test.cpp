// The upstream pool's keep-or-close rule, against a local listener: a connection that finishes
// while a new one to the same server still waits for its first header is closed (it would hold one
// of llama-server's HTTP threads while the new one sits in its backlog); otherwise it is kept.
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
        io_.run();
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

TEST_F(UpstreamPoolTest, AConnectionThatFinishesWhileANewOneWaitsForItsHeaderIsClosed) {
    auto first = get();
    auto second = get();
    EXPECT_FALSE(first->reused);
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 2);
    first->head_received();
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 1);
    pool_.put(endpoint_, std::move(first));  // the second still waits: closed, not pooled
    EXPECT_TRUE(closed_by_corral(0));
    auto third = get();
    EXPECT_FALSE(third->reused);

    second->head_received();
    third->head_received();
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 0);
    pool_.put(endpoint_, std::move(second));  // nothing waits: kept
    EXPECT_FALSE(closed_by_corral(1));
    auto again = asio::co_spawn(io_, pool_.get(endpoint_), asio::use_future);
    io_.restart();
    io_.run();
    EXPECT_TRUE(again.get()->reused);
}

TEST_F(UpstreamPoolTest, AConnectionThatFailsBeforeItsHeaderStopsCounting) {
    auto first = get();
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 1);
    first.reset();  // the request failed: the connection goes without a header
    EXPECT_EQ(pool_.awaiting_head(endpoint_), 0);
}

}  // namespace
}  // namespace corral::proxy
