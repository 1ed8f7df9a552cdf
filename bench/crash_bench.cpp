// 4. Crash detection: kill -9 of a server until corral's event stream says so.
#include "benchmarks.hpp"

#include <signal.h>

namespace corral::bench {

Section bench_crash(const BenchEnv& env) {
    Section s{"4. Crash detection (kill -9 to corral's state event)", {"measure", "n", "median ms", "p90 ms", "max ms"}, {}, {}, {}};
    CorralServe corral(
        env, env.work / "crash", llama_runners(env), "{" + tiny_model(env, "tiny-a") + "}",
        R"(, "probes": ["cpu"], "preload": ["tiny-a"], "supervisor": {"restart_backoff": "10ms", "restart_backoff_max": "10ms", "restart_attempts": 1000})");
    EventReader events(corral.port());
    std::vector<double> detect;
    wait_ready(corral, "tiny-a");
    for (int i = 0; i < env.repetitions; ++i) {
        auto pid = corral.model("tiny-a").at("pid").to_number<int>();
        auto killed = clock::now();
        ::kill(pid, SIGKILL);
        bool seen = events.wait_for(
            [](const boost::json::object& e) {
                return e.contains("state") && e.at("model") == "tiny-a" && e.at("state") != "ready" && e.at("state") != "starting";
            },
            std::chrono::seconds(10));
        if (!seen) throw std::runtime_error("no state event after kill -9");
        detect.push_back(ms_since(killed));
        // Read through the restart, so the next kill starts from a ready server and a drained stream.
        if (!events.wait_for(
                [](const boost::json::object& e) { return e.contains("state") && e.at("model") == "tiny-a" && e.at("state") == "ready"; },
                std::chrono::seconds(30))) {
            throw std::runtime_error("tiny-a was not restarted");
        }
    }
    auto st = stats_of(detect);
    s.rows.push_back({"kill -9 -> state event", std::to_string(st.n), fixed(st.median, 2), fixed(st.p90, 2), fixed(st.max, 2)});
    s.json["detection_ms"] = to_json(st);
    s.notes.push_back("includes delivery over /corral/events (SSE) to this client");
    return s;
}

}  // namespace corral::bench
