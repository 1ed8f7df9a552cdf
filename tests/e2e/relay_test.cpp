// corral as an HTTP relay, checked with raw sockets, curl and the npm clients against the real
// llama-server: one client's answer never reaches another, HEAD and interim responses keep
// connections in step, smuggled bodies are refused, CORS, /upstream, per-server keys, and a
// differential run of every route through corral and direct to a server with the same command line.
#include "raw_http.hpp"
#include "relay_fixture.hpp"
#include "runner_test_support.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace corral::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string request(const std::string& method, const std::string& target, const std::string& body = "", const std::string& extra = "") {
    std::string r = method + " " + target + " HTTP/1.1\r\nHost: corral\r\n" + extra;
    if (!body.empty() || method == "POST") r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    return r + "\r\n" + body;
}

std::string tokenize_body(const std::string& content, const std::string& model = "tiny-a") {
    return R"({"model":")" + model + R"(","content":")" + content + R"("})";
}

std::size_t token_count(const std::string& body) {
    return json::parse(body).at("tokens").as_array().size();
}

// `config` (from config_head, which runs three I/O threads) with `n` instead.
std::string with_io_threads(std::string config, int n) {
    const std::string shared = R"("io_threads": 3)";
    const auto at = config.find(shared);
    if (at == std::string::npos) throw std::logic_error("config_head no longer sets io_threads to 3");
    return config.replace(at, shared.size(), R"("io_threads": )" + std::to_string(n));
}

class Relay : public RelayFixture {};

// Issue 14, finding 1: an `Expect: 100-continue` request (curl sends one for any body over 1 MiB)
// used to get the server's interim 100 as its answer, and the pooled connection then handed the
// real answer to the next request on that model, from any client.
TEST_F(Relay, ExpectContinueNeverHandsAnAnswerToAnotherClient) {
    Corral corral(dir_, config());
    ASSERT_EQ(corral.post("/tokenize", tokenize_body("warm up")).status, 200);

    const std::string big_content(2 * 1024 * 1024, 'a');
    const std::string big = tokenize_body(big_content);
    // Client A: the header, then the body only once corral says 100 Continue.
    RawHttp a("127.0.0.1", corral.port);
    a.send("POST /tokenize HTTP/1.1\r\nHost: corral\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
           std::to_string(big.size()) + "\r\n\r\n");
    auto interim = a.read(false, 10s);
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    a.send(big);
    auto answer = a.read();
    ASSERT_TRUE(answer);
    ASSERT_EQ(answer->status, 200) << answer->body.substr(0, 200);
    const auto big_tokens = token_count(answer->body);
    EXPECT_GT(big_tokens, 1000u);

    // Client B, right after, on the same model: its own answer, every time.
    for (int i = 0; i < 3; ++i) {
        auto b = corral.post("/tokenize", tokenize_body("hello"));
        ASSERT_EQ(b.status, 200);
        EXPECT_LT(token_count(b.body), 20u) << "another client's answer: " << b.body.substr(0, 100);
    }

    // curl adds the Expect header itself for this body, and must get a real HTTP/1.1 answer.
    std::ofstream(dir_ / "big.json") << big;
    auto curl = run_process({"/usr/bin/env", "curl", "-sS", "--fail-with-body", "-H", "Content-Type: application/json", "--data-binary",
                             "@" + (dir_ / "big.json").string(), "http://127.0.0.1:" + std::to_string(corral.port) + "/tokenize"});
    ASSERT_EQ(curl.exit_code, 0) << curl.err;
    EXPECT_EQ(token_count(curl.out), big_tokens);
    auto after = corral.post("/tokenize", tokenize_body("hello"));
    EXPECT_EQ(token_count(after.body), token_count(corral.post("/tokenize", tokenize_body("hello")).body));

    // An expectation corral cannot meet is refused; a body over max_request_body before it is sent.
    RawHttp odd("127.0.0.1", corral.port);
    odd.send("POST /tokenize HTTP/1.1\r\nHost: corral\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\n");
    auto refused = odd.read();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 417);
    RawHttp huge("127.0.0.1", corral.port);
    huge.send("POST /tokenize HTTP/1.1\r\nHost: corral\r\nExpect: 100-continue\r\nContent-Length: 999999999999\r\n\r\n");
    auto too_large = huge.read();
    ASSERT_TRUE(too_large);
    EXPECT_EQ(too_large->status, 413);
}

