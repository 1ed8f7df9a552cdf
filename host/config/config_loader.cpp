#include "config/config_loader.hpp"

#include "config/json_document.hpp"
#include "config/models_folder.hpp"
#include "config/units.hpp"

#include <corral/sdk/json.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

namespace corral::config {
namespace {

namespace json = boost::json;
using Keys = std::vector<std::string_view>;

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string unknown_key_message(std::string_view key, const Keys& known) {
    std::string_view best;
    std::size_t best_distance = 3;  // suggest only close matches
    for (auto k : known) {
        auto d = edit_distance(key, k);
        if (d < best_distance) {
            best_distance = d;
            best = k;
        }
    }
    std::string msg = "unknown key";
    if (!best.empty()) return msg + " (did you mean \"" + std::string(best) + "\"?)";
    msg += " (expected one of: ";
    bool first = true;
    for (auto k : known) {
        msg += first ? "" : ", ";
        msg += k;
        first = false;
    }
    return msg + ")";
}

// Reads the members of one JSON object, recording every mistake instead of stopping at the first.
class ObjectReader {
public:
    ObjectReader(const json::value& v, std::string path, ConfigErrors& errors, const Keys& known)
        : path_(std::move(path)), errors_(errors) {
        if (!v.is_object()) {
            error(path_, "expected object, got " + std::string(sdk::json_kind_name(v)));
            return;
        }
        object_ = &v.get_object();
        for (const auto& kv : *object_) {
            if (std::find(known.begin(), known.end(), std::string_view(kv.key())) == known.end()) {
                error(child(kv.key()), unknown_key_message(kv.key(), known));
            }
        }
    }

    bool valid() const { return object_ != nullptr; }
    const json::object& object() const { return *object_; }
    std::string child(std::string_view key) const { return sdk::json_path_join(path_, key); }
    const std::string& path() const { return path_; }

    const json::value* raw(std::string_view key) const {
        if (!object_) return nullptr;
        const auto* v = object_->if_contains(key);
        return v && !v->is_null() ? v : nullptr;
    }

    template <class T>
    bool read(std::string_view key, std::optional<T>& out) const {
        const auto* v = raw(key);
        if (!v) return false;
        try {
            out = sdk::detail::JsonConvert<T>::read(*v, child(key));
            return true;
        } catch (const sdk::JsonPathError& e) {
            error(e.path(), e.detail());
            return false;
        }
    }

    template <class T>
    bool read_into(std::string_view key, T& out) const {
        std::optional<T> tmp;
        if (!read(key, tmp)) return false;
        out = std::move(*tmp);
        return true;
    }

    template <class T>
    std::optional<T> required(std::string_view key) const {
        std::optional<T> out;
        if (object_ && !raw(key)) error(child(key), "required key is missing");
        read(key, out);
        return out;
    }

    // An integer at least `min`.
    template <class Int>
    void read_min(std::string_view key, std::optional<Int>& out, Int min) const {
        if (read(key, out) && *out < min) {
            error(child(key), "must be at least " + std::to_string(min));
            out.reset();
        }
    }

    // A string from a fixed set.
    void read_choice(std::string_view key, std::optional<std::string>& out, const Keys& choices) const {
        if (!read(key, out)) return;
        if (std::find(choices.begin(), choices.end(), *out) == choices.end()) {
            std::string listed;
            for (auto c : choices) listed += (listed.empty() ? "" : ", ") + std::string(c);
            error(child(key), "expected one of " + listed + ", got \"" + *out + "\"");
            out.reset();
        }
    }

    // "10m", "1h30m", "500ms", or a number of seconds.
    void read_duration(std::string_view key, std::optional<std::chrono::milliseconds>& out) const {
        const auto* v = raw(key);
        if (!v) return;
        const auto duration = v->is_number()   ? duration_of_ms(v->to_number<double>() * 1000.0)
                              : v->is_string() ? parse_duration(v->get_string())
                                               : std::nullopt;
        if (duration) {
            out = duration;
        } else {
            error(child(key), "expected a duration such as \"30s\", \"10m\", \"1h30m\" or \"500ms\" (or seconds as a number), got " +
                                  json::serialize(*v));
        }
    }

    // "4GiB", "512MB", or a number of bytes.
    void read_size(std::string_view key, std::optional<uint64_t>& out) const {
        const auto* v = raw(key);
        if (!v) return;
        if ((v->is_int64() && v->get_int64() >= 0) || v->is_uint64()) {
            out = v->to_number<uint64_t>();
        } else if (v->is_string() && parse_size(v->get_string())) {
            out = parse_size(v->get_string());
        } else {
            error(child(key), "expected a size such as \"4GiB\" or \"512MB\" (or bytes as an integer), got " + json::serialize(*v));
        }
    }

