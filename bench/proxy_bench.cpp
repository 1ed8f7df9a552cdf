// 1. Proxy overhead: POST /tokenize and chat completions with max_tokens 1, at 1, 8 and 64
// connections (wrk), through corral and through nginx as a keep-alive reverse proxy to the same
// llama-server (on its Unix socket, corral's default), to its twin on TCP directly, and through
// llama.cpp's router mode; each as a ratio to direct.
#include "benchmarks.hpp"
#include "http_client.hpp"
#include "paired_verdict.hpp"
#include "serve/connection_threads.hpp"
#include "wrk_runner.hpp"

#include <algorithm>
#include <thread>
#include <vector>

namespace corral::bench {
Section bench_proxy(const BenchEnv& env) {
    Section s{"1. Proxy overhead (wrk, keep-alive)",
              {"endpoint", "conns", "target", "req/s", "vs direct", "p50 ms", "p99 ms", "relay CPU us/req", "corral/nginx paired",
               "corral vs nginx: req/s, p99", "errors"},
              {},
              {},
              {}};
    auto dir = env.work / "proxy";
    CorralServe corral(
        env, dir / "corral", llama_runners(env),
        "{" + tiny_model(env, "tiny-a", R"(, "parallel": 8, "memory": "64MiB", "extra_args": ["--threads-http", "300"])") + "}",
        R"(, "probes": ["cpu"], "preload": ["tiny-a"])");
    // The preloaded server: corral and nginx reach this very server, on its Unix socket (on TCP with
    // a llama-server build that has none); "direct" is its twin on TCP (wrk speaks TCP only).
    const std::string endpoint = wait_ready(corral, "tiny-a");
    const std::string key = server_key(corral, "tiny-a");
    DirectTwin twin(corral, "tiny-a", dir / "direct.log");
    const uint16_t direct = twin.port();

    // corral runs with its automatic io_threads; nginx gets as many workers.
    const uint32_t io_threads = serve::io_threads_for(0, std::thread::hardware_concurrency());
    NginxProxy nginx(dir / "nginx", endpoint, key, io_threads);
    const uint16_t nginx_port = nginx.port();
    const std::vector<int> nginx_workers = nginx.workers();
    const bool on_socket = nginx.on_socket();

    const uint16_t router_port = free_port();
    Background router({env.llama_server.string(), "--models-dir", env.models.string(), "--models-max", "2", "--host", "127.0.0.1", "--port",
                       std::to_string(router_port), "--ctx-size", "2048", "--parallel", "8", "--threads-http", "300"},
                      dir / "router.log");
    if (!wait_http_ok(router_port, "/health", std::chrono::seconds(30))) throw std::runtime_error("router mode did not start");
    // Load tiny-a in the router before measuring.
    for (int i = 0; i < 300; ++i) {
        try {
            if (test::http_request("127.0.0.1", router_port, "POST", "/tokenize", R"({"model": "tiny-a", "content": "hi"})").status == 200)
                break;
        } catch (const std::exception&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    struct Target {
        const char* name;
        uint16_t port;
    };
    const Target targets[] = {{"direct", direct}, {"corral", corral.port()}, {"nginx", nginx_port}, {"router", router_port}};
    struct Endpoint {
        const char* name;
        const char* path;
        const char* body;
    };
    const Endpoint endpoints[] = {{"tokenize", "/tokenize", R"({"model": "tiny-a", "content": "hello world, how are you?"})"},
                                  {"chat max_tokens=1", "/v1/chat/completions",
                                   R"({"model": "tiny-a", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})"}};
    // This machine's speed drifts from minute to minute, so one run per target would compare
    // moments as much as proxies: direct, corral and nginx run in turns, nine rounds of half the
    // run time each, in orders that change from round to round (below), and every figure of a row is the
    // median of its rounds' (requests per second, p50, p90 and p99 each; errors summed). Three
    // rounds left single rows 5-10 % apart between runs minutes apart, either way; nine give the
    // paired verdict (below) a 96 % interval that one stray round on each side does not move.
    // Router mode (a different league) runs once.
    const int rounds = env.seconds >= 4 ? 9 : 1;
    const int round_seconds = std::max(1, rounds > 1 ? env.seconds / 2 : env.seconds);
    constexpr std::size_t kTurns = 3;  // direct, corral, nginx
    boost::json::array runs;
    for (const auto& e : endpoints) {
        for (int conns : {1, 8, 64}) {
            std::vector<std::vector<WrkResult>> results(std::size(targets));
            // CPU per request, each round: corral's whole process in its rounds and in nginx's
            // (where it relays nothing but still supervises the server and takes its log lines: the
            // share of its CPU that is not relaying), nginx's workers in nginx's.
            std::vector<std::vector<double>> cpu_us(kTurns);
            std::vector<double> corral_in_nginx_us;
            auto measure = [&](std::size_t t, int seconds) {
                const bool to_server = t == 0;
                auto nginx_ns = [&] {
                    uint64_t sum = 0;
                    for (int pid : nginx_workers) sum += cpu_ns(pid);
                    return sum;
                };
                const uint64_t corral_before = cpu_ns(corral.pid()), nginx_before = nginx_ns();
                results[t].push_back(run_wrk(dir, "http://127.0.0.1:" + std::to_string(targets[t].port) + e.path, e.body, conns, seconds,
                                             to_server ? key : ""));
                const auto requests = static_cast<double>(std::max<uint64_t>(1, results[t].back().requests));
                // A thread that ended during the round takes its time with it: never below zero.
                auto us_per_request = [&](uint64_t before, uint64_t after) {
                    return after > before ? static_cast<double>(after - before) / 1000 / requests : 0.0;
                };
                if (t == 1) cpu_us[t].push_back(us_per_request(corral_before, cpu_ns(corral.pid())));
                if (t == 2) {
                    cpu_us[t].push_back(us_per_request(nginx_before, nginx_ns()));
                    corral_in_nginx_us.push_back(us_per_request(corral_before, cpu_ns(corral.pid())));
                }
            };
            // The rounds' orders: each target in each place equally often over six rounds, and
            // corral and nginx taking turns at going first (the first of a pair measured about 3 %
            // faster over three runs' 162 pairs; a plain rotation put corral first in two rounds of three).
            static constexpr std::size_t kOrders[6][kTurns] = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {1, 0, 2}, {2, 1, 0}};
            for (int r = 0; r < rounds; ++r)
                for (std::size_t t : kOrders[static_cast<std::size_t>(r) % std::size(kOrders)]) measure(t, round_seconds);
            measure(kTurns, env.seconds);
            auto median = [](std::vector<double> v) { return stats_of(std::move(v)).median; };
            auto median_run = [&](const std::vector<WrkResult>& all) {
                auto median_of = [&](double WrkResult::*field) {
                    std::vector<double> v;
                    for (const auto& r : all) v.push_back(r.*field);
                    return median(std::move(v));
                };
                WrkResult m;
                m.requests_per_second = median_of(&WrkResult::requests_per_second);
                m.p50_ms = median_of(&WrkResult::p50_ms);
                m.p90_ms = median_of(&WrkResult::p90_ms);
                m.p99_ms = median_of(&WrkResult::p99_ms);
                for (const auto& r : all) {
                    m.requests += r.requests;
                    m.errors += r.errors;
                }
                return m;
            };
            const double direct_rps = median_run(results[0]).requests_per_second;
            // corral's relaying: its CPU per request in its rounds less what it spends per request
            // when it relays nothing (nginx's rounds: the same server serves them and logs them).
            const double background_us = median(corral_in_nginx_us);
            std::vector<double> relay_us[kTurns];
            for (double gross : cpu_us[1]) relay_us[1].push_back(gross - background_us);
            relay_us[2] = cpu_us[2];
            // The machine's speed drifts between rounds by more than the proxies differ, so corral
            // and nginx are also compared round by round (their runs minutes apart never are): the
            // median of each round's corral/nginx ratio, for req/s and relay CPU, and of each
            // round's p99 difference; req/s and p99 with the interval that says whether the rounds
            // resolve a side (paired_verdict.hpp).
            std::vector<double> paired_rps, paired_cpu, paired_p99;
            for (std::size_t i = 0; i < results[1].size() && i < results[2].size(); ++i) {
                if (results[2][i].requests_per_second > 0)
                    paired_rps.push_back(results[1][i].requests_per_second / results[2][i].requests_per_second);
                paired_p99.push_back(results[1][i].p99_ms - results[2][i].p99_ms);
                if (i < relay_us[1].size() && i < relay_us[2].size() && relay_us[2][i] > 0)
                    paired_cpu.push_back(relay_us[1][i] / relay_us[2][i]);
            }
            const double paired_rps_ratio = median(paired_rps), paired_cpu_ratio = median(paired_cpu);
            const PairedVerdict rps_verdict = paired_verdict(paired_rps, 1.0, true), p99_verdict = paired_verdict(paired_p99, 0.0, false);
            for (std::size_t t = 0; t < std::size(targets); ++t) {
                const WrkResult r = median_run(results[t]);
                const double ratio = direct_rps > 0 ? r.requests_per_second / direct_rps : 0;
                const bool proxy = t == 1 || t == 2;
                const double relay = proxy ? median(relay_us[t]) : 0;
                s.rows.push_back({e.name, std::to_string(conns), targets[t].name, fixed(r.requests_per_second, 0), fixed(ratio, 2),
                                  fixed(r.p50_ms, 2), fixed(r.p99_ms, 2), proxy ? fixed(relay, 1) : "-",
                                  t == 1 ? fixed(paired_rps_ratio, 3) + " (" + fixed(rps_verdict.low, 2) + "-" +
                                               fixed(rps_verdict.high, 2) + ") req/s, " + fixed(paired_cpu_ratio, 3) + " CPU"
                                         : "-",
                                  t == 1 ? std::string(to_string(rps_verdict.side)) + ", " + to_string(p99_verdict.side) : "-",
                                  std::to_string(r.errors)});
                boost::json::array each, each_p99;
                for (const auto& x : results[t]) {
                    each.push_back(x.requests_per_second);
                    each_p99.push_back(x.p99_ms);
                }
                runs.push_back({{"endpoint", e.name},
                                {"connections", conns},
                                {"target", targets[t].name},
                                {"requests_per_second", r.requests_per_second},
                                {"ratio_to_direct", ratio},
                                {"p50_ms", r.p50_ms},
                                {"p90_ms", r.p90_ms},
                                {"p99_ms", r.p99_ms},
                                {"requests", r.requests},
                                {"errors", r.errors},
                                {"rounds_requests_per_second", std::move(each)},
                                {"rounds_p99_ms", std::move(each_p99)}});
                if (proxy) {
                    runs.back().as_object()["relay_cpu_us_per_request"] = relay;
                    runs.back().as_object()["rounds_relay_cpu_us_per_request"] = boost::json::array(relay_us[t].begin(), relay_us[t].end());
                }
                if (t == 2) runs.back().as_object()["corral_background_cpu_us_per_request"] = background_us;
                if (t == 1) {
                    runs.back().as_object()["paired_requests_per_second_vs_nginx"] = paired_rps_ratio;
                    runs.back().as_object()["paired_relay_cpu_vs_nginx"] = paired_cpu_ratio;
                    auto verdict_json = [](const PairedVerdict& v) {
                        return boost::json::object{
                            {"median", v.median}, {"interval", {v.low, v.high}}, {"confidence", v.confidence}, {"side", to_string(v.side)}};
                    };
                    runs.back().as_object()["verdict_requests_per_second_vs_nginx"] = verdict_json(rps_verdict);
                    runs.back().as_object()["verdict_p99_ms_minus_nginx"] = verdict_json(p99_verdict);
                }
            }
        }
    }
    s.json["runs"] = std::move(runs);
    s.notes.push_back(std::string("corral and nginx reach the same llama-server (--parallel 8) ") +
                      (on_socket ? "on its Unix socket (corral's default transport)" : "on its TCP port (this build has no Unix sockets)") +
                      "; direct is its twin (the same arguments and key) on a TCP port; router mode runs its own child servers");
    s.notes.push_back("direct, corral and nginx: each figure the median of " + std::to_string(rounds) + " interleaved run(s) of " +
                      std::to_string(round_seconds) + " s each (errors: all runs); router: one run of " + std::to_string(env.seconds) +
                      " s");
    s.notes.push_back(
        "corral/nginx paired: the median of the rounds' corral/nginx ratios (each round runs both within seconds; "
        "above 1 for req/s and below 1 for CPU is corral ahead), req/s with its interval (" +
        interval_note(static_cast<std::size_t>(rounds)) + ")");
    s.notes.push_back(
        "corral vs nginx: ahead or behind where that interval lies wholly on one side (req/s ratio of 1; the rounds' p99 differences "
        "of 0 ms, the same way), level where it straddles it: the rounds do not resolve a difference");
    s.notes.push_back(
        "relay CPU us/req: nginx's workers' CPU per request; corral's CPU per request less the CPU per request it spends in nginx's "
        "rounds, where it relays nothing but supervises the server and takes its log lines (median of the rounds; /proc schedstat)");
    s.notes.push_back("corral: " + std::to_string(io_threads) +
                      " I/O thread(s) (io_threads automatic); nginx: " + std::to_string(io_threads) + " worker process(es)");
    return s;
}

}  // namespace corral::bench
