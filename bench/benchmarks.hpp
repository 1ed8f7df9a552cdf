// The benchmark sections, one file each. Each starts what it measures, measures it side by side with
// its peers on this machine, and stops everything before it returns.
#pragma once

#include "bench_support.hpp"

namespace corral::bench {

Section bench_proxy(const BenchEnv& env);      // 1. requests/s and latency: direct, corral, nginx, router mode
Section bench_streaming(const BenchEnv& env);  // 2. 256 streaming clients: corral vs direct
Section bench_swap(const BenchEnv& env);       // 3. cold start and A->B swap: corral vs router mode vs bare start
Section bench_crash(const BenchEnv& env);      // 4. kill -9 of a server to corral's state event
Section bench_scale(const BenchEnv& env);      // 5. 1000 mock instances under supervision
Section bench_footprint(const BenchEnv& env);  // 6. start-up to listening, idle RSS
Section bench_chaos(const BenchEnv& env);      // 7. mixed traffic while servers and corral are killed
Section bench_replicas(const BenchEnv& env);   // 8. prompt-cache share: prefix vs least_busy routing vs one server
Section bench_swaps(const BenchEnv& env);      // 9. prompt caches across unloads, collated swaps

// The runners/models JSON the sections share: tiny-a and tiny-b on llama_server (2048 context).
std::string llama_runners(const BenchEnv& env);
std::string tiny_model(const BenchEnv& env, const std::string& name, const std::string& extra = "");

// Waits (up to a minute) for a preloaded model to be ready; returns its server's endpoint.
std::string wait_ready(const CorralServe& corral, const std::string& model);
// The key a running model's server takes (llama-server's --api-key: corral starts every server with
// one), derived the way corral derives it, so "direct" and nginx rows reach the server as corral does.
std::string server_key(const CorralServe& corral, const std::string& model);

// A second llama-server started with the arguments and key corral gave its server for a ready
// `model`, listening on a TCP port of its own: "direct" for the sections that measure corral against
// the server alone. corral's servers listen on Unix sockets (its default transport), which wrk and
// the stream load do not speak; the twin loads the same file with the same settings.
class DirectTwin {
public:
    DirectTwin(const CorralServe& corral, const std::string& model, const fs::path& log);
    uint16_t port() const { return port_; }
    int pid() const { return process_->pid(); }

private:
    uint16_t port_ = 0;
    std::unique_ptr<Background> process_;
};

// nginx as a keep-alive reverse proxy to a model's server at `endpoint` (corral's form: on its Unix
// socket, or http://host:port), with `workers` worker processes (as many as corral has I/O threads: a
// fair fight), sending the server's key as corral does, buffering off. Its workers run as the bench's
// user, as corral does: the server's socket directory is that user's alone (nginx started by root
// would otherwise run them as nobody). Its config and logs are in `dir`.
class NginxProxy {
public:
    NginxProxy(const fs::path& dir, const std::string& endpoint, const std::string& key, uint32_t workers);
    uint16_t port() const { return port_; }
    bool on_socket() const { return on_socket_; }  // it reaches the server on its Unix socket
    const std::vector<int>& workers() const { return workers_; }

private:
    uint16_t port_ = 0;
    bool on_socket_ = false;
    std::unique_ptr<Background> process_;
    std::vector<int> workers_;
};

// Streams a chat request and returns the milliseconds until the response header (the first byte).
double time_to_first_byte(uint16_t port, const std::string& model);

// Reads /corral/events until `match` accepts an event; false after `timeout`.
class EventReader {
public:
    explicit EventReader(uint16_t port);
    ~EventReader();
    bool wait_for(const std::function<bool(const boost::json::object&)>& match, std::chrono::milliseconds timeout);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace corral::bench