    void error(std::string path, std::string message) const { errors_.push_back({std::move(path), std::move(message)}); }
    ConfigErrors& errors() const { return errors_; }

private:
    const json::object* object_ = nullptr;
    std::string path_;
    ConfigErrors& errors_;
};

void read_duration_into(const ObjectReader& r, std::string_view key, std::chrono::milliseconds& out) {
    std::optional<std::chrono::milliseconds> d;
    r.read_duration(key, d);
    if (d) out = *d;
}

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
    std::filesystem::path path(p);
    return path.is_absolute() || base.empty() ? path : (base / path).lexically_normal();
}

bool valid_identifier(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(),
                                        [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; });
}

// Model names and aliases are what clients send: printable, no spaces.
bool valid_model_name(std::string_view name) {
    return !name.empty() && name.size() <= 256 &&
           std::all_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
}

void parse_listen(const ObjectReader& r, ListenAddress& out) {
    std::optional<std::string> text;
    if (!r.read("listen", text)) return;
    auto colon = text->rfind(':');
    std::string host = colon == std::string::npos ? "" : text->substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = 0;
    bool port_ok = colon != std::string::npos && colon + 1 < text->size() && text->size() - colon - 1 <= 5 &&
                   std::all_of(text->begin() + static_cast<std::ptrdiff_t>(colon) + 1, text->end(), ::isdigit);
    if (port_ok) port = std::stoi(text->substr(colon + 1));
    if (host.empty() || !port_ok || port < 0 || port > 65535) {  // port 0: any free port
        r.error(r.child("listen"), "expected \"host:port\" such as \"127.0.0.1:8080\" or \"[::1]:8080\", got \"" + *text + "\"");
        return;
    }
    out.host = host;
    out.port = static_cast<uint16_t>(port);
}

const Keys kCacheTypes = {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"};

const Keys kServerKeys = {"ctx_size", "gpu_layers",   "threads",      "batch_size",    "parallel",         "flash_attn",       "mlock",
                          "mmap",     "cache_type_k", "cache_type_v", "jinja",         "reasoning_format", "reasoning_budget", "seed",
                          "sampling", "env",          "extra_args",   "runner_options"};
const Keys kModelOwnKeys = {"path",    "runner",   "aliases", "ttl",      "memory",  "concurrency", "send_loading_state",
                            "devices", "replicas", "routing", "priority", "kv_cache"};

// "replicas": an integer (that many whenever loaded), or {"min", "max", "scale_up_after"}.
void parse_replicas(const ObjectReader& r, ReplicaPolicy& out) {
    const auto* v = r.raw("replicas");
    if (!v) return;
    const auto path = r.child("replicas");
    if (v->is_int64() || v->is_uint64()) {
        // Above INT64_MAX Boost.JSON keeps it as uint64: out of range, not a number to convert.
        const int64_t n = v->is_int64() ? v->get_int64() : INT64_MAX;
        if (n < 1 || n > 64) {
            r.error(path, "expected 1 to 64 replicas, got " + json::serialize(*v));
            return;
        }
        out.start = out.max = static_cast<int32_t>(n);
        return;
    }
    ObjectReader o(*v, path, r.errors(), {"min", "max", "scale_up_after"});
    if (!o.valid()) {
        r.errors().back().message = "expected a number of replicas or {\"min\": 0, \"max\": 4}, got " + json::serialize(*v);
        return;
    }
    std::optional<int32_t> min, max;
    o.read_min("min", min, 0);
    o.read_min("max", max, 1);
    if (!max && o.raw("max") == nullptr) o.error(o.child("max"), "required key is missing");
    read_duration_into(o, "scale_up_after", out.scale_up_after);
    if (!max) return;
    if (*max > 64) {
        o.error(o.child("max"), "must be at most 64");
        return;
    }
    if (min && *min > *max) {
        o.error(o.child("min"), "must not be above \"max\" (" + std::to_string(*max) + ")");
        return;
    }
    out.min = min.value_or(0);
    out.max = *max;
    out.start = std::max(out.min, 1);
}

// "runner": one runner's name, or a list of them (where the model's replicas may run).
void parse_model_runners(const ObjectReader& r, const Config& c, ModelConfig& m) {
    const auto* v = r.raw("runner");
    if (!v) {
        if (r.object().if_contains("runner")) {
            r.error(r.child("runner"), "expected a runner's name or a list of them, got null");
        } else if (c.runners.size() == 1) {
            m.runners = {c.runners.front().name};
        } else {
            r.error(r.child("runner"), c.runners.empty() ? "required key is missing (and no runners are configured)"
                                                         : "required key is missing (several runners are configured: name one)");
        }
    } else if (v->is_string()) {
        m.runners = {std::string(v->get_string())};
    } else if (v->is_array() && !v->get_array().empty()) {
        for (std::size_t i = 0; i < v->get_array().size(); ++i) {
            const auto& item = v->get_array()[i];
            const auto path = sdk::json_path_index(r.child("runner"), i);
            if (!item.is_string()) {
                r.error(path, "expected a runner's name, got " + json::serialize(item));
                continue;
            }
            std::string name(item.get_string());
            if (std::find(m.runners.begin(), m.runners.end(), name) != m.runners.end()) {
                r.error(path, "\"" + name + "\" is listed twice");
                continue;
            }
            if (!c.find_runner(name)) r.error(path, "no runner named \"" + name + "\" under \"runners\"");
            m.runners.push_back(std::move(name));
        }
    } else {
        r.error(r.child("runner"), "expected a runner's name or a non-empty list of them, got " + json::serialize(*v));
    }
    if (v && v->is_string() && !c.find_runner(m.runners.front()))
        r.error(r.child("runner"), "no runner named \"" + m.runners.front() + "\" under \"runners\"");
    if (!m.runners.empty()) m.runner = m.runners.front();
}

// "devices": "auto", "cpu", or a non-empty list of device selectors ("cuda:0", a UUID or its prefix).
void parse_devices(const ObjectReader& r, DeviceRequest& out) {
    const auto* v = r.raw("devices");
    if (!v) return;
    const std::string expected = "expected \"auto\", \"cpu\" or a list of devices such as [\"cuda:0\", \"cuda:1\"] or GPU UUIDs";
    if (v->is_string()) {
        if (v->get_string() == "auto") return;
        if (v->get_string() == "cpu") {
            out.mode = DeviceRequest::Mode::Cpu;
            return;
        }
        r.error(r.child("devices"), expected + ", got " + json::serialize(*v));
        return;
    }
    if (!v->is_array() || v->get_array().empty()) {
        r.error(r.child("devices"), expected + ", got " + json::serialize(*v));
        return;
    }
    out.mode = DeviceRequest::Mode::Pinned;
    const auto& items = v->get_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
        const auto path = sdk::json_path_index(r.child("devices"), i);
        if (!items[i].is_string() || items[i].get_string().empty()) {
            r.error(path, "expected a device such as \"cuda:0\", \"vulkan:1\" or a GPU UUID (prefix), got " + json::serialize(items[i]));
            continue;
        }
        std::string selector(items[i].get_string());
        if (std::find(out.selectors.begin(), out.selectors.end(), selector) != out.selectors.end()) {
            r.error(path, "\"" + selector + "\" is listed twice");
            continue;
        }
        out.selectors.push_back(std::move(selector));
    }
}