// Finding 2: HEAD answers carry no body, so the next response on the connection still parses.
TEST_F(Relay, HeadKeepsAKeptAliveConnectionInStep) {
    Corral corral(dir_, config());
    ASSERT_EQ(corral.post("/tokenize", tokenize_body("x")).status, 200);
    for (const std::string target : {"/health", "/v1/models", "/props?model=tiny-a", "/upstream/tiny-a/props", "/upstream/tiny-a/health"}) {
        RawHttp c("127.0.0.1", corral.port);
        c.send(request("HEAD", target) + request("GET", "/health"));
        auto head = c.read(true);
        ASSERT_TRUE(head) << target;
        EXPECT_EQ(head->status, 200) << target;
        EXPECT_TRUE(head->body.empty()) << target;
        EXPECT_TRUE(head->headers.count("content-length") || head->chunked) << target;
        auto next = c.read();
        ASSERT_TRUE(next) << "the response after HEAD " << target << " did not parse";
        EXPECT_EQ(next->status, 200);
        EXPECT_EQ(json::parse(next->body).at("status"), "ok");
    }
}

TEST_F(Relay, PipelinedRequestsAreAnsweredInOrder) {
    Corral corral(dir_, config());
    RawHttp c("127.0.0.1", corral.port);
    c.send(request("POST", "/tokenize", tokenize_body("a")) + request("GET", "/health") +
           request("POST", "/tokenize", tokenize_body("hello hello hello")) + request("GET", "/v1/models"));
    auto first = c.read();
    auto second = c.read();
    auto third = c.read();
    auto fourth = c.read();
    ASSERT_TRUE(first && second && third && fourth);
    EXPECT_LT(token_count(first->body), token_count(third->body));
    EXPECT_EQ(json::parse(second->body).at("status"), "ok");
    EXPECT_GT(token_count(third->body), 2u);
    EXPECT_EQ(json::parse(fourth->body).at("object"), "list");
}

// io_threads: connections spread over four I/O threads (the main one and three more), each client
// on its own kept-alive connection with a request of its own size, all at once: every answer is
// the one its client asked for, streams included, the metrics (kept on the main thread) count
// each request once, and the threads are there by name.
TEST_F(Relay, ManyClientsOnSeveralIoThreadsEachGetTheirOwnAnswers) {
    Corral corral(dir_, with_io_threads(config(R"(, "preload": ["tiny-a", "toy"])", R"(, "parallel": 4)"), 4));
    ASSERT_TRUE(wait_until([&] { return corral.state("tiny-a") == "ready" && corral.state("toy") == "ready"; }, 30s));
    auto words = [](int n) {
        std::string content;
        for (int i = 0; i < n; ++i) content += i ? " word" : "word";
        return content;
    };
    // What each size is, asked one at a time.
    constexpr int kClients = 12, kRounds = 15;
    std::vector<std::size_t> expected(kClients);
    for (int c = 0; c < kClients; ++c) expected[c] = token_count(corral.post("/tokenize", tokenize_body(words(c + 1))).body);
    for (int c = 1; c < kClients; ++c) ASSERT_GT(expected[c], expected[c - 1]);

    std::atomic<int> wrong = 0, failed = 0;
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            RawHttp conn("127.0.0.1", corral.port);
            for (int round = 0; round < kRounds; ++round) {
                if (round % 5 == 4) {
                    // A stream from the mock model now and then: its chunks come back whole and in order.
                    conn.send(request("POST", "/v1/chat/completions",
                                      R"({"model":"toy","stream":true,"max_tokens":4,"messages":[{"role":"user","content":"hi"}]})"));
                    auto r = conn.read();
                    if (!r || r->status != 200 || r->body.find("data: [DONE]") == std::string::npos) ++failed;
                    continue;
                }
                conn.send(request("POST", "/tokenize", tokenize_body(words(c + 1))));
                auto r = conn.read();
                if (!r || r->status != 200) {
                    ++failed;
                    return;
                }
                if (token_count(r->body) != expected[c]) ++wrong;
            }
        });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(wrong.load(), 0) << "a client got another client's answer";
    EXPECT_EQ(failed.load(), 0);

    const std::string tokenize_count = R"(corral_requests_total{model="tiny-a",endpoint="/tokenize",code="200"} )";
    const int expected_count = kClients + kClients * (kRounds - kRounds / 5);
    auto count_in = [&](const std::string& text) {
        const auto at = text.find(tokenize_count);
        return at == std::string::npos ? -1 : std::stoi(text.substr(at + tokenize_count.size()));
    };
    const auto metrics = corral.metrics_once([&](const std::string& text) { return count_in(text) >= expected_count; });
    EXPECT_EQ(count_in(metrics), expected_count) << metrics;

    int io_threads = 0;
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(corral.pid()) + "/task")) {
        std::string name;
        std::getline(std::ifstream(entry.path() / "comm"), name);
        if (name.rfind("corral-io-", 0) == 0) ++io_threads;
    }
    EXPECT_EQ(io_threads, 3) << "the main thread and three more";
}

