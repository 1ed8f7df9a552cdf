// The runners' ready checks (start_signal.hpp) against model servers on real loopback sockets: where
// the checks begin without the server's word that it listens, a server that answers /health on the
// port but does not hold the key the started one was given (another process on the port), or for a
// server on this machine another user's listener, is not taken for it.
#include "foreign_liar.hpp"
#include "start_signal.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <istream>
#include <optional>
#include <string>
#include <thread>

namespace corral::plugin_common {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// A server on a loopback port that answers each request (one per connection) with the status
// `answer(target, authorization)` gives, until it is destroyed.
class KeyedServer {
public:
    using Answer = std::function<int(const std::string& target, const std::string& authorization)>;

    explicit KeyedServer(Answer answer) : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}), answer_(std::move(answer)) {
        endpoint = {"127.0.0.1", acceptor_.local_endpoint().port()};
        thread_ = std::thread([this] {
            for (;;) {
                boost::system::error_code ec;
                tcp::socket socket(io_);
                acceptor_.accept(socket, ec);
                if (ec || stopping_) return;
                asio::streambuf request;
                asio::read_until(socket, request, "\r\n\r\n", ec);  // the checks' requests have no body
                if (ec) continue;
                std::istream in(&request);
                std::string method, target, line, authorization;
                in >> method >> target;
                while (std::getline(in, line) && line != "\r") {
                    if (line.rfind("Authorization: ", 0) == 0) authorization = line.substr(15, line.size() - 16);
                }
                const int status = answer_(target, authorization);
                const std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
                asio::write(socket, asio::buffer(reply), ec);
            }
        });
    }
    ~KeyedServer() {
        stopping_ = true;
        boost::system::error_code ec;
        tcp::socket wake(io_);
        wake.connect(acceptor_.local_endpoint(), ec);
        thread_.join();
    }

    HttpEndpoint endpoint;

private:
    asio::io_context io_;
    tcp::acceptor acceptor_;
    Answer answer_;
    std::atomic<bool> stopping_ = false;
    std::thread thread_;
};

// llama-server with `key`: /health for anyone, everything else only with the key (401 otherwise).
KeyedServer::Answer holding(const std::string& key) {
    return [key](const std::string& target, const std::string& authorization) {
        if (target == "/health") return 200;
        return authorization == "Bearer " + key ? 200 : 401;
    };
}

// A server that answers every request with 200, whatever key it is sent (llama-server without one).
int answers_everyone(const std::string&, const std::string&) {
    return 200;
}

class ReadyCheck : public ::testing::Test {
protected:
    ReadyCheck() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
    ~ReadyCheck() override {
        work_.reset();
        thread_.join();
    }

    // Runs the ready checks of a start against `endpoint`, with a proof of `key` when given; returns
    // the start's signal. `warned` receives the first warning.
    // `local`: the server is on this machine (no other user's listener may answer for it).
    std::shared_ptr<StartSignal> check(const HttpEndpoint& endpoint, std::optional<std::string> key, bool local = false) {
        ListenerCheck listeners = local ? local_listener_check() : ListenerCheck();
        auto signal = std::make_shared<StartSignal>();
        auto proof = owner_proof(
            std::move(key),
            [this](const std::string& what) {
                if (!warned_once_.exchange(true)) warned_.set_value(what);
            },
            std::move(listeners));
        check_ready(io_, endpoint, signal, std::move(proof));
        return signal;
    }

    KeyCheck holds_key(const HttpEndpoint& endpoint, const std::string& key) {
        return asio::co_spawn(io_, check_holds_key(endpoint, key, 5s), asio::use_future).get();
    }

    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::thread thread_;
    std::atomic<bool> warned_once_ = false;
    std::promise<std::string> warned_;
};

TEST_F(ReadyCheck, TheServerHoldingItsKeyIsReady) {
    KeyedServer server(holding("k1"));
    auto signal = check(server.endpoint, "k1");
    auto outcome = signal->future();
    ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(outcome.get().kind, StartOutcome::Kind::Ready);
    EXPECT_TRUE(holds_key(server.endpoint, "k1").holds);
}