// The union of a model's own keys and the server settings it may carry.
const Keys& model_keys() {
    static const Keys keys = [] {
        Keys k(kModelOwnKeys.begin(), kModelOwnKeys.end());
        k.insert(k.end(), kServerKeys.begin(), kServerKeys.end());
        return k;
    }();
    return keys;
}

// model_defaults: a model's keys but its own "path" and "aliases".
const Keys& model_default_keys() {
    static const Keys keys = [] {
        Keys k;
        for (auto key : model_keys()) {
            if (key != "path" && key != "aliases") k.push_back(key);
        }
        return k;
    }();
    return keys;
}

void parse_server_settings(const ObjectReader& r, sdk::ServerConfig& s) {
    r.read("ctx_size", s.ctx_size);
    if (const auto* gl = r.raw("gpu_layers")) {
        if ((gl->is_int64() && gl->get_int64() >= 0) || gl->is_uint64()) {
            s.gpu_layers = std::to_string(gl->to_number<uint64_t>());
        } else if (gl->is_string() && (gl->get_string() == "auto" || gl->get_string() == "all")) {
            s.gpu_layers = std::string(gl->get_string());
        } else {
            r.error(r.child("gpu_layers"), "expected \"auto\", \"all\" or a number of layers, got " + json::serialize(*gl));
        }
    }
    r.read_min("threads", s.threads, -1);
    r.read_min("batch_size", s.batch_size, 1);
    r.read_min("parallel", s.parallel, 1);
    if (const auto* fa = r.raw("flash_attn"); fa && fa->is_bool()) {
        s.flash_attn = fa->get_bool() ? "on" : "off";
    } else {
        r.read_choice("flash_attn", s.flash_attn, {"on", "off", "auto"});
    }
    r.read("mlock", s.mlock);
    r.read("mmap", s.mmap);
    r.read_choice("cache_type_k", s.cache_type_k, kCacheTypes);
    r.read_choice("cache_type_v", s.cache_type_v, kCacheTypes);
    r.read("jinja", s.jinja);
    r.read_choice("reasoning_format", s.reasoning_format, {"none", "deepseek", "deepseek-legacy", "auto"});
    r.read_min("reasoning_budget", s.reasoning_budget, -1);
    r.read("seed", s.seed);
    if (const auto* sampling = r.raw("sampling")) {
        ObjectReader sr(*sampling, r.child("sampling"), r.errors(), {"temperature", "top_k", "top_p", "min_p", "repeat_penalty"});
        if (sr.valid()) {
            sr.read("temperature", s.sampling.temperature);
            sr.read_min("top_k", s.sampling.top_k, 0);
            sr.read("top_p", s.sampling.top_p);
            sr.read("min_p", s.sampling.min_p);
            sr.read("repeat_penalty", s.sampling.repeat_penalty);
        }
    }
    r.read_into("env", s.env);
    r.read_into("extra_args", s.extra_args);
    r.read_into("runner_options", s.runner_options);
}

