// nginx's rule for reads (read_readiness.hpp) on real loopback sockets and Asio's own reactor: a
// short read marks the socket drained, so the next read is left to epoll without a recv (data
// that came meanwhile stays in the socket until epoll reports it), and nothing is ever lost.
#include "proxy/read_readiness.hpp"

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <string>
#include <thread>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Pair {
    asio::io_context io;
    tcp::socket ours{io};
    tcp::socket peer{io};
    Pair() {
        tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        peer.connect(acceptor.local_endpoint());
        acceptor.accept(ours);
        ours.non_blocking(true);
    }
    void send(const std::string& text) { asio::write(peer, asio::buffer(text)); }
    // Waits (boundedly) until the kernel shows `n` bytes readable on our side.
    void until_readable(std::size_t n) {
        for (int i = 0; i < 1000 && ours.available() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ASSERT_GE(ours.available(), n);
    }
    // An asynchronous read left to the reactor, run to its end (bounded).
    std::string read_waiting(std::size_t asked = 64) {
        std::string got(asked, '\0');
        std::size_t n = 0;
        boost::system::error_code ec;
        bool done = false;
        ours.async_read_some(asio::buffer(got), [&](boost::system::error_code e, std::size_t k) {
            ec = e;
            n = k;
            done = true;
        });
        io.restart();
        io.run_for(std::chrono::seconds(5));
        EXPECT_TRUE(done) << "the read never completed: data was lost to the drained mark";
        EXPECT_FALSE(ec) << ec.message();
        read_waited(ours, asked, n, ec);
        got.resize(n);
        return got;
    }
};

TEST(ReadReadiness, AShortReadLeavesTheNextToEpollAndDataThatCameMeanwhileIsDelivered) {
    Pair p;
    p.send("abc");
    p.until_readable(3);
    char buf[64];
    std::size_t n = 0;
    boost::system::error_code ec;
    ASSERT_TRUE(read_now(p.ours, asio::buffer(buf), n, ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(std::string(buf, n), "abc");

    // Drained: the next read is not tried, even with data there (no recv that can only fail on a relay).
    p.send("def");
    p.until_readable(3);
    EXPECT_FALSE(read_now(p.ours, asio::buffer(buf), n, ec));
    EXPECT_EQ(p.ours.available(), 3u);
    // epoll reports it, and the reactor reads it.
    EXPECT_EQ(p.read_waiting(), "def");

    // A read the reactor performed short drains the socket too; what comes next is delivered.
    p.send("ghi");
    p.until_readable(3);
    EXPECT_FALSE(read_now(p.ours, asio::buffer(buf), n, ec));
    EXPECT_EQ(p.read_waiting(), "ghi");
}

TEST(ReadReadiness, AFullReadMayLeaveMoreSoTheNextIsTriedAtOnce) {
    Pair p;
    p.send(std::string(100, 'x'));
    p.until_readable(100);
    char buf[64];
    std::size_t n = 0;
    boost::system::error_code ec;
    ASSERT_TRUE(read_now(p.ours, asio::buffer(buf), n, ec));
    EXPECT_EQ(n, 64u);
    ASSERT_TRUE(read_now(p.ours, asio::buffer(buf), n, ec));
    EXPECT_EQ(n, 36u);
}

TEST(ReadReadiness, AReadThatWouldBlockWaitsForEpollAndAnEndIsAnEnd) {
    Pair p;
    char buf[64];
    std::size_t n = 7;
    boost::system::error_code ec;
    EXPECT_FALSE(read_now(p.ours, asio::buffer(buf), n, ec));
    EXPECT_FALSE(ec);
    EXPECT_EQ(n, 0u);
    p.send("late");
    EXPECT_EQ(p.read_waiting(), "late");

    // The peer's close ends a read at once, whichever way it is done.
    p.peer.close();
    p.until_readable(0);
    std::string got(8, '\0');
    bool ended = false;
    p.ours.async_read_some(asio::buffer(got), [&](boost::system::error_code e, std::size_t) { ended = e == asio::error::eof; });
    p.io.restart();
    p.io.run_for(std::chrono::seconds(5));
    EXPECT_TRUE(ended);
}

}  // namespace
}  // namespace corral::proxy
