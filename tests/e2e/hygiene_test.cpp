// corral under an attacker's or an unlucky operator's hands: children inherit none of its
// descriptors, a crashed host restarts on its own address, descriptors running out and too many
// connections get a 503 (never a busy loop), slow and stalled clients lose their connection and
// their model slot, and error bodies stay valid JSON whatever a client sent.
#include "raw_http.hpp"
#include "relay_fixture.hpp"
#include "runner_test_support.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <future>
#include <thread>

namespace corral::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class Hygiene : public RelayFixture {};

std::string chat(const std::string& model, int max_tokens, bool stream) {
    return R"({"model":")" + model + R"(","max_tokens":)" + std::to_string(max_tokens) + R"(,"stream":)" + (stream ? "true" : "false") +
           R"(,"messages":[{"role":"user","content":"hi"}]})";
}

// Issue 18, finding 1: a model server holds none of corral's sockets (listener, clients, upstream).
TEST_F(Hygiene, ServersInheritNoDescriptorOfCorral) {
    Corral corral(dir_, config());
    RawHttp idle_client("127.0.0.1", corral.port);  // a client connection open while the server starts
    idle_client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(idle_client.read());
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("tiny-a", 2, false)).status, 200);
    const auto server = corral.pid("tiny-a");
    const auto ours = socket_inodes(corral.pid());
    ASSERT_GE(ours.size(), 2u) << "the listener and the client connection at least";
    for (const auto& inode : socket_inodes(server)) {
        EXPECT_EQ(std::count(ours.begin(), ours.end(), inode), 0) << "the server holds corral's " << inode;
    }
}

// And each of corral's sockets is close-on-exec from its birth (accept4, socket with SOCK_CLOEXEC):
// the listener, a client's connection, the kept-alive connection to the model server.
TEST_F(Hygiene, EveryOneOfCorralsSocketsIsCloseOnExec) {
    Corral corral(dir_, config());
    RawHttp client("127.0.0.1", corral.port);
    client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(client.read());
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("tiny-a", 2, false)).status, 200);
    const std::string proc = "/proc/" + std::to_string(corral.pid());
    int sockets = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(proc + "/fd", ec)) {
        if (fs::read_symlink(entry.path(), ec).string().rfind("socket:", 0) != 0) continue;
        std::ifstream info(proc + "/fdinfo/" + entry.path().filename().string());
        std::string key, flags;
        while (info >> key >> flags && key != "flags:") {
        }
        ASSERT_EQ(key, "flags:");
        ++sockets;
        EXPECT_NE(std::stoul(flags, nullptr, 8) & O_CLOEXEC, 0u) << "socket descriptor " << entry.path().filename() << " flags " << flags;
    }
    EXPECT_GE(sockets, 3) << "the listener, the client's connection and the server's at least";
}

// Finding 1's consequence: after kill -9, corral restarts on the same address (no surviving server
// holds its port) and adopts its servers.
TEST_F(Hygiene, RestartOnTheSameAddressAfterKill9Adopts) {
    auto text = config();
    const uint16_t port = free_port();
    text.replace(text.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(port));
    int64_t pid = 0;
    {
        Corral corral(dir_, text);
        ASSERT_EQ(corral.post("/v1/chat/completions", chat("tiny-a", 2, false)).status, 200);
        // A server restarted once has a new instance id, so a new key: the adopting host derives the same.
        const auto first = corral.pid("tiny-a");
        ::kill(static_cast<pid_t>(first), SIGKILL);
        ASSERT_TRUE(ready_on_a_new_server(corral, "tiny-a", first));
        ASSERT_EQ(corral.post("/v1/chat/completions", chat("tiny-a", 2, false)).status, 200);
        pid = corral.pid("tiny-a");
        corral.stop(SIGKILL);
    }
    ASSERT_TRUE(process_alive(pid));
    Corral corral(dir_, text);  // throws if the address were still taken
    EXPECT_EQ(corral.port, port);
    auto adopted = corral.post("/v1/chat/completions", chat("tiny-a", 2, false));
    EXPECT_EQ(adopted.status, 200) << adopted.body;
    EXPECT_EQ(corral.model("tiny-a").at("pid").as_int64(), pid);
}