// "*" or a serialized origin (RFC 6454): scheme "://" host [":" port], nothing after.
bool valid_origin(const std::string& origin) {
    if (origin == "*") return true;
    const auto scheme_end = origin.find("://");
    if (scheme_end == std::string::npos || scheme_end == 0) return false;
    const std::string host = origin.substr(scheme_end + 3);
    if (host.empty()) return false;
    for (char ch : host) {
        const auto c = static_cast<unsigned char>(ch);
        if (!(std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']')) return false;
    }
    for (char ch : origin.substr(0, scheme_end)) {
        const auto c = static_cast<unsigned char>(ch);
        if (!(std::isalnum(c) || c == '+' || c == '-' || c == '.')) return false;
    }
    return true;
}

class ConfigParser {
public:
    // `read_folders`: list the models_dir folders and add their models (load_config_file); without
    // it nothing but the text is read, and names that may stand for a folder's model go unchecked.
    ConfigParser(std::filesystem::path base_dir, ConfigErrors& errors, bool read_folders)
        : base_(std::move(base_dir)), errors_(errors), read_folders_(read_folders) {}

    Config parse(const json::value& doc) {
        Config c;
        ObjectReader r(doc, "", errors_,
                       {"listen",         "plugin_dirs",        "runners",          "probes",          "scheduler",     "models",
                        "preload",        "state_dir",          "log_level",        "api_keys",        "admin_api_key", "tls",
                        "cors_origins",   "supervisor",         "max_request_body", "max_connections", "io_threads",    "client_timeouts",
                        "shutdown_grace", "send_loading_state", "kv_cache",         "console",         "models_dir",    "model_defaults"});
        if (!r.valid()) return c;
        parse_listen(r, c.listen);
        std::vector<std::string> dirs;
        if (r.read_into("plugin_dirs", dirs)) {
            for (const auto& d : dirs) c.plugin_dirs.push_back(resolve(base_, d));
        }
        if (const auto* runners = r.raw("runners")) parse_runners(*runners, c);
        r.read_into("probes", c.probes);
        if (const auto* scheduler = r.raw("scheduler")) parse_scheduler(*scheduler, c.scheduler);
        if (const auto* supervisor = r.raw("supervisor")) parse_supervisor(*supervisor, c.supervisor);
        if (const auto* kv_cache = r.raw("kv_cache")) parse_kv_cache(*kv_cache, c.kv_cache);
        if (const auto* models = r.raw("models")) parse_models(*models, c);
        parse_models_dirs(r, c);
        r.read_into("preload", c.preload);
        for (std::size_t i = 0; i < c.preload.size(); ++i) {
            if (auto unknown = unknown_model(c, c.preload[i])) r.error(sdk::json_path_index("preload", i), *unknown);
        }
        std::optional<std::string> state_dir;
        if (r.read("state_dir", state_dir)) c.state_dir = resolve(base_, *state_dir);
        r.read_choice("log_level", c.log_level, {"trace", "debug", "info", "warn", "error", "critical", "off"});
        if (const auto* keys = r.raw("api_keys")) parse_api_keys(*keys, c);
        r.read("admin_api_key", c.admin_api_key);
        if (c.admin_api_key && c.admin_api_key->empty()) r.error(r.child("admin_api_key"), "an API key must not be empty");
        if (const auto* tls = r.raw("tls")) parse_tls(*tls, c);
        r.read_into("cors_origins", c.cors_origins);
        for (std::size_t i = 0; i < c.cors_origins.size(); ++i) {
            if (!valid_origin(c.cors_origins[i])) {
                r.error(sdk::json_path_index("cors_origins", i),
                        "expected \"*\" or an origin such as \"https://app.example.com\" (scheme://host[:port], no path), got \"" +
                            c.cors_origins[i] + "\"");
            }
        }
        std::optional<uint64_t> body;
        r.read_size("max_request_body", body);
        if (body && *body < 1024) r.error(r.child("max_request_body"), "must be at least 1KiB");
        if (body && *body >= 1024) c.max_request_body = *body;
        std::optional<int32_t> connections;
        r.read_min("max_connections", connections, 1);
        if (connections) c.max_connections = static_cast<uint32_t>(*connections);
        std::optional<int32_t> io_threads;
        r.read_min("io_threads", io_threads, 1);
        if (io_threads && *io_threads > 64) {
            r.error(r.child("io_threads"), "must be at most 64");
        } else if (io_threads) {
            c.io_threads = static_cast<uint32_t>(*io_threads);
        }
        if (const auto* timeouts = r.raw("client_timeouts")) parse_client_timeouts(*timeouts, c.client_timeouts);
        read_duration_into(r, "shutdown_grace", c.shutdown_grace);
        r.read_into("send_loading_state", c.send_loading_state);
        r.read_into("console", c.console);
        return c;
    }

private:
    void parse_runners(const json::value& v, Config& c) {
        if (!v.is_object()) {
            errors_.push_back({"runners", "expected object, got " + std::string(sdk::json_kind_name(v))});
            return;
        }
        for (const auto& kv : v.get_object()) {
            std::string path = sdk::json_path_join("runners", kv.key());
            if (!valid_identifier(kv.key())) {
                errors_.push_back({path, "runner names may use letters, digits, '_' and '-' only"});
            }
            if (!kv.value().is_object()) {
                errors_.push_back({path, "expected object, got " + std::string(sdk::json_kind_name(kv.value()))});
                continue;
            }
            RunnerConfig rc;
            rc.name = kv.key();
            rc.options = kv.value().get_object();
            rc.options.erase("plugin");
            const auto* plugin = kv.value().get_object().if_contains("plugin");
            if (!plugin) {
                errors_.push_back(
                    {sdk::json_path_join(path, "plugin"), "required key is missing (the runner plugin's name, e.g. \"llama_server\")"});
            } else if (!plugin->is_string()) {
                errors_.push_back(
                    {sdk::json_path_join(path, "plugin"), "expected string, got " + std::string(sdk::json_kind_name(*plugin))});
            } else {
                rc.plugin = plugin->get_string();
            }
            c.runners.push_back(std::move(rc));
        }
    }

