// forward() against a scripted model server on real loopback sockets, for the cases where the
// server ends a connection with its FIN in the same bytes as its answer (read_readiness.hpp: the
// read that completes a Content-Length response drains the socket, so a FIN that came with it goes
// unseen until corral writes again). Each case must end promptly, never wait for an event that
// cannot come.
#include "proxy/forward.hpp"

#include "allocation_count.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

namespace corral::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A model server that answers connection by connection, request by request, from a script:
// `answers[i]` is what the i-th connection writes after it read one request, then closes.
class ScriptedServer {
public:
    explicit ScriptedServer(std::vector<std::string> answers)
        : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), answers_(std::move(answers)) {
        endpoint = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
        thread_ = std::thread([this] {
            for (const auto& answer : answers_) {
                tcp::socket socket = acceptor_.accept();
                asio::streambuf request;
                boost::system::error_code ec;
                asio::read_until(socket, request, "\r\n\r\n", ec);  // the test's requests have no body
                if (ec) continue;
                ++requests;
                asio::write(socket, asio::buffer(answer), ec);
                socket.close(ec);  // the FIN follows the answer's last bytes at once
            }
        });
    }
    ~ScriptedServer() { thread_.join(); }

    std::string endpoint;
    std::atomic<int> requests = 0;

private:
    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::vector<std::string> answers_;
    std::thread thread_;
};

// A model server on a Unix socket (llama_server's default transport) that serves one connection:
// reads `answers.size()` requests on it, keeping each request's head, and answers each in turn.
class UnixSocketServer {
public:
    explicit UnixSocketServer(const std::string& path, std::vector<std::string> answers)
        : acceptor_(io_, asio::local::stream_protocol::endpoint(path)), answers_(std::move(answers)) {
        endpoint = "unix://" + path;
        thread_ = std::thread([this] {
            asio::local::stream_protocol::socket socket = acceptor_.accept();
            asio::streambuf request;
            for (const auto& answer : answers_) {
                boost::system::error_code ec;
                const std::size_t n = asio::read_until(socket, request, "\r\n\r\n", ec);
                if (ec) return;
                heads_.emplace_back(asio::buffers_begin(request.data()),
                                    asio::buffers_begin(request.data()) + static_cast<std::ptrdiff_t>(n));
                request.consume(n);
                asio::write(socket, asio::buffer(answer), ec);
            }
        });
    }
    ~UnixSocketServer() {
        if (thread_.joinable()) thread_.join();
    }
    // The heads of the requests it read, once it has answered them all.
    std::vector<std::string> finish() {
        thread_.join();
        return heads_;
    }

    std::string endpoint;

private:
    asio::io_context io_;
    asio::local::stream_protocol::acceptor acceptor_;
    std::vector<std::string> answers_;
    std::vector<std::string> heads_;
    std::thread thread_;
};

