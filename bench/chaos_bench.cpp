// 7. Chaos soak: mixed streaming and non-streaming traffic over three models while model servers
// are killed (-9) at random, one is frozen (SIGSTOP), and corral itself is killed (-9) and started
// again on the same address. Reported: what every request ended as (answered, failed with a clear
// error by kind, hung: must be 0), the model servers left running after the final drain (must be
// 0), and corral's RSS and descriptors.
#include "benchmarks.hpp"

#include <signal.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

namespace corral::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr auto kDeadline = std::chrono::seconds(60);  // a request still unanswered after this is "hung"
const std::vector<std::string> kModels = {"tiny-a", "tiny-b", "toy"};

// What one request ended as: "answered", or a failure's kind.
asio::awaitable<std::string> exchange(uint16_t port, std::string body, bool stream) {
    beast::tcp_stream s(co_await asio::this_coro::executor);
    s.expires_after(kDeadline);
    auto [cec] = co_await s.async_connect(asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), port), tuple_awaitable);
    if (cec == beast::error::timeout) co_return "hung";
    if (cec) co_return "connect failed: " + cec.message();
    http::request<http::string_body> req{http::verb::post, "/v1/chat/completions", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    auto [wec, wn] = co_await http::async_write(s, req, tuple_awaitable);
    if (wec == beast::error::timeout) co_return "hung";
    if (wec) co_return "send failed: " + wec.message();
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(16 << 20);
    auto [rec, rn] = co_await http::async_read(s, buffer, parser, tuple_awaitable);
    if (rec == beast::error::timeout) co_return "hung";
    if (rec) {
        co_return parser.is_header_done() ? "body cut short (HTTP's failure signal): " + rec.message()
                                          : "connection lost before an answer: " + rec.message();
    }
    const auto& res = parser.get();
    const std::string& text = res.body();
    if (res.result_int() == 200) {
        if (stream) {
            if (text.find("data: [DONE]") != std::string::npos && text.find("\"error\"") == std::string::npos) co_return "answered";
            if (text.find("\"error\"") != std::string::npos) co_return "stream ended with an error event";
            co_return "stream without [DONE] (unclear)";
        }
        co_return text.find("\"choices\"") != std::string::npos ? "answered" : "200 without choices (unclear)";
    }
    boost::system::error_code ec;
    auto error = boost::json::parse(text, ec);
    std::string code = "?";
    if (!ec && error.is_object() && error.as_object().contains("error")) {
        const auto& e = error.at("error");
        if (e.is_object() && e.as_object().contains("code") && e.at("code").is_string()) code = std::string(e.at("code").as_string());
    } else {
        code = "not an OpenAI error (unclear)";
    }
    co_return "HTTP " + std::to_string(res.result_int()) + " " + code;
}

class Traffic {
public:
    Traffic(uint16_t port, int clients) : port_(port) {
        for (int i = 0; i < clients; ++i) threads_.emplace_back([this, i] { run(i); });
    }
    ~Traffic() { stop(); }
    void stop() {
        stopping_ = true;
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
    }
    // Outcomes by kind; a failure that ended while corral was down (killed, not yet serving again)
    // is counted under that cause.
    std::map<std::string, uint64_t> outcomes(clock::time_point down, clock::time_point up) {
        std::lock_guard lock(mutex_);
        std::map<std::string, uint64_t> by_kind;
        for (const auto& [kind, ended] : outcomes_) {
            const bool host_down = ended >= down && ended <= up + std::chrono::milliseconds(100);
            ++by_kind[kind != "answered" && kind != "hung" && host_down ? "corral was down (killed -9): " + kind : kind];
        }
        return by_kind;
    }

private:
    void run(int seed) {
        std::mt19937 random(static_cast<unsigned>(seed * 7919 + 1));
        asio::io_context io;
        while (!stopping_) {
            const auto& model = kModels[random() % kModels.size()];
            const bool stream = random() % 2 == 0;
            const std::string body = R"({"model": ")" + model + R"(", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8,)" +
                                     R"( "ignore_eos": true, "stream": )" + (stream ? "true" : "false") + "}";
            std::string outcome;
            asio::co_spawn(
                io, [&]() -> asio::awaitable<void> { outcome = co_await exchange(port_, body, stream); }, asio::detached);
            io.restart();
            io.run();
            {
                std::lock_guard lock(mutex_);
                outcomes_.emplace_back(outcome, clock::now());
            }
            // While corral is down, connections are refused at once: do not spin.
            if (outcome.rfind("connect failed", 0) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    uint16_t port_;
    std::atomic<bool> stopping_{false};
    std::mutex mutex_;
    std::vector<std::pair<std::string, clock::time_point>> outcomes_;
    std::vector<std::thread> threads_;
};

int open_fds(int pid) {
    int n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec); !ec && it != fs::directory_iterator();
         it.increment(ec))
        ++n;
    return n;
}

// Processes running `binary` (by /proc/PID/exe).
std::vector<int> processes_of(const fs::path& binary) {
    std::vector<int> pids;
    std::error_code ec;
    const auto target = fs::canonical(binary, ec);
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::error_code lec;
        if (fs::read_symlink(entry.path() / "exe", lec) == target) pids.push_back(std::stoi(name));
    }
    return pids;
}

