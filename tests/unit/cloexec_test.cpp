// Sockets corral opens are close-on-exec from their birth (plugin_common::open_cloexec), the
// model servers' connections included (connect_server), so no child inherits them.
#include "cloexec.hpp"
#include "server_connection.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace corral::plugin_common {
namespace {

namespace asio = boost::asio;

bool close_on_exec(int fd) {
    const int flags = ::fcntl(fd, F_GETFD);
    return flags >= 0 && (flags & FD_CLOEXEC);
}

TEST(Cloexec, SocketsAndAcceptorsAreOpenedCloseOnExec) {
    asio::io_context io;
    boost::system::error_code ec;
    asio::ip::tcp::socket tcp(io);
    open_cloexec(tcp, asio::ip::tcp::v4(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(close_on_exec(tcp.native_handle()));
    asio::ip::tcp::acceptor acceptor(io);
    open_cloexec(acceptor, asio::ip::tcp::v4(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(close_on_exec(acceptor.native_handle()));
    acceptor.bind(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), ec);
    EXPECT_FALSE(ec) << ec.message();  // an ordinary socket of its protocol
    asio::local::stream_protocol::socket local(io);
    open_cloexec(local, asio::local::stream_protocol(), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_TRUE(close_on_exec(local.native_handle()));
    // A socket already open is Asio's error, and its descriptor is not leaked.
    open_cloexec(local, asio::local::stream_protocol(), ec);
    EXPECT_EQ(ec, asio::error::already_open);
}

TEST(Cloexec, AModelServersConnectionIsCloseOnExec) {
    asio::io_context io;
    const auto path = std::filesystem::temp_directory_path() / ("corral-cloexec-" + std::to_string(::getpid()) + ".sock");
    std::filesystem::remove(path);
    asio::local::stream_protocol::acceptor server(io, asio::local::stream_protocol::endpoint(path.string()));
    ServerStream stream(io);
    std::optional<boost::system::error_code> connected;
    const HttpEndpoint endpoint{"", 0, path.string()};  // not a temporary in the co_await (GCC 12 frees it twice)
    // Named: a coroutine lambda's captures live in the closure, which must outlive the run.
    auto connect = [&]() -> asio::awaitable<void> { connected = co_await connect_server(stream, endpoint); };
    asio::co_spawn(io, connect(), asio::detached);
    io.run();
    std::filesystem::remove(path);
    ASSERT_TRUE(connected);
    ASSERT_FALSE(*connected) << connected->message();
    EXPECT_TRUE(close_on_exec(stream.socket().native_handle()));
}

// Connections that came together are all taken before a wait (the listener's readiness is
// edge-triggered), each close-on-exec; then it waits for the next; closing the listener ends the wait.
TEST(Cloexec, AcceptTakesEveryWaitingConnectionThenWaitsAndEndsWhenTheListenerCloses) {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.non_blocking(true);
    const auto address = acceptor.local_endpoint();
    std::vector<asio::ip::tcp::socket> clients;
    for (int i = 0; i < 2; ++i) clients.emplace_back(io).connect(address);  // both waiting before the first accept
    std::vector<int> taken;
    boost::system::error_code ended;
    auto serve = [&]() -> asio::awaitable<void> {
        for (;;) {
            const auto [fd, ec] = co_await accept_cloexec(acceptor);
            if (fd < 0) {
                ended = ec;
                co_return;
            }
            taken.push_back(fd);
            // Posted: each runs once the next call has found nothing and waits.
            if (taken.size() == 2) asio::post(io, [&] { clients.emplace_back(io).connect(address); });
            if (taken.size() == 3) asio::post(io, [&] { acceptor.close(); });
        }
    };
    asio::co_spawn(io, serve(), asio::detached);
    io.run();
    ASSERT_EQ(taken.size(), 3u);
    for (int fd : taken) {
        EXPECT_TRUE(close_on_exec(fd));
        ::close(fd);
    }
    EXPECT_EQ(ended, asio::error::operation_aborted);
}

}  // namespace
}  // namespace corral::plugin_common