// A model server that streams `events` server-sent events over one connection, each only once the
// client has received the one before (`delivered`, counted by the test): each comes to corral on its
// own, as a slow model's tokens do, so each costs forward() a read and a relayed piece.
class LockstepStreamServer {
public:
    explicit LockstepStreamServer(int events) : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), events_(events) {
        endpoint = "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
        thread_ = std::thread([this] {
            tcp::socket socket = acceptor_.accept();
            asio::streambuf request;
            boost::system::error_code ec;
            asio::read_until(socket, request, "\r\n\r\n", ec);
            if (ec) return;
            asio::write(socket,
                        asio::buffer(std::string_view("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                                      "Transfer-Encoding: chunked\r\n\r\n")),
                        ec);
            static constexpr std::string_view kEvent = "d\r\ndata: token\n\n\r\n";
            for (int i = 0; i < events_ && !ec; ++i) {
                std::unique_lock lock(mutex_);
                // A bound, not a pace: the relay normally delivers each event within microseconds.
                if (!seen_.wait_for(lock, std::chrono::seconds(5), [&] { return delivered_ >= i; })) return;
                lock.unlock();
                asio::write(socket, asio::buffer(kEvent), ec);
            }
            asio::write(socket, asio::buffer(std::string_view("0\r\n\r\n")), ec);
        });
    }
    ~LockstepStreamServer() {
        ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // an accept still waiting (no relay came) ends
        thread_.join();
    }

    // The client has received `n` events.
    void delivered(int n) {
        std::lock_guard lock(mutex_);
        delivered_ = n;
        seen_.notify_one();
    }

    std::string endpoint;

private:
    asio::io_context io_;
    tcp::acceptor acceptor_;
    int events_;
    std::mutex mutex_;
    std::condition_variable seen_;
    int delivered_ = 0;
    std::thread thread_;
};

class ForwardTest : public ::testing::Test {
protected:
    ForwardTest() : listener_(io_, {asio::ip::make_address("127.0.0.1"), 0}), client_(io_) {
        client_.connect(listener_.local_endpoint());
        tcp::socket accepted = listener_.accept();
        make_nonblocking(accepted);
        stream_.emplace(std::move(accepted));
    }

    // Runs forward() for `ex` to `endpoint` on this thread until it ends, for at most `limit`: its
    // result, or none (and a failed test) for a wait that would never end.
    std::optional<ForwardResult> run_forward(Exchange& ex, const std::string& endpoint, std::chrono::seconds limit) {
        ForwardOptions options{.endpoint = endpoint, .target = {}, .upstream_key = {}, .headers_already_sent = false};
        auto future = asio::co_spawn(io_, forward(ex, pool_, options), asio::use_future);
        io_.restart();
        const auto give_up = std::chrono::steady_clock::now() + limit;
        while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready && std::chrono::steady_clock::now() < give_up)
            io_.run_for(std::chrono::milliseconds(50));
        if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
            ADD_FAILURE() << "forward() is still waiting";
            io_.stop();
            return std::nullopt;
        }
        return future.get();
    }

    // Relays a GET /health through forward() and returns its result.
    ForwardResult relay(const std::string& endpoint) {
        Request request{http::verb::get, "/health", 11};
        Exchange ex{*stream_, request, std::chrono::steady_clock::now()};
        return run_forward(ex, endpoint, std::chrono::seconds(5)).value_or(ForwardResult{});
    }

    // Relays a streamed POST from `server` (its client reading on a thread of its own and telling
    // the server what arrived); returns how many allocations forward() made on this thread.
    std::size_t allocations_to_relay(LockstepStreamServer& server) {
        std::promise<bool> read_to_the_end;
        auto reader_done = read_to_the_end.get_future();
        std::thread reader([&] {
            bool end = false;
            std::string seen;
            char data[4096];
            boost::system::error_code ec;
            int count = 0;
            while (!(end = seen.find("0\r\n\r\n") != std::string::npos)) {
                const std::size_t n = client_.read_some(asio::buffer(data), ec);
                if (ec) break;
                seen.append(data, n);
                int now = 0;
                for (auto at = seen.find("data: "); at != std::string::npos; at = seen.find("data: ", at + 1)) ++now;
                if (now != count) server.delivered(count = now);
            }
            read_to_the_end.set_value(end);
        });
        Request request{http::verb::post, "/v1/chat/completions", 11};
        request.body() = R"({"stream":true})";
        request.prepare_payload();
        Exchange ex{*stream_, request, std::chrono::steady_clock::now()};
        test::AllocationCount allocations;
        const auto result = run_forward(ex, server.endpoint, std::chrono::seconds(10));
        const std::size_t made = allocations();
        // The reader ends with the stream's last chunk; without it (a relay that failed or still
        // waits), its read is ended here.
        if (!result || reader_done.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
            ::shutdown(client_.native_handle(), SHUT_RDWR);
        reader.join();
        EXPECT_TRUE(reader_done.get()) << "the client did not get the stream's end";
        if (result) {
            EXPECT_EQ(result->outcome, ForwardResult::Outcome::Complete) << result->error;
        }
        return made;
    }

    // What the client has been sent so far.
    std::string received() {
        std::string out;
        char data[4096];
        boost::system::error_code ec;
        client_.non_blocking(true);
        while (std::size_t n = client_.read_some(asio::buffer(data), ec)) out.append(data, n);
        return out;
    }

    asio::io_context io_;
    tcp::acceptor listener_;
    tcp::socket client_;
    std::optional<ClientStream> stream_;
    UpstreamPool pool_;
};