std::optional<int> server_pid(const CorralServe& corral, const std::string& model) {
    try {
        auto m = corral.model(model);
        if (m.contains("pid") && m.at("pid").is_number()) return m.at("pid").to_number<int>();
    } catch (const std::exception&) {
    }
    return std::nullopt;
}

}  // namespace

Section bench_chaos(const BenchEnv& env) {
    Section s{"7. Chaos soak (" + std::to_string(env.soak_seconds) + " s: servers killed, one frozen, corral killed and restarted)",
              {"measure", "value"},
              {},
              {},
              {}};
    if (!processes_of(env.llama_server).empty()) throw std::runtime_error("llama-server processes are already running: stop them first");
    const std::string models = "{" + tiny_model(env, "tiny-a") + ", " + tiny_model(env, "tiny-b") +
                               R"(, "toy": {"path": "/dev/null", "runner": "mock", "runner_options": {"token_delay_ms": 20}}})";
    const std::string more = R"(, "probes": ["cpu"], "preload": ["tiny-a", "tiny-b", "toy"],
        "supervisor": {"health_interval": "1s", "unhealthy_after": 3, "restart_backoff": "100ms", "restart_backoff_max": "1s",
                       "restart_attempts": 1000, "stop_grace": "2s"})";
    CorralServe corral(env, env.work / "chaos", llama_runners(env), models, more);
    for (const auto& m : kModels) wait_ready(corral, m);
    const auto rss_before = rss_bytes(corral.pid());
    const auto fds_before = open_fds(corral.pid());

    std::mt19937 random(42);
    int server_kills = 0;
    double host_restart_ms = 0;
    clock::time_point host_down{}, host_up{};
    const auto soak = std::chrono::seconds(env.soak_seconds);
    const auto freeze_at = soak * 3 / 10, host_kill_at = soak * 6 / 10;
    bool frozen = false, thawed = false, host_killed = false;
    std::optional<int> frozen_pid;
    clock::time_point frozen_since;
    uint64_t rss_restarted = 0;
    int fds_restarted = 0;
    {
        Traffic traffic(corral.port(), 8);
        const auto started = clock::now();
        auto next_kill = started + std::chrono::seconds(2);
        while (clock::now() - started < soak) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const auto now = clock::now();
            if (!frozen && now - started >= freeze_at) {
                // tiny-b's server, once it has one (it may be restarting after a kill).
                if ((frozen_pid = server_pid(corral, "tiny-b"))) {
                    frozen = true;
                    ::kill(*frozen_pid, SIGSTOP);
                    frozen_since = now;
                }
            }
            if (frozen && !thawed && now - frozen_since >= std::chrono::seconds(10)) {
                thawed = true;
                if (frozen_pid) ::kill(*frozen_pid, SIGCONT);  // corral has replaced it by now: it was killed
            }
            if (!host_killed && now - started >= host_kill_at) {
                host_killed = true;
                host_down = clock::now();
                host_restart_ms = corral.kill_and_restart();
                host_up = clock::now();
                for (const auto& m : kModels) wait_ready(corral, m);
                rss_restarted = rss_bytes(corral.pid());
                fds_restarted = open_fds(corral.pid());
                continue;
            }
            if (now >= next_kill) {
                const auto& victim = kModels[random() % 2];  // a llama-server, not the in-process mock
                if (auto pid = server_pid(corral, victim); pid && pid != frozen_pid) {
                    ::kill(*pid, SIGKILL);
                    ++server_kills;
                }
                next_kill = now + std::chrono::milliseconds(2000 + random() % 2000);
            }
        }
        traffic.stop();
        const auto outcomes = traffic.outcomes(host_down, host_up);
        uint64_t total = 0, answered = 0, hung = 0, unclear = 0;
        for (const auto& [kind, n] : outcomes) {
            total += n;
            if (kind == "answered") answered += n;
            if (kind == "hung") hung += n;
            if (kind.find("(unclear)") != std::string::npos) unclear += n;
        }
        s.rows.push_back({"requests", std::to_string(total)});
        s.rows.push_back({"answered", std::to_string(answered) + " (" + fixed(100.0 * answered / std::max<uint64_t>(total, 1), 1) + "%)"});
        boost::json::object kinds;
        for (const auto& [kind, n] : outcomes) {
            kinds[kind] = n;
            if (kind != "answered" && kind != "hung") s.rows.push_back({"failed: " + kind, std::to_string(n)});
        }
        s.rows.push_back({"hung (no answer in 60 s; must be 0)", std::to_string(hung)});
        s.rows.push_back({"failed without a clear error", std::to_string(unclear)});
        s.json["outcomes"] = kinds;
        s.json["requests"] = total;
        s.json["answered"] = answered;
        s.json["hung"] = hung;
        s.json["unclear"] = unclear;
    }
    const auto rss_after = rss_bytes(corral.pid());
    const auto fds_after = open_fds(corral.pid());
    corral.stop();
    const auto orphans = processes_of(env.llama_server);
    for (int pid : orphans) ::kill(pid, SIGKILL);

    auto mib = [](uint64_t b) { return fixed(static_cast<double>(b) / (1024.0 * 1024.0), 1) + " MiB"; };
    s.rows.push_back({"servers killed (-9)", std::to_string(server_kills)});
    s.rows.push_back({"server frozen (SIGSTOP, 10 s)", frozen_pid ? "1" : "0"});
    s.rows.push_back({"corral killed (-9) and restarted: until serving again", fixed(host_restart_ms, 0) + " ms"});
    s.rows.push_back({"servers left running after the drain (must be 0)", std::to_string(orphans.size())});
    s.rows.push_back({"corral RSS: warm / after restart / end", mib(rss_before) + " / " + mib(rss_restarted) + " / " + mib(rss_after)});
    s.rows.push_back({"corral fds: warm / after restart / end",
                      std::to_string(fds_before) + " / " + std::to_string(fds_restarted) + " / " + std::to_string(fds_after)});
    s.json["server_kills"] = server_kills;
    s.json["host_restart_ms"] = host_restart_ms;
    s.json["orphans"] = orphans.size();
    s.json["rss_bytes"] = {{"warm", rss_before}, {"after_restart", rss_restarted}, {"end", rss_after}};
    s.json["fds"] = {{"warm", fds_before}, {"after_restart", fds_restarted}, {"end", fds_after}};
    s.notes.push_back(
        "8 clients in a loop: chat completions (max_tokens 8) to tiny-a, tiny-b (llama-server) and toy (mock), half streamed");
    s.notes.push_back("a server is killed every 2-4 s; the restarted corral adopts the servers the killed one left");
    s.notes.push_back("descriptors include pooled keep-alive connections to the servers and the adopted servers' log files");
    if (!orphans.empty()) throw std::runtime_error(std::to_string(orphans.size()) + " llama-server processes outlived corral's drain");
    return s;
}

}  // namespace corral::bench