    void parse_scheduler(const json::value& v, SchedulerConfig& s) {
        ObjectReader r(v, "scheduler", errors_,
                       {"max_loaded", "memory_headroom", "memory_budget", "load_timeout", "queue_timeout", "max_queue", "swap_batch",
                        "max_wait_for_swap"});
        if (!r.valid()) return;
        r.read_min("max_loaded", s.max_loaded, 1);
        std::optional<double> headroom;
        if (r.read("memory_headroom", headroom)) {
            if (*headroom < 0.0 || *headroom >= 1.0)
                r.error(r.child("memory_headroom"), "expected a fraction from 0 to below 1, such as 0.1");
            else
                s.memory_headroom = *headroom;
        }
        r.read_size("memory_budget", s.memory_budget);
        read_duration_into(r, "load_timeout", s.load_timeout);
        read_duration_into(r, "queue_timeout", s.queue_timeout);
        std::optional<int32_t> max_queue;
        r.read_min("max_queue", max_queue, 0);
        if (max_queue) s.max_queue = *max_queue;
        parse_swap_batch(r, s);
        read_duration_into(r, "max_wait_for_swap", s.max_wait_for_swap);
    }

    // "swap_batch": a number of requests, a duration, or {"requests", "time"} (both bounds).
    void parse_swap_batch(const ObjectReader& r, SchedulerConfig& s) {
        const auto* v = r.raw("swap_batch");
        if (!v) return;
        const auto path = r.child("swap_batch");
        if (v->is_int64() || v->is_uint64()) {
            const int64_t n = v->is_int64() ? v->get_int64() : INT64_MAX;  // above INT64_MAX: out of range
            if (n < 1 || n > 1'000'000)
                r.error(path, "expected 1 to 1000000 requests, got " + json::serialize(*v));
            else
                s.swap_batch_requests = static_cast<int32_t>(n);
            s.swap_batch_time.reset();
            return;
        }
        if (v->is_string()) {
            s.swap_batch_time.reset();
            r.read_duration("swap_batch", s.swap_batch_time);
            s.swap_batch_requests.reset();
            return;
        }
        ObjectReader o(*v, path, r.errors(), {"requests", "time"});
        if (!o.valid()) {
            r.errors().back().message =
                "expected a number of requests, a duration, or {\"requests\": 8, \"time\": \"10s\"}, got " + json::serialize(*v);
            return;
        }
        s.swap_batch_requests.reset();
        s.swap_batch_time.reset();
        o.read_min("requests", s.swap_batch_requests, 1);
        o.read_duration("time", s.swap_batch_time);
    }

    void parse_kv_cache(const json::value& v, KvCacheConfig& k) {
        ObjectReader r(v, "kv_cache", errors_, {"keep", "max_disk", "timeout"});
        if (!r.valid()) return;
        r.read_into("keep", k.keep);
        std::optional<uint64_t> max_disk;
        r.read_size("max_disk", max_disk);
        if (max_disk) k.max_disk = *max_disk;
        read_duration_into(r, "timeout", k.timeout);
        if (k.timeout.count() < 100) r.error(r.child("timeout"), "must be at least 100ms");
    }

