// Counters and histograms for GET /metrics, rendered as Prometheus text (format 0.0.4).
// Used on the serve io_context's thread only.
#pragma once

#include "admin/activity.hpp"

#include <array>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral::admin {

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size(), 0) {}
    void observe(double value);
    void render(std::string& out, const std::string& name, const std::string& labels) const;

private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket, not cumulative
    uint64_t count_ = 0;
    double sum_ = 0;
};

// What the scheduler knows of a model right now, for the gauges.
struct ModelGauges {
    std::string model;
    std::string state;  // "unloaded", "starting", "ready", ...
    int64_t in_flight = 0;
    int64_t queued = 0;
    uint64_t memory = 0;  // bytes reserved while loaded
    struct Replica {
        std::string name;  // "model", "model#1", ...
        std::string state;
        int64_t in_flight = 0;
    };
    std::vector<Replica> replicas;  // those with a server
};

// One device of a machine (or its RAM: device "ram") in the placement ledger.
struct DeviceGauges {
    std::string machine;
    std::string device;     // "cuda:0", ..., or "ram"
    uint64_t capacity = 0;  // what models may reserve there (0: not known)
    uint64_t reserved = 0;
};

class Metrics {
public:
    void request(const std::string& model, const std::string& endpoint, int status, double seconds);
    void first_byte(const std::string& model, double seconds);
    void tokens(const std::string& model, uint64_t prompt, uint64_t completion);
    void load(const std::string& model, double seconds, bool ok);
    void eviction(const std::string& model, const std::string& reason);
    void restart(const std::string& model);
    void rejected(const std::string& model, const std::string& reason);
    // A request answered by one replica ("model", "model#1", ...) of a model.
    void replica_request(const std::string& model, const std::string& replica);
    // A request sent to another replica after its first one failed before answering.
    void failover(const std::string& model);
    // Prompt tokens a server took from its cache and those it evaluated (its "timings").
    void prompt_cache(const std::string& model, uint64_t cached, uint64_t evaluated);
    // Slot caches saved before a server stopped, or restored after it started ("save", "restore"),
    // by result ("ok", "failed"), and their tokens; caches pruned for the disk budget.
    void slot_cache(const std::string& model, const std::string& action, bool ok, uint64_t tokens);
    void slot_cache_pruned(uint64_t files);
    // A client connection refused or cut short: max_connections, out_of_descriptors,
    // header_timeout, write_timeout.
    void connection_closed(const std::string& reason);
    // Per API key (by its name, never the key): answers by status, and refusals by its limits.
    void key_request(const std::string& key_name, int status);
    void key_limited(const std::string& key_name, const std::string& reason);

    // The same requests, tokens, loads and evictions over the last minutes, per model.
    const ActivityWindow& activity() const { return activity_; }

    std::string render(const std::vector<ModelGauges>& gauges, const std::vector<DeviceGauges>& devices, uint64_t memory_budget,
                       uint64_t connections) const;

private:
    template <class T>
    using ByLabels = std::map<std::string, T>;  // key: rendered label set, e.g. model="a",code="200"
    // The label set rendered, in one of a few buffers kept between calls: the counters of a label
    // set seen lately are found without rendering it again or an allocation (they are counted for
    // every request). The reference holds until the next call.
    const std::string& labels(std::initializer_list<std::pair<std::string_view, std::string_view>> set);
    template <class T>
    static T& at(ByLabels<T>& map, const std::string& labels);
    struct KeptLabels {
        std::vector<std::pair<std::string, std::string>> set;
        std::string key;
    };
    std::array<KeptLabels, 4> kept_labels_;
    std::size_t next_kept_ = 0;

    // Where a model's per-request counters are, found once (std::map keeps its elements in
    // place): a relayed request counts five series of its model without a lookup by labels.
    struct ModelSeries {
        Histogram* request_seconds = nullptr;  // each series of {model} when first counted
        Histogram* first_byte_seconds = nullptr;
        uint64_t* prompt_tokens = nullptr;
        uint64_t* completion_tokens = nullptr;
        uint64_t* prompt_cached = nullptr;
        uint64_t* prompt_evaluated = nullptr;
        // The last {model, endpoint, code} and {model, replica} counted (a model's requests
        // mostly repeat them).
        std::string endpoint;
        int code = 0;
        uint64_t* requests = nullptr;
        std::string replica;
        uint64_t* replica_requests = nullptr;
    };
    ModelSeries& series_of(const std::string& model);
    template <class T>
    T& model_series(T*& slot, ByLabels<T>& map, const std::string& model);
    std::map<std::string, ModelSeries, std::less<>> model_series_;
    std::pair<const std::string, ModelSeries>* last_series_ = nullptr;

    ByLabels<uint64_t> requests_;
    ByLabels<Histogram> request_seconds_;
    ByLabels<Histogram> first_byte_seconds_;
    ByLabels<uint64_t> prompt_tokens_;
    ByLabels<uint64_t> completion_tokens_;
    ByLabels<uint64_t> loads_;
    ByLabels<Histogram> load_seconds_;
    ByLabels<uint64_t> evictions_;
    ByLabels<uint64_t> restarts_;
    ByLabels<uint64_t> rejections_;
    ByLabels<uint64_t> replica_requests_;
    ByLabels<uint64_t> failovers_;
    ByLabels<uint64_t> prompt_cached_;
    ByLabels<uint64_t> prompt_evaluated_;
    ByLabels<uint64_t> connections_closed_;
    ByLabels<uint64_t> slot_caches_;
    ByLabels<uint64_t> slot_cache_tokens_;
    uint64_t slot_caches_pruned_ = 0;
    ByLabels<uint64_t> key_requests_;
    ByLabels<uint64_t> key_limited_;
    ActivityWindow activity_;
};

// `name="value"` with the value escaped as the text format requires.
std::string prometheus_label(const std::string& name, const std::string& value);
void append_prometheus_label(std::string& out, std::string_view name, std::string_view value);

}  // namespace corral::admin
