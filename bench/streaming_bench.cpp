// 2. Streaming: 256 concurrent streaming chat clients through corral, through nginx in front of the
// same llama-server, and directly to that server's twin, in interleaved rounds: errors, tokens/s,
// time to first token, inter-token gap, and what each relay spends per token delivered.
#include "benchmarks.hpp"
#include "http_client.hpp"
#include "serve/connection_threads.hpp"
#include "stream_load.hpp"

#include <algorithm>
#include <ctime>
#include <thread>

namespace corral::bench {

namespace {

double median_of(std::vector<double> v) {
    return stats_of(std::move(v)).median;
}

// The CPU time this thread (the load generator's one Asio thread) has used, in nanoseconds.
uint64_t thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

struct Round {
    StreamLoadResult load;
    double tokens_per_second = 0;
    Stats ttft, gap;
    double relay_us_per_token = 0;   // corral's whole process, or nginx's workers
    double server_us_per_token = 0;  // the llama-server that answered
    double client_us_per_token = 0;  // the load generator
};

}  // namespace

Section bench_streaming(const BenchEnv& env) {
    Section s{"2. Streaming: 256 concurrent clients, 32 tokens each",
              {"target", "errors", "tokens/s", "vs direct paired", "TTFT p50 ms", "TTFT p99 ms", "gap p50 ms", "gap p99 ms",
               "gap p99 over direct paired", "CPU us/token: relay, server, client"},
              {},
              {},
              {}};
    const auto dir = env.work / "streaming";
    CorralServe corral(
        env, dir, llama_runners(env),
        "{" + tiny_model(env, "tiny-a", R"(, "parallel": 8, "memory": "64MiB", "extra_args": ["--threads-http", "300"])") + "}",
        R"(, "probes": ["cpu"], "preload": ["tiny-a"])");
    const std::string endpoint = wait_ready(corral, "tiny-a");
    const std::string key = server_key(corral, "tiny-a");
    const int corral_server = static_cast<int>(corral.model("tiny-a").at("pid").as_int64());
    DirectTwin twin(corral, "tiny-a", dir / "direct.log");
    // nginx in front of corral's server (what any proxy costs on this machine), with as many workers
    // as corral has I/O threads.
    NginxProxy nginx(dir / "nginx", endpoint, key, serve::io_threads_for(0, std::thread::hardware_concurrency()));

    const std::string body = R"({"model": "tiny-a", "max_tokens": 32, "stream": true, "messages": [{"role": "user", "content": "hello"}]})";
    const int clients = 256;
    struct Target {
        const char* name;
        uint16_t port;
        int server_pid;
        std::vector<int> relay_pids;  // whose CPU is the relay's
    };
    const Target targets[] = {{"direct", twin.port(), twin.pid(), {}},
                              {"corral", corral.port(), corral_server, {corral.pid()}},
                              {"nginx", nginx.port(), corral_server, nginx.workers()}};
    constexpr std::size_t kTargets = std::size(targets);
    // One run takes two or three seconds, and this machine's speed drifts from minute to minute by
    // more than a relay costs: the targets run in turns, each round starting with the next, each
    // figure is the median of its rounds', and the paired columns the median of the rounds' ratios
    // to direct (tokens/s) and differences from it (gap p99), each round running all within seconds.
    const int rounds = env.seconds >= 4 ? 5 : 2;
    std::vector<Round> results[kTargets];
    auto cpu_of = [](const std::vector<int>& pids) {
        uint64_t sum = 0;
        for (int pid : pids) sum += cpu_ns(pid);
        return sum;
    };
    for (int r = 0; r < rounds; ++r)
        for (std::size_t i = 0; i < kTargets; ++i) {
            const auto& target = targets[(static_cast<std::size_t>(r) + i) % kTargets];
            const uint64_t relay_before = cpu_of(target.relay_pids), server_before = cpu_ns(target.server_pid),
                           client_before = thread_cpu_ns();
            Round round;
            round.load = run_stream_load("127.0.0.1", target.port, body, clients, target.port == twin.port() ? key : "");
            const double tokens = static_cast<double>(std::max<uint64_t>(1, round.load.tokens));
            auto us_per_token = [&](uint64_t before, uint64_t after) {
                return after > before ? static_cast<double>(after - before) / 1000 / tokens : 0.0;
            };
            round.relay_us_per_token = us_per_token(relay_before, cpu_of(target.relay_pids));
            round.server_us_per_token = us_per_token(server_before, cpu_ns(target.server_pid));
            round.client_us_per_token = us_per_token(client_before, thread_cpu_ns());
            round.tokens_per_second = round.load.seconds > 0 ? static_cast<double>(round.load.tokens) / round.load.seconds : 0;
            round.ttft = stats_of(round.load.ttft_ms);
            round.gap = stats_of(round.load.gap_ms);
            results[(static_cast<std::size_t>(r) + i) % kTargets].push_back(std::move(round));
        }

    for (std::size_t t = 0; t < kTargets; ++t) {
        auto median_by = [&](auto field) {
            std::vector<double> v;
            for (const auto& r : results[t]) v.push_back(field(r));
            return median_of(std::move(v));
        };
        std::vector<double> paired_tps, paired_gap;
        for (std::size_t i = 0; i < results[t].size() && i < results[0].size(); ++i) {
            if (results[0][i].tokens_per_second > 0)
                paired_tps.push_back(results[t][i].tokens_per_second / results[0][i].tokens_per_second);
            paired_gap.push_back(results[t][i].gap.p99 - results[0][i].gap.p99);
        }
        int errors = 0;
        boost::json::array each;
        for (const auto& r : results[t]) {
            errors += r.load.errors;
            boost::json::object o{
                {"errors", r.load.errors},
                {"tokens", r.load.tokens},
                {"seconds", r.load.seconds},
                {"tokens_per_second", r.tokens_per_second},
                {"ttft_ms", to_json(r.ttft)},
                {"gap_ms", to_json(r.gap)},
                {"cpu_us_per_token",
                 {{"relay", r.relay_us_per_token}, {"server", r.server_us_per_token}, {"client", r.client_us_per_token}}}};
            if (!r.load.first_error.empty()) o["first_error"] = r.load.first_error;
            each.push_back(std::move(o));
        }
        const double tps = median_by([](const Round& r) { return r.tokens_per_second; });
        const double relay_cpu = median_by([](const Round& r) { return r.relay_us_per_token; });
        const double server_cpu = median_by([](const Round& r) { return r.server_us_per_token; });
        const double client_cpu = median_by([](const Round& r) { return r.client_us_per_token; });
        const double ttft50 = median_by([](const Round& r) { return r.ttft.median; });
        const double ttft99 = median_by([](const Round& r) { return r.ttft.p99; });
        const double gap50 = median_by([](const Round& r) { return r.gap.median; });
        const double gap99 = median_by([](const Round& r) { return r.gap.p99; });
        const double vs_direct = median_of(paired_tps), gap_over = median_of(paired_gap);
        const bool relay = t != 0;
        s.rows.push_back({targets[t].name, std::to_string(errors), fixed(tps, 0), relay ? fixed(vs_direct, 3) : "-", fixed(ttft50, 1),
                          fixed(ttft99, 1), fixed(gap50, 2), fixed(gap99, 2), relay ? (gap_over >= 0 ? "+" : "") + fixed(gap_over, 2) : "-",
                          (relay ? fixed(relay_cpu, 1) : "-") + ", " + fixed(server_cpu, 1) + ", " + fixed(client_cpu, 1)});
        boost::json::object o{{"clients", clients},
                              {"rounds", rounds},
                              {"errors", errors},
                              {"tokens_per_second", tps},
                              {"ttft_ms", {{"median", ttft50}, {"p99", ttft99}}},
                              {"gap_ms", {{"median", gap50}, {"p99", gap99}}},
                              {"cpu_us_per_token", {{"server", server_cpu}, {"client", client_cpu}}},
                              {"rounds_each", std::move(each)}};
        if (relay) {
            o["cpu_us_per_token"].as_object()["relay"] = relay_cpu;
            o["paired_tokens_per_second_vs_direct"] = vs_direct;
            o["paired_gap_p99_ms_over_direct"] = gap_over;
        }
        s.json[targets[t].name] = std::move(o);
    }
    s.notes.push_back(
        "corral and nginx relay to the same llama-server (--parallel 8, 300 HTTP threads) on its Unix socket (nginx with buffering off "
        "and " +
        std::to_string(nginx.workers().size()) +
        " worker(s), as many as corral has I/O threads), direct is its twin on TCP (the same arguments); clients beyond its slots wait "
        "in its queue");
    s.notes.push_back("each figure the median of " + std::to_string(rounds) +
                      " interleaved round(s), each round starting with the next target; paired: the median of the rounds' tokens/s "
                      "ratios to direct and gap p99 differences from it (each round runs every target within seconds)");
    s.notes.push_back(
        "CPU us/token (/proc schedstat), per token delivered: the relay (corral's whole process, nginx's workers), the llama-server "
        "that answered, and the load generator's thread");
    return s;
}

}  // namespace corral::bench