// A server that announces keep-alive and closes anyway right after its answer (llama-server does
// so after its streamed responses): the pooled connection's next use meets the reset, and the
// request goes again on a new connection.
TEST_F(ForwardTest, AServerThatClosesRightAfterItsAnswerStillAnswersTheNextRequest) {
    ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"});
    auto first = relay(server.endpoint);
    EXPECT_EQ(first.outcome, ForwardResult::Outcome::Complete);
    EXPECT_EQ(first.status, 200);
    EXPECT_TRUE(received().ends_with("first"));

    auto second = relay(server.endpoint);
    EXPECT_EQ(second.outcome, ForwardResult::Outcome::Complete);
    EXPECT_EQ(second.status, 200);
    EXPECT_TRUE(received().ends_with("second"));
    EXPECT_EQ(server.requests, 2);
}

// A server that ends a connection with its answer (Connection: close; llama-server does after 100
// requests on one) has the next request find a connection ready: opened when the first ended,
// not on the second's time. (The server accepts two connections only: had the second request
// connected on its own, it would wait in the backlog and the relay would not end.)
TEST_F(ForwardTest, AConnectionTheServerEndsHasItsSuccessorReadyForTheNextRequest) {
    ScriptedServer server(
        {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"});
    EXPECT_EQ(relay(server.endpoint).outcome, ForwardResult::Outcome::Complete);
    io_.restart();
    for (int i = 0; i < 100 && pool_.idle(server.endpoint) == 0; ++i) io_.run_one_for(std::chrono::milliseconds(20));
    EXPECT_EQ(pool_.idle(server.endpoint), 1u);
    auto second = relay(server.endpoint);
    EXPECT_EQ(second.outcome, ForwardResult::Outcome::Complete);
    EXPECT_TRUE(received().ends_with("second"));
    EXPECT_EQ(server.requests, 2);
}

// The same when the next request comes while the successor still connects (the usual case under
// load): it waits for that connection rather than opening a third, which the server never accepts.
TEST_F(ForwardTest, ARequestThatComesWhileTheSuccessorConnectsTakesIt) {
    ScriptedServer server(
        {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"});
    // Both requests in one coroutine: the second starts the moment the first ends.
    bool pending_between = false;
    auto both = [&]() -> asio::awaitable<ForwardResult> {
        const ForwardOptions options{.endpoint = server.endpoint, .target = {}, .upstream_key = {}, .headers_already_sent = false};
        Request first_request{http::verb::get, "/health", 11};
        Exchange first{*stream_, first_request, std::chrono::steady_clock::now()};
        co_await forward(first, pool_, options);
        pending_between = pool_.successor_pending(server.endpoint);
        Request second_request{http::verb::get, "/health", 11};
        Exchange second{*stream_, second_request, std::chrono::steady_clock::now()};
        co_return co_await forward(second, pool_, options);
    };
    auto future = asio::co_spawn(io_, both(), asio::use_future);
    io_.restart();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready && std::chrono::steady_clock::now() < give_up)
        io_.run_for(std::chrono::milliseconds(50));
    ASSERT_EQ(future.wait_for(std::chrono::seconds(0)), std::future_status::ready) << "the second request waits for a third connection";
    EXPECT_TRUE(pending_between);
    EXPECT_EQ(future.get().outcome, ForwardResult::Outcome::Complete);
    EXPECT_TRUE(received().ends_with("second"));
    EXPECT_EQ(server.requests, 2);
}

// A server that sends more than its response (here, a second response nobody asked for): the
// client gets the first, and the connection is not pooled, so the extra bytes can never be read as
// the answer to someone else's request.
TEST_F(ForwardTest, BytesPastAResponseKeepItsConnectionOutOfThePool) {
    ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged",
                           "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"});
    EXPECT_EQ(relay(server.endpoint).outcome, ForwardResult::Outcome::Complete);
    EXPECT_TRUE(received().ends_with("\r\n\r\nhi"));
    EXPECT_EQ(pool_.idle(server.endpoint), 0u);
    EXPECT_EQ(relay(server.endpoint).outcome, ForwardResult::Outcome::Complete);
    const auto second = received();
    EXPECT_TRUE(second.ends_with("second")) << second;
    EXPECT_EQ(second.find("forged"), std::string::npos);
}

// A body cut short with the FIN in the same bytes: the relay sees the end and reports it, rather
// than waiting for the rest.
TEST_F(ForwardTest, ABodyCutShortEndsTheRelayWithAnError) {
    ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it"});
    auto result = relay(server.endpoint);
    EXPECT_EQ(result.outcome, ForwardResult::Outcome::UpstreamFailed);
    EXPECT_NE(result.error.find("mid-response"), std::string::npos) << result.error;
}

// The same for a streamed (chunked) body whose last chunk never comes.
TEST_F(ForwardTest, AStreamCutShortEndsTheRelayWithAnError) {
    ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ndata: \r\n"});
    auto result = relay(server.endpoint);
    EXPECT_EQ(result.outcome, ForwardResult::Outcome::UpstreamFailed);
}

// A server on a Unix socket is relayed to like one on TCP: the requests carry "Host: localhost"
// (there is no host:port to name), and its kept-alive connection serves the next request.
TEST_F(ForwardTest, AServerOnAUnixSocketIsRelayedToOverOneKeptConnection) {
    const auto dir = std::filesystem::temp_directory_path() / ("corral-forward-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::filesystem::remove(dir / "server.sock");
    {
        UnixSocketServer server((dir / "server.sock").string(), {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
                                                                 "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond"});
        auto first = relay(server.endpoint);
        EXPECT_EQ(first.outcome, ForwardResult::Outcome::Complete) << first.error;
        EXPECT_TRUE(received().ends_with("first"));
        auto second = relay(server.endpoint);  // the server accepts one connection: a second would wait forever
        EXPECT_EQ(second.outcome, ForwardResult::Outcome::Complete) << second.error;
        EXPECT_TRUE(received().ends_with("second"));
        EXPECT_EQ(pool_.idle(server.endpoint), 1u);
        const auto heads = server.finish();
        ASSERT_EQ(heads.size(), 2u);
        for (const auto& head : heads) EXPECT_NE(head.find("\r\nHost: localhost\r\n"), std::string::npos) << head;
    }
    std::filesystem::remove_all(dir);
}

// No allocation per streamed token (bench/README.md, "Reading them"): a stream's pieces cost
// forward() none each, whatever it costs per response. Asio's use_awaitable made a coroutine frame
// for every read it awaited, and a coroutine around the read another: two per token.
TEST_F(ForwardTest, AStreamIsRelayedWithoutAnAllocationPerPiece) {
    std::size_t few = 0, many = 0;
    {
        LockstepStreamServer server(4);
        few = allocations_to_relay(server);
    }
    {
        LockstepStreamServer server(204);
        many = allocations_to_relay(server);
    }
    ASSERT_GT(few, 0u) << "no allocation counted: a response costs some (forward()'s own frame)";
    EXPECT_LE(many, few + 2) << "4 pieces: " << few << " allocations, 204 pieces: " << many;
}

}  // namespace
}  // namespace corral::proxy