// Found by the chaos soak: every crash of a server cost corral three descriptors (its pidfd and
// output pipes stayed open), so a crash-looping model would exhaust them.
TEST_F(Hygiene, CrashedServersLeaveNoDescriptorsBehind) {
    Corral corral(
        dir_,
        config(
            R"(, "preload": ["tiny-a"], "supervisor": {"restart_backoff": "10ms", "restart_backoff_max": "10ms", "restart_attempts": 100})"));
    ASSERT_TRUE(eventually([&] { return corral.state("tiny-a") == "ready"; }, 30s));
    auto descriptors = [&] {
        std::error_code ec;
        return std::distance(fs::directory_iterator("/proc/" + std::to_string(corral.pid()) + "/fd", ec), fs::directory_iterator());
    };
    const auto before = descriptors();
    for (int i = 0; i < 5; ++i) {
        const auto pid = ready_pid(corral, "tiny-a");
        ASSERT_GT(pid, 0);
        ::kill(static_cast<pid_t>(pid), SIGKILL);
        ASSERT_TRUE(ready_on_a_new_server(corral, "tiny-a", pid));
    }
    EXPECT_LE(descriptors(), before + 2) << "descriptors before the crashes: " << before;  // +2: a health check's connection in flight
}

// Finding 2: with its descriptors used up, corral refuses with 503 and backs off: little CPU, a
// few log lines, and it serves again once connections close.
TEST_F(Hygiene, OutOfDescriptorsRefusesWithoutSpinning) {
    Corral corral(dir_, config(), {"/usr/bin/prlimit", "--nofile=128:128", "--"});
    std::vector<std::unique_ptr<RawHttp>> held;
    int refused = 0;
    for (int i = 0; i < 200; ++i) {
        auto c = std::make_unique<RawHttp>("127.0.0.1", corral.port);
        c->send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        auto r = c->read(false, 5s);
        if (r && r->status == 503) {
            ++refused;
            EXPECT_EQ(r->headers["retry-after"], "1");
            EXPECT_EQ(json::parse(r->body).at("error").at("code"), "overloaded");
        }
        held.push_back(std::move(c));
    }
    EXPECT_GT(refused, 0) << "no connection was refused: the descriptor limit was not reached";
    // While exhausted, corral waits instead of spinning on accept.
    auto cpu = [&] {
        std::ifstream stat("/proc/" + std::to_string(corral.pid()) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        std::istringstream rest(text.substr(text.rfind(')') + 2));
        std::string field;
        long ticks = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i) {
            if (i == 14 || i == 15) ticks += std::stol(field);
        }
        return ticks;
    };
    std::vector<std::unique_ptr<RawHttp>> waiting;
    for (int i = 0; i < 20; ++i) waiting.push_back(std::make_unique<RawHttp>("127.0.0.1", corral.port));
    const long before = cpu();
    std::this_thread::sleep_for(1s);
    EXPECT_LT(cpu() - before, 50) << "clock ticks in one second while out of descriptors";
    held.clear();
    waiting.clear();
    EXPECT_TRUE(eventually([&] {
        try {
            return corral.get("/health").status == 200;
        } catch (const std::exception&) {
            return false;
        }
    }));
    auto metrics = corral.get("/metrics").body;
    EXPECT_NE(metrics.find("corral_client_connections_closed_total{reason=\"out_of_descriptors\"}"), std::string::npos) << metrics;
}

TEST_F(Hygiene, ConnectionsOverMaxConnectionsGetA503) {
    Corral corral(dir_, config(R"(, "max_connections": 3)"));
    RawHttp a("127.0.0.1", corral.port), b("127.0.0.1", corral.port), c("127.0.0.1", corral.port);
    for (auto* conn : {&a, &b, &c}) {
        conn->send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        ASSERT_TRUE(conn->read());
    }
    RawHttp over("127.0.0.1", corral.port);
    auto r = over.read(false, 5s);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_TRUE(over.closes());
    a.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    auto metrics = a.read();
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find("corral_client_connections_closed_total{reason=\"max_connections\"} 1"), std::string::npos);
}

