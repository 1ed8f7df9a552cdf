// The typed form of a corral config file. See README.md "Configuration" for every key.
#pragma once

#include "config/device_request.hpp"

#include <corral/sdk/types.hpp>

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace corral::config {

struct ListenAddress {
    std::string host = "127.0.0.1";
    uint16_t port = 8080;
};

// One "runners" entry: which plugin, with which options (everything but "plugin").
struct RunnerConfig {
    std::string name;
    std::string plugin;
    boost::json::object options;
};

struct SchedulerConfig {
    std::optional<int32_t> max_loaded;      // empty: no limit on the number of loaded models
    double memory_headroom = 0.1;           // fraction of device memory kept free
    std::optional<uint64_t> memory_budget;  // bytes; empty: derived from the probes
    std::chrono::milliseconds load_timeout{std::chrono::minutes(5)};
    std::chrono::milliseconds queue_timeout{std::chrono::seconds(30)};
    int32_t max_queue = 64;  // requests waiting per model beyond its concurrency; more get 429
    // Swaps ("swap_batch", "max_wait_for_swap"): while a model waits for the room loaded ones hold,
    // those take at most swap_batch_requests more requests each, for at most swap_batch_time (an
    // empty bound: none), then yield (their queues wait for their next turn): alternating traffic is
    // served in batches, not one swap per request. A model waiting max_wait_for_swap goes next
    // whatever its priority, and loaded ones yield to it at once.
    std::optional<int32_t> swap_batch_requests = 8;
    std::optional<std::chrono::milliseconds> swap_batch_time = std::chrono::seconds(10);
    std::chrono::milliseconds max_wait_for_swap{std::chrono::seconds(30)};
};

// Prompt caches kept across a server's restarts ("kv_cache"): saved to disk before corral stops an
// idle server (eviction, ttl, unload, reload, shutdown), restored when the model starts again.
struct KvCacheConfig {
    bool keep = true;                                             // a model's "kv_cache": {"keep"} overrides it
    uint64_t max_disk = 10ull << 30;                              // saved caches on disk; least recently used pruned
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};  // one server's saves (or restores) together
};

// How the supervisor watches servers and restarts the ones that die.
struct SupervisorConfig {
    std::chrono::milliseconds health_interval{std::chrono::seconds(10)};
    int32_t unhealthy_after = 3;  // failed health checks in a row before a restart
    int32_t restart_attempts = 3;
    std::chrono::milliseconds restart_backoff{500};  // first delay, doubled per attempt
    std::chrono::milliseconds restart_backoff_max{std::chrono::seconds(30)};
    std::chrono::milliseconds stable_after{std::chrono::seconds(30)};  // uptime that resets the attempts
    std::chrono::milliseconds stop_grace{std::chrono::seconds(10)};    // SIGTERM to SIGKILL
};

// Deadlines for client connections: a slow or stalled client gives up its connection (and the
// model slot and upstream connection it held) instead of keeping them.
struct ClientTimeouts {
    std::chrono::milliseconds header{std::chrono::seconds(30)};  // a request's header, from its first byte (and its body)
    std::chrono::milliseconds idle{std::chrono::seconds(120)};   // a kept-alive connection waiting for its next request
    std::chrono::milliseconds write{std::chrono::seconds(60)};   // a write to the client that makes no progress
};

// One entry of "api_keys": a plain string is a key with no limits that may also use the admin API
// (when there is no admin_api_key); an object is a scoped key.
struct ApiKey {
    std::string key;                              // the secret itself (from "key", "key_file" or "key_env"); never logged
    std::string name;                             // for metrics and logs: "name", else "key-N" (N from 1)
    std::vector<std::string> models;              // glob patterns (`*`, `?`) over model names and aliases; empty: every model
    bool admin = true;                            // may reach Access::Admin routes when there is no admin_api_key
    std::optional<uint32_t> max_concurrency;      // its requests in flight at once
    std::optional<uint32_t> requests_per_minute;  // its request rate (a token bucket of this many, refilled over a minute)

    bool operator==(const ApiKey&) const = default;
};

