#include "admin/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

namespace corral::admin {
namespace {

const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
const std::vector<double> kLoadBounds = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};

// The shortest text that reads back as `v` ("0.005", not %.17g's "0.0050000000000000001").
std::string number(double v) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

template <class Map>
void counters(std::string& out, const char* name, const char* help, const Map& values) {
    header(out, name, "counter", help);
    for (const auto& [labels, v] : values) out += std::string(name) + "{" + labels + "} " + std::to_string(v) + "\n";
}

void histograms(std::string& out, const char* name, const char* help, const std::map<std::string, Histogram>& values) {
    header(out, name, "histogram", help);
    for (const auto& [labels, h] : values) h.render(out, name, labels);
}

Histogram& histogram(std::map<std::string, Histogram>& map, const std::string& labels, const std::vector<double>& bounds) {
    return map.try_emplace(labels, bounds).first->second;
}

std::string_view status_text(int status, std::array<char, 16>& buffer) {
    auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), status);
    return {buffer.data(), static_cast<std::size_t>(end - buffer.data())};
}

}  // namespace

void append_prometheus_label(std::string& out, std::string_view name, std::string_view value) {
    out.append(name);
    out += "=\"";
    std::size_t unescaped = 0;  // the start of the run not appended yet
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c != '\\' && c != '"' && c != '\n') continue;
        out.append(value.data() + unescaped, i - unescaped);
        out += '\\';
        out += c == '\n' ? 'n' : c;
        unescaped = i + 1;
    }
    out.append(value.data() + unescaped, value.size() - unescaped);
    out += '"';
}

std::string prometheus_label(const std::string& name, const std::string& value) {
    std::string out;
    append_prometheus_label(out, name, value);
    return out;
}

const std::string& Metrics::labels(std::initializer_list<std::pair<std::string_view, std::string_view>> set) {
    // A request counts the same few label sets (its model; model, endpoint and code; model and
    // replica): the last renderings are kept, and one whose names and values match is used as is.
    for (auto& kept : kept_labels_) {
        if (kept.set.size() == set.size() && std::equal(set.begin(), set.end(), kept.set.begin(), [](const auto& a, const auto& b) {
                return a.first == b.first && a.second == b.second;
            }))
            return kept.key;
    }
    auto& slot = kept_labels_[next_kept_];
    next_kept_ = (next_kept_ + 1) % kept_labels_.size();
    slot.set.assign(set.begin(), set.end());
    slot.key.clear();
    for (const auto& [name, value] : set) {
        if (!slot.key.empty()) slot.key += ',';
        append_prometheus_label(slot.key, name, value);
    }
    return slot.key;
}

template <class T>
T& Metrics::at(ByLabels<T>& map, const std::string& labels) {
    return map.try_emplace(labels).first->second;  // the key is copied only for a new label set
}

Metrics::ModelSeries& Metrics::series_of(const std::string& model) {
    if (!last_series_ || last_series_->first != model) last_series_ = &*model_series_.try_emplace(model).first;
    return last_series_->second;
}

template <class T>
T& Metrics::model_series(T*& slot, ByLabels<T>& map, const std::string& model) {
    if (!slot) slot = &at(map, labels({{"model", model}}));
    return *slot;
}

void Histogram::observe(double value) {
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        if (value <= bounds_[i]) {
            ++counts_[i];
            break;
        }
    }
    ++count_;
    sum_ += value;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
    const std::string sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
        cumulative += counts_[i];
        out += name + "_bucket{" + labels + sep + "le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
    out += name + "_sum{" + labels + "} " + number(sum_) + "\n";
    out += name + "_count{" + labels + "} " + std::to_string(count_) + "\n";
}

void Metrics::request(const std::string& model, const std::string& endpoint, int status, double seconds) {
    auto& series = series_of(model);
    if (!series.requests || series.code != status || series.endpoint != endpoint) {
        std::array<char, 16> code;
        series.requests = &at(requests_, labels({{"model", model}, {"endpoint", endpoint}, {"code", status_text(status, code)}}));
        series.endpoint = endpoint;
        series.code = status;
    }
    ++*series.requests;
    if (!series.request_seconds) series.request_seconds = &histogram(request_seconds_, labels({{"model", model}}), kLatencyBounds);
    series.request_seconds->observe(seconds);
    const auto now = ActivityWindow::clock::now();
    activity_.add(model, ActivityWindow::Count::Requests, 1, now);
    // 499 is the client's own doing (it went away or pressed stop), not an error of corral or its server.
    if (status >= 400 && status != 499) activity_.add(model, ActivityWindow::Count::Errors, 1, now);
}