// A SIGTERM while requests cross between I/O threads ends in exit 0 with nothing used after it was
// freed (CI runs this under ASan): at that moment a session on an extra thread may wait for its
// route on the main thread, whose relay waits for forward() back on the extra thread, so each
// thread's pending work holds the other's. Two rounds, each stopped under a steady load of
// streams (still running when the drain's grace ends) and short requests.
TEST_F(Relay, ASigtermWhileRequestsCrossIoThreadsExitsCleanly) {
    for (int round = 0; round < 2; ++round) {
        Corral corral(
            dir_, with_io_threads(
                      config(R"(, "preload": ["toy"], "shutdown_grace": "100ms")", "", R"(, "runner_options": {"token_delay_ms": 5})"), 4));
        ASSERT_TRUE(wait_until([&] { return corral.state("toy") == "ready"; }, 30s));
        std::atomic<bool> stopping = false;
        std::atomic<int> answered = 0;
        std::vector<std::thread> clients;
        for (int c = 0; c < 12; ++c) {
            clients.emplace_back([&, c] {
                while (!stopping) {
                    try {
                        RawHttp conn("127.0.0.1", corral.port);
                        for (int i = 0; !stopping && i < 20; ++i) {
                            if (c % 3 == 0) {
                                conn.send(request(
                                    "POST", "/v1/chat/completions",
                                    R"({"model":"toy","stream":true,"max_tokens":40,"messages":[{"role":"user","content":"hi"}]})"));
                            } else if (c % 3 == 1) {
                                conn.send(request("POST", "/v1/chat/completions",
                                                  R"({"model":"toy","max_tokens":2,"messages":[{"role":"user","content":"hi"}]})"));
                            } else {
                                conn.send(request("GET", "/v1/models"));
                            }
                            auto r = conn.read(false, 5s);
                            if (!r) break;
                            if (r->status == 200) ++answered;
                            if (!r->keep_alive) break;
                        }
                    } catch (const std::exception&) {
                        std::this_thread::sleep_for(10ms);  // corral is gone: until the test says stop
                    }
                }
            });
        }
        EXPECT_TRUE(wait_until([&] { return answered.load() >= 100; }, 30s));
        EXPECT_EQ(corral.stop(SIGTERM), 0) << "round " << round;
        stopping = true;
        for (auto& t : clients) t.join();
    }
}