// TLS on the listener: PEM files (a certificate chain, and its private key), read at start and on reload.
struct TlsConfig {
    std::filesystem::path cert;
    std::filesystem::path key;

    bool operator==(const TlsConfig&) const = default;
};

// How many servers one model runs on ("replicas"): an integer N runs N whenever the model is loaded;
// {"min", "max", "scale_up_after"} keeps `min` running, starts max(min, 1) on demand and more, up to
// `max`, while every running one has requests waiting for `scale_up_after`.
struct ReplicaPolicy {
    int32_t min = 0;    // kept running, like preload
    int32_t start = 1;  // started together when a request finds none
    int32_t max = 1;
    std::chrono::milliseconds scale_up_after{std::chrono::seconds(2)};

    bool autoscales() const noexcept { return max > start; }
    bool operator==(const ReplicaPolicy&) const = default;
};

struct ModelConfig {
    std::string name;                  // the key under "models"
    std::string runner;                // the first of `runners`
    std::vector<std::string> runners;  // where its replicas may run, in the config's order (one or more)
    std::vector<std::string> aliases;
    std::optional<std::chrono::milliseconds> ttl;  // idle time before unloading; empty: never
    std::optional<uint64_t> memory;                // bytes the model needs, when given by hand
    std::optional<int32_t> concurrency;            // requests in flight at once
    std::optional<bool> send_loading_state;        // overrides Config::send_loading_state
    DeviceRequest devices;                         // which GPUs of its machine ("devices")
    ReplicaPolicy replicas;
    bool prefix_routing = true;         // "routing": "prefix" (default) or "least_busy"
    int32_t priority = 0;               // among models waiting for room, higher goes first
    std::optional<bool> keep_kv_cache;  // "kv_cache": {"keep"}; empty: KvCacheConfig::keep
    sdk::ServerConfig server;           // server settings (instance_id left empty)
    bool from_models_dir = false;       // found in a models_dir folder (its settings from model_defaults)
};

struct Config {
    std::filesystem::path source;  // the file it came from ("" when parsed from text)
    ListenAddress listen;
    std::vector<std::filesystem::path> plugin_dirs;  // absolute; empty: the default plugin directory
    std::vector<RunnerConfig> runners;
    std::vector<std::string> probes;  // probe plugin names; empty: every probe plugin found
    SchedulerConfig scheduler;
    SupervisorConfig supervisor;
    KvCacheConfig kv_cache;
    std::vector<ModelConfig> models;  // in file order, then those found in models_dir by name
    // "models_dir": folders whose *.gguf files are models too (absolute), and what their discovery
    // left out or noted (files still being written, clashes, unused projectors), one line each.
    std::vector<std::filesystem::path> models_dirs;
    std::optional<ModelConfig> model_defaults;  // set with models_dirs: the template of their models
    std::vector<std::string> models_dir_notes;
    std::vector<std::string> preload;
    std::optional<std::filesystem::path> state_dir;
    std::optional<std::string> log_level;
    std::vector<ApiKey> api_keys;
    std::optional<std::string> admin_api_key;
    std::optional<TlsConfig> tls;
    // Origins whose browser pages may call corral (CORS): "*" or "scheme://host[:port]"; none by default.
    std::vector<std::string> cors_origins;
    uint64_t max_request_body = 32ull << 20;  // bytes; larger requests get 413
    uint32_t max_connections = 8192;          // client connections at once; more get 503
    // Threads that serve client connections (the main one included); 0: automatic (half the cores,
    // 1 to 8: the model servers need the rest). See Config::effective_io_threads.
    uint32_t io_threads = 0;
    ClientTimeouts client_timeouts;
    std::chrono::milliseconds shutdown_grace{std::chrono::seconds(30)};  // drain time on SIGTERM
    bool send_loading_state = false;  // stream load progress to streaming chat clients while a model loads
    bool console = true;              // the web console at /ui/ (and a browser's GET / sent there)

    const RunnerConfig* find_runner(std::string_view name) const;
    // By name or alias.
    const ModelConfig* find_model(std::string_view name_or_alias) const;
};

}  // namespace corral::config