// Finding 3: a client that stops reading loses its connection after client_timeouts.write, and the
// model slot it held goes to the next request.
TEST_F(Hygiene, StalledReadersLoseTheirModelSlot) {
    Corral corral(dir_,
                  config(R"(, "client_timeouts": {"write": "1s"}, "scheduler": {"queue_timeout": "20s"})", "", R"(, "concurrency": 1)"));
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("toy", 2, false)).status, 200);
    // A stalled reader: a small receive buffer, a huge stream, never read.
    RawHttp stalled("127.0.0.1", corral.port);
    const std::string body = chat("toy", 1000000, true);  // ~150 MB of events
    stalled.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                 std::to_string(body.size()) + "\r\n\r\n" + body);
    ASSERT_TRUE(eventually([&] { return corral.model("toy").at("in_flight").as_int64() == 1; }));
    // The stream cannot end while its reader reads nothing, so an answer within the queue's 20 s
    // means the write deadline freed the slot (no wall-clock bound of its own: it flaked under ASan).
    auto next = corral.post("/v1/chat/completions", chat("toy", 2, false));
    EXPECT_EQ(next.status, 200) << next.body;
    EXPECT_NE(corral.get("/metrics").body.find("corral_client_connections_closed_total{reason=\"write_timeout\"}"), std::string::npos);
}

TEST_F(Hygiene, SlowHeadersAndIdleConnectionsAreClosed) {
    Corral corral(dir_, config(R"(, "client_timeouts": {"header": "500ms", "idle": "1s"})"));
    RawHttp slow("127.0.0.1", corral.port);
    slow.send("GET /health HTTP/1.1\r\nHost: x\r\n");  // and never the end of the header
    EXPECT_TRUE(slow.closes(5s));
    RawHttp idle("127.0.0.1", corral.port);
    idle.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(idle.read());
    // Well within its idle second, a kept-alive connection is still served.
    RawHttp kept("127.0.0.1", corral.port);
    kept.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(kept.read());
    std::this_thread::sleep_for(300ms);
    kept.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(kept.read());
    EXPECT_TRUE(idle.closes(5s));
    EXPECT_TRUE(kept.closes(5s));
    EXPECT_NE(corral.get("/metrics").body.find("corral_client_connections_closed_total{reason=\"header_timeout\"} 1"), std::string::npos);
}

// Finding 5: whatever bytes a client sends, errors are valid UTF-8 JSON, and name no server address.
TEST_F(Hygiene, ErrorBodiesAreValidJsonWithoutInternalAddresses) {
    Corral corral(dir_, config(R"(, "supervisor": {"restart_attempts": 0})", "", R"(, "runner_options": {"crash_after_requests": 1})"));
    for (const std::string target :
         {"/props?model=toy%FF", "/corral/logs/%FF%FE", "/upstream/%C3%28/props", "/v1/models/%ED%A0%80", "/nope/\xff\xfe"}) {
        RawHttp c("127.0.0.1", corral.port);
        c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
        auto r = c.read();
        ASSERT_TRUE(r) << target;
        EXPECT_GE(r->status, 400) << target;
        boost::system::error_code ec;
        json::parse(r->body, ec);  // Boost.JSON refuses invalid UTF-8
        EXPECT_FALSE(ec) << target << ": " << r->body;
    }
    auto load = corral.post("/corral/models/%FF/load");
    EXPECT_FALSE(json::parse(load.body).as_object().empty());
    // A server that dies before answering (the mock crashes on its second request): 502, and the
    // message names no address (the log has it).
    ASSERT_EQ(corral.post("/v1/chat/completions", chat("toy", 2, false)).status, 200);
    auto failed = corral.post("/v1/chat/completions", chat("toy", 2, false));
    EXPECT_EQ(failed.status, 502) << failed.body;
    EXPECT_NE(failed.body.find("The server of `toy` failed"), std::string::npos) << failed.body;
    EXPECT_EQ(failed.body.find("127.0.0.1"), std::string::npos) << failed.body;
}

}  // namespace
}  // namespace corral::test