    // "api_keys": strings, or objects {"key" | "key_file" | "key_env", "name", "models", "admin",
    // "max_concurrency", "requests_per_minute"}. Messages never quote a key.
    void parse_api_keys(const json::value& v, Config& c) {
        if (!v.is_array()) {
            errors_.push_back({"api_keys", "expected array of keys (strings or objects), got " + std::string(sdk::json_kind_name(v))});
            return;
        }
        const auto& entries = v.get_array();
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const std::string path = sdk::json_path_index("api_keys", i);
            ApiKey k;
            k.name = "key-" + std::to_string(i + 1);
            if (entries[i].is_string()) {
                k.key = entries[i].get_string();
            } else if (entries[i].is_object()) {
                if (!parse_api_key_object(entries[i], path, c, k)) continue;
            } else {
                errors_.push_back({path, "expected a key (string) or an object with \"key\", \"key_file\" or \"key_env\", got " +
                                             std::string(sdk::json_kind_name(entries[i]))});
                continue;
            }
            if (k.key.empty()) {
                errors_.push_back({path, "an API key must not be empty"});
                continue;
            }
            for (const auto& earlier : c.api_keys) {
                if (earlier.key == k.key) errors_.push_back({path, "the same key as api_keys entry \"" + earlier.name + "\""});
                if (earlier.name == k.name)
                    errors_.push_back({sdk::json_path_join(path, "name"), "another key is named \"" + k.name + "\""});
            }
            c.api_keys.push_back(std::move(k));
        }
    }

    bool parse_api_key_object(const json::value& v, const std::string& path, const Config& c, ApiKey& k) {
        ObjectReader r(v, path, errors_,
                       {"key", "key_file", "key_env", "name", "models", "admin", "max_concurrency", "requests_per_minute"});
        if (!r.valid()) return false;
        const int sources = (r.raw("key") ? 1 : 0) + (r.raw("key_file") ? 1 : 0) + (r.raw("key_env") ? 1 : 0);
        if (sources != 1) {
            r.error(path,
                    "expected exactly one of \"key\", \"key_file\" (a file holding the key) or \"key_env\" (an environment variable)");
            return false;
        }
        std::optional<std::string> key, file, env;
        if (r.read("key", key)) k.key = *key;
        if (r.read("key_file", file)) {
            const auto p = resolve(base_, *file);
            // A regular file, read up to a bound: a FIFO or a device must not hang or flood the load.
            constexpr std::size_t kMaxKeyFile = 64 * 1024;
            std::error_code ec;
            if (!std::filesystem::is_regular_file(p, ec)) {
                r.error(r.child("key_file"), "cannot read " + p.string() + ": " + (ec ? ec.message() : "not a regular file"));
                return false;
            }
            std::ifstream in(p, std::ios::binary);
            if (!in) {
                r.error(r.child("key_file"), "cannot read " + p.string() + ": " + std::strerror(errno));
                return false;
            }
            k.key.resize(kMaxKeyFile + 1);
            in.read(k.key.data(), static_cast<std::streamsize>(k.key.size()));
            k.key.resize(static_cast<std::size_t>(in.gcount()));
            if (k.key.size() > kMaxKeyFile) {
                r.error(r.child("key_file"), p.string() + " is larger than 64KiB: not a key");
                return false;
            }
            while (!k.key.empty() && std::isspace(static_cast<unsigned char>(k.key.back()))) k.key.pop_back();  // a trailing newline
            if (k.key.empty()) r.error(r.child("key_file"), p.string() + " is empty");
        }
        if (r.read("key_env", env)) {
            const char* value = std::getenv(env->c_str());
            if (!value || !*value) {
                r.error(r.child("key_env"), "the environment variable " + *env + " is not set (or empty)");
                return false;
            }
            k.key = value;
        }
        std::optional<std::string> name;
        if (r.read("name", name)) {
            if (!valid_identifier(*name)) r.error(r.child("name"), "key names may use letters, digits, '_' and '-' only");
            k.name = *name;
        }
        r.read_into("models", k.models);
        for (std::size_t m = 0; m < k.models.size(); ++m) {
            const auto& pattern = k.models[m];
            const auto at = sdk::json_path_index(r.child("models"), m);
            if (pattern.empty()) {
                r.error(at, "a model pattern must not be empty");
            } else if (pattern.find_first_of("*?") == std::string::npos) {
                // A name without wildcards that names nothing is a typo, not a scope.
                if (auto unknown = unknown_model(c, pattern)) r.error(at, *unknown + " (patterns may use * and ?)");
            }
        }
        // A scoped key is not an admin key unless it says so.
        k.admin = false;
        std::optional<bool> admin;
        if (r.read("admin", admin)) k.admin = *admin;
        std::optional<int64_t> concurrency, rate;
        r.read_min("max_concurrency", concurrency, int64_t{1});
        if (concurrency) k.max_concurrency = static_cast<uint32_t>(std::min<int64_t>(*concurrency, 1'000'000));
        r.read_min("requests_per_minute", rate, int64_t{1});
        if (rate) k.requests_per_minute = static_cast<uint32_t>(std::min<int64_t>(*rate, 1'000'000'000));
        return true;
    }

    void parse_tls(const json::value& v, Config& c) {
        ObjectReader r(v, "tls", errors_, {"cert", "key"});
        if (!r.valid()) return;
        auto cert = r.required<std::string>("cert");
        auto key = r.required<std::string>("key");
        if (!cert || !key) return;
        TlsConfig tls{resolve(base_, *cert), resolve(base_, *key)};
        // The files are read by the listener (at start and on reload); here only their presence.
        for (const auto& [name, file] : {std::pair{"cert", tls.cert}, std::pair{"key", tls.key}}) {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(file, ec)) r.error(r.child(name), "no such file: " + file.string());
        }
        c.tls = std::move(tls);
    }

    void parse_client_timeouts(const json::value& v, ClientTimeouts& t) {
        ObjectReader r(v, "client_timeouts", errors_, {"header", "idle", "write"});
        if (!r.valid()) return;
        read_duration_into(r, "header", t.header);
        read_duration_into(r, "idle", t.idle);
        read_duration_into(r, "write", t.write);
        for (const auto& [key, value] : {std::pair{"header", t.header}, std::pair{"idle", t.idle}, std::pair{"write", t.write}}) {
            if (value.count() < 100) r.error(r.child(key), "must be at least 100ms");
        }
    }

    void parse_supervisor(const json::value& v, SupervisorConfig& s) {
        ObjectReader r(v, "supervisor", errors_,
                       {"health_interval", "unhealthy_after", "restart_attempts", "restart_backoff", "restart_backoff_max", "stable_after",
                        "stop_grace"});
        if (!r.valid()) return;
        read_duration_into(r, "health_interval", s.health_interval);
        if (s.health_interval.count() < 100) r.error(r.child("health_interval"), "must be at least 100ms");
        std::optional<int32_t> n;
        r.read_min("unhealthy_after", n, 1);
        if (n) s.unhealthy_after = *n;
        n.reset();
        r.read_min("restart_attempts", n, 0);
        if (n) s.restart_attempts = *n;
        read_duration_into(r, "restart_backoff", s.restart_backoff);
        read_duration_into(r, "restart_backoff_max", s.restart_backoff_max);
        read_duration_into(r, "stable_after", s.stable_after);
        read_duration_into(r, "stop_grace", s.stop_grace);
    }

    // "models_dir": a folder or a list of them; every *.gguf below one is a model (models_folder.hpp),
    // with "model_defaults" for its settings; an entry under "models" of the same name wins.
    void parse_models_dirs(const ObjectReader& r, Config& c) {
        const auto* v = r.raw("models_dir");
        if (!v) {
            if (r.raw("model_defaults"))
                r.error(r.child("model_defaults"), "applies to the models found in \"models_dir\": set models_dir too");
            return;
        }
        std::vector<std::string> dirs;
        if (v->is_string()) {
            dirs.emplace_back(v->get_string());
        } else if (v->is_array() &&
                   std::all_of(v->get_array().begin(), v->get_array().end(), [](const auto& d) { return d.is_string(); })) {
            for (const auto& d : v->get_array()) dirs.emplace_back(d.get_string());
        } else {
            r.error(r.child("models_dir"), "expected a folder's path or a list of them, got " + json::serialize(*v));
            return;
        }
        for (const auto& d : dirs) c.models_dirs.push_back(resolve(base_, d));

        const json::value no_defaults = json::object();
        const auto* raw_defaults = r.raw("model_defaults");
        ObjectReader d(raw_defaults ? *raw_defaults : no_defaults, "model_defaults", errors_, model_default_keys());
        if (!d.valid()) return;
        c.model_defaults.emplace();
        parse_model_settings(d, c, *c.model_defaults);
        if (read_folders_) add_models_from_dirs(c);
    }

    // What a model entry and model_defaults share: everything but "path" and "aliases".
    void parse_model_settings(const ObjectReader& r, const Config& c, ModelConfig& m) {
        parse_model_runners(r, c, m);
        std::optional<std::chrono::milliseconds> ttl;
        r.read_duration("ttl", ttl);
        if (ttl && ttl->count() > 0) m.ttl = ttl;
        r.read_size("memory", m.memory);
        r.read_min("concurrency", m.concurrency, 1);
        r.read("send_loading_state", m.send_loading_state);
        parse_devices(r, m.devices);
        parse_replicas(r, m.replicas);
        std::optional<std::string> routing;
        r.read_choice("routing", routing, {"prefix", "least_busy"});
        if (routing) m.prefix_routing = *routing == "prefix";
        r.read_into("priority", m.priority);
        if (const auto* kv_cache = r.raw("kv_cache")) {
            ObjectReader k(*kv_cache, r.child("kv_cache"), errors_, {"keep"});
            if (k.valid()) k.read("keep", m.keep_kv_cache);
        }
        parse_server_settings(r, m.server);
    }

    void parse_models(const json::value& v, Config& c) {
        if (!v.is_object()) {
            errors_.push_back({"models", "expected object, got " + std::string(sdk::json_kind_name(v))});
            return;
        }
        std::map<std::string, std::string> taken;  // name or alias -> where it was declared
        auto claim = [&](const std::string& name, const std::string& path) {
            auto [it, inserted] = taken.emplace(name, path);
            if (!inserted) errors_.push_back({path, "\"" + name + "\" is already used by " + it->second});
        };
        for (const auto& kv : v.get_object()) {
            std::string path = sdk::json_path_join("models", kv.key());
            ModelConfig m;
            m.name = kv.key();
            if (!valid_model_name(m.name)) errors_.push_back({path, "model names must be 1 to 256 printable characters without spaces"});
            claim(m.name, path);
            ObjectReader r(kv.value(), path, errors_, model_keys());
            if (!r.valid()) continue;
            if (auto p = r.required<std::string>("path")) m.server.model_path = resolve(base_, *p).string();
            r.read_into("aliases", m.aliases);
            for (std::size_t i = 0; i < m.aliases.size(); ++i) {
                auto alias_path = sdk::json_path_index(r.child("aliases"), i);
                if (!valid_model_name(m.aliases[i])) r.error(alias_path, "aliases must be 1 to 256 printable characters without spaces");
                claim(m.aliases[i], alias_path);
            }
            parse_model_settings(r, c, m);
            m.server.model_id = m.name;
            m.server.model_name = m.name;
            c.models.push_back(std::move(m));
        }
    }

    // Whether `name` names no model: nullopt when that cannot be told (the folders were not read).
    std::optional<std::string> unknown_model(const Config& c, const std::string& name) const {
        if (c.find_model(name) || (!c.models_dirs.empty() && !read_folders_)) return std::nullopt;
        return "no model or alias named \"" + name + "\" under \"models\"" + (c.models_dirs.empty() ? "" : " or in \"models_dir\"");
    }

    std::filesystem::path base_;
    ConfigErrors& errors_;
    bool read_folders_;
};

}  // namespace

