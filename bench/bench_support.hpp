// What the benchmarks share: where things are, timing and statistics, waiting for servers, reading a
// process's CPU time and RSS, and running `corral serve` on a config.
#pragma once

#include "process.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace corral::bench {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

struct BenchEnv {
    fs::path corral;        // the corral executable
    fs::path plugins;       // its plugin directory
    fs::path llama_server;  // the llama-server binary
    fs::path models;        // tiny-a.gguf and tiny-b.gguf
    fs::path work;          // scratch space
    int repetitions = 20;   // for cold start, swap and crash
    int seconds = 4;        // per load run
    int soak_seconds = 60;  // the chaos soak
};

// One section of the report: a table for people and JSON for scripts.
struct Section {
    std::string title;
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    boost::json::object json;
    std::vector<std::string> notes;
};

double ms_since(clock::time_point t);

struct Stats {
    std::size_t n = 0;
    double min = 0, median = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};
Stats stats_of(std::vector<double> values);
boost::json::object to_json(const Stats& s);

std::string fixed(double v, int decimals = 1);

uint16_t free_port();

// GET http://127.0.0.1:port/path every millisecond until it answers 200; false after `timeout`.
bool wait_http_ok(uint16_t port, const std::string& path, std::chrono::milliseconds timeout);

// From /proc: resident memory in bytes, and CPU time (user + system) in seconds.
uint64_t rss_bytes(int pid);
double cpu_seconds(int pid);
// The CPU time of every thread of `pid` so far, in nanoseconds (/proc/PID/task/*/schedstat: finer
// than stat's clock ticks, which a 2 s round at one connection would count in single digits).
uint64_t cpu_ns(int pid);
// The processes whose parent is `pid` (nginx's workers).
std::vector<int> children_of(int pid);

// `corral serve` on a config written to `dir`/config.json. `models` and the rest are JSON text
// pieces inserted into the config.
class CorralServe {
public:
    CorralServe(const BenchEnv& env, const fs::path& dir, const std::string& runners, const std::string& models,
                const std::string& more = "");
    ~CorralServe();
    uint16_t port() const { return port_; }
    fs::path state_dir() const { return config_.parent_path() / "state"; }
    int pid() const { return process_->pid(); }
    double startup_ms() const { return startup_ms_; }  // spawn until it printed that it serves
    boost::json::value status() const;
    boost::json::object model(const std::string& name) const;
    // SIGTERM, wait; the milliseconds it took to exit.
    double stop();
    // kill -9, then `corral serve` again on the same config, state and port (it adopts the servers
    // the killed one left); the milliseconds from the kill until it serves again.
    double kill_and_restart();

private:
    void start();

    fs::path corral_;
    fs::path config_;
    std::unique_ptr<test::SpawnedProcess> process_;
    uint16_t port_ = 0;
    double startup_ms_ = 0;
};

// A process whose output goes to a log file, stopped with SIGTERM (then SIGKILL) when destroyed.
class Background {
public:
    Background(std::vector<std::string> argv, const fs::path& log);
    ~Background();
    int pid() const { return process_->pid(); }

private:
    std::unique_ptr<test::SpawnedProcess> process_;
};

}  // namespace corral::bench