void Metrics::first_byte(const std::string& model, double seconds) {
    auto& series = series_of(model);
    if (!series.first_byte_seconds) series.first_byte_seconds = &histogram(first_byte_seconds_, labels({{"model", model}}), kLatencyBounds);
    series.first_byte_seconds->observe(seconds);
}

void Metrics::tokens(const std::string& model, uint64_t prompt, uint64_t completion) {
    auto& series = series_of(model);
    model_series(series.prompt_tokens, prompt_tokens_, model) += prompt;
    model_series(series.completion_tokens, completion_tokens_, model) += completion;
    activity_.add(model, ActivityWindow::Count::Tokens, completion, ActivityWindow::clock::now());
}

void Metrics::load(const std::string& model, double seconds, bool ok) {
    ++at(loads_, labels({{"model", model}, {"result", ok ? "ok" : "failed"}}));
    if (ok) histogram(load_seconds_, labels({{"model", model}}), kLoadBounds).observe(seconds);
    const auto now = ActivityWindow::clock::now();
    activity_.add(model, ActivityWindow::Count::Loads, 1, now);
    if (!ok) activity_.add(model, ActivityWindow::Count::Errors, 1, now);
}

void Metrics::eviction(const std::string& model, const std::string& reason) {
    ++at(evictions_, labels({{"model", model}, {"reason", reason}}));
    activity_.add(model, ActivityWindow::Count::Evictions, 1, ActivityWindow::clock::now());
}

void Metrics::restart(const std::string& model) {
    ++at(restarts_, labels({{"model", model}}));
}

void Metrics::rejected(const std::string& model, const std::string& reason) {
    ++at(rejections_, labels({{"model", model}, {"reason", reason}}));
}

void Metrics::replica_request(const std::string& model, const std::string& replica) {
    auto& series = series_of(model);
    if (!series.replica_requests || series.replica != replica) {
        series.replica_requests = &at(replica_requests_, labels({{"model", model}, {"replica", replica}}));
        series.replica = replica;
    }
    ++*series.replica_requests;
}

void Metrics::failover(const std::string& model) {
    ++at(failovers_, labels({{"model", model}}));
}

void Metrics::prompt_cache(const std::string& model, uint64_t cached, uint64_t evaluated) {
    if (cached == 0 && evaluated == 0) return;
    auto& series = series_of(model);
    model_series(series.prompt_cached, prompt_cached_, model) += cached;
    model_series(series.prompt_evaluated, prompt_evaluated_, model) += evaluated;
}

void Metrics::slot_cache(const std::string& model, const std::string& action, bool ok, uint64_t tokens) {
    ++at(slot_caches_, labels({{"model", model}, {"action", action}, {"result", ok ? "ok" : "failed"}}));
    if (ok) at(slot_cache_tokens_, labels({{"model", model}, {"action", action}})) += tokens;
}

void Metrics::slot_cache_pruned(uint64_t files) {
    slot_caches_pruned_ += files;
}

void Metrics::connection_closed(const std::string& reason) {
    ++at(connections_closed_, labels({{"reason", reason}}));
}

void Metrics::key_request(const std::string& key_name, int status) {
    std::array<char, 16> code;
    ++at(key_requests_, labels({{"key", key_name}, {"code", status_text(status, code)}}));
}

void Metrics::key_limited(const std::string& key_name, const std::string& reason) {
    ++at(key_limited_, labels({{"key", key_name}, {"reason", reason}}));
}

