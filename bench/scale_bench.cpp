// 5. Scale: 1000 mock-runner instances under supervision: the time to start them all, the host's
// CPU and RSS while they idle (health checks included), /corral/status latency, the time to stop all.
#include "benchmarks.hpp"
#include "http_client.hpp"

#include <thread>

namespace corral::bench {

Section bench_scale(const BenchEnv& env) {
    constexpr int kInstances = 1000;
    Section s{"5. Scale: 1000 mock instances", {"measure", "value"}, {}, {}, {}};
    std::string models = "{", preload = "[";
    for (int i = 0; i < kInstances; ++i) {
        models += (i ? ", " : "") + std::string("\"m") + std::to_string(i) + R"(": {"path": "/dev/null", "runner": "mock"})";
        preload += (i ? ", " : "") + std::string("\"m") + std::to_string(i) + "\"";
    }
    models += "}";
    preload += "]";
    auto started = clock::now();
    CorralServe corral(env, env.work / "scale", R"({"mock": {"plugin": "mock"}})", models,
                       R"(, "probes": ["cpu"], "supervisor": {"health_interval": "10s"}, "preload": )" + preload);
    int ready = 0;
    while (ready < kInstances) {
        ready = 0;
        auto status = corral.status();
        for (const auto& m : status.at("models").as_array()) ready += m.at("state") == "ready";
        if (ms_since(started) > 120000) throw std::runtime_error(std::to_string(ready) + " of 1000 instances ready after 2 minutes");
        if (ready < kInstances) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double start_all_ms = ms_since(started);

    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double window = 10.0;  // one full health-check round
    const double cpu0 = cpu_seconds(corral.pid());
    std::this_thread::sleep_for(std::chrono::duration<double>(window));
    const double cpu_percent = (cpu_seconds(corral.pid()) - cpu0) / window * 100.0;
    const uint64_t rss = rss_bytes(corral.pid());

    std::vector<double> status_ms;
    for (int i = 0; i < 20; ++i) {
        auto t = clock::now();
        test::http_request("127.0.0.1", corral.port(), "GET", "/corral/status");
        status_ms.push_back(ms_since(t));
    }
    auto st = stats_of(status_ms);
    const double stop_all_ms = corral.stop();

    s.rows.push_back({"start all 1000 (spawn to all ready)", fixed(start_all_ms, 0) + " ms"});
    s.rows.push_back({"host CPU while idle (10 s, health checks included)", fixed(cpu_percent, 2) + " % of a core"});
    s.rows.push_back({"host RSS while idle (mock servers are in-process)", fixed(static_cast<double>(rss) / (1024 * 1024), 1) + " MiB"});
    s.rows.push_back({"/corral/status latency p50 / p99", fixed(st.median, 2) + " / " + fixed(st.p99, 2) + " ms"});
    s.rows.push_back({"stop all (SIGTERM to exit)", fixed(stop_all_ms, 0) + " ms"});
    s.json = {{"instances", kInstances}, {"start_all_ms", start_all_ms}, {"idle_cpu_percent", cpu_percent},
              {"idle_rss_bytes", rss},   {"status_ms", to_json(st)},     {"stop_all_ms", stop_all_ms}};
    return s;
}

}  // namespace corral::bench