// Issue 18, finding 4: a body framed in a way corral and a server could read differently is a
// 400 and the end of the connection; what hides in it never runs.
TEST_F(Relay, SmuggledRequestsAreRefused) {
    Corral corral(dir_, config(R"(, "admin_api_key": "admin")"));
    const std::string hidden = "GET /corral/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer admin\r\n\r\n";
    for (const std::string te : {"identity", "gzip", "chunked, identity", "gzip, chunked", "chunked\r\nTransfer-Encoding: chunked"}) {
        RawHttp c("127.0.0.1", corral.port);
        c.send("POST /tokenize HTTP/1.1\r\nHost: corral\r\nTransfer-Encoding: " + te + "\r\n\r\n" + hidden);
        auto r = c.read();
        ASSERT_TRUE(r) << te;
        EXPECT_EQ(r->status, 400) << te;
        EXPECT_FALSE(r->keep_alive) << te;
        EXPECT_FALSE(c.read(false, 1s)) << "a second response: the hidden request ran (" << te << ")";
    }
    RawHttp both("127.0.0.1", corral.port);
    both.send("POST /tokenize HTTP/1.1\r\nHost: corral\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden);
    auto r = both.read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_FALSE(both.read(false, 1s));
    // A plain chunked body is fine.
    RawHttp chunked("127.0.0.1", corral.port);
    const std::string body = tokenize_body("hi");
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    chunked.send("POST /tokenize HTTP/1.1\r\nHost: corral\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(size) + "\r\n" + body +
                 "\r\n0\r\n\r\n");
    auto ok = chunked.read();
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(Relay, CorsIsCorralsPolicyForItsOwnAndRelayedResponses) {
    {
        Corral corral(dir_, config());
        // No cors_origins: a page on another origin gets no permission, even where the server would give one.
        auto relayed = corral.post("/tokenize", tokenize_body("x"), {{"Origin", "https://app.example.com"}});
        ASSERT_EQ(relayed.status, 200);
        EXPECT_FALSE(relayed.headers.count("access-control-allow-origin"));
        auto preflight = http_request("127.0.0.1", corral.port, "OPTIONS", "/v1/chat/completions", "",
                                      {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "POST"}});
        EXPECT_EQ(preflight.status, 204);
        EXPECT_FALSE(preflight.headers.count("access-control-allow-origin"));
    }
    Corral corral(dir_, config(R"(, "cors_origins": ["https://app.example.com"], "api_keys": ["k"])"));
    // Preflights need no key (browsers send none) and get what they asked for.
    auto preflight = http_request("127.0.0.1", corral.port, "OPTIONS", "/v1/chat/completions", "",
                                  {{"Origin", "https://app.example.com"},
                                   {"Access-Control-Request-Method", "POST"},
                                   {"Access-Control-Request-Headers", "authorization, content-type"}});
    EXPECT_EQ(preflight.status, 204);
    EXPECT_EQ(preflight.headers["access-control-allow-origin"], "https://app.example.com");
    EXPECT_EQ(preflight.headers["access-control-allow-headers"], "authorization, content-type");
    EXPECT_NE(preflight.headers["access-control-allow-methods"].find("POST"), std::string::npos);
    const Headers key{{"Origin", "https://app.example.com"}, {"Authorization", "Bearer k"}};
    auto relayed = corral.post("/tokenize", tokenize_body("x"), key);
    EXPECT_EQ(relayed.headers["access-control-allow-origin"], "https://app.example.com");
    EXPECT_EQ(relayed.headers["vary"], "Origin");
    auto own = corral.get("/v1/models", key);
    EXPECT_EQ(own.headers["access-control-allow-origin"], "https://app.example.com");
    auto refused = corral.get("/v1/models", {{"Origin", "https://app.example.com"}});
    EXPECT_EQ(refused.status, 401);
    EXPECT_EQ(refused.headers["access-control-allow-origin"], "https://app.example.com") << "a browser must be able to read the 401";
    auto other = corral.post("/tokenize", tokenize_body("x"), {{"Origin", "https://evil.example.com"}, {"Authorization", "Bearer k"}});
    EXPECT_EQ(other.status, 200);
    EXPECT_FALSE(other.headers.count("access-control-allow-origin"));
}

TEST_F(Relay, UpstreamReachesOneServerAndGuardsItsState) {
    fs::create_directories(dir_ / "slots");
    Corral corral(dir_, config(R"(, "api_keys": ["user"], "admin_api_key": "admin")",
                               R"(, "extra_args": ["--slot-save-path", ")" + (dir_ / "slots").string() + R"(/"])"));
    const Headers user{{"Authorization", "Bearer user"}};
    const Headers admin{{"Authorization", "bearer admin"}};  // the scheme is case-insensitive
    // A request for a model's server starts it, like any other.
    auto props = corral.get("/upstream/tiny-a/props", user);
    ASSERT_EQ(props.status, 200) << props.body;
    EXPECT_EQ(json::parse(props.body).at("model_alias"), "tiny-a");
    EXPECT_EQ(corral.get("/upstream/tiny-a/slots", user).status, 200);
    EXPECT_EQ(corral.get("/upstream/tiny-a/props").status, 401);
    EXPECT_EQ(corral.get("/upstream/nope/props", user).status, 404);
    EXPECT_EQ(corral.get("/upstream//props", user).status, 400);
    auto chat =
        corral.post("/upstream/tiny-a/v1/chat/completions", R"({"max_tokens":2,"messages":[{"role":"user","content":"hi"}]})", user);
    EXPECT_EQ(chat.status, 200) << chat.body;
    // Changing a server's state takes the admin key, through /upstream and through the routed paths.
    EXPECT_EQ(corral.post("/upstream/tiny-a/slots/0?action=erase", "", user).status, 401);
    auto erased = corral.post("/upstream/tiny-a/slots/0?action=erase", "", admin);
    EXPECT_EQ(erased.status, 200) << erased.body;
    EXPECT_EQ(corral.post("/slots/0?action=erase&model=tiny-a", "", user).status, 401);
    EXPECT_EQ(corral.post("/slots/0?action=erase&model=tiny-a", "", admin).status, 200);
    EXPECT_EQ(corral.get("/upstream/tiny-a/cors-proxy?url=http://127.0.0.1:1/", user).status, 401);
    // The server's own routes corral did not relay before.
    EXPECT_EQ(corral.get("/lora-adapters?model=tiny-a", user).status, 200);
    EXPECT_EQ(corral.get("/v1/health").status, 200);
    auto responses = corral.post("/v1/responses", R"({"model":"tiny-a","input":"hi","max_output_tokens":2})", user);
    EXPECT_EQ(responses.status, 200) << responses.body;
}

TEST_F(Relay, RequestsWithoutAModelGoToTheOneLoadedModel) {
    Corral corral(dir_, config());
    auto none = corral.get("/props");
    EXPECT_EQ(none.status, 400) << "three models, none loaded: which one?";
    ASSERT_EQ(corral.post("/tokenize", tokenize_body("x")).status, 200);
    auto props = corral.get("/props");
    ASSERT_EQ(props.status, 200) << props.body;
    EXPECT_EQ(json::parse(props.body).at("model_alias"), "tiny-a");
    EXPECT_EQ(corral.get("/slots").status, 200);
    ASSERT_EQ(corral.post("/tokenize", tokenize_body("x", "tiny-b")).status, 200);
    EXPECT_EQ(corral.get("/props").status, 400) << "two loaded: no default";
    auto index = corral.get("/");
    EXPECT_EQ(index.status, 200);
    EXPECT_NE(index.body.find("/upstream/tiny-b/"), std::string::npos) << index.body;
}

// Finding 5 and the per-server keys: a server's port alone does not let a local user in.
TEST_F(Relay, ServersAcceptOnlyCorralsKey) {
    Corral corral(dir_, config("", R"(, "aliases": ["a"])"));
    ASSERT_EQ(corral.post("/tokenize", tokenize_body("x")).status, 200);
    const auto pid = corral.pid("tiny-a");
    const std::string endpoint(corral.model("tiny-a").at("endpoint").as_string());
    std::string host;
    uint16_t port = 0;
    split_endpoint(endpoint, host, port);
    EXPECT_EQ(http_request(host, port, "POST", "/tokenize", R"({"content":"x"})").status, 401);
    EXPECT_EQ(http_request(host, port, "GET", "/props").status, 401);
    EXPECT_EQ(http_request(host, port, "GET", "/health").status, 200);
    EXPECT_EQ(corral.post("/tokenize", tokenize_body("x")).status, 200);
    // The key is in the server's environment, never on its command line.
    EXPECT_NE(environment_of(pid).find("LLAMA_API_KEY="), std::string::npos);
    for (const auto& arg : command_line(pid)) EXPECT_EQ(arg.find("api-key"), std::string::npos) << arg;
    // A client's own credentials are never passed on to the server.
    EXPECT_EQ(corral.post("/tokenize", tokenize_body("x"), {{"Authorization", "Bearer wrong"}, {"x-api-key", "wrong"}}).status, 200);
}

TEST_F(Relay, AUserSetServerKeyIsSentToo) {
    Corral corral(dir_, config("", R"(, "extra_args": ["--api-key", "user-set"])"));
    auto r = corral.post("/v1/chat/completions", R"({"model":"tiny-a","max_tokens":2,"messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string endpoint(corral.model("tiny-a").at("endpoint").as_string());
    std::string host;
    uint16_t port = 0;
    split_endpoint(endpoint, host, port);
    EXPECT_EQ(http_request(host, port, "GET", "/props").status, 401);
    EXPECT_EQ(http_request(host, port, "GET", "/props", "", {{"Authorization", "Bearer user-set"}}).status, 200);
}

// A server that refuses corral's key (here: adopted after its key secret was deleted, so corral
// derives another key) is corral's failure: the client, whose own key was fine, gets a 502 that
// says so, not the server's 401.
TEST_F(Relay, AServerRefusingCorralsKeyIsA502NotTheClients401) {
    auto text = config();
    text.replace(text.find("127.0.0.1:0"), 11, "127.0.0.1:" + std::to_string(free_port()));
    const std::string chat = R"({"model":"tiny-a","max_tokens":2,"messages":[{"role":"user","content":"hi"}]})";
    {
        Corral corral(dir_, text);
        ASSERT_EQ(corral.post("/v1/chat/completions", chat).status, 200);
        corral.stop(SIGKILL);
    }
    fs::remove(dir_ / "state" / "server-keys.secret");
    Corral corral(dir_, text);
    auto r = corral.post("/v1/chat/completions", chat);
    EXPECT_EQ(r.status, 502) << r.body;
    const auto error = json::parse(r.body).at("error");
    EXPECT_EQ(error.at("code"), "upstream_failed");
    EXPECT_NE(std::string(error.at("message").as_string()).find("refused corral's key"), std::string::npos) << r.body;
}

TEST_F(Relay, ModelListCarriesTheServersFacts) {
    Corral corral(dir_, config());
    auto entry = [&](const std::string& name) {
        const auto list = json::parse(corral.get("/v1/models").body);
        for (const auto& m : list.at("data").as_array()) {
            if (m.at("id") == name.c_str()) return m.as_object();
        }
        throw std::runtime_error("no " + name);
    };
    // Not running: the GGUF's facts.
    auto idle = entry("tiny-a");
    EXPECT_EQ(idle.at("meta").at("n_ctx_train").as_int64(), 2048);
    EXPECT_EQ(idle.at("meta").at("n_embd").as_int64(), 64);
    EXPECT_FALSE(entry("toy").contains("meta")) << "a mock model has no GGUF to read";
    EXPECT_FALSE(entry("toy").contains("details"));
    // Its details say what `corral fit` reads from the same file.
    for (const char* name : {"tiny-a", "tiny-b"}) {
        const auto path = kModels + "/" + name + ".gguf";
        auto fit = run_process({CORRAL_TEST_BINARY, "fit", path, "--json", "--no-probe"});
        ASSERT_EQ(fit.exit_code, 0) << fit.err;
        const auto model = json::parse(fit.out).at("model");
        const auto details = entry(name).at("details");
        EXPECT_EQ(details.at("format"), "gguf");
        EXPECT_EQ(details.at("architecture"), model.at("architecture"));
        EXPECT_EQ(details.at("parameters"), model.at("parameter_count"));
        EXPECT_GT(details.at("parameters").to_number<uint64_t>(), 0u);
        EXPECT_EQ(details.at("quantization"), model.at("file_type"));
        EXPECT_EQ(details.at("context_length"), model.at("context_length"));
        EXPECT_EQ(details.at("file_size").to_number<uintmax_t>(), fs::file_size(path));
        EXPECT_EQ(details.at("files"), 1);
        // Text models with a chat template; no projector, and their servers are not started with --embeddings.
        EXPECT_EQ(model.at("has_chat_template"), true);
        EXPECT_EQ(json::serialize(entry(name).at("capabilities")), R"(["completion","chat"])");
    }
    // Running: what the server itself reports (meta, architecture), under corral's id and status.
    ASSERT_EQ(corral.post("/tokenize", tokenize_body("x")).status, 200);
    auto running = entry("tiny-a");
    EXPECT_EQ(running.at("id"), "tiny-a");
    EXPECT_EQ(running.at("owned_by"), "corral");
    EXPECT_EQ(running.at("status").at("value"), "ready");
    EXPECT_EQ(running.at("meta").at("n_ctx").as_int64(), 2048);
    EXPECT_GT(running.at("meta").at("n_params").as_int64(), 0);
    EXPECT_TRUE(running.contains("architecture"));
    // One entry, by name or alias (OpenAI's models.retrieve).
    auto one = corral.get("/v1/models/tiny-a");
    ASSERT_EQ(one.status, 200);
    EXPECT_EQ(json::parse(one.body).at("meta").at("n_ctx").as_int64(), 2048);
    EXPECT_EQ(json::parse(corral.get("/v1/models/toy").body).at("id"), "toy");
    EXPECT_EQ(corral.get("/v1/models/nope").status, 404);
}

// Finding 7: corral reads only "model" (and "stream"): deep schemas are the server's business.
TEST_F(Relay, DeeplyNestedBodiesAreRelayed) {
    Corral corral(dir_, config());
    std::string schema = R"({"type":"string"})";
    for (int i = 0; i < 15; ++i) schema = R"({"type":"object","properties":{"p":)" + schema + "}}";
    auto r = corral.post("/apply-template", R"({"model":"tiny-a","response_format":{"type":"json_schema","json_schema":{"schema":)" +
                                                schema + R"(}},"messages":[{"role":"user","content":"hi"}]})");
    EXPECT_EQ(r.status, 200) << r.body;
    auto bad = corral.post("/v1/chat/completions", R"({"model": 3})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(json::parse(bad.body).at("error").at("message"), "`model` must be a string.");
}

// The same requests with real clients, through corral and straight to a llama-server started with
// the same command line; tests/e2e/differential.cjs lists every intended difference.
TEST_F(Relay, DifferentialAgainstLlamaServerDirect) {
    Corral corral(dir_, config(R"(, "cors_origins": ["*"])"));
    ASSERT_EQ(corral.post("/tokenize", tokenize_body("x")).status, 200);
    auto args = command_line(corral.pid("tiny-a"));
    ASSERT_FALSE(args.empty());
    const uint16_t port = free_port();
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--port") args[i + 1] = std::to_string(port);
    }
    args[0] = CORRAL_TEST_LLAMA_SERVER;
    SpawnedProcess direct(args, (dir_ / "direct.log").string());
    ASSERT_TRUE(eventually(
        [&] {
            try {
                return http_request("127.0.0.1", port, "GET", "/health").status == 200;
            } catch (const std::exception&) {
                return false;
            }
        },
        30s));
    auto r = run_process({"/usr/bin/env", "node", CORRAL_TEST_SOURCE_DIR "/tests/e2e/differential.cjs",
                          "http://127.0.0.1:" + std::to_string(port), "http://127.0.0.1:" + std::to_string(corral.port), "tiny-a"},
                         {{"NODE_PATH", CORRAL_TEST_NODE_MODULES}});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::cout << r.out;
    direct.stop(SIGTERM, 5s);
}

}  // namespace
}  // namespace corral::test