std::string Metrics::render(const std::vector<ModelGauges>& gauges, const std::vector<DeviceGauges>& devices, uint64_t memory_budget,
                            uint64_t connections) const {
    std::string out;
    counters(out, "corral_requests_total", "Proxied requests by model, endpoint and HTTP status.", requests_);
    histograms(out, "corral_request_duration_seconds", "Time from request to the end of the response.", request_seconds_);
    histograms(out, "corral_time_to_first_byte_seconds", "Time from request to the first response byte (loading included).",
               first_byte_seconds_);
    counters(out, "corral_prompt_tokens_total", "Prompt tokens reported by the servers (usage).", prompt_tokens_);
    counters(out, "corral_completion_tokens_total", "Generated tokens reported by the servers (usage).", completion_tokens_);
    counters(out, "corral_prompt_tokens_cached_total", "Prompt tokens the servers took from their prompt cache (timings.cache_n).",
             prompt_cached_);
    counters(out, "corral_prompt_tokens_evaluated_total", "Prompt tokens the servers evaluated (timings.prompt_n).", prompt_evaluated_);
    counters(out, "corral_slot_caches_total",
             "Slot prompt caches saved before a server stopped (action=save) or restored after it started (action=restore), by result.",
             slot_caches_);
    counters(out, "corral_slot_cache_tokens_total", "Tokens in the slot prompt caches saved or restored.", slot_cache_tokens_);
    header(out, "corral_slot_cache_files_pruned_total", "counter", "Saved slot caches deleted to stay within kv_cache.max_disk.");
    out += "corral_slot_cache_files_pruned_total " + std::to_string(slot_caches_pruned_) + "\n";
    counters(out, "corral_replica_requests_total", "Requests by model and replica (\"model\", \"model#1\", ...).", replica_requests_);
    counters(out, "corral_failovers_total", "Requests sent to another replica after theirs failed before answering.", failovers_);
    counters(out, "corral_model_loads_total", "Model starts by result.", loads_);
    histograms(out, "corral_model_load_duration_seconds", "Time from start to ready.", load_seconds_);
    counters(out, "corral_evictions_total", "Models unloaded by the scheduler (lru, ttl, admin, reload).", evictions_);
    counters(out, "corral_restarts_total", "Servers restarted after a crash or failed health checks.", restarts_);
    counters(out, "corral_rejected_requests_total", "Requests refused by admission (queue_full, timeout, ...).", rejections_);
    counters(out, "corral_client_connections_closed_total",
             "Client connections refused (max_connections, out_of_descriptors) or closed by a deadline (header_timeout, write_timeout).",
             connections_closed_);
    counters(out, "corral_key_requests_total", "Requests by API key name and HTTP status.", key_requests_);
    counters(out, "corral_key_limited_total", "Requests refused with 429 by their API key's limits (max_concurrency, requests_per_minute).",
             key_limited_);

    header(out, "corral_model_loaded", "gauge", "1 when the model has a server (any state but unloaded), with its state.");
    for (const auto& g : gauges) {
        out += "corral_model_loaded{" + prometheus_label("model", g.model) + "," + prometheus_label("state", g.state) + "} " +
               (g.state == "unloaded" ? "0" : "1") + "\n";
    }
    header(out, "corral_requests_in_flight", "gauge", "Requests being answered by the model's server.");
    for (const auto& g : gauges)
        out += "corral_requests_in_flight{" + prometheus_label("model", g.model) + "} " + std::to_string(g.in_flight) + "\n";
    header(out, "corral_replica_requests_in_flight", "gauge", "Requests being answered by each replica of a model, with its state.");
    for (const auto& g : gauges) {
        for (const auto& r : g.replicas) {
            out += "corral_replica_requests_in_flight{" + prometheus_label("model", g.model) + "," + prometheus_label("replica", r.name) +
                   "," + prometheus_label("state", r.state) + "} " + std::to_string(r.in_flight) + "\n";
        }
    }
    header(out, "corral_queue_depth", "gauge", "Requests waiting for the model (loading or at its concurrency limit).");
    for (const auto& g : gauges) out += "corral_queue_depth{" + prometheus_label("model", g.model) + "} " + std::to_string(g.queued) + "\n";
    header(out, "corral_model_memory_bytes", "gauge", "Memory the scheduler reserves for the model while loaded.");
    for (const auto& g : gauges)
        out += "corral_model_memory_bytes{" + prometheus_label("model", g.model) + "} " + std::to_string(g.memory) + "\n";
    header(out, "corral_memory_budget_bytes", "gauge", "Memory the scheduler may give to loaded models.");
    out += "corral_memory_budget_bytes " + std::to_string(memory_budget) + "\n";
    auto device_labels = [](const DeviceGauges& d) {
        return "{" + prometheus_label("machine", d.machine) + "," + prometheus_label("device", d.device) + "}";
    };
    header(out, "corral_device_memory_reserved_bytes", "gauge",
           "Memory the placement ledger holds for loaded models, per machine and device (\"ram\": its RAM).");
    for (const auto& d : devices) out += "corral_device_memory_reserved_bytes" + device_labels(d) + " " + std::to_string(d.reserved) + "\n";
    header(out, "corral_device_memory_capacity_bytes", "gauge",
           "Memory models may reserve per machine and device (total less memory_headroom; 0: unknown).");
    for (const auto& d : devices) out += "corral_device_memory_capacity_bytes" + device_labels(d) + " " + std::to_string(d.capacity) + "\n";
    header(out, "corral_client_connections", "gauge", "Open client connections.");
    out += "corral_client_connections " + std::to_string(connections) + "\n";
    return out;
}

}  // namespace corral::admin