void add_models_from_dirs(Config& c) {
    if (c.models_dirs.empty() || !c.model_defaults) return;
    std::vector<FolderProblem> problems;
    std::vector<FolderFile> files;
    for (const auto& dir : c.models_dirs) {
        auto listed = list_model_files(dir, problems);
        files.insert(files.end(), std::make_move_iterator(listed.begin()), std::make_move_iterator(listed.end()));
    }
    auto found = discover_models(files);
    problems.insert(problems.end(), found.problems.begin(), found.problems.end());
    for (const auto& p : problems) c.models_dir_notes.push_back(p.path.string() + ": " + p.message);
    for (const auto& f : found.models) {
        if (const auto* entry = c.find_model(f.name)) {
            if (entry->server.model_path != f.path.string())
                c.models_dir_notes.push_back(f.path.string() + ": not served as \"" + f.name + "\": that name is taken under \"models\"");
            continue;
        }
        if (!valid_model_name(f.name)) {
            c.models_dir_notes.push_back(f.path.string() + ": left out: \"" + f.name + "\" is no valid model name");
            continue;
        }
        ModelConfig m = *c.model_defaults;
        m.name = f.name;
        m.from_models_dir = true;
        m.server.model_path = f.path.string();
        m.server.model_id = m.name;
        m.server.model_name = m.name;
        if (f.mmproj) {
            m.server.extra_args.push_back("--mmproj");
            m.server.extra_args.push_back(f.mmproj->string());
        }
        c.models.push_back(std::move(m));
    }
}

namespace {

LoadResult parse(std::string_view text, const std::filesystem::path& base_dir, bool read_folders) {
    LoadResult result;
    auto doc = parse_config_json(text, result.errors);
    if (!doc) return result;
    Config c = ConfigParser(base_dir, result.errors, read_folders).parse(*doc);
    if (result.errors.empty()) result.config = std::move(c);
    return result;
}

}  // namespace

LoadResult parse_config(std::string_view text, const std::filesystem::path& base_dir) {
    return parse(text, base_dir, false);
}

LoadResult load_config_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        LoadResult result;
        result.errors.push_back({"", "cannot read config file " + file.string() + ": " + std::strerror(errno)});
        return result;
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto abs = std::filesystem::absolute(file);
    auto result = parse(text.str(), abs.parent_path(), true);
    if (result.config) result.config->source = abs;
    return result;
}

}  // namespace corral::config