TEST_F(ReadyCheck, AServerThatAnswersEveryoneIsNotTakenForTheOneStartedWithAKey) {
    KeyedServer server(answers_everyone);
    auto signal = check(server.endpoint, "k1");
    auto warning = warned_.get_future();
    ASSERT_EQ(warning.wait_for(10s), std::future_status::ready) << "no warning about the server on the port";
    const auto text = warning.get();
    EXPECT_NE(text.find("127.0.0.1:" + std::to_string(server.endpoint.port)), std::string::npos) << text;
    EXPECT_NE(text.find("another process holds the port"), std::string::npos) << text;
    EXPECT_NE(text.find("GET /props answered 200 to a client with another key"), std::string::npos) << text;
    // The check tried and found it wanting: the start is still open (its exit or timeout settles it).
    EXPECT_FALSE(signal->settled());
    signal->settle({StartOutcome::Kind::Exited, {}});
    EXPECT_EQ(signal->future().get().kind, StartOutcome::Kind::Exited);
}

TEST_F(ReadyCheck, AServerWithAnotherKeyIsNotTakenForIt) {
    KeyedServer server(holding("someone-else"));
    auto signal = check(server.endpoint, "k1");
    auto warning = warned_.get_future();
    ASSERT_EQ(warning.wait_for(10s), std::future_status::ready);
    EXPECT_NE(warning.get().find("GET /props answered 401 to a client with its key"), std::string::npos);
    EXPECT_FALSE(signal->settled());
    signal->settle({StartOutcome::Kind::Exited, {}});
    EXPECT_FALSE(holds_key(server.endpoint, "k1").holds);
}

// The checks begun by the server's own "listening" line need no proof; nor can a server without a
// key give one.
TEST_F(ReadyCheck, WithoutAKeyToProveTheHealthCheckDecides) {
    EXPECT_FALSE(owner_proof(std::nullopt, nullptr));
    EXPECT_FALSE(owner_proof(std::string(), nullptr));  // `--api-key ""`: nothing to show
    EXPECT_TRUE(owner_proof("k1", nullptr));
    KeyedServer server(answers_everyone);
    auto signal = check(server.endpoint, std::nullopt);
    auto outcome = signal->future();
    ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(outcome.get().kind, StartOutcome::Kind::Ready);
}

// A server of llama-server's kind without /props (404 to its key) holds its key all the same: what
// tells is that another key is refused and its own is not.
TEST_F(ReadyCheck, AServerWithoutPropsThatRefusesOtherKeysHoldsItsOwn) {
    KeyedServer server([](const std::string& target, const std::string& authorization) {
        if (target == "/health") return 200;
        if (authorization != "Bearer k1") return 401;
        return target == "/props" ? 404 : 200;
    });
    EXPECT_TRUE(holds_key(server.endpoint, "k1").holds);
}

TEST_F(ReadyCheck, AKeyCheckThatGetsNoAnswerSaysWhy) {
    HttpEndpoint closed;
    {
        KeyedServer gone(answers_everyone);
        closed = gone.endpoint;
    }
    auto check = holds_key(closed, "k1");
    EXPECT_FALSE(check.holds);
    EXPECT_NE(check.seen.find("cannot connect"), std::string::npos) << check.seen;
}

// A process that fakes holding any key fools the key proof; for a server on this machine, another
// user's listener on the port is told apart before the key is sent to it. (A process of corral's own
// user could read the key from the server's environment: that is not a boundary.)
TEST_F(ReadyCheck, AnotherUsersListenerIsNotTakenForALocalServer) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
    test::ForeignLiar liar;
    const HttpEndpoint liar_endpoint{"127.0.0.1", liar.port};
    {
        // What the liar gets past: the key proof alone.
        auto signal = check(liar_endpoint, "k1");
        auto outcome = signal->future();
        ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
        ASSERT_EQ(outcome.get().kind, StartOutcome::Kind::Ready);
    }
    auto signal = check(liar_endpoint, "k1", /*local=*/true);
    auto warning = warned_.get_future();
    ASSERT_EQ(warning.wait_for(10s), std::future_status::ready) << "no warning about the other user's process";
    EXPECT_NE(warning.get().find("another user's process (uid 65534) listens there"), std::string::npos);
    EXPECT_FALSE(signal->settled());
    signal->settle({StartOutcome::Kind::Exited, {}});
    // Our own user's listener is ours to judge by the key; without a key the local check alone.
    KeyedServer own(answers_everyone);
    EXPECT_TRUE(owner_proof(std::nullopt, nullptr, local_listener_check()));
    auto own_signal = check(own.endpoint, std::nullopt, /*local=*/true);
    auto outcome = own_signal->future();
    ASSERT_EQ(outcome.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(outcome.get().kind, StartOutcome::Kind::Ready);
}

}  // namespace
}  // namespace corral::plugin_common
